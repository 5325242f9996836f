"""End-to-end ``posecli estimate``: frames/s with the time split per stage, and memory over a long video.

Runs, side by side in one process:

1. the embedded default model on the example clip (CPU), overlay on;
2. a tiny FAMI-Pose network (random weights, width 8, 128×96 crops) on a synthetic 720p clip with five
   people, people given as a boxes file, in ``reuse`` and ``exact`` modes (the ratio of the two is the
   point; the absolute speed of a random tiny network means little);
3. the same tiny network over a long synthetic video (``--long-frames``, 10,000 by default), sampling
   the process's resident memory every 500 frames to show it stays flat.

With ``--baseline REV`` (a git revision), run 1 is also made with that revision's ``posecli`` (its
files taken with ``git archive`` into a temporary folder; the repository is not touched), alternating
with the working tree's, each in a fresh process: a before/after ratio measured side by side on the
same busy machine. ``--quick`` runs only run 1 with the background threads (best of two per tree),
without the FAMI and memory runs, and writes its own ``## bench_estimate (quick)`` section.

Writes the ``## bench_estimate`` section of ``benchmarks/RESULTS.md``.
Command: ``python benchmarks/bench_estimate.py [--quick] [--baseline REV] [--long-frames N]``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _report import write_section

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## bench_estimate"


def _rss_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def _boxes_file(video: Path, tracks: list, path: Path) -> None:
    from posecli.export.boxes import FrameDetections, write_boxes_json
    from posecli.structures import Detection
    from posecli.video import probe_video

    info = probe_video(video)
    frames = [
        FrameDetections(f, f / info.fps, tuple(Detection(box=t.boxes[f], score=0.9) for t in tracks if t.visible[f]))
        for f in range(info.num_frames)
    ]
    write_boxes_json(path, frames, info)


def _row(name: str, summary) -> str:
    t = summary.times
    total = sum(t.values())
    split = " / ".join(f"{t[k]:.1f}" for k in ("decode", "detect", "track", "pose", "write"))
    shares = " / ".join(f"{100 * t[k] / total:.0f}" for k in ("decode", "detect", "track", "pose", "write"))
    return f"| {name} | {summary.frames} | {summary.fps:.2f} | {split} | {shares} |"


# One embedded run in a fresh process, so that a baseline revision's posecli can be imported instead.
_EMBEDDED_RUN = """
import json, sys, tempfile
from pathlib import Path
from posecli import jobs
video, overlap, stitch = Path(sys.argv[1]), sys.argv[2] == "1", sys.argv[3] == "1"
with tempfile.TemporaryDirectory() as tmp:
    [s] = jobs.estimate_videos([video], Path(tmp), jobs.EstimateOptions(stitch=stitch), quiet=True, overlap=overlap)
print(json.dumps({"fps": s.fps, "frames": s.frames, "times": s.times, "people": s.people_per_frame}))
"""


class _Summary:
    """The parts of a ``VideoSummary`` a row shows, read back from a run in another process."""

    def __init__(self, values: dict) -> None:
        self.fps, self.frames, self.times = values["fps"], values["frames"], values["times"]
        self.people_per_frame = values["people"]


def _embedded_run(video: Path, overlap: bool, tree: Path | None, stitch: bool = False) -> _Summary:
    """Run the embedded model on ``video`` in a fresh process with the posecli of ``tree`` (a folder
    holding a ``posecli`` package) or of this working tree (None); ``stitch``: estimate's default
    (tracks stitched after the whole video, the overlay written in a second pass)."""
    env = dict(os.environ)
    if tree is not None:
        env["PYTHONPATH"] = str(tree) + os.pathsep + env.get("PYTHONPATH", "")
    out = subprocess.run(
        [sys.executable, "-c", _EMBEDDED_RUN, str(video), "1" if overlap else "0", "1" if stitch else "0"],
        env=env, cwd=tree or ROOT, capture_output=True, text=True, check=False,
    )
    if out.returncode != 0:
        raise SystemExit(f"embedded run with {tree or 'the working tree'} failed:\n{out.stderr}")
    return _Summary(json.loads(out.stdout.strip().splitlines()[-1]))


def _checkout(revision: str, into: Path) -> Path:
    """``revision``'s ``posecli`` package (and its model files) extracted into ``into``; the repository
    itself is only read."""
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", revision, "posecli", "weights"], capture_output=True, check=True
    ).stdout
    into.mkdir(parents=True)
    subprocess.run(["tar", "-x", "-C", str(into)], input=archive, check=True)
    return into


def _network_runs(
    tmp: Path, long_frames: int, rows: list[str], memory: list[tuple[int, float]]
) -> tuple[dict[str, float], float, object]:
    """Runs 2 and 3: tiny FAMI reuse vs exact, and memory over a long video."""
    from posecli import jobs
    from posecli.checkpoints import save_checkpoint
    from posecli.data.synthetic import make_synthetic_video
    from posecli.models import build_model
    from posecli.video import probe_video

    # 2. tiny FAMI on a 720p five-person clip, reuse vs exact
    torch.manual_seed(0)
    weights = tmp / "fami_tiny.safetensors"
    save_checkpoint(weights, build_model("fami_hrnet_w32", width=8, input_size=(128, 96)))
    clip = tmp / "five.mp4"
    tracks = make_synthetic_video(clip, frames=120, people=5, size=(1280, 720), seed=3)
    _boxes_file(clip, tracks, tmp / "five.boxes.json")
    per_frame = {}
    for mode in ("reuse", "exact"):
        options = jobs.EstimateOptions(weights=weights, boxes=tmp / "five.boxes.json", mode=mode, stitch=False)
        [s] = jobs.estimate_videos([clip], tmp / mode, options, quiet=True)
        rows.append(_row(f"tiny FAMI `{mode}`, synthetic 1280×720, 5 people, overlay on", s))
        per_frame[mode] = s.times["pose"] / s.frames

    # 3. memory over a long video (tiny FAMI, reuse, no overlay)
    long_clip = tmp / "long.mp4"
    long_tracks = make_synthetic_video(long_clip, frames=long_frames, people=2, size=(320, 240), seed=5)
    _boxes_file(long_clip, long_tracks, tmp / "long.boxes.json")
    options = jobs.EstimateOptions(weights=weights, boxes=tmp / "long.boxes.json", overlay=False, stitch=False)
    from posecli.pipeline import TopDownProcessor

    original = TopDownProcessor.push

    def sampling_push(self, frame):
        if frame.index % 500 == 0:
            memory.append((frame.index, _rss_mb()))
        return original(self, frame)

    TopDownProcessor.push = sampling_push  # type: ignore[method-assign]
    start = time.perf_counter()
    jobs.estimate_videos([long_clip], tmp / "long", options, quiet=True)
    long_seconds = time.perf_counter() - start
    TopDownProcessor.push = original  # type: ignore[method-assign]
    long_info = probe_video(long_clip)
    return per_frame, long_seconds, long_info


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-frames", type=int, default=10_000)
    parser.add_argument("--quick", action="store_true", help="only the example clip")
    parser.add_argument("--baseline", help="a git revision to measure beside the working tree (run 1)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    rows: list[str] = []
    memory: list[tuple[int, float]] = []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # 1. embedded model on the example clip, stages in one thread vs decode/encode in background;
        # with --baseline, the same for a earlier revision, alternated so a slow spell hits both
        video = ROOT / "examples" / "demo.mp4"
        trees: dict[str, Path | None] = {"working tree": None}
        if args.baseline:
            trees = {f"`{args.baseline}` (before)": _checkout(args.baseline, tmp / "baseline"), "working tree": None}
        fps: dict[tuple[str, bool], _Summary] = {}
        stitched: dict[str, _Summary] = {}
        overlaps = (True,) if args.quick else (False, True)
        for _ in range(2):
            for name, tree in trees.items():
                for overlap in overlaps:
                    s = _embedded_run(video, overlap, tree)
                    if s.fps > getattr(fps.get((name, overlap)), "fps", 0.0):
                        fps[name, overlap] = s
                s = _embedded_run(video, True, tree, stitch=True)
                if s.fps > getattr(stitched.get(name), "fps", 0.0):
                    stitched[name] = s
        for name in trees:
            for overlap in overlaps:
                label = "decode ahead + encode behind" if overlap else "one thread"
                rows.append(_row(f"embedded BlazePose, {name}, example clip 1768×994, overlay on, {label}",
                                 fps[name, overlap]))
            rows.append(_row(f"embedded BlazePose, {name}, example clip, **estimate's defaults** (stitched: "
                             "overlay in a second pass)", stitched[name]))
        overlap_gain = fps["working tree", True].fps / fps["working tree", False].fps if not args.quick else None
        speedup = (fps["working tree", True].fps / fps[next(iter(trees)), True].fps) if args.baseline else None

        if not args.quick:
            per_frame, long_seconds, long_info = _network_runs(tmp, args.long_frames, rows, memory)

    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    notes = []
    if speedup is not None:
        notes.append(f"Working tree / `{args.baseline}` on the example clip (decode ahead + encode behind): "
                     f"{speedup:.2f}× the frames/s, measured side by side (alternated fresh processes); with "
                     f"estimate's defaults {stitched['working tree'].fps / stitched[next(iter(trees))].fps:.2f}×.")
    if overlap_gain is not None:
        notes.append(f"Background decode/encode on the example clip: {overlap_gain:.2f}× the frames/s of one thread.")
    if not args.quick:
        samples = [m for _, m in memory]
        later = samples[len(samples) // 4 :] or samples
        frames_at = [f for f, _ in memory][len(samples) // 4 :]
        slope = np.polyfit(frames_at, later, 1)[0] * 1000 if len(later) > 1 else 0.0
        notes += [
            (f"Tiny FAMI (width 8, 128×96 crops, random weights) pose stage per frame (5 people): exact / reuse = "
            f"{per_frame['exact'] / per_frame['reuse']:.2f}× (a tiny model's temporal half weighs as much as its "
            "backbone, so this is not the W32/W48 ratio of `bench_model_cpu`)."),
            f"Memory over a {long_info.num_frames}-frame synthetic video (tiny FAMI, reuse, two people, no overlay; "
            f"{long_seconds:.0f} s): resident set size (MB) every 500 frames: "
            + ", ".join(f"{m:.0f}" for m in samples)
            + f". Slope after the first quarter: {slope:+.2f} MB per 1000 frames (the per-frame results kept for "
            "the final PoseTrack JSON are the only thing that grows).",
        ]
    command = "python benchmarks/bench_estimate.py" + (" --quick" if args.quick else "")
    command += f" --baseline {args.baseline}" if args.baseline else ""
    command += f" --long-frames {args.long_frames}" if args.long_frames != 10_000 else ""
    section = SECTION + " (quick)" if args.quick else SECTION  # a quick run keeps the full run's section
    body = "\n".join([
        section,
        "",
        ("End-to-end `estimate` on the CPU (`--no-stitch`: one pass, except the rows marked as estimate's defaults). Stage seconds are the main thread's, summed "
        "over the run (decode / detect / track / pose / write, where *write* is drawing and encoding the overlay "
        "and writing JSON lines; the embedded model's detector runs inside *pose*); with the background threads, "
        "*decode* and *write* are only the time the main thread waited for a decoded frame or for room in the "
        "encode queue. Example clip: best of two alternated runs, each in a fresh process; shares in %."),
        (f"Machine: {platform.processor() or platform.machine()}, {os.cpu_count()} logical CPUs, {torch.get_num_threads()} "
        f"torch threads, Linux {platform.release()}. Python {sys.version.split()[0]}, torch {torch.__version__}. "
        f"Date: {date}. 1-minute load average before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f}."),
        f"Command: `{command}`",
        "",
        "| run | frames | frames/s | seconds decode / detect / track / pose / write | % |",
        "|---|---:|---:|---|---|",
        *rows,
        "",
        *[line for note in notes for line in (note, "")],
    ])
    print(body)
    if not args.no_write:
        write_section(section, body)


if __name__ == "__main__":
    main()
