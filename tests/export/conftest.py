"""Fixtures for the export tests: a video description and synthetic per-frame results."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from posecli.structures import FrameResult, PoseInstance
from posecli.video import VideoInfo


@pytest.fixture()
def video_info(tmp_path: Path) -> VideoInfo:
    return VideoInfo(
        path=tmp_path / "clip.mp4", fps=25.0, num_frames=6, width=320, height=240, rotation=0, backend="pyav"
    )


def make_person(rng: np.random.Generator, track_id: int | None, with_coco: bool = False) -> PoseInstance:
    """A person with random keypoints inside a random box; joints 3 and 4 (ears) unlocated."""
    x1, y1 = rng.uniform(0, 200), rng.uniform(0, 120)
    w, h = rng.uniform(20, 100), rng.uniform(40, 110)
    keypoints = np.column_stack(
        [rng.uniform(x1, x1 + w, 17), rng.uniform(y1, y1 + h, 17), rng.uniform(0.05, 1.0, 17)]
    )
    keypoints[[3, 4]] = (37.0, 41.0, 0.0)  # score 0: must be written as 0, 0, 0
    coco = None
    if with_coco:
        coco = keypoints.copy()
        coco[1:3] = (coco[0, 0] - 3, coco[0, 1] - 4, 0.8)  # eyes near the nose
    return PoseInstance(
        keypoints=keypoints,
        box=np.array([x1, y1, x1 + w, y1 + h]),
        score=float(rng.uniform(0.3, 1)),
        track_id=track_id,
        coco_keypoints=coco,
    )


@pytest.fixture()
def make_results() -> Callable[..., list[FrameResult]]:
    """``make_results(frames=(0, 1, 2), people=2, with_coco=False, seed=0)``: results with track ids
    0..people-1 (frame 1 has one person fewer, to vary the count)."""

    def build(
        frames: tuple[int, ...] = (0, 1, 2, 3), people: int = 2, with_coco: bool = False, seed: int = 0
    ) -> list[FrameResult]:
        rng = np.random.default_rng(seed)
        results = []
        for index in frames:
            count = people - 1 if index == 1 else people
            instances = tuple(make_person(rng, track_id=k + 5, with_coco=with_coco) for k in range(count))
            results.append(FrameResult(frame_index=index, timestamp=index / 25.0, instances=instances))
        return results

    return build


def assert_same_people(a: PoseInstance, b: PoseInstance, check_coco: bool = False) -> None:
    """Equal up to the JSON rounding (1/100 px, 1e-6 scores); unlocated joints compare as zero."""
    expected = np.where(a.keypoints[:, 2:3] > 0, a.keypoints, 0.0)
    np.testing.assert_allclose(b.keypoints, expected, atol=6e-3)
    np.testing.assert_allclose(b.box, a.box, atol=1.2e-2)
    assert b.score == pytest.approx(a.score, abs=1e-6)
    assert b.track_id == a.track_id
    if check_coco:
        assert a.coco_keypoints is not None and b.coco_keypoints is not None
        np.testing.assert_allclose(
            b.coco_keypoints, np.where(a.coco_keypoints[:, 2:3] > 0, a.coco_keypoints, 0.0), atol=6e-3
        )


@pytest.fixture(name="make_person")
def make_person_fixture() -> Callable[..., PoseInstance]:
    """``make_person`` as a fixture (conftest modules are not importable by tests)."""
    return make_person


@pytest.fixture()
def same_people() -> Callable[..., None]:
    """``assert_same_people`` as a fixture (conftest modules are not importable by tests)."""
    return assert_same_people
