"""`posecli track` keeps estimate's visibility flags: joints scored under --kpt-thr stay visibility 0."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from posecli.cli import app
from posecli.export._json import load_json
from posecli.export.posetrack import write_posetrack_json
from posecli.structures import FrameResult, PoseInstance
from posecli.video import VideoInfo

runner = CliRunner()


def _pose_file(path: Path) -> None:
    """Three frames of one person whose joints 0-5 score 0.1 and the others 0.9."""
    info = VideoInfo(path=path, fps=25.0, num_frames=3, width=320, height=240, rotation=0, backend="test")
    frames = []
    for t in range(3):
        kp = np.zeros((17, 3))
        kp[:, 0] = 100 + np.arange(17) + t
        kp[:, 1] = 50 + 5 * np.arange(17)
        kp[:, 2] = np.where(np.arange(17) < 6, 0.1, 0.9)
        person = PoseInstance(keypoints=kp, box=np.array([90.0, 40.0, 130.0, 140.0]), score=0.9, track_id=0)
        frames.append(FrameResult(t, t / 25.0, (person,)))
    write_posetrack_json(path, frames, info, video_name="walk", kpt_thr=0.3)


def _visibility(path: Path) -> list[list[float]]:
    return [a["keypoints"][2::3] for a in load_json(path)["annotations"]]


def test_track_keeps_low_scored_joints_invisible(tmp_path: Path) -> None:
    source = tmp_path / "walk.posetrack.json"
    _pose_file(source)
    before = _visibility(source)
    assert all(v[:6] == [0] * 6 and v[6:] == [1] * 11 for v in before)
    for args in ([], ["--stitch"]):
        result = runner.invoke(app, ["track", str(source), "-o", str(tmp_path / "out"), "-q", "--exist-ok", *args])
        assert result.exit_code == 0, result.output
        assert _visibility(tmp_path / "out" / "walk.tracks.posetrack.json") == before


def test_track_kpt_thr_sets_the_threshold(tmp_path: Path) -> None:
    source = tmp_path / "walk.posetrack.json"
    _pose_file(source)
    result = runner.invoke(app, ["track", str(source), "-o", str(tmp_path), "-q", "--kpt-thr", "0.05"])
    assert result.exit_code == 0, result.output
    assert all(v == [1] * 17 for v in _visibility(tmp_path / "walk.tracks.posetrack.json"))
