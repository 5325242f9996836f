"""Speed of ``posecli eval`` on a synthetic PoseTrack-validation-sized input.

Generates 50 sequences x 120 frames (every 4th labelled: 30 labelled frames per sequence) with up to
10 people, GT and predictions in the PoseTrack 2018 format (predictions on every frame, as
``posecli estimate`` writes them), into a temporary folder. Then times:

* ``read``: parsing and validating every GT and prediction file (``read_sequences``) alone;
* ``evaluate_posetrack`` (AP + MOTA, in process), best of ``--repeats``;
* the ``posecli eval PRED --gt GT --json FILE -q`` command end to end (a fresh interpreter).

Usage: ``python benchmarks/bench_eval.py [--sequences 50] [--repeats 3] [--no-write]``. Updates only
the ``## bench_eval`` section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import scipy
import shapely

from posecli.evaluation import evaluate_posetrack
from posecli.evaluation.formats import read_sequences
from posecli.evaluation.synthetic import random_sequence, write_sequence

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "bench_eval"
FRAMES_PER_SEQUENCE = 120
LABELED_EVERY = 4


def make_dataset(root: Path, sequences: int, seed: int = 0) -> tuple[Path, Path, int, int]:
    """Write GT and prediction folders; returns (pred, gt, GT people, predicted people)."""
    rng = np.random.default_rng(seed)
    gt_people = pred_people = 0
    for s in range(sequences):
        name = f"{s + 1:06d}_mpii_test"
        gt, pred = random_sequence(rng, FRAMES_PER_SEQUENCE, 10, labeled_every=LABELED_EVERY)
        gt_people += sum(len(f.people) for f in gt)
        pred_people += sum(len(f.people) for f in pred)
        write_sequence(root / "gt" / f"{name}.json", name, gt, gt=True)
        write_sequence(root / "pred" / f"{name}.json", name, pred, gt=False)
    return root / "pred", root / "gt", gt_people, pred_people


def best_of(repeats: int, run: Callable[[], object]) -> float:
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return min(times)


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}"


def update_results(section_text: str) -> None:
    """Replace (or append) this script's ``## bench_eval`` section of RESULTS.md."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^## {SECTION}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section_text, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section_text
    tmp = RESULTS.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, RESULTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sequences", type=int, default=50)
    parser.add_argument("--repeats", type=int, default=3, help="runs per measurement; the best is kept")
    parser.add_argument("--no-write", action="store_true", help="print only, do not update RESULTS.md")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]  # the machine may be shared: say how busy it was
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        pred, gt, n_gt, n_pred = make_dataset(Path(tmp), args.sequences)
        generate = time.perf_counter() - start
        size_mb = sum(p.stat().st_size for p in Path(tmp).rglob("*.json")) / 1e6
        files = sorted(gt.glob("*.json")) + sorted(pred.glob("*.json"))

        read = best_of(args.repeats, lambda: [read_sequences(p, role="gt") for p in files])
        result = evaluate_posetrack(pred, gt)
        library = best_of(args.repeats, lambda: evaluate_posetrack(pred, gt))
        command = [sys.executable, "-m", "posecli", "eval", str(pred), "--gt", str(gt), "-q", "--exist-ok",
                   "--json", str(Path(tmp) / "metrics.json")]  # fmt: skip
        cli = best_of(args.repeats, lambda: subprocess.run(command, check=True, capture_output=True))

    frames = result.num_gt_frames
    rows = [
        ("read + validate all files", read),
        ("evaluate_posetrack (AP + MOTA)", library),
        ("`posecli eval` command, end to end", cli),
    ]
    for label, seconds in rows:
        print(f"{label:40s} {seconds:7.2f} s")
    print(
        f"total AP {result.total_ap:.1f}, MOTA {result.total_mota:.1f}, {frames} GT frames, generated in {generate:.1f} s"
    )

    lines = [
        f"## {SECTION}",
        "",
        (
            f"Synthetic validation-sized input: {args.sequences} sequences x {FRAMES_PER_SEQUENCE} frames "
            f"(every {LABELED_EVERY}th labelled: {frames} evaluated GT frames), up to 10 people, "
            f"{n_gt} GT and {n_pred} predicted people, PoseTrack 2018 files, {size_mb:.0f} MB of JSON. "
            f"Best of {args.repeats} runs."
        ),
        (
            f"Machine: {machine()}. Libraries: Python {platform.python_version()}, numpy {np.__version__}, "
            f"scipy {scipy.__version__}, shapely {shapely.__version__}. "
            f"Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC. "
            f"1-minute load average before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f}."
        ),
        "Command: `python benchmarks/bench_eval.py"
        + (f" --sequences {args.sequences}" if args.sequences != 50 else "")
        + (f" --repeats {args.repeats}" if args.repeats != 3 else "")
        + "`",
        "",
        "| step | seconds | GT frames/s |",
        "|---|---:|---:|",
    ]
    lines += [f"| {label} | {seconds:.2f} | {frames / seconds:.0f} |" for label, seconds in rows]
    lines.append("")
    lines.append(f"Scores on this data: total AP {result.total_ap:.1f}, total MOTA {result.total_mota:.1f}.")
    section = "\n".join(lines) + "\n\n"
    if not args.no_write:
        update_results(section)
        print(f"updated the '## {SECTION}' section of {RESULTS}")


if __name__ == "__main__":
    main()
