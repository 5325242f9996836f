"""Synthetic people on known paths, and an ID-switch counter, shared by the tracking tests."""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

import numpy as np
import pytest

from posecli.structures import FrameResult, PoseInstance
from posecli.tracking.base import Tracker

# A standing person's 17 PoseTrack joints in a unit box (x right, y down), slot order of keypoints.py.
_TEMPLATE = np.array(
    [[0.50, 0.08], [0.50, 0.16], [0.50, 0.00], [0.45, 0.08], [0.55, 0.08],
     [0.35, 0.22], [0.65, 0.22], [0.25, 0.38], [0.75, 0.38], [0.20, 0.52], [0.80, 0.52],
     [0.40, 0.55], [0.60, 0.55], [0.40, 0.78], [0.60, 0.78], [0.40, 1.00], [0.60, 1.00]],
)  # fmt: skip


@dataclass
class Walker:
    """One synthetic person: centre path ``path(t) -> (cx, cy)``, box size, visible frames, arm pose.

    ``arms`` raises (negative) or lowers the wrists and elbows so people have different pose shapes.
    """

    gt_id: int
    path: Callable[[float], tuple[float, float]]
    size: tuple[float, float] = (60.0, 150.0)
    frames: Collection[int] | None = None  # visible frames; None = always
    arms: float = 0.0
    score: float = 0.9

    def visible(self, t: int) -> bool:
        return self.frames is None or t in self.frames


def pose_in_box(box: np.ndarray, arms: float) -> np.ndarray:
    """The template pose ``(17, 3)`` (score 0.9) drawn in ``box`` ``(4,)`` xyxy."""
    unit = _TEMPLATE.copy()
    unit[[7, 8, 9, 10], 1] += arms * np.array([0.5, 0.5, 1.0, 1.0])
    wh = box[2:] - box[:2]
    xy = box[:2] + unit * wh
    return np.concatenate([xy, np.full((17, 1), 0.9)], axis=1)


def render(
    walkers: list[Walker],
    num_frames: int,
    *,
    box_noise: float = 0.0,
    keypoint_noise: float = 0.0,
    with_keypoints: bool = True,
    seed: int = 0,
) -> list[list[tuple[int, PoseInstance]]]:
    """Per frame, ``(gt_id, PoseInstance)`` for every visible walker, in a shuffled order."""
    rng = np.random.default_rng(seed)
    frames: list[list[tuple[int, PoseInstance]]] = []
    for t in range(num_frames):
        people: list[tuple[int, PoseInstance]] = []
        for w in walkers:
            if not w.visible(t):
                continue
            cx, cy = w.path(float(t))
            bw, bh = w.size
            box = np.array([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2])
            kpts = pose_in_box(box, w.arms)
            box = box + rng.normal(0.0, box_noise, 4)
            kpts[:, :2] += rng.normal(0.0, keypoint_noise, (17, 2))
            if not with_keypoints:
                kpts[:, 2] = 0.0
            people.append((w.gt_id, PoseInstance(keypoints=kpts, box=box, score=w.score)))
        order = rng.permutation(len(people))
        frames.append([people[i] for i in order])
    return frames


def run_tracker(tracker: Tracker, frames: list[list[tuple[int, PoseInstance]]]) -> list[dict[int, int]]:
    """Feed every frame to ``tracker.update``; per frame ``{gt_id: predicted track_id}``.

    Output instances are mapped back to their gt by object identity of the box array (trackers return
    the same boxes, only with ``track_id`` set).
    """
    out: list[dict[int, int]] = []
    for people in frames:
        result = tracker.update([p for _, p in people])
        by_box = {id(p.box): g for g, p in people}
        frame: dict[int, int] = {}
        for inst in result:
            assert inst.track_id is not None and inst.track_id >= 0
            frame[by_box[id(inst.box)]] = inst.track_id
        assert len(set(frame.values())) == len(frame), "two people share a track id in one frame"
        out.append(frame)
    return out


def id_switches(assignments: list[dict[int, int]]) -> int:
    """MOT-style ID switches: a gt person reported under a different id than the last time it was."""
    last: dict[int, int] = {}
    switches = 0
    for frame in assignments:
        for gt, pred in frame.items():
            if gt in last and last[gt] != pred:
                switches += 1
            last[gt] = pred
    return switches


def ids_never_reused(assignments: list[dict[int, int]]) -> bool:
    """True when every predicted id is only ever given to one gt person."""
    owner: dict[int, int] = {}
    for frame in assignments:
        for gt, pred in frame.items():
            if owner.setdefault(pred, gt) != gt:
                return False
    return True


def results_from(
    frames: list[list[tuple[int, PoseInstance]]], assignments: list[dict[int, int]]
) -> list[FrameResult]:
    """``FrameResult``s with the predicted ids, for the offline stitcher."""
    results = []
    for t, (people, ids) in enumerate(zip(frames, assignments, strict=True)):
        inst = tuple(p.with_track_id(ids[g]) for g, p in people if g in ids)
        results.append(FrameResult(frame_index=t, timestamp=t / 25.0, instances=inst))
    return results


@dataclass
class SceneKit:
    """The helpers above, handed to tests through one fixture."""

    Walker: type[Walker]
    render: Callable[..., list[list[tuple[int, PoseInstance]]]]
    run_tracker: Callable[..., list[dict[int, int]]]
    id_switches: Callable[[list[dict[int, int]]], int]
    ids_never_reused: Callable[[list[dict[int, int]]], bool]
    results_from: Callable[..., list[FrameResult]]


@pytest.fixture
def kit() -> SceneKit:
    return SceneKit(Walker, render, run_tracker, id_switches, ids_never_reused, results_from)
