"""One run per output stem: a second `estimate`/`detect`/`track` writing the same outputs refuses in
one line; a lock left by a killed run is taken over; orphaned temporary files are swept; a run that
fails before writing anything leaves nothing behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from posecli.cli import app
from posecli.errors import PoseCliError
from posecli.export.boxes import FrameDetections, write_boxes_json
from posecli.output_lock import lock_outputs
from posecli.structures import Detection
from posecli.video import probe_video

runner = CliRunner()


@pytest.fixture()
def clip(h264_clip: Path) -> Path:
    """The shared six-frame H.264 clip, ``in/clip.mp4`` (outputs are named after its stem)."""
    return h264_clip


@pytest.fixture()
def boxes(clip: Path) -> Path:
    path = clip.parent / "clip.boxes.json"
    frames = [FrameDetections(i, i / 25, (Detection(np.array([10.0 + i, 5, 40 + i, 60]), 0.9),)) for i in range(6)]
    write_boxes_json(path, frames, probe_video(clip))
    return path


def _commands(clip: Path, boxes: Path, out: Path) -> dict[str, tuple[list[str], str, str]]:
    """command → (arguments, lock key, output it would write)."""
    return {
        "estimate": (["estimate", str(clip), "-o", str(out), "-q", "--no-overlay"], "clip", "clip.posetrack.json"),
        "detect": (["detect", str(clip), "-o", str(out), "-q"], "clip.boxes.json", "clip.boxes.json"),
        "track": (["track", str(boxes), "-o", str(out), "-q"], "clip.tracks.json", "clip.tracks.json"),
    }


@pytest.mark.parametrize("command", ["estimate", "detect", "track"])
def test_second_run_on_the_same_outputs_is_refused(clip: Path, boxes: Path, tmp_path: Path, command: str) -> None:
    out = tmp_path / "out"
    out.mkdir()
    args, key, output = _commands(clip, boxes, out)[command]
    with lock_outputs(out, key):  # another run writing these outputs right now (this process)
        result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert f"is being written by another posecli run (pid {os.getpid()})" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (out / output).exists()
    # once that run has ended, the same command works and leaves no lock behind
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert (out / output).exists()
    assert not list(out.glob(".*.lock"))


def test_lock_of_another_process_is_refused_and_a_killed_holder_releases_it(
    clip: Path, boxes: Path, tmp_path: Path
) -> None:
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys; from pathlib import Path; from posecli.output_lock import lock_outputs\n"
         f"with lock_outputs(Path({str(out)!r}), 'clip.tracks.json'):\n"
         "    print('held', flush=True); sys.stdin.read()"],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        args = ["track", str(boxes), "-o", str(out), "-q"]
        result = runner.invoke(app, args)
        assert result.exit_code == 1
        assert f"(pid {holder.pid})" in result.output
        holder.send_signal(signal.SIGKILL)  # no cleanup: the lock file stays, but its flock is gone
        holder.wait()
        assert (out / ".clip.tracks.json.lock").exists()
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        assert not (out / ".clip.tracks.json.lock").exists()
    finally:
        holder.kill()
        holder.wait()


def test_locks_are_per_stem(clip: Path, boxes: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    with lock_outputs(out, "other"):
        result = runner.invoke(app, ["track", str(boxes), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output


def test_orphaned_temporary_files_of_the_stem_are_swept(clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    orphans = [".clip.jsonl.k2j4_x9a.partial", ".clip.overlay.mp4.abcd1234.tmp.mp4",
               ".clip.posetrack.json.zz99yy88.tmp.json"]
    kept = [".other.jsonl.k2j4_x9a.partial", "notes.txt", ".clip.jsonl.notrandom.partial.bak"]
    for name in orphans + kept:
        (out / name).write_text("left over")
    progress = out / ".clip.progress"
    progress.mkdir()
    (progress / ".state.pkl.ab12cd34.tmp.pkl").write_text("left over")
    result = runner.invoke(app, ["estimate", str(clip), "-o", str(out), "-q", "--jsonl", "--no-overlay"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == sorted(kept + ["clip.jsonl", "clip.posetrack.json"])


def test_failure_before_the_first_frame_leaves_nothing(clip: Path, tmp_path: Path, monkeypatch) -> None:
    """A video that probes but cannot be decoded (e.g. a name the decoder cannot take) leaves no
    progress folder, lock or empty output folder."""

    def undecodable(self):
        raise PoseCliError(f"{self.info.path}: cannot decode")

    monkeypatch.setattr("posecli.video.VideoReader.__iter__", undecodable)
    out = tmp_path / "out"
    result = runner.invoke(app, ["estimate", str(clip), "-o", str(out), "-q"])
    assert result.exit_code == 1
    assert "cannot decode" in result.output
    assert not out.exists()
    out.mkdir()
    (out / "earlier.txt").write_text("kept")
    result = runner.invoke(app, ["estimate", str(clip), "-o", str(out), "-q"])
    assert result.exit_code == 1
    assert sorted(p.name for p in out.iterdir()) == ["earlier.txt"]


def test_file_system_without_locks_still_runs(tmp_path: Path, monkeypatch) -> None:
    import errno

    import posecli.output_lock

    def no_locks(fd, operation):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(posecli.output_lock.fcntl, "flock", no_locks)
    with lock_outputs(tmp_path, "clip"):
        pass
    assert list(tmp_path.iterdir()) == []
