"""COCO OKS AP through pycocotools with the PoseTrack sigmas."""

from __future__ import annotations

import math

import pytest
from eval_cases import SEQ, A, B, gt_person, pr_person

from posecli.evaluation import evaluate_posetrack
from posecli.evaluation.coco_oks import POSETRACK_OKS_SIGMAS, evaluate_oks
from posecli.evaluation.synthetic import SynthFrame, SynthPerson

pytest.importorskip("pycocotools")


def test_the_sigmas_set_how_far_a_joint_may_stray(write_case) -> None:
    """A prediction 25 px off everywhere loses more AP with the PoseTrack sigmas than with 4x wider ones."""
    gt = [SynthFrame([gt_person(1, A), gt_person(2, B)]) for _ in range(2)]
    pred = [SynthFrame([pr_person(1, A, 0.9, dx=25.0), pr_person(2, B, 0.8, dx=25.0)]) for _ in range(2)]
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    tight = evaluate_oks(pred_dir, gt_dir)["AP"]
    wide = evaluate_oks(pred_dir, gt_dir, sigmas=POSETRACK_OKS_SIGMAS * 4)["AP"]
    assert tight < wide


def test_perfect_predictions_give_oks_ap_100(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A), gt_person(2, B)]) for _ in range(2)]
    pred = [SynthFrame([pr_person(1, A, 0.9), pr_person(2, B, 0.8)]) for _ in range(2)]
    result = evaluate_oks(*write_case({SEQ: gt}, {SEQ: pred}))
    assert result["AP"] == pytest.approx(100.0)
    assert result["AR"] == pytest.approx(100.0)


def test_far_predictions_give_zero_and_metrics_oks_is_reported(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A)]) for _ in range(2)]
    pred = [
        SynthFrame([SynthPerson(1, {j: (5.0, 5.0, 0.5) for j in range(15)}, score=0.5)]) for _ in range(2)
    ]
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    result = evaluate_posetrack(pred_dir, gt_dir, metrics=["ap", "oks"])
    assert result.oks is not None and result.oks["AP"] == 0.0
    assert result.mot is None and result.to_dict()["oks"]["AP"] == 0.0
    assert not math.isnan(result.total_ap)
