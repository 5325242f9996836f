"""PoseTrack readers for the 2017, 2018 and 2021 layouts, sampling and the supporting-frame rule."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import pytest

from posecli.data.posetrack import (
    detect_layout,
    read_posetrack,
    supporting_frames,
    training_samples,
    validation_samples,
)
from posecli.errors import PoseCliError


@pytest.mark.parametrize(
    ("layout", "first", "digits", "gt_dir"),
    [
        ("posetrack17", 1, 8, "posetrack17_annotation_dirs/jsons/val"),
        ("posetrack18", 0, 6, "annotations/val"),
        ("posetrack21", 0, 6, "posetrack_data/val"),
    ],
)
def test_each_layout_is_detected_and_read(
    synthetic_roots: dict[str, Path], layout: str, first: int, digits: int, gt_dir: str
) -> None:
    root = synthetic_roots[layout]
    assert detect_layout(root) == layout
    train = read_posetrack(root, "train")
    assert train.layout == layout
    assert len(train.frames) == 12  # 2 videos × 6 frames, unlabelled frames included
    assert set(train.videos()) == {"000001_mpii_train", "000002_mpii_train"}
    frames = train.videos()["000001_mpii_train"]
    assert [f.frame_number for f in frames] == list(range(first, first + 6))
    assert all(f.first_number == first and f.digits == digits and f.nframes == 6 for f in frames)
    assert all(f.image_path.is_file() for f in frames)
    assert [f.is_labeled for f in frames] == [True, False] * 3
    assert frames[0].neighbour_path(first + 3) == frames[3].image_path
    # two annotated people per labelled frame (+ one box-only person in PT21, skipped for training)
    assert sum(len(f.persons) for f in frames) == (9 if layout == "posetrack21" else 6)
    samples = training_samples(train)
    assert len(samples) == 12
    assert all(s.keypoints[:, 2].sum() > 0 and s.box[2] > 0 and s.box[3] > 0 for s in samples)
    val = read_posetrack(root, "val")
    assert len(val.frames) == 6 and val.gt_path == root / gt_dir and val.gt_path.is_dir()
    # predictions are named like the GT file (PT17: <seq>_relpath_5sec_testsub.json, paired by folder)
    gt_name = "100001_mpii_test" + ("_relpath_5sec_testsub" if layout == "posetrack17" else "") + ".json"
    assert val.prediction_file_name("100001_mpii_test") == gt_name and (val.gt_path / gt_name).is_file()


def test_keypoints_and_boxes_match_the_json(synthetic_roots: dict[str, Path]) -> None:
    root = synthetic_roots["posetrack18"]
    doc = json.loads((root / "annotations" / "train" / "000001_mpii_train.json").read_text())
    first = doc["annotations"][0]
    frame = read_posetrack(root, "train").videos()["000001_mpii_train"][0]
    person = frame.persons[0]
    np.testing.assert_allclose(person.keypoints.reshape(-1), first["keypoints"])
    x, y, w, h = first["bbox"]
    # boxes are clipped to the image as in the reference (x2 = x1 + w − 1)
    np.testing.assert_allclose(person.box[:2], [max(0, x), max(0, y)])
    assert person.box[2] <= w and person.box[3] <= h and person.track_id == 0


def test_missing_pieces_are_named(tmp_path: Path, synthetic_roots: dict[str, Path]) -> None:
    with pytest.raises(PoseCliError, match="not a folder"):
        detect_layout(tmp_path / "nope")
    with pytest.raises(PoseCliError, match="posetrack_data.*annotations.*posetrack17_json_files"):
        detect_layout(tmp_path)
    root = tmp_path / "pt18"
    shutil.copytree(synthetic_roots["posetrack18"], root)
    with pytest.raises(PoseCliError, match="annotations/test is missing"):
        read_posetrack(root, "test")
    shutil.rmtree(root / "images" / "train" / "000002_mpii_train")
    with pytest.raises(
        PoseCliError,
        match="000002_mpii_train.json.*frame 'images/train/000002_mpii_train/000000.jpg' not found",
    ):
        read_posetrack(root, "train")
    (root / "annotations" / "val" / "100001_mpii_test.json").write_text("{not json")
    with pytest.raises(PoseCliError, match="100001_mpii_test.json: not valid JSON"):
        read_posetrack(root, "val")


@pytest.mark.parametrize(
    ("number", "first", "nframes", "expected"),
    [
        (5, 0, 10, [3, 4, 5, 6, 7]),  # interior
        (0, 0, 10, [0, 0, 0, 1, 2]),  # p = 0 → (t, t)
        (1, 0, 10, [0, 1, 1, 2, 3]),  # p = 1 → (t−1, t)
        (8, 0, 10, [6, 7, 8, 9, 9]),  # n = 1 → (t+1, t+1)
        (9, 0, 10, [7, 8, 9, 9, 9]),  # n = 0 → (t, t)
        (1, 1, 10, [1, 1, 1, 2, 3]),  # PT17 numbering starts at 1
        (10, 1, 10, [8, 9, 10, 10, 10]),
        (0, 0, 1, [0, 0, 0, 0, 0]),  # one-frame video
    ],
)
def test_supporting_frames_follow_the_reference_rule(
    number: int, first: int, nframes: int, expected: list[int]
) -> None:
    assert supporting_frames(number, first, nframes) == expected


def test_validation_samples_from_a_detection_box_file(
    tmp_path: Path, synthetic_roots: dict[str, Path]
) -> None:
    split = read_posetrack(synthetic_roots["posetrack17"], "val")
    frame = split.frames[2]
    boxes = [
        # named as in the literature's box files (original 'images/' paths), one below the 0.2 threshold
        {"image_name": frame.image_name, "bbox": [10, 20, 50, 90], "score": 0.9, "category_id": 1},
        {"image_name": frame.image_name, "bbox": [30, 20, 50, 90], "score": 0.1, "category_id": 1},
        {
            "image_name": "images/999999_mpii_test/00000001.jpg",
            "bbox": [1, 1, 5, 5],
            "score": 0.9,
            "category_id": 1,
        },
    ]
    path = tmp_path / "val_boxes.json"
    path.write_text(json.dumps(boxes))
    samples = validation_samples(split, path)
    assert len(samples) == 1
    assert samples[0].frame is frame and samples[0].score == pytest.approx(0.9)
    np.testing.assert_allclose(samples[0].box, [10, 20, 50, 90])
    assert len(validation_samples(split)) == 6  # GT boxes: 3 labelled frames × 2 people
    path.write_text(json.dumps({"not": "a list"}))
    with pytest.raises(PoseCliError, match="expected a JSON list"):
        validation_samples(split, path)


def test_frame_sizes_missing_from_the_json_are_read_once_per_video(
    tmp_path: Path, synthetic_roots: dict[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    root = tmp_path / "pt18"
    shutil.copytree(synthetic_roots["posetrack18"], root)
    for path in (root / "annotations" / "train").glob("*.json"):
        doc = json.loads(path.read_text())
        for image in doc["images"]:
            del image["width"], image["height"]
        path.write_text(json.dumps(doc))
    reads: list[Path] = []
    original = cv2.imread

    def counting(path: str, *args: Any) -> Any:
        reads.append(Path(path))
        return original(path, *args)

    monkeypatch.setattr(cv2, "imread", counting)
    split = read_posetrack(root, "train")
    assert len(reads) == 2 and len({p.parent for p in reads}) == 2  # 12 frames, 2 videos, 2 decodes
    assert {(f.width, f.height) for f in split.frames} == {(160, 128)}


def test_pt17_videos_are_grouped_by_relative_folder(tmp_path: Path, synthetic_roots: dict[str, Path]) -> None:
    """Two PT17 image folders with the same last component stay two videos."""
    root = tmp_path / "pt17"
    shutil.copytree(synthetic_roots["posetrack17"], root)
    merged = root / "posetrack17_json_files" / "posetrack_train.json"
    doc = json.loads(merged.read_text())
    for image in doc["images"]:
        image["file_name"] = image["file_name"].replace("000002_mpii_train", "other/000001_mpii_train")
    merged.write_text(json.dumps(doc))
    (root / "images_renamed" / "other").mkdir()
    frames = root / "images_renamed"
    shutil.move(frames / "000002_mpii_train", frames / "other" / "000001_mpii_train")
    videos = read_posetrack(root, "train").videos()
    assert sorted(videos) == ["images_000001_mpii_train", "images_other_000001_mpii_train"]
    assert [len(v) for v in videos.values()] == [6, 6]
    assert all(f.image_path.is_file() for v in videos.values() for f in v)
    assert videos["images_other_000001_mpii_train"][0].image_path.parent.parent.name == "other"
