"""Per-frame person boxes: ``<stem>.boxes.json`` (``posecli detect``) and ``<stem>.tracks.json``
(``posecli track``); writers and validating readers.

File layout (both kinds)::

    {"format": "posecli-boxes" | "posecli-tracks", "version": 1,
     "video": {"path": str, "fps": float, "num_frames": int, "width": int, "height": int},
     "frames": [{"index": int, "timestamp": float,
                 "detections": [{"bbox": [x, y, w, h], "score": float,
                                 "track_id": int (tracks only),
                                 "landmarks": [[x, y], ...] (optional, detector key points)}]}]}

Every processed frame is listed, with an empty ``detections`` list when nobody was found, in frame
order. ``read_boxes_json`` accepts both kinds (track ids are then ignored); ``read_tracks_json`` needs
a tracks file.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass, field
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
    require,
    score,
    short,
    xywh,
)
from posecli.keypoints import NUM_KEYPOINTS
from posecli.structures import Detection, FrameResult, PoseInstance
from posecli.video import VideoInfo

BOXES_FORMAT = "posecli-boxes"
TRACKS_FORMAT = "posecli-tracks"
FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class FrameDetections:
    """The detections of one frame. frame_index: 0-based; timestamp: seconds from the stream start."""

    frame_index: int
    timestamp: float
    detections: tuple[Detection, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class VideoHeader:
    """The ``video`` block of a boxes/tracks file: where the boxes came from."""

    path: str
    fps: float
    num_frames: int
    width: int
    height: int


@dataclass(frozen=True, eq=False)
class BoxesFile:
    """A read ``<stem>.boxes.json`` (or a tracks file read as boxes)."""

    video: VideoHeader
    frames: list[FrameDetections]


@dataclass(frozen=True, eq=False)
class TracksFile:
    """A read ``<stem>.tracks.json``: per frame, people with ``box``, ``score`` and ``track_id``
    (``keypoints`` all zero: the file holds boxes only)."""

    video: VideoHeader
    frames: list[FrameResult]


def _header(info: VideoInfo) -> dict[str, Any]:
    return {
        "path": str(info.path),
        "fps": info.fps,
        "num_frames": info.num_frames,
        "width": info.width,
        "height": info.height,
    }


def _detection_dict(
    box: np.ndarray, det_score: float, track_id: int | None, landmarks: np.ndarray | None
) -> dict[str, Any]:
    item: dict[str, Any] = {"bbox": box_to_xywh(box), "score": score(det_score)}
    if track_id is not None:
        item["track_id"] = int(track_id)
    if landmarks is not None:
        item["landmarks"] = [
            [coord(x), coord(y)] for x, y in np.asarray(landmarks, dtype=np.float64).reshape(-1, 2)
        ]
    return item


def _check_order(indices: list[int]) -> None:
    if any(b <= a for a, b in itertools.pairwise(indices)):
        raise ValueError("frames must be in increasing frame_index order without repeats")


def write_boxes_json(path: str | Path, frames: Sequence[FrameDetections], info: VideoInfo) -> None:
    """Write the detections of one video (``posecli detect``) to ``path``, atomically."""
    _check_order([f.frame_index for f in frames])
    document = {
        "format": BOXES_FORMAT,
        "version": FORMAT_VERSION,
        "video": _header(info),
        "frames": [
            {
                "index": int(frame.frame_index),
                "timestamp": round(float(frame.timestamp), 6),
                "detections": [_detection_dict(d.box, d.score, None, d.landmarks) for d in frame.detections],
            }
            for frame in frames
        ],
    }
    atomic_write_json(path, document)


def write_tracks_json(path: str | Path, results: Sequence[FrameResult], info: VideoInfo) -> None:
    """Write tracked boxes (``posecli track``) to ``path``, atomically.

    Each person's ``box``, ``score`` and ``track_id`` (required) are written; keypoints are not.
    """
    _check_order([r.frame_index for r in results])
    frames = []
    for result in results:
        detections = []
        for person in result.instances:
            if person.track_id is None:
                raise ValueError(f"frame {result.frame_index}: a person has no track_id")
            detections.append(_detection_dict(person.box, person.score, person.track_id, None))
        frames.append(
            {
                "index": int(result.frame_index),
                "timestamp": round(float(result.timestamp), 6),
                "detections": detections,
            }
        )
    document = {"format": TRACKS_FORMAT, "version": FORMAT_VERSION, "video": _header(info), "frames": frames}
    atomic_write_json(path, document)


def _read_document(
    path: Path, formats: tuple[str, ...], parsed: Any = None
) -> tuple[str, VideoHeader, list[Any]]:
    document = expect_dict(path, "(top level)", load_json(path) if parsed is None else parsed)
    kind = require(path, "", document, "format")
    if kind not in formats:
        expected = " or ".join(repr(f) for f in formats)
        fail(path, "format", f"expected {expected}, got {short(kind)}")
    version = integer(path, "version", require(path, "", document, "version"))
    if version != FORMAT_VERSION:
        fail(path, "version", f"unsupported version {version} (this posecli reads version {FORMAT_VERSION})")
    video = expect_dict(path, "video", require(path, "", document, "video"))
    source = require(path, "video", video, "path")
    if not isinstance(source, str):
        fail(path, "video.path", "expected a string")
    header = VideoHeader(
        path=source,
        fps=_positive(path, "video.fps", require(path, "video", video, "fps")),
        num_frames=integer(path, "video.num_frames", require(path, "video", video, "num_frames"), minimum=0),
        width=integer(path, "video.width", require(path, "video", video, "width"), minimum=1),
        height=integer(path, "video.height", require(path, "video", video, "height"), minimum=1),
    )
    frames = expect_list(path, "frames", require(path, "", document, "frames"))
    return kind, header, frames


def _positive(path: Path, field: str, value: Any) -> float:
    """A finite number > 0 (a frame rate)."""
    result = number(path, field, value)
    if result <= 0:
        fail(path, field, f"expected a number > 0, got {result:g}")
    return result


def _read_frames(
    path: Path, frames: list[Any], with_tracks: bool
) -> list[tuple[int, float, list[tuple[Any, ...]]]]:
    """Validated ``(index, timestamp, [(box, score, track_id, landmarks), ...])`` per frame."""
    out = []
    previous = -1
    for position, raw in enumerate(frames):
        where = f"frames[{position}]"
        frame = expect_dict(path, where, raw)
        index = integer(path, f"{where}.index", require(path, where, frame, "index"), minimum=0)
        if index <= previous:
            fail(path, f"{where}.index", f"{index} does not follow {previous} (frames must be in order)")
        previous = index
        timestamp = number(path, f"{where}.timestamp", require(path, where, frame, "timestamp"))
        detections = []
        for k, raw_det in enumerate(
            expect_list(path, f"{where}.detections", require(path, where, frame, "detections"))
        ):
            field_ = f"{where}.detections[{k}]"
            det = expect_dict(path, field_, raw_det)
            box = xywh(path, f"{field_}.bbox", require(path, field_, det, "bbox"))
            det_score = number(path, f"{field_}.score", require(path, field_, det, "score"))
            track_id = None
            if with_tracks:
                track_id = integer(
                    path, f"{field_}.track_id", require(path, field_, det, "track_id"), minimum=0
                )
            landmarks = None
            if det.get("landmarks") is not None:
                rows = expect_list(path, f"{field_}.landmarks", det["landmarks"])
                landmarks = (
                    np.stack([numbers(path, f"{field_}.landmarks[{j}]", r, 2) for j, r in enumerate(rows)])
                    if rows
                    else np.zeros((0, 2))
                )
                coordinates(path, f"{field_}.landmarks", landmarks)
            detections.append((box, det_score, track_id, landmarks))
        if with_tracks:
            ids = [d[2] for d in detections]
            if len(set(ids)) != len(ids):
                fail(path, f"{where}.detections", "duplicate track_id within the frame")
        out.append((index, timestamp, detections))
    return out


def read_boxes_json(path: str | Path, parsed: Any = None) -> BoxesFile:
    """Read and validate a boxes file (or a tracks file, ignoring its ids). Raises ``PoseCliError``.

    parsed: the file's content when the caller has already read it with ``load_json`` (a reader that
    tells formats apart by their JSON), so that the file is read once.
    """
    path = Path(path)
    _, header, frames = _read_document(path, (BOXES_FORMAT, TRACKS_FORMAT), parsed)
    return BoxesFile(
        video=header,
        frames=[
            FrameDetections(
                index, timestamp, tuple(Detection(box=b, score=s, landmarks=lm) for b, s, _, lm in dets)
            )
            for index, timestamp, dets in _read_frames(path, frames, with_tracks=False)
        ],
    )


def read_tracks_json(path: str | Path) -> TracksFile:
    """Read and validate a tracks file. Raises ``PoseCliError``."""
    path = Path(path)
    _, header, frames = _read_document(path, (TRACKS_FORMAT,))
    results = []
    for index, timestamp, dets in _read_frames(path, frames, with_tracks=True):
        people = tuple(
            PoseInstance(keypoints=np.zeros((NUM_KEYPOINTS, 3)), box=b, score=s, track_id=t)
            for b, s, t, _ in dets
        )
        results.append(FrameResult(frame_index=index, timestamp=timestamp, instances=people))
    return TracksFile(video=header, frames=results)
