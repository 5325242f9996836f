"""CPU cost per person-frame of the pose networks in the two video modes, and of the DCN kernels.

``exact``: one key frame per person runs the whole network on a 5-frame clip (5 backbone passes).
``reuse``: steady state of ``ReuseRunner``: one backbone pass per person-frame (``add_frame``) plus the
temporal module and head on cached features (``predict``).
Also times the deformable convolution at FAMI's shape (torchvision vs the grid_sample form) and checks
that they agree. Weights are random (re-initialised Kaiming) with denormals flushed, so timings reflect
dense arithmetic, not the subnormal slow path that the 0.001-std reference init would trigger.

Writes its own ``## bench_model_cpu`` section of ``benchmarks/RESULTS.md``.
Usage: ``python benchmarks/bench_model_cpu.py [--repeats 3] [--threads N] [--models a,b]``
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import torch
import torchvision
from torch import nn

from posecli.models import build_model
from posecli.models.deform import deform_conv2d_grid_sample
from posecli.models.inference import ReuseRunner, predict_exact

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
SECTION = "## bench_model_cpu"
DEFAULT_MODELS = "hrnet_w32,hrnet_w48,fami_hrnet_w32,fami_hrnet_w48,tdmi_hrnet_w32,tdmi_hrnet_w48"


def _realistic_weights(model: nn.Module) -> None:
    """Kaiming conv weights: activations of ordinary magnitude (speed is data-independent otherwise)."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            m.weight.data.mul_(0.5)


def _best(fn, repeats: int) -> float:
    fn()  # warm-up (allocator, one-off kernel selection)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def bench_model(name: str, repeats: int, size: tuple[int, int]) -> dict[str, float]:
    model = build_model(name, input_size=size).eval()
    _realistic_weights(model)
    h, w = size
    clip = torch.randn(1, model.num_frames, 3, h, w)
    exact = _best(lambda: predict_exact(model, clip), repeats)
    runner = ReuseRunner(model)
    for f in range(model.num_frames):
        runner.add_frame(f, {0: clip[0, f]})
    key = model.num_frames // 2
    crop = {0: clip[0, 0]}
    encode = _best(lambda: runner.add_frame(99, crop), repeats)
    decode = _best(lambda: runner.predict(key, last_frame=model.num_frames - 1), repeats)
    return {"exact": exact, "reuse": encode + decode, "encode": encode, "decode": decode}


def bench_dcn(repeats: int) -> dict[str, float]:
    torch.manual_seed(0)
    x = torch.randn(1, 48, 96, 72)
    offset = torch.randn(1, 216, 96, 72) * 2
    mask = torch.randn(1, 108, 96, 72)
    weight = torch.randn(48, 48, 3, 3) * 0.05
    bias = torch.randn(48)
    with torch.no_grad():
        tv = torchvision.ops.deform_conv2d(x, offset, weight, bias, padding=(3, 3), dilation=(3, 3), mask=mask)
        gs = deform_conv2d_grid_sample(x, offset, weight, bias, mask, 1, 3, 3)
        t_tv = _best(lambda: torchvision.ops.deform_conv2d(
            x, offset, weight, bias, padding=(3, 3), dilation=(3, 3), mask=mask), repeats)
        t_gs = _best(lambda: deform_conv2d_grid_sample(x, offset, weight, bias, mask, 1, 3, 3), repeats)
    return {"torchvision": t_tv, "grid_sample": t_gs, "max_abs_diff": (tv - gs).abs().max().item()}


def _machine() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} torch threads, Linux {platform.release()}"


def write_section(body: str) -> None:
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    start = text.find(SECTION + "\n")
    if start >= 0:
        end = text.find("\n## ", start + len(SECTION))
        text = text[:start] + body + (text[end + 1 :] if end >= 0 else "")
    else:
        text = text.rstrip("\n") + "\n\n" + body
    RESULTS.write_text(text.rstrip("\n") + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--size", default="384x288", help="crop HxW")
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    size = tuple(int(v) for v in args.size.split("x"))
    rows = []
    with torch.no_grad():
        for name in args.models.split(","):
            r = bench_model(name, args.repeats, size)  # type: ignore[arg-type]
            rows.append((name, r))
            print(f"{name}: exact {r['exact']:.3f} s, reuse {r['reuse']:.3f} s "
                  f"(backbone {r['encode']:.3f} + temporal {r['decode']:.3f})", flush=True)
    dcn = bench_dcn(args.repeats)
    print(f"DCN 48ch 96x72: torchvision {dcn['torchvision'] * 1e3:.1f} ms, grid_sample "
          f"{dcn['grid_sample'] * 1e3:.1f} ms, max |diff| {dcn['max_abs_diff']:.2e}")
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        (
            f"CPU seconds per person-frame at {size[0]}x{size[1]}, batch 1, best of {args.repeats} after a "
            "warm-up; random Kaiming weights, denormals flushed. `exact` = one 5-frame clip through the whole "
            "network (reference protocol); `reuse` = one backbone pass (cached) + temporal module and head."
        ),
        (
            f"Machine: {_machine()}. Libraries: Python {sys.version.split()[0]}, torch {torch.__version__}, "
            f"torchvision {torchvision.__version__}. Date: {date}."
        ),
        f"Command: `python benchmarks/bench_model_cpu.py --repeats {args.repeats}"
        + (f" --threads {args.threads}" if args.threads else "") + "`",
        "",
        "| model | exact s | reuse s | reuse: backbone s | reuse: temporal+head s | exact / reuse |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    for name, r in rows:
        lines.append(f"| {name} | {r['exact']:.3f} | {r['reuse']:.3f} | {r['encode']:.3f} | {r['decode']:.3f} | "
                     f"{r['exact'] / r['reuse']:.2f} |")
    lines += [
        "",
        "Deformable conv, FAMI shape (1×48×96×72, 12 offset groups, dilation 3):",
        "",
        "| kernel | ms | max abs diff vs torchvision |",
        "|---|---:|---:|",
        f"| torchvision.ops.deform_conv2d | {dcn['torchvision'] * 1e3:.1f} | 0 |",
        f"| grid_sample form | {dcn['grid_sample'] * 1e3:.1f} | {dcn['max_abs_diff']:.1e} |",
        "",
    ]
    if not args.no_write:
        write_section("\n".join(lines))
        print(f"wrote {SECTION} in {RESULTS}")


if __name__ == "__main__":
    main()
