"""Decoding throughput of ``posecli.video.VideoReader`` against raw PyAV decoding of the same file.

Both sides produce the same thing: every frame as an ``(H, W, 3)`` uint8 RGB array. Raw PyAV is the
floor any reader built on it must pay (demux + decode with frame threads + RGB conversion); the ratio
shows what the reader adds (or saves, with decord). Runs alternate between the contenders and the best
of ``--repeats`` runs is kept, so a noisy neighbour does not bias one side.

Clips: ``examples/demo.mp4`` (VP9, 1768x994, 230 frames: decord fails after a few frames and the
reader falls back to PyAV) and a synthetic 1280x720 H.264 clip generated into a temporary folder.

Usage: ``python benchmarks/bench_decode.py [--frames 300] [--repeats 3] [--no-write]``. Updates only
the ``## bench_decode`` section of ``benchmarks/RESULTS.md``.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np

from posecli.video import VideoReader

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "bench_decode"


def make_clip(path: Path, frames: int, width: int = 1280, height: int = 720, fps: int = 30) -> Path:
    """A moving-texture H.264 clip (yuv420p, x264 veryfast) so the decoder has real work to do."""
    yy, xx = np.mgrid[0:height, 0:width]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        stream.options = {"preset": "veryfast", "crf": "23"}
        for i in range(frames):
            r = (128 + 127 * np.sin((xx + 4 * i) / 37.0)).astype(np.uint8)
            g = (128 + 127 * np.sin((yy - 3 * i) / 23.0)).astype(np.uint8)
            b = ((xx + yy + 5 * i) % 256).astype(np.uint8)
            frame = av.VideoFrame.from_ndarray(np.dstack([r, g, b]), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def raw_pyav(path: Path) -> int:
    """Decode every frame to RGB with plain PyAV (threaded, as a careful user would)."""
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            frame.to_ndarray(format="rgb24")
            count += 1
    return count


def reader(backend: str) -> Callable[[Path], int]:
    def run(path: Path) -> int:
        count = 0
        for _ in VideoReader(path, backend=backend):
            count += 1
        return count

    return run


def measure(
    path: Path, contenders: dict[str, Callable[[Path], int]], repeats: int
) -> dict[str, tuple[int, float]]:
    """Best frames/s per contender over ``repeats`` alternating rounds: ``name -> (frames, fps)``."""
    best: dict[str, tuple[int, float]] = {}
    for _ in range(repeats):
        for name, run in contenders.items():
            start = time.perf_counter()
            frames = run(path)
            fps = frames / (time.perf_counter() - start)
            if name not in best or fps > best[name][1]:
                best[name] = (frames, fps)
    return best


def versions() -> str:
    parts = [
        f"Python {platform.python_version()}",
        f"PyAV {av.__version__} (FFmpeg libavcodec {'.'.join(map(str, av.library_versions['libavcodec']))})",
    ]
    try:
        import decord

        parts.append(f"decord {decord.__version__}")
    except ImportError:
        parts.append("decord not installed")
    parts.append(f"numpy {np.__version__}")
    return ", ".join(parts)


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
    """Replace (or append) this script's ``## bench_decode`` section of RESULTS.md."""
    text = RESULTS.read_text() if RESULTS.exists() else "# Benchmark results\n"
    pattern = re.compile(rf"^## {SECTION}\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section_text, text)
    else:
        text = text.rstrip("\n") + "\n\n" + section_text
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    tmp = RESULTS.with_suffix(".md.tmp")
    tmp.write_text(text)
    os.replace(tmp, RESULTS)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=300, help="frames in the synthetic 720p clip")
    parser.add_argument("--repeats", type=int, default=3, help="alternating rounds; the best is kept")
    parser.add_argument("--no-write", action="store_true", help="print only, do not update RESULTS.md")
    args = parser.parse_args()

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        synthetic = make_clip(Path(tmp) / "synthetic_720p.mp4", args.frames)
        clips = [
            ("examples/demo.mp4 (VP9 1768x994)", ROOT / "examples" / "demo.mp4"),
            (f"synthetic H.264 1280x720, {args.frames} frames", synthetic),
        ]
        for label, path in clips:
            contenders = {
                "raw PyAV": raw_pyav,
                "VideoReader auto": reader("auto"),
                "VideoReader pyav": reader("pyav"),
            }
            results = measure(path, contenders, args.repeats)
            base = results["raw PyAV"][1]
            for name, (frames, fps) in results.items():
                rows.append((label, name, frames, fps, fps / base))
                print(f"{label:45s} {name:18s} {frames:5d} frames {fps:8.1f} frames/s  x{fps / base:.2f}")
            probe = VideoReader(path)
            list(probe)
            rows.append((label, f"(auto used: {' → '.join(probe.backend_used)})", 0, 0.0, 0.0))

    lines = [
        f"## {SECTION}",
        "",
        (
            f"Decoding to RGB frames, best of {args.repeats} alternating rounds; "
            "ratio = frames/s ÷ raw PyAV frames/s on the same file."
        ),
        (
            f"Machine: {machine()}. Libraries: {versions()}. "
            f"Date: {datetime.datetime.now(datetime.UTC):%Y-%m-%d %H:%M} UTC."
        ),
        "Command: `python benchmarks/bench_decode.py"
        + (f" --frames {args.frames}" if args.frames != 300 else "")
        + (f" --repeats {args.repeats}" if args.repeats != 3 else "")
        + "`",
        "",
        "| clip | decoder | frames | frames/s | ratio vs raw PyAV |",
        "|---|---|---:|---:|---:|",
    ]
    for label, name, frames, fps, ratio in rows:
        if name.startswith("(auto used"):
            lines.append(f"| {label} | {name} | | | |")
        else:
            lines.append(f"| {label} | {name} | {frames} | {fps:.1f} | {ratio:.2f} |")
    section = "\n".join(lines) + "\n\n"
    if not args.no_write:
        update_results(section)
        print(f"updated the '## {SECTION}' section of {RESULTS}")


if __name__ == "__main__":
    main()
