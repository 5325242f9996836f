"""IoUTracker: Hungarian IoU association, birth, death, tentative tracks, no id reuse."""

from __future__ import annotations

import numpy as np
import pytest

from posecli.structures import PoseInstance
from posecli.tracking.base import Tracker
from posecli.tracking.iou import IoUTracker, hungarian_match
from posecli.tracking.similarity import box_iou


def _person(x: float, y: float, w: float = 40.0, h: float = 100.0) -> PoseInstance:
    return PoseInstance(keypoints=np.zeros((17, 3)), box=np.array([x, y, x + w, y + h]), score=0.9)


def test_box_iou_known_values() -> None:
    a = np.array([[0, 0, 10, 10], [0, 0, 0, 0]], dtype=float)
    b = np.array([[5, 0, 15, 10], [0, 0, 10, 10], [20, 20, 30, 30]], dtype=float)
    iou = box_iou(a, b)
    assert iou.shape == (2, 3)
    np.testing.assert_allclose(iou[0], [50 / 150, 1.0, 0.0])
    np.testing.assert_allclose(iou[1], [0.0, 0.0, 0.0])


def test_hungarian_prefers_global_optimum_and_gates() -> None:
    # Greedy would take (0, 0) = 0.6 and leave row 1 with 0.1 (below the gate); Hungarian pairs both.
    sim = np.array([[0.6, 0.5], [0.55, 0.1]])
    pairs, rows, cols = hungarian_match(sim, 0.3)
    assert pairs == [(0, 1), (1, 0)] and rows == [] and cols == []
    pairs, rows, cols = hungarian_match(np.array([[0.2]]), 0.3)
    assert pairs == [] and rows == [0] and cols == [0]


def test_satisfies_protocol() -> None:
    assert isinstance(IoUTracker(), Tracker)


def test_two_walkers_enter_leave_no_switches(kit) -> None:
    walkers = [
        kit.Walker(0, lambda t: (100 + 3 * t, 200.0)),
        kit.Walker(1, lambda t: (400 - 2 * t, 220.0), frames=range(10, 40)),  # enters and leaves
    ]
    frames = kit.render(walkers, 60, box_noise=1.0)
    assignments = kit.run_tracker(IoUTracker(), frames)
    assert kit.id_switches(assignments) == 0
    assert kit.ids_never_reused(assignments)
    # Every visible person is reported from its first frame with min_hits=1.
    assert all(len(a) == len(f) for a, f in zip(assignments, frames, strict=True))
    assert len({i for a in assignments for i in a.values()}) == 2


def test_track_survives_short_gap_and_dies_after_max_age() -> None:
    tracker = IoUTracker(max_age=2)
    first = tracker.update([_person(0, 0)])[0].track_id
    assert tracker.update([]) == []
    assert tracker.update([]) == []
    # Missed 2 frames (== max_age): still alive, same id.
    assert tracker.update([_person(1, 0)])[0].track_id == first
    for _ in range(3):
        tracker.update([])
    # Missed 3 frames (> max_age): dead, a new person in the same place gets a fresh id.
    later = tracker.update([_person(1, 0)])[0].track_id
    assert first is not None and later is not None and later > first


def test_min_hits_hides_tentative_then_confirms() -> None:
    tracker = IoUTracker(min_hits=3)
    assert tracker.update([_person(0, 0)]) == []
    assert tracker.update([_person(2, 0)]) == []
    out = tracker.update([_person(4, 0)])
    assert [p.track_id for p in out] == [0]
    # A one-frame false positive never confirms and does not consume an id.
    tracker.update([_person(6, 0), _person(500, 500)])
    tracker.update([_person(8, 0)])
    tracker.update([_person(10, 0), _person(900, 0)])
    tracker.update([_person(12, 0), _person(900, 0)])
    out = tracker.update([_person(14, 0), _person(900, 0)])
    assert sorted(p.track_id or 0 for p in out) == [0, 1] and None not in [p.track_id for p in out]


def test_output_keeps_input_order_and_reset_restarts_ids() -> None:
    tracker = IoUTracker()
    people = [_person(0, 0), _person(300, 0), _person(600, 0)]
    out = tracker.update(people)
    assert [p.box is q.box for p, q in zip(out, people, strict=True)] == [True, True, True]
    out2 = tracker.update(people[::-1])
    assert [p.track_id for p in out2] == [p.track_id for p in out][::-1]
    tracker.reset()
    assert tracker.update([_person(0, 0)])[0].track_id == 0


def test_low_iou_is_not_matched() -> None:
    tracker = IoUTracker(min_iou=0.5)
    a = tracker.update([_person(0, 0)])[0].track_id
    b = tracker.update([_person(30, 0)])[0].track_id  # IoU 10/70 ≈ 0.14 with the last box
    assert a != b


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        IoUTracker(min_iou=1.5)
    with pytest.raises(ValueError):
        IoUTracker(min_hits=0)


def test_predict_is_last_box_of_tracks_seen_last_frame() -> None:
    tracker = IoUTracker(max_age=3)
    tracker.update([_person(0, 0), _person(300, 0)])
    tracker.update([_person(2, 0)])
    predicted = tracker.predict()
    assert [(i, b.tolist()) for i, b in predicted] == [(0, [2.0, 0.0, 42.0, 100.0])]
    predicted[0][1][0] = -1.0  # a copy: the caller cannot move the track
    assert tracker.predict()[0][1][0] == 2.0


def test_has_pose_needs_posetrack_layout_and_a_scored_joint() -> None:
    from posecli.tracking.similarity import has_pose

    pose = np.zeros((17, 3))
    assert not has_pose(pose) and not has_pose(None)
    pose[4, 2] = 0.1
    assert has_pose(pose)
    assert not has_pose(np.ones((33, 3)))
