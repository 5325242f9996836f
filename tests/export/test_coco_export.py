"""Tests for posecli/export/coco.py: COCO layout, eye slots, round trip, validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posecli.errors import PoseCliError
from posecli.export.coco import read_coco_json, write_coco_json


def test_entries_use_coco_layout(tmp_path: Path, video_info, make_results) -> None:
    results = make_results(frames=(0, 1))
    path = tmp_path / "clip.coco.json"
    write_coco_json(path, results, video_info)
    entries = json.loads(path.read_text())
    assert len(entries) == 3
    first, person = entries[0], results[0].instances[0]
    assert set(first) == {
        "image_id",
        "category_id",
        "keypoints",
        "score",
        "bbox",
        "track_id",
        "frame_index",
        "timestamp",
    }
    assert first["image_id"] == 0 and first["category_id"] == 1 and first["track_id"] == 5
    assert len(first["keypoints"]) == 51
    # No coco_keypoints: slots 1 and 2 (PoseTrack's head_bottom/head_top) must not pose as eyes.
    assert first["keypoints"][3:9] == [0, 0, 0, 0, 0, 0]
    assert first["keypoints"][0:3] == pytest.approx(list(person.keypoints[0]), abs=6e-3)  # third value: score
    assert first["keypoints"][9:15] == [0, 0, 0, 0, 0, 0]  # unlocated ears


def test_coco_keypoints_are_used_when_present(tmp_path: Path, video_info, make_results) -> None:
    results = make_results(frames=(0, 2), with_coco=True)
    path = tmp_path / "c.json"
    write_coco_json(path, results, video_info)
    entries = json.loads(path.read_text())
    eye = results[0].instances[0].coco_keypoints[1]
    assert entries[0]["keypoints"][3:6] == pytest.approx(list(eye), abs=6e-3)
    back = read_coco_json(path)
    assert [r.frame_index for r in back] == [0, 2]
    assert back[1].timestamp == pytest.approx(2 / 25)
    for original, read in zip(results, back):
        for a, b in zip(original.instances, read.instances):
            expected_keypoints = a.coco_keypoints.copy()
            expected_keypoints[1:3] = 0  # the reader cannot know head_bottom/head_top
            np.testing.assert_allclose(
                b.keypoints, np.where(expected_keypoints[:, 2:3] > 0, expected_keypoints, 0), atol=6e-3
            )
            np.testing.assert_allclose(
                b.coco_keypoints, np.where(a.coco_keypoints[:, 2:3] > 0, a.coco_keypoints, 0), atol=6e-3
            )
            assert (b.track_id, b.score) == (a.track_id, pytest.approx(a.score, abs=1e-6))


def test_round_trip_without_coco_keypoints(tmp_path: Path, video_info, make_results) -> None:
    results = make_results(frames=(0, 1, 2))
    path = tmp_path / "c.json"
    write_coco_json(path, results, video_info)
    back = read_coco_json(path)
    for original, read in zip(results, back):
        assert [p.track_id for p in read.instances] == [p.track_id for p in original.instances]
        for a, b in zip(original.instances, read.instances):
            expected = np.where(a.keypoints[:, 2:3] > 0, a.keypoints, 0)
            expected[1:3] = 0
            np.testing.assert_allclose(b.keypoints, expected, atol=6e-3)
            np.testing.assert_allclose(b.box, a.box, atol=1.2e-2)


def test_image_ids_follow_the_posetrack_scheme(tmp_path: Path, video_info, make_results) -> None:
    path = tmp_path / "c.json"
    write_coco_json(path, make_results(frames=(3,)), video_info, video_name="000342_mpii_test")
    assert {e["image_id"] for e in json.loads(path.read_text())} == {10003420003}
    assert read_coco_json(path)[0].frame_index == 3


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ({}, r"\(top level\): expected a list"),
        ([{"category_id": 1}], r"\[0\]\.image_id: missing"),
        (
            [{"image_id": 1, "keypoints": [0] * 50, "bbox": [0, 0, 1, 1], "score": 1}],
            r"\[0\]\.keypoints: expected 51 values",
        ),
        (
            [{"image_id": 1, "keypoints": [0] * 51, "bbox": [0, 0, 1], "score": 1}],
            r"\[0\]\.bbox: expected 4 values",
        ),
        ([{"image_id": 1, "keypoints": [0] * 51, "bbox": [0, 0, 1, 1]}], r"\[0\]\.score: missing"),
        (
            [{"image_id": 1, "keypoints": [0] * 51, "bbox": [0, 0, 1, 1], "score": 1, "track_id": -2}],
            r"\[0\]\.track_id: expected an integer >= 0",
        ),
        (
            [{"image_id": 1, "category_id": 2, "keypoints": [0] * 51, "bbox": [0, 0, 1, 1], "score": 1}],
            r"\[0\]\.category_id: expected 1",
        ),
    ],
)
def test_malformed_results(tmp_path: Path, content, message: str) -> None:
    path = tmp_path / "bad.coco.json"
    path.write_text(json.dumps(content))
    with pytest.raises(PoseCliError, match=r"bad\.coco\.json: " + message):
        read_coco_json(path)
