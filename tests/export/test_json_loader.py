"""The one JSON loader (``posecli.export._json``) and the field checks of the export readers on hostile
input: every failure is one ``PoseCliError`` line naming the file (and field), never another exception."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from posecli.cli import app
from posecli.errors import PoseCliError
from posecli.export._json import integer, load_json, number, short
from posecli.export.boxes import read_boxes_json
from posecli.export.jsonl import read_jsonl
from posecli.export.posetrack import posetrack_document, read_posetrack_file, read_posetrack_json
from posecli.structures import FrameResult, PoseInstance
from posecli.video import VideoInfo

runner = CliRunner()


def _boxes(box: list[float] | str) -> str:
    """A boxes file whose one detection per frame has ``box`` (a list, or raw JSON text)."""
    document = {
        "format": "posecli-boxes", "version": 1,
        "video": {"path": "v.mp4", "fps": 25.0, "num_frames": 3, "width": 640, "height": 480},
        "frames": [
            {"index": k, "timestamp": k / 25, "detections": [{"bbox": "@@box@@", "score": 0.9}]}
            for k in range(3)
        ],
    }  # fmt: skip
    return json.dumps(document).replace('"@@box@@"', box if isinstance(box, str) else json.dumps(box))


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'{"a": "\xff"}', r"bad\.json: not valid UTF-8 text \(byte 0xff at offset 7\)$"),
        (b"[" * 100_000 + b"]" * 100_000, r"bad\.json: lists or objects nested too deeply to read$"),
        (
            b'{"a": ' + b"7" * 5000 + b"}",
            r"bad\.json: not readable as JSON \(Exceeds the limit \(4300 digits\)",
        ),
        (
            b'{"a": [1, {"b": Infinity}]}',
            r"bad\.json: a\[1\]\.b: Infinity is not allowed in posecli JSON files$",
        ),
        (b'{"a": [1e400]}', r"bad\.json: a\[0\]: a number too large for a float is not allowed"),
        (b'{"a": 1', r"bad\.json: not valid JSON \(Expecting ',' delimiter at line 1 col 8\)$"),
    ],
    ids=["invalid-utf8", "deep-nesting", "5000-digits", "infinity", "1e400", "truncated"],
)
def test_load_json_failures_are_one_line_naming_the_file(tmp_path: Path, data: bytes, expected: str) -> None:
    path = tmp_path / "bad.json"
    path.write_bytes(data)
    with pytest.raises(PoseCliError, match=expected) as info:
        load_json(path)
    assert "\n" not in str(info.value)


def test_load_json_reads_a_utf8_bom_and_utf16(tmp_path: Path) -> None:
    path = tmp_path / "ok.json"
    path.write_bytes(b"\xef\xbb\xbf" + b'{"a": 1}')
    assert load_json(path) == {"a": 1}
    path.write_bytes('{"a": "é"}'.encode("utf-16"))
    assert load_json(path) == {"a": "é"}


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_load_json_refuses_a_fifo_instead_of_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)

    def unblock() -> None:  # if the loader opened the FIFO it would wait for a writer forever
        try:
            os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass

    timer = threading.Timer(3.0, unblock)
    timer.start()
    try:
        with pytest.raises(PoseCliError, match=r"pipe\.json: not a regular file"):
            load_json(fifo)
    finally:
        timer.cancel()


def test_number_and_integer_refuse_what_does_not_fit(tmp_path: Path) -> None:
    path = tmp_path / "f.json"
    with pytest.raises(PoseCliError, match=r"f\.json: x: expected a finite number, got an integer too large"):
        number(path, "x", 10**400)
    with pytest.raises(
        PoseCliError, match=r"f\.json: t: out of range \(1180591620717411303424 does not fit in 64 bits\)$"
    ):
        integer(path, "t", 2**70)
    assert integer(path, "t", 2**63 - 1) == 2**63 - 1
    assert short(10**4000).startswith("an integer of about 4000 digits") and short([1] * 100) == "a list"


def test_jsonl_line_with_invalid_utf8_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "run.jsonl"
    good = json.dumps({"frame_index": 0, "timestamp": 0.0, "instances": []}).encode()
    path.write_bytes(good + b"\n" + b'{"frame_index": 1, "\xc3(": 0}\n')
    with pytest.raises(PoseCliError, match=r"run\.jsonl: line 2: not valid UTF-8 text \(byte 0xc3 at offset"):
        read_jsonl(path)


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        (
            [1e308, 1e308, 1e308, 1e308],
            r"frames\[0\]\.detections\[0\]\.bbox: 1e\+308 is beyond \+-1e\+07 pixels",
        ),
        ([10, 10, 1e300, 50], r"frames\[0\]\.detections\[0\]\.bbox: 1e\+300 is beyond"),
        ("[10, 10, 1e400, 50]", r"frames\[0\]\.detections\[0\]\.bbox\[2\]: a number too large for a float"),
        (
            "[10, 10, 1" + "0" * 400 + ", 50]",
            r"frames\[0\]\.detections\[0\]\.bbox\[2\]: expected a finite number",
        ),
    ],
    ids=["1e308", "1e300-width", "1e400", "10**400"],
)
def test_boxes_beyond_any_frame_are_refused_naming_the_field(
    tmp_path: Path, box: list[float] | str, expected: str
) -> None:
    path = tmp_path / "v.boxes.json"
    path.write_text(_boxes(box))
    with pytest.raises(PoseCliError, match=expected):
        read_boxes_json(path)


def test_track_on_1e308_boxes_is_one_line_naming_file_and_field(tmp_path: Path) -> None:
    """Before: the tracker's IoU and Kalman math overflowed (dozens of numpy lines) and the writer failed
    with ``unexpected error (ValueError)``."""
    path = tmp_path / "v.boxes.json"
    path.write_text(_boxes([1e308, 1e308, 1e308, 1e308]))
    result = runner.invoke(app, ["track", str(path), "-o", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert lines == [
        f"posecli track: error: {path}: frames[0].detections[0].bbox: 1e+308 is beyond +-1e+07 pixels"
    ]


def test_boxes_with_zero_fps_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "v.boxes.json"
    path.write_text(_boxes([1, 2, 3, 4]).replace('"fps": 25.0', '"fps": 0'))
    with pytest.raises(PoseCliError, match=r"v\.boxes\.json: video\.fps: expected a number > 0, got 0"):
        read_boxes_json(path)


def _posetrack(tmp_path: Path) -> tuple[Path, dict[str, object]]:
    keypoints = np.array([[100.0 + 5 * j, 120.0 + 9 * j, 0.9] for j in range(17)])
    person = PoseInstance(
        keypoints=keypoints, box=np.array([100.0, 120.0, 180.0, 264.0]), score=0.9, track_id=1
    )
    results = [FrameResult(frame_index=k, timestamp=k / 25, instances=(person,)) for k in range(2)]
    document = posetrack_document(results, VideoInfo(Path("clip.mp4"), 25.0, 2, 640, 480, 0, "test"), "clip")
    return tmp_path / "clip.posetrack.json", document


def test_posetrack_file_size_and_name_are_validated(tmp_path: Path) -> None:
    path, document = _posetrack(tmp_path)
    path.write_text(json.dumps(document))
    read = read_posetrack_file(path)
    assert (read.width, read.height, read.video_name, len(read.frames)) == (640, 480, "clip", 2)
    for bad, expected in [
        ("abc", "expected an integer, got a string"),
        ([1], "expected an integer, got a list"),
        (2**70, r"out of range \(1180591620717411303424 does not fit"),
        (-5, "expected an integer >= 0, got -5"),
    ]:
        document["images"][0]["width"] = bad  # type: ignore[index]
        path.write_text(json.dumps(document))
        with pytest.raises(PoseCliError, match=rf"clip\.posetrack\.json: images\[0\]\.width: {expected}"):
            read_posetrack_file(path)


def test_posetrack_keypoints_and_frame_names_out_of_range(tmp_path: Path) -> None:
    path, document = _posetrack(tmp_path)
    document["annotations"][0]["keypoints"][0] = 1e308  # type: ignore[index]
    path.write_text(json.dumps(document))
    with pytest.raises(PoseCliError, match=r"annotations\[0\]\.keypoints: 1e\+308 is beyond"):
        read_posetrack_json(path)
    path, document = _posetrack(tmp_path)
    document["images"][1]["file_name"] = "images/clip/²³.jpg"  # type: ignore[index]
    path.write_text(json.dumps(document))
    assert [r.frame_index for r in read_posetrack_json(path)] == [0, 1]  # "²³" is no frame number: position
    document["images"][1]["file_name"] = "images/clip/" + "9" * 30 + ".jpg"  # type: ignore[index]
    path.write_text(json.dumps(document))
    with pytest.raises(
        PoseCliError, match=r"images\[1\]\.file_name: a frame number of 30 digits is too large"
    ):
        read_posetrack_json(path)
