"""Reading 2017/2018 files: presence rules, category mapping, scores, and one-line errors for bad input."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from eval_cases import SEQ, A, gt_person, pr_person

from posecli.errors import PoseCliError
from posecli.evaluation import evaluate_posetrack
from posecli.evaluation.formats import MISSING_SCORE, read_sequences
from posecli.evaluation.synthetic import SynthFrame, to_annolist, to_posetrack18, write_sequence
from posecli.keypoints import POSETRACK_KEYPOINTS


def _pred_2018(tmp_path: Path, edit: Any = None) -> Path:
    data = to_posetrack18(SEQ, [SynthFrame([pr_person(1, A, 0.9)])], gt=False)
    if edit is not None:
        edit(data)
    path = tmp_path / f"{SEQ}.json"
    path.write_text(json.dumps(data))
    return path


def test_2018_drop_rule_only_drops_zero_zero_zero(tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        kps = data["annotations"][0]["keypoints"]
        kps[0:3] = [0, 0, 0]  # nose (slot 0): dropped
        kps[3:6] = [0, 0, 0.7]  # head_bottom at (0, 0) with v != 0: present
        kps[6:9] = [50, 60, 0]  # head_top with v = 0: present

    (seq,) = read_sequences(_pred_2018(tmp_path, edit), role="pred")
    present = seq.frames[0].present[0]
    assert not present[13] and present[12] and present[14]


def test_2018_slots_are_mapped_by_category_names(tmp_path: Path) -> None:
    def edit(data: dict[str, Any]) -> None:
        # Swap the names and values of slots 5 and 6: the joints must land on the same poseval ids.
        names = data["categories"][0]["keypoints"]
        names[5], names[6] = names[6], names[5]
        for key, width in (("keypoints", 3), ("scores", 1)):
            values = data["annotations"][0][key]
            a, b = values[5 * width : 6 * width], values[6 * width : 7 * width]
            values[5 * width : 6 * width], values[6 * width : 7 * width] = b, a

    (plain,) = read_sequences(_pred_2018(tmp_path), role="pred")
    (swapped,) = read_sequences(_pred_2018(tmp_path, edit), role="pred")
    np.testing.assert_array_equal(plain.frames[0].xy, swapped.frames[0].xy)
    np.testing.assert_array_equal(plain.frames[0].scores, swapped.frames[0].scores)


def test_2017_listed_points_are_present_and_first_id_wins(tmp_path: Path) -> None:
    data = to_annolist(SEQ, [SynthFrame([pr_person(1, A, 0.9, joints=[0, 1])])], gt=False)
    points = data["annolist"][0]["annorect"][0]["annopoints"][0]["point"]
    points.append({"id": [0], "x": [1.0], "y": [1.0], "score": [0.1], "is_visible": [0]})  # duplicate id 0
    points.append({"id": [20], "x": [1.0], "y": [1.0], "score": [0.1]})  # outside 0-14: ignored
    path = tmp_path / "a.json"
    path.write_text(json.dumps(data))
    (seq,) = read_sequences(path, role="pred")
    frame = seq.frames[0]
    assert frame.present[0].sum() == 2
    assert frame.xy[0, 0].tolist() == [A[0], A[1]]


def test_missing_scores_become_minus_9999(tmp_path: Path) -> None:
    (seq,) = read_sequences(
        _pred_2018(tmp_path, lambda d: d["annotations"][0].update(scores=[])), role="pred"
    )
    assert (seq.frames[0].scores == MISSING_SCORE).all() and seq.missing_scores


def test_frame_identity_is_the_last_two_path_components(tmp_path: Path) -> None:
    (seq,) = read_sequences(_pred_2018(tmp_path), role="pred")
    assert seq.frames[0].key == f"{SEQ}/000000.jpg" and seq.frames[0].frame_number == 0
    assert seq.name == SEQ and seq.folder == SEQ


@pytest.mark.parametrize(
    "edit,pattern",
    [
        (lambda d: d["annotations"][0].pop("track_id"), r"annotations\[0\]\.track_id: missing"),
        (
            lambda d: d["annotations"][0]["keypoints"].pop(),
            r"annotations\[0\]\.keypoints: expected 51 numbers",
        ),
        (lambda d: d.pop("categories"), r"categories: missing"),
        (
            lambda d: d["categories"][0].update(
                keypoints=["nose", "left_eye", "right_eye", *POSETRACK_KEYPOINTS[3:]]
            ),
            r"categories\[0\]\.keypoints: joint name 'head_bottom' not found",
        ),
        (
            lambda d: d["annotations"][0]["keypoints"].__setitem__(4, "12"),
            r"annotations\[0\]\.keypoints\[4\]: expected a number",
        ),
        (
            lambda d: d["annotations"][0]["scores"].__setitem__(2, None),
            r"annotations\[0\]\.scores\[2\]: expected a number",
        ),
    ],
)
def test_malformed_prediction_is_one_line_naming_file_and_field(
    tmp_path: Path, edit: Any, pattern: str
) -> None:
    path = _pred_2018(tmp_path, edit)
    with pytest.raises(PoseCliError, match=f"^{path}: {pattern}") as info:
        read_sequences(path, role="pred")
    assert "\n" not in str(info.value)


def test_2017_person_without_track_id_is_an_error(tmp_path: Path) -> None:
    data = to_annolist(SEQ, [SynthFrame([pr_person(1, A, 0.9)])], gt=False)
    del data["annolist"][0]["annorect"][0]["track_id"]
    path = tmp_path / "a.json"
    path.write_text(json.dumps(data))
    with pytest.raises(PoseCliError, match=r"annolist\[0\]\.annorect\[0\]\.track_id: missing"):
        read_sequences(path, role="pred")


def test_ignore_polygon_with_two_vertices_is_an_error(tmp_path: Path) -> None:
    frames = [SynthFrame([gt_person(1, A)], ignore=[[(0.0, 0.0), (10.0, 10.0)]])]
    path = write_sequence(tmp_path / "gt.json", SEQ, frames, gt=True)
    with pytest.raises(
        PoseCliError, match=r"images\[0\]\.ignore_regions\[0\]: an ignore polygon needs at least 3"
    ):
        read_sequences(path, role="gt")


def test_not_a_posetrack_file_and_bad_json(tmp_path: Path) -> None:
    (tmp_path / "x.json").write_text('{"foo": 1}')
    with pytest.raises(PoseCliError, match="neither 'annolist'"):
        read_sequences(tmp_path / "x.json", role="gt")
    (tmp_path / "y.json").write_text("{")
    with pytest.raises(PoseCliError, match="not valid JSON"):
        read_sequences(tmp_path / "y.json", role="gt")


def test_pt21_mode_needs_is_labeled_on_gt(write_case) -> None:
    pred_dir, gt_dir = write_case(
        {SEQ: [SynthFrame([gt_person(1, A)])]}, {SEQ: [SynthFrame([pr_person(1, A, 0.9)])]}
    )
    data = json.loads((gt_dir / f"{SEQ}.json").read_text())
    del data["images"][0]["is_labeled"]
    (gt_dir / f"{SEQ}.json").write_text(json.dumps(data))
    with pytest.raises(PoseCliError, match=r"images\[0\]\.is_labeled: missing"):
        evaluate_posetrack(pred_dir, gt_dir, mode="posetrack21", metrics=["ap"])


@pytest.mark.parametrize("side", ["pred", "gt"])
def test_pt21_mode_reads_fixed_slots_and_ignores_category_names(write_case, side: str) -> None:
    gt = [SynthFrame([gt_person(1, A)]) for _ in range(2)]
    pred = [SynthFrame([pr_person(1, A, 0.9 - 0.1 * k)]) for k in range(2)]
    pred_dir, gt_dir = write_case({SEQ: gt}, {SEQ: pred})
    file = (pred_dir if side == "pred" else gt_dir) / f"{SEQ}.json"
    data = json.loads(file.read_text())
    names = data["categories"][0]["keypoints"]
    names[5], names[6] = names[6], names[5]  # swap the shoulder names only; the values stay
    file.write_text(json.dumps(data))
    # poseval maps by name: the shoulders trade places, 22.4 px apart (> 15): 1 FP each, AP 0 for
    # ids 8 and 9, total 13 x 100 / 15.
    poseval = evaluate_posetrack(pred_dir, gt_dir, metrics=["ap"])
    assert poseval.ap.ap[8] == 0.0 and poseval.ap.ap[9] == 0.0
    assert poseval.total_ap == pytest.approx(13 * 100.0 / 15)
    # The PT21 kit reads the 17 fixed slots and never looks at the names: 100.
    pt21 = evaluate_posetrack(pred_dir, gt_dir, mode="posetrack21", metrics=["ap"])
    np.testing.assert_allclose(pt21.ap.ap, 100.0)


def test_pt21_mode_accepts_foreign_names_but_needs_17_slots(tmp_path: Path) -> None:
    coco = ["nose", "left_eye", "right_eye", *POSETRACK_KEYPOINTS[3:]]
    path = _pred_2018(tmp_path, lambda d: d["categories"][0].update(keypoints=coco))
    with pytest.raises(PoseCliError, match="joint name 'head_bottom' not found"):
        read_sequences(path, role="pred")  # poseval refuses COCO names
    (seq,) = read_sequences(path, role="pred", fixed_slots=True)
    (plain,) = read_sequences(_pred_2018(tmp_path), role="pred")
    np.testing.assert_array_equal(seq.frames[0].xy, plain.frames[0].xy)

    # 15 names with 45 numbers are fine for poseval, but the kit's fixed layout needs 51 numbers.
    def fifteen(data: dict[str, Any]) -> None:
        data["categories"][0]["keypoints"] = [n for n in POSETRACK_KEYPOINTS if "ear" not in n]
        kps = data["annotations"][0]["keypoints"]
        data["annotations"][0]["keypoints"] = kps[:9] + kps[15:]
        scores = data["annotations"][0]["scores"]
        data["annotations"][0]["scores"] = scores[:3] + scores[5:]

    path = _pred_2018(tmp_path, fifteen)
    (seq15,) = read_sequences(path, role="pred")
    np.testing.assert_array_equal(seq15.frames[0].xy, plain.frames[0].xy)
    with pytest.raises(PoseCliError, match=r"scores: expected 17 values, got 15 .*ignores categories"):
        read_sequences(path, role="pred", fixed_slots=True)
    path = _pred_2018(tmp_path, lambda d: (fifteen(d), d["annotations"][0].update(scores=[])))
    with pytest.raises(PoseCliError, match=r"keypoints: expected 51 numbers \(3 x 17 fixed PoseTrack slots"):
        read_sequences(path, role="pred", fixed_slots=True)
