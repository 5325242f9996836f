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
from posecli.keypoints import POSEVAL_JOINT_NAMES, SLOT_OF_POSEVAL_ID
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


@pytest.mark.parametrize(("shift", "expected_ap"), [(14.0, 100.0), (16.0, 0.0)])
def test_the_shared_head_box_gives_a_15_px_match_radius(write_case, shift: float, expected_ap: float) -> None:
    """``HEAD`` (head size 0.6 x 50 px) puts the PCKh@0.5 radius at 15 px, as eval_cases.py promises."""
    gt = [SynthFrame([SynthPerson(1, joints_at(A, score=1.0), HEAD)])]
    pred = [SynthFrame([pr_person(1, A, 0.9, dx=shift)])]
    assert evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred})).total_ap == pytest.approx(expected_ap)


def test_pt21_mode_refuses_duplicate_gt_track_ids_and_poseval_flags_large_ids(write_case) -> None:
    gt = [SynthFrame([gt_person(4, A), gt_person(4, B)]), SynthFrame([gt_person(4, A)])]
    pred = [SynthFrame([pr_person(12000, A, 0.9)]), SynthFrame([pr_person(12000, A, 0.8)])]
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    with pytest.raises(PoseCliError, match=r"gt/000001_mpii_test\.json: images\[0\] .*duplicate track id 4"):
        evaluate_posetrack(pred_dir, gt_dir, mode="posetrack21", metrics=["ap"])
    result = evaluate_posetrack(pred_dir, gt_dir)  # poseval does not check GT ids for duplicates
    assert any("10000 or more" in r for r in result.reasons)


FAR_REGION = [(2000.0, 2000.0), (2100.0, 2000.0), (2100.0, 2100.0)]  # contains no point of A or B


@pytest.mark.parametrize(
    "side,annopoints,ignore,num_gt,counts",
    [
        ("gt", [], False, 2, (1, 1, 1)),  # empty annopoints list: removed
        ("gt", [{}], False, 2, (1, 1, 1)),  # empty first element: removed
        ("gt", [{"points": []}], False, 2, (1, 1, 1)),  # no 'point' key: removed
        ("gt", [{"point": []}], False, 2, (1, 0, 1)),  # empty point list: the person stays
        ("gt", [{"point": []}], True, 2, (1, 1, 1)),  # ... unless the frame has ignore regions
        ("pred", [], False, 3, (1, 1, 1)),  # predicted persons are cleaned the same way
    ],
)
def test_annopoints_cleanup_variants(
    write_case, side: str, annopoints: list, ignore: bool, num_gt: int, counts: tuple[int, int, int]
) -> None:
    # Frames 0 and 2: A predicted exactly (.9, .8). Frame 1: GT B and a prediction on B (.95), with one
    # side's annopoints replaced. MOT sees frames 0-1 (the last is skipped).
    gt = [
        SynthFrame([gt_person(1, A)]),
        SynthFrame([gt_person(2, B)], ignore=[FAR_REGION] if ignore else []),
        SynthFrame([gt_person(1, A)]),
    ]
    pred = [
        SynthFrame([pr_person(1, A, 0.9)]),
        SynthFrame([pr_person(2, B, 0.95)]),
        SynthFrame([pr_person(1, A, 0.8)]),
    ]
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred}, "2017", "2017")
    file = (gt_dir if side == "gt" else pred_dir) / f"{SEQ}.json"
    data = json.loads(file.read_text())
    data["annolist"][1]["annorect"][0]["annopoints"] = annopoints
    file.write_text(json.dumps(data))
    result = evaluate_posetrack(pred_dir, gt_dir)
    assert result.num_gt_frames == 3  # frame 1 is evaluated: its annorect list was not empty
    assert int(result.ap.num_gt[5]) == num_gt
    # GT person gone or kept without points: per joint (.95 FP), (.9 TP), (.8 TP) over 2 GT: precision
    # .5 at recall .5 and .667 at 1, envelope .667 -> AP 66.7. Prediction gone: (.9 TP), (.8 TP) over
    # 3 GT (B counts): recall 2/3 at precision 1 -> also 66.7, but num_gt tells them apart.
    assert result.total_ap == pytest.approx(200 / 3)
    # MOT frame 1: with a side removed it is the dummy update (1 miss + 1 FP); with the pointless GT
    # person kept there are people on both sides, the GT has no joint 5: only the FP.
    c = result.mot.counts[5]
    assert (c.matches, c.misses, c.false_positives) == counts


def test_frame_with_everyone_deleted_is_evaluated_and_costs_one_miss_and_one_fp(write_case) -> None:
    region = [(600.0, 100.0), (1100.0, 100.0), (1100.0, 400.0), (600.0, 400.0)]  # B lies strictly inside
    gt = [SynthFrame([gt_person(1, A)]), SynthFrame([gt_person(2, B)], ignore=[region])]
    gt.append(SynthFrame([gt_person(1, A)]))
    pred = [
        SynthFrame([pr_person(1, A, 0.9)]),
        SynthFrame([pr_person(2, B, 0.95)]),
        SynthFrame([pr_person(1, A, 0.8)]),
    ]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}))
    # Frame 1 loses its GT and its prediction to the region but stays evaluated: 3 gt frames.
    assert result.num_gt_frames == 3
    # AP: the two TPs of frames 0 and 2 over 2 GT joints -> 100.
    assert result.total_ap == pytest.approx(100.0)
    assert int(result.ap.num_gt[0]) == 2
    # MOT sees frames 0 and 1: a MATCH, then the dummy update (1 miss + 1 FP): MOTA 1 - 2/2 = 0.
    # (Were frame 1 skipped, frame 2 would be the last evaluated one and MOTA would be 100.)
    c = result.mot.counts[0]
    assert (c.matches, c.misses, c.false_positives, c.objects) == (1, 1, 1, 2)
    np.testing.assert_allclose(result.mot.mota, 0.0)


def test_tied_scores_are_noted_per_joint(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A)]) for _ in range(2)]

    def person(base: float, ankle: float) -> SynthPerson:
        joints = joints_at(A)
        scores = {j: ankle if j == 0 else base + 0.01 * j for j in joints}
        return SynthPerson(1, {j: (x, y, scores[j]) for j, (x, y, _) in joints.items()})

    tied = [SynthFrame([person(0.5, 0.5)]), SynthFrame([person(0.7, 0.5)])]  # right ankle .5 twice
    free = [SynthFrame([person(0.5, 0.5)]), SynthFrame([person(0.7, 0.6)])]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: tied}), metrics=["ap"])
    # Both samples are TPs, so the numbers do not depend on the tie order (AP 100), but §12.5 says the
    # output notes the ties: one note, naming only the right ankle.
    assert result.total_ap == pytest.approx(100.0)
    assert len(result.notes) == 1
    assert "tied joint scores (right_ankle)" in result.notes[0]
    out = result.to_dict()
    assert out["notes"] == result.notes
    assert [row["tied_scores"] for row in out["joints"]] == [1] + [0] * 14
    assert result.poseval_compatible  # a tie is a note, not a reason
    clean = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: free}), metrics=["ap"])
    assert clean.notes == [] and clean.ap.ties.sum() == 0


def test_pt21_labeled_frame_with_predictions_but_no_gt_is_reported(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A)]), SynthFrame([], labeled=True)]
    pred = [SynthFrame([pr_person(1, A, 0.9)]), SynthFrame([pr_person(5, B, 0.95)])]
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    pt21 = evaluate_posetrack(pred_dir, gt_dir, mode="posetrack21", metrics=["ap"])
    # The kit selects frame 1 (is_labeled) and would crash on it; posecli scores its prediction as an
    # FP: (.95 FP), (.9 TP), 1 GT -> precision .5 at recall 1 -> AP 50.
    assert pt21.num_gt_frames == 2
    assert pt21.total_ap == pytest.approx(50.0)
    assert not pt21.poseval_compatible
    assert any("no GT people (the PT21 kit crashes on it)" in r for r in pt21.reasons)
    poseval = evaluate_posetrack(pred_dir, gt_dir, metrics=["ap"])
    # poseval skips the frame without GT people: AP 100 and nothing to report.
    assert poseval.num_gt_frames == 1 and poseval.total_ap == pytest.approx(100.0)
    assert poseval.reasons == []


def test_pt21_presence_ignores_v_origin_is_absent_and_v_zero_is_present(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A)]) for _ in range(2)]
    pred = [SynthFrame([pr_person(1, A, 0.5)]), SynthFrame([pr_person(1, A, 0.9)])]
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    for directory, edits in (
        (pred_dir, {48: [0.0, 0.0, 1.0], 47: None}),  # right ankle (slot 16) at (0,0), v 1; left ankle v 0
        (gt_dir, {6: [0.0, 0.0, 1.0]}),  # GT head_top (slot 2) at (0,0) with v 1
    ):
        file = directory / f"{SEQ}.json"
        data = json.loads(file.read_text())
        kps = data["annotations"][1]["keypoints"]  # frame 1
        for start, value in edits.items():
            if value is None:
                kps[start] = 0.0  # only v := 0, the coordinates stay
            else:
                kps[start : start + 3] = value
        file.write_text(json.dumps(data))
    pt21 = evaluate_posetrack(pred_dir, gt_dir, mode="posetrack21", metrics=["ap"])
    poseval = evaluate_posetrack(pred_dir, gt_dir, metrics=["ap"])
    # Right ankle: the kit drops the (0,0) prediction: one sample (.5 TP) over 2 GT -> AP 50. poseval
    # keeps it as an FP ranked first: (.9 FP), (.5 TP) -> precision .5 at recall .5 -> AP 25.
    assert int(pt21.ap.num_samples[0]) == 1 and pt21.ap.ap[0] == pytest.approx(50.0)
    assert int(poseval.ap.num_samples[0]) == 2 and poseval.ap.ap[0] == pytest.approx(25.0)
    # Left ankle with v = 0 and real coordinates: present for both, two TPs -> 100.
    assert pt21.ap.ap[5] == pytest.approx(100.0) and poseval.ap.ap[5] == pytest.approx(100.0)
    # GT head_top at (0,0): absent for the kit (1 GT; frame 1's prediction is an FP ranked first -> 50),
    # present for poseval (2 GT; the same FP -> 25).
    assert int(pt21.ap.num_gt[14]) == 1 and pt21.ap.ap[14] == pytest.approx(50.0)
    assert int(poseval.ap.num_gt[14]) == 2 and poseval.ap.ap[14] == pytest.approx(25.0)


def test_pt21_ignore_rule_zeroes_the_joints_inside_and_keeps_the_person(write_case) -> None:
    # The region holds A's joints 0-4 ((100,100) ... (180,140)) but not joint 5 at (200,150).
    region = [(90.0, 60.0), (190.0, 60.0), (190.0, 145.0), (90.0, 145.0)]
    gt = [SynthFrame([gt_person(1, A)]), SynthFrame([gt_person(1, A)], ignore=[region])]
    a = joints_at(A)
    # Frame 1: joints 0-4 30 px above GT (still inside, no match), joints 5-14 exact, all at .9.
    shifted = SynthPerson(1, {j: (x, y - 30.0 if j < 5 else y, 0.9) for j, (x, y, _) in a.items()})
    pred = [SynthFrame([pr_person(1, A, 0.5)]), SynthFrame([shifted])]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}), mode="posetrack21", metrics=["ap"])
    # Joints 0-4 of frame 1 are zeroed on both sides: 1 GT, one sample (.5 TP) -> AP 100 (not zeroed,
    # the .9 FP would rank first: AP 25). The person stays, so joints 5-14 count twice: 2 GT, 2 TPs.
    assert result.ap.num_gt[:5].tolist() == [1] * 5 and result.ap.num_samples[:5].tolist() == [1] * 5
    assert result.ap.num_gt[5:].tolist() == [2] * 10
    np.testing.assert_allclose(result.ap.ap, 100.0)


def test_frame_number_fallback_pairs_renamed_prediction_frames(write_case) -> None:
    # Each frame's person sits elsewhere, so a wrong pairing loses every joint.
    gt = [SynthFrame([gt_person(1, (100.0, 100.0 + 300.0 * k))]) for k in range(3)]
    pred = [SynthFrame([pr_person(1, (100.0, 100.0 + 300.0 * k), 0.9 - 0.1 * k)]) for k in range(3)]
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    file = pred_dir / f"{SEQ}.json"
    data = json.loads(file.read_text())
    for k, image in enumerate(data["images"]):
        image["file_name"] = f"images/val/{SEQ}/{k:08d}.jpg"  # 8-digit names: no image-name match
    data["images"].reverse()  # and listed backwards, so position pairing would be wrong too
    file.write_text(json.dumps(data))
    result = evaluate_posetrack(pred_dir, gt_dir)
    # Paired by frame number: every frame matches its own prediction -> AP 100, MOTA 100.
    assert result.total_ap == pytest.approx(100.0)
    assert result.total_mota == pytest.approx(100.0)
    reasons = " | ".join(result.reasons)
    assert "different order" in reasons and "no prediction frame" not in reasons


def test_group_is_nan_when_one_of_its_joints_is_nan(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A, joints=[*range(13), 14])])]  # no GT nose (13)
    pred = [SynthFrame([pr_person(1, A, 0.9)])]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}), metrics=["ap"])
    # Nose: a sample without GT -> NaN. Head = plain mean of head_top, head_bottom, nose = NaN, while
    # Total skips it: 14 x 100 / 14 = 100.
    assert math.isnan(result.ap.ap[13])
    assert math.isnan(result.metrics()["ap/Head"]) and result.metrics()["ap/Shoulder"] == 100.0
    assert result.to_dict()["ap"]["groups"]["Head"] is None
    assert result.total_ap == pytest.approx(100.0)
    from posecli.evaluation.report import poseval_text

    assert poseval_text(result).splitlines()[2].startswith("&  nan &100.0")


def test_reads_2018_predictions_with_15_category_names(write_case) -> None:
    gt, pred = perfect_case(2)
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    file = pred_dir / f"{SEQ}.json"
    data = json.loads(file.read_text())
    names = list(POSEVAL_JOINT_NAMES[::-1])  # 15 names, in an order of their own: mapped by name
    data["categories"][0]["keypoints"] = names
    for ann in data["annotations"]:
        kps = np.asarray(ann["keypoints"]).reshape(17, 3)
        slots = [SLOT_OF_POSEVAL_ID[POSEVAL_JOINT_NAMES.index(n)] for n in names]
        ann["keypoints"] = kps[slots].reshape(-1).tolist()  # 45 numbers
        ann["scores"] = [ann["scores"][s] for s in slots]
    file.write_text(json.dumps(data))
    result = evaluate_posetrack(pred_dir, gt_dir)
    # Same people as the 17-name file: perfect predictions -> 100 everywhere.
    np.testing.assert_allclose(result.ap.ap, 100.0)
    assert result.total_mota == pytest.approx(100.0)


def test_estimate_output_names_pair_with_their_gt(write_case) -> None:
    """`posecli estimate` writes <stem>.posetrack.json; its output folder is a valid PRED folder."""
    gt = [SynthFrame([gt_person(1, (100.0, 100.0))])]
    pred = [SynthFrame([pr_person(1, (100.0, 100.0), 0.9)])]
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    (pred_dir / f"{SEQ}.json").rename(pred_dir / f"{SEQ}.posetrack.json")
    result = evaluate_posetrack(pred_dir, gt_dir)
    assert result.total_ap == pytest.approx(100.0)
    assert not any("no prediction" in r or "not used" in r for r in result.reasons)
