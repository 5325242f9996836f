"""``posecli detect`` as a thin command: --device and --detector reach the library like estimate's."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from posecli.cli import app

runner = CliRunner()


def test_device_and_detector_reach_the_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    received = {}

    def fake_detect_videos(videos, out_dir, **kwargs):
        received.update(videos=videos, out_dir=out_dir, **kwargs)
        return []

    monkeypatch.setattr("posecli.jobs.detect_videos", fake_detect_videos)
    result = runner.invoke(
        app,
        ["detect", "clip.mp4", "-o", str(tmp_path / "out"), "--device", "CUDA:1", "--detector", "rcnn",
         "--detector-weights", "rcnn.pth", "-q"],
    )
    assert result.exit_code == 0, result.output
    assert received["videos"] == [Path("clip.mp4")] and received["out_dir"] == tmp_path / "out"
    assert (received["device"], received["detector"], received["detector_weights"]) == ("cuda:1", "rcnn", Path("rcnn.pth"))
    assert not (tmp_path / "out").exists()  # the job creates it once the inputs are checked


def test_bad_device_is_one_line_before_any_work(tmp_path: Path) -> None:
    result = runner.invoke(app, ["detect", "clip.mp4", "-o", str(tmp_path), "--device", "tpu"])
    assert result.exit_code == 1
    assert "--device: 'tpu'" in result.output and len(result.output.strip().splitlines()) == 1


def test_unknown_detector_and_misplaced_weights_are_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["detect", "clip.mp4", "-o", str(tmp_path), "--detector", "yolo"])
    # a choice like ``eval --mode``: a usage error, one line naming the option and the choices, exit 1
    assert result.exit_code == 1 and "'--detector'" in result.output and "'yolo' is not one of" in result.output
    assert len(result.output.strip().splitlines()) == 1
    result = runner.invoke(app, ["detect", "clip.mp4", "-o", str(tmp_path), "--detector", "rcnn", "--weights", "x"])
    assert result.exit_code == 1 and "--detector-weights" in result.output
