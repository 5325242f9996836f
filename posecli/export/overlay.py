"""Overlay drawing: boxes, PoseTrack skeletons and track ids on frames, and the overlay video.

Colours come from a fixed palette indexed by ``track_id`` (so a person keeps its colour for the
whole video and across runs); people without a track id are drawn in grey. Joints scored below
``DrawStyle.kpt_thr`` are not drawn, nor are limbs touching them. ``estimate``'s overlay and
``posecli render`` both draw through ``draw_frame``, so a redrawn overlay looks like the original.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Protocol, Self

import cv2
import numpy as np

from posecli.background import BackgroundCalls
from posecli.keypoints import NUM_KEYPOINTS, POSETRACK_SKELETON
from posecli.structures import FrameResult, PoseInstance
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
DEFAULT_KPT_THR = 0.3  # joints scored lower are not drawn (and are PoseTrack visibility 0 in estimate's files)
LABEL_FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class DrawStyle:
    """How people are drawn: the same for ``estimate``'s overlay and ``posecli render``.

    kpt_thr: joints scored below it, and limbs touching them, are not drawn. radius / thickness: joint
    dot radius and line width in pixels; None scales them with the frame (visible on 4K, not swamping
    240p). show_ids: draw an ``id N`` label per person.
    """

    kpt_thr: float = DEFAULT_KPT_THR
    radius: int | None = None
    thickness: int | None = None
    show_ids: bool = True

    def __post_init__(self) -> None:
        if self.radius is not None and self.radius < 0:
            raise ValueError(f"radius must be >= 0, got {self.radius}")
        if self.thickness is not None and self.thickness < 1:
            raise ValueError(f"thickness must be >= 1, got {self.thickness}")


def track_colour(track_id: int | None) -> tuple[int, int, int]:
    """The RGB colour of ``track_id`` (stable: a pure function of the id)."""
    if track_id is None:
        return UNTRACKED_COLOUR
    return PALETTE[track_id % len(PALETTE)]


Rect = tuple[int, int, int, int]  # x1, y1, x2, y2 (exclusive ends)


def draw_frame(image: np.ndarray, result: FrameResult, style: DrawStyle = DrawStyle()) -> np.ndarray:
    """Draw every person of ``result`` on a copy of ``image`` and return it.

    image: ``(H, W, 3)`` uint8 RGB (not modified). Per person: its box, the PoseTrack skeleton (limbs
    between joints scored >= ``style.kpt_thr``) and the joints; then, over everyone, the ``id N``
    labels, each above its box or in the nearest free place (``place_labels``).
    """
    canvas = np.ascontiguousarray(image).copy()
    height, width = canvas.shape[:2]
    scaled = max(1, round(min(height, width) / 360))
    thickness = style.thickness if style.thickness is not None else scaled
    radius = style.radius if style.radius is not None else thickness + 1
    for person in result.instances:
        colour = track_colour(person.track_id)
        x1, y1, x2, y2 = _box(person)
        cv2.rectangle(canvas, (x1, y1), (x2, y2), colour, thickness, cv2.LINE_AA)
        keypoints = np.asarray(person.keypoints, dtype=np.float64).reshape(NUM_KEYPOINTS, 3)
        shown = keypoints[:, 2] >= style.kpt_thr
        points = [(round(x), round(y)) for x, y in keypoints[:, :2]]
        for a, b in POSETRACK_SKELETON:
            if shown[a] and shown[b]:
                cv2.line(canvas, points[a], points[b], colour, thickness + 1, cv2.LINE_AA)
        if radius > 0:
            for k in np.flatnonzero(shown):
                cv2.circle(canvas, points[k], radius, colour, -1, cv2.LINE_AA)
                cv2.circle(canvas, points[k], radius, (0, 0, 0), 1, cv2.LINE_AA)  # dark rim: seen on bright limbs
    if style.show_ids and result.instances:
        _draw_labels(canvas, result, scaled)
    return canvas


def _box(person: PoseInstance) -> tuple[int, int, int, int]:
    x1, y1, x2, y2 = (round(v) for v in np.asarray(person.box, dtype=np.float64).reshape(4))
    return x1, y1, x2, y2


def _draw_labels(canvas: np.ndarray, result: FrameResult, text_thickness: int) -> None:
    """The ``id N`` labels, drawn last so no skeleton covers one, placed so none covers another."""
    height, width = canvas.shape[:2]
    font_scale = max(0.4, min(height, width) / 900)
    texts = ["id ?" if p.track_id is None else f"id {p.track_id}" for p in result.instances]
    sizes = []
    for text in texts:
        (text_w, text_h), baseline = cv2.getTextSize(text, LABEL_FONT, font_scale, text_thickness)
        sizes.append((text_w + 4, text_h + baseline + 2))
    anchors = [(_box(p)[0], _box(p)[1]) for p in result.instances]
    rects = place_labels(anchors, sizes, (width, height))
    for person, text, (lx1, ly1, lx2, ly2) in zip(result.instances, texts, rects):
        colour = track_colour(person.track_id)
        cv2.rectangle(canvas, (lx1, ly1), (lx2 - 1, ly2 - 1), colour, -1)
        text_colour = (0, 0, 0) if sum(colour) > 380 else (255, 255, 255)
        baseline_y = ly2 - 1 - cv2.getTextSize(text, LABEL_FONT, font_scale, text_thickness)[1]
        cv2.putText(canvas, text, (lx1 + 2, baseline_y), LABEL_FONT, font_scale, text_colour, text_thickness, cv2.LINE_AA)


def place_labels(
    anchors: list[tuple[int, int]], sizes: list[tuple[int, int]], frame: tuple[int, int]
) -> list[Rect]:
    """Rectangles ``(x1, y1, x2, y2)`` for labels of ``sizes`` ``(w, h)``, one per anchor (a box's top
    left corner), in order: each label sits just above its anchor (moved into the ``frame``
    ``(width, height)`` if it would leave it), or, if that place overlaps an earlier label, in the
    nearest free place on a grid of label-sized steps around it. A label that fits nowhere keeps its
    first place.
    """
    width, height = frame
    placed: list[Rect] = []
    for (ax, ay), (w, h) in zip(anchors, sizes):
        x0 = min(max(ax, 0), max(width - w, 0))
        y0 = min(max(ay - h, 0), max(height - h, 0))
        chosen = (x0, y0, x0 + w, y0 + h)
        reach = max(width // max(w, 1), height // max(h, 1)) + 1
        for ring in range(reach + 1):
            # the places ring steps away (Chebyshev), nearest in pixels first; up before down
            steps = sorted(
                ((dx, dy) for dx in range(-ring, ring + 1) for dy in range(-ring, ring + 1) if max(abs(dx), abs(dy)) == ring),
                key=lambda step: ((step[0] * w) ** 2 + (step[1] * h) ** 2, step[1], step[0]),
            )
            free = next((rect for rect in (_slot(x0 + dx * w, y0 + dy * h, w, h, width, height) for dx, dy in steps)
                         if rect is not None and not any(_overlap(rect, other) for other in placed)), None)
            if free is not None:
                chosen = free
                break
        placed.append(chosen)
    return placed


def _slot(x: int, y: int, w: int, h: int, width: int, height: int) -> Rect | None:
    """The label rectangle at ``(x, y)``, or None where it would leave the frame."""
    if x < 0 or y < 0 or x + w > width or y + h > height:
        return None
    return (x, y, x + w, y + h)


def _overlap(a: Rect, b: Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class OverlayVideo:
    """An H.264 overlay video at the source frame rate and size: ``write(image, result)`` draws and
    appends one frame. ``audio_from``: a video whose audio goes into the overlay (``VideoWriter``).
    Atomic like ``VideoWriter`` (``close()`` publishes, ``abort()`` discards)."""

    def __init__(
        self, path: str | Path, info: VideoInfo, style: DrawStyle = DrawStyle(), audio_from: str | Path | None = None
    ) -> None:
        self.path = Path(path)
        self.style = style
        self._writer = VideoWriter(self.path, info.fps, info.width, info.height, audio_from=audio_from)

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
        self._writer.write(draw_frame(image, result, self.style))

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


def open_overlay(
    path: Path, info: VideoInfo, style: DrawStyle = DrawStyle(), *, background: bool = True, audio: bool = True
) -> OverlayStream:
    """The overlay video ``path`` for frames of ``info``, drawn and encoded in a background thread
    unless ``background`` is False; with ``audio``, the source's audio track (if any) is kept."""
    # A live rtsp stream opened a second time would not be the same moment: its audio is left out.
    live = str(info.path).lower().startswith(("rtsp://", "rtsps://"))
    source = info.path if audio and info.backend != "frames" and not live else None
    overlay = OverlayVideo(path, info, style, audio_from=source)
    return BackgroundOverlay(overlay) if background else overlay
