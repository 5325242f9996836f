"""`posecli estimate` stopped by a signal at a few points of a run, as a real process.

SIGTERM, SIGHUP and Ctrl-C (SIGINT) clean up like Ctrl-C always did: exit 128 + the signal number, a
message with the command that continues the run, and no temporary file left behind. After SIGKILL the
temporary files stay, and the `--resume` run removes them. Every resumed run gives the same bytes as
an uninterrupted one.
"""

from __future__ import annotations

import shlex
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from posecli.cli import app

pytestmark = pytest.mark.slow

FRAMES = 40
OUTPUTS = ("tiny.posetrack.json", "tiny.jsonl", "tiny.overlay.mp4")
# The CLI in a child process, each frame of the model and of the overlay slowed down a little so that
# a signal surely lands inside the stage the test waits for (the code paths are the real ones).
SLOW_CLI = """
import signal, sys, time
# as from a terminal: a parent that ignores SIGINT (a shell's background job) would pass that on
signal.signal(signal.SIGINT, signal.default_int_handler)
from posecli import pipeline
from posecli.export import overlay
push, write = pipeline.EmbeddedProcessor.push, overlay.OverlayVideo.write
pipeline.EmbeddedProcessor.push = lambda self, frame: (time.sleep(0.04), push(self, frame))[1]
overlay.OverlayVideo.write = lambda self, image, result: (time.sleep(0.04), write(self, image, result))[1]
from posecli.cli import main
main()
"""


@pytest.fixture(scope="module")
def clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """40 frames of 160×120 moving gradients, H.264 in MP4."""
    path = tmp_path_factory.mktemp("clip") / "tiny.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264" if "libx264" in av.codecs_available else "h264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 160, 120, "yuv420p"
        x = np.arange(160, dtype=np.uint8)[None, :, None]
        for t in range(FRAMES):
            image = np.broadcast_to((x + t * 5).astype(np.uint8), (120, 160, 3)).copy()
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return path


def _args(clip: Path, out: Path, stitch: bool) -> list[str]:
    return ["estimate", str(clip), "-o", str(out), "-q", "--jsonl", "--checkpoint-every", "5",
            "--stitch" if stitch else "--no-stitch"]


@pytest.fixture(scope="module")
def whole(clip: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[bool, Path]:
    """Uninterrupted runs, stitched and streamed."""
    folders = {}
    for stitch in (True, False):
        out = tmp_path_factory.mktemp("whole")
        result = CliRunner().invoke(app, _args(clip, out, stitch))
        assert result.exit_code == 0, result.output
        folders[stitch] = out
    return folders


def _leftovers(out: Path) -> list[str]:
    """Temporary files and locks in ``out`` (the progress folder is expected after an interruption)."""
    return sorted(p.name for p in out.iterdir() if p.name.startswith(".") and not p.name.endswith(".progress"))


def _streamed_lines(out: Path) -> int:
    return sum(p.read_text().count("\n") for p in out.glob(".tiny.jsonl.*.partial"))


def _overlay_pass_started(out: Path) -> bool:
    """In a stitched run the overlay is written in a second pass, after the model has seen every frame."""
    return any(p.stat().st_size > 0 for p in out.glob(".tiny.overlay.mp4.*.tmp.mp4"))


def _run_until(args: list[str], ready: Callable[[], bool], sig: signal.Signals) -> subprocess.CompletedProcess:
    process = subprocess.Popen([sys.executable, "-c", SLOW_CLI, *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not ready() and process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.02)
    assert process.poll() is None, f"the run ended before the signal: {process.communicate()}"
    process.send_signal(sig)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def _same_as_whole(out: Path, reference: Path) -> None:
    for name in OUTPUTS:
        assert (out / name).read_bytes() == (reference / name).read_bytes(), name
    assert sorted(p.name for p in out.iterdir()) == sorted(OUTPUTS)  # no progress folder, lock or temp file


@pytest.mark.parametrize(
    ("sig", "stitch", "code"),
    [(signal.SIGTERM, False, 143), (signal.SIGHUP, False, 129), (signal.SIGINT, True, 130)],
    ids=["term-after-10-frames", "hup-after-10-frames", "int-in-overlay-pass"],
)
def test_signal_cleans_up_and_prints_the_resume_command(
    clip: Path, whole: dict[bool, Path], tmp_path: Path, sig: signal.Signals, stitch: bool, code: int
) -> None:
    out = tmp_path / "out"
    args = _args(clip, out, stitch)
    ready = (lambda: _overlay_pass_started(out)) if stitch else (lambda: _streamed_lines(out) >= 10)
    stopped = _run_until(args, ready, sig)
    assert stopped.returncode == code, stopped.stderr
    assert "posecli: interrupted" in stopped.stderr and "Traceback" not in stopped.stderr
    assert _leftovers(out) == []  # no .partial, .tmp.mp4 or lock file
    assert not any((out / name).exists() for name in OUTPUTS)
    # the printed command continues the run
    hint = stopped.stderr.split("continue with:", 1)[1].strip()
    assert shlex.split(hint) == ["posecli", *args, "--resume"]
    resumed = subprocess.run([sys.executable, "-m", *shlex.split(hint)], capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    _same_as_whole(out, whole[stitch])


@pytest.mark.parametrize("stitch", [False, True], ids=["kill-after-10-frames", "kill-in-overlay-pass"])
def test_resume_sweeps_what_sigkill_left(clip: Path, whole: dict[bool, Path], tmp_path: Path, stitch: bool) -> None:
    out = tmp_path / "out"
    args = _args(clip, out, stitch)
    ready = (lambda: _overlay_pass_started(out)) if stitch else (lambda: _streamed_lines(out) >= 10)
    killed = _run_until(args, ready, signal.SIGKILL)
    assert killed.returncode == -signal.SIGKILL
    left = _leftovers(out)
    assert any(name.endswith(".partial") for name in left) and any(name.endswith(".tmp.mp4") for name in left)
    resumed = CliRunner().invoke(app, [*args, "--resume"])
    assert resumed.exit_code == 0, resumed.output
    _same_as_whole(out, whole[stitch])
