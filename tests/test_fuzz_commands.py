"""A fuzz corpus over every command, run as a user runs it: ``python -m posecli …`` in a fresh process.

Each case feeds one hostile input (generated here) to one command and checks the promises that hold
for every input: the process ends within its time limit (no hang), exits 0 or 1 (1 for bad input),
prints no traceback, says what is wrong in one line naming the file, leaves no temporary file, lock or
progress folder behind, and never runs code planted in a file it reads. The per-area tests
(``test_video_faults``, ``test_json_fuzz``, ``test_untrusted_files``, ``test_interrupts``) go deeper
into each reader; this file is the cross-command check that nothing between them slipped.
"""

from __future__ import annotations

import os
import pickle
import subprocess
import sys
import zipfile
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[1]
TIMEOUT_S = 120  # a hang shows as a timeout, far above any case's normal run time


class _Planted:
    """A pickle that, when loaded unsafely, creates ``marker``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (os.system, (f"touch {self.marker}",))


def _clip(path: Path, frames: int = 12, codec: str = "libx264", fmt: str | None = None) -> Path:
    with av.open(str(path), "w", format=fmt) as container:
        stream = container.add_stream(codec, rate=25)
        stream.width, stream.height, stream.pix_fmt = 128, 96, "yuv420p"
        for i in range(frames):
            image = np.full((96, 128, 3), 30 + 10 * i, np.uint8)
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def _cut(path: Path, share: float) -> Path:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * share)])
    return path


def _pickle_file(path: Path, marker: Path) -> Path:
    path.write_bytes(pickle.dumps({"state": _Planted(marker)}))
    return path


def _torch_zip(path: Path, marker: Path) -> Path:
    """A torch-style zip checkpoint whose data.pkl runs a command when loaded without weights_only."""
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"w": _Planted(marker)}))
        archive.writestr("archive/version", "3\n")
    return path


# Each case: (name, files to make in the work folder → posecli arguments).
Case = tuple[str, Callable[[Path, Path], list[str]]]


def _estimate(path: Path, out: Path) -> list[str]:
    return ["estimate", str(path), "-o", str(out), "-q"]


CASES: list[Case] = [
    ("estimate: empty file", lambda d, m: _estimate(_write(d / "empty.mp4", b""), d / "out")),
    ("estimate: text named .mp4", lambda d, m: _estimate(_write(d / "t.mp4", b"hello\n" * 400), d / "out")),
    ("estimate: random bytes .mkv", lambda d, m: _estimate(_write(d / "r.mkv", os.urandom(5000)), d / "out")),
    ("estimate: MP4 cut at 40 %", lambda d, m: _estimate(_cut(_clip(d / "c.mp4"), 0.4), d / "out")),
    ("estimate: WebM cut at 60 %", lambda d, m: _estimate(_cut(_clip(d / "c.webm", codec="libvpx-vp9"), 0.6), d / "out")),
    ("estimate: empty folder", lambda d, m: _estimate(_mkdir(d / "frames"), d / "out")),
    ("estimate: FIFO", lambda d, m: _estimate(_fifo(d / "pipe.mp4"), d / "out")),
    ("detect: FIFO", lambda d, m: ["detect", str(_fifo(d / "pipe.mp4")), "-o", str(d / "out"), "-q"]),
    ("detect: non-UTF-8 name, not a video", lambda d, m: ["detect", str(_write(d / os.fsdecode(b"x\xff.mp4"), b"no")), "-o", str(d / "out"), "-q"]),
    ("track: JSON nested 100000 deep", lambda d, m: ["track", str(_write(d / "b.boxes.json", b"[" * 100000)), "-o", str(d / "out"), "-q"]),
    ("track: 1e308 coordinates", lambda d, m: ["track", str(_write(d / "b.boxes.json", b'{"video": "b", "fps": 25, "width": 10, "height": 10, "frames": [{"frame": 0, "boxes": [[1e308, 0, 1e308, 5, 0.9]]}]}')), "-o", str(d / "out"), "-q"]),
    ("eval: invalid UTF-8", lambda d, m: ["eval", str(_write(d / "p.json", b'{"images": "\xff"}')), "--gt", str(_write(d / "g.json", b"{}")), "-q"]),
    ("eval: track id 2**70", lambda d, m: ["eval", str(_write(d / "p.json", b'{"images": [{"id": 1, "file_name": "a/1.jpg"}], "annotations": [{"image_id": 1, "track_id": 1180591620717411303424, "keypoints": []}]}')), "--gt", str(d / "p.json"), "-q"]),
    ("train --resume: damaged weights, planted state", lambda d, m: _train_resume(d, m)),
    ("train: config with a python tag", lambda d, m: ["train", "--config", str(_write(d / "c.yaml", f"name: !!python/object/apply:os.system ['touch {m}']\n".encode())), "--data", "synthetic", "--data-root", str(d), "-o", str(d / "run"), "-q"]),
    ("weights import: planted torch zip", lambda d, m: ["weights", "import", str(_torch_zip(d / "w.pth", m)), "--arch", "hrnet_w32", "--out", str(d / "w.safetensors")]),
    ("weights import: planted raw pickle", lambda d, m: ["weights", "import", str(_pickle_file(d / "w.pkl", m)), "--arch", "hrnet_w32", "--out", str(d / "w.safetensors")]),
    ("track: planted pickle as box file", lambda d, m: ["track", str(_pickle_file(d / "b.boxes.json", m)), "-o", str(d / "out"), "-q"]),
]  # fmt: skip


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _fifo(path: Path) -> Path:
    os.mkfifo(path)
    return path


def _train_resume(folder: Path, marker: Path) -> list[str]:
    """A run folder whose last.json names a planted pickle as the training state."""
    run = folder / "runs" / "planted"
    (run / "checkpoints").mkdir(parents=True)
    _torch_zip(run / "checkpoints" / "step-00000010.state.pt", marker)
    _torch_zip(run / "checkpoints" / "step-00000010.safetensors", marker)
    (run / "last.json").write_text(
        '{"step": 10, "epoch": 0, "weights": "checkpoints/step-00000010.safetensors", '
        '"state": "checkpoints/step-00000010.state.pt"}'
    )
    return ["train", "--config", str(ROOT / "configs" / "fami_hrnet-w8_synthetic_128x96.yaml"), "--data", "synthetic",
            "--data-root", str(folder), "-o", str(run), "--resume", "auto", "-q"]  # fmt: skip


LEFTOVER_MARKS = (".tmp", ".partial", ".progress", ".lock")


@pytest.mark.parametrize("name, make", CASES, ids=[name for name, _ in CASES])
def test_hostile_input_gives_one_line_and_leaves_nothing(tmp_path: Path, name: str, make: Callable) -> None:
    work = tmp_path / "work"
    work.mkdir()
    marker = tmp_path / "code-ran"
    args = make(work, marker)
    before = {p for p in work.rglob("*")}
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    env.pop("POSECLI_DEBUG", None)
    run = subprocess.run(
        [sys.executable, "-m", "posecli", *args], capture_output=True, timeout=TIMEOUT_S, env=env,
        cwd=tmp_path, check=False,
    )  # fmt: skip
    out = run.stdout.decode(errors="replace")
    err = run.stderr.decode(errors="replace")
    assert not marker.exists(), f"{name}: a planted file ran code"
    assert "Traceback" not in out + err, f"{name}:\n{err}"
    assert run.returncode in (0, 1), f"{name}: exit {run.returncode}\n{err}"
    if run.returncode == 1:
        errors = [line for line in err.splitlines() if "error" in line]
        assert len(errors) == 1, f"{name}: expected one error line, got:\n{err}"
        assert "unexpected error" not in errors[0], f"{name}: {errors[0]}"
        assert any(part in errors[0] for part in _named_inputs(args)), (
            f"{name}: the line names no file: {errors[0]}"
        )
    left = [
        p for p in work.rglob("*")
        if p not in before and any(mark in p.name for mark in LEFTOVER_MARKS)
    ]  # fmt: skip
    assert not left, f"{name}: left behind {left}"


def _named_inputs(args: list[str]) -> list[str]:
    """The file names among the arguments: a good error line names at least one of them."""
    names = [Path(a).name for a in args if "/" in a]
    # a name that is not UTF-8 is shown with its bytes escaped: x\\xff.mp4
    return names + [os.fsencode(n).decode("ascii", "backslashreplace") for n in names]
