"""A native CLEAR-MOT accumulator that counts exactly what motmetrics 1.4.0's ``MOTAccumulator`` does.

poseval feeds one accumulator per sequence and joint (``shared/spec/posetrack.md`` §7) and reads
misses, switches, false positives, objects, detections and ``sumD`` — the NaN-skipping sum of the
distance column of motmetrics' *whole* event table. That table holds, besides MATCH/SWITCH distances,
a RAW event per finite (object, hypothesis) pair and extra copies for ASCEND, TRANSFER and MIGRATE
events, so :class:`MOTAccumulator` adds those too. No event table is kept: only counters and the
three maps motmetrics consults (``m``, ``res_m``, plus the ``last_match``/``hyp_history`` key sets).

Per frame (motmetrics' ``update``):
1. objects, in order, whose previous hypothesis is present, unused and at finite distance: MATCH;
2. the rest: ``scipy.optimize.linear_sum_assignment`` with NaN replaced by ``2 r c + 1`` (so the
   number of valid pairs is maximised first), pairs on NaN entries dropped; SWITCH if the object was
   last matched to another hypothesis, else MATCH;
3. unused objects are MISSes, unused hypotheses FPs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from posecli.evaluation.posetrack_ap import nanmean_or_nan


def _assign(costs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Minimum-cost pairs over finite entries, as motmetrics' scipy solver (``add_expensive_edges``).

    costs: ``(N, M)`` with NaN for forbidden pairs. Returns row and column indices of kept pairs.
    """
    if costs.size == 0:
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    valid = np.isfinite(costs)
    if valid.all():
        finite = costs
    elif not valid.any():
        return np.zeros(0, dtype=np.int64), np.zeros(0, dtype=np.int64)
    else:
        # A forbidden edge costs more than any assignment with one valid edge fewer could save.
        c = np.abs(costs[valid]).max() + 1
        finite = np.where(valid, costs, 2 * min(costs.shape) * c + 1)
    rows, cols = linear_sum_assignment(finite)
    keep = valid[rows, cols]
    return rows[keep], cols[keep]


@dataclass
class MOTCounts:
    """Summable CLEAR-MOT counts of one accumulator (or a sum of them)."""

    matches: int = 0
    switches: int = 0
    misses: int = 0
    false_positives: int = 0
    sum_distance: float = 0.0  # poseval's sumD: every finite D in motmetrics' event table

    @property
    def objects(self) -> int:
        return self.matches + self.switches + self.misses

    @property
    def detections(self) -> int:
        return self.matches + self.switches

    def __add__(self, other: MOTCounts) -> MOTCounts:
        return MOTCounts(
            self.matches + other.matches,
            self.switches + other.switches,
            self.misses + other.misses,
            self.false_positives + other.false_positives,
            self.sum_distance + other.sum_distance,
        )


@dataclass
class MOTAccumulator:
    """motmetrics-1.4.0-equivalent accumulator for one (sequence, joint); see the module docstring."""

    counts: MOTCounts = field(default_factory=MOTCounts)
    _m: dict[int, int] = field(default_factory=dict)  # object -> last paired hypothesis (never expires)
    _res_m: dict[int, int] = field(default_factory=dict)  # hypothesis -> last object paired in step 2
    _last_match: set[int] = field(default_factory=set)  # objects ever matched
    _hyp_history: set[int] = field(default_factory=set)  # hypotheses ever matched

    def update(self, oids: np.ndarray, hids: np.ndarray, dists: np.ndarray) -> None:
        """One frame.

        oids: ``(N,)`` object ids; hids: ``(M,)`` hypothesis ids; dists: ``(N, M)``, NaN = no pair.
        """
        oids = np.asarray(oids, dtype=np.int64)
        hids = np.asarray(hids, dtype=np.int64)
        dists = np.asarray(dists, dtype=np.float64).reshape(oids.shape[0], hids.shape[0]).copy()
        counts = self.counts
        finite = np.isfinite(dists)
        counts.sum_distance += float(dists[finite].sum())  # RAW events
        o_used = np.zeros(oids.shape[0], dtype=bool)
        h_used = np.zeros(hids.shape[0], dtype=bool)
        if oids.size and hids.size:
            # 1. Carry established tracks forward.
            for i, o in enumerate(oids.tolist()):
                if o not in self._m:
                    continue
                (candidates,) = np.nonzero(~h_used & (hids == self._m[o]))
                if candidates.size == 0:
                    continue
                j = int(candidates[0])
                if finite[i, j]:
                    o_used[i] = h_used[j] = True
                    counts.matches += 1
                    counts.sum_distance += dists[i, j]
                    self._last_match.add(o)
                    self._hyp_history.add(int(hids[j]))
            # 2. Minimum-cost assignment of the rest.
            dists[o_used, :] = np.nan
            dists[:, h_used] = np.nan
            for i, j in zip(*_assign(dists), strict=True):
                o, h, d = int(oids[i]), int(hids[j]), float(dists[i, j])
                if o in self._m and self._m[o] != h:
                    counts.switches += 1
                    if h not in self._hyp_history:
                        counts.sum_distance += d  # ASCEND event
                else:
                    counts.matches += 1
                if h in self._res_m and self._res_m[h] != o:
                    counts.sum_distance += d  # TRANSFER event
                    if o not in self._last_match:
                        counts.sum_distance += d  # MIGRATE event
                counts.sum_distance += d  # the MATCH/SWITCH event itself
                self._hyp_history.add(h)
                self._last_match.add(o)
                o_used[i] = h_used[j] = True
                self._m[o] = h
                self._res_m[h] = o
        # 3. Leftovers.
        counts.misses += int((~o_used).sum())
        counts.false_positives += int((~h_used).sum())


@dataclass
class MOTMetrics:
    """poseval's per-joint tracking numbers (x 100) from summed counts: each ``(15,)`` float64."""

    mota: np.ndarray
    motp: np.ndarray
    precision: np.ndarray
    recall: np.ndarray
    counts: list[MOTCounts]

    @property
    def total_mota(self) -> float:
        return nanmean_or_nan(self.mota)


def mot_metrics(counts: list[MOTCounts]) -> MOTMetrics:
    """MOTA, MOTP, precision and recall per joint, as poseval's ``evaluateTracking`` (§7).

    MOTP is 0 when there are no detections; every other zero denominator gives NaN.
    """
    n = len(counts)
    mota, motp, pre, rec = (np.full(n, np.nan) for _ in range(4))
    for j, c in enumerate(counts):
        if c.objects:
            mota[j] = 100.0 * (1.0 - (c.misses + c.switches + c.false_positives) / c.objects)
            rec[j] = 100.0 * c.detections / c.objects
        motp[j] = (
            0.0
            if c.detections == 0 or np.isnan(c.sum_distance)
            else 100.0 * (1.0 - c.sum_distance / c.detections)
        )
        if c.detections + c.false_positives:
            pre[j] = 100.0 * c.detections / (c.detections + c.false_positives)
    return MOTMetrics(mota, motp, pre, rec, list(counts))
