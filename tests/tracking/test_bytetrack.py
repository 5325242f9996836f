"""ByteTracker on synthetic people: crossings, occlusions, low scores, re-identification, predict()."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posecli.structures import PoseInstance
from posecli.tracking.base import Tracker
from posecli.tracking.bytetrack import ByteTracker
from posecli.tracking.iou import IoUTracker
from posecli.tracking.kalman import BoxKalmanFilter, cxcywh_to_xyxy, xyxy_to_cxcywh


def _box(cx: float, cy: float, w: float = 60.0, h: float = 150.0) -> np.ndarray:
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


def test_satisfies_protocol() -> None:
    assert isinstance(ByteTracker(), Tracker)


def test_kalman_prediction_follows_constant_velocity() -> None:
    kf = BoxKalmanFilter()
    velocity = np.array([4.0, -2.0, 0.5, 1.0])  # cx, cy, w, h per frame
    start = np.array([100.0, 300.0, 50.0, 120.0])
    mean, cov = kf.initiate(cxcywh_to_xyxy(start))
    for t in range(1, 31):
        mean, cov = kf.predict(mean, cov)
        mean, cov = kf.update(mean, cov, cxcywh_to_xyxy(start + t * velocity))
    np.testing.assert_allclose(mean[4:], velocity, atol=0.05)
    # Coasting 10 frames without measurements extrapolates along the same line.
    for _ in range(10):
        mean, cov = kf.predict(mean, cov)
    np.testing.assert_allclose(mean[:4], start + 40 * velocity, atol=1.0)
    assert np.allclose(cov, cov.T) and np.all(np.linalg.eigvalsh(cov) > 0)
    np.testing.assert_allclose(xyxy_to_cxcywh(cxcywh_to_xyxy(start)), start)


def test_predict_gives_next_box_without_changing_state() -> None:
    tracker = ByteTracker()
    for t in range(12):
        tracker.update([PoseInstance(np.zeros((17, 3)), _box(100 + 5 * t, 200), 0.9)])
    first = tracker.predict()
    assert tracker.predict()[0][1].tolist() == first[0][1].tolist()  # no side effect
    ((track_id, box),) = first
    assert track_id == 0
    np.testing.assert_allclose(box, _box(100 + 5 * 12, 200), atol=1.5)
    # A lost track is not propagated.
    tracker.update([])
    assert tracker.predict() == []


def test_two_people_crossing_keep_ids(kit) -> None:
    walkers = [
        kit.Walker(0, lambda t: (100 + 6 * t, 200.0)),
        kit.Walker(1, lambda t: (460 - 6 * t, 200.0), arms=-0.3),  # full overlap at t = 30
    ]
    frames = kit.render(walkers, 60, box_noise=1.5, keypoint_noise=1.5, seed=1)
    assignments = kit.run_tracker(ByteTracker(), frames)
    assert kit.id_switches(assignments) == 0
    assert kit.ids_never_reused(assignments)
    assert all(len(a) == 2 for a in assignments)


def test_curved_paths_and_enter_leave_one_track_each(kit) -> None:
    walkers = [
        kit.Walker(0, lambda t: (300 + 120 * math.cos(0.06 * t), 300 + 80 * math.sin(0.06 * t))),
        kit.Walker(1, lambda t: (700 - 4 * t, 250.0 + 0.05 * (t - 40) ** 2), frames=range(15, 70)),
        kit.Walker(2, lambda t: (1000.0, 500.0 - 3 * t), frames=range(25), arms=0.2),
    ]
    frames = kit.render(walkers, 90, box_noise=2.0, keypoint_noise=2.0, seed=2)
    assignments = kit.run_tracker(ByteTracker(), frames)
    assert kit.id_switches(assignments) == 0
    assert len({i for a in assignments for i in a.values()}) == 3  # one track per person


def test_short_occlusion_keeps_id(kit) -> None:
    gap = set(range(20, 26))
    walkers = [
        kit.Walker(0, lambda t: (100 + 5 * t, 220.0), frames=range(60)),
        kit.Walker(1, lambda t: (200 + 4 * t, 400.0), frames=[t for t in range(60) if t not in gap]),
    ]
    frames = kit.render(walkers, 60, box_noise=1.0, keypoint_noise=1.0, seed=3)
    assignments = kit.run_tracker(ByteTracker(), frames)
    assert kit.id_switches(assignments) == 0
    assert all(1 not in assignments[t] for t in gap)


def test_low_score_frames_extend_tracks_but_do_not_start_them(kit) -> None:
    walkers = [kit.Walker(0, lambda t: (100 + 5 * t, 220.0))]
    frames = kit.render(walkers, 40, box_noise=1.0, seed=4)
    rng = np.random.default_rng(5)
    for t, people in enumerate(frames):
        if 15 <= t < 22:  # partly occluded: the detector is unsure
            people[:] = [(g, PoseInstance(p.keypoints, p.box, 0.3)) for g, p in people]
        # A faint false positive somewhere else in every frame.
        x, y = rng.uniform(600, 900), rng.uniform(0, 300)
        people.append((99, PoseInstance(np.zeros((17, 3)), np.array([x, y, x + 40, y + 90]), 0.3)))
    assignments = kit.run_tracker(ByteTracker(), frames)
    assert all(a.get(0) == 0 for a in assignments)  # the person is kept through the low-score frames
    assert all(99 not in a for a in assignments)  # false positives never become tracks


def test_reidentifies_a_lost_person_by_pose_and_refuses_a_different_pose(kit) -> None:
    # Person 0 walks right, stops behind an occluder for 15 frames (the filter coasts away), then
    # reappears where it stopped. Person 1, with a very different pose, appears near a lost track.
    def path0(t: float) -> tuple[float, float]:
        return (100 + 6 * min(t, 20), 200.0)

    walkers = [kit.Walker(0, path0, frames=[*range(20), *range(35, 50)])]
    frames = kit.render(walkers, 50, keypoint_noise=1.0, seed=6)
    tracker = ByteTracker(track_buffer=30)
    assignments = kit.run_tracker(tracker, frames)
    assert kit.id_switches(assignments) == 0

    other = ByteTracker(track_buffer=30)
    for t in range(20):
        other.update([p for _, p in frames[t]])
    for _ in range(15):
        other.update([])
    rng = np.random.default_rng(7)
    box = frames[35][0][1].box
    scrambled = np.concatenate(
        [box[:2] + rng.uniform(0, 1, (17, 2)) * (box[2:] - box[:2]), np.full((17, 1), 0.9)], 1
    )
    out = other.update([PoseInstance(scrambled, box, 0.9)])
    assert out[0].track_id == 1  # a new person, not track 0


def test_lost_track_expires_after_buffer() -> None:
    tracker = ByteTracker(track_buffer=5)
    assert tracker.update([PoseInstance(np.zeros((17, 3)), _box(100, 200), 0.9)])[0].track_id == 0
    for _ in range(6):
        tracker.update([])
    assert tracker.update([PoseInstance(np.zeros((17, 3)), _box(100, 200), 0.9)])[0].track_id == 1


def test_pose_cost_separates_people_whose_boxes_coincide(kit) -> None:
    # Two people in the same box (one behind the other, drifting together), different arm poses:
    # IoU cannot tell them apart, OKS can.
    walkers = [
        kit.Walker(0, lambda t: (200 + 2 * t, 200.0)),
        kit.Walker(1, lambda t: (200 + 2 * t, 200.0), arms=-0.35),
    ]
    frames = kit.render(walkers, 40, keypoint_noise=1.0, seed=8)
    with_pose = kit.run_tracker(ByteTracker(pose_weight=0.5), frames)
    assert kit.id_switches(with_pose) == 0
    without_pose = kit.run_tracker(ByteTracker(pose_weight=0.0), frames)
    assert kit.id_switches(without_pose) > 0


def test_fast_noisy_dropouts_motion_model_beats_iou_tracker(kit) -> None:
    # 14 px/frame with 60 px wide boxes, jitter, and 15 % of detections missing at random: the last
    # box alone (IoUTracker) loses people, the Kalman prediction does not.
    walkers = [
        kit.Walker(0, lambda t: (100 + 14 * t, 200.0)),
        kit.Walker(1, lambda t: (940 - 14 * t, 215.0), arms=-0.3),
        kit.Walker(2, lambda t: (300.0, 120 + 11 * t), arms=0.25),
    ]
    frames = kit.render(walkers, 60, box_noise=3.0, keypoint_noise=3.0, seed=3)
    rng = np.random.default_rng(103)
    frames = [[gp for gp in people if rng.uniform() > 0.15] for people in frames]
    byte = kit.run_tracker(ByteTracker(), frames)
    assert kit.id_switches(byte) == 0
    assert kit.ids_never_reused(byte)
    assert kit.id_switches(kit.run_tracker(IoUTracker(), frames)) > 0


def test_min_hits_and_output_order() -> None:
    tracker = ByteTracker(min_hits=2)
    a = PoseInstance(np.zeros((17, 3)), _box(100, 200), 0.9)
    b = PoseInstance(np.zeros((17, 3)), _box(400, 200), 0.95)
    assert tracker.update([a, b]) == []
    out = tracker.update([b, a])
    assert [p.box is q.box for p, q in zip(out, [b, a], strict=True)] == [True, True]
    assert sorted(p.track_id or 0 for p in out) == [0, 1] and None not in [p.track_id for p in out]
    tracker.reset()
    assert tracker.update([a]) == []


def test_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError):
        ByteTracker(low_score=0.6, high_score=0.5)
    with pytest.raises(ValueError):
        ByteTracker(pose_weight=2.0)


def test_pickled_state_continues_identically(kit) -> None:
    # --resume stores the tracker in a checkpoint: a restored copy must continue exactly the same.
    import pickle

    walkers = [
        kit.Walker(0, lambda t: (100 + 6 * t, 200.0)),
        kit.Walker(1, lambda t: (460 - 6 * t, 200.0), arms=-0.3),
    ]
    frames = kit.render(walkers, 50, box_noise=1.5, keypoint_noise=1.5, seed=12)
    for make in (ByteTracker, IoUTracker):
        whole = kit.run_tracker(make(), frames)
        first = make()
        head = kit.run_tracker(first, frames[:25])
        restored = pickle.loads(pickle.dumps(first))
        assert head + kit.run_tracker(restored, frames[25:]) == whole


def test_det_every_k_propagates_boxes_with_predict(kit) -> None:
    # Detection on every 4th frame only; in between, the pipeline runs the pose model on the boxes
    # that predict() gives and feeds those people back to update(). Ids must hold and the
    # propagated boxes must stay on the people.
    walkers = [
        kit.Walker(0, lambda t: (100 + 5 * t, 220.0)),
        kit.Walker(1, lambda t: (500 - 4 * t, 230.0), arms=-0.3),
    ]
    frames = kit.render(walkers, 48, box_noise=1.0, seed=13)
    tracker = ByteTracker()
    seen: dict[int, set[int]] = {0: set(), 1: set()}
    for t, people in enumerate(frames):
        if t % 4 == 0:
            out = tracker.update([p for _, p in people])
            gt_of_box = {id(p.box): g for g, p in people}
            for inst in out:
                assert inst.track_id is not None
                seen[gt_of_box[id(inst.box)]].add(inst.track_id)
            continue
        propagated = [PoseInstance(np.zeros((17, 3)), box, 0.9) for _, box in tracker.predict()]
        out = tracker.update(propagated)
        assert len(out) == 2
        for inst in out:
            gt = min(walkers, key=lambda w: abs(w.path(t)[0] - (inst.box[0] + inst.box[2]) / 2))
            error = abs(gt.path(t)[0] - (inst.box[0] + inst.box[2]) / 2)
            # The velocity is learnt from the detections: a lag of a few frames' motion at first,
            # then (from the fourth detection on) the propagated box stays within 2.5 px.
            assert error < (15.0 if t < 13 else 2.5)
            assert inst.track_id is not None
            seen[gt.gt_id].add(inst.track_id)
    assert seen == {0: {seen[0].copy().pop()}, 1: {seen[1].copy().pop()}} and seen[0] != seen[1]
