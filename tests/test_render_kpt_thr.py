"""--kpt-thr: joints scored below it are PoseTrack visibility 0 / COCO v=1 with their scores kept, are
not drawn, and the threshold reaches estimate's writers and overlay."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from posecli.cli import app, options
from posecli.export.coco import read_coco_json, write_coco_json
from posecli.export.overlay import DEFAULT_KPT_THR
from posecli.export.posetrack import read_posetrack_json, write_posetrack_json
from posecli.structures import FrameResult, PoseInstance
from posecli.video import VideoInfo

runner = CliRunner()
INFO = VideoInfo(path=Path("clip.mp4"), fps=25.0, num_frames=1, width=320, height=240, rotation=0, backend="pyav")


def _results() -> list[FrameResult]:
    keypoints = np.column_stack([np.arange(17) * 10.0 + 5, np.full(17, 50.0), np.linspace(0.05, 0.95, 17)])
    keypoints[3] = 0.0  # unlocated
    person = PoseInstance(keypoints=keypoints, box=np.array([0, 0, 200, 100]), score=0.8, track_id=1)
    return [FrameResult(0, 0.0, (person,))]


def test_the_cli_default_is_the_drawing_default() -> None:
    assert options.DEFAULT_KPT_THR == DEFAULT_KPT_THR


def test_posetrack_visibility_follows_the_threshold_and_scores_stay(tmp_path: Path) -> None:
    path = tmp_path / "clip.posetrack.json"
    write_posetrack_json(path, _results(), INFO, video_name="clip", kpt_thr=0.5)
    annotation = json.loads(path.read_text())["annotations"][0]
    flags = annotation["keypoints"][2::3]
    scores = _results()[0].instances[0].keypoints[:, 2]
    assert flags == [int(s >= 0.5) if k != 3 else 0 for k, s in enumerate(scores)]
    assert annotation["keypoints"][0:2] == [5.0, 50.0]  # a hidden joint keeps its place
    assert annotation["scores"][0] == pytest.approx(0.05) and annotation["num_keypoints"] == sum(flags)
    back = read_posetrack_json(path)[0].instances[0].keypoints
    np.testing.assert_allclose(back[:, 2], np.where(np.arange(17) == 3, 0.0, scores), atol=1e-6)


def test_without_a_threshold_every_located_joint_is_visible(tmp_path: Path) -> None:
    path = tmp_path / "clip.posetrack.json"
    write_posetrack_json(path, _results(), INFO, video_name="clip")
    flags = json.loads(path.read_text())["annotations"][0]["keypoints"][2::3]
    assert flags == [0 if k == 3 else 1 for k in range(17)]


def test_coco_v_flags_and_keypoint_scores_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "clip.coco.json"
    write_coco_json(path, _results(), INFO, video_name="clip", kpt_thr=0.5)
    (entry,) = json.loads(path.read_text())
    scores = _results()[0].instances[0].keypoints[:, 2]
    expected = [0 if k in (1, 2, 3) else (2 if s >= 0.5 else 1) for k, s in enumerate(scores)]  # 1, 2: no eyes
    assert entry["keypoints"][2::3] == expected
    assert entry["keypoint_scores"][0] == pytest.approx(0.05)
    back = read_coco_json(path)[0].instances[0].coco_keypoints
    np.testing.assert_allclose(back[:, 2], np.where(np.isin(np.arange(17), (1, 2, 3)), 0.0, scores), atol=1e-6)


def test_estimate_passes_the_threshold_and_style(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    received = {}

    def fake_estimate_videos(videos, out_dir, options, **kwargs):
        received.update(options=options)
        return []

    monkeypatch.setattr("posecli.jobs.estimate_videos", fake_estimate_videos)
    result = runner.invoke(
        app, ["estimate", "clip.mp4", "-o", str(tmp_path), "--kpt-thr", "0.55", "--radius", "2", "--thickness", "3"]
    )
    assert result.exit_code == 0, result.output
    assert (received["options"].kpt_thr, received["options"].radius, received["options"].thickness) == (0.55, 2, 3)
    assert runner.invoke(app, ["estimate", "clip.mp4", "--kpt-thr", "1.5"]).exit_code == 1


def test_estimate_writes_with_the_threshold(h264_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The threshold reaches the PoseTrack and COCO writers and the overlay's style."""
    from posecli import jobs

    seen: dict[str, object] = {}
    original_posetrack, original_coco, original_overlay = jobs.write_posetrack_json, jobs.write_coco_json, jobs.open_overlay

    def posetrack(*args, **kwargs):
        seen["posetrack"] = kwargs.get("kpt_thr")
        return original_posetrack(*args, **kwargs)

    def coco(*args, **kwargs):
        seen["coco"] = kwargs.get("kpt_thr")
        return original_coco(*args, **kwargs)

    def overlay(path, info, style, **kwargs):
        seen["overlay"] = (style.kpt_thr, style.radius)
        return original_overlay(path, info, style, **kwargs)

    monkeypatch.setattr(jobs, "write_posetrack_json", posetrack)
    monkeypatch.setattr(jobs, "write_coco_json", coco)
    monkeypatch.setattr(jobs, "open_overlay", overlay)
    options = jobs.EstimateOptions(coco=True, kpt_thr=0.45, radius=4, min_track_len=1)
    jobs.estimate_videos([h264_clip], tmp_path / "out", options, quiet=True)
    assert seen == {"posetrack": 0.45, "coco": 0.45, "overlay": (0.45, 4)}
