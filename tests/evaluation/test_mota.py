"""MOTA as poseval computes it: the native motmetrics-1.4.0 accumulator and poseval's frame handling."""

from __future__ import annotations

import math

import numpy as np
import pytest
from eval_cases import SEQ, A, B, gt_person, joints_at, pr_person

from posecli.evaluation import evaluate_posetrack
from posecli.evaluation.mota import MOTAccumulator, MOTCounts, mot_metrics
from posecli.evaluation.synthetic import SynthFrame, SynthPerson

NAN = np.nan


def test_carry_over_keeps_a_track_even_when_another_pairing_is_cheaper() -> None:
    acc = MOTAccumulator()
    acc.update([1], [10], [[0.1]])
    # Frame 2: object 1 is closer to 11, but its previous hypothesis 10 is still valid: MATCH with 10.
    acc.update([1], [10, 11], [[0.4, 0.0]])
    c = acc.counts
    assert (c.matches, c.switches, c.misses, c.false_positives) == (2, 0, 0, 1)


def test_switch_when_the_previous_hypothesis_cannot_pair() -> None:
    acc = MOTAccumulator()
    acc.update([1], [10], [[0.1]])
    acc.update([1], [10, 11], [[NAN, 0.2]])
    c = acc.counts
    assert (c.matches, c.switches, c.false_positives) == (1, 1, 1)


def test_assignment_maximises_valid_pairs_before_minimising_distance() -> None:
    # The cheapest single pair (1-10, 0.0) would leave object 2 unpaired; two pairs win.
    acc = MOTAccumulator()
    acc.update([1, 2], [10, 11], [[0.0, 0.4], [0.3, NAN]])
    assert acc.counts.matches == 2 and acc.counts.misses == 0


def test_sum_distance_counts_raw_ascend_transfer_and_migrate_events() -> None:
    acc = MOTAccumulator()
    # Frame 1: RAW 0.1 + RAW 0.2, MATCH 0.1 + MATCH 0.2.
    acc.update([1, 2], [10, 11], [[0.1, NAN], [NAN, 0.2]])
    assert acc.counts.sum_distance == pytest.approx(0.6)
    # Frame 2, ids crossed: RAW 0.3 + 0.4; 1->11 and 2->10 are SWITCHes (hyps seen before: no ASCEND),
    # and TRANSFERs (each hyp was last paired with the other object in step 2), objects matched before
    # (no MIGRATE): each pair adds its distance twice.
    acc.update([1, 2], [10, 11], [[NAN, 0.3], [0.4, NAN]])
    assert acc.counts.switches == 2
    assert acc.counts.sum_distance == pytest.approx(0.6 + 0.7 + 2 * 0.7)
    # Frame 3: a new object 3 takes hyp 12 (new): plain MATCH; then object 3 takes hyp 11, last paired
    # with object 1: SWITCH (3 was on 12) + TRANSFER; 11 was matched before (no ASCEND), 3 was matched
    # (no MIGRATE).
    fresh = MOTAccumulator()
    fresh.update([5], [20], [[0.1]])
    fresh.update([6], [20], [[0.2]])  # TRANSFER of hyp 20 to never-matched object 6: + MIGRATE
    assert fresh.counts.sum_distance == pytest.approx(0.1 * 2 + 0.2 * 4)
    fresh.update([5], [21], [[0.3]])  # object 5 switches to never-matched hyp 21: + ASCEND
    assert fresh.counts.switches == 1
    assert fresh.counts.sum_distance == pytest.approx(1.0 + 0.3 * 3)


def test_native_accumulator_equals_motmetrics_1_4_0_on_random_frames() -> None:
    mm = pytest.importorskip("motmetrics")
    rng = np.random.default_rng(0)
    for _ in range(60):
        reference = mm.MOTAccumulator(auto_id=True)
        native = MOTAccumulator()
        for _ in range(int(rng.integers(1, 7))):
            no, nh = int(rng.integers(0, 5)), int(rng.integers(0, 5))
            oids, hids = rng.choice(6, no, replace=False), rng.choice(6, nh, replace=False)
            d = rng.random((no, nh))
            d[rng.random((no, nh)) < 0.4] = np.nan
            reference.update(oids, hids, d)
            native.update(oids, hids, d)
        names = ["num_misses", "num_switches", "num_false_positives", "num_objects", "num_detections"]
        summary = mm.metrics.create().compute(reference, metrics=names, return_dataframe=False)
        c = native.counts
        assert [summary[n] for n in names] == [
            c.misses,
            c.switches,
            c.false_positives,
            c.objects,
            c.detections,
        ]
        assert c.sum_distance == pytest.approx(float(reference.events["D"].sum()))


def test_formulas_and_zero_denominators() -> None:
    m = mot_metrics(
        [MOTCounts(matches=3, switches=1, misses=1, false_positives=2, sum_distance=1.0), MOTCounts()]
    )
    assert m.mota[0] == pytest.approx(100 * (1 - 4 / 5))
    assert m.motp[0] == pytest.approx(100 * (1 - 1.0 / 4))
    assert m.precision[0] == pytest.approx(100 * 4 / 6) and m.recall[0] == pytest.approx(80.0)
    assert math.isnan(m.mota[1]) and math.isnan(m.precision[1]) and math.isnan(m.recall[1])
    assert m.motp[1] == 0.0  # MOTP is 0, not NaN, without detections


def test_last_evaluated_frame_of_each_sequence_is_skipped(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A)]) for _ in range(3)]
    pred = [SynthFrame([pr_person(1, A, 0.9)]), SynthFrame([pr_person(1, A, 0.8)]), SynthFrame([])]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}))
    # The empty last frame would cost a miss per joint; it is not fed to the accumulators.
    np.testing.assert_allclose(result.mot.mota, 100.0)
    assert result.mot.counts[0].objects == 2


def test_frame_without_predictions_costs_one_miss_and_one_fp_whatever_the_people(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A), gt_person(2, B)]) for _ in range(3)]
    pred = [SynthFrame([pr_person(1, A, 0.9), pr_person(2, B, 0.8)]), SynthFrame([]), SynthFrame([])]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}))
    # Frame 0: 2 matches; frame 1: the dummy update (1 miss + 1 FP); frame 2 skipped.
    # MOTA = 1 - (1 + 1) / 3 = 33.3; precision = recall = 2/3.
    c = result.mot.counts[5]
    assert (c.matches, c.misses, c.false_positives, c.objects) == (2, 1, 1, 3)
    assert result.total_mota == pytest.approx(100 / 3)
    assert result.mot.precision[5] == pytest.approx(200 / 3)


def test_swapped_track_ids_are_switches(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A), gt_person(2, B)]) for _ in range(4)]
    pred = [SynthFrame([pr_person(1, A, 0.9), pr_person(2, B, 0.8)])] + [
        SynthFrame([pr_person(2, A, 0.7 - 0.01 * k), pr_person(1, B, 0.6 - 0.01 * k)]) for k in range(3)
    ]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}))
    # Frames 0-2 count: 6 objects, 2 switches in frame 1 -> MOTA = 100 (1 - 2/6) = 66.7.
    assert result.mot.counts[0].switches == 2
    assert result.total_mota == pytest.approx(200 / 3)
    assert result.total_ap == pytest.approx(100.0)  # AP ignores track ids


def test_motp_includes_raw_events_in_the_summed_distance(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A)]) for _ in range(3)]
    pred = [SynthFrame([pr_person(1, A, 0.9 - 0.1 * k, dx=6.0)]) for k in range(3)]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}))
    # d = 6 / 30 = 0.2 per joint; 2 frames x (RAW 0.2 + MATCH 0.2) = 0.8 over 2 detections:
    # MOTP = 100 (1 - 0.4) = 60 (a matches-only sum would give 80).
    np.testing.assert_allclose(result.mot.motp, 60.0)


def test_one_frame_sequence_adds_no_mot_frames_and_is_reported(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A)])]
    pred = [SynthFrame([pr_person(1, A, 0.9)])]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}))
    assert all(c.objects == 0 for c in result.mot.counts)
    assert math.isnan(result.total_mota)
    assert any("one evaluated frame" in r for r in result.reasons)


def test_joint_absent_everywhere_gets_nan_mota_and_is_skipped_in_the_total(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A, joints=range(14))]) for _ in range(3)]
    pred = [SynthFrame([pr_person(1, A, 0.9 - 0.1 * k, joints=range(14))]) for k in range(3)]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}))
    assert math.isnan(result.mot.mota[14])
    assert result.mot.motp[14] == 0.0  # no detections: 0, and it counts in the MOTP total
    assert result.total_mota == pytest.approx(100.0)
    assert result.metrics()["motp/total"] == pytest.approx(14 * 100.0 / 15)


def test_prediction_with_no_joints_still_counts_as_a_person_so_no_dummy_update(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A), gt_person(2, B)]) for _ in range(3)]
    empty = pr_person(9, A, 0.1, joints=[])  # written as 17 x (0, 0, 0): a person with no points
    pred = [SynthFrame([pr_person(1, A, 0.9), pr_person(2, B, 0.8)]), SynthFrame([empty]), SynthFrame([])]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}))
    # Frame 1 has a predicted person, so no dummy: per joint 2 misses and no FP. MOTA = 1 - 2/4 = 50.
    c = result.mot.counts[3]
    assert (c.matches, c.misses, c.false_positives) == (2, 2, 0)
    assert result.total_mota == pytest.approx(50.0)


@pytest.mark.parametrize("dx,pairs", [(15.0, True), (15.01, False)])
def test_distance_just_over_half_the_head_size_cannot_pair(write_case, dx: float, pairs: bool) -> None:
    gt = [SynthFrame([gt_person(1, A)]) for _ in range(3)]
    pred = [SynthFrame([pr_person(1, A, 0.9 - 0.1 * k, dx=dx)]) for k in range(3)]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}))
    c = result.mot.counts[4]
    if pairs:
        # d = 15 / 30 = 0.5 exactly (inclusive): frames 0-1 give 2 MATCHes; sumD = 2 x (RAW .5 + MATCH .5)
        # = 2 over 2 detections -> MOTA 100, MOTP 100 (1 - 1) = 0.
        assert (c.matches, c.misses, c.false_positives) == (2, 0, 0)
        assert result.mot.mota[4] == pytest.approx(100.0) and result.mot.motp[4] == pytest.approx(0.0)
    else:
        # d = 15.01 / 30 = 0.5003 > 0.5 is NaN for motmetrics: each counted frame is 1 miss + 1 FP,
        # MOTA = 100 (1 - (2 + 2) / 2) = -100; no detections, so MOTP is 0.
        assert (c.matches, c.misses, c.false_positives) == (0, 2, 2)
        assert result.mot.mota[4] == pytest.approx(-100.0) and result.mot.motp[4] == 0.0
        assert result.ap.ap[4] == 0.0  # nor does the joint match for AP


def test_mot_matches_a_prediction_that_the_ap_assignment_left_unassigned(write_case) -> None:
    a, b = joints_at(A), joints_at(B)
    gt = [SynthFrame([gt_person(1, A), gt_person(2, B)]) for _ in range(3)]
    pred = []
    for k in range(3):
        p0 = pr_person(1, A, 0.9 - 0.1 * k)
        # p1: joints 0-7 on A, 8-14 on B. PCKh 8/15 with A, 7/15 with B: it keeps only A, which takes
        # p0 (PCKh 1), so p1 is unassigned for AP although its joints 8-14 sit exactly on B's.
        p1 = SynthPerson(2, {j: (*(a if j < 8 else b)[j][:2], 0.35 - 0.1 * k) for j in range(15)})
        pred.append(SynthFrame([p0, p1]))
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}))
    # AP, left elbow (10): p0's 3 TPs (.9 .8 .7) rank above p1's 3 FPs (.35 .25 .15), 6 GT joints:
    # recall .5 at precision 1 -> AP 50; final precision 3/6, recall 3/6.
    assert result.ap.ap[10] == pytest.approx(50.0)
    assert result.ap.precision[10] == pytest.approx(50.0) and result.ap.recall[10] == pytest.approx(50.0)
    # MOT, same joint, frames 0-1: objects 1, 2 and hypotheses 1 (on A), 2 (on B) pair one to one:
    # 4 MATCHes, nothing missed, no FP -> MOTA 100. Per-joint matching ignores the AP assignment.
    c = result.mot.counts[10]
    assert (c.matches, c.switches, c.misses, c.false_positives) == (4, 0, 0, 0)
    assert result.mot.mota[10] == pytest.approx(100.0)
    # Right ankle (0): both hypotheses sit on A, none on B: per frame 1 MATCH, 1 miss, 1 FP.
    c0 = result.mot.counts[0]
    assert (c0.matches, c0.switches, c0.misses, c0.false_positives) == (2, 0, 2, 2)


def test_carry_over_survives_a_frame_where_the_object_is_missing() -> None:
    acc = MOTAccumulator()
    acc.update([1], [10], [[0.1]])  # MATCH 1-10: RAW .1 + MATCH .1
    acc.update([], [10], np.zeros((0, 1)))  # object 1 absent: hypothesis 10 is an FP
    # Object 1 is back; 11 is closer, but m[1] = 10 never expires and 10 is valid: MATCH 1-10 (RAW .4,
    # RAW 0, MATCH .4), 11 is an FP. Then 1-10 again (RAW .2 + MATCH .2), still no switch.
    acc.update([1], [10, 11], [[0.4, 0.0]])
    acc.update([1], [10], [[0.2]])
    c = acc.counts
    assert (c.matches, c.switches, c.misses, c.false_positives) == (3, 0, 0, 2)
    assert c.sum_distance == pytest.approx(0.2 + 0.8 + 0.4)
