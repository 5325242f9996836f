"""Reading PoseTrack 2017 (``annolist``) and 2018 / PoseTrack21 (COCO-like) files into arrays.

Both formats become the same in-memory form: a list of :class:`SequenceData`, one per video, each
holding :class:`FrameData` records whose people are stored as arrays in poseval's 15-joint order
(``posecli.keypoints.POSEVAL_JOINT_NAMES``). Nothing is evaluated here; this module only reads,
validates and converts, following ``shared/spec/posetrack.md`` §2–§3:

* 2018 keypoints are mapped to poseval ids through the names in ``categories`` (15 or 17 names that
  must include the 15 joint names), and a keypoint is dropped only if ``x == 0 and y == 0 and v == 0``.
  With ``fixed_slots`` (``--mode posetrack21``) ``categories`` is not read: the PT21 kit always takes
  the 17 PoseTrack slots (§9).
* 2017 points are present whenever listed (``is_visible`` is ignored); the first point with an id wins.
* A joint score is ``scores[slot]`` (2018) or ``point.score[0]`` (2017), else ``-9999`` with a warning.
* A 2018 file is split into videos by the parent folder of ``file_name``; an annolist file by the
  parent folder of ``image[0].name``.

Malformed input raises :class:`~posecli.errors.PoseCliError` as ``<file>: <field path>: <problem>``.
That includes a NaN or infinite number in any field that is read (the JSON constants ``NaN`` and
``Infinity``, or a number beyond the float range such as ``1e400``): the spec (§12.3) refuses a
non-numeric coordinate or score, and poseval, which would read them, ranks a NaN score and matches a NaN
coordinate arbitrarily. Track ids must fit in int64 and image ids must be numbers or strings.
Two things poseval reads silently get an :class:`EvalInputWarning` naming the file: an image id shared
by several images (poseval, and posecli, attach its people to each) and annotations whose ``image_id``
matches no image (never scored).
"""

from __future__ import annotations

import itertools
import math
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posecli.errors import PoseCliError
from posecli.export._json import INT64_MAX, INT64_MIN, load_json, short
from posecli.keypoints import POSETRACK_KEYPOINTS, POSEVAL_JOINT_NAMES

NUM_JOINTS = 15
MISSING_SCORE = -9999.0  # poseval's score for a joint whose file gives none


class EvalInputWarning(UserWarning):
    """Input that poseval reads silently but that is probably a mistake (shared image ids, orphans)."""


# poseval's own spelling of its 15 joints in 2018 `categories` (it looks names up, not slots).
_JOINT_INDEX_OF_NAME: dict[str, int] = {name: j for j, name in enumerate(POSEVAL_JOINT_NAMES)}


@dataclass
class FrameData:
    """One video frame of one file, its people stored as arrays (N people, 15 poseval joints).

    xy: ``(N, 15, 2)`` float64 image coordinates (the file's values even where a joint is absent).
    present: ``(N, 15)`` bool, poseval's presence rule. scores: ``(N, 15)`` float64 (``-9999`` if none).
    track_ids: ``(N,)`` int64. heads: ``(N, 4)`` float64 head box ``x1, y1, x2, y2`` (NaN if none).
    boxes: ``(N, 4)`` float64 person box ``x, y, w, h`` (NaN if none). person_scores: ``(N,)`` (NaN if none).
    has_points: ``(N,)`` bool, False for 2017 persons without ``annopoints[0].point`` (poseval drops them).
    ignore_regions: list of ``(V, 2)`` float64 polygons (GT only).
    """

    image_name: str
    key: str  # the last two path components of the image name: the frame's identity
    frame_number: int | None  # the integer file stem, when it is one
    is_labeled: bool | None
    index: int  # position in its file's frame list (images[] / annolist[])
    xy: np.ndarray
    present: np.ndarray
    scores: np.ndarray
    track_ids: np.ndarray
    heads: np.ndarray
    boxes: np.ndarray
    person_scores: np.ndarray
    has_points: np.ndarray
    ignore_regions: list[np.ndarray] = field(default_factory=list)
    field_path: str = ""  # where the frame sits in its file, for error messages

    @property
    def num_people(self) -> int:
        return int(self.track_ids.shape[0])


@dataclass
class SequenceData:
    """One video: its frames in file order and where they came from."""

    name: str  # file stem (single-video file in a folder) or the image folder name
    folder: str  # parent folder of the frames' image names
    path: Path
    file_format: str  # "2017" or "2018"
    frames: list[FrameData]
    missing_scores: bool = False  # some predicted joints had no score (-9999 used)
    multi_video_file: bool = False  # the file held more than one video and was split


def empty_frame(image_name: str, index: int) -> FrameData:
    """A frame with no people (used for frames a prediction file does not list)."""
    return _frame_from_people(image_name, index, None, [], [], "")


def list_json_files(path: Path) -> list[Path]:
    """The ``*.json`` files of a folder (non-recursive, sorted), or ``[path]`` for a single file."""
    if path.is_dir():
        return sorted(p for p in path.glob("*.json") if p.is_file())
    if path.is_file():
        return [path]
    if path.exists():  # a FIFO or device: reading it could block forever
        raise PoseCliError(f"{path}: not a regular file or folder")
    raise PoseCliError(f"{path}: does not exist")


def read_json(path: Path) -> Any:
    """Parse one JSON file through posecli's one loader; any failure is a one-line ``PoseCliError``.

    NaN, Infinity and overflowing numbers are let through here and refused by the field checks below,
    which name the field (poseval itself would read them; see the module docstring).
    """
    return load_json(path, finite=False)


def read_sequences(
    path: Path,
    *,
    role: str,
    require_categories: bool = True,
    name_from_stem: bool = True,
    fixed_slots: bool = False,
) -> list[SequenceData]:
    """Read one 2017 or 2018 file into its videos.

    role: "gt" or "pred" (GT files carry ignore regions and need head boxes; predictions need scores).
    require_categories: poseval needs ``categories`` in every 2018 file.
    name_from_stem: name a single-video file after its stem (folder input) instead of its image folder.
    fixed_slots: ignore ``categories`` and read 2018 keypoints in the 17 fixed PoseTrack slots, as the
    PT21 kit does (it never reads ``categories``, so permuted or foreign names change nothing).
    """
    data = read_json(path)
    if not isinstance(data, dict):
        raise PoseCliError(f"{path}: (top level): expected a JSON object with 'annolist' or 'images'")
    if "annolist" in data:
        sequences = _read_2017(path, data, role)
    elif "images" in data and "annotations" in data:
        sequences = _read_2018(path, data, role, require_categories, fixed_slots)
    else:
        raise PoseCliError(
            f"{path}: (top level): neither 'annolist' (2017) nor 'images' + 'annotations' (2018)"
        )
    if len(sequences) == 1 and name_from_stem:
        sequences[0].name = path.stem
    for sequence in sequences:
        sequence.multi_video_file = len(sequences) > 1
    return sequences


# ---------------------------------------------------------------------------------------------------------
# small validated accessors


def _number(value: Any, path: Path, where: str) -> float:
    """A finite float from a JSON number (or a one-element list of one, as 2017 files write)."""
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise PoseCliError(f"{path}: {where}: expected a number, got {short(value)}")
    try:
        number = float(value)
    except OverflowError:  # an integer beyond the float range
        number = math.inf
    if not math.isfinite(number):
        raise PoseCliError(f"{path}: {where}: expected a finite number, got {short(value)}")
    return number


def _integer(value: Any, path: Path, where: str, what: str = "track id", bounded: bool = True) -> int:
    """An integral JSON number (``3`` or ``3.0``); with ``bounded`` it must fit in int64 (track ids are
    stored in int64 arrays)."""
    number = _number(value, path, where)
    if number != int(number):
        raise PoseCliError(f"{path}: {where}: expected an integer {what}, got {short(number)}")
    if bounded and not INT64_MIN <= int(number) <= INT64_MAX:
        raise PoseCliError(
            f"{path}: {where}: {what} out of range ({short(int(number))} does not fit in 64 bits)"
        )
    return int(number)


def _number_array(values: Any, path: Path, where: str) -> np.ndarray:
    """A float64 vector from a JSON list of finite numbers, naming the first element that is not one."""
    if not isinstance(values, list):
        raise PoseCliError(f"{path}: {where}: expected a list of numbers")
    # numpy would silently accept "12" or None (as NaN): check the JSON types first.
    if not all(type(v) is float or type(v) is int for v in values):
        i, value = next((i, v) for i, v in enumerate(values) if not (type(v) is float or type(v) is int))
        raise PoseCliError(f"{path}: {where}[{i}]: expected a number, got {short(value)}")
    try:
        array = np.asarray(values, dtype=np.float64)
    except OverflowError:  # an integer beyond the float range
        array = None
    if array is None or not np.isfinite(array).all():
        for i, value in enumerate(values):
            _number(value, path, f"{where}[{i}]")
    assert array is not None
    return array


def _frame_key(image_name: str) -> tuple[str, str, int | None]:
    """(folder, identity key, frame number) from an image path.

    ``images/val/003418_mpii/000012.jpg`` gives ``("003418_mpii", "003418_mpii/000012.jpg", 12)``.
    """
    parts = image_name.replace("\\", "/").rstrip("/").split("/")  # plain string ops: this runs per image
    folder = parts[-2] if len(parts) >= 2 else ""
    key = "/".join(parts[-2:])
    stem = parts[-1].rsplit(".", 1)[0] if "." in parts[-1] else parts[-1]
    # ASCII only: str.isdigit() also accepts "²", which int() refuses; 18 digits keep it an int64
    number = int(stem) if stem.isascii() and stem.isdigit() and len(stem) <= 18 else None
    return folder, key, number


def _polygon(xs: Any, ys: Any, path: Path, where: str) -> np.ndarray:
    x = _number_array(xs, path, f"{where}.x")
    y = _number_array(ys, path, f"{where}.y")
    if x.shape != y.shape:
        raise PoseCliError(f"{path}: {where}: {x.shape[0]} x values but {y.shape[0]} y values")
    if x.shape[0] < 3:
        raise PoseCliError(f"{path}: {where}: an ignore polygon needs at least 3 vertices, got {x.shape[0]}")
    return np.stack([x, y], axis=1)


def _frame_from_people(
    image_name: str,
    index: int,
    is_labeled: bool | None,
    people: list[tuple[int, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, float, bool]],
    regions: list[np.ndarray],
    field_path: str,
) -> FrameData:
    """Stack per-person tuples ``(track_id, xy (15,2), present (15,), scores (15,), head (4,), box (4,),
    person_score, has_points)`` into one :class:`FrameData`."""
    _, key, number = _frame_key(image_name)
    n = len(people)
    return FrameData(
        image_name=image_name,
        key=key,
        frame_number=number,
        is_labeled=is_labeled,
        index=index,
        xy=np.stack([p[1] for p in people]) if n else np.zeros((0, NUM_JOINTS, 2)),
        present=np.stack([p[2] for p in people]) if n else np.zeros((0, NUM_JOINTS), dtype=bool),
        scores=np.stack([p[3] for p in people]) if n else np.zeros((0, NUM_JOINTS)),
        track_ids=np.asarray([p[0] for p in people], dtype=np.int64),
        heads=np.stack([p[4] for p in people]) if n else np.zeros((0, 4)),
        boxes=np.stack([p[5] for p in people]) if n else np.zeros((0, 4)),
        person_scores=np.asarray([p[6] for p in people], dtype=np.float64),
        has_points=np.asarray([p[7] for p in people], dtype=bool),
        ignore_regions=regions,
        field_path=field_path,
    )


# ---------------------------------------------------------------------------------------------------------
# PoseTrack 2018 / PT21


def _joint_columns(
    data: dict[str, Any], path: Path, require: bool, fixed_slots: bool = False
) -> tuple[int, np.ndarray, np.ndarray]:
    """From ``categories``: (number of names, slot index of each poseval joint (15,), joint of each slot).

    Without ``categories`` (allowed only when ``require`` is False), or with ``fixed_slots`` (the PT21
    kit, which never reads them), the 17 PoseTrack slots are assumed.
    """
    categories = data.get("categories")
    if fixed_slots:
        names: Any = list(POSETRACK_KEYPOINTS)
    elif categories is None:
        if require:
            raise PoseCliError(f"{path}: categories: missing (poseval needs the 17 PoseTrack keypoint names)")
        names = list(POSETRACK_KEYPOINTS)
    else:
        if not isinstance(categories, list) or len(categories) != 1 or not isinstance(categories[0], dict):
            raise PoseCliError(f"{path}: categories: expected exactly one category ('person')")
        names = categories[0].get("keypoints")
        if not isinstance(names, list):
            raise PoseCliError(f"{path}: categories[0].keypoints: missing or not a list of names")
        if len(names) not in (15, 17):
            raise PoseCliError(f"{path}: categories[0].keypoints: expected 15 or 17 names, got {len(names)}")
    slot_of_joint = np.full(NUM_JOINTS, -1, dtype=np.int64)
    for slot, name in enumerate(names):
        joint = _JOINT_INDEX_OF_NAME.get(name) if isinstance(name, str) else None
        if joint is not None and slot_of_joint[joint] < 0:
            slot_of_joint[joint] = slot
    for joint, name in enumerate(POSEVAL_JOINT_NAMES):
        if slot_of_joint[joint] < 0:
            raise PoseCliError(f"{path}: categories[0].keypoints: joint name '{name}' not found")
    return len(names), slot_of_joint, np.arange(len(names))


def _read_2018(
    path: Path, data: dict[str, Any], role: str, require_categories: bool, fixed_slots: bool = False
) -> list[SequenceData]:
    num_names, slot_of_joint, _ = _joint_columns(data, path, require_categories, fixed_slots)
    images = data["images"]
    annotations = data["annotations"]
    if not isinstance(images, list):
        raise PoseCliError(f"{path}: images: expected a list")
    if not isinstance(annotations, list):
        raise PoseCliError(f"{path}: annotations: expected a list")

    # Index annotations by image id once (poseval scans the list per image).
    by_image: dict[Any, list[int]] = {}
    for a, ann in enumerate(annotations):
        if not isinstance(ann, dict) or "image_id" not in ann:
            raise PoseCliError(f"{path}: annotations[{a}].image_id: missing")
        by_image.setdefault(_image_id(ann["image_id"], path, f"annotations[{a}].image_id"), []).append(a)

    layout = "fixed PoseTrack slots; --mode posetrack21 ignores categories" if fixed_slots else None
    people = _annotations_2018(annotations, path, role, num_names, slot_of_joint, layout)
    videos: dict[str, list[FrameData]] = {}
    image_ids: list[Any] = []
    for i, image in enumerate(images):
        where = f"images[{i}]"
        if not isinstance(image, dict):
            raise PoseCliError(f"{path}: {where}: expected an object")
        name = image.get("file_name")
        if not isinstance(name, str):
            raise PoseCliError(f"{path}: {where}.file_name: missing or not a string")
        if "id" not in image:
            raise PoseCliError(f"{path}: {where}.id: missing")
        image_id = _image_id(image["id"], path, f"{where}.id")
        image_ids.append(image_id)
        is_labeled = image.get("is_labeled")
        regions: list[np.ndarray] = []
        if role == "gt":
            xs_all = image.get("ignore_regions_x") or []
            ys_all = image.get("ignore_regions_y") or []
            if not isinstance(xs_all, list) or not isinstance(ys_all, list) or len(xs_all) != len(ys_all):
                raise PoseCliError(f"{path}: {where}.ignore_regions_x/y: expected two lists of equal length")
            for k, (xs, ys) in enumerate(zip(xs_all, ys_all, strict=True)):
                regions.append(_polygon(xs, ys, path, f"{where}.ignore_regions[{k}]"))
        index = np.asarray(by_image.get(image_id, []), dtype=np.int64)  # people in annotations order
        folder, key, number = _frame_key(name)
        frame = FrameData(
            image_name=name,
            key=key,
            frame_number=number,
            is_labeled=None if is_labeled is None else bool(is_labeled),
            index=i,
            xy=people["xy"][index],
            present=people["present"][index],
            scores=people["scores"][index],
            track_ids=people["track_ids"][index],
            heads=people["heads"][index],
            boxes=people["boxes"][index],
            person_scores=people["person_scores"][index],
            has_points=np.ones(index.shape[0], dtype=bool),
            ignore_regions=regions,
            field_path=where,
        )
        videos.setdefault(folder, []).append(frame)

    _warn_about_image_ids(path, image_ids, by_image)
    missing_scores = bool(people["scores_missing"].any())
    return [
        SequenceData(folder, folder, path, "2018", frames, missing_scores=missing_scores)
        for folder, frames in videos.items()
    ]


def _image_id(value: Any, path: Path, where: str) -> Any:
    """An image id as poseval compares them (``==``): a number or a string; lists and objects refused."""
    if isinstance(value, (list, dict)):
        raise PoseCliError(f"{path}: {where}: expected an integer or string image id, got {short(value)}")
    return value


def _warn_about_image_ids(path: Path, image_ids: list[Any], by_image: dict[Any, list[int]]) -> None:
    """Warn (poseval is silent) about an image id shared by several images, whose people poseval
    attaches to each of them, and about annotations whose ``image_id`` matches no image (never scored).

    image_ids: ``images[i].id`` in file order; by_image: annotation rows by image id.
    """
    first_with_id: dict[Any, int] = {}
    for i, image_id in enumerate(image_ids):
        first = first_with_id.setdefault(image_id, i)
        if first != i:
            count = sum(1 for other in image_ids if other == image_id)
            warnings.warn(
                f"{path}: images[{i}].id: image id {short(image_id)} is also used by images[{first}] "
                f"({count} images share it; poseval attaches its people to each of them)",
                EvalInputWarning,
                stacklevel=3,
            )
            break  # one line per file is enough
    orphans = sum(len(rows) for image_id, rows in by_image.items() if image_id not in first_with_id)
    if orphans:
        warnings.warn(
            f"{path}: annotations: {orphans} annotation(s) have an image_id that matches no image "
            "and are never scored",
            EvalInputWarning,
            stacklevel=3,
        )


def _stack_rows(rows: list[Any], where: list[str], path: Path, length: int, what: str) -> np.ndarray:
    """``(len(rows), length)`` float64 from JSON lists, validated in one pass over all numbers.

    numpy alone would accept ``"12"`` or ``None``; the types are checked first (fast: one set of types).
    """
    for row, at in zip(rows, where, strict=True):
        if not isinstance(row, list):
            raise PoseCliError(f"{path}: {at}: expected a list of numbers")
        if len(row) != length:
            raise PoseCliError(f"{path}: {at}: expected {what}, got {len(row)} numbers")
    flat = list(itertools.chain.from_iterable(rows))
    try:
        array = np.asarray(flat, dtype=np.float64) if set(map(type, flat)) <= {int, float} else None
    except OverflowError:  # an integer beyond the float range
        array = None
    if array is None or not np.isfinite(array).all():
        for row, at in zip(rows, where, strict=True):
            _number_array(row, path, at)  # raises, naming the first bad number
    assert array is not None
    return array.reshape(len(rows), length)


def _annotations_2018(
    annotations: list[Any],
    path: Path,
    role: str,
    num_names: int,
    slot_of_joint: np.ndarray,
    layout: str | None = None,
) -> dict[str, np.ndarray]:
    """Every annotation of a file as arrays (A people): ``xy (A, 15, 2)``, ``present (A, 15)``,
    ``scores (A, 15)``, ``track_ids (A,)``, ``heads (A, 4)`` xyxy, ``boxes (A, 4)`` xywh,
    ``person_scores (A,)``, ``scores_missing (A,)`` — validated and converted in a few numpy calls.

    layout: what the slots are, for the keypoint-length error (default: the names in ``categories``).
    """
    count = len(annotations)
    track_ids = np.zeros(count, dtype=np.int64)
    person_scores = np.full(count, np.nan)
    kps_rows, score_rows, score_at, head_rows, head_at, box_rows, box_at = [], [], [], [], [], [], []
    for a, ann in enumerate(annotations):
        if "track_id" not in ann:
            raise PoseCliError(
                f"{path}: annotations[{a}].track_id: missing (poseval needs a track id on every person)"
            )
        track_ids[a] = _integer(ann["track_id"], path, f"annotations[{a}].track_id")
        kps_rows.append(ann.get("keypoints"))
        raw_scores = ann.get("scores")
        if isinstance(raw_scores, list) and len(raw_scores) > 0:
            if len(raw_scores) < num_names:
                raise PoseCliError(
                    f"{path}: annotations[{a}].scores: expected {num_names} values, got {len(raw_scores)}"
                    + ("" if layout is None else f" ({layout})")
                )
            score_rows.append(raw_scores[:num_names])
            score_at.append(a)
        if ann.get("bbox_head") is not None:
            head_rows.append(ann["bbox_head"])
            head_at.append(a)
        bbox = ann.get("bbox")
        if isinstance(bbox, list) and len(bbox) == 4:
            box_rows.append(bbox)
            box_at.append(a)
        if ann.get("score") is not None:
            person_scores[a] = _number(ann["score"], path, f"annotations[{a}].score")
    kps = _stack_rows(
        kps_rows,
        [f"annotations[{a}].keypoints" for a in range(count)],
        path,
        3 * num_names,
        f"{3 * num_names} numbers (3 x {num_names} {layout or 'names'})",
    ).reshape(count, num_names, 3)[:, slot_of_joint]  # (A, 15, 3) in poseval id order
    scores = np.full((count, NUM_JOINTS), MISSING_SCORE)
    if score_rows:
        at = [f"annotations[{a}].scores" for a in score_at]
        scores[score_at] = _stack_rows(score_rows, at, path, num_names, f"{num_names} values")[
            :, slot_of_joint
        ]
    heads = np.full((count, 4), np.nan)
    if head_rows:
        hb = _stack_rows(head_rows, [f"annotations[{a}].bbox_head" for a in head_at], path, 4, "[x, y, w, h]")
        with np.errstate(over="ignore"):  # a 1e308 box overflows to inf, which then matches nothing
            heads[head_at] = np.concatenate([hb[:, :2], hb[:, :2] + hb[:, 2:]], axis=1)  # xywh -> xyxy
    boxes = np.full((count, 4), np.nan)
    if box_rows:
        boxes[box_at] = _stack_rows(
            box_rows, [f"annotations[{a}].bbox" for a in box_at], path, 4, "[x, y, w, h]"
        )
    scores_missing = np.ones(count, dtype=bool)
    scores_missing[score_at] = False
    return {
        "xy": kps[..., :2].copy(),
        "present": ~((kps[..., 0] == 0) & (kps[..., 1] == 0) & (kps[..., 2] == 0)),  # poseval's drop rule
        "scores": scores,
        "track_ids": track_ids,
        "heads": heads,
        "boxes": boxes,
        "person_scores": person_scores,
        "scores_missing": scores_missing & (role == "pred"),
    }


# ---------------------------------------------------------------------------------------------------------
# PoseTrack 2017 annolist


def _read_2017(path: Path, data: dict[str, Any], role: str) -> list[SequenceData]:
    annolist = data["annolist"]
    if not isinstance(annolist, list):
        raise PoseCliError(f"{path}: annolist: expected a list of frames")
    missing_scores = False
    videos: dict[str, list[FrameData]] = {}
    for i, entry in enumerate(annolist):
        where = f"annolist[{i}]"
        if not isinstance(entry, dict):
            raise PoseCliError(f"{path}: {where}: expected an object")
        image: Any = entry.get("image")
        try:
            name = image[0]["name"] if isinstance(image, list) else image["name"]
        except (KeyError, IndexError, TypeError):
            raise PoseCliError(f"{path}: {where}.image[0].name: missing") from None
        if not isinstance(name, str):
            raise PoseCliError(f"{path}: {where}.image[0].name: not a string")
        labeled = entry.get("is_labeled")
        if isinstance(labeled, list):
            labeled = labeled[0] if labeled else None
        regions: list[np.ndarray] = []
        if role == "gt":
            regions_2017 = entry.get("ignore_regions") or []
            if not isinstance(regions_2017, list):
                raise PoseCliError(f"{path}: {where}.ignore_regions: expected a list")
            for k, region in enumerate(regions_2017):
                points = region.get("point") if isinstance(region, dict) else None
                if not isinstance(points, list):
                    raise PoseCliError(f"{path}: {where}.ignore_regions[{k}].point: missing")
                xs = [p.get("x") if isinstance(p, dict) else None for p in points]
                ys = [p.get("y") if isinstance(p, dict) else None for p in points]
                xs = [x[0] if isinstance(x, list) and x else x for x in xs]
                ys = [y[0] if isinstance(y, list) and y else y for y in ys]
                regions.append(_polygon(xs, ys, path, f"{where}.ignore_regions[{k}].point"))
        rects = entry.get("annorect") or []
        if not isinstance(rects, list):
            raise PoseCliError(f"{path}: {where}.annorect: expected a list")
        people = []
        for r, rect in enumerate(rects):
            person = _person_2017(rect, path, f"{where}.annorect[{r}]")
            missing_scores |= role == "pred" and person[-1]
            people.append(person[:-1])
        frame = _frame_from_people(
            name, i, None if labeled is None else bool(labeled), people, regions, where
        )
        videos.setdefault(_frame_key(name)[0], []).append(frame)
    return [
        SequenceData(folder, folder, path, "2017", frames, missing_scores=missing_scores)
        for folder, frames in videos.items()
    ]


def _person_2017(rect: Any, path: Path, where: str) -> tuple[Any, ...]:
    if not isinstance(rect, dict):
        raise PoseCliError(f"{path}: {where}: expected an object")
    if "track_id" not in rect:
        raise PoseCliError(f"{path}: {where}.track_id: missing (poseval needs a track id on every person)")
    track_id = _integer(rect["track_id"], path, f"{where}.track_id")
    head = np.full(4, np.nan)
    if all(k in rect for k in ("x1", "y1", "x2", "y2")):
        head = np.array([_number(rect[k], path, f"{where}.{k}") for k in ("x1", "y1", "x2", "y2")])
    score = rect.get("score")
    person_score = _number(score, path, f"{where}.score") if score not in (None, []) else math.nan
    xy = np.zeros((NUM_JOINTS, 2))
    present = np.zeros(NUM_JOINTS, dtype=bool)
    scores = np.full(NUM_JOINTS, MISSING_SCORE)
    annopoints: Any = rect.get("annopoints")
    # poseval removes persons without annopoints, with an empty list or first element, or without 'point'.
    has_points = (
        isinstance(annopoints, list)
        and len(annopoints) > 0
        and isinstance(annopoints[0], dict)
        and len(annopoints[0]) > 0
        and "point" in annopoints[0]
    )
    score_missing = False
    if has_points:
        points = annopoints[0]["point"]
        if not isinstance(points, list):
            raise PoseCliError(f"{path}: {where}.annopoints[0].point: expected a list")
        for k, point in enumerate(points):
            pwhere = f"{where}.annopoints[0].point[{k}]"
            if not isinstance(point, dict) or "id" not in point:
                raise PoseCliError(f"{path}: {pwhere}.id: missing")
            joint = _integer(point["id"], path, f"{pwhere}.id", what="joint id", bounded=False)
            x = _number(point.get("x"), path, f"{pwhere}.x")
            y = _number(point.get("y"), path, f"{pwhere}.y")
            # First point with an id wins; ids outside 0-14 are ignored (poseval does the same).
            if not 0 <= joint < NUM_JOINTS or present[joint]:
                continue
            present[joint] = True
            xy[joint] = (x, y)
            if point.get("score") not in (None, []):
                scores[joint] = _number(point["score"], path, f"{pwhere}.score")
            else:
                score_missing = True
    box = np.full(4, np.nan)
    if present.any():
        # 2017 files carry no person box; the extent of the joints stands in (used by OKS only).
        lo, hi = xy[present].min(axis=0), xy[present].max(axis=0)
        with np.errstate(over="ignore"):  # joints near +-1e308 give an infinite extent
            box = np.array([lo[0], lo[1], hi[0] - lo[0], hi[1] - lo[1]])
    return (track_id, xy, present, scores, head, box, person_score, has_points, score_missing)


def iter_frames(sequences: list[SequenceData]) -> Iterator[FrameData]:
    """All frames of all sequences, in order."""
    for sequence in sequences:
        yield from sequence.frames
