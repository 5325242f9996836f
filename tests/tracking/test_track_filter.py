"""Dropping tracks too short or too weak after stitching (``--min-track-len``)."""

from __future__ import annotations

import numpy as np
import pytest

from posecli.structures import FrameResult, PoseInstance
from posecli.tracking.stitch import stitch_tracklets
from posecli.tracking.track_filter import drop_weak_tracks


def _person(track_id: int | None, x: float, score: float = 0.9) -> PoseInstance:
    return PoseInstance(
        keypoints=np.zeros((17, 3)), box=np.array([x, 100.0, x + 50.0, 250.0]), score=score, track_id=track_id
    )


def _frames(people_per_frame: list[list[PoseInstance]]) -> list[FrameResult]:
    return [FrameResult(i, i / 25.0, tuple(people)) for i, people in enumerate(people_per_frame)]


def test_short_track_is_dropped_and_ids_renumbered() -> None:
    # track 7 lives 10 frames; track 3 is a 2-frame ghost at frames 4-5
    frames = _frames([[_person(7, 10.0 + f)] + ([_person(3, 400.0)] if f in (4, 5) else []) for f in range(10)])
    kept = drop_weak_tracks(frames, min_length=5)
    assert [len(f.instances) for f in kept] == [1] * 10
    assert {p.track_id for f in kept for p in f.instances} == {0}
    assert drop_weak_tracks(frames, min_length=1)[4].instances[1].track_id == 1  # nothing dropped at 1


def test_length_counts_the_stitched_track_not_its_pieces() -> None:
    # one person walking right, broken by a 2-frame gap into two 4-frame tracklets with different ids
    people = [[_person(1 if f < 4 else 2, 10.0 + 5 * f)] if f not in (4, 5) else [] for f in range(10)]
    frames = _frames(people)
    assert all(len(f.instances) == 0 for f in drop_weak_tracks(frames, min_length=5))  # unstitched: both short
    kept = drop_weak_tracks(stitch_tracklets(frames), min_length=5)
    assert sum(len(f.instances) for f in kept) == 8
    assert {p.track_id for f in kept for p in f.instances} == {0}


def test_a_clip_shorter_than_the_minimum_keeps_its_people() -> None:
    frames = _frames([[_person(0, 10.0)], [_person(0, 12.0)]])
    assert [len(f.instances) for f in drop_weak_tracks(frames, min_length=5)] == [1, 1]


def test_weak_track_is_dropped_by_its_mean_score() -> None:
    frames = _frames([[_person(0, 10.0, 0.9), _person(1, 400.0, 0.4)] for _ in range(6)])
    kept = drop_weak_tracks(frames, min_mean_score=0.5)
    assert all([p.score for p in f.instances] == [0.9] for f in kept)


def test_untracked_people_are_kept_and_bad_length_refused() -> None:
    frames = _frames([[_person(None, 10.0)]])
    assert len(drop_weak_tracks(frames, min_length=3)[0].instances) == 1
    with pytest.raises(ValueError, match="min_length"):
        drop_weak_tracks(frames, min_length=0)
