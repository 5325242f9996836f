"""Offline tracklet stitching over a whole video, then compact renumbering of track ids.

An online tracker breaks a track when a person is hidden for longer than its buffer, or comes back
far from where its filter was heading or in a very different shape (a flip, a fall). With the whole
video at hand we can look both ways: a tracklet A that ends at frame ``e`` and a tracklet B that
starts at frame ``s`` (``e < s ≤ e + max_gap``) may be the same person when B starts near where A's
recent motion leads (or A ends near where B's early motion comes from) and their sizes are
compatible. Among such candidates a cost decides: the normalised distance, the pose-shape
dissimilarity, the size change and the relative gap. All links are solved as one assignment
(each end to at most one start, Hungarian), linked tracklets share one id, and ids are then
renumbered ``0, 1, …`` by first appearance.

Sizes are measured as ``sqrt(box area)``, which changes far less than the height when a person
crouches, tucks or stretches.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace

import numpy as np
from scipy.optimize import linear_sum_assignment

from posecli.structures import FrameResult
from posecli.tracking.similarity import align_pose, box_area, box_centers, has_pose, oks_matrix


def _fit_line(frames: np.ndarray, centres: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Least-squares straight-line motion through ``centres (N, 2)`` over ``frames (N,)``.

    Returns ``(velocity (2,), offset (2,))`` with centre(t) = offset + velocity · t. With one
    observation (or all in one frame) the person is assumed to stand still.
    """
    if len(frames) < 2 or np.ptp(frames) == 0:
        return np.zeros(2), centres.mean(axis=0)
    t = frames.astype(np.float64)
    dt = t - t.mean()
    velocity = dt @ (centres - centres.mean(axis=0)) / (dt @ dt)  # (2,) closed-form least squares
    return velocity, centres.mean(axis=0) - velocity * t.mean()


@dataclass
class _Tracklet:
    """One track id's observations, summarised at both ends for linking.

    frames ``(N,)`` frame indices; boxes ``(N, 4)`` xyxy; poses: ``(K, 3)`` or None per observation.
    The ``tail``/``head`` lines fit the motion of the last/first ``motion_frames`` observations.
    """

    frames: np.ndarray
    boxes: np.ndarray
    poses: list[np.ndarray | None]
    motion_frames: int
    start: int = field(init=False)  # first frame index
    end: int = field(init=False)  # last frame index
    start_centre: np.ndarray = field(init=False)  # (2,)
    end_centre: np.ndarray = field(init=False)  # (2,)
    start_scale: float = field(init=False)  # median sqrt(box area) over each end's observations, >= 1 px
    end_scale: float = field(init=False)
    tail: tuple[np.ndarray, np.ndarray] = field(init=False)  # (velocity (2,), offset (2,))
    head: tuple[np.ndarray, np.ndarray] = field(init=False)

    def __post_init__(self) -> None:
        centres = box_centers(self.boxes)  # (N, 2)
        self.start, self.end = int(self.frames[0]), int(self.frames[-1])
        self.start_centre, self.end_centre = centres[0], centres[-1]
        n = self.motion_frames
        # Median over the end's observations: one odd box (a tucked frame, a partial detection)
        # should not decide a size comparison.
        scales = np.sqrt(box_area(self.boxes))  # (N,)
        self.start_scale = max(float(np.median(scales[:n])), 1.0)
        self.end_scale = max(float(np.median(scales[-n:])), 1.0)
        self.tail = _fit_line(self.frames[-n:], centres[-n:])
        self.head = _fit_line(self.frames[:n], centres[:n])

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


@dataclass(frozen=True)
class _Gates:
    """The link rules of ``stitch_tracklets`` (see its arguments)."""

    max_gap: int
    max_distance: float
    max_scale_change: float
    pose_weight: float
    min_pose_similarity: float


def stitch_tracklets(
    results: Sequence[FrameResult],
    *,
    max_gap: int = 30,
    max_distance: float = 1.5,
    max_scale_change: float = 3.0,
    pose_weight: float = 1.0,
    min_pose_similarity: float = 0.0,
    motion_frames: int = 10,
) -> list[FrameResult]:
    """Merge tracklets broken by a gap and renumber track ids compactly.

    results: one video's frames in order; instances with ``track_id=None`` are left untouched.
    max_gap: most frames between the end of one tracklet and the start of the next (≥ 1).
    max_distance: how far the start of the later tracklet may be from the position extrapolated from
    the earlier one (the closer of the forward and the backward extrapolation), in units of the
    geometric mean of the two sizes. A size is the median ``sqrt(box area)`` over the
    ``motion_frames`` observations at that end (about 0.6 box heights for a standing person).
    max_scale_change: largest ratio between the two sizes.
    pose_weight: weight of the pose-shape dissimilarity ``1 − OKS`` (the earlier tracklet's last pose
    moved onto the later one's first box) in the link cost; 0 without scored keypoints.
    min_pose_similarity: pose-shape OKS below which a link is refused outright. Off (0) by default:
    a hard pose veto also refuses the same person across a large pose change (a flip, a fall), so
    by default pose only ranks competing candidates.
    motion_frames: how many observations at each tracklet end fit its straight-line motion.

    Returns new ``FrameResult``s (same frames, timestamps and instance order) with ids
    ``0 … n−1`` numbered by first appearance.
    """
    if max_gap < 1 or motion_frames < 1 or max_scale_change < 1.0:
        raise ValueError(
            f"need max_gap >= 1, motion_frames >= 1, max_scale_change >= 1; "
            f"got {max_gap}, {motion_frames}, {max_scale_change}"
        )
    tracklets = _collect(results, motion_frames)
    ids = sorted(tracklets)
    gates = _Gates(max_gap, max_distance, max_scale_change, pose_weight, min_pose_similarity)
    links = _link(tracklets, ids, gates)

    # Follow each chain of links from its head; the head's chain gets one new id.
    linked_to = set(links.values())
    heads = [i for i in ids if i not in linked_to]
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


def _collect(results: Sequence[FrameResult], motion_frames: int) -> dict[int, _Tracklet]:
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
    return {i: _Tracklet(np.array(frames[i]), np.stack(boxes[i]), poses[i], motion_frames) for i in frames}


def _link(tracklets: dict[int, _Tracklet], ids: list[int], gates: _Gates) -> dict[int, int]:
    """``{earlier id: later id}`` links: the minimum-cost assignment of tracklet ends to later starts.

    Cost of "B continues A" = distance / ``max_distance`` + ``pose_weight`` · (1 − pose-shape OKS)
    + |log size ratio| / log ``max_scale_change`` + gap / ``max_gap``; each term is in [0, 1] for
    an allowed link. Only starts within ``max_gap`` frames after an end are candidates (binary
    search over start frames, then vectorised gates), and the assignment is solved separately on
    each connected group of candidates, so thousands of tracklets stay fast.
    """
    by_start = sorted(ids, key=lambda i: tracklets[i].start)
    starts = np.array([tracklets[i].start for i in by_start], dtype=np.int64)
    start_centres = np.array([tracklets[i].start_centre for i in by_start]).reshape(-1, 2)
    start_scales = np.array([tracklets[i].start_scale for i in by_start])
    head_velocity = np.array([tracklets[i].head[0] for i in by_start]).reshape(-1, 2)
    head_offset = np.array([tracklets[i].head[1] for i in by_start]).reshape(-1, 2)
    log_limit = max(float(np.log(gates.max_scale_change)), 1e-9)

    candidates: list[tuple[int, int, float]] = []
    for a_id in ids:
        a = tracklets[a_id]
        lo = int(np.searchsorted(starts, a.end, side="right"))
        hi = int(np.searchsorted(starts, a.end + gates.max_gap, side="right"))
        if lo == hi:
            continue
        window = slice(lo, hi)
        log_ratio = np.abs(np.log(start_scales[window] / a.end_scale))
        forward = a.tail[1] + np.outer(starts[window], a.tail[0])  # (W, 2) A's motion at each B start
        backward = head_offset[window] + head_velocity[window] * a.end  # (W, 2) B's motion at A's end
        distance = np.minimum(
            np.linalg.norm(forward - start_centres[window], axis=1),
            np.linalg.norm(backward - a.end_centre, axis=1),
        ) / np.sqrt(start_scales[window] * a.end_scale)  # in units of the two sizes' geometric mean
        ok = (log_ratio <= log_limit + 1e-12) & (distance <= gates.max_distance)
        for w in np.flatnonzero(ok):
            b_id = by_start[lo + w]
            similarity = _pose_similarity(a, tracklets[b_id])
            if similarity is not None and similarity < gates.min_pose_similarity:
                continue
            cost = (
                distance[w] / max(gates.max_distance, 1e-9)
                + (0.0 if similarity is None else gates.pose_weight * (1.0 - similarity))
                + log_ratio[w] / log_limit
                + (starts[lo + w] - a.end) / gates.max_gap
            )
            candidates.append((a_id, b_id, float(cost)))
    return _assign(candidates)


def _assign(candidates: list[tuple[int, int, float]]) -> dict[int, int]:
    """Minimum-cost one-to-one ``{end id: start id}`` over ``(end, start, cost)`` candidates.

    The candidates are split into connected components of the end/start bipartite graph
    (union-find) and each component is solved with the Hungarian algorithm on its own small matrix.
    """
    parent: dict[tuple[str, int], tuple[str, int]] = {}

    def root(node: tuple[str, int]) -> tuple[str, int]:
        parent.setdefault(node, node)
        while parent[node] != node:
            parent[node] = parent[parent[node]]
            node = parent[node]
        return node

    for a_id, b_id, _ in candidates:
        parent[root(("end", a_id))] = root(("start", b_id))
    groups: dict[tuple[str, int], list[tuple[int, int, float]]] = {}
    for cand in candidates:
        groups.setdefault(root(("end", cand[0])), []).append(cand)

    links: dict[int, int] = {}
    invalid = 1e6
    for group in groups.values():
        rows = sorted({a for a, _, _ in group})
        cols = sorted({b for _, b, _ in group})
        cost = np.full((len(rows), len(cols)), invalid)
        row_of, col_of = {a: r for r, a in enumerate(rows)}, {b: c for c, b in enumerate(cols)}
        for a_id, b_id, value in group:
            cost[row_of[a_id], col_of[b_id]] = value
        for r, c in zip(*linear_sum_assignment(cost), strict=True):
            if cost[r, c] < invalid:
                links[rows[r]] = cols[c]
    return links


def _pose_similarity(a: _Tracklet, b: _Tracklet) -> float | None:
    """Pose-shape OKS of ``a``'s last pose moved onto ``b``'s first pose box; None without poses."""
    last, first = a.last_pose, b.first_pose
    if last is None or first is None:
        return None
    moved = align_pose(last[0], last[1], first[1])[None]  # (1, K, 3)
    oks, valid = oks_matrix(first[0][None], moved, box_area(first[1]))
    return float(oks[0, 0]) if valid[0, 0] else None
