"""Tests for posecli/export/boxes.py: boxes and tracks files, round trips and validation."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posecli.errors import PoseCliError
from posecli.export.boxes import (
    FrameDetections,
    read_boxes_json,
    read_tracks_json,
    write_boxes_json,
    write_tracks_json,
)
from posecli.structures import Detection


def detections_fixture() -> list[FrameDetections]:
    return [
        FrameDetections(
            0,
            0.0,
            (Detection(np.array([10.0, 20.0, 50.5, 120.25]), 0.91, np.array([[30.0, 70.0], [31.5, 20.0]])),),
        ),
        FrameDetections(1, 0.04, ()),  # nobody found: still listed
        FrameDetections(
            2,
            0.08,
            (
                Detection(np.array([12.0, 21.0, 52.0, 119.0]), 0.88),
                Detection(np.array([200.0, 5.0, 240.0, 90.0]), 0.4),
            ),
        ),
    ]


def test_boxes_round_trip(tmp_path: Path, video_info) -> None:
    frames = detections_fixture()
    path = tmp_path / "clip.boxes.json"
    write_boxes_json(path, frames, video_info)
    doc = json.loads(path.read_text())
    assert doc["format"] == "posecli-boxes" and doc["version"] == 1
    assert doc["video"] == {
        "path": str(video_info.path),
        "fps": 25.0,
        "num_frames": 6,
        "width": 320,
        "height": 240,
    }
    assert doc["frames"][0]["detections"][0]["bbox"] == [10.0, 20.0, 40.5, 100.25]
    assert doc["frames"][1] == {"index": 1, "timestamp": 0.04, "detections": []}
    read = read_boxes_json(path)
    assert read.video.width == 320 and read.video.fps == 25.0
    assert [f.frame_index for f in read.frames] == [0, 1, 2]
    assert [f.timestamp for f in read.frames] == [0.0, 0.04, 0.08]
    for original, back in zip(frames, read.frames):
        assert len(back.detections) == len(original.detections)
        for a, b in zip(original.detections, back.detections):
            np.testing.assert_allclose(b.box, a.box)
            assert b.score == a.score
            if a.landmarks is None:
                assert b.landmarks is None
            else:
                np.testing.assert_allclose(b.landmarks, a.landmarks)


def test_tracks_round_trip(tmp_path: Path, video_info, make_results) -> None:
    results = make_results(frames=(0, 1, 2))
    path = tmp_path / "clip.tracks.json"
    write_tracks_json(path, results, video_info)
    doc = json.loads(path.read_text())
    assert doc["format"] == "posecli-tracks"
    assert "keypoints" not in doc["frames"][0]["detections"][0]
    tracks = read_tracks_json(path)
    for original, back in zip(results, tracks.frames):
        assert back.frame_index == original.frame_index
        assert [p.track_id for p in back.instances] == [p.track_id for p in original.instances]
        for a, b in zip(original.instances, back.instances):
            np.testing.assert_allclose(b.box, a.box, atol=1.2e-2)
            assert b.score == pytest.approx(a.score, abs=1e-6)
            assert b.keypoints.shape == (17, 3) and not b.keypoints.any()
    # A tracks file also reads as a boxes file (ids dropped), but not the other way round.
    assert [len(f.detections) for f in read_boxes_json(path).frames] == [2, 1, 2]
    boxes = tmp_path / "clip.boxes.json"
    write_boxes_json(boxes, detections_fixture(), video_info)
    with pytest.raises(
        PoseCliError, match=r"clip\.boxes\.json: format: expected 'posecli-tracks', got 'posecli-boxes'"
    ):
        read_tracks_json(boxes)


def test_writers_refuse_bad_input(tmp_path: Path, video_info, make_results) -> None:
    frames = detections_fixture()
    with pytest.raises(ValueError, match="increasing frame_index"):
        write_boxes_json(tmp_path / "b.json", [frames[2], frames[0]], video_info)
    untracked = make_results(frames=(0,))
    untracked[0] = untracked[0].__class__(
        0, 0.0, tuple(p.with_track_id(None) for p in untracked[0].instances)
    )
    with pytest.raises(ValueError, match="no track_id"):
        write_tracks_json(tmp_path / "t.json", untracked, video_info)
    assert list(tmp_path.iterdir()) == []


def document() -> dict:
    return {
        "format": "posecli-tracks",
        "version": 1,
        "video": {"path": "v.mp4", "fps": 30, "num_frames": 2, "width": 64, "height": 48},
        "frames": [
            {"index": 0, "timestamp": 0, "detections": [{"bbox": [1, 2, 3, 4], "score": 0.5, "track_id": 0}]},
            {
                "index": 1,
                "timestamp": 0.033,
                "detections": [{"bbox": [1, 2, 3, 4], "score": 0.5, "track_id": 0}],
            },
        ],
    }


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.__setitem__("format", "other"), r"format: expected 'posecli-tracks', got 'other'"),
        (lambda d: d.__setitem__("version", 9), r"version: unsupported version 9"),
        (lambda d: d["video"].pop("fps"), r"video\.fps: missing"),
        (lambda d: d["video"].__setitem__("width", 0), r"video\.width: expected an integer >= 1"),
        (lambda d: d["frames"][1].__setitem__("index", 0), r"frames\[1\]\.index: 0 does not follow 0"),
        (
            lambda d: d["frames"][0]["detections"][0].pop("track_id"),
            r"frames\[0\]\.detections\[0\]\.track_id: missing",
        ),
        (
            lambda d: d["frames"][0]["detections"][0].__setitem__("bbox", [1, 2]),
            r"frames\[0\]\.detections\[0\]\.bbox: expected 4 values",
        ),
        (
            lambda d: d["frames"][0]["detections"].append(d["frames"][0]["detections"][0]),
            r"frames\[0\]\.detections: duplicate track_id",
        ),
        (
            lambda d: d["frames"][0].__setitem__("timestamp", None),
            r"frames\[0\]\.timestamp: expected a number, got null",
        ),
    ],
)
def test_malformed_tracks_files(tmp_path: Path, change, message: str) -> None:
    doc = document()
    change(doc)
    path = tmp_path / "bad.tracks.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(PoseCliError, match=r"bad\.tracks\.json: " + message):
        read_tracks_json(path)
