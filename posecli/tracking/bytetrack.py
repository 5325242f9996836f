"""A ByteTrack-style pose tracker: two-stage score association, Kalman boxes, IoU + OKS cost, re-id.

The two-stage idea (associate confident people first, then try to explain the remaining tracks with
low-score people instead of throwing those away) is from ByteTrack (Zhang et al., ECCV 2022). Here
the association cost also uses the people's keypoints, and lost tracks can be re-identified by pose.

Per ``update`` (one frame):

1. every track's box is predicted one frame ahead by its constant-velocity Kalman filter
   (``kalman.BoxKalmanFilter``), and its last pose is moved along with the box;
2. **high-score people** (``score ≥ high_score``) are matched to all tracks (tracked, lost and
   tentative) on a similarity that mixes box IoU with keypoint OKS (see ``pose_weight``);
3. **low-score people** (``low_score ≤ score < high_score``) are matched to the tracks still
   unmatched that were tracked in the previous frame, on box IoU alone (their keypoints are the
   least reliable) with a stricter gate ``low_match_iou``;
4. **re-identification**: high-score people still unmatched are compared with the still unmatched
   lost tracks by pose *shape* (OKS after moving the track's last pose onto the person's box), for
   people near where the track was last seen or is predicted to be;
5. tracks not matched become lost; a lost track is kept for ``track_buffer`` frames, then removed;
6. remaining high-score people with ``score ≥ new_track_score`` start new tracks; remaining
   low-score people are dropped (not returned).

Tentative tracks (``min_hits > 1``) are handled as in ``iou.IoUTracker``: their people are not
returned until the track has ``min_hits`` consecutive matches, ids are given at confirmation, and a
tentative track dies on its first miss. Ids are never reused until ``reset``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from posecli.structures import PoseInstance
from posecli.tracking.base import BaseTracker
from posecli.tracking.iou import hungarian_match
from posecli.tracking.kalman import BoxKalmanFilter, cxcywh_to_xyxy
from posecli.tracking.similarity import align_pose, box_area, box_centers, box_iou, has_pose, oks_matrix


@dataclass
class _Track:
    """One track's state. ``box``/``keypoints`` are the last *observed* ones; ``mean``/``cov`` the filter's."""

    mean: np.ndarray  # (8,) cx, cy, w, h, vcx, vcy, vw, vh
    cov: np.ndarray  # (8, 8)
    box: np.ndarray  # (4,) xyxy last matched box
    keypoints: np.ndarray | None  # (K, 3) last matched pose with scored joints, or None
    track_id: int | None  # None while tentative
    hits: int = 1  # consecutive matched frames
    lost: int = 0  # frames since the last match (0 = tracked this frame)

    @property
    def predicted_box(self) -> np.ndarray:
        """``(4,)`` xyxy box of the current filter mean."""
        return cxcywh_to_xyxy(self.mean)

    def predicted_pose(self) -> np.ndarray | None:
        """The last pose ``(K, 3)`` moved from the last observed box onto the predicted box."""
        if self.keypoints is None:
            return None
        return align_pose(self.keypoints, self.box, self.predicted_box)


class ByteTracker(BaseTracker):
    """Two-stage (high/low score) tracker with Kalman-predicted boxes and pose-aware costs.

    See the module docstring for the per-frame steps. Arguments (keyword-only):

    - ``high_score`` / ``low_score``: person-score split of the two association stages; people
      below ``low_score`` are ignored.
    - ``new_track_score``: least score to start a track (higher than ``high_score`` so that
      borderline people extend tracks but do not create them).
    - ``match_similarity``: a stage-2 pair may match when its IoU *or* its mixed similarity reaches
      this (0.2 ↔ ByteTrack's 0.8 cost gate); among allowed pairs the mixed similarity decides. So a
      pose change (a jump, a fall) never blocks a match that the boxes alone would make.
    - ``low_match_iou``: least IoU for a stage-3 (low-score) match.
    - ``pose_weight``: weight ``w`` of OKS in ``similarity = (1 − w)·IoU + w·OKS``, used when both the
      person and the track have scored keypoints (otherwise IoU alone). 0.5 weighs overlap and pose
      equally: during a crossing the boxes of two people overlap strongly, but their joints stay apart.
      OKS uses the PoseTrack sigmas (``similarity.POSETRACK_SIGMAS``) and the predicted box area.
    - ``track_buffer``: frames a lost track is kept for re-association and re-identification.
    - ``reid_similarity``: least pose-shape OKS to re-identify a lost track.
    - ``reid_distance``: re-identification radius, in track box heights, around the track's last
      observed and its predicted centre; the person's box height must also be within 0.5–2× the
      track's. Larger changes (a flip) are left to ``stitch.stitch_tracklets``.
    - ``min_hits``: consecutive matches before a track is reported (1 = at once).
    - ``kalman``: the box filter (its noise settings).
    """

    predicts_boxes = True  # ``predict`` gives next-frame boxes (--det-every)

    def __init__(
        self,
        *,
        high_score: float = 0.5,
        low_score: float = 0.1,
        new_track_score: float = 0.6,
        match_similarity: float = 0.2,
        low_match_iou: float = 0.5,
        pose_weight: float = 0.5,
        track_buffer: int = 30,
        reid_similarity: float = 0.5,
        reid_distance: float = 1.5,
        min_hits: int = 1,
        kalman: BoxKalmanFilter | None = None,
    ) -> None:
        if not 0.0 <= low_score <= high_score <= 1.0:
            raise ValueError(f"need 0 <= low_score <= high_score <= 1, got {low_score}, {high_score}")
        if not 0.0 <= pose_weight <= 1.0:
            raise ValueError(f"pose_weight must be in [0, 1], got {pose_weight}")
        if track_buffer < 0 or min_hits < 1:
            raise ValueError(f"need track_buffer >= 0 and min_hits >= 1, got {track_buffer}, {min_hits}")
        self.high_score = high_score
        self.low_score = low_score
        self.new_track_score = new_track_score
        self.match_similarity = match_similarity
        self.low_match_iou = low_match_iou
        self.pose_weight = pose_weight
        self.track_buffer = track_buffer
        self.reid_similarity = reid_similarity
        self.reid_distance = reid_distance
        self.min_hits = min_hits
        self.kalman = kalman if kalman is not None else BoxKalmanFilter()
        self._tracks: list[_Track] = []
        self._next_id = 0

    def reset(self) -> None:
        """Forget every track and restart ids at 0 (call between videos)."""
        self._tracks = []
        self._next_id = 0

    def predict(self) -> list[tuple[int, np.ndarray]]:
        """Predicted box of each confirmed, currently tracked track for the *next* frame.

        Returns ``[(track_id, box (4,) xyxy)]``; lost and tentative tracks are left out. Does not
        change the tracker: call it before ``update`` of a frame without detections, run the pose
        model on these boxes and pass the resulting people to ``update`` (``--det-every K``).
        """
        out = []
        for track in self._tracks:
            if track.track_id is not None and track.lost == 0:
                mean, _ = self.kalman.predict(track.mean, track.cov)
                out.append((track.track_id, cxcywh_to_xyxy(mean)))
        return out

    def _similarity(
        self, people: list[PoseInstance], tracks: list[_Track], pose: bool
    ) -> tuple[np.ndarray, np.ndarray]:
        """``(iou, mixed)``, both ``(P, T)``: box IoU of people to the tracks' predicted boxes, and the
        IoU mixed with OKS to the tracks' predicted poses where both sides have poses (IoU elsewhere)."""
        boxes = np.array([np.asarray(p.box, dtype=np.float64) for p in people]).reshape(-1, 4)
        predicted = np.array([t.predicted_box for t in tracks]).reshape(-1, 4)
        iou = box_iou(boxes, predicted)
        sim = iou.copy()
        if not pose or self.pose_weight == 0.0 or sim.size == 0:
            return iou, sim
        person_has = np.array([has_pose(p.keypoints) for p in people])
        track_poses = [t.predicted_pose() for t in tracks]
        track_has = np.array([has_pose(k) for k in track_poses])
        if not person_has.any() or not track_has.any():
            return iou, sim
        pi, ti = np.flatnonzero(person_has), np.flatnonzero(track_has)
        oks, valid = oks_matrix(
            np.stack([np.asarray(people[i].keypoints, dtype=np.float64) for i in pi]),  # (P', K, 3)
            np.stack([p for i in ti if (p := track_poses[i]) is not None]),  # (T', K, 3)
            box_area(predicted[ti]),
        )
        block = sim[np.ix_(pi, ti)]
        sim[np.ix_(pi, ti)] = np.where(valid, (1 - self.pose_weight) * block + self.pose_weight * oks, block)
        return iou, sim

    def _reid_similarity(self, people: list[PoseInstance], tracks: list[_Track]) -> np.ndarray:
        """``(P, T)`` pose-shape OKS of people to lost tracks, 0 outside the spatial gate or without poses."""
        sim = np.zeros((len(people), len(tracks)))
        for i, person in enumerate(people):
            if not has_pose(person.keypoints):
                continue
            box = np.asarray(person.box, dtype=np.float64)
            centre = box_centers(box)[0]
            for j, track in enumerate(tracks):
                if track.keypoints is None:
                    continue
                height = max(float(track.box[3] - track.box[1]), 1.0)
                ratio = max(float(box[3] - box[1]), 1.0) / height
                near = min(
                    np.linalg.norm(centre - box_centers(track.box)[0]),
                    np.linalg.norm(centre - track.mean[:2]),
                )
                # Same person ⇒ similar size and not far from where it was or was heading.
                if near > self.reid_distance * height or not 0.5 <= ratio <= 2.0:
                    continue
                shape = align_pose(track.keypoints, track.box, box)[None]  # (1, K, 3)
                oks, valid = oks_matrix(
                    np.asarray(person.keypoints, dtype=np.float64)[None], shape, box_area(box)
                )
                sim[i, j] = oks[0, 0] if valid[0, 0] else 0.0
        return sim

    def _match(self, track: _Track, person: PoseInstance, restart: bool) -> None:
        """Correct ``track`` with ``person``'s box and remember the person's pose.

        ``restart``: re-identified away from the prediction, so the velocity the filter coasted on
        is wrong; the filter restarts at the new box instead of being pulled towards it.
        """
        box = np.asarray(person.box, dtype=np.float64)
        if restart:
            track.mean, track.cov = self.kalman.initiate(box)
        else:
            track.mean, track.cov = self.kalman.update(track.mean, track.cov, box)
        track.box = box
        if has_pose(person.keypoints):
            track.keypoints = np.asarray(person.keypoints, dtype=np.float64)
        track.hits += 1
        track.lost = 0

    def assign(self, instances: list[PoseInstance]) -> list[tuple[int, int]]:
        """Associate one frame's people with the tracks; returns ``(row, track_id)`` of the reported ones.

        instances: this frame's people; reads ``box`` ``(4,)``, ``score`` and ``keypoints`` ``(K, 3)``.
        Reports them in input order, minus people below ``low_score``, unmatched low-score people,
        unmatched people below ``new_track_score`` and people on tentative tracks.
        """
        # 1. Predict every track one frame ahead. Lost tracks keep moving but stop changing size.
        for track in self._tracks:
            if track.lost > 0:
                track.mean[6:8] = 0.0
            track.mean, track.cov = self.kalman.predict(track.mean, track.cov)

        high = [i for i, p in enumerate(instances) if p.score >= self.high_score]
        low = [i for i, p in enumerate(instances) if self.low_score <= p.score < self.high_score]
        owner: dict[int, _Track] = {}

        # 2. Confident people against every track, on IoU mixed with OKS.
        pool = list(self._tracks)
        iou, sim = self._similarity([instances[i] for i in high], pool, pose=True)
        allowed = (iou >= self.match_similarity) | (sim >= self.match_similarity)
        pairs, rest_high, rest_tracks = hungarian_match(sim, self.match_similarity, allowed)
        for pi, ti in pairs:
            owner[high[pi]] = pool[ti]
        high = [high[i] for i in rest_high]
        pool = [pool[i] for i in rest_tracks]

        # 3. Low-score people against tracks that were tracked in the previous frame, IoU only.
        recent = [t for t in pool if t.lost == 0]
        iou, _ = self._similarity([instances[i] for i in low], recent, pose=False)
        pairs, _, _ = hungarian_match(iou, self.low_match_iou)
        for pi, ti in pairs:
            owner[low[pi]] = recent[ti]
        taken = {id(owner[low[pi]]) for pi, _ in pairs}
        pool = [t for t in pool if id(t) not in taken]

        # 4. Re-identify lost tracks by pose among the confident people still unmatched.
        lost = [t for t in pool if t.lost > 0 and t.track_id is not None]
        sim = self._reid_similarity([instances[i] for i in high], lost)
        pairs, rest_high, _ = hungarian_match(sim, self.reid_similarity)
        restarted = {high[pi] for pi, _ in pairs}
        for pi, ti in pairs:
            owner[high[pi]] = lost[ti]
        high = [high[i] for i in rest_high]

        for index, track in owner.items():
            self._match(track, instances[index], restart=index in restarted)

        # 5. Unmatched tracks: tentative ones die, confirmed ones become / stay lost until the buffer ends.
        matched = {id(t) for t in owner.values()}
        kept = []
        for track in self._tracks:
            if id(track) not in matched:
                track.lost += 1
                track.hits = 0
                if track.track_id is None or track.lost > self.track_buffer:
                    continue
            kept.append(track)
        self._tracks = kept

        # 6. Births from confident people nobody claimed.
        for index in high:
            person = instances[index]
            if person.score < self.new_track_score:
                continue
            box = np.asarray(person.box, dtype=np.float64)
            mean, cov = self.kalman.initiate(box)
            pose = np.asarray(person.keypoints, dtype=np.float64) if has_pose(person.keypoints) else None
            born = _Track(mean=mean, cov=cov, box=box, keypoints=pose, track_id=None)
            self._tracks.append(born)
            owner[index] = born

        out: list[tuple[int, int]] = []
        for index in range(len(instances)):
            found = owner.get(index)
            if found is None:
                continue
            if found.track_id is None and found.hits >= self.min_hits:
                found.track_id = self._next_id
                self._next_id += 1
            if found.track_id is not None:
                out.append((index, found.track_id))
        return out
