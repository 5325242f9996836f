"""Damaged annotation files never escape as anything but a one-line ``PoseCliError``: seeded byte
mutations of real exports and type swaps inside their JSON, through every reader."""

from __future__ import annotations

import copy
import json
import random
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from posecli.annotation.exchange import IMPORT_FORMATS, export_annotations, read_annotations
from posecli.errors import PoseCliError

TOKENS = [
    '"',
    "<",
    ">",
    "-1",
    "a",
    "1e999",
    "nan",
    ";",
    ",",
    "999999999999",
    "/",
    "=",
    "[",
    "]",
    "{",
    "}",
    "null",
]
VALUES: list[Any] = [None, "x", [], {}, -1, 1e300, True, 0, 2**70, [1, 2], {"a": 1}, 1.5]


def exported(prediction: Path, h264_clip: Path, tmp_path: Path, to: str) -> str:
    out = tmp_path / f"e.{to}.{'zip' if to.startswith('cvat') else 'json'}"
    frames = tmp_path / "frames" if to == "label-studio" else None
    export_annotations(prediction, to, video=h264_clip, output=out, frames_dir=frames, exist_ok=True)
    if to.startswith("cvat"):
        with zipfile.ZipFile(out) as archive:
            return archive.read("annotations.xml").decode()
    return out.read_text()


def mutated(text: str, rng: random.Random) -> str:
    chars = list(text)
    for _ in range(rng.randint(1, 4)):
        i = rng.randrange(len(chars))
        roll = rng.random()
        if roll < 0.4:
            chars[i] = rng.choice(TOKENS)
        elif roll < 0.7:
            del chars[i : i + rng.randint(1, 20)]
        else:
            chars.insert(i, rng.choice(TOKENS))
    return "".join(chars)


def json_paths(value: Any, prefix: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield prefix
    if isinstance(value, dict):
        for key, item in value.items():
            yield from json_paths(item, (*prefix, key))
    elif isinstance(value, list):
        for index, item in enumerate(value[:2]):
            yield from json_paths(item, (*prefix, index))


def swapped(document: Any, paths: list[tuple[Any, ...]], rng: random.Random) -> Any:
    changed = copy.deepcopy(document)
    path = rng.choice(paths[1:])
    parent = changed
    for key in path[:-1]:
        parent = parent[key]
    if isinstance(parent, dict) and rng.random() < 0.2:
        del parent[path[-1]]
    else:
        parent[path[-1]] = copy.deepcopy(rng.choice(VALUES))
    return changed


def only_posecli_errors(read: Callable[[], Any]) -> None:
    try:
        read()
    except PoseCliError as error:
        assert "\n" not in str(error)


@pytest.mark.parametrize("source", IMPORT_FORMATS)
def test_damaged_files_fail_as_one_line(
    source: str, prediction: Path, h264_clip: Path, tmp_path: Path
) -> None:
    text = exported(prediction, h264_clip, tmp_path, source)
    rng = random.Random(source)
    path = tmp_path / "damaged"
    for _ in range(150):
        path.write_text(mutated(text, rng))
        only_posecli_errors(lambda: read_annotations(path, source))
    if source.startswith("cvat"):
        return
    document = json.loads(text)
    paths = list(json_paths(document))
    for _ in range(150):
        path.write_text(json.dumps(swapped(document, paths, rng)))
        only_posecli_errors(lambda: read_annotations(path, source))
