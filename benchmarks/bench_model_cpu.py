"""CPU cost per person-frame of the pose networks in the two video modes, and of the DCN kernels.

``exact``: one key frame per person runs the whole network on a 5-frame clip (5 backbone passes).
``reuse``: steady state of ``PoseRunner``: one backbone pass per person-frame (``encode``) plus the
temporal module and head on cached features (``predict``).
Also times the deformable convolution at FAMI's shape (torchvision vs the grid_sample form) and checks
that they agree. Weights are random (re-initialised Kaiming) with denormals flushed, so timings reflect
dense arithmetic, not the subnormal slow path that the 0.001-std reference init would trigger.

Writes its own ``## bench_model_cpu`` section of ``benchmarks/RESULTS.md``.
Usage: ``python benchmarks/bench_model_cpu.py [--repeats 3] [--people 1,5] [--threads N] [--models a,b]``
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import torch
import torchvision
from _report import write_section
from torch import nn

from posecli.models import build_model
from posecli.models.deform import deform_conv2d_grid_sample
from posecli.runner import PoseRunner

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


class ModelBench:
    """One model's three timed steps per person-frame, for ``people`` crops per frame:

    ``exact``: the whole network on one 5-frame clip per person; ``encode``: the backbone on the frame's
    crops (``PoseRunner.encode``); ``decode``: temporal module + head for one key frame from the
    cache (``PoseRunner.predict``). Each ``time_round`` call times every step once, right after an
    untimed run of the same step: otherwise the backbone pass is timed just after the five-frame
    ``exact`` pass (of a temporal model, or a mere single-frame one for HRNet) has evicted the
    caches, which is not the state a streaming pipeline runs it in, and biases the ratios.
    """

    def __init__(self, name: str, size: tuple[int, int], people: int) -> None:
        torch.manual_seed(0)
        self.model = build_model(name, input_size=size).eval()
        _realistic_weights(self.model)
        h, w = size
        t = self.model.num_frames
        self.people = people
        self.clips = torch.randn(people, t, 3, h, w)
        self.runner = PoseRunner(self.model)
        rows = list(range(people))
        unused = np.zeros((h, w, 3), np.uint8)  # reuse mode never re-crops a frame
        for f in range(t):
            self.runner.add_frame(f, unused, self.runner.encode(self.clips[:, f]), rows, rows)
        self.runner.finish()
        self.cached = self.runner.state()
        self.persons = [SimpleNamespace(track_id=p) for p in rows]
        self.crops = self.clips[:, 0]
        self.times: dict[str, list[float]] = {"exact": [], "encode": [], "decode": []}

    def time_round(self) -> None:
        key = self.model.num_frames // 2
        for step, fn in (
            ("exact", lambda: self._exact()),
            ("encode", lambda: self.runner.encode(self.crops)),
            ("decode", lambda: self._decode(key)),
        ):
            fn()  # untimed: the step now runs in the state it leaves behind, as when repeated
            start = time.perf_counter()
            fn()
            self.times[step].append((time.perf_counter() - start) / self.people)

    @torch.no_grad()
    def _exact(self) -> None:
        """The whole network on one clip per person."""
        self.model(self.clips)

    def _decode(self, key: int) -> None:
        """One key frame from the cached features (a copy of the cache: ``predict`` evicts frames)."""
        self.runner.restore({name: dict(v) if isinstance(v, dict) else v for name, v in self.cached.items()})
        self.runner.predict(key, self.persons)

    def best(self) -> dict[str, float]:
        out = {step: min(values) for step, values in self.times.items()}
        out["reuse"] = out["encode"] + out["decode"]
        return out


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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=None, help="torch intra-op threads (default: torch's)")
    parser.add_argument("--models", default=DEFAULT_MODELS)
    parser.add_argument("--size", default="384x288", help="crop HxW")
    parser.add_argument("--people", default="1,5", help="person crops per frame (batched), comma-separated")
    parser.add_argument("--no-write", action="store_true", help="print only, leave RESULTS.md alone")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.set_flush_denormal(True)
    size = tuple(int(v) for v in args.size.split("x"))
    crowds = [int(v) for v in args.people.split(",")]
    tables: list[tuple[int, list[tuple[str, dict[str, float]]]]] = []
    with torch.no_grad():
        for people in crowds:
            # All models are timed round by round, one step after the other, and the best round is kept:
            # a slow spell of a shared machine then hits every model instead of biasing one ratio.
            benches = [(name, ModelBench(name, size, people)) for name in args.models.split(",")]  # type: ignore[arg-type]
            for bench in (b for _, b in benches):
                bench.time_round()  # warm-up (allocator, kernel selection)
                bench.times = {step: [] for step in bench.times}
            for _ in range(args.repeats):
                for _, bench in benches:
                    bench.time_round()
            rows = [(name, bench.best()) for name, bench in benches]
            for name, r in rows:
                print(f"{people} per frame, {name}: exact {r['exact']:.3f} s, reuse {r['reuse']:.3f} s "
                      f"(backbone {r['encode']:.3f} + temporal {r['decode']:.3f})", flush=True)
            tables.append((people, rows))
            del benches
    dcn = bench_dcn(args.repeats)
    print(f"DCN 48ch 96x72: torchvision {dcn['torchvision'] * 1e3:.1f} ms, grid_sample "
          f"{dcn['grid_sample'] * 1e3:.1f} ms, max |diff| {dcn['max_abs_diff']:.2e}")
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    lines = [
        SECTION,
        "",
        (
            f"CPU seconds per person-frame at {size[0]}x{size[1]}, with the person crops of a frame batched, "
            f"best of {args.repeats} interleaved rounds after a warm-up, each step timed right after an untimed run of itself; random Kaiming weights, denormals "
            "flushed. `exact` = one 5-frame clip per person through the whole network (reference protocol); "
            "`reuse` = one backbone pass per crop (cached) + temporal module and head on the cache. Ratios are "
            "to the single-frame HRNet of the same width in the same run: what the temporal model costs per "
            "person-frame relative to a plain HRNet on the same crops."
        ),
        (
            f"Machine: {_machine()}. Libraries: Python {sys.version.split()[0]}, torch {torch.__version__}, "
            f"torchvision {torchvision.__version__}. Date: {date}. 1-minute load average at the end: "
            f"{os.getloadavg()[0]:.1f}."
        ),
        f"Command: `python benchmarks/bench_model_cpu.py --repeats {args.repeats} --people {args.people}"
        + (f" --threads {args.threads}" if args.threads else "") + "`",
    ]
    for people, rows in tables:
        lines += [
            "",
            f"{people} person crop(s) per frame:",
            "",
            "| model | exact s | reuse s | reuse: backbone s | reuse: temporal+head s | exact / HRNet | reuse / HRNet |",
            "|---|---:|---:|---:|---:|---:|---:|",
        ]
        single = {name.rsplit("_", 1)[1]: r["reuse"] for name, r in rows if name.startswith("hrnet_")}
        for name, r in rows:
            base = single.get(name.rsplit("_", 1)[1])
            ratios = f"{r['exact'] / base:.2f} | {r['reuse'] / base:.2f}" if base else "– | –"
            lines.append(
                f"| {name} | {r['exact']:.3f} | {r['reuse']:.3f} | {r['encode']:.3f} | {r['decode']:.3f} | {ratios} |"
            )
    lines += [
        "",
        "Deformable conv, FAMI shape (1×48×96×72, 12 offset groups, dilation 3):",
        "",
        "| kernel | ms | max abs diff vs torchvision |",
        "|---|---:|---:|",
        f"| torchvision.ops.deform_conv2d | {dcn['torchvision'] * 1e3:.1f} | 0 |",
        f"| grid_sample form (blocked) | {dcn['grid_sample'] * 1e3:.1f} | {dcn['max_abs_diff']:.1e} |",
        "",
    ]
    if not args.no_write:
        write_section(SECTION, "\n".join(lines))
        print(f"wrote {SECTION} in {RESULTS}")


if __name__ == "__main__":
    main()
