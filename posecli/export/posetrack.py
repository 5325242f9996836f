"""PoseTrack 2018 JSON (one file per video), as specified in ``posetrack.md`` §2.1: writer and reader.

Layout written:

* ``categories``: one entry, ``id`` 1, ``name`` "person", the 17 PoseTrack keypoint names and the
  1-indexed skeleton of the released ground truth.
* ``images``: **every frame** from 0 to the last processed frame, in order, with ``id`` = ``frame_id``,
  ``file_name`` ``images/<video_name>/%06d.jpg`` (0-indexed, PoseTrack 2018 naming), ``vid_id``,
  ``nframes``, ``is_labeled`` (True for frames the pipeline processed), ``width``, ``height``, empty
  ``ignore_regions_x``/``_y``, ``has_no_densepose`` and posecli's ``timestamp`` (seconds).
* ``annotations``: one per person: ``id`` (1, 2, … in file order), ``image_id``, ``category_id`` 1,
  ``track_id``, ``keypoints`` (17 × ``x, y, v``; a joint with score 0 is ``0, 0, 0``, a located one has
  v = 1, or v = 0 when its score is below ``kpt_thr``: its place and score are kept, it is just not
  claimed visible), ``scores`` (17 per-joint scores), ``bbox`` ``[x, y, w, h]``, ``score`` (person score) and
  ``num_keypoints`` (joints with v = 1).

Image ids: ``id = frame_id = base + frame index``. For a video named like a PoseTrack sequence
(``003418_mpii_test``: 6 digits, then mpii/bonn/mpiinew) with fewer than 10⁴ frames, ``base`` is
PoseTrack's ``T·10¹⁰ + S·10⁴`` so ids equal the ground truth's; otherwise ``base`` is 0 and the image id
is the frame index. ``vid_id`` is the 6-digit number for such names, else the video name.

A person without a ``track_id`` is written with its index within the frame (the reference writer's
convention for untracked output).

The reader accepts these files and PoseTrack 2018 / 2021 ground truth: keypoints are mapped to slots
by the names in ``categories``; per-joint scores come from ``scores`` when present, else 1 for a
keypoint with v > 0. Frames come back in frame order, one ``FrameResult`` per listed image.

This module is posecli's only PoseTrack writer: besides ``posecli estimate``'s files, the synthetic
data sets (``posecli.data.synthetic``, ``posecli.evaluation.synthetic``) build their 2018 documents
and 2017 ``annolist`` files from the entry builders below and write them with
``write_posetrack_document``. The builders fix the leading keys every PoseTrack file shares; each
caller adds its own further fields, in its own order, so files already written keep their bytes.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from posecli.atomic import atomic_write_text
from posecli.export._json import (
    COORD_LIMIT,
    box_to_xywh,
    coord,
    coordinates,
    expect_dict,
    expect_list,
    fail,
    integer,
    load_json,
    number,
    numbers,
    posetrack_image_id_base,
    require,
    score,
    short,
)
from posecli.keypoints import NUM_KEYPOINTS, POSETRACK_CATEGORY_SKELETON, POSETRACK_KEYPOINTS
from posecli.structures import FrameResult, PoseInstance
from posecli.video import VideoInfo

PERSON_CATEGORY_ID = 1


def posetrack_document(
    results: Sequence[FrameResult], info: VideoInfo, video_name: str, kpt_thr: float = 0.0
) -> dict[str, Any]:
    """The PoseTrack 2018 JSON object for one video (see the module docstring)."""
    by_frame = _index_results(results)
    nframes = max(by_frame) + 1 if by_frame else 0
    base = posetrack_image_id_base(video_name, nframes)
    vid_id = video_name[:6] if base else video_name
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for index in range(nframes):
        result = by_frame.get(index)
        image_id = base + index
        images.append(
            image_entry(
                image_id,
                f"images/{video_name}/{index:06d}.jpg",
                vid_id,
                nframes,
                result is not None,
                width=info.width,
                height=info.height,
                has_no_densepose=True,
                ignore_regions_x=[],
                ignore_regions_y=[],
                timestamp=round(result.timestamp if result is not None else index / info.fps, 6),
            )
        )
        if result is None:
            continue
        for position, person in enumerate(result.instances):
            annotations.append(_annotation(len(annotations) + 1, image_id, position, person, kpt_thr))
    return sequence_document(images, annotations)


def write_posetrack_json(
    path: str | Path, results: Sequence[FrameResult], info: VideoInfo, video_name: str, kpt_thr: float = 0.0
) -> None:
    """Write ``results`` of one video as a PoseTrack 2018 file at ``path``, atomically.

    ``results``: one ``FrameResult`` per processed frame (any order, frame indices unique);
    ``info``: the video's size and frame rate; ``video_name``: the sequence name used in ``file_name``;
    ``kpt_thr``: located joints scored below it get visibility 0 (``estimate --kpt-thr``).
    """
    write_posetrack_document(path, posetrack_document(results, info, video_name, kpt_thr))


def _index_results(results: Sequence[FrameResult]) -> dict[int, FrameResult]:
    by_frame: dict[int, FrameResult] = {}
    for result in results:
        if result.frame_index < 0:
            raise ValueError(f"frame_index must be >= 0, got {result.frame_index}")
        if result.frame_index in by_frame:
            raise ValueError(f"two results for frame {result.frame_index}")
        by_frame[result.frame_index] = result
    return by_frame


def _annotation(
    annotation_id: int, image_id: int, position: int, person: PoseInstance, kpt_thr: float = 0.0
) -> dict[str, Any]:
    points: list[float] = []
    scores: list[float] = []
    visible = 0
    for x, y, s in np.asarray(person.keypoints, dtype=np.float64).reshape(NUM_KEYPOINTS, 3):
        located = s > 0
        shown = int(located and s >= kpt_thr)
        visible += shown
        points += [coord(x), coord(y), shown] if located else [0, 0, 0]
        scores.append(score(s) if located else 0.0)
    return annotation_entry(
        annotation_id,
        image_id,
        int(person.track_id) if person.track_id is not None else position,
        points,
        scores=scores,
        bbox=box_to_xywh(person.box),
        score=score(person.score),
        num_keypoints=visible,
    )


# ----------------------------------------------------------------------------------------------------
# Entry builders and the file writer shared by every PoseTrack file posecli writes


def person_category(*, released_key_order: bool = False) -> dict[str, Any]:
    """The one ``categories`` entry: the person with the 17 PoseTrack names and the 1-indexed skeleton.

    ``released_key_order`` lists ``supercategory`` first, as the released ground truth does (the
    synthetic data sets); otherwise ``id`` comes first (``posecli estimate``'s files).
    """
    keypoints = list(POSETRACK_KEYPOINTS)
    skeleton = [list(edge) for edge in POSETRACK_CATEGORY_SKELETON]
    if released_key_order:
        return {
            "supercategory": "person",
            "id": PERSON_CATEGORY_ID,
            "name": "person",
            "keypoints": keypoints,
            "skeleton": skeleton,
        }
    return {
        "id": PERSON_CATEGORY_ID,
        "name": "person",
        "supercategory": "person",
        "keypoints": keypoints,
        "skeleton": skeleton,
    }


def sequence_document(
    images: list[dict[str, Any]], annotations: list[dict[str, Any]], *, released_key_order: bool = False
) -> dict[str, Any]:
    """A PoseTrack 2018 document: ``images``, ``annotations`` and the person category."""
    category = person_category(released_key_order=released_key_order)
    return {"images": images, "annotations": annotations, "categories": [category]}


def image_entry(
    image_id: int, file_name: str, vid_id: str, nframes: int, is_labeled: bool, **fields: Any
) -> dict[str, Any]:
    """One ``images`` entry: ``id`` = ``frame_id``, ``file_name``, ``vid_id``, ``nframes``,
    ``is_labeled``, then ``fields`` in the order given (e.g. ``width``, ``ignore_regions_x``)."""
    head = {"id": image_id, "frame_id": image_id, "file_name": file_name, "vid_id": vid_id}
    return {**head, "nframes": nframes, "is_labeled": is_labeled, **fields}


def annotation_entry(
    annotation_id: int, image_id: int, track_id: int, keypoints: list[float], **fields: Any
) -> dict[str, Any]:
    """One ``annotations`` entry of the person category: ``id``, ``image_id``, ``category_id``,
    ``track_id``, the flat ``keypoints`` (17 × ``x, y, v``), then ``fields`` in the order given."""
    return {
        "id": annotation_id,
        "image_id": image_id,
        "category_id": PERSON_CATEGORY_ID,
        "track_id": track_id,
        "keypoints": keypoints,
        **fields,
    }


def annolist_point(joint: int, x: float, y: float, score: float | None = None) -> dict[str, Any]:
    """One PoseTrack 2017 point by poseval joint id; predictions carry a ``score``."""
    scored = {} if score is None else {"score": [score]}
    return {"id": [joint], "x": [x], "y": [y], **scored, "is_visible": [1]}


def annolist_head(x1: float, y1: float, x2: float, y2: float) -> dict[str, Any]:
    """The head box corners of a PoseTrack 2017 ``annorect``."""
    return {"x1": [x1], "y1": [y1], "x2": [x2], "y2": [y2]}


def annolist_person(track_id: int, points: list[dict[str, Any]]) -> dict[str, Any]:
    """The ``track_id`` and ``annopoints`` of a PoseTrack 2017 ``annorect``."""
    return {"track_id": [track_id], "annopoints": [{"point": points}]}


def annolist_frame(
    name: str,
    imgnum: int,
    is_labeled: bool,
    annorect: list[dict[str, Any]],
    ignore_regions: list[list[tuple[float, float]]] | None = None,
) -> dict[str, Any]:
    """One PoseTrack 2017 ``annolist`` entry; ``ignore_regions`` (polygons of ``(x, y)``) are written
    only when given."""
    entry: dict[str, Any] = {
        "image": [{"name": name}],
        "imgnum": [imgnum],
        "is_labeled": [int(is_labeled)],
        "annorect": annorect,
    }
    if ignore_regions is not None:
        entry["ignore_regions"] = [
            {"point": [{"x": [x], "y": [y]} for x, y in polygon]} for polygon in ignore_regions
        ]
    return entry


def write_posetrack_document(
    path: str | Path, document: dict[str, Any], *, compact: bool = False, final_newline: bool = True
) -> None:
    """Write a PoseTrack 2018 document or 2017 ``{"annolist": …}`` at ``path``, atomically.

    ``compact`` drops the spaces after separators (the synthetic dataset's files); NaN is refused.
    """
    separators = (",", ":") if compact else None
    text = json.dumps(document, allow_nan=False, separators=separators)
    atomic_write_text(path, text + "\n" if final_newline else text)


# ----------------------------------------------------------------------------------------------------
# Reading


def read_posetrack_json(path: str | Path, fps: float | None = None) -> list[FrameResult]:
    """Read and validate a PoseTrack 2018 file; one ``FrameResult`` per listed image, in frame order.

    Frame index: the number in the image's file name (``000012.jpg`` → 12), else its position in
    ``images``. Timestamp: the image's ``timestamp``, else ``frame index / fps`` when ``fps`` is given,
    else 0. Keypoints ``(17, 3)`` are ``x, y, score`` in PoseTrack slots; slots absent from
    ``categories`` (a 15-joint file has no ears) stay 0. A missing ``bbox`` is the box around the
    located keypoints; a missing person ``score`` is 1.

    Raises ``PoseCliError("<file>: <field path>: <problem>")`` on any malformed content.
    """
    return read_posetrack_file(path, fps).frames


@dataclass(frozen=True, eq=False)
class PoseTrackFile:
    """A read PoseTrack 2018 file: ``frames`` (see ``read_posetrack_json``), the frame size of its first
    image (``width``/``height``, 0 when not given) and ``video_name``, the folder of its first image
    file (empty when there is none)."""

    frames: list[FrameResult]
    width: int
    height: int
    video_name: str


def read_posetrack_file(path: str | Path, fps: float | None = None) -> PoseTrackFile:
    """``read_posetrack_json`` plus the validated frame size and video name (``posecli track``)."""
    path = Path(path)
    document = expect_dict(path, "(top level)", load_json(path))
    slots = _category_slots(path, document)
    images = expect_list(path, "images", require(path, "", document, "images"))
    frames: dict[int, tuple[int, float]] = {}  # image id -> (frame index, timestamp)
    seen_index: dict[int, int] = {}
    for position, raw in enumerate(images):
        field = f"images[{position}]"
        image = expect_dict(path, field, raw)
        image_id = integer(path, f"{field}.id", require(path, field, image, "id"))
        if image_id in frames:
            fail(path, f"{field}.id", f"duplicate image id {image_id}")
        index = _frame_index(path, field, image, position)
        if index in seen_index:
            fail(
                path,
                f"{field}.file_name",
                f"frame {index} is listed twice (also images[{seen_index[index]}])",
            )
        seen_index[index] = position
        if "timestamp" in image:
            timestamp = number(path, f"{field}.timestamp", image["timestamp"])
        else:
            timestamp = index / fps if fps else 0.0
        frames[image_id] = (index, timestamp)
    people: dict[int, list[PoseInstance]] = {image_id: [] for image_id in frames}
    annotations = expect_list(path, "annotations", require(path, "", document, "annotations"))
    for position, raw in enumerate(annotations):
        field = f"annotations[{position}]"
        annotation = expect_dict(path, field, raw)
        image_id = integer(path, f"{field}.image_id", require(path, field, annotation, "image_id"))
        if image_id not in frames:
            fail(path, f"{field}.image_id", f"no image with id {image_id}")
        category = annotation.get("category_id", PERSON_CATEGORY_ID)
        if category != PERSON_CATEGORY_ID:
            expected = f"expected {PERSON_CATEGORY_ID} (person), got {short(category)}"
            fail(path, f"{field}.category_id", expected)
        people[image_id].append(_read_person(path, field, annotation, slots))
    results = [
        FrameResult(frame_index=index, timestamp=timestamp, instances=tuple(people[image_id]))
        for image_id, (index, timestamp) in frames.items()
    ]
    first = images[0] if images else {}
    name = first.get("file_name")
    return PoseTrackFile(
        frames=sorted(results, key=lambda r: r.frame_index),
        width=_size(path, "images[0].width", first.get("width")),
        height=_size(path, "images[0].height", first.get("height")),
        video_name=Path(name).parent.name if isinstance(name, str) else "",
    )


def _size(path: Path, field: str, value: Any) -> int:
    """A frame width or height: 0 when absent (null), else an integer in ``0..COORD_LIMIT``."""
    if value is None:
        return 0
    size = integer(path, field, value, minimum=0)
    if size > COORD_LIMIT:
        fail(path, field, f"{size} is beyond {COORD_LIMIT:g} pixels")
    return size


def _category_slots(path: Path, document: dict[str, Any]) -> list[int]:
    """PoseTrack slot of each keypoint name listed in the person category, in file order."""
    categories = expect_list(path, "categories", require(path, "", document, "categories"))
    persons = [
        (i, c)
        for i, c in enumerate(categories)
        if isinstance(c, dict) and c.get("id", PERSON_CATEGORY_ID) == PERSON_CATEGORY_ID
    ]
    if not persons:
        fail(path, "categories", "no person category (id 1)")
    position, category = persons[0]
    field = f"categories[{position}].keypoints"
    names = expect_list(path, field, require(path, f"categories[{position}]", category, "keypoints"))
    slots = []
    for k, name in enumerate(names):
        if name not in POSETRACK_KEYPOINTS:
            hint = (
                " (COCO keypoint names are not accepted: PoseTrack uses head_bottom/head_top)"
                if isinstance(name, str) and "eye" in name
                else ""
            )
            fail(path, f"{field}[{k}]", f"unknown keypoint name {short(name)}{hint}")
        slot = POSETRACK_KEYPOINTS.index(name)
        if slot in slots:
            fail(path, f"{field}[{k}]", f"keypoint name {short(name)} listed twice")
        slots.append(slot)
    return slots


def _frame_index(path: Path, field: str, image: dict[str, Any], position: int) -> int:
    name = image.get("file_name")
    if name is None:
        return position
    if not isinstance(name, str):
        fail(path, f"{field}.file_name", "expected a string")
    stem = Path(name).stem
    if not (stem.isascii() and stem.isdigit()):  # str.isdigit() also accepts "²", which int() refuses
        return position
    digits = stem.lstrip("0") or "0"
    if len(digits) > 18:  # frame indices are int64 downstream
        fail(path, f"{field}.file_name", f"a frame number of {len(digits)} digits is too large")
    return int(digits)


def keypoint_triples(path: Path, field: str, annotation: dict[str, Any], count: int) -> np.ndarray:
    """An annotation's ``keypoints``: ``3 · count`` numbers as ``(count, 3)`` (one line naming the field
    if they are missing, not numbers, or not 3 per category keypoint)."""
    flat = numbers(path, f"{field}.keypoints", require(path, field, annotation, "keypoints"))
    if len(flat) != 3 * count:
        fail(path, f"{field}.keypoints", f"expected {3 * count} numbers (3 per category keypoint), got {len(flat)}")
    return flat.reshape(count, 3)


def _read_person(path: Path, field: str, annotation: dict[str, Any], slots: list[int]) -> PoseInstance:
    track = require(path, field, annotation, "track_id")
    track_id = integer(path, f"{field}.track_id", track, minimum=0)
    triples = keypoint_triples(path, field, annotation, len(slots))
    coordinates(path, f"{field}.keypoints", triples[:, :2])
    raw_scores = annotation.get("scores")
    if raw_scores:
        joint_scores = numbers(path, f"{field}.scores", raw_scores, len(slots))
    else:
        # Ground truth has `scores: []`: an annotated keypoint (v > 0) counts as certain.
        joint_scores = (triples[:, 2] > 0).astype(np.float64)
    keypoints = np.zeros((NUM_KEYPOINTS, 3), dtype=np.float64)
    for k, slot in enumerate(slots):
        x, y, v = triples[k]
        unset = x == 0 and y == 0 and v == 0
        keypoints[slot] = (x, y, 0.0 if unset else max(joint_scores[k], 0.0))
    if "bbox" in annotation:
        box_field = f"{field}.bbox"
        x, y, w, h = coordinates(path, box_field, numbers(path, box_field, annotation["bbox"], 4))
        if w < 0 or h < 0:
            fail(path, f"{field}.bbox", f"box width and height must be >= 0, got {w:g} x {h:g}")
        box = np.array([x, y, x + w, y + h])
    else:
        located = keypoints[keypoints[:, 2] > 0, :2]
        box = np.concatenate([located.min(0), located.max(0)]) if len(located) else np.zeros(4)
    person_score = number(path, f"{field}.score", annotation["score"]) if "score" in annotation else 1.0
    return PoseInstance(keypoints=keypoints, box=box, score=person_score, track_id=track_id)
