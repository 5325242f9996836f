"""Overlay drawing: boxes, PoseTrack skeletons and track ids on frames, and the overlay video.

Colours come from a fixed palette indexed by ``track_id`` (so a person keeps its colour for the
whole video and across runs); people without a track id are drawn in grey. Joints whose score is
below ``min_score`` are not drawn, nor are limbs touching them.
"""

from __future__ import annotations

from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

import cv2
import numpy as np

from posecli.background import BackgroundCalls
from posecli.keypoints import NUM_KEYPOINTS, POSETRACK_SKELETON
from posecli.structures import FrameResult
from posecli.video import VideoInfo
from posecli.video_writer import VideoWriter

# 20 well-separated RGB colours (bright enough to read on dark and light backgrounds).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
    (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (255, 255, 255),
)  # fmt: skip
UNTRACKED_COLOUR = (160, 160, 160)
DEFAULT_MIN_SCORE = 0.3


def track_colour(track_id: int | None) -> tuple[int, int, int]:
    """The RGB colour of ``track_id`` (stable: a pure function of the id)."""
    if track_id is None:
        return UNTRACKED_COLOUR
    return PALETTE[track_id % len(PALETTE)]


def draw_frame(image: np.ndarray, result: FrameResult, min_score: float = DEFAULT_MIN_SCORE) -> np.ndarray:
    """Draw every person of ``result`` on a copy of ``image`` and return it.

    image: ``(H, W, 3)`` uint8 RGB (not modified). Per person: its box, the PoseTrack skeleton (limbs
    between joints with score >= ``min_score``), the joints, and an ``id N`` label above the box.
    """
    canvas = np.ascontiguousarray(image).copy()
    height, width = canvas.shape[:2]
    # Line widths scale with the frame so skeletons stay visible on 4K and do not swamp 240p.
    thickness = max(1, round(min(height, width) / 360))
    radius = thickness + 1
    font_scale = max(0.4, min(height, width) / 900)
    for person in result.instances:
        colour = track_colour(person.track_id)
        x1, y1, x2, y2 = (round(v) for v in np.asarray(person.box, dtype=np.float64).reshape(4))
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        keypoints = np.asarray(person.keypoints, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)
        shown = keypoints[:, 2] >= min_score
        points = [(round(x), round(y)) for x, y in keypoints[:, :2]]
        for a, b in POSETRACK_SKELETON:
            if shown[a] and shown[b]:
                cv2.line(canvas, points[a], points[b], colour, thickness + 1, cv2.LINE_AA)
        for k in np.flatnonzero(shown):
            cv2.circle(canvas, points[k], radius, colour, -1, cv2.LINE_AA)
            cv2.circle(
                canvas, points[k], radius, (0, 0, 0), 1, cv2.LINE_AA
            )  # dark rim: visible on bright limbs
        label = "id ?" if person.track_id is None else f"id {person.track_id}"
        (text_w, text_h), baseline = cv2.getTextSize(label, cv2.FONT_HERSHEY_SIMPLEX, font_scale, thickness)
        top = max(y1 - text_h - baseline - 2, 0)
        cv2.rectangle(canvas, (x1, top), (x1 + text_w + 4, top + text_h + baseline + 2), colour, -1)
        text_colour = (0, 0, 0) if sum(colour) > 380 else (255, 255, 255)
        cv2.putText(
            canvas,
            label,
            (x1 + 2, top + text_h + 1),
            cv2.FONT_HERSHEY_SIMPLEX,
            font_scale,
            text_colour,
            thickness,
            cv2.LINE_AA,
        )
    return canvas


class OverlayVideo:
    """An H.264 overlay video at the source frame rate and size: ``write(image, result)`` draws and
    appends one frame. Atomic like ``VideoWriter`` (``close()`` publishes, ``abort()`` discards)."""

    def __init__(self, path: str | Path, info: VideoInfo, min_score: float = DEFAULT_MIN_SCORE) -> None:
        self.path = Path(path)
        self.min_score = min_score
        self._writer = VideoWriter(self.path, info.fps, info.width, info.height)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def write(self, image: np.ndarray, result: FrameResult) -> None:
        """Draw ``result`` on ``image`` ``(H, W, 3)`` uint8 RGB and append the frame."""
        self._writer.write(draw_frame(image, result, self.min_score))

    def close(self) -> None:
        self._writer.close()

    def abort(self) -> None:
        self._writer.abort()


class OverlayStream(Protocol):
    """Where an overlay's frames go: ``OverlayVideo`` or ``BackgroundOverlay``."""

    def write(self, image: np.ndarray, result: FrameResult) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class BackgroundOverlay:
    """An ``OverlayVideo`` whose drawing and encoding run in a background thread (``posecli.background``),
    so the next frames are computed meanwhile."""

    def __init__(self, overlay: OverlayVideo) -> None:
        self._overlay = overlay
        self._calls = BackgroundCalls(overlay.write)

    def write(self, image: np.ndarray, result: FrameResult) -> None:
        self._calls.put(image, result)

    def close(self) -> None:
        self._calls.close()
        self._overlay.close()

    def abort(self) -> None:
        try:
            self._calls.close()
        except Exception:  # noqa: BLE001, S110 - the run failed already; discarding the file is all that is left
            pass
        self._overlay.abort()


def open_overlay(path: Path, info: VideoInfo, background: bool = True) -> OverlayStream:
    """The overlay video ``path`` for frames of ``info``, drawn and encoded in a background thread
    unless ``background`` is False."""
    overlay = OverlayVideo(path, info)
    return BackgroundOverlay(overlay) if background else overlay
