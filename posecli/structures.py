"""Frozen records passed between the per-frame stages (detector → tracker → pose model → export).

All coordinates are in pixels of the original (rotation-corrected) frame; boxes are ``x1, y1, x2, y2``.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np


@dataclass(frozen=True, eq=False)
class Detection:
    """One person found by a detector.

    box: ``(4,)`` float ``x1, y1, x2, y2``. score: detector confidence in ``[0, 1]``.
    landmarks: optional ``(L, 2)`` float detector key points (BlazePose gives 4: hip centre,
    body-size point, face centre, face-size point) used to seed a pose region; ``None`` otherwise.
    """

    box: np.ndarray
    score: float
    landmarks: np.ndarray | None = None


@dataclass(frozen=True, eq=False)
class PoseInstance:
    """One person in one frame.

    keypoints: ``(K, 3)`` float ``x, y, score`` in the 17-slot PoseTrack layout (``keypoints.py``);
    a joint the model did not locate has score 0.
    box: ``(4,)`` float ``x1, y1, x2, y2``; score: person score; track_id: ``None`` until tracked.
    coco_keypoints: optional ``(17, 3)`` in the COCO layout, for models that know the eyes (the
    embedded BlazePose model); COCO export falls back to ``keypoints`` with slots 1 and 2 unset.
    """

    keypoints: np.ndarray
    box: np.ndarray
    score: float
    track_id: int | None = None
    coco_keypoints: np.ndarray | None = None

    def with_track_id(self, track_id: int | None) -> PoseInstance:
        return replace(self, track_id=track_id)


@dataclass(frozen=True, eq=False)
class FrameResult:
    """All people of one video frame, in the order the pipeline produced them.

    frame_index: 0-based index in decode order; timestamp: seconds from the stream start.
    """

    frame_index: int
    timestamp: float
    instances: tuple[PoseInstance, ...] = field(default_factory=tuple)
