"""COCO Keypoints 1.0 (a dataset file, as CVAT and datumaro exchange it); writer and reader.

Written: ``info``, ``licenses``, ``categories`` (one: ``person`` id 1 with the 17 PoseTrack joint names
and the 1-based skeleton), ``images`` (one per labelled frame: ``id`` = frame + 1, ``file_name``
``frame_%06d.jpg``, ``width``, ``height``) and ``annotations`` (``id``, ``image_id``, ``category_id``
1, ``keypoints`` 17 × ``x, y, v`` with v 0 outside / 1 occluded / 2 visible, ``num_keypoints``,
``bbox`` around the placed joints, ``area``, ``iscrowd`` 0, ``segmentation`` [] and ``attributes``
``{"track_id", "occluded": false, "keyframe": true}``, the attributes CVAT writes and reads back).

Reading accepts any COCO keypoints file whose person category lists the 17 PoseTrack names (in any
order): frames from the image file names (``…000012.jpg``), else ``id - 1``; track ids from
``attributes.track_id`` (or a top-level ``track_id``), else the person's position in its image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from posecli.annotation.poses import OUTSIDE, Clip, frame_file_name, frame_index_of_name, make_clip, person
from posecli.atomic import atomic_write_json
from posecli.export._json import expect_dict, expect_list, fail, integer, load_json, require, short
from posecli.export.posetrack import keypoint_triples
from posecli.keypoints import NUM_KEYPOINTS, POSETRACK_CATEGORY_SKELETON, POSETRACK_KEYPOINTS

PERSON_CATEGORY_ID = 1


def coco_keypoints_document(clip: Clip) -> dict[str, Any]:
    """The COCO Keypoints 1.0 object of ``clip`` (module docstring)."""
    images = []
    annotations: list[dict[str, Any]] = []
    for frame, people in clip.by_frame().items():
        images.append(
            {
                "id": frame + 1,
                "width": clip.width,
                "height": clip.height,
                "file_name": frame_file_name(frame),
                "license": 0,
                "flickr_url": "",
                "coco_url": "",
                "date_captured": 0,
            }
        )
        for pose in people:
            placed = pose.visibility != OUTSIDE
            flat: list[float] = []
            for (x, y), v in zip(pose.xy, pose.visibility):
                flat += [float(x), float(y), int(v)]
            x0, y0 = pose.xy[placed].min(0)
            x1, y1 = pose.xy[placed].max(0)
            box = [
                round(float(x0), 2),
                round(float(y0), 2),
                round(float(x1 - x0), 2),
                round(float(y1 - y0), 2),
            ]
            annotations.append(
                {
                    "id": len(annotations) + 1,
                    "image_id": frame + 1,
                    "category_id": PERSON_CATEGORY_ID,
                    "segmentation": [],
                    "area": round(box[2] * box[3], 2),
                    "bbox": box,
                    "iscrowd": 0,
                    "attributes": {"occluded": False, "track_id": pose.track_id, "keyframe": True},
                    "keypoints": flat,
                    "num_keypoints": int(placed.sum()),
                }
            )
    category = {
        "id": PERSON_CATEGORY_ID,
        "name": "person",
        "supercategory": "",
        "keypoints": list(POSETRACK_KEYPOINTS),
        "skeleton": [list(edge) for edge in POSETRACK_CATEGORY_SKELETON],
    }
    info = {
        "contributor": "posecli",
        "description": clip.name,
        "version": "1.0",
        "url": "",
        "year": "",
        "date_created": "",
    }
    return {
        "licenses": [{"name": "", "id": 0, "url": ""}],
        "info": info,
        "categories": [category],
        "images": images,
        "annotations": annotations,
    }


def write_coco_keypoints(path: Path, clip: Clip) -> list[Path]:
    """Write ``clip`` as COCO Keypoints 1.0 at ``path``, atomically."""
    atomic_write_json(path, coco_keypoints_document(clip))
    return [path]


def read_coco_keypoints(path: Path) -> Clip:
    """Read a COCO keypoints dataset file (module docstring); ``PoseCliError`` names the file and field."""
    document = expect_dict(path, "(top level)", load_json(path))
    slots = _person_slots(path, document)
    images = expect_list(path, "images", require(path, "", document, "images"))
    frames: dict[int, int] = {}  # image id -> frame
    width = height = 0
    for n, raw in enumerate(images):
        field = f"images[{n}]"
        image = expect_dict(path, field, raw)
        image_id = integer(path, f"{field}.id", require(path, field, image, "id"))
        name = image.get("file_name")
        frame = frame_index_of_name(name) if isinstance(name, str) else None
        frame = image_id - 1 if frame is None else frame
        if frame < 0:
            fail(path, f"{field}.file_name", "no frame number in the file name and an id below 1")
        if frame in frames.values():
            fail(path, field, f"frame {frame} is listed twice")
        frames[image_id] = frame
        if "width" in image and "height" in image:
            width = integer(path, f"{field}.width", image["width"], minimum=0)
            height = integer(path, f"{field}.height", image["height"], minimum=0)
    annotations = expect_list(path, "annotations", require(path, "", document, "annotations"))
    people = []
    ids: dict[int, set[int]] = {}
    for n, raw in enumerate(annotations):
        field = f"annotations[{n}]"
        annotation = expect_dict(path, field, raw)
        if annotation.get("category_id", PERSON_CATEGORY_ID) != PERSON_CATEGORY_ID:
            continue
        image_id = integer(path, f"{field}.image_id", require(path, field, annotation, "image_id"))
        if image_id not in frames:
            fail(path, f"{field}.image_id", f"no image with id {image_id}")
        frame = frames[image_id]
        triples = keypoint_triples(path, field, annotation, len(slots))
        if not np.isin(triples[:, 2], (0, 1, 2)).all():
            fail(path, f"{field}.keypoints", "visibility flags must be 0, 1 or 2")
        track_id = _track_id(path, field, annotation, len(ids.setdefault(frame, set())))
        if track_id in ids[frame]:
            fail(path, f"{field}.attributes.track_id", f"track id {track_id} twice in frame {frame}")
        ids[frame].add(track_id)
        xy = np.zeros((NUM_KEYPOINTS, 2))
        visibility = np.full(NUM_KEYPOINTS, OUTSIDE, dtype=np.int8)
        for k, slot in enumerate(slots):
            xy[slot], visibility[slot] = triples[k, :2], int(triples[k, 2])
        pose = person(frame, track_id, xy, visibility)
        if pose.present:
            people.append(pose)
    labeled = sorted(frames.values())
    return make_clip(path.name.split(".")[0], width, height, max(labeled, default=-1) + 1, labeled, people)


def _person_slots(path: Path, document: dict[str, Any]) -> list[int]:
    """PoseTrack slot of each keypoint name of the person category (id 1), in file order."""
    categories = expect_list(path, "categories", require(path, "", document, "categories"))
    for n, raw in enumerate(categories):
        category = expect_dict(path, f"categories[{n}]", raw)
        if category.get("id") != PERSON_CATEGORY_ID:
            continue
        field = f"categories[{n}].keypoints"
        names = expect_list(path, field, require(path, f"categories[{n}]", category, "keypoints"))
        slots = []
        for k, name in enumerate(names):
            if name not in POSETRACK_KEYPOINTS:
                fail(
                    path,
                    f"{field}[{k}]",
                    f"{short(name)} is not a PoseTrack joint (a COCO file of another skeleton?)",
                )
            slots.append(POSETRACK_KEYPOINTS.index(name))
        if len(set(slots)) != len(slots):
            fail(path, field, "a joint is listed twice")
        return slots
    fail(path, "categories", f"no person category with id {PERSON_CATEGORY_ID}")


def _track_id(path: Path, field: str, annotation: dict[str, Any], position: int) -> int:
    attributes = annotation.get("attributes")
    if isinstance(attributes, dict) and "track_id" in attributes:
        return integer(path, f"{field}.attributes.track_id", attributes["track_id"], minimum=0)
    if "track_id" in annotation:
        return integer(path, f"{field}.track_id", annotation["track_id"], minimum=0)
    return position
