"""JSON helpers shared by the export formats: strict loading, field validation that names the file and
field, and the conversions between posecli records and JSON values.

Every validation failure raises ``PoseCliError("<file>: <field path>: <problem>")``.
"""

from __future__ import annotations

import json
import math
import re
import sys
from pathlib import Path
from typing import Any, NoReturn

import numpy as np

from posecli.errors import PoseCliError
from posecli.keypoints import NUM_KEYPOINTS
from posecli.structures import PoseInstance

COORD_LIMIT = 1e7  # pixels: a bound on coordinates read back (see ``coordinates``)
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1  # integers are stored in numpy int64 arrays downstream
_FLOAT_MAX = sys.float_info.max
COORD_DECIMALS = 2  # 1/100 pixel: far below any annotation noise, keeps files small
SCORE_DECIMALS = 6  # enough to keep scores tie-free for ranking in evaluation


def load_json(path: Path, *, finite: bool = True) -> Any:
    """Parse the file at ``path`` as JSON, or raise one line naming the file (see ``parse_json``).

    The one JSON loader of posecli's readers (export formats and ``posecli eval``): a missing path, a
    folder or FIFO, an unreadable file, invalid UTF-8, bad syntax, absurd nesting and oversized integers
    all become ``PoseCliError("<file>: <problem>")``.
    """
    if not path.exists():
        raise PoseCliError(f"{path}: no such file")
    if not path.is_file():
        # a FIFO would block forever, a folder cannot be read
        raise PoseCliError(f"{path}: not a regular file")
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PoseCliError(f"{path}: cannot read the file ({error.strerror or error})") from None
    return parse_json(path, data, finite=finite)


def parse_json(path: Path, text: str | bytes, where: str = "", *, finite: bool = True) -> Any:
    """Parse JSON ``text`` read from ``path`` (``where``: e.g. ``"line 3: "`` for JSON lines).

    Bytes are decoded as JSON allows (UTF-8, or UTF-16/32 with their byte order). NaN, Infinity and
    numbers too large for a float (``1e400``) become non-finite floats; with ``finite`` (posecli's own
    formats) the first one is an error naming its field. Without it the caller's field checks refuse
    them where they are read, so an unread field cannot stop a file that is otherwise fine.
    """
    constants: list[str] = []

    def constant(name: str) -> float:
        constants.append(name)
        return float(name)  # "NaN", "Infinity", "-Infinity" are all spellings float() knows

    try:
        value = json.loads(text, parse_constant=constant)
    except json.JSONDecodeError as error:
        raise PoseCliError(
            f"{path}: {where}not valid JSON ({error.msg} at line {error.lineno} col {error.colno})"
        ) from None
    except UnicodeDecodeError as error:
        bad = error.object[error.start : error.start + 1].hex()
        raise PoseCliError(
            f"{path}: {where}not valid UTF-8 text (byte 0x{bad} at offset {error.start})"
        ) from None
    except RecursionError:
        raise PoseCliError(f"{path}: {where}lists or objects nested too deeply to read") from None
    except ValueError as error:
        # e.g. an integer longer than Python's int conversion limit (4300 digits)
        reason = str(error).split(":")[0].strip()
        raise PoseCliError(f"{path}: {where}not readable as JSON ({reason})") from None
    if finite:
        bad_field = _first_non_finite(value)
        if bad_field is not None:
            name = constants[0] if constants else "a number too large for a float"
            fail(path, f"{where}{bad_field}", f"{name} is not allowed in posecli JSON files")
    return value


def _first_non_finite(value: Any) -> str | None:
    """The field path of the first NaN or infinite float in a parsed document, else None.

    Iterative, not recursive: the parser accepts nesting deeper than a recursive walk could follow.
    """
    stack: list[tuple[str, Any]] = [("", value)]
    while stack:
        field, item = stack.pop()
        if isinstance(item, float) and not math.isfinite(item):
            return field or "(top level)"
        if isinstance(item, dict):
            stack.extend((_join(field, str(k)), v) for k, v in reversed(list(item.items())))
        elif isinstance(item, list):
            stack.extend((f"{field}[{i}]", v) for i, v in reversed(list(enumerate(item))))
    return None


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
    if isinstance(value, int) and abs(value) > _FLOAT_MAX:
        fail(path, field, "expected a finite number, got an integer too large for a float")
    if not math.isfinite(value):
        fail(path, field, f"expected a finite number, got {value}")
    return float(value)


def integer(path: Path, field: str, value: Any, minimum: int | None = None) -> int:
    """An int (booleans refused) that fits in 64 bits, optionally ``>= minimum``."""
    if isinstance(value, bool) or not isinstance(value, int):
        fail(path, field, f"expected an integer, got {_kind(value)}")
    if minimum is not None and value < minimum:
        fail(path, field, f"expected an integer >= {minimum}, got {short(value)}")
    if not INT64_MIN <= value <= INT64_MAX:
        fail(path, field, f"out of range ({short(value)} does not fit in 64 bits)")
    return value


def numbers(path: Path, field: str, value: Any, length: int | None = None) -> np.ndarray:
    """A list of finite numbers as a float64 array ``(length,)``."""
    items = expect_list(path, field, value, length)
    return np.array([number(path, f"{field}[{i}]", v) for i, v in enumerate(items)], dtype=np.float64)


def coordinates(path: Path, field: str, values: np.ndarray) -> np.ndarray:
    """``values`` (image coordinates or sizes, pixels) if every one is within ``COORD_LIMIT``.

    Trackers square and multiply coordinates (IoU areas, Kalman covariances): beyond this bound that
    overflows, and no video is anywhere near this large.
    """
    outside = np.abs(values) > COORD_LIMIT
    if outside.any():
        fail(path, field, f"{values[outside][0]:g} is beyond +-{COORD_LIMIT:g} pixels")
    return values


def xywh(path: Path, field: str, value: Any) -> np.ndarray:
    """A ``[x, y, w, h]`` box as ``(4,)`` ``x1, y1, x2, y2``; negative sizes refused."""
    x, y, w, h = coordinates(path, field, numbers(path, field, value, 4))
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
    coordinates(path, field, array[:, :2])
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


def short(value: Any, limit: int = 40) -> str:
    """``value`` as JSON-like text cut to ``limit`` characters, for error messages.

    Never fails: integers past Python's digit limit and deep nesting are described, not printed.
    """
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**limit:
        return f"an integer of about {int(math.log10(abs(value)))} digits"
    if isinstance(value, (list, dict)):
        return _kind(value)
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


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
