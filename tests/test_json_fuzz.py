"""Fuzz every JSON format posecli reads with malformed variants generated here.

Formats: PoseTrack 2017 ``annolist``, PoseTrack 2018, PoseTrack21 (2018 plus its extra fields, scored with
``--mode posetrack21``), COCO keypoint results, ``boxes.json`` / ``tracks.json`` and JSON lines. Each
valid document is mutated field by field (wrong types, missing keys, huge and non-finite numbers,
negative ids, deep nesting, lone surrogates, text that looks like Rich markup) and as a whole file (empty, truncated, invalid UTF-8, other
encodings, absurd nesting). Every variant goes through ``posecli eval`` (and ``posecli track`` for box and
PoseTrack files) via ``CliRunner`` and through the library reader of its format.

The promise checked: exit code 0 or 1, never a traceback or an "unexpected error", no numpy warning line,
and an error is exactly one line naming the file. The default run takes a fixed sample of the field
mutations of each format; the ``slow`` test a much larger one.
"""

from __future__ import annotations

import copy
import itertools
import json
import random
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner, Result

from posecli.cli import app
from posecli.errors import PoseCliError
from posecli.evaluation.synthetic import SynthFrame, SynthPerson, to_annolist, to_posetrack18
from posecli.export.boxes import read_boxes_json, read_tracks_json
from posecli.export.coco import coco_results, read_coco_json
from posecli.export.jsonl import frame_to_dict, read_jsonl
from posecli.export.posetrack import posetrack_document, read_posetrack_json
from posecli.structures import FrameResult, PoseInstance
from posecli.video import VideoInfo

SEQ = "000001_mpii_test"
SAMPLE_PER_FORMAT = 16  # field mutations per format in the default run
SLOW_SAMPLE = 400  # per format in the slow run
DELETE = object()  # a field mutation that removes the key
RAW = "@@raw@@"  # stands for a token json.dumps cannot write (NaN, 1e400, a 400-digit integer, ...)

runner = CliRunner()
_counter = itertools.count()

# Values put in place of a field. Tuples are raw JSON text, written as they are.
REPLACEMENTS: list[Any] = [
    None, True, "x", "", "[/x]", [], {}, [1], {"a": 1}, -1, 0, 0.5, 1e308, -1e308, 2**70, -(2**70), 1e-320,
    ("NaN",), ("Infinity",), ("-Infinity",), ("1e400",), ("1" + "0" * 400,), ('"x\\ud800"',),
    ("[" * 50 + "]" * 50,),
]  # fmt: skip

WHOLE_FILE: list[tuple[str, Callable[[bytes], bytes]]] = [
    ("empty", lambda b: b""),
    ("spaces", lambda b: b"  \n"),
    ("truncated-third", lambda b: b[: len(b) // 3]),
    ("truncated-last-byte", lambda b: b[:-1]),
    ("invalid-utf8", lambda b: b.replace(b'"', b'"\xff\xfe', 1)),
    ("latin1-name", lambda b: b.replace(b"images", b"imag\xe9s", 1) if b"images" in b else b + b"\xe9"),
    ("utf8-bom", lambda b: b"\xef\xbb\xbf" + b),
    ("utf16", lambda b: b.decode("utf-8").encode("utf-16")),
    ("nul-bytes", lambda b: b"\x00" * 8),
    ("deep-nesting", lambda b: b"[" * 100_000 + b"]" * 100_000),
    ("deep-object", lambda b: b'{"a":' * 50_000 + b"1" + b"}" * 50_000),
    ("top-list", lambda b: b"[]"),
    ("top-number", lambda b: b"1e400"),
    ("top-string", lambda b: b'"annolist"'),
    ("top-null", lambda b: b"null"),
]


# ---------------------------------------------------------------------------------------------------------
# valid documents


def _people(scored: bool) -> list[SynthFrame]:
    frames = []
    for k in range(3):
        people = []
        for n in range(2):
            joints = {
                j: (100.0 + 300 * n + 7 * j + k, 120.0 + 9 * j, (0.9 - 0.03 * j - 0.1 * n) if scored else 1.0)
                for j in range(15)
            }
            head = None if scored else (90.0 + 300 * n, 60.0, 130.0 + 300 * n, 110.0)
            people.append(SynthPerson(n, joints, head, score=0.8 - 0.1 * n if scored else None))
        frames.append(
            SynthFrame(people, ignore=[] if scored else [[(900.0, 900.0), (950.0, 900.0), (950.0, 950.0)]])
        )
    return frames


def _pt21(document: dict[str, Any]) -> dict[str, Any]:
    """The PoseTrack21 extras on a 2018 document: person ids, labeled flags per image."""
    for image in document["images"]:
        image["has_labeled_person"] = True
    for annotation in document["annotations"]:
        annotation["person_id"] = 1000 + annotation["track_id"]
    return document


def _frame_results() -> list[FrameResult]:
    results = []
    for k in range(3):
        people = []
        for n in range(2):
            kps = np.array([[100.0 + 300 * n + 5 * j + k, 120.0 + 9 * j, 0.9 - 0.01 * j] for j in range(17)])
            box = np.array([kps[:, 0].min(), kps[:, 1].min(), kps[:, 0].max(), kps[:, 1].max()])
            people.append(PoseInstance(keypoints=kps, box=box, score=0.9 - 0.1 * n, track_id=n + 1))
        results.append(FrameResult(frame_index=k, timestamp=k / 25, instances=tuple(people)))
    return results


INFO = VideoInfo(Path(f"{SEQ}.mp4"), 25.0, 3, 640, 480, 0, "test")


def _boxes(tracks: bool) -> dict[str, Any]:
    detections = [
        {"bbox": [10.0 + 200 * n, 20.0, 50.0, 120.0], "score": 0.9 - 0.1 * n,
         **({"track_id": n} if tracks else {})}
        for n in range(2)
    ]  # fmt: skip
    detections[0]["landmarks"] = [[30.0, 40.0], [35.0, 42.0]]
    return {
        "format": "posecli-tracks" if tracks else "posecli-boxes", "version": 1,
        "video": {"path": f"{SEQ}.mp4", "fps": 25.0, "num_frames": 3, "width": 640, "height": 480},
        "frames": [
            {"index": k, "timestamp": k / 25, "detections": copy.deepcopy(detections)} for k in range(3)
        ],
    }  # fmt: skip


@dataclass(frozen=True)
class Format:
    """One readable format: a valid document, where the mutated file plays (``role``), and how it is read."""

    name: str
    document: Any
    # "gt" / "pred": scored by eval; "track": given to track; "reader": read by its library reader (and
    # given to eval as a prediction, which refuses it in one line: eval reads PoseTrack files only)
    role: str
    mode: str = "poseval"
    reader: Callable[[Path], Any] | None = None
    suffix: str = ".json"
    lines: bool = False  # JSON lines: the document is a list, one line per item


def _formats() -> list[Format]:
    gt18, pred18 = to_posetrack18(SEQ, _people(False), True), to_posetrack18(SEQ, _people(True), False)
    gt17, pred17 = to_annolist(SEQ, _people(False), True), to_annolist(SEQ, _people(True), False)
    estimate = posetrack_document(_frame_results(), INFO, SEQ)
    return [
        Format("2017-pred", pred17, "pred"),
        Format("2017-gt", gt17, "gt"),
        Format("2018-pred", pred18, "pred"),
        Format("2018-gt", gt18, "gt"),
        Format("pt21-pred", _pt21(copy.deepcopy(pred18)), "pred", mode="posetrack21"),
        Format("pt21-gt", _pt21(copy.deepcopy(gt18)), "gt", mode="posetrack21"),
        Format("estimate-posetrack", estimate, "track", reader=read_posetrack_json),
        Format("coco", coco_results(_frame_results(), INFO, SEQ), "reader", reader=read_coco_json),
        Format("boxes", _boxes(False), "track", reader=read_boxes_json, suffix=".boxes.json"),
        Format("tracks", _boxes(True), "track", reader=read_tracks_json, suffix=".tracks.json"),
        Format(
            "jsonl",
            [frame_to_dict(r) for r in _frame_results()],
            "reader",
            reader=read_jsonl,
            suffix=".jsonl",
            lines=True,
        ),
    ]


# ---------------------------------------------------------------------------------------------------------
# mutations


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """Every field path of a document; of each list only the first and the last element are followed."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key)
            yield from _paths(item, (*path, key))
    elif isinstance(value, list) and value:
        for index in sorted({0, len(value) - 1}):
            yield (*path, index)
            yield from _paths(value[index], (*path, index))


def _serialize(document: Any, raw: str | None, lines: bool) -> bytes:
    items = document if lines else [document]
    text = "\n".join(json.dumps(item) for item in items) + ("\n" if lines else "")
    if raw is not None:
        text = text.replace(json.dumps(RAW), raw)
    return text.encode("utf-8", "surrogatepass")


def field_mutations(fmt: Format) -> list[tuple[tuple[Any, ...], Any]]:
    """(field path, new value) for every field path x each replacement value, and x deletion for the
    keys of objects (``DELETE``). Built lazily into files by ``mutated``: there are thousands."""
    out = []
    for path in _paths(fmt.document):
        parent = fmt.document
        for step in path[:-1]:
            parent = parent[step]
        out += [(path, value) for value in REPLACEMENTS]
        if isinstance(parent, dict):
            out.append((path, DELETE))
    return out


def mutated(fmt: Format, path: tuple[Any, ...], value: Any) -> tuple[str, bytes]:
    """The label and file bytes of ``fmt.document`` with ``value`` at ``path``."""
    document = copy.deepcopy(fmt.document)
    target = document
    for step in path[:-1]:
        target = target[step]
    raw = None
    if value is DELETE:
        del target[path[-1]]
    elif isinstance(value, tuple):
        target[path[-1]], raw = RAW, value[0]
    else:
        target[path[-1]] = value
    where = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path)
    return f"{fmt.name}:{where}={value!r:.20}", _serialize(document, raw, fmt.lines)


def file_mutations(fmt: Format) -> list[tuple[str, bytes]]:
    valid = _serialize(fmt.document, None, fmt.lines)
    return [(f"{fmt.name}:{name}", mutate(valid)) for name, mutate in WHOLE_FILE]


# ---------------------------------------------------------------------------------------------------------
# running


def _check_cli(result: Result, file: Path, label: str) -> None:
    out = result.output
    assert result.exit_code in (0, 1), f"{label}: exit {result.exit_code}\n{out}"
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{label}: {result.exception!r}"
    )
    assert "Traceback" not in out and "unexpected error" not in out, f"{label}:\n{out}"
    assert "encountered" not in out and "RuntimeWarning" not in out, f"{label}: numpy warning\n{out}"
    if result.exit_code == 1:
        lines = [line for line in out.splitlines() if line.strip()]
        assert len(lines) == 1, f"{label}: {len(lines)} lines\n{out}"
        assert str(file) in lines[0], f"{label}: error does not name {file}\n{out}"


def _check_reader(fmt: Format, file: Path, label: str) -> None:
    assert fmt.reader is not None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # a numpy warning is a failure here
            fmt.reader(file)
    except PoseCliError as error:
        message = str(error)
        assert "\n" not in message and message.startswith(str(file)), f"{label}: {message}"


def _run_one(fmt: Format, label: str, data: bytes, root: Path, valid: dict[str, Path]) -> None:
    case = root / f"case{next(_counter)}"
    case.mkdir()
    file = case / f"{SEQ}{fmt.suffix}"
    file.write_bytes(data)
    if fmt.reader is not None:
        _check_reader(fmt, file, label)
    if fmt.role == "track":
        args = ["track", str(file), "-o", str(case / "out"), "-q"]
    elif fmt.role == "gt":
        args = ["eval", str(valid[fmt.name.split("-")[0]]), "--gt", str(file), "-q", "--mode", fmt.mode]
    else:
        args = ["eval", str(file), "--gt", str(valid["2018-gt"]), "-q", "--mode", fmt.mode]
    _check_cli(runner.invoke(app, args), file, label)


@pytest.fixture(scope="module")
def valid_files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Valid counterparts: GT files for mutated predictions, prediction files for mutated GT."""
    root = tmp_path_factory.mktemp("valid")
    files = {}
    for fmt in _formats():
        path = root / fmt.name / f"{SEQ}{fmt.suffix}"
        path.parent.mkdir()
        path.write_bytes(_serialize(fmt.document, None, fmt.lines))
        files[fmt.name] = path
    files["2017"], files["2018"], files["pt21"] = files["2017-pred"], files["2018-pred"], files["pt21-pred"]
    return files


@pytest.mark.parametrize("fmt", _formats(), ids=lambda f: f.name)
def test_valid_documents_pass(fmt: Format, valid_files: dict[str, Path], tmp_path: Path) -> None:
    """The unmutated documents are read and scored (exit 0): the fuzz mutates files that work."""
    file = valid_files[fmt.name]
    if fmt.reader is not None:
        fmt.reader(file)
    if fmt.role == "track":
        result = runner.invoke(app, ["track", str(file), "-o", str(tmp_path / "out"), "-q"])
    elif fmt.role == "gt":
        pred = valid_files[fmt.name.split("-")[0]]
        result = runner.invoke(app, ["eval", str(pred), "--gt", str(file), "-q", "--mode", fmt.mode])
    elif fmt.role == "reader":
        result = None  # not an eval input: the reader above is where it is read
    else:
        gt = valid_files["2018-gt"]
        result = runner.invoke(app, ["eval", str(file), "--gt", str(gt), "-q", "--mode", fmt.mode])
    assert result is None or result.exit_code == 0, result.output


@pytest.mark.parametrize("fmt", _formats(), ids=lambda f: f.name)
def test_whole_file_mutations(fmt: Format, valid_files: dict[str, Path], tmp_path: Path) -> None:
    for label, data in file_mutations(fmt):
        _run_one(fmt, label, data, tmp_path, valid_files)


@pytest.mark.parametrize("fmt", _formats(), ids=lambda f: f.name)
def test_field_mutations_sample(fmt: Format, valid_files: dict[str, Path], tmp_path: Path) -> None:
    mutations = field_mutations(fmt)
    for path, value in random.Random(fmt.name).sample(mutations, min(SAMPLE_PER_FORMAT, len(mutations))):
        _run_one(fmt, *mutated(fmt, path, value), tmp_path, valid_files)


@pytest.mark.slow
@pytest.mark.parametrize("fmt", _formats(), ids=lambda f: f.name)
def test_field_mutations_many(fmt: Format, valid_files: dict[str, Path], tmp_path: Path) -> None:
    """A larger sample (another seed): every format has over 600 field mutations, some over 3000."""
    mutations = field_mutations(fmt)
    for path, value in random.Random(f"{fmt.name}/many").sample(mutations, min(SLOW_SAMPLE, len(mutations))):
        _run_one(fmt, *mutated(fmt, path, value), tmp_path, valid_files)
