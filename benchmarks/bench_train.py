"""Training throughput: JPEG decode cost, the clip data loader alone, and full training steps.

Writes the ``## bench_train`` section of ``benchmarks/RESULTS.md``. Measures on synthetic PoseTrack18
data generated on the fly (1280×720 frames by default, like PoseTrack's), so no dataset is needed:

- JPEG decode: ms per frame with OpenCV (every clip decodes up to 5 frames);
- loader: samples/s of ``ClipDataset`` through a ``DataLoader`` (5-frame clips at 256×192 and
  384×288, training augmentation, heatmap targets) for a few worker counts;
- step: samples/s of full training steps (fetch, forward, loss, backward, Adam) for tiny FAMI and
  FAMI/TDMI W32 at 256×192 on the CPU, and FAMI/TDMI W48 at 384×288 on CUDA when available (AMP).

Usage: ``python benchmarks/bench_train.py [--steps 5] [--frame-size 1280x720] [--no-write]``
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import torch

from posecli.config import load_config
from posecli.data.posetrack import read_posetrack
from posecli.data.synthetic import write_synthetic_dataset
from posecli.data.transforms import normalize_frames
from posecli.losses import build_loss
from posecli.train import build_dataset, build_training_model
from posecli.train.data import make_loader
from posecli.train.loop import TARGET_KEYS

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## bench_train"


def _config(arch: str, width: int, size: tuple[int, int], root: Path, batch: int, workers: int):
    frozen = arch == "fami" and width >= 32  # the released FAMI-Pose recipe freezes HRNet
    return load_config(
        ROOT / "configs" / f"{arch}_hrnet-w8_synthetic_128x96.yaml",
        [
            f"model.width={width}",
            f"model.input_size=[{size[0]}, {size[1]}]",
            f"data.root={root}",
            f"train.batch_size={batch}",
            f"data.workers={workers}",
            "data.sigma=3",
            "data.scale_factor=0.35",
            "data.rotation_factor=45",
            "data.rotation_prob=0.6",
            "data.half_body_prob=0.3",
            f"model.freeze_backbone={'true' if frozen else 'false'}",
            # the benchmark config is the tiny recipe's: put back the reference MI weights for TDMI
            *(["model.tdmi_alpha=1", "model.tdmi_beta=1", "model.tdmi_gamma=1"] if arch == "tdmi" else []),
        ],
    )


def bench_decode(root: Path) -> float:
    """Median ms to decode one JPEG frame."""
    files = sorted(root.rglob("*.jpg"))[:60]
    times = []
    for path in files:
        start = time.perf_counter()
        cv2.imread(str(path), cv2.IMREAD_COLOR)
        times.append(time.perf_counter() - start)
    return 1000 * statistics.median(times)


def bench_loader(root: Path, size: tuple[int, int], workers: int, batches: int, batch: int = 16) -> float:
    """Samples/s of the training data loader alone (items decoded, cropped, encoded, collated)."""
    config = _config("fami", 8, size, root, batch, workers)
    dataset = build_dataset(config, read_posetrack(root, "train"), True, 5)
    loader = make_loader(dataset, batch, workers, torch.cuda.is_available(), None)
    iterator = iter(loader)
    next(iterator)  # worker start-up is not throughput
    start, count = time.perf_counter(), 0
    for _ in range(batches):
        try:
            count += next(iterator)["frames"].shape[0]
        except StopIteration:
            break
    return count / (time.perf_counter() - start)


def bench_step(
    root: Path, arch: str, width: int, size: tuple[int, int], batch: int, steps: int, device: str
) -> float:
    """Samples/s of full training steps on ``device`` (AMP on CUDA)."""
    config = _config(arch, width, size, root, batch, 4 if device.startswith("cuda") else 0)
    target = torch.device(device)
    model = build_training_model(config).to(target).train()
    dataset = build_dataset(config, read_posetrack(root, "train"), True, model.num_frames)
    loader = make_loader(dataset, batch, config.data.workers, target.type == "cuda", None)
    loss_fn = build_loss(model.config)
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    amp = target.type == "cuda"
    scaler = torch.amp.GradScaler(target.type, enabled=amp)
    done, start = 0, 0.0
    for i, batch_data in enumerate(_cycle(loader)):
        if i == 1:  # the first step pays for allocation and autotuning
            if amp:
                torch.cuda.synchronize()
            start, done = time.perf_counter(), 0
        frames = normalize_frames(batch_data["frames"].to(target, non_blocking=True))
        targets = {k: batch_data[k].to(target, non_blocking=True) for k in TARGET_KEYS if k in batch_data}
        with torch.autocast(target.type, dtype=torch.float16, enabled=amp):
            output = model(frames)
        loss = loss_fn(output, targets)["loss"]
        optimizer.zero_grad(set_to_none=True)
        scaler.scale(loss).backward()
        scaler.step(optimizer)
        scaler.update()
        done += frames.shape[0]
        if i == steps:
            break
    if amp:
        torch.cuda.synchronize()
    return done / (time.perf_counter() - start)


def _cycle(loader):
    while True:
        yield from loader


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=5, help="timed training steps per configuration")
    parser.add_argument("--frame-size", default="1280x720", help="synthetic frame size WxH")
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()
    w, h = (int(v) for v in args.frame_size.split("x"))
    cuda = torch.cuda.is_available()
    load_before = os.getloadavg()[0]
    rows: list[tuple[str, str, str]] = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "synthetic"
        write_synthetic_dataset(root, videos=6, frames=16, people=3, seed=0, size=(w, h), val_videos=0)
        decode_ms = bench_decode(root)
        rows.append((f"JPEG decode (OpenCV, {w}x{h})", "cpu", f"{decode_ms:.1f} ms/frame"))
        for size in ((256, 192), (384, 288)):
            for workers in (0, 2, 8) if cuda else (0, 2):
                rate = bench_loader(root, size, workers, batches=6)
                rows.append(
                    (
                        f"loader, 5-frame clips {size[0]}x{size[1]}, {workers} workers",
                        "cpu",
                        f"{rate:.1f} samples/s",
                    )
                )
        runs = [
            ("fami", 8, (128, 96), 8, "cpu"),
            ("fami", 32, (256, 192), 4, "cpu"),
            ("tdmi", 32, (256, 192), 4, "cpu"),
        ]
        if cuda:
            runs += [
                ("fami", 48, (384, 288), 32, "cuda"),
                ("tdmi", 48, (384, 288), 16, "cuda"),
                ("hrnet", 48, (384, 288), 32, "cuda"),
            ]
        for arch, width, size, batch, device in runs:
            rate = bench_step(root, arch, width, size, batch, args.steps, device)
            label = f"train step {arch} W{width} {size[0]}x{size[1]}, batch {batch}" + (
                " (AMP fp16)" if device == "cuda" else ""
            )
            rows.append((label, device, f"{rate:.2f} samples/s"))
            print(rows[-1], flush=True)
    device_name = torch.cuda.get_device_name(0) if cuda else "none"
    load_after = os.getloadavg()[0]
    lines = [
        SECTION,
        "",
        "Synthetic PoseTrack18 data (6 videos × 16 frames, 3 people), training augmentation and heatmap targets;",
        f"one step = fetch, forward, loss, backward, Adam; {args.steps} timed steps after one warm-up step.",
        "FAMI W32/W48 keep the released recipe's frozen HRNet (only the temporal part is trained), TDMI and the",
        "width-8 FAMI train everything. W48 rows need CUDA.",
        (
            f"Machine: {platform.processor() or platform.machine()}, {torch.get_num_threads()} torch threads, "
            f"GPU: {device_name}. Libraries: Python {platform.python_version()}, torch {torch.__version__}, "
            f"OpenCV {cv2.__version__}, numpy {np.__version__}. Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. "
            f"1-minute load average before / after: {load_before:.1f} / {load_after:.1f} (CPU rows are only "
            "comparable at a low load)."
        ),
        f"Command: `python benchmarks/bench_train.py --steps {args.steps} --frame-size {args.frame_size}`",
        "",
        "| measurement | device | result |",
        "|---|---|---:|",
        *[f"| {a} | {b} | {c} |" for a, b, c in rows],
        "",
    ]
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        _write_section(text)


def _write_section(text: str) -> None:
    """Replace (or append) this script's section of RESULTS.md, leaving the others untouched."""
    current = RESULTS.read_text(encoding="utf-8") if RESULTS.exists() else "# Benchmark results\n"
    parts = current.split("\n## ")
    head, sections = parts[0], ["## " + p for p in parts[1:]]
    kept = [
        s.rstrip("\n") + "\n" for s in sections if not s.startswith(SECTION + "\n") and s.strip() != SECTION
    ]
    new = head.rstrip("\n") + "\n\n" + "\n".join([*kept, text]).rstrip("\n") + "\n"
    RESULTS.write_text(new, encoding="utf-8")


if __name__ == "__main__":
    main()
