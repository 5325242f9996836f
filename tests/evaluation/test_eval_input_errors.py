"""``posecli eval`` on hostile input: one line naming the file and field, warnings for what poseval reads
silently, and no numpy warning lines on edge cases (``shared/spec/posetrack.md`` §12.3)."""

from __future__ import annotations

import json
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from eval_cases import HEAD, SEQ, joints_at
from typer.testing import CliRunner

from posecli.cli import app
from posecli.evaluation.formats import EvalInputWarning
from posecli.evaluation.posetrack import evaluate_posetrack
from posecli.evaluation.synthetic import SynthFrame, SynthPerson, write_sequence

runner = CliRunner()


def _case(tmp_path: Path, fmt: str = "2018") -> tuple[Path, Path]:
    """Three frames, one person, perfect predictions: (pred folder, GT folder)."""
    joints = joints_at((100.0, 100.0), score=1.0)
    gt = [SynthFrame([SynthPerson(1, joints, HEAD)]) for _ in range(3)]
    pred = [
        SynthFrame([SynthPerson(1, {j: (x, y, 0.9 - 0.01 * j - 0.1 * k) for j, (x, y, _) in joints.items()})])
        for k in range(3)
    ]
    write_sequence(tmp_path / "gt" / f"{SEQ}.json", SEQ, gt, gt=True, fmt=fmt)
    write_sequence(tmp_path / "pred" / f"{SEQ}.json", SEQ, pred, gt=False, fmt=fmt)
    return tmp_path / "pred", tmp_path / "gt"


def _edit(file: Path, change: Callable[[Any], Any]) -> None:
    """Apply ``change`` to the parsed document; a returned str or bytes is written as the file instead."""
    document = json.loads(file.read_text())
    text = change(document)
    if not isinstance(text, (str, bytes)):
        text = json.dumps(document)
    file.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)


def _set(*path: Any, value: Any) -> Callable[[Any], None]:
    def change(document: Any) -> None:
        for step in path[:-1]:
            document = document[step]
        document[path[-1]] = value

    return change


def _raw(*path: Any, token: str) -> Callable[[Any], str]:
    """Put a JSON token json.dumps cannot write (``NaN``, ``1e400``, a 400-digit integer) at ``path``."""

    def change(document: Any) -> str:
        _set(*path, value="@@token@@")(document)
        return json.dumps(document).replace('"@@token@@"', token)

    return change


def _one_error_line(output: str) -> str:
    lines = [line for line in output.splitlines() if line.strip()]
    assert len(lines) == 1, output
    assert "Traceback" not in output and "unexpected error" not in output, output
    return lines[0]


ERRORS = [
    # (id, which file, format, change, expected text after "<file>: ")
    ("coordinate-1e400", "pred", "2018", _raw("annotations", 0, "keypoints", 0, token="1e400"),
     "annotations[0].keypoints[0]: expected a finite number, got inf"),
    ("coordinate-10**400", "pred", "2018", _raw("annotations", 1, "keypoints", 3, token="1" + "0" * 400),
     "annotations[1].keypoints[3]: expected a finite number, got an integer of about 400 digits"),
    ("coordinate-NaN", "pred", "2018", _raw("annotations", 0, "keypoints", 1, token="NaN"),
     "annotations[0].keypoints[1]: expected a finite number, got nan"),
    ("score-Infinity", "pred", "2018", _raw("annotations", 2, "scores", 5, token="Infinity"),
     "annotations[2].scores[5]: expected a finite number, got inf"),
    ("gt-coordinate-NaN", "gt", "2018", _raw("annotations", 0, "keypoints", 0, token="NaN"),
     "annotations[0].keypoints[0]: expected a finite number, got nan"),
    ("head-box-10**400", "gt", "2018", _raw("annotations", 0, "bbox_head", 2, token="1" + "0" * 400),
     "annotations[0].bbox_head[2]: expected a finite number, got an integer of about 400 digits"),
    ("2017-point-1e400", "pred", "2017", _raw("annolist", 0, "annorect", 0, "annopoints", 0, "point", 2, "x",
                                              token="[1e400]"),
     "annolist[0].annorect[0].annopoints[0].point[2].x: expected a finite number, got inf"),
    ("2017-head-NaN", "gt", "2017", _raw("annolist", 1, "annorect", 0, "x2", token="[NaN]"),
     "annolist[1].annorect[0].x2: expected a finite number, got nan"),
    ("track-id-2**70", "pred", "2018", _set("annotations", 0, "track_id", value=2**70),
     "annotations[0].track_id: track id out of range (1180591620717411303424 does not fit in 64 bits)"),
    ("gt-track-id-2**70", "gt", "2017", _set("annolist", 0, "annorect", 0, "track_id", value=[2**70]),
     "annolist[0].annorect[0].track_id: track id out of range (1180591620717411303424 does not fit"),
    ("deep-nesting", "pred", "2018", lambda d: "[" * 100_000 + "]" * 100_000,
     "lists or objects nested too deeply to read"),
    ("image-id-list", "pred", "2018", _set("images", 1, "id", value=[1]),
     "images[1].id: expected an integer or string image id, got a list"),
    ("image-id-object", "gt", "2018", _set("images", 0, "id", value={"a": 1}),
     "images[0].id: expected an integer or string image id, got an object"),
    ("annotation-image-id-list", "gt", "2018", _set("annotations", 0, "image_id", value=[]),
     "annotations[0].image_id: expected an integer or string image id, got a list"),
    ("invalid-utf8", "pred", "2018", lambda d: json.dumps(d).encode().replace(b"images/", b"images\xff/", 1),
     "not valid UTF-8 text (byte 0xff at offset "),
    ("integer-over-4300-digits", "gt", "2018", _raw("annotations", 0, "track_id", token="9" * 5000),
     "not readable as JSON (Exceeds the limit (4300 digits) for integer string conversion"),
]  # fmt: skip


@pytest.mark.parametrize(
    ("role", "fmt", "change", "expected"), [e[1:] for e in ERRORS], ids=[e[0] for e in ERRORS]
)
def test_malformed_input_is_one_line_naming_file_and_field(
    tmp_path: Path, role: str, fmt: str, change: Callable[[Any], Any], expected: str
) -> None:
    pred, gt = _case(tmp_path, fmt)
    file = (pred if role == "pred" else gt) / f"{SEQ}.json"
    _edit(file, change)
    result = runner.invoke(app, ["eval", str(pred), "--gt", str(gt), "-q", "--metrics", "ap,mota,oks"])
    assert result.exit_code == 1, result.output
    line = _one_error_line(result.output)
    assert line.startswith(f"posecli eval: error: {file}: {expected}"), line


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
@pytest.mark.parametrize("role", ["pred", "gt"])
def test_a_fifo_as_input_is_refused_in_one_line(tmp_path: Path, role: str) -> None:
    pred, gt = _case(tmp_path)
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    args = [str(fifo), "--gt", str(gt)] if role == "pred" else [str(pred), "--gt", str(fifo)]
    result = runner.invoke(app, ["eval", *args, "-q"])
    assert result.exit_code == 1
    line = _one_error_line(result.output)
    assert line.startswith(f"posecli eval: error: {fifo}: ") and "not a regular file or folder" in line, line


def test_image_file_name_with_unicode_digits_is_read(tmp_path: Path) -> None:
    """``"²".isdigit()`` is True but ``int("²")`` fails: such a name is no frame number, not a crash."""
    pred, gt = _case(tmp_path)
    for file in (pred / f"{SEQ}.json", gt / f"{SEQ}.json"):
        _edit(file, _set("images", 2, "file_name", value=f"images/val/{SEQ}/²³.jpg"))
    result = evaluate_posetrack(pred, gt)
    assert result.total_ap == pytest.approx(100.0)


def test_values_that_look_like_rich_markup_are_printed_as_text(tmp_path: Path) -> None:
    """An error or warning quoting ``[/x]`` once crashed the CLI root (Rich MarkupError, a traceback)."""
    pred, gt = _case(tmp_path)
    file = pred / f"{SEQ}.json"
    _edit(file, _set("annotations", 0, "keypoints", 0, value="[/x]"))
    result = runner.invoke(app, ["eval", str(pred), "--gt", str(gt), "-q"])
    assert result.exit_code == 1, result.output
    line = _one_error_line(result.output)
    assert line == f"posecli eval: error: {file}: annotations[0].keypoints[0]: expected a number, got '[/x]'"
    _edit(file, _set("annotations", 0, "keypoints", 0, value=1.0))
    _edit(file, lambda d: [image.__setitem__("id", "[/x]") for image in d["images"][:2]])
    result = runner.invoke(app, ["eval", str(pred), "--gt", str(gt), "-q"])
    assert result.exit_code == 0, result.output
    assert f"warning: {file}: images[1].id: image id '[/x]' is also used by images[0]" in result.output


# ---------------------------------------------------------------------------------------------------------
# what poseval reads silently: warnings naming the file


def test_duplicate_image_ids_warn_naming_file_and_id(tmp_path: Path) -> None:
    pred, gt = _case(tmp_path)
    file = gt / f"{SEQ}.json"
    _edit(file, lambda d: d["images"][2].__setitem__("id", d["images"][0]["id"]))
    image_id = json.loads(file.read_text())["images"][0]["id"]
    with pytest.warns(EvalInputWarning) as record:
        evaluate_posetrack(pred, gt)
    messages = [str(w.message) for w in record]
    assert any(
        m.startswith(f"{file}: images[2].id: image id {image_id} is also used by images[0]") for m in messages
    ), messages
    result = runner.invoke(app, ["eval", str(pred), "--gt", str(gt), "-q"])
    assert result.exit_code == 0
    assert f"warning: {file}: images[2].id: image id {image_id}" in result.output.replace("\n", "")


def test_annotations_without_an_image_warn_with_their_count(tmp_path: Path) -> None:
    pred, gt = _case(tmp_path)
    file = pred / f"{SEQ}.json"

    def orphan_two(document: Any) -> None:
        document["annotations"][0]["image_id"] = 5
        document["annotations"][1]["image_id"] = "no such image"

    _edit(file, orphan_two)
    with pytest.warns(EvalInputWarning, match="annotations: 2 annotation") as record:
        result = evaluate_posetrack(pred, gt)
    assert any(str(w.message).startswith(f"{file}: annotations: 2 annotation(s)") for w in record)
    assert result.ap is not None and result.ap.num_samples.sum() == 15  # one frame of predictions left


def test_valid_input_gives_no_input_warning(tmp_path: Path) -> None:
    pred, gt = _case(tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = evaluate_posetrack(pred, gt)
    assert result.total_ap == pytest.approx(100.0)


# ---------------------------------------------------------------------------------------------------------
# numpy warnings


def _scale(document: Any, factor: float) -> None:
    for annotation in document["annotations"]:
        annotation["keypoints"] = [
            v * factor if k % 3 != 2 else v for k, v in enumerate(annotation["keypoints"])
        ]


EDGE_CASES: list[tuple[str, str, Callable[[Any], Any]]] = [
    ("coordinates-near-float-max", "pred", lambda d: _scale(d, 1e305)),
    ("gt-coordinates-near-float-max", "gt", lambda d: _scale(d, -1e305)),
    ("scores-near-float-max", "pred", lambda d: [a.__setitem__("scores", [1.7e308] * 17)
                                                 for a in d["annotations"]]),
    ("head-box-near-float-max", "gt", lambda d: [a.__setitem__("bbox_head", [1e308, 1e308, 1e308, 1e308])
                                                 for a in d["annotations"]]),
    ("zero-size-head-boxes", "gt", lambda d: [a.__setitem__("bbox_head", [5, 5, 0, 0])
                                              for a in d["annotations"]]),
    ("empty-predictions", "pred", lambda d: d.__setitem__("annotations", [])),
    ("no-gt-people", "gt", lambda d: d.__setitem__("annotations", [])),
    ("all-frames-ignored", "gt", lambda d: [im.update(ignore_regions_x=[[-1e4, 1e4, 1e4, -1e4]],
                                                      ignore_regions_y=[[-1e4, -1e4, 1e4, 1e4]])
                                            for im in d["images"]]),
    ("unlabeled-frames", "gt", lambda d: [im.__setitem__("is_labeled", False) for im in d["images"]]),
]  # fmt: skip


@pytest.mark.parametrize("mode", ["poseval", "posetrack21"])
@pytest.mark.parametrize(("role", "change"), [e[1:] for e in EDGE_CASES], ids=[e[0] for e in EDGE_CASES])
def test_edge_cases_print_no_numpy_warning(
    tmp_path: Path, role: str, change: Callable[[Any], Any], mode: str
) -> None:
    pred, gt = _case(tmp_path)
    _edit((pred if role == "pred" else gt) / f"{SEQ}.json", change)
    metrics = ["ap", "mota", "oks"] if mode == "poseval" else ["ap", "oks"]
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)  # numpy's "overflow encountered in ..." and friends
        result = evaluate_posetrack(pred, gt, mode=mode, metrics=metrics, per_sequence=True)
    assert result.num_sequences == 1
