"""End-to-end ``posecli estimate``: frames/s with the time split per stage, and memory over a long video.

Runs, side by side in one process:

1. the embedded default model on the example clip (CPU), overlay on;
2. a tiny FAMI-Pose network (random weights, width 8, 128×96 crops) on a synthetic 720p clip with five
   people, people given as a boxes file, in ``reuse`` and ``exact`` modes (the ratio of the two is the
   point; the absolute speed of a random tiny network means little);
3. the same tiny network over a long synthetic video (``--long-frames``, 10,000 by default), sampling
   the process's resident memory every 500 frames to show it stays flat.

Writes the ``## bench_estimate`` section of ``benchmarks/RESULTS.md``.
Command: ``python benchmarks/bench_estimate.py [--long-frames N]``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
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


def _row(name: str, summary) -> str:  # noqa: ANN001
    t = summary.times
    total = sum(t.values())
    split = " / ".join(f"{t[k]:.1f}" for k in ("decode", "detect", "track", "pose", "write"))
    shares = " / ".join(f"{100 * t[k] / total:.0f}" for k in ("decode", "detect", "track", "pose", "write"))
    return f"| {name} | {summary.frames} | {summary.fps:.2f} | {split} | {shares} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--long-frames", type=int, default=10_000)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from posecli import jobs
    from posecli.checkpoints import save_checkpoint
    from posecli.data.synthetic import make_synthetic_video
    from posecli.models import build_model
    from posecli.video import probe_video

    rows, memory = [], []
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        # 1. embedded model on the example clip, stages in one thread vs decode/encode in background
        video = ROOT / "examples" / "demo.mp4"
        fps = {}
        for overlap in (False, True, False, True):  # alternated: a slow spell hits both
            [s] = jobs.estimate_videos(
                [video], tmp / f"demo{overlap}", jobs.EstimateOptions(stitch=False), quiet=True, overlap=overlap,
                exist_ok=True,
            )
            if s.fps > fps.get(overlap, (0.0, None))[0]:
                fps[overlap] = (s.fps, s)
        for overlap, label in ((False, "one thread"), (True, "decode ahead + encode behind")):
            rows.append(_row(f"embedded BlazePose, example clip 1768×994, overlay on, {label}", fps[overlap][1]))
        overlap_gain = fps[True][0] / fps[False][0]

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
        long_tracks = make_synthetic_video(long_clip, frames=args.long_frames, people=2, size=(320, 240), seed=5)
        _boxes_file(long_clip, long_tracks, tmp / "long.boxes.json")
        options = jobs.EstimateOptions(weights=weights, boxes=tmp / "long.boxes.json", overlay=False, stitch=False)
        from posecli.pipeline import TopDownProcessor

        original = TopDownProcessor.push

        def sampling_push(self, frame):  # noqa: ANN001, ANN202 - records RSS as the run goes
            if frame.index % 500 == 0:
                memory.append((frame.index, _rss_mb()))
            return original(self, frame)

        TopDownProcessor.push = sampling_push  # type: ignore[method-assign]
        start = time.perf_counter()
        jobs.estimate_videos([long_clip], tmp / "long", options, quiet=True)
        long_seconds = time.perf_counter() - start
        TopDownProcessor.push = original  # type: ignore[method-assign]
        long_info = probe_video(long_clip)

    samples = [m for _, m in memory]
    later = samples[len(samples) // 4 :] or samples
    slope = np.polyfit([f for f, _ in memory][len(samples) // 4 :], later, 1)[0] * 1000 if len(later) > 1 else 0.0
    date = datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC")
    body = "\n".join([
        SECTION,
        "",
        "End-to-end `estimate` on the CPU (`--no-stitch`: one pass). Stage seconds are the main thread's, summed "
        "over the run (decode / detect / track / pose / write, where *write* is drawing and encoding the overlay "
        "and writing JSON lines); with the background threads, *decode* and *write* are only the time the main "
        "thread waited for a decoded frame or for room in the encode queue. Best of two alternated runs for the "
        "example clip; shares in %.",
        f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
        f"Linux {platform.release()}. Python {sys.version.split()[0]}, torch {torch.__version__}. Date: {date}. "
        f"1-minute load average before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f}.",
        "Command: `python benchmarks/bench_estimate.py" + (f" --long-frames {args.long_frames}`" if args.long_frames != 10_000 else "`"),
        "",
        "| run | frames | frames/s | seconds decode / detect / track / pose / write | % |",
        "|---|---:|---:|---|---|",
        *rows,
        "",
        f"Background decode/encode on the example clip: {overlap_gain:.2f}× the frames/s of one thread. "
        f"Tiny FAMI (width 8, 128×96 crops, random weights) pose stage per frame (5 people): exact / reuse = "
        f"{per_frame['exact'] / per_frame['reuse']:.2f}× (a tiny model's temporal half weighs as much as its "
        "backbone, so this is not the W32/W48 ratio of `bench_model_cpu`).",
        "",
        f"Memory over a {long_info.num_frames}-frame synthetic video (tiny FAMI, reuse, two people, no overlay; "
        f"{long_seconds:.0f} s): resident set size (MB) every 500 frames: "
        + ", ".join(f"{m:.0f}" for m in samples)
        + f". Slope after the first quarter: {slope:+.2f} MB per 1000 frames (the per-frame results kept for "
        "the final PoseTrack JSON are the only thing that grows).",
        "",
    ])
    print(body)
    if not args.no_write:
        write_section(SECTION, body)

if __name__ == "__main__":
    main()
