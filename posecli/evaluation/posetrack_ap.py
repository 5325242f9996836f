"""poseval's per-joint PCKh AP, vectorised (``shared/spec/posetrack.md`` §4–§6, §9).

Per evaluated frame, :func:`match_frame` builds the ``(P, G, 15)`` normalised distance tensor, the
PCKh matrix and poseval's greedy, score-free assignment in numpy. :class:`APAccumulator` keeps only
per-joint (score, label) samples and GT counts, and :func:`voc_ap` ranks them with numpy's default
``argsort(scores)[::-1]`` and computes VOC all-point AP exactly as poseval's ``computeRPC``/``VOCap``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from posecli.evaluation.formats import NUM_JOINTS

PCKH_THRESHOLD = 0.5  # d / head size; head size is 0.6 x the head-box diagonal
HEAD_SIZE_FACTOR = 0.6


def head_sizes(heads: np.ndarray) -> np.ndarray:
    """poseval's head size: ``0.6 * ||(x2 - x1, y2 - y1)||``.

    heads: ``(G, 4)`` ``x1, y1, x2, y2``. Returns ``(G,)`` float64.
    """
    return HEAD_SIZE_FACTOR * np.hypot(heads[:, 2] - heads[:, 0], heads[:, 3] - heads[:, 1])


@dataclass
class FrameMatch:
    """The outcome of matching one frame's predictions against its GT.

    dist: ``(P, G, 15)`` distance / head size, ``inf`` where the joint is absent from either person.
    match: ``(P, G, 15)`` bool, ``dist <= 0.5``. assigned: ``(P,)`` GT index of each prediction or -1.
    labels: ``(P, 15)`` bool, the true-positive flag of each predicted joint's sample.
    """

    dist: np.ndarray
    match: np.ndarray
    assigned: np.ndarray
    labels: np.ndarray


def match_frame(
    gt_xy: np.ndarray,
    gt_present: np.ndarray,
    gt_heads: np.ndarray,
    pr_xy: np.ndarray,
    pr_present: np.ndarray,
) -> FrameMatch:
    """Distances, PCKh and poseval's greedy assignment for one frame (``assignGTmulti``).

    gt_xy: ``(G, 15, 2)``; gt_present: ``(G, 15)`` bool; gt_heads: ``(G, 4)`` head boxes;
    pr_xy: ``(P, 15, 2)``; pr_present: ``(P, 15)`` bool. With G == 0 or P == 0 nothing matches.
    """
    num_pr, num_gt = pr_xy.shape[0], gt_xy.shape[0]
    if num_pr == 0 or num_gt == 0:
        return FrameMatch(
            dist=np.full((num_pr, num_gt, NUM_JOINTS), np.inf),
            match=np.zeros((num_pr, num_gt, NUM_JOINTS), dtype=bool),
            assigned=np.full(num_pr, -1, dtype=np.int64),
            labels=np.zeros((num_pr, NUM_JOINTS), dtype=bool),
        )
    both = pr_present[:, None, :] & gt_present[None, :, :]  # (P, G, 15)
    with np.errstate(over="ignore", divide="ignore", invalid="ignore"):
        # Coordinates near the float limit (1e308) overflow to an infinite distance: no match, as in
        # poseval. A zero head size gives inf (or NaN for a zero distance): it matches nothing either.
        pixel = np.linalg.norm(pr_xy[:, None, :, :] - gt_xy[None, :, :, :], axis=-1)  # (P, G, 15)
        dist = np.where(both, pixel / head_sizes(gt_heads)[None, :, None], np.inf)
        match = both & (dist <= PCKH_THRESHOLD)
        gt_count = gt_present.sum(axis=1)  # (G,)
        pck = np.where(gt_count[None, :] > 0, match.sum(axis=2) / gt_count[None, :], 0.0)  # (P, G)

    # (a) Each prediction keeps only its best GT (argmax: lowest index wins ties); scores play no part.
    best_gt = np.argmax(pck, axis=1)  # (P,)
    kept = np.zeros_like(pck)
    rows = np.arange(num_pr)
    kept[rows, best_gt] = pck[rows, best_gt]
    # (b) Each GT takes the prediction with the largest remaining value, if > 0 (lowest index on ties).
    best_pr = np.argmax(kept, axis=0)  # (G,)
    taken = kept[best_pr, np.arange(num_gt)] > 0
    assigned = np.full(num_pr, -1, dtype=np.int64)
    assigned[best_pr[taken]] = np.nonzero(taken)[0]
    labels = np.zeros((num_pr, NUM_JOINTS), dtype=bool)
    hit = assigned >= 0
    labels[hit] = match[np.nonzero(hit)[0], assigned[hit]]
    return FrameMatch(dist=dist, match=match, assigned=assigned, labels=labels & pr_present)


def voc_ap(
    scores: np.ndarray, labels: np.ndarray, num_gt: int, recall_floor: int = 0
) -> tuple[float, float, float]:
    """AP, final precision and final recall (all x 100) of one joint class, as poseval computes them.

    scores: ``(N,)`` float64; labels: ``(N,)`` bool, in concatenation order. num_gt: GT joints of the
    class. recall_floor: 1 gives the PT21 kit's ``max(nGT, 1)`` denominator; 0 is poseval's.
    No samples → (0, 0, 0); samples but no GT (poseval) → (NaN, 0, NaN).
    """
    if scores.shape[0] == 0:
        return 0.0, 0.0, 0.0
    order = np.asarray(scores, dtype=np.float64).argsort()[::-1]  # numpy default sort, not stable
    true_pos = np.cumsum(labels[order].astype(np.int64))
    denominator = max(num_gt, recall_floor)
    with np.errstate(divide="ignore", invalid="ignore"):
        recall = true_pos / np.float64(denominator)
    precision = true_pos / np.arange(1, true_pos.shape[0] + 1, dtype=np.float64)
    mrec = np.concatenate([[0.0], recall, [1.0]])
    mpre = np.concatenate([[0.0], precision, [0.0]])
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]  # precision envelope, right to left
    steps = np.nonzero(mrec[1:] != mrec[:-1])[0] + 1  # NaN != NaN keeps NaN recall, so AP is NaN
    ap = float(np.sum((mrec[steps] - mrec[steps - 1]) * mpre[steps]))
    return 100.0 * ap, 100.0 * float(precision[-1]), 100.0 * float(recall[-1])


@dataclass
class JointAP:
    """Per-joint AP results (poseval id order, all x 100): ``ap``, ``precision``, ``recall`` each ``(15,)``,
    ``num_gt`` ``(15,)`` GT joint counts, ``num_samples`` ``(15,)`` predicted joints, ``ties`` ``(15,)``
    tied-score counts."""

    ap: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    num_gt: np.ndarray
    num_samples: np.ndarray
    ties: np.ndarray

    @property
    def total_ap(self) -> float:
        return nanmean_or_nan(self.ap)


def nanmean_or_nan(values: np.ndarray) -> float:
    """NaN-skipping mean; NaN (without a warning) when every value is NaN."""
    finite = values[~np.isnan(values)]
    return float(finite.mean()) if finite.size else float("nan")


@dataclass
class APAccumulator:
    """Collects per-joint (score, label) samples and GT counts, frame by frame, in poseval's order.

    Each :meth:`add_frame` appends ``(P, 15)`` arrays; samples of joint j are the rows where the
    predicted person has j. Memory is one float and one bool per predicted joint.
    """

    recall_floor: int = 0
    _scores: list[np.ndarray] = field(default_factory=list)
    _labels: list[np.ndarray] = field(default_factory=list)
    _present: list[np.ndarray] = field(default_factory=list)
    num_gt: np.ndarray = field(default_factory=lambda: np.zeros(NUM_JOINTS, dtype=np.int64))

    def add_frame(
        self, pr_scores: np.ndarray, labels: np.ndarray, pr_present: np.ndarray, gt_present: np.ndarray
    ) -> None:
        """pr_scores/labels/pr_present: ``(P, 15)``; gt_present: ``(G, 15)`` (after cleanup)."""
        self.num_gt += gt_present.sum(axis=0)
        if pr_scores.shape[0]:
            self._scores.append(pr_scores)
            self._labels.append(labels)
            self._present.append(pr_present)

    def extend(self, other: APAccumulator) -> None:
        """Append another accumulator's samples after this one's (sequence concatenation)."""
        self.num_gt += other.num_gt
        self._scores.extend(other._scores)
        self._labels.extend(other._labels)
        self._present.extend(other._present)

    def compute(self) -> JointAP:
        """Rank each joint's samples and compute VOC AP; see :func:`voc_ap`."""
        if self._scores:
            scores = np.concatenate(self._scores)  # (N, 15), sequences then frames then persons
            labels = np.concatenate(self._labels)
            present = np.concatenate(self._present)
        else:
            scores = np.zeros((0, NUM_JOINTS))
            labels = present = np.zeros((0, NUM_JOINTS), dtype=bool)
        out = np.zeros((3, NUM_JOINTS))
        samples = np.zeros(NUM_JOINTS, dtype=np.int64)
        ties = np.zeros(NUM_JOINTS, dtype=np.int64)
        for j in range(NUM_JOINTS):
            s = scores[present[:, j], j]
            out[:, j] = voc_ap(s, labels[present[:, j], j], int(self.num_gt[j]), self.recall_floor)
            samples[j] = s.shape[0]
            ties[j] = s.shape[0] - np.unique(s).shape[0]
        return JointAP(out[0], out[1], out[2], self.num_gt.copy(), samples, ties)
