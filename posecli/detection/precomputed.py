"""Person boxes read from a file instead of a network: the literature's box files and posecli's own.

Two formats are read (told apart by the top-level JSON type):

* **The PoseTrack validation box file of the literature** (``val_boxes.json``, posetrack.md §11): a
  list of ``{"image_name": str, "bbox": [x, y, w, h], "score": float, "category_id": int,
  "nframes": int, "frame_id": int}`` covering many sequences. The sequence of an entry is the folder
  of its ``image_name`` and its frame number is the file stem (``.../000342_mpii_test/000017.jpg`` →
  sequence ``000342_mpii_test``, number 17). Frame numbers are turned into 0-based frame indices by
  subtracting the first number: 1 for 8-digit names (PoseTrack17, 1-indexed ``%08d.jpg``), 0
  otherwise (PoseTrack18, 0-indexed ``%06d.jpg``), unless ``first_frame`` says otherwise. Only the
  person category (``category_id == 1``) is kept. ``nframes`` and ``frame_id`` are checked but unused.
* **posecli's own** ``<stem>.boxes.json`` (``posecli detect``) or ``<stem>.tracks.json``, read by
  ``posecli.export.boxes.read_boxes_json`` (its docstring has the layout): one video, 0-based frame
  indices, optional detector landmarks; track ids in a tracks file are ignored.

A file whose JSON is a list is read as the literature's format, anything else as posecli's.
Boxes with ``score < min_score`` (0.2 by default, the literature's protocol; no NMS) are dropped.
Errors are ``PoseCliError("<file>: <field path>: <problem>")``.
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any

import numpy as np

from posecli.detection.base import BaseDetector
from posecli.errors import PoseCliError
from posecli.export._json import load_json
from posecli.export.boxes import read_boxes_json
from posecli.structures import Detection

PERSON_CATEGORY_ID = 1  # COCO's person class, used by the literature's box files


def sequence_name(video: str | os.PathLike[str]) -> str:
    """The sequence name a box file uses for ``video``: a frame folder's name, or a video file's stem."""
    path = Path(video)
    return path.name if path.is_dir() else path.stem


def load_boxes(
    path: str | os.PathLike[str],
    *,
    sequence: str | None = None,
    min_score: float = 0.2,
    first_frame: int | None = None,
) -> dict[int, list[Detection]]:
    """Read a box file into ``{frame_index: detections sorted by score, descending}``.

    sequence: which sequence of a multi-sequence literature file to read (required when it holds
    more than one; ignored for posecli's own single-video files). first_frame: the frame number of
    frame index 0 in the literature format (default: from the digit count, see the module docstring).
    Frames without boxes are absent from the dict.
    """
    path = Path(path)
    data = load_json(path)  # the one loader: a missing file, a FIFO or bad JSON is one line
    if not isinstance(data, list):
        document = read_boxes_json(path, data)
        frames = {f.frame_index: list(f.detections) for f in document.frames}
    else:
        frames = _read_literature(path, data, sequence, first_frame)
    return {
        index: sorted((d for d in dets if d.score >= min_score), key=lambda d: -d.score)
        for index, dets in sorted(frames.items())
    }


class PrecomputedDetector(BaseDetector):
    """A ``Detector`` that replays the boxes of a file, one frame per call, in frame order.

    Each ``__call__(frame)`` returns the boxes of frame ``frame_index`` and then advances
    ``frame_index`` by one; the pixels of ``frame`` are not looked at. Start at frame 0, or call
    ``seek(i)`` first (e.g. when resuming, or with ``--det-every K`` to skip frames). ``detections_at(i)``
    reads any frame without moving. Arguments are those of ``load_boxes``.
    """

    seeks_frames = True  # boxes are looked up by frame index (``seek``)

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        sequence: str | None = None,
        min_score: float = 0.2,
        first_frame: int | None = None,
    ) -> None:
        self.path = Path(path)
        self._frames = load_boxes(path, sequence=sequence, min_score=min_score, first_frame=first_frame)
        self.frame_index = 0  # the frame the next call returns

    @property
    def num_frames_with_boxes(self) -> int:
        """How many frames have at least one box above the score threshold."""
        return sum(1 for dets in self._frames.values() if dets)

    def seek(self, frame_index: int) -> None:
        """Make the next call return the boxes of ``frame_index`` (0-based)."""
        if frame_index < 0:
            raise ValueError(f"frame_index must be >= 0, got {frame_index}")
        self.frame_index = frame_index

    def detections_at(self, frame_index: int) -> list[Detection]:
        """Boxes of frame ``frame_index``, highest score first; an empty list for a frame without any."""
        return list(self._frames.get(frame_index, []))

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        """Boxes of the current frame ``(H, W, 3)`` (pixels unused), then advance to the next frame."""
        detections = self.detections_at(self.frame_index)
        self.frame_index += 1
        return detections


def _number(path: Path, where: str, value: Any) -> float:
    """``value`` as a finite float, or a PoseCliError naming ``where``."""
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise PoseCliError(f"{path}: {where}: expected a finite number, got {value!r}")
    return float(value)


def _integer(path: Path, where: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise PoseCliError(f"{path}: {where}: expected an integer, got {value!r}")
    return value


def _box(path: Path, where: str, value: Any) -> np.ndarray:
    """``[x, y, w, h]`` → ``(4,)`` float xyxy, checked."""
    if not isinstance(value, list) or len(value) != 4:
        raise PoseCliError(f"{path}: {where}: expected [x, y, w, h], got {value!r}")
    x, y, w, h = (_number(path, f"{where}[{i}]", v) for i, v in enumerate(value))
    if w < 0 or h < 0:
        raise PoseCliError(f"{path}: {where}: negative width or height in {value!r}")
    return np.array([x, y, x + w, y + h], dtype=np.float64)


def _score(path: Path, where: str, value: Any) -> float:
    score = _number(path, where, value)
    if not 0.0 <= score <= 1.0:
        raise PoseCliError(f"{path}: {where}: score {score} is outside [0, 1]")
    return score


def _field(path: Path, where: str, entry: Any, key: str) -> Any:
    if not isinstance(entry, dict):
        raise PoseCliError(f"{path}: {where}: expected an object, got {type(entry).__name__}")
    if key not in entry:
        raise PoseCliError(f"{path}: {where}.{key}: missing")
    return entry[key]


def _read_literature(
    path: Path, data: list[Any], sequence: str | None, first_frame: int | None
) -> dict[int, list[Detection]]:
    """Parse the literature's list format, keeping one sequence's person boxes by frame index."""
    by_sequence: dict[str, list[tuple[str, int, Detection]]] = {}
    for i, entry in enumerate(data):
        where = f"[{i}]"
        name = _field(path, where, entry, "image_name")
        if not isinstance(name, str) or not name:
            raise PoseCliError(f"{path}: {where}.image_name: expected a file name, got {name!r}")
        stem = Path(name).stem
        if not stem.isdigit():
            raise PoseCliError(f"{path}: {where}.image_name: '{name}' does not end in a frame number")
        box = _box(path, f"{where}.bbox", _field(path, where, entry, "bbox"))
        score = _score(path, f"{where}.score", _field(path, where, entry, "score"))
        category = _integer(path, f"{where}.category_id", _field(path, where, entry, "category_id"))
        for key in ("nframes", "frame_id"):
            if key in entry:
                _integer(path, f"{where}.{key}", entry[key])
        if category != PERSON_CATEGORY_ID:
            continue
        by_sequence.setdefault(Path(name).parent.name, []).append((stem, int(stem), Detection(box, score)))

    if sequence is None:
        if len(by_sequence) > 1:
            raise PoseCliError(
                f"{path}: holds {len(by_sequence)} sequences ({_listing(by_sequence)}); say which one"
            )
        entries = next(iter(by_sequence.values()), [])
    elif sequence in by_sequence:
        entries = by_sequence[sequence]
    else:
        raise PoseCliError(f"{path}: no boxes for sequence '{sequence}' (it has {_listing(by_sequence)})")

    frames: dict[int, list[Detection]] = {}
    if not entries:
        return frames
    if first_frame is None:
        # PoseTrack17 frames are renamed %08d.jpg from 1; PoseTrack18 frames are %06d.jpg from 0.
        first_frame = 1 if len(entries[0][0]) == 8 else 0
    for stem, number, detection in entries:
        if number < first_frame:
            raise PoseCliError(
                f"{path}: image_name: frame {stem} comes before the first frame number {first_frame}"
            )
        frames.setdefault(number - first_frame, []).append(detection)
    return frames


def _listing(names: dict[str, Any], limit: int = 5) -> str:
    """A short, sorted list of sequence names for an error message."""
    shown = sorted(names)[:limit]
    more = len(names) - len(shown)
    return ", ".join(shown) + (f", … {more} more" if more > 0 else "") if names else "none"
