"""What ``posecli eval`` reports: per-sequence pairing notes and the whole result, as a JSON-ready dict.

:class:`EvalResult` is returned by :func:`~posecli.evaluation.posetrack.evaluate_posetrack`; the
console tables (``posecli.evaluation.report``) and ``--json`` are both written from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from posecli.evaluation.mota import MOTMetrics
from posecli.evaluation.posetrack_ap import JointAP, nanmean_or_nan
from posecli.keypoints import POSEVAL_GROUPS, POSEVAL_JOINT_NAMES


@dataclass
class SequencePairing:
    """How one GT sequence was paired with its predictions, and what poseval would have done instead."""

    name: str
    gt_file: str
    pred_file: str | None
    num_frames: int
    num_evaluated: int
    problems: list[str] = field(default_factory=list)  # each makes poseval refuse or differ
    notes: list[str] = field(default_factory=list)  # worth saying, but poseval gives the same numbers

    def to_dict(self) -> dict[str, Any]:
        return {
            "sequence": self.name,
            "gt_file": self.gt_file,
            "pred_file": self.pred_file,
            "frames": self.num_frames,
            "evaluated_frames": self.num_evaluated,
            "problems": list(self.problems),
            "notes": list(self.notes),
        }


def _json_number(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else float(value)


def group_means(values: np.ndarray) -> dict[str, float]:
    """poseval's groups (Head, Shoulder, ..., Ankle): plain means of ``(15,)`` values, NaN propagating."""
    return {name: float(np.mean(values[list(ids)])) for name, ids in POSEVAL_GROUPS.items()}


@dataclass
class EvalResult:
    """Everything ``posecli eval`` reports. ``ap`` is None unless AP was asked for, ``mot`` likewise."""

    mode: str
    ap: JointAP | None
    mot: MOTMetrics | None
    num_gt_frames: int
    num_sequences: int
    gt_fingerprint: str
    pairing: list[SequencePairing] = field(default_factory=list)
    unused_predictions: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    per_sequence: dict[str, EvalResult] = field(default_factory=dict)
    oks: dict[str, float] | None = None  # COCO OKS AP/AR (x 100) when asked for

    @property
    def total_ap(self) -> float:
        """Total AP: the NaN-skipping mean of the 15 joint APs (NaN when AP was not computed)."""
        return self.ap.total_ap if self.ap is not None else float("nan")

    @property
    def total_mota(self) -> float:
        return self.mot.total_mota if self.mot is not None else float("nan")

    @property
    def poseval_compatible(self) -> bool:
        return not self.reasons

    @property
    def reasons(self) -> list[str]:
        """Why poseval would refuse this input or give other numbers (empty when it would agree)."""
        out = [f"{p.name}: {problem}" for p in self.pairing for problem in p.problems]
        out += [
            f"{name}: prediction not used (no GT sequence of that name)" for name in self.unused_predictions
        ]
        return out

    def metrics(self) -> dict[str, float]:
        """Flat ``{"ap/total": ..., "ap/Head": ..., "mota/total": ...}`` (NaN where undefined)."""
        out: dict[str, float] = {}
        if self.ap is not None:
            out["ap/total"] = self.total_ap
            out.update({f"ap/{k}": v for k, v in group_means(self.ap.ap).items()})
            out["ap/precision"] = nanmean_or_nan(self.ap.precision)
            out["ap/recall"] = nanmean_or_nan(self.ap.recall)
        if self.mot is not None:
            out["mota/total"] = self.total_mota
            out.update({f"mota/{k}": v for k, v in group_means(self.mot.mota).items()})
            out["motp/total"] = nanmean_or_nan(self.mot.motp)
            out["mot/precision"] = nanmean_or_nan(self.mot.precision)
            out["mot/recall"] = nanmean_or_nan(self.mot.recall)
        if self.oks is not None:
            out.update({f"oks/{k}": v for k, v in self.oks.items()})
        return out

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (NaN as ``None``): per-joint values in poseval id order with names, groups,
        totals, MOT counts per joint, the pairing report, frame/sequence counts and the GT fingerprint."""
        from posecli import __version__

        joints: list[dict[str, Any]] = []
        for j, name in enumerate(POSEVAL_JOINT_NAMES):
            row: dict[str, Any] = {"id": j, "name": name}
            if self.ap is not None:
                row.update(
                    ap=_json_number(self.ap.ap[j]),
                    ap_precision=_json_number(self.ap.precision[j]),
                    ap_recall=_json_number(self.ap.recall[j]),
                    num_gt=int(self.ap.num_gt[j]),
                    num_predicted=int(self.ap.num_samples[j]),
                    tied_scores=int(self.ap.ties[j]),
                )
            if self.mot is not None:
                c = self.mot.counts[j]
                row.update(
                    mota=_json_number(self.mot.mota[j]),
                    motp=_json_number(self.mot.motp[j]),
                    mot_precision=_json_number(self.mot.precision[j]),
                    mot_recall=_json_number(self.mot.recall[j]),
                    matches=c.matches,
                    switches=c.switches,
                    misses=c.misses,
                    false_positives=c.false_positives,
                    objects=c.objects,
                    detections=c.detections,
                    sum_distance=c.sum_distance,
                )
            joints.append(row)
        out: dict[str, Any] = {
            "mode": self.mode,
            "posecli_version": __version__,
            "num_gt_frames": self.num_gt_frames,
            "num_sequences": self.num_sequences,
            "gt_fingerprint": self.gt_fingerprint,
            "joints": joints,
        }
        if self.ap is not None:
            out["ap"] = {
                "groups": {k: _json_number(v) for k, v in group_means(self.ap.ap).items()},
                "total": _json_number(self.total_ap),
                "precision_total": _json_number(nanmean_or_nan(self.ap.precision)),
                "recall_total": _json_number(nanmean_or_nan(self.ap.recall)),
            }
            if self.mode == "posetrack21":
                # The PT21 kit prints precision and recall rows per group too (poseval prints neither).
                out["ap"]["precision_groups"] = {
                    k: _json_number(v) for k, v in group_means(self.ap.precision).items()
                }
                out["ap"]["recall_groups"] = {
                    k: _json_number(v) for k, v in group_means(self.ap.recall).items()
                }
        if self.mot is not None:
            out["mot"] = {
                "mota_groups": {k: _json_number(v) for k, v in group_means(self.mot.mota).items()},
                "mota_total": _json_number(self.total_mota),
                "motp_total": _json_number(nanmean_or_nan(self.mot.motp)),
                "precision_total": _json_number(nanmean_or_nan(self.mot.precision)),
                "recall_total": _json_number(nanmean_or_nan(self.mot.recall)),
            }
        if self.oks is not None:
            out["oks"] = {k: _json_number(v) for k, v in self.oks.items()}
        out["poseval_compatible"] = self.poseval_compatible
        out["reasons"] = self.reasons
        out["notes"] = list(self.notes)
        out["pairing"] = {
            "sequences": [p.to_dict() for p in self.pairing],
            "unused_predictions": list(self.unused_predictions),
        }
        if self.per_sequence:
            out["per_sequence"] = {name: r.to_dict() for name, r in self.per_sequence.items()}
        return out
