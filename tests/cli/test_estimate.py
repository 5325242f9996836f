"""``posecli estimate`` as a thin command: arguments reach the library, errors are one line."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from posecli.cli import app
from posecli.errors import PoseCliError

runner = CliRunner()


def test_arguments_reach_the_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    received = {}

    def fake_estimate_videos(videos, out_dir, options, **kwargs):
        received.update(videos=videos, out_dir=out_dir, options=options, **kwargs)
        return []

    monkeypatch.setattr("posecli.jobs.estimate_videos", fake_estimate_videos)
    video = tmp_path / "clip.mp4"
    result = runner.invoke(
        app,
        ["estimate", str(video), "--out-dir", str(tmp_path / "out"), "--coco", "--no-overlay", "--device", "cpu",
         "-q", "--tracker", "iou", "--no-stitch", "--resume", "--checkpoint-every", "7", "--model", "fami_hrnet_w48",
         "--weights", "fami.safetensors", "--mode", "exact", "--detector", "rcnn", "--detector-weights", "rcnn.pth",
         "--det-every", "3"],
    )
    assert result.exit_code == 0, result.output
    assert received["videos"] == [video]
    assert received["out_dir"] == tmp_path / "out"
    options = received["options"]
    assert options.model == "fami_hrnet_w48" and options.device == "cpu"
    assert (options.weights, options.mode, options.det_every) == (Path("fami.safetensors"), "exact", 3)
    assert (options.detector, options.detector_weights) == ("rcnn", Path("rcnn.pth"))
    assert (options.coco, options.overlay, options.jsonl) == (True, False, False)
    assert (options.tracker, options.stitch, options.smooth, options.checkpoint_every) == ("iou", False, False, 7)
    assert received["exist_ok"] is False and received["quiet"] is True and received["resume"] is True


def test_library_error_is_one_red_line_and_exit_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*args, **kwargs):
        raise PoseCliError("clip.mp4: not a video file")

    monkeypatch.setattr("posecli.jobs.estimate_videos", failing)
    result = runner.invoke(app, ["estimate", "clip.mp4", "--out-dir", str(tmp_path), "--device", "cpu"])
    assert result.exit_code == 1
    assert "clip.mp4: not a video file" in result.output
    assert "Traceback" not in result.output


def test_bad_device_is_refused(tmp_path: Path) -> None:
    result = runner.invoke(app, ["estimate", "clip.mp4", "--out-dir", str(tmp_path), "--device", "tpu"])
    assert result.exit_code == 1
    assert "--device" in result.output
