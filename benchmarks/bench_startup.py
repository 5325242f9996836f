"""Start-up cost of the commands that should answer at once: help, refused input, eval, track.

A user who passes a missing or empty file should get the one-line error in about a second, not after
torch has been imported (4-8 s and ~900 MB before the lazy imports). Each case runs the real command
line in a fresh interpreter; the child reports its own peak resident memory and whether torch ended
up in ``sys.modules``; the parent times the whole process (interpreter start included). With
``--baseline TREE`` the same cases run, alternated, with ``PYTHONPATH=TREE`` (another checkout of
posecli, e.g. a ``git worktree`` of an older commit), so the two are measured side by side.

Usage: ``python benchmarks/bench_startup.py [--repeats 5] [--baseline TREE [--baseline-label TEXT]]
[--no-write]``. Updates only the ``## bench_startup`` section of ``benchmarks/RESULTS.md``. Startup
times also show in ``python -X importtime -m posecli --help``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _report import write_section

from posecli.evaluation.synthetic import random_sequence, write_sequence

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## bench_startup"

# The child: run the CLI in-process, then report peak RSS (KiB on Linux) and whether torch was imported.
CHILD = """
import json, resource, sys
sys.argv = ["posecli", *sys.argv[1:]]
code = 0
try:
    from posecli.cli import main
    main()
except SystemExit as exit:
    code = exit.code if isinstance(exit.code, int) else 1
report = {"code": code, "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss,
          "torch": "torch" in sys.modules}
print("@@" + json.dumps(report), file=sys.__stderr__)
"""


def make_inputs(folder: Path) -> dict[str, list[str]]:
    """The cases: name → posecli arguments (inputs written into ``folder``)."""
    empty = folder / "empty.mp4"
    empty.write_bytes(b"")
    gt, pred = random_sequence(np.random.default_rng(0), num_frames=20, max_people=3)
    write_sequence(folder / "gt" / "seq.json", "seq", gt, gt=True)
    write_sequence(folder / "pred" / "seq.json", "seq", pred, gt=False)
    out = folder / "out"
    return {
        "posecli --help": ["--help"],
        "estimate missing.mp4 (error)": ["estimate", str(folder / "missing.mp4"), "-o", str(out)],
        "estimate empty.mp4 (error)": ["estimate", str(empty), "-o", str(out)],
        "detect missing.mp4 (error)": ["detect", str(folder / "missing.mp4"), "-o", str(out)],
        "eval (20 frames)": ["eval", str(folder / "pred"), "--gt", str(folder / "gt"), "-q"],
        "track PoseTrack file (20 frames)": [
            "track",
            str(folder / "gt" / "seq.json"),
            "-o",
            str(out),
            "-q",
            "--exist-ok",
        ],
    }


def run_once(args: list[str], pythonpath: str | None, cwd: Path) -> dict[str, float]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    start = time.perf_counter()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
        check=False,
        cwd=cwd,  # not the repository: `python -c` puts the working folder first on sys.path
    )
    seconds = time.perf_counter() - start
    lines = [line for line in done.stderr.splitlines() if line.startswith("@@")]
    if not lines:
        raise RuntimeError(f"posecli {' '.join(args)} reported nothing:\n{done.stderr[-2000:]}")
    report = json.loads(lines[-1][2:])
    return {
        "seconds": seconds,
        "rss_mib": report["rss_kib"] / 1024,
        "torch": report["torch"],
        "code": report["code"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--baseline", help="another posecli checkout to compare with (PYTHONPATH)")
    parser.add_argument("--baseline-label", default="baseline")
    parser.add_argument("--no-write", action="store_true")
    options = parser.parse_args()

    contenders: list[tuple[str, str | None]] = [("this tree", str(ROOT))]
    if options.baseline:
        contenders.insert(0, (options.baseline_label, options.baseline))
    rows = []
    with tempfile.TemporaryDirectory() as scratch:
        cases = make_inputs(Path(scratch))
        for case, args in cases.items():
            samples: dict[str, list[dict[str, float]]] = {label: [] for label, _ in contenders}
            for _ in range(options.repeats):  # alternate the contenders so load changes hit both
                for label, path in contenders:
                    samples[label].append(run_once(args, path, Path(scratch)))
            for label, _ in contenders:
                runs = samples[label]
                rows.append(
                    (
                        case,
                        label,
                        statistics.median(r["seconds"] for r in runs),
                        max(r["rss_mib"] for r in runs),
                        runs[-1]["torch"],
                        runs[-1]["code"],
                    )
                )
                print(
                    f"{case:36s} {label:22s} {rows[-1][2]:6.2f} s {rows[-1][3]:7.0f} MiB "
                    f"torch={rows[-1][4]} exit={rows[-1][5]}"
                )

    load = os.getloadavg()[0]
    versions = f"Python {platform.python_version()}"
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    body = [
        SECTION,
        "",
        f"Whole process (interpreter start included), median of {options.repeats} alternated runs; peak "
        "resident memory of the process; whether torch was imported.",
        f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, "
        f"{platform.system()} {platform.release()}. Libraries: {versions}. Date: {date}. "
        f"1-minute load average at the end: {load:.1f}.",
        "Command: `python benchmarks/bench_startup.py"
        + (f" --repeats {options.repeats}" if options.repeats != 5 else "")
        + (" --baseline TREE" if options.baseline else "")
        + "`"
        + (f" (TREE: {options.baseline_label})" if options.baseline else ""),
        "",
        "| command | code | seconds | peak MiB | torch imported | exit |",
        "|---|---|---:|---:|---|---:|",
    ]
    body += [
        f"| {c} | {label} | {s:.2f} | {m:.0f} | {'yes' if t else 'no'} | {code} |"
        for c, label, s, m, t, code in rows
    ]
    if not options.no_write:
        write_section(SECTION, "\n".join(body) + "\n")


if __name__ == "__main__":
    main()
