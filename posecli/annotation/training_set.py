"""Corrected annotations → a PoseTrack 2018 dataset folder that ``posecli train`` and ``posecli eval`` read.

Layout under the output folder (PoseTrack 2018, ``posetrack.md`` §11):

* ``annotations/<split>/<video>.json``: one 2018 file per video, built with ``export/posetrack.py``'s
  entry builders and writer. ``images`` lists every frame of the video (``file_name``
  ``images/<split>/<video>/%06d.jpg``, 0-indexed; ``id`` = ``frame_id`` by the writer's scheme;
  ``is_labeled`` for the frames the annotation covers); ``annotations`` one entry per person and frame
  with the kept ``track_id``, ``keypoints`` 17 × ``x, y, v`` (v = 2 visible, 1 occluded, ``0, 0, 0``
  outside; the training loader reads any v > 0 as 1), ``bbox``, ``bbox_head``, ``scores: []``,
  ``iscrowd`` 0 and ``num_keypoints``.
* ``images/<split>/<video>/%06d.jpg``: every frame of the video (training samples neighbours of the
  labelled frames too).

Derived boxes (PoseTrack's annotators drew them; corrected skeletons have none):

* ``bbox``: the placed joints' extent, padded on each side by 10 % of its larger side plus 2 pixels,
  clipped to the frame.
* ``bbox_head``: a square. With head_top and head_bottom both placed, it is centred between them with
  their distance as its side (the head's height, what PoseTrack's head boxes span). Otherwise its side
  is a fifth of the person box's larger side, centred on the placed head joints (nose, head_bottom,
  head_top), or at the top centre of the person box when none is placed. poseval's head size is
  0.6 × its diagonal, so a joint within about 0.42 × the head height counts as correct.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from posecli.annotation.poses import OUTSIDE, Clip, PersonPose
from posecli.export._json import posetrack_image_id_base
from posecli.export.posetrack import (
    annotation_entry,
    image_entry,
    sequence_document,
)

HEAD_SLOTS = (0, 1, 2)  # nose, head_bottom, head_top
JPEG_QUALITY = 95


def person_box(pose: PersonPose, width: int, height: int) -> list[float]:
    """``[x, y, w, h]`` around the placed joints (module docstring)."""
    placed = pose.xy[pose.visibility != OUTSIDE]
    (x0, y0), (x1, y1) = placed.min(0), placed.max(0)
    pad = 0.1 * max(x1 - x0, y1 - y0) + 2.0
    x0, y0 = max(x0 - pad, 0.0), max(y0 - pad, 0.0)
    x1 = min(x1 + pad, width - 1.0) if width else x1 + pad
    y1 = min(y1 + pad, height - 1.0) if height else y1 + pad
    return [round(float(v), 2) for v in (x0, y0, x1 - x0, y1 - y0)]


def head_box(pose: PersonPose, box: list[float]) -> list[float]:
    """``[x, y, w, h]`` of the derived head box (module docstring)."""
    placed = pose.visibility != OUTSIDE
    if placed[1] and placed[2]:
        centre = (pose.xy[1] + pose.xy[2]) / 2
        side = float(np.linalg.norm(pose.xy[2] - pose.xy[1]))
    else:
        side = max(box[2], box[3]) / 5
        head = [s for s in HEAD_SLOTS if placed[s]]
        if head:
            centre = pose.xy[head].mean(0)
        else:
            centre = np.array([box[0] + box[2] / 2, box[1] + side / 2])
    side = max(side, 1.0)
    return [round(float(v), 2) for v in (centre[0] - side / 2, centre[1] - side / 2, side, side)]


def training_document(
    clip: Clip, video_name: str, split: str, num_frames: int, width: int, height: int
) -> dict[str, Any]:
    """The PoseTrack 2018 document of ``clip`` (module docstring)."""
    base = posetrack_image_id_base(video_name, num_frames)
    vid_id = video_name[:6] if base else video_name
    labeled = set(clip.labeled)
    by_frame = clip.by_frame()
    images = []
    annotations: list[dict[str, Any]] = []
    for frame in range(num_frames):
        image_id = base + frame
        images.append(
            image_entry(
                image_id,
                f"images/{split}/{video_name}/{frame:06d}.jpg",
                vid_id,
                num_frames,
                frame in labeled,
                width=width,
                height=height,
                has_no_densepose=True,
                ignore_regions_x=[],
                ignore_regions_y=[],
            )
        )
        for pose in by_frame.get(frame, []):
            flat: list[float] = []
            for (x, y), v in zip(pose.xy, pose.visibility):
                flat += [float(x), float(y), int(v)] if v != OUTSIDE else [0, 0, 0]
            box = person_box(pose, width, height)
            annotations.append(
                annotation_entry(
                    len(annotations) + 1,
                    image_id,
                    pose.track_id,
                    flat,
                    bbox=box,
                    bbox_head=head_box(pose, box),
                    scores=[],
                    iscrowd=0,
                    num_keypoints=int((pose.visibility != OUTSIDE).sum()),
                )
            )
    return sequence_document(images, annotations, released_key_order=True)


def write_frame(path: Path, image: np.ndarray) -> None:
    """One RGB frame as a JPEG, atomically."""
    import cv2

    from posecli.atomic import atomic_write_bytes

    ok, encoded = cv2.imencode(
        ".jpg", np.ascontiguousarray(image[:, :, ::-1]), [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY]
    )
    if not ok:
        raise OSError(f"could not encode {path.name}")
    atomic_write_bytes(path, encoded.tobytes())
