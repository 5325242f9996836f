"""The common model of the annotation formats: tracked poses per frame with a per-joint visibility.

Every exporter takes a :class:`Clip` and every importer returns one, so a round trip through any
format can be compared joint by joint. A :class:`Clip` is built from a posecli prediction (any of
PoseTrack 2017/2018, COCO results, JSON lines, read by the readers that already exist for them) with
:func:`clip_from_predictions`.

Visibility codes (COCO's ``v``, which every tool here can express):

* ``OUTSIDE`` (0): the joint is not in the annotation (CVAT ``outside="1"``, COCO ``v = 0``, no
  Label Studio point). Its coordinates are meaningless and written as 0.
* ``OCCLUDED`` (1): placed but hidden or uncertain (CVAT ``occluded="1"``, COCO ``v = 1``). Exports
  mark a predicted joint whose score is below ``--kpt-thr`` this way, for the annotator to check.
* ``VISIBLE`` (2): placed and seen.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from posecli.errors import PoseCliError
from posecli.export.predictions import Predictions
from posecli.keypoints import NUM_KEYPOINTS

OUTSIDE, OCCLUDED, VISIBLE = 0, 1, 2
COORD_DECIMALS = 2  # every format writes 1/100 pixel (CVAT's own precision)


# One colour per PoseTrack joint, in the labelling configs of CVAT and Label Studio alike.
JOINT_COLOURS = (
    "#ff355e",
    "#33ddff",
    "#fa3253",
    "#34d1b7",
    "#ff007c",
    "#ddff33",
    "#24b353",
    "#b83df5",
    "#66ff66",
    "#32b7fa",
    "#ffcc33",
    "#83e070",
    "#fafa37",
    "#5986b3",
    "#8c78f0",
    "#ff6a4d",
    "#f078f0",
)


@dataclass(frozen=True, eq=False)
class PersonPose:
    """One person in one frame. xy: ``(17, 2)`` float64 pixels in PoseTrack slots (0 where outside);
    visibility: ``(17,)`` int8 of ``OUTSIDE``/``OCCLUDED``/``VISIBLE``; track_id: the person's id."""

    frame: int
    track_id: int
    xy: np.ndarray
    visibility: np.ndarray

    @property
    def present(self) -> bool:
        """At least one joint is placed (a person with every joint outside is absent)."""
        return bool((self.visibility != OUTSIDE).any())


@dataclass(frozen=True, eq=False)
class Clip:
    """The annotations of one video.

    name: the sequence name (file names of the frames, the PoseTrack file); width/height: frame size in
    pixels; num_frames: frames in the video; labeled: the frames the annotation covers (a frame there
    without people is an annotated empty frame; other frames are unlabelled); people: in frame order,
    then track id.
    """

    name: str
    width: int
    height: int
    num_frames: int
    labeled: tuple[int, ...]
    people: tuple[PersonPose, ...] = field(default_factory=tuple)

    def by_frame(self) -> dict[int, list[PersonPose]]:
        """People grouped by frame (labelled frames without people map to ``[]``)."""
        out: dict[int, list[PersonPose]] = {f: [] for f in self.labeled}
        for person in self.people:
            out.setdefault(person.frame, []).append(person)
        return dict(sorted(out.items()))

    def tracks(self) -> dict[int, list[PersonPose]]:
        """People grouped by track id, each track in frame order."""
        out: dict[int, list[PersonPose]] = {}
        for person in sorted(self.people, key=lambda p: (p.track_id, p.frame)):
            out.setdefault(person.track_id, []).append(person)
        return out


def make_clip(
    name: str, width: int, height: int, num_frames: int, labeled: Iterable[int], people: Iterable[PersonPose]
) -> Clip:
    """A :class:`Clip` with people sorted by (frame, track id); raises ``ValueError`` on a track id used
    twice in one frame (each importer checks this first, naming its file)."""
    ordered = sorted(people, key=lambda p: (p.frame, p.track_id))
    for a, b in itertools.pairwise(ordered):
        if (a.frame, a.track_id) == (b.frame, b.track_id):
            raise ValueError(f"track id {a.track_id} twice in frame {a.frame}")
    frames = sorted(set(labeled) | {p.frame for p in ordered})
    return Clip(name, width, height, num_frames, tuple(frames), tuple(ordered))


def person(frame: int, track_id: int, xy: np.ndarray, visibility: np.ndarray) -> PersonPose:
    """A :class:`PersonPose` with coordinates rounded to 1/100 pixel and outside joints zeroed."""
    vis = np.asarray(visibility, dtype=np.int8).reshape(NUM_KEYPOINTS)
    points = np.round(np.asarray(xy, dtype=np.float64).reshape(NUM_KEYPOINTS, 2), COORD_DECIMALS)
    points[vis == OUTSIDE] = 0.0
    return PersonPose(frame=frame, track_id=track_id, xy=points, visibility=vis)


def visibility_of(scores: np.ndarray, kpt_thr: float) -> np.ndarray:
    """Visibility of predicted joints: outside where the model located nothing (score 0), occluded
    below ``kpt_thr`` (for the annotator to check), visible otherwise."""
    scores = np.asarray(scores, dtype=np.float64)
    return np.where(scores <= 0, OUTSIDE, np.where(scores < kpt_thr, OCCLUDED, VISIBLE)).astype(np.int8)


# ----------------------------------------------------------------------------------------------------
# Predictions as a Clip (read by posecli.export.predictions)


def clip_from_predictions(
    predictions: Predictions,
    *,
    kpt_thr: float,
    width: int,
    height: int,
    num_frames: int,
    name: str | None = None,
) -> Clip:
    """The :class:`Clip` of a prediction: joints with score 0 outside, below ``kpt_thr`` occluded.

    Every frame the prediction lists is labelled; a person without a track id gets its index in the
    frame (the writers' convention); a person with no located joint is left out. A track id used twice
    in one frame is a ``PoseCliError`` naming the file and the frame.
    """
    people = []
    for result in predictions.frames:
        seen: set[int] = set()
        for position, instance in enumerate(result.instances):
            track_id = int(instance.track_id) if instance.track_id is not None else position
            if track_id in seen:
                raise PoseCliError(
                    f"{predictions.path}: frame {result.frame_index}: track id {track_id} is used twice"
                )
            seen.add(track_id)
            keypoints = np.asarray(instance.keypoints, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)
            pose = person(
                result.frame_index, track_id, keypoints[:, :2], visibility_of(keypoints[:, 2], kpt_thr)
            )
            if pose.present:
                people.append(pose)
    frames = [r.frame_index for r in predictions.frames]
    total = max(num_frames, max(frames, default=-1) + 1)
    return make_clip(name or predictions.name, width, height, total, frames, people)


# ----------------------------------------------------------------------------------------------------
# Frame images of the image-based formats (CVAT for images, COCO, Label Studio)

_FRAME_NUMBER = re.compile(r"(\d+)$")


def frame_file_name(index: int) -> str:
    """The file name of frame ``index`` in every image-based export: CVAT's own name for video frames
    (``frame_000012``), so the same file also matches the frames of a CVAT video task."""
    return f"frame_{index:06d}.jpg"


def frame_index_of_name(name: str) -> int | None:
    """The frame number at the end of an image file's stem (``…/frame_000012.jpg`` → 12), if any."""
    match = _FRAME_NUMBER.search(Path(name.replace("\\", "/")).stem)
    return int(match.group(1)) if match and len(match.group(1)) <= 12 else None
