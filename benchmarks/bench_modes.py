"""``reuse`` against ``exact`` (and bf16 ``--half``) on the synthetic validation set: AP and cost of each.

The two inference modes (spec ``models.md`` §12f) see different supporting crops: ``exact`` crops
frames t-2..t+2 with the key frame's box (the papers' protocol), ``reuse`` takes each person's own
crops of those frames, which the GTM and the deformable convolutions must then align. This measures
what that costs in accuracy with a FAMI-Pose model that has actually learnt something:

1. a synthetic PoseTrack18 dataset is generated (every frame labelled, so that every frame has boxes);
2. a small FAMI-Pose (HRNet width ``--width``, ``--size`` crops) is trained on its training split on
   the CPU for ``--steps`` steps (from scratch: no HRNet weights can be downloaded here);
3. ``posecli estimate`` runs over the validation videos in both modes with the ground-truth boxes as a
   box file (the same people in both), and ``posecli eval`` scores each against the ground truth.

Writes the ``## bench_modes`` section of ``benchmarks/RESULTS.md``.
Usage: ``python benchmarks/bench_modes.py [--steps 600] [--width 8] [--no-write]``
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
from _report import write_section

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## bench_modes"
CONFIG = ROOT / "configs" / "fami_hrnet-w8_synthetic_128x96.yaml"


def gt_box_file(gt_dir: Path, out: Path) -> int:
    """The literature's PoseTrack box list (``image_name``, ``bbox``, ``score``, ``category_id``) made
    from the GT people of every file in ``gt_dir``; returns the number of boxes."""
    boxes = []
    for file in sorted(gt_dir.glob("*.json")):
        document = json.loads(file.read_text())
        names = {image["id"]: image["file_name"] for image in document["images"]}
        for person in document["annotations"]:
            if person.get("bbox") and person["bbox"][2] > 1 and person["bbox"][3] > 1:
                boxes.append({
                    "image_name": names[person["image_id"]], "bbox": person["bbox"], "score": 1.0, "category_id": 1,
                })
    out.write_text(json.dumps(boxes))
    return len(boxes)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600, help="training steps (batch 8)")
    parser.add_argument("--width", type=int, default=8, help="HRNet width")
    parser.add_argument("--size", default="128x96", help="crop HxW")
    parser.add_argument("--videos", type=int, default=8, help="training videos")
    parser.add_argument("--val-videos", type=int, default=3)
    parser.add_argument("--frames", type=int, default=40)
    parser.add_argument("--people", type=int, default=3)
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from posecli import jobs
    from posecli.config import load_config
    from posecli.data.synthetic import write_synthetic_dataset
    from posecli.evaluation.posetrack import evaluate_posetrack
    from posecli.train import fit

    h, w = (int(v) for v in args.size.split("x"))
    load_before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        data = tmp / "data"
        write_synthetic_dataset(
            data, videos=args.videos, val_videos=args.val_videos, frames=args.frames, people=args.people,
            size=(320, 240), seed=0, label_every=1,
        )
        config = load_config(CONFIG, [
            f"data.root={data}", f"model.width={args.width}", f"model.input_size=[{h}, {w}]",
            f"train.max_steps={args.steps}", "train.epochs=100000", "train.batch_size=8", "eval.every=0",
            "train.log_every=50",
        ])
        start = time.perf_counter()
        trained = fit(config, tmp / "run", device="cpu", quiet=True)
        train_seconds = time.perf_counter() - start
        gt_dir = data / "annotations" / "val"
        boxes = tmp / "val_boxes.json"
        num_boxes = gt_box_file(gt_dir, boxes)
        videos = sorted(p for p in (data / "images" / "val").iterdir() if p.is_dir())
        rows = {}
        for run, mode, half in (("reuse", "reuse", False), ("exact", "exact", False), ("reuse, --half (bf16)", "reuse", True)):
            out = tmp / f"{mode}-{half}"
            options = jobs.EstimateOptions(
                weights=trained.last_checkpoint, boxes=boxes, mode=mode, overlay=False, stitch=False, half=half
            )
            start = time.perf_counter()
            summaries = jobs.estimate_videos(videos, out, options, quiet=True)
            seconds = time.perf_counter() - start
            pose = sum(s.times["pose"] for s in summaries)
            frames = sum(s.frames for s in summaries)
            result = evaluate_posetrack(out, gt_dir, metrics=("ap",), quiet=True)
            rows[run] = (result, pose / frames, seconds)
            print(f"{run}: total AP {result.total_ap:.1f}, pose {1000 * pose / frames:.1f} ms/frame", flush=True)
    reuse, exact = rows["reuse"][0], rows["exact"][0]
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        f"FAMI-Pose, HRNet width {args.width}, {h}×{w} crops, trained from scratch on the CPU for {args.steps} steps "
        f"(batch 8, {train_seconds / 60:.1f} min) on a synthetic PoseTrack18 set ({args.videos} training videos × "
        f"{args.frames} frames × {args.people} people, 320×240); evaluated with `posecli eval` (poseval AP) on "
        f"{args.val_videos} validation videos ({num_boxes} ground-truth boxes, given to both modes as a box file).",
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, Linux {platform.release()}. "
        f"Python {sys.version.split()[0]}, torch {torch.__version__}. Date: {date}. 1-minute load average "
        f"before / after: {load_before:.1f} / {os.getloadavg()[0]:.1f}.",
        f"Command: `python benchmarks/bench_modes.py --steps {args.steps} --width {args.width} --size {args.size}`",
        "",
        "| mode | total AP | pose stage ms/frame |",
        "|---|---:|---:|",
        *(f"| {run} | {result.total_ap:.1f} | {1000 * per_frame:.1f} |" for run, (result, per_frame, _) in rows.items()),
        "",
        f"AP difference reuse − exact: {reuse.total_ap - exact.total_ap:+.1f}; pose-stage time exact / reuse: "
        f"{rows['exact'][1] / rows['reuse'][1]:.2f}×.",
        "",
    ]
    print("\n".join(lines))
    if not args.no_write:
        write_section(SECTION, "\n".join(lines))
        print(f"wrote {SECTION} in {RESULTS}")


if __name__ == "__main__":
    main()
