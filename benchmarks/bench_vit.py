"""CPU cost of ViTPose and TAR-ViTPose per person-frame in the streaming model stage (``PoseRunner``).

For ViTPose-S/B (single frame) and TAR-ViTPose-S/B in ``reuse`` and ``exact`` modes, a stream of
``--frames`` frames with ``--people`` people each (384×288 crops, random weights: the cost does not
depend on them) goes through ``PoseRunner.encode`` / ``add_frame`` / ``predict`` as ``posecli estimate``
drives it; detection, tracking and decoding are left out. Reports wall and process-CPU seconds per
person-frame (the fastest of ``--repeats`` interleaved runs), and TAR's process-CPU cost relative to
the single-frame ViTPose of the same size (the goal for ``reuse``: ≤ 1.5×; ``exact`` encodes every
window crop again, about 5×).

Writes the ``## bench_vit`` section of ``benchmarks/RESULTS.md``.
Usage: ``python benchmarks/bench_vit.py [--frames 8] [--people 2] [--sizes s,b] [--no-write]``
"""

from __future__ import annotations

import argparse
import math
import os
import platform
import sys
import time
from datetime import UTC, datetime
from types import SimpleNamespace

import numpy as np
import torch
from _report import RESULTS, write_section
from torch import nn

SECTION = "## bench_vit"


def _model(name: str) -> nn.Module:
    from posecli.models import build_model

    torch.manual_seed(0)
    model = build_model(name)
    # O(1) first-pass heatmaps, as trained weights give (the N(0, 0.001) init would mask every token)
    for module in model.keypoint_head.modules():
        if isinstance(module, (nn.ConvTranspose2d, nn.Conv2d)):
            nn.init.normal_(module.weight, std=(1.0 / module.weight[0].numel()) ** 0.5)
    return model.eval()


def run_stream(model: nn.Module, mode: str, frames: int, people: int) -> tuple[float, float]:
    """(wall seconds, process CPU seconds) to stream ``frames`` × ``people`` through the model stage."""
    from posecli.runner import PoseRunner

    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, (480, 640, 3), dtype=np.uint8)
    persons = [
        SimpleNamespace(track_id=i, center=np.array([160.0 + 300 * i, 240.0]), scale=np.array([1.5, 2.0]))
        for i in range(people)
    ]
    runner = PoseRunner(model, mode=mode, batch_size=8)
    with torch.no_grad():
        model.encode_frames(torch.zeros(1, 3, 384, 288))  # warm-up: first-call allocations are not timed
    wall, cpu = time.perf_counter(), time.process_time()
    with torch.no_grad():
        for index in range(frames):
            crops = torch.stack([runner.crop(image, p.center, p.scale) for p in persons])
            ready = runner.add_frame(index, image, runner.encode(crops), list(range(people)), [p.track_id for p in persons])
            for key in ready:
                runner.predict(key, persons)
        for key in runner.finish():
            runner.predict(key, persons)
    return time.perf_counter() - wall, time.process_time() - cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=8)
    parser.add_argument("--people", type=int, default=2)
    parser.add_argument("--sizes", default="s,b", help="ViT sizes, comma-separated (s, b, h)")
    parser.add_argument("--repeats", type=int, default=3, help="interleaved runs per row; the fastest counts")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    load_before = os.getloadavg()[0]
    count = args.frames * args.people
    rows: list[tuple[str, str, float, float, float]] = []
    for size in args.sizes.split(","):
        single, tar = _model(f"vitpose_{size}"), _model(f"tar_vitpose_{size}")
        runs = {"single frame": (single, "reuse"), "reuse": (tar, "reuse"), "exact": (tar, "exact")}
        best = {label: (math.inf, math.inf) for label in runs}
        # interleaved repeats, fastest of each: other processes' load comes and goes between runs
        for _ in range(args.repeats):
            for label, (model, mode) in runs.items():
                wall, cpu = run_stream(model, mode, args.frames, args.people)
                best[label] = (min(best[label][0], wall), min(best[label][1], cpu))
                print(size, label, f"{wall:.1f} s wall, {cpu:.1f} s CPU", flush=True)
        base_cpu = best["single frame"][1]
        for label, (wall, cpu) in best.items():
            name = f"ViTPose-{size.upper()}" if label == "single frame" else f"TAR-ViTPose-{size.upper()}"
            rows.append((name, label, wall / count, cpu / count, cpu / base_cpu))
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        (
            f"Model stage only (`PoseRunner`: crop, encoder, first-pass and final decoder, TAR temporal module), "
            f"384×288 crops, {args.frames} frames × {args.people} people, random weights, float32 on the CPU; "
            f"fastest of {args.repeats} interleaved runs per row. **The CPU is shared with four other workers**: "
            f"read the process-CPU ratios, not the absolute seconds."
        ),
        (
            f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, Linux {platform.release()}. "
            f"Python {sys.version.split()[0]}, torch {torch.__version__}. Date: {date}. 1-minute load average "
            f"before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f}."
        ),
        (
            f"Command: `python benchmarks/bench_vit.py --frames {args.frames} --people {args.people} "
            f"--sizes {args.sizes} --repeats {args.repeats}`"
        ),
        "",
        "| network | mode | wall s / person-frame | CPU s / person-frame | CPU × single-frame ViTPose |",
        "|---|---|---:|---:|---:|",
        *(
            f"| {name} | {mode} | {wall:.3f} | {cpu:.3f} | {ratio:.2f} |"
            for name, mode, wall, cpu, ratio in rows
        ),
        "",
        "TAR-ViTPose `reuse` / single-frame ViTPose (process CPU): "
        + ", ".join(f"{name.split('-')[-1]} {ratio:.2f}×" for name, mode, _, _, ratio in rows if mode == "reuse")
        + " (goal ≤ 1.5×). What it adds per person-key-frame: the JTA/GRA module and the second decoder pass; "
        "the six window cross-attentions read the raw cached tokens (`WindowCrossAttention`).",
        "",
        (
            "`reuse` encodes each crop once (encoder + first-pass decoder, cached per person) and adds the "
            "JTA/GRA module and one decoder pass per person-key-frame; `exact` crops the four supporting frames "
            "again with the key frame's box and encodes them, as the reference protocol does."
        ),
        "",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section(SECTION, "\n".join(lines))
        print(f"wrote {SECTION} in {RESULTS}")


if __name__ == "__main__":
    main()
