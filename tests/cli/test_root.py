"""The root command: version, help, the not-yet-landed rule and one-line errors."""

from __future__ import annotations

import errno
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from posecli import __version__
from posecli.cli import app

runner = CliRunner()


def test_version_prints_package_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"posecli {__version__}"


def test_every_command_has_help() -> None:
    for command in ["detect", "track", "estimate", "train", "eval", "evaluate", "data", "weights"]:
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage" in result.output


def test_python_dash_m_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "posecli", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "estimate" in result.stdout


def _normalised(text: str) -> str:
    """Help text as a run of words: panel borders dropped, lines joined (also where click broke a
    word after a hyphen)."""
    text = re.sub(r"[│╭╮╰╯─]", " ", text)
    text = re.sub(r"(?<=\w-)\n\s*", "", text)
    return " ".join(text.split())


@pytest.mark.parametrize("command", ["estimate", "detect", "track"])
def test_help_at_80_columns_shows_every_option_and_its_whole_help(command: str) -> None:
    import typer.main

    result = runner.invoke(app, [command, "--help"], env={"COLUMNS": "80", "TERMINAL_WIDTH": "80"})
    assert result.exit_code == 0
    assert all(len(line) <= 80 for line in result.output.splitlines())
    text = _normalised(result.output)
    options = [p for p in typer.main.get_command(app).commands[command].params if p.param_type_name == "option"]
    assert len(options) >= 5
    for param in options:
        for name in [*param.opts, *param.secondary_opts]:
            assert re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), name
        assert " ".join(param.help.split()) in text, param.opts  # nothing cut off with "…"


def test_root_help_lists_every_command_with_an_uncut_summary() -> None:
    result = runner.invoke(app, ["--help"], env={"COLUMNS": "80"})
    assert result.exit_code == 0
    for command in ["detect", "track", "estimate", "train", "eval", "data", "weights"]:
        assert re.search(rf"^\s+{command}\s+\S", result.output, re.MULTILINE), command
    commands = result.output.split("Commands", 1)[1]
    assert "..." not in commands and "…" not in commands


def test_estimate_summary_prints_paths_whole_at_80_columns(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from posecli.jobs import VideoSummary

    out = tmp_path / "a_rather_long_output_folder_name_for_the_results" / "of_this_estimate_run"
    outputs = (out / "the_video_with_a_long_name.posetrack.json", out / "the_video_with_a_long_name.overlay.mp4")
    summary = VideoSummary(Path("the_video_with_a_long_name.mp4"), 30, 1.0, 1, 2.0, outputs)
    monkeypatch.setattr("posecli.jobs.estimate_videos", lambda *args, **kwargs: [summary])
    result = runner.invoke(app, ["estimate", "the_video_with_a_long_name.mp4", "-o", str(out)], env={"COLUMNS": "80"})
    assert result.exit_code == 0, result.output
    lines = [line.strip() for line in result.output.splitlines()]
    for path in outputs:
        assert str(path) in lines  # on a line of its own, never folded


def test_interrupted_estimate_prints_the_command_that_continues_it(monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("posecli.jobs.estimate_videos", interrupted)
    args = ["estimate", "my clip.mp4", "-o", "out dir", "--jsonl"]
    result = runner.invoke(app, args)
    assert result.exit_code == 130
    hint = result.output.split("continue with:", 1)[1].strip()
    assert shlex.split(hint) == ["posecli", *args, "--resume"]


def _in_fresh_python(code: str, tmp_path: Path) -> subprocess.CompletedProcess:
    script = (
        "import sys\nfrom typer.testing import CliRunner\nfrom posecli.cli import app\n"
        f"{code}\n"
        "assert 'torch' not in sys.modules, sorted(m for m in sys.modules if m.startswith('posecli'))\n"
    )
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, cwd=tmp_path)


def test_help_track_and_input_errors_do_not_import_torch(tmp_path: Path) -> None:
    from posecli.export.boxes import FrameDetections, write_boxes_json
    from posecli.structures import Detection
    from posecli.video import VideoInfo

    info = VideoInfo(path=tmp_path / "v.mp4", fps=25.0, num_frames=3, width=64, height=48, rotation=0, backend="pyav")
    frames = [FrameDetections(i, i / 25, (Detection(np.array([1.0, 2, 30, 40]), 0.9),)) for i in range(3)]
    write_boxes_json(tmp_path / "v.boxes.json", frames, info)
    (tmp_path / "empty.mp4").write_bytes(b"")
    checks = {
        "help": "r = CliRunner().invoke(app, ['--help']); assert r.exit_code == 0, r.output",
        "track": "r = CliRunner().invoke(app, ['track', 'v.boxes.json', '-o', 'out', '-q']); "
                 "assert r.exit_code == 0, r.output",
        "missing": "r = CliRunner().invoke(app, ['estimate', 'missing.mp4']); "
                   "assert r.exit_code == 1 and 'missing.mp4' in r.output, r.output",
        "empty": "r = CliRunner().invoke(app, ['estimate', 'empty.mp4']); "
                 "assert r.exit_code == 1 and 'empty.mp4' in r.output, r.output",
        "detect": "r = CliRunner().invoke(app, ['detect', 'missing.mp4']); "
                  "assert r.exit_code == 1 and 'missing.mp4' in r.output, r.output",
    }
    for name, code in checks.items():
        result = _in_fresh_python(code, tmp_path)
        assert result.returncode == 0, (name, result.stderr)
    assert (tmp_path / "out" / "v.tracks.json").exists()


def test_no_cuda_note_for_the_embedded_model_or_before_an_input_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["estimate", str(tmp_path / "missing.mp4"), "-o", str(tmp_path / "o")])
    assert result.exit_code == 1
    assert "CUDA" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "o").exists()  # a run refused before any work leaves no folder either


def test_cpu_note_only_where_a_network_runs(monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    import torch

    from posecli import jobs

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    embedded = jobs.with_resolved_device(jobs.EstimateOptions(device="auto"), quiet=False)
    assert embedded.device == "cpu" and "CUDA" not in capsys.readouterr().err
    network = jobs.with_resolved_device(jobs.EstimateOptions(model="hrnet_w32", device="auto"), quiet=False)
    assert network.device == "cpu" and "no CUDA device found" in capsys.readouterr().err


def _boxes_file(folder: Path, frames: int) -> Path:
    from posecli.export.boxes import FrameDetections, write_boxes_json
    from posecli.structures import Detection
    from posecli.video import VideoInfo

    info = VideoInfo(path=folder / "v.mp4", fps=25.0, num_frames=frames, width=640, height=480, rotation=0,
                     backend="pyav")
    rng = np.random.default_rng(0)
    detections = [
        FrameDetections(i, i / 25, tuple(Detection(np.array([x, 50.0, x + 60, 200]), 0.9) for x in rng.uniform(0, 500, 4)))
        for i in range(frames)
    ]
    path = folder / "v.boxes.json"
    write_boxes_json(path, detections, info)
    return path


@pytest.mark.parametrize("failing", ["replace", "fsync"])
def test_full_disk_names_the_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, failing: str) -> None:
    import posecli.atomic

    boxes = _boxes_file(tmp_path, 3)

    def no_space(*args, **kwargs):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(posecli.atomic.os, failing, no_space)
    result = runner.invoke(app, ["track", str(boxes), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 1
    assert str(tmp_path / "out" / "v.tracks.json") in result.output
    assert "No space left on device" in result.output and "unexpected" not in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()  # the temporary file is gone, and the folder this run made


def test_an_oserror_without_errno_keeps_its_text(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``OSError("…")`` has no strerror: the line still says what went wrong, not just "OSError"."""
    import posecli.atomic

    boxes = _boxes_file(tmp_path, 3)

    def refused(*args, **kwargs):
        raise OSError("quota exceeded for this project")

    monkeypatch.setattr(posecli.atomic.os, "replace", refused)
    result = runner.invoke(app, ["track", str(boxes), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 1
    line = result.output.strip()
    assert f"{tmp_path / 'out' / 'v.tracks.json'}: quota exceeded for this project" in line
    assert "Errno None" not in line and len(line.splitlines()) == 1


def test_full_tmpfs_and_read_only_folder_name_the_file(tmp_path: Path) -> None:
    """A real full disk: a 200 KB tmpfs (needs root; skipped elsewhere)."""
    boxes = _boxes_file(tmp_path, 2000)  # its tracks file is far larger than 200 KB
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=200k", "tmpfs", str(disk)], capture_output=True)
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here (needs root)")
    try:
        result = runner.invoke(app, ["track", str(boxes), "-o", str(disk), "-q"])
        assert result.exit_code == 1
        assert f"{disk / 'v.tracks.json'}: No space left on device" in result.output
        assert list(disk.iterdir()) == []
        subprocess.run(["mount", "-o", "remount,ro", str(disk)], check=True)
        result = runner.invoke(app, ["track", str(boxes), "-o", str(disk), "-q"])
        assert result.exit_code == 1
        assert str(disk) in result.output and "Read-only file system" in result.output
    finally:
        subprocess.run(["umount", str(disk)], check=False)


@pytest.mark.parametrize(
    "args, says",
    [
        (["estimate"], "posecli estimate: error: Missing argument"),
        (["estimate", "clip.mp4", "--mode", "fast"], "posecli estimate: error: Invalid value for '--mode'"),
        (["track", "b.json", "--tracker", "sort"], "posecli track: error: Invalid value for '--tracker'"),
        (["train", "--bogus"], "posecli train: error: No such option: --bogus"),
        (["nosuch"], "posecli: error: No such command 'nosuch'"),
    ],
)
def test_usage_errors_are_one_line_and_exit_1(args: list[str], says: str) -> None:
    """A wrong option or value is bad input like any other: one line naming it, exit code 1."""
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(says), result.output
