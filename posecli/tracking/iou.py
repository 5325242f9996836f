"""A simple IoU tracker: Hungarian association of each frame's people to the live tracks' last boxes.

No motion model: a person is matched to the track whose most recent box overlaps it best. This is
enough for slow motion at a normal frame rate; ``bytetrack.ByteTracker`` adds motion prediction,
low-score recovery and pose similarity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from posecli.structures import PoseInstance
from posecli.tracking.base import BaseTracker
from posecli.tracking.similarity import box_iou


@dataclass
class _IoUTrack:
    """Internal state of one track: last box, consecutive hits, frames since the last match."""

    box: np.ndarray  # (4,) xyxy, the most recent matched box
    hits: int  # consecutive frames matched (tracks with hits < min_hits are tentative)
    missed: int  # frames since the last match
    track_id: int | None  # None while tentative: ids are handed out only at confirmation


def hungarian_match(
    similarity: np.ndarray, min_similarity: float, allowed: np.ndarray | None = None
) -> tuple[list[tuple[int, int]], list[int], list[int]]:
    """Maximum-total-similarity one-to-one matching among the allowed pairs.

    similarity: ``(N, M)`` rows (e.g. detections) × columns (e.g. tracks), in ``[0, 1]``. allowed:
    ``(N, M)`` bool mask of the pairs that may match; by default those with ``similarity ≥
    min_similarity``. Returns ``(pairs, unmatched_rows, unmatched_cols)`` with ``pairs`` as
    ``(row, col)``, sorted by row.
    """
    n, m = similarity.shape
    if n == 0 or m == 0:
        return [], list(range(n)), list(range(m))
    ok = similarity >= min_similarity if allowed is None else allowed
    # Forbidden pairs get a cost that no allowed pair can beat, then are dropped after solving;
    # solving on 1 - similarity keeps the cost non-negative for similarities in [0, 1].
    cost = np.where(ok, 1.0 - similarity, 1e6)
    rows, cols = linear_sum_assignment(cost)
    pairs = [(int(r), int(c)) for r, c in zip(rows, cols, strict=True) if ok[r, c]]
    matched_rows = {r for r, _ in pairs}
    matched_cols = {c for _, c in pairs}
    return (
        sorted(pairs),
        [r for r in range(n) if r not in matched_rows],
        [c for c in range(m) if c not in matched_cols],
    )


class IoUTracker(BaseTracker):
    """Frame-to-frame IoU association with track birth and death (``base.Tracker``).

    Each ``update``: the people are matched to the live tracks by the Hungarian algorithm on
    ``1 − IoU`` (people × tracks' last boxes); a pair needs IoU ≥ ``min_iou``. A matched track takes
    the person's box. An unmatched person starts a new track. A track unmatched for more than
    ``max_age`` consecutive frames dies; ids are never reused within one video (until ``reset``).

    With ``min_hits > 1`` a new track is *tentative* until it has been matched in ``min_hits``
    consecutive frames (counting its first): tentative people are left out of ``update``'s output
    (they are not returned at all, since every returned instance must carry a track id), and a
    tentative track that misses one frame is dropped. Ids are handed out at confirmation, in
    order, so ids of tracks that never confirmed are not skipped. ``min_hits=1`` (default) reports
    every person from its first frame.
    """

    predicts_boxes = True  # ``predict`` gives next-frame boxes (--det-every)

    def __init__(self, *, min_iou: float = 0.3, max_age: int = 5, min_hits: int = 1) -> None:
        if not 0.0 <= min_iou <= 1.0:
            raise ValueError(f"min_iou must be in [0, 1], got {min_iou}")
        if max_age < 0 or min_hits < 1:
            raise ValueError(f"need max_age >= 0 and min_hits >= 1, got {max_age}, {min_hits}")
        self.min_iou = min_iou  # smallest IoU that may link a person to a track
        self.max_age = max_age  # frames a track survives without a match
        self.min_hits = min_hits  # consecutive matches before a track is confirmed and reported
        self._tracks: list[_IoUTrack] = []
        self._next_id = 0

    def reset(self) -> None:
        """Forget every track and restart ids at 0 (call between videos)."""
        self._tracks = []
        self._next_id = 0

    def predict(self) -> list[tuple[int, np.ndarray]]:
        """Each confirmed track matched in the last frame, with its last box ``(4,)`` xyxy.

        This tracker has no motion model, so the "prediction" for the next frame is the last box
        (same contract as ``ByteTracker.predict``, used to propagate boxes between detections).
        """
        return [(t.track_id, t.box.copy()) for t in self._tracks if t.track_id is not None and t.missed == 0]

    def assign(self, instances: list[PoseInstance]) -> list[tuple[int, int]]:
        """Associate one frame's people with the tracks; returns ``(row, track_id)`` of the reported ones.

        instances: people of this frame (``box`` ``(4,)`` xyxy is read). Reports them in input
        order, minus people on tentative tracks (see the class docstring).
        """
        boxes = np.array([np.asarray(p.box, dtype=np.float64) for p in instances]).reshape(-1, 4)
        track_boxes = np.array([t.box for t in self._tracks]).reshape(-1, 4)
        pairs, new_people, missed_tracks = hungarian_match(box_iou(boxes, track_boxes), self.min_iou)

        owner: dict[int, _IoUTrack] = {}
        for index, ti in pairs:
            track = self._tracks[ti]
            track.box = boxes[index]
            track.hits += 1
            track.missed = 0
            owner[index] = track
        for ti in missed_tracks:
            track = self._tracks[ti]
            track.missed += 1
            track.hits = 0 if track.track_id is None else track.hits
        # Tentative tracks die on their first miss; confirmed ones after max_age misses.
        self._tracks = [
            t
            for t in self._tracks
            if (t.track_id is None and t.missed == 0) or (t.track_id is not None and t.missed <= self.max_age)
        ]
        for index in new_people:
            born = _IoUTrack(box=boxes[index], hits=1, missed=0, track_id=None)
            self._tracks.append(born)
            owner[index] = born

        out: list[tuple[int, int]] = []
        for index in range(len(instances)):
            track = owner[index]
            if track.track_id is None and track.hits >= self.min_hits:
                track.track_id = self._next_id
                self._next_id += 1
            if track.track_id is not None:
                out.append((index, track.track_id))
        return out
