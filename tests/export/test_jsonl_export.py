"""Tests for posecli/export/jsonl.py: streamed lines, atomic publication, round trip, validation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from posecli.errors import PoseCliError
from posecli.export.jsonl import JsonlWriter, iter_jsonl, read_jsonl


def test_lines_are_streamed_then_published(tmp_path: Path, make_results, same_people) -> None:
    results = make_results(frames=(0, 1, 2), with_coco=True)
    target = tmp_path / "clip.jsonl"
    writer = JsonlWriter(target)
    for count, result in enumerate(results, start=1):
        writer.write(result)
        # Visible while running, under a temporary name; the final name does not exist yet.
        assert not target.exists()
        assert writer.partial_path.parent == tmp_path and writer.partial_path.name.endswith(".partial")
        assert len(writer.partial_path.read_text().splitlines()) == count
    writer.close()
    assert [p.name for p in tmp_path.iterdir()] == ["clip.jsonl"]
    lines = target.read_text().splitlines()
    assert json.loads(lines[1])["frame_index"] == 1
    back = read_jsonl(target)
    assert [(r.frame_index, r.timestamp) for r in back] == [(r.frame_index, r.timestamp) for r in results]
    for original, read in zip(results, back):
        for a, b in zip(original.instances, read.instances, strict=True):
            same_people(a, b, check_coco=True)


def test_abort_and_errors_remove_the_partial_file(tmp_path: Path, make_results) -> None:
    target = tmp_path / "a.jsonl"
    target.write_text("previous run\n")
    writer = JsonlWriter(target)
    writer.write(make_results(frames=(0,))[0])
    writer.abort()
    assert [p.name for p in tmp_path.iterdir()] == ["a.jsonl"]
    assert target.read_text() == "previous run\n"  # the older complete file is kept
    with pytest.raises(KeyError), JsonlWriter(tmp_path / "b.jsonl") as w:
        w.write(make_results(frames=(0,))[0])
        raise KeyError("stop")
    assert [p.name for p in tmp_path.iterdir()] == ["a.jsonl"]
    writer.abort()  # idempotent
    with pytest.raises(ValueError, match="closed"):
        writer.write(make_results(frames=(0,))[0])


def test_reader_streams(tmp_path: Path, make_results) -> None:
    path = tmp_path / "s.jsonl"
    with JsonlWriter(path) as writer:
        for result in make_results(frames=(0, 1, 5)):
            writer.write(result)
    iterator = iter_jsonl(path)
    assert next(iterator).frame_index == 0
    assert [r.frame_index for r in iterator] == [1, 5]


@pytest.mark.parametrize(
    ("lines", "message"),
    [
        (['{"frame_index": 0, "timestamp": 0, "instances": []}', "{oops"], r"line 2: not valid JSON"),
        (['{"frame_index": 0, "instances": []}'], r"line 1: timestamp: missing"),
        (
            [
                '{"frame_index": 1, "timestamp": 0, "instances": []}',
                '{"frame_index": 1, "timestamp": 0, "instances": []}',
            ],
            r"line 2: frame_index: 1 does not follow 1",
        ),
        (
            [
                '{"frame_index": 0, "timestamp": 0, "instances": [{"track_id": 1, "score": 1, "bbox": [0, 0, 1, 1], "keypoints": [[0, 0, 0]]}]}'
            ],
            r"line 1: instances\[0\]\.keypoints: expected 17 values",
        ),
        (
            [
                '{"frame_index": 0, "timestamp": 0, "instances": [{"track_id": 1, "score": "high", "bbox": [0, 0, 1, 1]}]}'
            ],
            r"line 1: instances\[0\]\.score: expected a number",
        ),
        (["[1, 2]"], r"line 1: expected an object, got a list"),
    ],
)
def test_malformed_lines_are_named(tmp_path: Path, lines: list[str], message: str) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(PoseCliError, match=r"bad\.jsonl: " + message):
        read_jsonl(path)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PoseCliError, match="none.jsonl: no such file"):
        read_jsonl(tmp_path / "none.jsonl")
