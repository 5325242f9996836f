"""End-to-end poseval and PT21 behaviour on small files, each number derived by hand in a comment."""

from __future__ import annotations

import json
import math
import shutil
from pathlib import Path

import numpy as np
import pytest
from eval_cases import HEAD, SEQ, A, B, gt_person, joints_at, pr_person

from posecli.errors import PoseCliError
from posecli.evaluation import PoseTrackEvaluator, evaluate_posetrack
from posecli.evaluation.synthetic import SynthFrame, SynthPerson, image_name
from posecli.keypoints import SLOT_OF_POSEVAL_ID
from posecli.structures import FrameResult, PoseInstance


def perfect_case(num_frames: int = 3) -> tuple[list[SynthFrame], list[SynthFrame]]:
    gt = [SynthFrame([gt_person(1, A), gt_person(2, B)]) for _ in range(num_frames)]
    pred = [
        SynthFrame([pr_person(1, A, 0.9 - 0.01 * k), pr_person(2, B, 0.5 - 0.01 * k)])
        for k in range(num_frames)
    ]
    return gt, pred


@pytest.mark.parametrize(
    "gt_fmt,pred_fmt", [("2018", "2018"), ("2017", "2017"), ("2017", "2018"), ("2018", "2017")]
)
def test_perfect_predictions_give_100_in_both_formats(write_case, gt_fmt: str, pred_fmt: str) -> None:
    gt, pred = perfect_case()
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred}, gt_fmt, pred_fmt)
    result = evaluate_posetrack(pred_dir, gt_dir)
    assert result.total_ap == pytest.approx(100.0)
    np.testing.assert_allclose(result.ap.ap, 100.0)
    np.testing.assert_allclose(result.mot.mota, 100.0)
    np.testing.assert_allclose(result.mot.motp, 100.0)  # zero distances
    assert result.num_gt_frames == 3 and result.num_sequences == 1
    assert result.poseval_compatible


def test_2017_and_2018_give_identical_numbers_on_random_data(write_case) -> None:
    from posecli.evaluation.synthetic import random_sequence

    rng = np.random.default_rng(3)
    gts, preds = {}, {}
    for s in range(3):
        gts[f"{s + 1:06d}_mpii_test"], preds[f"{s + 1:06d}_mpii_test"] = random_sequence(
            rng, 8, 4, labeled_every=2
        )
    r18 = evaluate_posetrack(*write_case(gts, preds, "2018", "2018"))
    r17 = evaluate_posetrack(*write_case(gts, preds, "2017", "2017"))
    np.testing.assert_array_equal(r18.ap.ap, r17.ap.ap)
    np.testing.assert_array_equal(r18.mot.mota, r17.mot.mota)
    np.testing.assert_allclose(r18.mot.motp, r17.mot.motp)
    assert 0 < r18.total_ap < 100


def test_reordered_prediction_frames_give_the_same_numbers_with_a_notice(write_case, tmp_path: Path) -> None:
    from posecli.evaluation.synthetic import random_sequence

    gt, pred = random_sequence(np.random.default_rng(5), 6, 3)
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    ordered = evaluate_posetrack(pred_dir, gt_dir)
    data = json.loads((pred_dir / f"{SEQ}.json").read_text())
    data["images"].reverse()
    (pred_dir / f"{SEQ}.json").write_text(json.dumps(data))
    reordered = evaluate_posetrack(pred_dir, gt_dir)
    np.testing.assert_array_equal(ordered.ap.ap, reordered.ap.ap)
    np.testing.assert_array_equal(ordered.mot.mota, reordered.mot.mota)
    assert ordered.poseval_compatible
    assert not reordered.poseval_compatible
    assert any("different order" in r for r in reordered.reasons)


def test_labeled_frame_without_gt_people_ignores_predictions(write_case) -> None:
    # Frame 1 is labeled but has no GT person: poseval skips it, so the stray prediction is no FP.
    gt = [SynthFrame([gt_person(1, A)]), SynthFrame([], labeled=True), SynthFrame([gt_person(1, A)])]
    pred = [
        SynthFrame([pr_person(1, A, 0.9)]),
        SynthFrame([pr_person(5, B, 0.95)]),
        SynthFrame([pr_person(1, A, 0.8)]),
    ]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}))
    assert result.total_ap == pytest.approx(100.0)
    assert result.num_gt_frames == 2


def test_poseval_ignores_is_labeled_and_pt21_uses_it(write_case) -> None:
    # Frame 1 has GT people but is_labeled false; its prediction is the only false positive.
    gt = [SynthFrame([gt_person(1, A)]), SynthFrame([gt_person(1, A)], labeled=False)]
    pred = [SynthFrame([pr_person(1, A, 0.5)]), SynthFrame([pr_person(1, B, 0.9)])]
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    poseval = evaluate_posetrack(pred_dir, gt_dir, metrics=["ap"])
    # poseval: per joint, (0.9, FP) then (0.5, TP) with 2 GT -> recall .5 at precision .5: AP 25.
    assert poseval.num_gt_frames == 2
    assert poseval.total_ap == pytest.approx(25.0)
    pt21 = evaluate_posetrack(pred_dir, gt_dir, mode="posetrack21", metrics=["ap"])
    assert pt21.num_gt_frames == 1
    assert pt21.total_ap == pytest.approx(100.0)


def test_person_without_annopoints_is_removed_but_its_frame_is_evaluated(write_case) -> None:
    # 2017 GT frame 1 has one annorect without annopoints: the frame counts ("before cleanup"), the
    # person does not, so the prediction there is a false positive ranked first: AP 50 per joint.
    gt = [SynthFrame([gt_person(1, A)]), SynthFrame([gt_person(2, B)])]
    pred = [SynthFrame([pr_person(1, A, 0.9)]), SynthFrame([pr_person(2, B, 0.95)])]
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred}, "2017", "2017")
    data = json.loads((gt_dir / f"{SEQ}.json").read_text())
    del data["annolist"][1]["annorect"][0]["annopoints"]
    (gt_dir / f"{SEQ}.json").write_text(json.dumps(data))
    result = evaluate_posetrack(pred_dir, gt_dir, metrics=["ap"])
    assert result.num_gt_frames == 2
    assert result.total_ap == pytest.approx(50.0)
    assert int(result.ap.num_gt[0]) == 1


def test_ignore_regions_delete_inside_points_keep_boundary_points_and_empty_people(write_case) -> None:
    region = [(600.0, 100.0), (1100.0, 100.0), (1100.0, 400.0), (600.0, 400.0)]  # B lies strictly inside
    gt = [SynthFrame([gt_person(1, A), gt_person(2, B)], ignore=[region])]
    inside_fp = pr_person(7, B, 0.99)  # deleted with all its points
    gt2 = [SynthFrame([gt_person(1, A), gt_person(2, B)], ignore=[region])]
    boundary_fp = SynthPerson(8, {0: (600.0, 250.0, 0.95)})  # on the polygon edge: stays, a false positive
    pred = [SynthFrame([pr_person(1, A, 0.9), inside_fp])]
    pred2 = [SynthFrame([pr_person(1, A, 0.9), boundary_fp])]
    clean = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}), metrics=["ap"])
    assert clean.total_ap == pytest.approx(100.0)
    assert int(clean.ap.num_gt[0]) == 1  # B's joints are not counted
    edge = evaluate_posetrack(*write_case({SEQ: gt2}, {SEQ: pred2}), metrics=["ap"])
    # Joint 0: (0.95, FP), (0.9, TP), 1 GT -> AP 50; the other 14 joints 100 -> total 96.67.
    assert edge.ap.ap[0] == pytest.approx(50.0)
    assert edge.total_ap == pytest.approx((50.0 + 14 * 100.0) / 15)


def test_joint_with_predictions_but_no_gt_is_nan_and_left_out_of_total(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A, joints=range(13))])]  # no nose (13), no head_top (14)
    pred = [SynthFrame([pr_person(1, A, 0.9)])]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}), metrics=["ap"])
    assert math.isnan(result.ap.ap[13]) and math.isnan(result.ap.ap[14])
    assert result.total_ap == pytest.approx(100.0)
    assert math.isnan(result.to_dict()["joints"][13]["ap"] or math.nan)
    assert result.to_dict()["joints"][13]["ap"] is None


def test_joint_without_predictions_is_zero_and_total_is_mean_of_15_joints(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A, joints=range(13))])]
    pred = [SynthFrame([pr_person(1, A, 0.9, joints=range(12))])]  # no head_bottom (12) either
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}), metrics=["ap"])
    # Joints 12, 13, 14 have no samples: AP 0. Total = 12 * 100 / 15 = 80, not the group mean
    # (Head = 0, six groups 100 -> 85.7).
    assert result.ap.ap[12:].tolist() == [0.0, 0.0, 0.0]
    assert result.total_ap == pytest.approx(80.0)
    assert result.metrics()["ap/Head"] == 0.0


def test_missing_scores_rank_at_minus_9999_with_a_note(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A)])]
    pred = [SynthFrame([pr_person(1, A, 0.9)])]
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    data = json.loads((pred_dir / f"{SEQ}.json").read_text())
    data["annotations"][0]["scores"] = []
    (pred_dir / f"{SEQ}.json").write_text(json.dumps(data))
    result = evaluate_posetrack(pred_dir, gt_dir, metrics=["ap"])
    assert result.total_ap == pytest.approx(100.0)
    assert any("no score" in note for p in result.pairing for note in p.notes)


def test_missing_frames_and_files_count_as_empty_and_extras_are_listed(write_case) -> None:
    gt, pred = perfect_case(2)
    pred_dir, gt_dir = write_case(
        {SEQ: gt, "000002_mpii_test": gt}, {SEQ: pred[:1], "000009_bonn_test": pred}
    )
    result = evaluate_posetrack(pred_dir, gt_dir, metrics=["ap"])
    # 8 GT persons per joint (2 sequences x 2 frames x 2), only frame 0 of sequence 1 predicted
    # (2 TP, precision 1): recall .25, AP 25.
    assert result.total_ap == pytest.approx(25.0)
    assert result.unused_predictions == ["000009_bonn_test.json"]
    reasons = " | ".join(result.reasons)
    assert "no prediction file" in reasons and "1 GT frame(s) have no prediction frame" in reasons
    assert not result.poseval_compatible


def test_duplicate_track_id_in_a_prediction_frame_is_an_error_naming_file_and_frame(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A)]), SynthFrame([gt_person(1, A)])]
    pred = [SynthFrame([pr_person(1, A, 0.9)]), SynthFrame([pr_person(3, A, 0.8), pr_person(3, B, 0.7)])]
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    with pytest.raises(
        PoseCliError, match=r"pred/000001_mpii_test\.json: images\[1\] .*duplicate track id 3"
    ):
        evaluate_posetrack(pred_dir, gt_dir, metrics=["ap"])


def test_gt_without_head_box_in_an_evaluated_frame_is_an_error(write_case) -> None:
    gt = [SynthFrame([SynthPerson(1, joints_at(A), None)])]
    pred = [SynthFrame([pr_person(1, A, 0.9)])]
    with pytest.raises(PoseCliError, match=r"gt/000001_mpii_test\.json: images\[0\] .*no head box"):
        evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}))


def test_posetrack_estimate_style_prediction_file_evaluates(write_case) -> None:
    # 2018 predictions with categories, every frame in images, 51 keypoints, 17 scores, track_id, bbox.
    gt, pred = perfect_case(2)
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    data = json.loads((pred_dir / f"{SEQ}.json").read_text())
    assert len(data["categories"][0]["keypoints"]) == 17 and len(data["annotations"][0]["scores"]) == 17
    assert evaluate_posetrack(pred_dir, gt_dir).total_ap == pytest.approx(100.0)


def test_single_file_inputs_and_trailing_slash(write_case, tmp_path: Path) -> None:
    gt, pred = perfect_case(2)
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    single = evaluate_posetrack(pred_dir / f"{SEQ}.json", gt_dir / f"{SEQ}.json")
    slash = evaluate_posetrack(Path(str(pred_dir) + "/"), Path(str(gt_dir) + "/"))
    assert single.total_ap == slash.total_ap == pytest.approx(100.0)


def test_multi_video_file_is_split_and_reported(write_case) -> None:
    gt, pred = perfect_case(2)
    pred_dir, gt_dir = write_case({SEQ: gt, "000002_mpii_test": gt}, {SEQ: pred, "000002_mpii_test": pred})
    merged = json.loads((gt_dir / f"{SEQ}.json").read_text())
    other = json.loads((gt_dir / "000002_mpii_test.json").read_text())
    merged["images"] += other["images"]
    merged["annotations"] += other["annotations"]
    (gt_dir / "000002_mpii_test.json").unlink()
    (gt_dir / f"{SEQ}.json").write_text(json.dumps(merged))
    result = evaluate_posetrack(pred_dir, gt_dir, metrics=["ap"])
    assert result.num_sequences == 2 and result.num_gt_frames == 4
    assert result.total_ap == pytest.approx(100.0)
    assert any("several videos" in r for r in result.reasons)


def test_pt21_presence_recall_floor_and_ignore_rule(write_case) -> None:
    region = [(600.0, 100.0), (1100.0, 100.0), (1100.0, 400.0), (600.0, 400.0)]
    gt = [SynthFrame([gt_person(1, A, joints=range(13)), gt_person(2, B)], ignore=[region])]
    # The prediction of A also has nose/head_top (no GT): PT21 gives AP 0 there, not NaN.
    # Its joint 0 is at negative x: present for poseval, absent for the kit (x > 0 and y > 0).
    a = pr_person(1, A, 0.9)
    a.joints[0] = (-5.0, 100.0, 0.9)
    pred = [SynthFrame([a, pr_person(2, B, 0.8)])]
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    pt21 = evaluate_posetrack(pred_dir, gt_dir, mode="posetrack21", metrics=["ap"])
    assert pt21.ap.ap[13] == 0.0 and pt21.ap.ap[14] == 0.0
    assert pt21.ap.ap[0] == 0.0  # the GT right ankle is never found (the prediction is absent)
    assert int(pt21.ap.num_gt[0]) == 1  # B (inside the region) is dropped
    assert pt21.total_ap == pytest.approx(12 * 100.0 / 15)
    poseval = evaluate_posetrack(pred_dir, gt_dir, metrics=["ap"])
    assert math.isnan(poseval.ap.ap[13])
    assert poseval.ap.ap[0] == 0.0  # present at (-5, 100) but far away: one false positive, no TP


def test_pt21_mode_refuses_mota() -> None:
    with pytest.raises(PoseCliError, match="mota"):
        evaluate_posetrack(Path("x"), Path("y"), mode="posetrack21", metrics=["ap", "mota"])


def test_metrics_json_has_names_counts_fingerprint_and_null_for_nan(write_case, tmp_path: Path) -> None:
    gt = [SynthFrame([gt_person(1, A, joints=range(13))]) for _ in range(3)]
    pred = [SynthFrame([pr_person(1, A, 0.9 - 0.1 * k)]) for k in range(3)]
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    result = evaluate_posetrack(pred_dir, gt_dir, per_sequence=True)
    out = result.to_dict()
    text = json.dumps(out, allow_nan=False)  # no NaN literals anywhere
    assert out["joints"][12]["name"] == "head_bottom" and out["joints"][13]["ap"] is None
    assert out["num_gt_frames"] == 3 and out["num_sequences"] == 1
    assert out["joints"][0]["objects"] == 2  # last frame skipped
    assert set(out["per_sequence"]) == {SEQ}
    assert len(out["gt_fingerprint"]) == 64 and "NaN" not in text
    # The fingerprint depends on the GT bytes only.
    copy = tmp_path / "gt_copy"
    shutil.copytree(gt_dir, copy)
    assert evaluate_posetrack(pred_dir, copy).gt_fingerprint == result.gt_fingerprint
    data = json.loads((copy / f"{SEQ}.json").read_text())
    data["images"][0]["nframes"] = 99
    (copy / f"{SEQ}.json").write_text(json.dumps(data))
    assert evaluate_posetrack(pred_dir, copy).gt_fingerprint != result.gt_fingerprint


def test_in_memory_evaluator_matches_the_file_evaluation(write_case) -> None:
    from posecli.evaluation.synthetic import random_sequence

    gt, pred = random_sequence(np.random.default_rng(11), 5, 3)
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    frames = []
    for k, frame in enumerate(pred):
        instances = []
        for person in frame.people:
            kps = np.zeros((17, 3))
            for j, (x, y, s) in person.joints.items():
                kps[SLOT_OF_POSEVAL_ID[j]] = (x, y, s)
            instances.append(PoseInstance(kps, np.array([0.0, 0.0, 10.0, 10.0]), 1.0, person.track_id))
        frames.append(FrameResult(k, k / 25.0, tuple(instances)))
    evaluator = PoseTrackEvaluator(gt_dir)
    evaluator.process(SEQ, [image_name(SEQ, k) for k in range(len(pred))], frames)
    metrics = evaluator.evaluate()
    reference = evaluate_posetrack(pred_dir, gt_dir)
    assert metrics["ap/total"] == pytest.approx(reference.total_ap)
    assert metrics["mota/total"] == pytest.approx(reference.total_mota)
    evaluator.reset()
    assert evaluator.evaluate()["ap/total"] == 0.0  # nothing processed: every frame empty


def test_head_box_constant_is_the_one_the_builders_use() -> None:
    assert HEAD == (0.0, 0.0, 30.0, 40.0)


def test_pt21_mode_refuses_duplicate_gt_track_ids_and_poseval_flags_large_ids(write_case) -> None:
    gt = [SynthFrame([gt_person(4, A), gt_person(4, B)]), SynthFrame([gt_person(4, A)])]
    pred = [SynthFrame([pr_person(12000, A, 0.9)]), SynthFrame([pr_person(12000, A, 0.8)])]
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    with pytest.raises(PoseCliError, match=r"gt/000001_mpii_test\.json: images\[0\] .*duplicate track id 4"):
        evaluate_posetrack(pred_dir, gt_dir, mode="posetrack21", metrics=["ap"])
    result = evaluate_posetrack(pred_dir, gt_dir)  # poseval does not check GT ids for duplicates
    assert any("10000 or more" in r for r in result.reasons)
