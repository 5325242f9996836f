"""One-Euro smoothing: less jitter on a still joint, bounded lag on a step, per-track state."""

from __future__ import annotations

import numpy as np
import pytest

from posecli.smoothing import OneEuroSmoother
from posecli.structures import FrameResult, PoseInstance

FPS = 30.0


def _frame(t: int, points: dict[int | None, np.ndarray]) -> FrameResult:
    """Frame ``t`` with one person per entry: ``track_id -> (17, 3)`` keypoints."""
    people = tuple(
        PoseInstance(keypoints=kp, box=np.array([0.0, 0.0, 10.0, 10.0]), score=0.9, track_id=tid)
        for tid, kp in points.items()
    )
    return FrameResult(frame_index=t, timestamp=t / FPS, instances=people)


def _pose(x: float, y: float = 50.0) -> np.ndarray:
    kp = np.zeros((17, 3))
    kp[:, 0], kp[:, 1], kp[:, 2] = x, y, 0.8
    return kp


def test_reduces_jitter_on_a_still_joint() -> None:
    rng = np.random.default_rng(0)
    smoother = OneEuroSmoother(min_cutoff=1.0, beta=0.01)
    raw, smooth = [], []
    for t in range(150):
        kp = _pose(100.0)
        kp[:, :2] += rng.normal(0.0, 3.0, (17, 2))
        out = smoother.smooth(_frame(t, {0: kp}))
        raw.append(kp[:, 0])
        smooth.append(out.instances[0].keypoints[:, 0])
    raw_std = np.std(np.array(raw)[30:], axis=0).mean()
    smooth_std = np.std(np.array(smooth)[30:], axis=0).mean()
    assert smooth_std < 0.5 * raw_std  # the EMA at the 1 Hz floor alone would give ≈ 0.31
    assert abs(np.array(smooth)[30:].mean() - 100.0) < 1.0  # no bias


@pytest.mark.parametrize(("beta", "max_lag_frames"), [(0.0, 18), (0.01, 5)])
def test_follows_a_step_with_bounded_lag(beta: float, max_lag_frames: int) -> None:
    smoother = OneEuroSmoother(min_cutoff=1.0, beta=beta)
    xs = []
    for t in range(90):
        x = 0.0 if t < 30 else 100.0
        xs.append(smoother.smooth(_frame(t, {4: _pose(x)})).instances[0].keypoints[0, 0])
    xs_arr = np.array(xs)
    assert np.all(xs_arr[:30] == 0.0)
    reached = int(np.argmax(xs_arr >= 90.0))  # first frame within 10 % of the new level
    assert 30 <= reached <= 30 + max_lag_frames
    assert np.all(xs_arr <= 100.0 + 1e-9)  # a first-order filter does not overshoot
    assert abs(xs_arr[-1] - 100.0) < 1.0


def test_tracks_are_independent_and_untracked_or_unlocated_pass_through() -> None:
    smoother = OneEuroSmoother()
    smoother.smooth(_frame(0, {1: _pose(0.0), 2: _pose(500.0)}))
    hidden = _pose(0.0)
    hidden[3, 2] = 0.0
    hidden[3, :2] = -7.0  # an unlocated joint's coordinates are not touched
    out = smoother.smooth(_frame(1, {1: hidden, 2: _pose(500.0), None: _pose(42.0)}))
    a, b, c = out.instances
    assert np.allclose(a.keypoints[:, 0][[0, 1, 2]], 0.0) and np.all(a.keypoints[3] == [-7.0, -7.0, 0.0])
    assert np.allclose(b.keypoints[:, 0], 500.0)  # track 2 not pulled towards track 1
    assert c.keypoints is not None and np.allclose(c.keypoints[:, 0], 42.0)
    assert [p.track_id for p in out.instances] == [1, 2, None]
    assert np.all(a.keypoints[:, 2] == hidden[:, 2])  # scores unchanged


def test_smooths_coco_keypoints_too_and_forgets_old_tracks() -> None:
    smoother = OneEuroSmoother(forget_after=1.0)
    person = PoseInstance(_pose(0.0), np.zeros(4), 0.9, track_id=0, coco_keypoints=_pose(0.0))
    smoother.smooth(FrameResult(0, 0.0, (person,)))
    moved = PoseInstance(_pose(10.0), np.zeros(4), 0.9, track_id=0, coco_keypoints=_pose(10.0))
    out = smoother.smooth(FrameResult(1, 1 / FPS, (moved,))).instances[0]
    assert 0.0 < out.keypoints[0, 0] < 10.0 and out.coco_keypoints is not None
    assert out.coco_keypoints[0, 0] == pytest.approx(out.keypoints[0, 0])
    # Two seconds later the old state is gone: the track starts afresh at its raw position.
    smoother.smooth(FrameResult(2, 3.0, ()))
    out = smoother.smooth(FrameResult(3, 3.1, (moved,))).instances[0]
    assert out.keypoints[0, 0] == 10.0


def test_rejects_bad_parameters() -> None:
    with pytest.raises(ValueError):
        OneEuroSmoother(min_cutoff=0.0)
    with pytest.raises(ValueError):
        OneEuroSmoother(beta=-1.0)


def test_pickled_state_continues_identically() -> None:
    import pickle

    rng = np.random.default_rng(1)
    frames = [_frame(t, {0: _pose(100.0 + rng.normal(0, 2))}) for t in range(20)]
    smoother = OneEuroSmoother()
    whole = [smoother.smooth(f).instances[0].keypoints for f in frames]
    first = OneEuroSmoother()
    head = [first.smooth(f).instances[0].keypoints for f in frames[:10]]
    restored = pickle.loads(pickle.dumps(first))
    tail = [restored.smooth(f).instances[0].keypoints for f in frames[10:]]
    assert all(np.array_equal(a, b) for a, b in zip(head + tail, whole, strict=True))
