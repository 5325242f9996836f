"""Candidate fast paths for the networks, each against plain fp32 eager on the same crops, side by side.

For HRNet-W32 at 256×192 and FAMI-Pose W32 (``reuse``: one backbone pass + temporal half) on five person
crops per frame, times per person-frame and checks accuracy against fp32 eager:

- CPU: bf16 autocast (``torch.autocast("cpu", torch.bfloat16)``), channels_last memory format,
  ``torch.compile`` (inductor; compile time reported separately);
- CUDA, when there is one: fp32, fp16 autocast (``--half``), fp16 + channels_last, and
  ``torch.compile``.

Accuracy: the largest keypoint displacement (crop pixels, argmax + quarter offset decoding) against fp32
eager, over all joints of all crops, and the largest heatmap difference relative to the heatmap range.
A path is worth keeping only if it is faster *and* moves keypoints by well under a heatmap pixel (4 crop
pixels). Writes the ``## bench_fastpaths`` section of ``benchmarks/RESULTS.md``.

Usage: ``python benchmarks/bench_fastpaths.py [--repeats 5] [--no-compile] [--no-write]``
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import torch
from _report import write_section
from torch import nn

from posecli.codecs.heatmap import HeatmapCodec
from posecli.models import build_model

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## bench_fastpaths"
SIZE = (256, 192)
PEOPLE = 5


def _realistic(model: nn.Module) -> nn.Module:
    """Variance-keeping weights so activations (and bf16/fp16 rounding) look like a trained model's."""
    torch.manual_seed(0)
    with torch.no_grad():
        for m in model.modules():
            if isinstance(m, nn.Conv2d | nn.Linear):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                m.weight.mul_(0.5)
    return model.eval()


def _timed(fn: Callable[[], torch.Tensor], repeats: int, sync: Callable[[], None]) -> tuple[float, torch.Tensor]:
    out = fn()
    sync()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        out = fn()
        sync()
        best = min(best, time.perf_counter() - start)
    return best / PEOPLE, out


def _heatmaps(model: nn.Module, taps_of: Callable[[torch.Tensor], list[torch.Tensor]], crops: torch.Tensor):
    """``(P, K, h, w)`` heatmaps of a static 5-frame clip per crop through ``encode`` + ``decode``."""
    taps = taps_of(crops)
    stacked = [t.unsqueeze(1).expand(-1, model.num_frames, -1, -1, -1) for t in taps]
    return model.decode(stacked).heatmaps


def bench(name: str, device: torch.device, repeats: int, compile_too: bool) -> list[tuple[str, float, float, float]]:
    """Rows ``(variant, seconds per person-frame, max keypoint shift px, max rel heatmap diff)``."""
    codec = HeatmapCodec(SIZE, (SIZE[0] // 4, SIZE[1] // 4))
    model = _realistic(build_model(name, input_size=SIZE)).to(device)
    crops = torch.randn(PEOPLE, 3, *SIZE, device=device)
    sync = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)
    cast = torch.bfloat16 if device.type == "cpu" else torch.float16

    def run(encode: Callable[[torch.Tensor], list[torch.Tensor]], x: torch.Tensor, autocast: bool) -> torch.Tensor:
        with torch.no_grad(), torch.autocast(device.type, dtype=cast, enabled=autocast):
            return _heatmaps(model, encode, x).float()

    variants: list[tuple[str, Callable[[], torch.Tensor]]] = [
        ("fp32 eager", lambda: run(model.encode_frames, crops, False)),
        (f"{str(cast).split('.')[-1]} autocast", lambda: run(model.encode_frames, crops, True)),
    ]
    channels_last = crops.contiguous(memory_format=torch.channels_last)
    variants.append(("channels_last", lambda: run(model.encode_frames, channels_last, False)))
    if device.type == "cuda":
        variants.append(("fp16 + channels_last", lambda: run(model.encode_frames, channels_last, True)))
    rows = []
    reference = None
    for label, fn in variants:
        if label == "channels_last" or label.endswith("channels_last"):
            model.to(memory_format=torch.channels_last)
        seconds, out = _timed(fn, repeats, sync)
        model.to(memory_format=torch.contiguous_format)
        reference = out if reference is None else reference
        rows.append((label, seconds, *_errors(codec, reference, out)))
    if compile_too:
        start = time.perf_counter()
        compiled = torch.compile(model.encode_frames)
        run(compiled, crops, False)
        compile_seconds = time.perf_counter() - start
        seconds, out = _timed(lambda: run(compiled, crops, False), repeats, sync)
        rows.append((f"torch.compile (compiling took {compile_seconds:.0f} s)", seconds, *_errors(codec, reference, out)))
    return rows


def _errors(codec: HeatmapCodec, reference: torch.Tensor, out: torch.Tensor) -> tuple[float, float]:
    ref_xy, _ = codec.decode(reference.cpu())
    out_xy, _ = codec.decode(out.cpu())
    shift = float(abs(ref_xy - out_xy).max())
    span = float(reference.max() - reference.min()) or 1.0
    return shift, float((reference - out).abs().max()) / span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (slow to compile)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()
    torch.set_flush_denormal(True)
    devices = [torch.device("cpu")] + ([torch.device("cuda")] if torch.cuda.is_available() else [])
    load_before = os.getloadavg()[0]
    lines = [SECTION, ""]
    lines.append(
        f"Seconds per person-frame, {PEOPLE} crops of {SIZE[0]}×{SIZE[1]} batched, best of {args.repeats} after a "
        "warm-up; `reuse`-mode work (one backbone pass + the temporal half on a static clip). Keypoint shift: "
        "largest change of a decoded joint against fp32 eager, in crop pixels (one heatmap pixel = 4)."
    )
    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none"
    lines.append(
        f"Machine: {platform.machine()}, {torch.get_num_threads()} torch threads, GPU: {gpu}. Python "
        f"{sys.version.split()[0]}, torch {torch.__version__}. Date: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC. "
        f"1-minute load average before / after: {load_before:.1f} / {{after}}."
    )
    lines.append(f"Command: `python benchmarks/bench_fastpaths.py --repeats {args.repeats}"
                 + (" --no-compile" if args.no_compile else "") + "`")
    for device in devices:
        for name in ("hrnet_w32", "fami_hrnet_w32"):
            rows = bench(name, device, args.repeats, not args.no_compile)
            base = rows[0][1]
            lines += ["", f"{name} on {device.type}:", "",
                      "| variant | s / person-frame | speed vs fp32 eager | keypoint shift px | heatmap diff / range |",
                      "|---|---:|---:|---:|---:|"]
            for label, seconds, shift, diff in rows:
                lines.append(f"| {label} | {seconds:.4f} | {base / seconds:.2f}× | {shift:.2f} | {diff:.1e} |")
                print(f"{device.type} {name} {label}: {seconds:.4f} s ({base / seconds:.2f}×), shift {shift:.2f} px",
                      flush=True)
    body = "\n".join(lines).replace("{after}", f"{os.getloadavg()[0]:.1f}") + "\n"
    print(body)
    if not args.no_write:
        write_section(SECTION, body)


if __name__ == "__main__":
    main()
