"""PrecomputedDetector: the literature's PoseTrack box file and posecli's own boxes file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from posecli.detection.base import Detector
from posecli.detection.precomputed import PrecomputedDetector, load_boxes, sequence_name
from posecli.errors import PoseCliError
from posecli.export.boxes import FrameDetections, write_boxes_json
from posecli.structures import Detection
from posecli.video import VideoInfo

FRAME = np.zeros((8, 8, 3), dtype=np.uint8)


def _entry(seq: str, name: str, bbox: list[object], score: float, category: int = 1) -> dict:
    return {"image_name": f"images/val/{seq}/{name}.jpg", "bbox": bbox, "score": score,
            "category_id": category, "nframes": 3, "frame_id": 10000000 + int(name)}  # fmt: skip


def _write(tmp_path: Path, data: object, name: str = "val_boxes.json") -> Path:
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_literature_file_pt18_frames_score_and_category(tmp_path: Path) -> None:
    path = _write(tmp_path, [
        _entry("000342_mpii_test", "000000", [10, 20, 30, 40], 0.5),
        _entry("000342_mpii_test", "000000", [50, 20, 30, 40], 0.9),
        _entry("000342_mpii_test", "000000", [90, 20, 30, 40], 0.1),  # below 0.2: dropped
        _entry("000342_mpii_test", "000002", [1, 2, 3, 4], 0.2),  # exactly 0.2: kept
        _entry("000342_mpii_test", "000001", [0, 0, 5, 5], 0.99, category=2),  # not a person
        _entry("000522_mpii_test", "000000", [0, 0, 9, 9], 0.8),
    ])  # fmt: skip
    detector = PrecomputedDetector(path, sequence="000342_mpii_test")
    assert isinstance(detector, Detector)
    first = detector(FRAME)
    assert [d.score for d in first] == [0.9, 0.5]  # sorted by score
    np.testing.assert_allclose(first[0].box, [50, 20, 80, 60])  # xywh → xyxy
    assert detector.frame_index == 1
    assert detector(FRAME) == []  # frame 1 has only a non-person box
    third = detector(FRAME)
    assert len(third) == 1 and third[0].box.dtype == np.float64 and third[0].box.shape == (4,)
    assert detector(FRAME) == []  # past the end
    detector.seek(0)
    assert len(detector(FRAME)) == 2
    assert len(PrecomputedDetector(path, sequence="000342_mpii_test", min_score=0.0).detections_at(0)) == 3


def test_literature_file_pt17_is_one_indexed(tmp_path: Path) -> None:
    path = _write(tmp_path, [_entry("bonn_5sec", "00000001", [0, 0, 1, 1], 0.7),
                             _entry("bonn_5sec", "00000003", [0, 0, 2, 2], 0.7)])  # fmt: skip
    boxes = load_boxes(path)  # one sequence: no need to name it
    assert sorted(boxes) == [0, 2]
    assert sorted(load_boxes(path, first_frame=0)) == [1, 3]


def test_sequence_must_be_named_and_exist(tmp_path: Path) -> None:
    path = _write(
        tmp_path, [_entry("a", "000000", [0, 0, 1, 1], 0.7), _entry("b", "000000", [0, 0, 1, 1], 0.7)]
    )
    with pytest.raises(PoseCliError, match="2 sequences"):
        PrecomputedDetector(path)
    with pytest.raises(PoseCliError, match="no boxes for sequence 'c'.*a, b"):
        PrecomputedDetector(path, sequence="c")
    assert sequence_name(tmp_path / "clip.mp4") == "clip"
    assert sequence_name(tmp_path) == tmp_path.name


def test_posecli_boxes_file(tmp_path: Path) -> None:
    info = VideoInfo(
        path=tmp_path / "clip.mp4", fps=25.0, num_frames=3, width=64, height=48, rotation=0, backend="pyav"
    )
    frames = [
        FrameDetections(0, 0.0, (Detection(np.array([1.0, 2, 4, 6]), 0.3),
                                 Detection(np.array([5.0, 5, 15, 15]), 0.95, np.arange(8.0).reshape(4, 2)))),
        FrameDetections(1, 0.04, ()),
        FrameDetections(2, 0.08, (Detection(np.array([0.0, 0, 2, 2]), 0.1),)),
    ]  # fmt: skip
    path = tmp_path / "clip.boxes.json"
    write_boxes_json(path, frames, info)
    detector = PrecomputedDetector(path)
    dets = detector(FRAME)
    assert [d.score for d in dets] == [0.95, 0.3]
    assert dets[0].landmarks is not None and dets[0].landmarks.shape == (4, 2)
    assert dets[1].landmarks is None
    np.testing.assert_allclose(dets[1].box, [1, 2, 4, 6])
    assert detector(FRAME) == [] and detector(FRAME) == []  # frame 2's box is below 0.2
    assert detector.num_frames_with_boxes == 1
    assert len(PrecomputedDetector(path, min_score=0.0).detections_at(2)) == 1


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ("{not json", "not valid JSON"),
        (json.dumps(3), "expected an object"),
        (json.dumps([{"bbox": [0, 0, 1, 1], "score": 0.5, "category_id": 1}]), r"\[0\]\.image_name: missing"),
        (json.dumps([_entry("s", "000000", [0, 0, 1], 0.5)]), r"\[0\]\.bbox: expected \[x, y, w, h\]"),
        (json.dumps([_entry("s", "000000", [0, 0, -1, 1], 0.5)]), r"\[0\]\.bbox: negative"),
        (
            json.dumps([_entry("s", "000000", [0, "x", 1, 1], 0.5)]),
            r"\[0\]\.bbox\[1\]: expected a finite number",
        ),
        (json.dumps([_entry("s", "000000", [0, 0, 1, 1], 1.5)]), r"\[0\]\.score: score 1.5 is outside"),
        (
            json.dumps([{**_entry("s", "000000", [0, 0, 1, 1], 0.5), "image_name": "s/last.jpg"}]),
            "frame number",
        ),
        (json.dumps([{**_entry("s", "000000", [0, 0, 1, 1], 0.5), "category_id": "person"}]), "category_id"),
        (json.dumps({"format": "posecli-boxes", "version": 1, "frames": []}), "video: missing"),
    ],
)
def test_bad_files_name_the_file_and_field(tmp_path: Path, data: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(data)
    with pytest.raises(PoseCliError, match=message) as info:
        load_boxes(path, sequence=None)
    assert str(info.value).startswith(f"{path}: ")


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PoseCliError, match="no such file"):
        PrecomputedDetector(tmp_path / "nope.json")
