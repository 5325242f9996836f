"""COCO-style OKS keypoint AP on PoseTrack data, through pycocotools (``shared/spec/posetrack.md`` §10).

This is *not* the PoseTrack mAP: COCO scores whole poses per image, ranks them by one person score
and averages AP over OKS thresholds 0.50:0.05:0.95. It is offered for users who want COCO numbers too.

Choices, documented because they change the numbers:

* **Sigmas** (:data:`POSETRACK_OKS_SIGMAS`): COCO's per-slot sigmas, with head_bottom and head_top
  reusing the COCO eye sigma 0.025 and the (never annotated) ears 0.035, as mmpose's posetrack18
  config does. openpifpaf's posetrack plugin uses 0.08 / 0.06 instead.
* **Area** (the OKS scale s²): the GT person box ``w * h`` (PoseTrack GT has no ``area``; this is what
  xtcocotools does with ``use_area`` off). 2017 files have no person box, so the extent of the GT
  joints stands in.
* **Frames and ignore regions**: the frames poseval evaluates (GT people present), after poseval's
  cleanup (points inside ignore regions deleted). GT persons without joints are ignored by COCO.
* **Person score**: the prediction's ``score`` when the file has one, else the mean of its joint scores.
"""

from __future__ import annotations

import contextlib
import io
import math
from pathlib import Path
from typing import Any

import numpy as np
import shapely

from posecli.errors import PoseCliError
from posecli.evaluation.formats import NUM_JOINTS, list_json_files, read_sequences
from posecli.evaluation.pairing import PredictionSource, pair_frames
from posecli.evaluation.posetrack import cleanup_frame
from posecli.evaluation.result import SequencePairing
from posecli.keypoints import POSETRACK_KEYPOINTS, SLOT_OF_POSEVAL_ID

# Per 17-slot sigma: nose, head_bottom, head_top, ears, shoulders, elbows, wrists, hips, knees, ankles.
POSETRACK_OKS_SIGMAS = np.array(
    [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
     0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089]
)  # fmt: skip

OKS_METRIC_NAMES = ("AP", "AP50", "AP75", "AP_M", "AP_L", "AR", "AR50", "AR75", "AR_M", "AR_L")

_SLOTS = np.asarray([SLOT_OF_POSEVAL_ID[j] for j in range(NUM_JOINTS)])


def _to_slots(xy: np.ndarray, present: np.ndarray) -> list[float]:
    """``(15, 2)`` poseval-order joints → the flat 51-number COCO list (v = 2 where present)."""
    kps = np.zeros((17, 3))
    kps[_SLOTS, :2] = np.where(present[:, None], xy, 0.0)
    kps[_SLOTS, 2] = np.where(present, 2.0, 0.0)
    return kps.reshape(-1).tolist()


def _box(box: np.ndarray, xy: np.ndarray, present: np.ndarray) -> list[float]:
    """The person box ``x, y, w, h``; the joints' extent when the file gives none."""
    if np.isfinite(box).all():
        return box.tolist()
    if not present.any():
        return [0.0, 0.0, 0.0, 0.0]
    lo, hi = xy[present].min(axis=0), xy[present].max(axis=0)
    with np.errstate(over="ignore"):  # joints near +-1e308: an infinite extent, OKS 0
        return [float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])]


def evaluate_oks(pred: Path, gt: Path, *, sigmas: np.ndarray = POSETRACK_OKS_SIGMAS) -> dict[str, float]:
    """COCO keypoint AP/AR (x 100) of PoseTrack predictions; keys :data:`OKS_METRIC_NAMES`.

    pred, gt: folders of per-sequence files or single files (2017 or 2018 format), paired as in
    :func:`~posecli.evaluation.posetrack.evaluate_posetrack`. sigmas: ``(17,)`` per-slot OKS sigmas.
    """
    try:
        from pycocotools.coco import COCO
        from pycocotools.cocoeval import COCOeval
    except ImportError:  # pragma: no cover - a declared dependency
        raise PoseCliError("--metrics oks: pycocotools is not installed (pip install pycocotools)") from None

    source = PredictionSource(Path(pred), None, require_categories=False)
    gt_path = Path(gt)
    images: list[dict[str, Any]] = []
    gt_anns: list[dict[str, Any]] = []
    dt_anns: list[dict[str, Any]] = []
    for gt_file in list_json_files(gt_path):
        for seq in read_sequences(
            gt_file, role="gt", require_categories=False, name_from_stem=gt_path.is_dir()
        ):
            pairing = SequencePairing(seq.name, str(gt_file), None, len(seq.frames), 0)
            for gt_frame, pr_frame in zip(
                seq.frames, pair_frames(seq, source.find(seq), pairing), strict=True
            ):
                if gt_frame.num_people == 0:
                    continue
                image_id = len(images) + 1
                images.append({"id": image_id, "file_name": gt_frame.image_name})
                polygons = [shapely.Polygon(r) for r in gt_frame.ignore_regions]
                g = cleanup_frame(gt_frame, polygons, "poseval")
                for n, src in enumerate(g.source):
                    box = _box(gt_frame.boxes[src], g.xy[n], g.present[n])
                    gt_anns.append({
                        "id": len(gt_anns) + 1, "image_id": image_id, "category_id": 1, "iscrowd": 0,
                        "keypoints": _to_slots(g.xy[n], g.present[n]),
                        "num_keypoints": int(g.present[n].sum()), "bbox": box, "area": float(box[2] * box[3]),
                    })  # fmt: skip
                p = cleanup_frame(pr_frame, polygons, "poseval")
                for n, src in enumerate(p.source):
                    score = float(pr_frame.person_scores[src])
                    if not math.isfinite(score):
                        with np.errstate(over="ignore"):  # scores near 1e308 average to inf
                            score = float(p.scores[n][p.present[n]].mean()) if p.present[n].any() else 0.0
                    box = _box(pr_frame.boxes[src], p.xy[n], p.present[n])
                    dt_anns.append({
                        "id": len(dt_anns) + 1, "image_id": image_id, "category_id": 1, "score": score,
                        "keypoints": _to_slots(p.xy[n], p.present[n]), "bbox": box,
                        "area": float(box[2] * box[3]),
                    })  # fmt: skip
    if not dt_anns or not gt_anns:
        return {name: 0.0 for name in OKS_METRIC_NAMES}
    category = {"id": 1, "name": "person", "keypoints": list(POSETRACK_KEYPOINTS), "skeleton": []}
    # pycocotools prints progress to stdout; coordinates near the float limit overflow in its OKS
    # (squared distances, areas) to inf or NaN, which scores 0 as intended: no numpy warning lines.
    with contextlib.redirect_stdout(io.StringIO()), np.errstate(over="ignore", invalid="ignore"):
        coco_gt = COCO()
        coco_gt.dataset = {"images": images, "annotations": gt_anns, "categories": [category]}
        coco_gt.createIndex()
        coco_dt = COCO()
        coco_dt.dataset = {"images": images, "annotations": dt_anns, "categories": [category]}
        coco_dt.createIndex()
        evaluator = COCOeval(coco_gt, coco_dt, "keypoints")
        evaluator.params.kpt_oks_sigmas = np.asarray(sigmas, dtype=np.float64)
        evaluator.evaluate()
        evaluator.accumulate()
        evaluator.summarize()
    # COCOeval reports -1 where a range has no GT; keep that as NaN.
    return {
        name: (100.0 * float(v) if v >= 0 else float("nan"))
        for name, v in zip(OKS_METRIC_NAMES, evaluator.stats)
    }
