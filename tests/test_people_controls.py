"""``--bbox-thr``, ``--max-people`` and ``--min-track-len``: each control changes what estimate writes."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from posecli import jobs
from posecli.cli import app
from posecli.errors import PoseCliError
from posecli.export.posetrack import read_posetrack_json
from posecli.pipeline import EmbeddedProcessor
from posecli.structures import PoseInstance
from posecli.tracking.bytetrack import ByteTracker
from posecli.video import VideoFrame


def _person(x: float, score: float) -> PoseInstance:
    keypoints = np.column_stack([np.linspace(x, x + 20, 17), np.linspace(10, 50, 17), np.full(17, score)])
    return PoseInstance(keypoints=keypoints, box=np.array([x, 5.0, x + 20, 55.0]), score=score)


class _ScriptedStage:
    """A pose stage that returns, per call, the people its script gives for that frame index."""

    def __init__(self, script: Callable[[int], list[tuple[float, float]]]) -> None:
        self.script = script
        self.index = 0

    def __call__(self, frame: np.ndarray) -> list[PoseInstance]:
        people = [_person(x, s) for x, s in self.script(self.index)]
        self.index += 1
        return people

    def reset(self) -> None:
        self.index = 0

    def state(self) -> object:
        return self.index

    def restore(self, state: object) -> None:
        self.index = int(state)  # type: ignore[call-overload]


def _frame(index: int) -> VideoFrame:
    return VideoFrame(index, index / 25.0, np.zeros((64, 96, 3), np.uint8))


def test_bbox_thr_drops_low_score_people() -> None:
    def script(i: int) -> list[tuple[float, float]]:
        return [(5.0, 0.9), (60.0, 0.55)]

    loose = EmbeddedProcessor(_ScriptedStage(script), ByteTracker(new_track_score=0.5), bbox_thr=0.5)
    strict = EmbeddedProcessor(_ScriptedStage(script), ByteTracker(new_track_score=0.5), bbox_thr=0.6)
    assert len(loose.push(_frame(0))[0].instances) == 2
    [result] = strict.push(_frame(0))
    assert [p.score for p in result.instances] == [0.9]


@pytest.mark.parametrize(("bbox_thr", "birth"), [(None, jobs.EMBEDDED_BBOX_THR), (0.3, 0.3), (0.8, 0.8)])
def test_embedded_people_kept_by_bbox_thr_start_tracks(bbox_thr: float | None, birth: float) -> None:
    # ByteTrack's own birth score (0.6) dropped a person of pose presence 0.51 that --bbox-thr 0.5 kept
    options = jobs.EstimateOptions(stitch=False, overlay=False, bbox_thr=bbox_thr)
    processor = jobs.build_processor(options, quiet=True)
    assert isinstance(processor.tracker, ByteTracker)
    assert processor.tracker.new_track_score == birth
    processor.pose_stage = _ScriptedStage(lambda i: [(5.0, birth + 0.01)])
    assert len(processor.push(_frame(0))[0].instances) == 1


def test_max_people_keeps_the_best_per_frame() -> None:
    def script(i: int) -> list[tuple[float, float]]:
        return [(0.0, 0.7), (25.0, 0.95), (50.0, 0.8), (75.0, 0.9)]

    processor = EmbeddedProcessor(_ScriptedStage(script), ByteTracker(new_track_score=0.5), max_people=2)
    [result] = processor.push(_frame(0))
    assert sorted(p.score for p in result.instances) == [0.9, 0.95]


def _run(clip: Path, out: Path, monkeypatch: pytest.MonkeyPatch, **options: object) -> list:
    def script(i: int) -> list[tuple[float, float]]:  # one person throughout, a 2-frame ghost at frames 2-3
        return [(10.0 + i, 0.9)] + ([(70.0, 0.9)] if i in (2, 3) else [])

    def build(opts: jobs.EstimateOptions, video: Path | None = None, quiet: bool = False) -> EmbeddedProcessor:
        return EmbeddedProcessor(_ScriptedStage(script), ByteTracker(), bbox_thr=0.5)

    monkeypatch.setattr(jobs, "build_processor", build)
    jobs.estimate_videos([clip], out, jobs.EstimateOptions(overlay=False, **options), quiet=True)
    return read_posetrack_json(out / "clip.posetrack.json")


def test_min_track_len_drops_short_tracks_after_stitching(
    h264_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    kept_all = _run(h264_clip, tmp_path / "all", monkeypatch, min_track_len=1)
    assert [len(f.instances) for f in kept_all] == [1, 1, 2, 2, 1, 1]
    frames = _run(h264_clip, tmp_path / "default", monkeypatch)  # default 5 frames
    assert [len(f.instances) for f in frames] == [1] * 6
    assert {p.track_id for f in frames for p in f.instances} == {0}


def test_min_track_len_without_stitching_is_refused(
    h264_clip: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(PoseCliError, match="--min-track-len"):
        jobs.estimate_videos([h264_clip], tmp_path, jobs.EstimateOptions(stitch=False, min_track_len=3), quiet=True)
    # by default --no-stitch simply streams every track
    frames = _run(h264_clip, tmp_path / "streamed", monkeypatch, stitch=False)
    assert [len(f.instances) for f in frames] == [1, 1, 2, 2, 1, 1]


def test_cli_options_reach_the_library(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    received = {}

    def fake(videos, out_dir, options, **kwargs):
        received["options"] = options
        return []

    monkeypatch.setattr("posecli.jobs.estimate_videos", fake)
    args = ["estimate", str(tmp_path / "v.mp4"), "--bbox-thr", "0.7", "--max-people", "3", "--min-track-len", "9"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    options = received["options"]
    assert (options.bbox_thr, options.max_people, options.min_track_len) == (0.7, 3, 9)
    bad = CliRunner().invoke(app, ["estimate", str(tmp_path / "v.mp4"), "--bbox-thr", "1.5"])
    assert bad.exit_code == 1 and "--bbox-thr" in bad.output
