"""poseval's AP core: VOC all-point AP, 0-vs-NaN, head size, and the score-free greedy assignment."""

from __future__ import annotations

import math

import numpy as np
import pytest

from posecli.evaluation.posetrack_ap import APAccumulator, head_sizes, match_frame, nanmean_or_nan, voc_ap

HEAD = np.array([[0.0, 0.0, 30.0, 40.0]])  # head size 30 px


def test_voc_ap_hand_case() -> None:
    # Ranked labels 1, 0, 1 with 4 GT: recall .25 .25 .5, precision 1 .5 .667.
    # Envelope over mrec [0 .25 .25 .5 1]: mpre [1 1 .667 .667 0] -> AP = .25*1 + .25*.667 = 0.41667.
    ap, pre, rec = voc_ap(np.array([0.7, 0.9, 0.8]), np.array([True, True, False]), 4)
    assert ap == pytest.approx(100 * (0.25 + 0.25 * 2 / 3))
    assert pre == pytest.approx(200 / 3)
    assert rec == pytest.approx(50.0)


def test_voc_ap_ranks_by_score_descending() -> None:
    # The false positive ranked first halves the precision at the only recall step: AP 50.
    ap, _, _ = voc_ap(np.array([0.5, 0.9]), np.array([True, False]), 1)
    assert ap == pytest.approx(50.0)
    ap, _, _ = voc_ap(np.array([0.9, 0.5]), np.array([True, False]), 1)
    assert ap == pytest.approx(100.0)


def test_no_samples_gives_zero_even_without_gt() -> None:
    assert voc_ap(np.zeros(0), np.zeros(0, dtype=bool), 0) == (0.0, 0.0, 0.0)
    assert voc_ap(np.zeros(0), np.zeros(0, dtype=bool), 7) == (0.0, 0.0, 0.0)


def test_samples_without_gt_give_nan_ap_and_recall_but_zero_precision() -> None:
    ap, pre, rec = voc_ap(np.array([0.3, 0.2]), np.array([False, False]), 0)
    assert math.isnan(ap) and math.isnan(rec) and pre == 0.0


def test_pt21_recall_floor_gives_zero_instead_of_nan() -> None:
    assert voc_ap(np.array([0.3]), np.array([False]), 0, recall_floor=1) == (0.0, 0.0, 0.0)


def test_head_size_is_point_six_times_the_diagonal() -> None:
    assert head_sizes(HEAD)[0] == pytest.approx(30.0)


def _person(points: dict[int, tuple[float, float]]) -> tuple[np.ndarray, np.ndarray]:
    xy = np.zeros((15, 2))
    present = np.zeros(15, dtype=bool)
    for j, p in points.items():
        xy[j] = p
        present[j] = True
    return xy, present


def _stack(people: list[dict[int, tuple[float, float]]]) -> tuple[np.ndarray, np.ndarray]:
    pairs = [_person(p) for p in people]
    return np.stack([p[0] for p in pairs]), np.stack([p[1] for p in pairs])


def test_threshold_is_inclusive_at_half_the_head_size() -> None:
    gt_xy, gt_pr = _stack([{0: (100.0, 100.0), 1: (200.0, 100.0)}])
    pr_xy, pr_pr = _stack([{0: (115.0, 100.0), 1: (215.01, 100.0)}])  # 15 px = 0.5 matches; 15.01 does not
    m = match_frame(gt_xy, gt_pr, HEAD, pr_xy, pr_pr)
    assert m.dist[0, 0, 0] == pytest.approx(0.5)
    assert m.match[0, 0].tolist()[:2] == [True, False]


def test_zero_head_size_matches_nothing() -> None:
    gt_xy, gt_pr = _stack([{0: (100.0, 100.0)}])
    m = match_frame(gt_xy, gt_pr, np.array([[5.0, 5.0, 5.0, 5.0]]), gt_xy.copy(), gt_pr.copy())
    assert not m.match.any()
    assert m.assigned.tolist() == [-1]


def test_greedy_assignment_leaves_a_prediction_whose_best_gt_chose_another() -> None:
    g0 = {j: (100.0 + 20 * j, 100.0) for j in range(10)}
    g1 = {j: (100.0 + 20 * j, 600.0) for j in range(10)}
    p0 = dict(g0)  # PCKh 1.0 with g0
    p1 = {**{j: g0[j] for j in range(5)}, **{j: g1[j] for j in range(5, 9)}}  # 0.5 with g0, 0.4 with g1
    gt_xy, gt_pr = _stack([g0, g1])
    pr_xy, pr_pr = _stack([p0, p1])
    m = match_frame(gt_xy, gt_pr, np.repeat(HEAD, 2, axis=0), pr_xy, pr_pr)
    # p1 keeps only g0 (its row maximum); g0 takes p0; p1 stays unassigned although it matches g1.
    assert m.assigned.tolist() == [0, -1]
    assert m.labels[0, :10].all()
    assert not m.labels[1].any()
    assert m.match[1, 1, 5:9].all()


def test_greedy_ties_go_to_the_lowest_index() -> None:
    g0 = {0: (100.0, 100.0), 1: (120.0, 100.0)}
    g1 = {0: (100.0, 500.0), 1: (120.0, 500.0)}
    p0 = {0: g0[0], 1: g1[1]}  # PCKh 0.5 with both GTs: the lowest GT index wins
    gt_xy, gt_pr = _stack([g0, g1])
    pr_xy, pr_pr = _stack([p0])
    m = match_frame(gt_xy, gt_pr, np.repeat(HEAD, 2, axis=0), pr_xy, pr_pr)
    assert m.assigned.tolist() == [0]
    assert m.labels[0].tolist()[:2] == [True, False]


def test_predicted_joint_missing_from_the_assigned_gt_is_a_false_positive() -> None:
    gt_xy, gt_pr = _stack([{0: (100.0, 100.0)}])
    pr_xy, pr_pr = _stack([{0: (100.0, 100.0), 5: (300.0, 300.0)}])
    m = match_frame(gt_xy, gt_pr, HEAD, pr_xy, pr_pr)
    acc = APAccumulator()
    acc.add_frame(np.full((1, 15), 0.5), m.labels, pr_pr, gt_pr)
    result = acc.compute()
    assert result.ap[0] == pytest.approx(100.0)
    assert math.isnan(result.ap[5])  # a sample with no GT joint of that class: NaN, not 0
    assert result.ap[1] == 0.0  # no samples at all: 0
    assert result.num_samples[5] == 1 and result.num_gt[5] == 0


def test_nanmean_skips_nan_and_is_nan_when_all_are() -> None:
    assert nanmean_or_nan(np.array([np.nan, 50.0, 100.0])) == pytest.approx(75.0)
    assert math.isnan(nanmean_or_nan(np.full(3, np.nan)))


def test_column_tie_goes_to_the_lower_prediction_index_whatever_the_scores() -> None:
    g0 = {0: (100.0, 100.0), 1: (120.0, 100.0)}
    gt_xy, gt_pr = _stack([g0])
    pr_xy, pr_pr = _stack([g0, g0])  # two identical predictions: PCKh 1.0 each, a tie in g0's column
    m = match_frame(gt_xy, gt_pr, HEAD, pr_xy, pr_pr)
    # (a) both keep g0; (b) g0 takes the lowest p of its tied column: p0, although p1 scores higher.
    assert m.assigned.tolist() == [0, -1]
    assert m.labels[0, :2].all() and not m.labels[1].any()
    acc = APAccumulator()
    scores = np.stack([np.full(15, 0.5), np.full(15, 0.9)])  # the later prediction ranks first
    acc.add_frame(scores, m.labels, pr_pr, gt_pr)
    result = acc.compute()
    # Joint 0 ranked: (0.9, FP) then (0.5, TP), 1 GT: precision 0, 1/2; recall 0, 1 -> AP = 1 x 0.5 = 50.
    # (Had the score chosen the assignment, p1 would be the TP ranked first: AP 100.)
    assert result.ap[0] == pytest.approx(50.0) and result.ap[1] == pytest.approx(50.0)
    assert result.precision[0] == pytest.approx(50.0) and result.recall[0] == pytest.approx(100.0)
