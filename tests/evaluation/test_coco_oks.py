"""COCO OKS AP through pycocotools with the PoseTrack sigmas."""

from __future__ import annotations

import math

import pytest
from eval_cases import SEQ, A, B, gt_person, pr_person

from posecli.evaluation import evaluate_posetrack
from posecli.evaluation.coco_oks import POSETRACK_OKS_SIGMAS, evaluate_oks
from posecli.evaluation.synthetic import SynthFrame, SynthPerson

pytest.importorskip("pycocotools")


def test_sigmas_reuse_the_eye_sigma_for_head_bottom_and_top() -> None:
    assert POSETRACK_OKS_SIGMAS.shape == (17,)
    assert POSETRACK_OKS_SIGMAS[1] == POSETRACK_OKS_SIGMAS[2] == 0.025


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
