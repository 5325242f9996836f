"""JSON helpers shared by the export formats: strict loading, field validation that names the file and
field, and the conversions between posecli records and JSON values.

Every validation failure raises ``PoseCliError("<file>: <field path>: <problem>")``.
"""

from __future__ import annotations

import json
import math
import re
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from posecli.errors import PoseCliError
from posecli.keypoints import NUM_KEYPOINTS
from posecli.structures import PoseInstance

COORD_DECIMALS = 2  # 1/100 pixel: far below any annotation noise, keeps files small
SCORE_DECIMALS = 6  # enough to keep scores tie-free for ranking in evaluation


def load_json(path: Path) -> Any:
    """Parse ``path`` as JSON, or raise one line naming the file (missing, unreadable, invalid)."""
    if not path.exists():
        raise PoseCliError(f"{path}: no such file")
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        raise PoseCliError(f"{path}: cannot read the file ({error})") from None
    return parse_json(path, text)


def parse_json(path: Path, text: str, where: str = "") -> Any:
    """Parse JSON ``text`` read from ``path`` (``where``: e.g. ``"line 3: "`` for JSON lines)."""
    try:
        return json.loads(text, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        raise PoseCliError(
            f"{path}: {where}not valid JSON ({error.msg} at line {error.lineno} col {error.colno})"
        ) from None
    except ValueError as error:
        raise PoseCliError(f"{path}: {where}{error}") from None


def _refuse_constant(name: str) -> None:
    raise ValueError(f"{name} is not allowed in posecli JSON files")


def fail(path: Path, field: str, problem: str) -> NoReturn:
    raise PoseCliError(f"{path}: {field}: {problem}")


def expect_dict(path: Path, field: str, value: Any) -> dict[str, Any]:
    if not isinstance(value, dict):
        fail(path, field, f"expected an object, got {_kind(value)}")
    return value


def expect_list(path: Path, field: str, value: Any, length: int | None = None) -> list[Any]:
    if not isinstance(value, list):
        fail(path, field, f"expected a list, got {_kind(value)}")
    if length is not None and len(value) != length:
        fail(path, field, f"expected {length} values, got {len(value)}")
    return value


def require(path: Path, field: str, obj: dict[str, Any], key: str) -> Any:
    """``obj[key]``, or a ``missing field`` error for ``field.key``."""
    if key not in obj:
        fail(path, _join(field, key), "missing")
    return obj[key]


def number(path: Path, field: str, value: Any) -> float:
    """A finite int or float (booleans refused)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        fail(path, field, f"expected a number, got {_kind(value)}")
    if not math.isfinite(value):
        fail(path, field, "expected a finite number")
    return float(value)


def integer(path: Path, field: str, value: Any, minimum: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        fail(path, field, f"expected an integer, got {_kind(value)}")
    if minimum is not None and value < minimum:
        fail(path, field, f"expected an integer >= {minimum}, got {value}")
    return value


def numbers(path: Path, field: str, value: Any, length: int | None = None) -> np.ndarray:
    """A list of finite numbers as a float64 array ``(length,)``."""
    items = expect_list(path, field, value, length)
    return np.array([number(path, f"{field}[{i}]", v) for i, v in enumerate(items)], dtype=np.float64)


def xywh(path: Path, field: str, value: Any) -> np.ndarray:
    """A ``[x, y, w, h]`` box as ``(4,)`` ``x1, y1, x2, y2``; negative sizes refused."""
    x, y, w, h = numbers(path, field, value, 4)
    if w < 0 or h < 0:
        fail(path, field, f"box width and height must be >= 0, got {w:g} x {h:g}")
    return np.array([x, y, x + w, y + h], dtype=np.float64)


def box_to_xywh(box: np.ndarray) -> list[float]:
    """``(4,)`` ``x1, y1, x2, y2`` → ``[x, y, w, h]`` rounded for JSON."""
    x1, y1, x2, y2 = (float(v) for v in np.asarray(box, dtype=np.float64).reshape(4))
    return [
        round(x1, COORD_DECIMALS),
        round(y1, COORD_DECIMALS),
        round(x2 - x1, COORD_DECIMALS),
        round(y2 - y1, COORD_DECIMALS),
    ]


def coord(value: float) -> float:
    return round(float(value), COORD_DECIMALS)


def score(value: float) -> float:
    return round(float(value), SCORE_DECIMALS)


def keypoint_rows(keypoints: np.ndarray) -> list[list[float]]:
    """``(17, 3)`` ``x, y, score`` → 17 rows ``[x, y, score]``; a joint with score <= 0 is ``[0, 0, 0]``."""
    rows = []
    for x, y, s in np.asarray(keypoints, dtype=np.float64).reshape(NUM_KEYPOINTS, 3):
        rows.append([coord(x), coord(y), score(s)] if s > 0 else [0.0, 0.0, 0.0])
    return rows


def keypoint_array(path: Path, field: str, value: Any) -> np.ndarray:
    """17 rows ``[x, y, score]`` → ``(17, 3)`` float64; scores must be >= 0 (heatmap peaks may exceed 1)."""
    rows = expect_list(path, field, value, NUM_KEYPOINTS)
    array = np.stack([numbers(path, f"{field}[{k}]", row, 3) for k, row in enumerate(rows)])
    if (array[:, 2] < 0).any():
        fail(path, field, "keypoint scores must be >= 0")
    return array


def instance_to_dict(instance: PoseInstance, with_keypoints: bool = True) -> dict[str, Any]:
    """One person as JSON: ``track_id``, ``score``, ``bbox`` [x, y, w, h], ``keypoints`` (17 rows of
    ``[x, y, score]``) and, when present, ``coco_keypoints`` (same, COCO layout)."""
    item: dict[str, Any] = {
        "track_id": None if instance.track_id is None else int(instance.track_id),
        "score": score(instance.score),
        "bbox": box_to_xywh(instance.box),
    }
    if with_keypoints:
        item["keypoints"] = keypoint_rows(instance.keypoints)
        if instance.coco_keypoints is not None:
            item["coco_keypoints"] = keypoint_rows(instance.coco_keypoints)
    return item


def instance_from_dict(path: Path, field: str, value: Any, with_keypoints: bool = True) -> PoseInstance:
    """Inverse of ``instance_to_dict`` with validation; without keypoints they are all zero."""
    item = expect_dict(path, field, value)
    track = require(path, field, item, "track_id")
    track_id = None if track is None else integer(path, _join(field, "track_id"), track, minimum=0)
    person_score = number(path, _join(field, "score"), require(path, field, item, "score"))
    box = xywh(path, _join(field, "bbox"), require(path, field, item, "bbox"))
    if with_keypoints:
        keypoints = keypoint_array(path, _join(field, "keypoints"), require(path, field, item, "keypoints"))
        coco = item.get("coco_keypoints")
        coco_keypoints = None if coco is None else keypoint_array(path, _join(field, "coco_keypoints"), coco)
    else:
        keypoints, coco_keypoints = np.zeros((NUM_KEYPOINTS, 3)), None
    return PoseInstance(
        keypoints=keypoints, box=box, score=person_score, track_id=track_id, coco_keypoints=coco_keypoints
    )


def _join(field: str, key: str) -> str:
    """``images[3]`` + ``id`` → ``images[3].id``; a prefix ending in ``:`` (``line 4:``) gets a space."""
    if not field:
        return key
    return f"{field} {key}" if field.endswith(":") else f"{field}.{key}"


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    return {
        bool: "a boolean",
        int: "an integer",
        float: "a number",
        str: "a string",
        list: "a list",
        dict: "an object",
    }.get(type(value), type(value).__name__)


def posetrack_image_id_base(video_name: str, nframes: int) -> int:
    """First image id of a video (see ``posetrack.py``): PoseTrack's ``T·10¹⁰ + S·10⁴`` for sequence
    names such as ``003418_mpii_test`` (T: 1 mpii, 2 bonn, 3 mpiinew; S: the 6-digit number) when the
    video has fewer than 10⁴ frames, else 0 (image id = frame index)."""
    match = re.match(r"^(\d{6})_(mpiinew|mpii|bonn)(?:_|$)", video_name)
    if match is None or nframes > 10_000:
        return 0
    source = {"mpii": 1, "bonn": 2, "mpiinew": 3}[match.group(2)]
    return source * 10**10 + int(match.group(1)) * 10**4
