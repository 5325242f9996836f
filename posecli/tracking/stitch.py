"""Offline tracklet stitching over a whole video, then compact renumbering of track ids.

An online tracker breaks a track when a person is hidden for longer than its buffer or reappears
far from where its filter was heading. With the whole video at hand we can look both ways: a
tracklet A that ends at frame ``e`` and a tracklet B that starts at frame ``s`` (``e < s ≤ e +
max_gap``) are the same person when B starts near where A's recent motion leads (or A ends near where
B's early motion comes from), with a similar box size and, when both have keypoints, a similar pose
shape. Candidate links are solved as one assignment (each end to at most one start, Hungarian on a
cost that adds the normalised distance, the pose dissimilarity and the relative gap), and linked
tracklets share one id. Ids are then renumbered ``0, 1, …`` by first appearance.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from posecli.structures import FrameResult
from posecli.tracking.similarity import align_pose, box_area, box_centers, has_pose, oks_matrix


@dataclass
class _Tracklet:
    """The observations of one track id: ``frames (N,)`` frame indices, ``boxes (N, 4)``, poses."""

    frames: np.ndarray
    boxes: np.ndarray
    poses: list[np.ndarray | None]

    @property
    def first_pose(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(pose ``(K, 3)``, its box ``(4,)``) of the earliest observation with scored joints."""
        for pose, box in zip(self.poses, self.boxes, strict=True):
            if pose is not None:
                return pose, box
        return None

    @property
    def last_pose(self) -> tuple[np.ndarray, np.ndarray] | None:
        """(pose ``(K, 3)``, its box ``(4,)``) of the latest observation with scored joints."""
        for pose, box in zip(reversed(self.poses), self.boxes[::-1], strict=True):
            if pose is not None:
                return pose, box
        return None


def _extrapolate(frames: np.ndarray, centres: np.ndarray, at: int) -> np.ndarray:
    """Centre ``(2,)`` at frame ``at`` from a least-squares line through ``centres (N, 2)`` over ``frames (N,)``.

    With one observation (or all in one frame) the person is assumed to stand still.
    """
    if len(frames) < 2 or np.ptp(frames) == 0:
        return centres[-1] if at >= frames[-1] else centres[0]
    t = frames.astype(np.float64)
    design = np.stack([t, np.ones_like(t)], axis=1)  # (N, 2)
    coef, *_ = np.linalg.lstsq(design, centres, rcond=None)  # (2, 2): slope and intercept per axis
    return np.array([at, 1.0]) @ coef


def stitch_tracklets(
    results: Sequence[FrameResult],
    *,
    max_gap: int = 30,
    max_distance: float = 1.0,
    min_pose_similarity: float = 0.5,
    motion_frames: int = 10,
) -> list[FrameResult]:
    """Merge tracklets broken by a gap and renumber track ids compactly.

    results: one video's frames in order; instances with ``track_id=None`` are left untouched.
    max_gap: most frames between the end of one tracklet and the start of the next (≥ 1).
    max_distance: how far, in box heights, the start of the later tracklet may be from the position
    extrapolated from the earlier one (the closer of the forward and the backward extrapolation).
    min_pose_similarity: least pose-shape OKS (the earlier tracklet's last pose moved onto the later
    one's first box) to link; skipped when either side has no scored keypoints.
    motion_frames: how many observations at each tracklet end fit its straight-line motion.

    Returns new ``FrameResult``s (same frames, timestamps and instance order) with ids
    ``0 … n−1`` numbered by first appearance.
    """
    tracklets = _collect(results)
    ids = sorted(tracklets)
    links = _link(tracklets, ids, max_gap, max_distance, min_pose_similarity, motion_frames)

    # Follow each chain of links from its head; the head's chain gets one new id.
    heads = [i for i in ids if i not in set(links.values())]
    heads.sort(key=lambda i: (int(tracklets[i].frames[0]), i))
    new_id: dict[int, int] = {}
    for number, head in enumerate(heads):
        node: int | None = head
        while node is not None:
            new_id[node] = number
            node = links.get(node)

    out = []
    for frame in results:
        instances = tuple(
            p if p.track_id is None else p.with_track_id(new_id[p.track_id]) for p in frame.instances
        )
        out.append(replace(frame, instances=instances))
    return out


def _collect(results: Sequence[FrameResult]) -> dict[int, _Tracklet]:
    """Group the tracked instances by ``track_id`` into time-ordered tracklets."""
    frames: dict[int, list[int]] = {}
    boxes: dict[int, list[np.ndarray]] = {}
    poses: dict[int, list[np.ndarray | None]] = {}
    for frame in results:
        for person in frame.instances:
            if person.track_id is None:
                continue
            frames.setdefault(person.track_id, []).append(frame.frame_index)
            boxes.setdefault(person.track_id, []).append(np.asarray(person.box, dtype=np.float64))
            kp = np.asarray(person.keypoints, dtype=np.float64)
            poses.setdefault(person.track_id, []).append(kp if has_pose(kp) else None)
    return {
        i: _Tracklet(frames=np.array(frames[i]), boxes=np.stack(boxes[i]), poses=poses[i]) for i in frames
    }


def _link(
    tracklets: dict[int, _Tracklet],
    ids: list[int],
    max_gap: int,
    max_distance: float,
    min_pose_similarity: float,
    motion_frames: int,
) -> dict[int, int]:
    """``{earlier id: later id}`` links chosen by one Hungarian assignment over all valid candidates."""
    n = len(ids)
    invalid = 1e6
    cost = np.full((n, n), invalid)  # rows: tracklet ends, cols: tracklet starts
    for r, a_id in enumerate(ids):
        a = tracklets[a_id]
        end = int(a.frames[-1])
        tail = slice(-motion_frames, None)
        a_height = max(float(a.boxes[-1, 3] - a.boxes[-1, 1]), 1.0)
        for c, b_id in enumerate(ids):
            b = tracklets[b_id]
            start = int(b.frames[0])
            if not end < start <= end + max_gap:
                continue
            b_height = max(float(b.boxes[0, 3] - b.boxes[0, 1]), 1.0)
            if not 2 / 3 <= b_height / a_height <= 1.5:
                continue
            head = slice(0, motion_frames)
            forward = _extrapolate(a.frames[tail], box_centers(a.boxes[tail]), start)
            backward = _extrapolate(b.frames[head], box_centers(b.boxes[head]), end)
            distance = min(
                np.linalg.norm(forward - box_centers(b.boxes[0])[0]),
                np.linalg.norm(backward - box_centers(a.boxes[-1])[0]),
            ) / max(a_height, b_height)
            if distance > max_distance:
                continue
            similarity = _pose_similarity(a, b)
            if similarity is not None and similarity < min_pose_similarity:
                continue
            dissimilarity = 0.0 if similarity is None else 1.0 - similarity
            cost[r, c] = distance + dissimilarity + (start - end) / max_gap
    rows, cols = linear_sum_assignment(cost)
    return {ids[r]: ids[c] for r, c in zip(rows, cols, strict=True) if cost[r, c] < invalid}


def _pose_similarity(a: _Tracklet, b: _Tracklet) -> float | None:
    """Pose-shape OKS of ``a``'s last pose moved onto ``b``'s first pose box; None without poses."""
    last, first = a.last_pose, b.first_pose
    if last is None or first is None:
        return None
    moved = align_pose(last[0], last[1], first[1])[None]  # (1, K, 3)
    oks, valid = oks_matrix(first[0][None], moved, box_area(first[1]))
    return float(oks[0, 0]) if valid[0, 0] else None
