"""JSON lines: one line per frame, streamed to disk while a video is processed; writer and reader.

Line format: ``{"frame_index": int, "timestamp": float, "instances": [person, ...]}`` where a person is
``{"track_id": int | null, "score": float, "bbox": [x, y, w, h], "keypoints": 17 × [x, y, score]}``
(plus ``coco_keypoints``, same shape, when the model gives COCO-layout keypoints). A joint with score 0
is ``[0, 0, 0]``.

Safety while streaming: lines go to a temporary file beside the target (``.<name>.<random>.partial``,
see ``posecli.atomic``), each line flushed as soon as it is written so progress can be followed with
``tail -f``. ``close()`` fsyncs and renames it to ``<name>``; ``abort()`` (or an exception in a ``with``
block) removes it. The final name therefore only ever holds a complete run.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Self

from posecli.atomic import atomic_path
from posecli.errors import PoseCliError
from posecli.export._json import (
    expect_dict,
    expect_list,
    instance_from_dict,
    instance_to_dict,
    integer,
    number,
    parse_json,
    require,
)
from posecli.structures import FrameResult


def frame_to_dict(result: FrameResult) -> dict[str, Any]:
    """One frame as the JSON object of one line."""
    return {
        "frame_index": int(result.frame_index),
        "timestamp": round(float(result.timestamp), 6),
        "instances": [instance_to_dict(person) for person in result.instances],
    }


class JsonlWriter:
    """Append one JSON line per frame to ``path`` as results arrive (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._stack = contextlib.ExitStack()
        self.partial_path = self._stack.enter_context(atomic_path(self.path, suffix=".partial"))
        self._file: IO[str] | None = open(self.partial_path, "w", encoding="utf-8")  # noqa: SIM115
        self.lines_written = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, result: FrameResult) -> None:
        """Append ``result`` as one line and flush it to the operating system."""
        if self._file is None:
            raise ValueError(f"{self.path}: writer is closed")
        self._file.write(json.dumps(frame_to_dict(result), allow_nan=False) + "\n")
        self._file.flush()
        self.lines_written += 1

    def close(self) -> None:
        """Finish: fsync and rename the partial file to ``path``."""
        if self._file is None:
            return
        file, self._file = self._file, None
        try:
            os.fsync(file.fileno())
            file.close()
        except BaseException as error:
            file.close()
            self._stack.__exit__(type(error), error, error.__traceback__)
            raise
        self._stack.close()

    def abort(self) -> None:
        """Stop and remove the partial file; ``path`` is left as it was."""
        if self._file is None:
            return
        file, self._file = self._file, None
        file.close()
        error = RuntimeError("JSON lines writing aborted")
        self._stack.__exit__(RuntimeError, error, None)


def iter_jsonl(path: str | Path) -> Iterator[FrameResult]:
    """Stream the frames of a JSON lines file, validating each line (blank lines are skipped).

    Raises ``PoseCliError("<file>: line N: <field>: <problem>")``.
    """
    path = Path(path)
    if not path.exists():
        raise PoseCliError(f"{path}: no such file")
    if not path.is_file():
        raise PoseCliError(f"{path}: not a regular file")
    try:
        handle = open(path, "rb")  # noqa: SIM115 - bytes: each line is decoded (and checked) on its own
    except OSError as error:
        raise PoseCliError(f"{path}: cannot read the file ({error.strerror or error})") from None
    with handle:
        previous = -1
        for number_, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            where = f"line {number_}"
            item = expect_dict(path, where, parse_json(path, line, f"{where}: "))
            index = integer(
                path, f"{where}: frame_index", require(path, f"{where}:", item, "frame_index"), minimum=0
            )
            if index <= previous:
                raise PoseCliError(f"{path}: {where}: frame_index: {index} does not follow {previous}")
            previous = index
            timestamp = number(path, f"{where}: timestamp", require(path, f"{where}:", item, "timestamp"))
            people = expect_list(path, f"{where}: instances", require(path, f"{where}:", item, "instances"))
            instances = tuple(
                instance_from_dict(path, f"{where}: instances[{k}]", person)
                for k, person in enumerate(people)
            )
            yield FrameResult(frame_index=index, timestamp=timestamp, instances=instances)


def read_jsonl(path: str | Path) -> list[FrameResult]:
    """All frames of a JSON lines file, in order (see ``iter_jsonl``)."""
    return list(iter_jsonl(path))
