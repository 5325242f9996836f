"""Tests for posecli/export/posetrack.py: PoseTrack 2018 layout, id scheme, round trip, validation."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path

import numpy as np
import pytest

from posecli.errors import PoseCliError
from posecli.export.posetrack import read_posetrack_json, write_posetrack_json
from posecli.keypoints import POSETRACK_CATEGORY_SKELETON, POSETRACK_KEYPOINTS
from posecli.structures import FrameResult, PoseInstance


def test_layout_lists_every_frame(tmp_path: Path, video_info, make_results) -> None:
    results = make_results(frames=(0, 1, 3))  # frame 2 was not processed
    path = tmp_path / "clip.posetrack.json"
    write_posetrack_json(path, results, video_info, video_name="clip")
    doc = json.loads(path.read_text())
    assert set(doc) == {"images", "annotations", "categories"}
    (category,) = doc["categories"]
    assert category["id"] == 1 and category["name"] == "person"
    assert category["keypoints"] == list(POSETRACK_KEYPOINTS)
    assert category["skeleton"] == [list(e) for e in POSETRACK_CATEGORY_SKELETON]
    images = doc["images"]
    assert [im["id"] for im in images] == [0, 1, 2, 3]
    assert [im["frame_id"] for im in images] == [0, 1, 2, 3]
    assert images[2]["file_name"] == "images/clip/000002.jpg"
    assert [im["is_labeled"] for im in images] == [True, True, False, True]
    assert all(im["nframes"] == 4 and im["vid_id"] == "clip" for im in images)
    assert (images[0]["width"], images[0]["height"]) == (320, 240)
    annotations = doc["annotations"]
    assert len(annotations) == 2 + 1 + 2
    assert [a["id"] for a in annotations] == [1, 2, 3, 4, 5]
    assert [a["image_id"] for a in annotations] == [0, 0, 1, 3, 3]
    first, person = annotations[0], results[0].instances[0]
    assert first["category_id"] == 1 and first["track_id"] == 5
    assert len(first["keypoints"]) == 51 and len(first["scores"]) == 17
    assert first["keypoints"][9:15] == [0, 0, 0, 0, 0, 0]  # ears have score 0
    assert first["scores"][3] == first["scores"][4] == 0
    assert first["keypoints"][0:3] == [round(person.keypoints[0, 0], 2), round(person.keypoints[0, 1], 2), 1]
    x1, y1, x2, y2 = person.box
    assert first["bbox"] == pytest.approx([x1, y1, x2 - x1, y2 - y1], abs=0.011)
    assert first["score"] == pytest.approx(person.score, abs=1e-6)
    assert first["num_keypoints"] == 15


def test_round_trip(tmp_path: Path, video_info, make_results, same_people) -> None:
    results = make_results(frames=(0, 1, 2, 4))
    path = tmp_path / "out.json"
    write_posetrack_json(path, results, video_info, video_name="clip")
    back = read_posetrack_json(path)
    assert [r.frame_index for r in back] == [0, 1, 2, 3, 4]
    assert back[3].instances == ()
    assert back[3].timestamp == pytest.approx(3 / 25.0)
    by_index = {r.frame_index: r for r in back}
    for original in results:
        read = by_index[original.frame_index]
        assert read.timestamp == pytest.approx(original.timestamp)
        assert len(read.instances) == len(original.instances)
        for a, b in zip(original.instances, read.instances):
            same_people(a, b)


def test_posetrack_sequence_names_get_ground_truth_ids(tmp_path: Path, video_info, make_results) -> None:
    path = tmp_path / "seq.json"
    write_posetrack_json(path, make_results(frames=(0, 1)), video_info, video_name="003418_mpii_test")
    doc = json.loads(path.read_text())
    assert [im["id"] for im in doc["images"]] == [10034180000, 10034180001]
    assert doc["images"][1]["file_name"] == "images/003418_mpii_test/000001.jpg"
    assert doc["images"][0]["vid_id"] == "003418"
    write_posetrack_json(path, make_results(frames=(0,)), video_info, video_name="024159_bonn_train")
    assert json.loads(path.read_text())["images"][0]["id"] == 20241590000
    assert [r.frame_index for r in read_posetrack_json(path)] == [0]


def test_untracked_people_get_their_index_in_the_frame(tmp_path: Path, video_info, make_results) -> None:
    people = make_results(frames=(0,))[0].instances
    untracked = FrameResult(0, 0.0, tuple(p.with_track_id(None) for p in people))
    path = tmp_path / "u.json"
    write_posetrack_json(path, [untracked], video_info, video_name="u")
    assert [p.track_id for p in read_posetrack_json(path)[0].instances] == [0, 1]


def test_duplicate_frames_are_a_programming_error(tmp_path: Path, video_info, make_results) -> None:
    results = make_results(frames=(0, 0))
    with pytest.raises(ValueError, match="two results for frame 0"):
        write_posetrack_json(tmp_path / "d.json", results, video_info, video_name="d")
    assert list(tmp_path.iterdir()) == []


def ground_truth_document() -> dict:
    """A PoseTrack 2018 GT-like file: 15 names in another order, `scores: []`, head boxes."""
    names = ["right_ankle", "nose", "head_top", "left_wrist"] + [
        n
        for n in POSETRACK_KEYPOINTS
        if n not in ("right_ankle", "nose", "head_top", "left_wrist", "left_ear", "right_ear")
    ]
    keypoints = []
    for k in range(15):
        keypoints += [10.0 + k, 20.0 + k, 1] if k != 2 else [0, 0, 0]
    return {
        "images": [
            {"id": 10000000, "file_name": "images/val/000001_bonn/000007.jpg", "is_labeled": True},
            {"id": 10000001, "file_name": "images/val/000001_bonn/000008.jpg", "is_labeled": False},
        ],
        "annotations": [
            {
                "id": 1,
                "image_id": 10000000,
                "category_id": 1,
                "track_id": 3,
                "keypoints": keypoints,
                "scores": [],
                "bbox": [1, 2, 30, 40],
                "bbox_head": [1, 2, 5, 5],
            },
        ],
        "categories": [{"id": 1, "name": "person", "keypoints": names, "skeleton": []}],
    }


def test_reads_ground_truth_mapping_names_to_slots(tmp_path: Path) -> None:
    path = tmp_path / "gt.json"
    path.write_text(json.dumps(ground_truth_document()))
    frames = read_posetrack_json(path, fps=10.0)
    assert [(f.frame_index, f.timestamp) for f in frames] == [(7, 0.7), (8, 0.8)]
    (person,) = frames[0].instances
    assert person.track_id == 3 and person.score == 1.0
    np.testing.assert_allclose(person.box, [1, 2, 31, 42])
    slot = POSETRACK_KEYPOINTS.index
    np.testing.assert_allclose(person.keypoints[slot("right_ankle")], [10, 20, 1])
    np.testing.assert_allclose(person.keypoints[slot("nose")], [11, 21, 1])
    np.testing.assert_allclose(person.keypoints[slot("head_top")], [0, 0, 0])  # unannotated
    np.testing.assert_allclose(person.keypoints[slot("left_wrist")], [13, 23, 1])
    np.testing.assert_allclose(person.keypoints[[3, 4]], 0)  # ears are absent from the file


def broken(document: dict, change) -> dict:
    change(document)
    return document


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d["annotations"][0].pop("track_id"), r"annotations\[0\]\.track_id: missing"),
        (
            lambda d: d["annotations"][0]["keypoints"].pop(),
            r"annotations\[0\]\.keypoints: expected 45 numbers",
        ),
        (
            lambda d: d["annotations"][0]["keypoints"].__setitem__(4, "x"),
            r"annotations\[0\]\.keypoints\[4\]: expected a number, got a string",
        ),
        (
            lambda d: d["annotations"][0].__setitem__("scores", [0.5] * 3),
            r"annotations\[0\]\.scores: expected 15 values, got 3",
        ),
        (
            lambda d: d["annotations"][0].__setitem__("image_id", 5),
            r"annotations\[0\]\.image_id: no image with id 5",
        ),
        (
            lambda d: d["annotations"][0].__setitem__("track_id", "a"),
            r"annotations\[0\]\.track_id: expected an integer",
        ),
        (
            lambda d: d["annotations"][0].__setitem__("bbox", [0, 0, -1, 3]),
            r"annotations\[0\]\.bbox: box width and height",
        ),
        (lambda d: d.pop("categories"), r"categories: missing"),
        (
            lambda d: d["categories"][0]["keypoints"].__setitem__(1, "left_eye"),
            r"categories\[0\]\.keypoints\[1\]: unknown keypoint name 'left_eye' \(COCO",
        ),
        (lambda d: d["images"][1].__setitem__("id", 10000000), r"images\[1\]\.id: duplicate image id"),
        (
            lambda d: d["images"][1].__setitem__("file_name", "images/val/x/000007.jpg"),
            r"images\[1\]\.file_name: frame 7 is listed twice",
        ),
        (lambda d: d.__setitem__("images", {}), r"images: expected a list, got an object"),
    ],
)
def test_malformed_files_name_file_and_field(tmp_path: Path, change, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(broken(ground_truth_document(), change)))
    with pytest.raises(PoseCliError, match=r"bad\.json: " + message):
        read_posetrack_json(path)


def test_unreadable_files(tmp_path: Path) -> None:
    with pytest.raises(PoseCliError, match="missing.json: no such file"):
        read_posetrack_json(tmp_path / "missing.json")
    bad = tmp_path / "trunc.json"
    bad.write_text('{"images": [')
    with pytest.raises(PoseCliError, match=r"trunc\.json: not valid JSON \(.* at line 1 col 13\)"):
        read_posetrack_json(bad)
    nan = tmp_path / "nan.json"
    nan.write_text('{"images": [], "annotations": [], "categories": [], "x": NaN}')
    with pytest.raises(PoseCliError, match=r"nan\.json: x: NaN is not allowed"):
        read_posetrack_json(nan)
    listed = tmp_path / "list.json"
    listed.write_text("[]")
    with pytest.raises(PoseCliError, match=r"list\.json: \(top level\): expected an object"):
        read_posetrack_json(listed)


def test_overwrite_is_atomic(tmp_path: Path, video_info, make_results) -> None:
    path = tmp_path / "o.json"
    path.write_text("old")
    write_posetrack_json(path, make_results(frames=(0,)), video_info, video_name="o")
    assert json.loads(path.read_text())["images"][0]["id"] == 0
    assert [p.name for p in tmp_path.iterdir()] == ["o.json"]
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE(path.stat().st_mode) == 0o666 & ~umask  # not mkstemp's private 0600


def test_person_with_all_joints_unlocated(tmp_path: Path, video_info) -> None:
    person = PoseInstance(
        keypoints=np.zeros((17, 3)), box=np.array([1.0, 2.0, 3.0, 4.0]), score=0.5, track_id=0
    )
    path = tmp_path / "z.json"
    write_posetrack_json(path, [FrameResult(0, 0.0, (person,))], video_info, video_name="z")
    (read,) = read_posetrack_json(path)[0].instances
    assert not read.keypoints.any() and read.track_id == 0
