"""COCO keypoint results (a JSON list, one entry per person) with ``track_id``: writer and reader.

Each entry: ``image_id``, ``category_id`` 1, ``keypoints`` (17 × ``x, y, score`` in the COCO layout;
a joint with score 0 is ``0, 0, 0``), ``score`` (person), ``bbox`` ``[x, y, w, h]``, ``track_id``, plus
posecli's ``frame_index`` and ``timestamp``. The COCO keypoints are ``PoseInstance.coco_keypoints`` when
the model produced them (it knows the eyes); otherwise the PoseTrack keypoints with slots 1 and 2
zeroed, since those hold head_bottom/head_top rather than the eyes.

With a keypoint threshold (``estimate`` passes ``--kpt-thr``), ``keypoints`` holds COCO visibility
flags instead of scores: ``x, y, v`` with v = 2 for a joint scored at least the threshold, v = 1 (located,
not visible) below it and ``0, 0, 0`` when unlocated; the 17 scores then go to ``keypoint_scores``. The
reader takes the scores from ``keypoint_scores`` when present.

Image ids follow the PoseTrack writer's scheme (``posetrack.py``) for the same video name, so the
entries join with the images of ``<stem>.posetrack.json``.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from posecli.atomic import atomic_write_json
from posecli.export._json import (
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
from posecli.keypoints import NUM_KEYPOINTS
from posecli.structures import FrameResult, PoseInstance
from posecli.video import VideoInfo

PERSON_CATEGORY_ID = 1
HEAD_SLOTS = (1, 2)  # PoseTrack head_bottom/head_top occupy COCO's eye slots


def coco_keypoints_of(person: PoseInstance) -> np.ndarray:
    """``(17, 3)`` COCO-layout ``x, y, score`` for ``person`` (see the module docstring)."""
    if person.coco_keypoints is not None:
        return np.asarray(person.coco_keypoints, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)
    keypoints = np.array(person.keypoints, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)
    keypoints[list(HEAD_SLOTS)] = 0.0
    return keypoints


def coco_results(
    results: Sequence[FrameResult],
    info: VideoInfo | None = None,
    video_name: str | None = None,
    kpt_thr: float | None = None,
) -> list[dict[str, Any]]:
    """The COCO results list for one video, people in frame order.

    ``video_name`` (default: the stem of ``info.path``) selects the image-id scheme; without either,
    the image id is the frame index. ``kpt_thr``: write visibility flags and ``keypoint_scores``
    (see the module docstring); None writes the scores in ``keypoints``.
    """
    ordered = sorted(results, key=lambda r: r.frame_index)
    if video_name is None and info is not None:
        video_name = info.path.name if info.path.is_dir() else info.path.stem
    nframes = ordered[-1].frame_index + 1 if ordered else 0
    base = posetrack_image_id_base(video_name, nframes) if video_name else 0
    entries = []
    for result in ordered:
        for position, person in enumerate(result.instances):
            flat: list[float] = []
            scores: list[float] = []
            for x, y, s in coco_keypoints_of(person):
                third = score(s) if kpt_thr is None else (2 if s >= kpt_thr else 1)
                flat += [coord(x), coord(y), third] if s > 0 else [0.0, 0.0, 0.0]
                scores.append(score(s) if s > 0 else 0.0)
            flags = {} if kpt_thr is None else {"keypoint_scores": scores}
            entries.append(
                {
                    "image_id": base + result.frame_index,
                    "category_id": PERSON_CATEGORY_ID,
                    "keypoints": flat,
                    **flags,
                    "score": score(person.score),
                    "bbox": box_to_xywh(person.box),
                    "track_id": int(person.track_id) if person.track_id is not None else position,
                    "frame_index": result.frame_index,
                    "timestamp": round(result.timestamp, 6),
                }
            )
    return entries


def write_coco_json(
    path: str | Path,
    results: Sequence[FrameResult],
    info: VideoInfo | None = None,
    video_name: str | None = None,
    kpt_thr: float | None = None,
) -> None:
    """Write the COCO keypoint results of one video to ``path``, atomically (``kpt_thr``: see
    ``coco_results``)."""
    atomic_write_json(path, coco_results(results, info, video_name, kpt_thr))


def read_coco_json(path: str | Path) -> list[FrameResult]:
    """Read and validate a COCO keypoint results file; one ``FrameResult`` per frame with people.

    Frames are keyed by ``frame_index`` when present, else by ``image_id``. Each ``PoseInstance`` has
    ``coco_keypoints`` as read and ``keypoints`` = the same with slots 1 and 2 zeroed (COCO has no
    head_bottom/head_top). ``track_id`` may be absent (None). Raises ``PoseCliError`` naming the field.
    """
    path = Path(path)
    entries = expect_list(path, "(top level)", load_json(path))
    frames: dict[int, tuple[float, list[PoseInstance]]] = {}
    for position, raw in enumerate(entries):
        field = f"[{position}]"
        entry = expect_dict(path, field, raw)
        image_id = integer(path, f"{field}.image_id", require(path, field, entry, "image_id"))
        category = entry.get("category_id", PERSON_CATEGORY_ID)
        if category != PERSON_CATEGORY_ID:
            expected = f"expected {PERSON_CATEGORY_ID} (person), got {short(category)}"
            fail(path, f"{field}.category_id", expected)
        flat = numbers(
            path, f"{field}.keypoints", require(path, field, entry, "keypoints"), 3 * NUM_KEYPOINTS
        )
        coco = flat.reshape(NUM_KEYPOINTS, 3)
        coordinates(path, f"{field}.keypoints", coco[:, :2])
        if (coco[:, 2] < 0).any():
            fail(path, f"{field}.keypoints", "keypoint scores must be >= 0")
        if "keypoint_scores" in entry:  # keypoints hold visibility flags; the scores are here
            joint_scores = numbers(path, f"{field}.keypoint_scores", entry["keypoint_scores"], NUM_KEYPOINTS)
            if (joint_scores < 0).any():
                fail(path, f"{field}.keypoint_scores", "keypoint scores must be >= 0")
            coco[:, 2] = np.where(coco[:, 2] > 0, joint_scores, 0.0)
        x, y, w, h = coordinates(
            path, f"{field}.bbox", numbers(path, f"{field}.bbox", require(path, field, entry, "bbox"), 4)
        )
        if w < 0 or h < 0:
            fail(path, f"{field}.bbox", f"box width and height must be >= 0, got {w:g} x {h:g}")
        person_score = number(path, f"{field}.score", require(path, field, entry, "score"))
        track = entry.get("track_id")
        track_id = None if track is None else integer(path, f"{field}.track_id", track, minimum=0)
        if "frame_index" in entry:
            index = integer(path, f"{field}.frame_index", entry["frame_index"], minimum=0)
        else:
            index = image_id
        timestamp = number(path, f"{field}.timestamp", entry["timestamp"]) if "timestamp" in entry else 0.0
        keypoints = coco.copy()
        keypoints[list(HEAD_SLOTS)] = 0.0
        person = PoseInstance(
            keypoints=keypoints,
            box=np.array([x, y, x + w, y + h]),
            score=person_score,
            track_id=track_id,
            coco_keypoints=coco,
        )
        frames.setdefault(index, (timestamp, []))[1].append(person)
    return [
        FrameResult(frame_index=index, timestamp=timestamp, instances=tuple(people))
        for index, (timestamp, people) in sorted(frames.items())
    ]
