"""One synthetic video file plus its ground-truth tracks, for pipeline and tracking tests.

The figures come from ``posecli.data.figures``; the same arguments give the same frames and tracks.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posecli.atomic import atomic_path
from posecli.data.figures import Figure, keypoint_array, person_box, random_figure, render_video
from posecli.errors import PoseCliError


@dataclass(frozen=True)
class SyntheticTrack:
    """Ground truth of one person in a synthetic video.

    track_id: int id, stable over the video. boxes: ``(F, 4)`` float ``x1, y1, x2, y2`` of the
    keypoints (enlarged by a margin). keypoints: ``(F, 17, 3)`` ``x, y, v`` in the PoseTrack slot
    layout, ``v = 1`` for joints inside the frame (ears always 0). visible: ``(F,)`` bool, False on
    frames where the person is fully hidden by an occluder.
    """

    track_id: int
    boxes: np.ndarray
    keypoints: np.ndarray
    visible: np.ndarray


def make_synthetic_video(
    path: str | Path,
    frames: int = 24,
    people: int = 2,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
    fps: float = 25.0,
) -> list[SyntheticTrack]:
    """Write a short video file of moving figures and return its ground-truth tracks.

    path: output video (``.mp4`` → H.264, else the container PyAV picks for the suffix). With
    ``people ≥ 2`` the first two people walk towards each other and cross near the middle of the
    clip, and person 0 is hidden behind a grey occluder for a few frames (``frames // 6``, at least
    2) after the crossing; further people wander at random. Returns one ``SyntheticTrack`` per
    person, ``track_id`` = person index, boxes and keypoints per frame in pixels. No motion blur or
    random occluders are drawn, so the ground truth describes exactly what is visible.
    """
    import av
    from av.video.stream import VideoStream

    width, height = size
    if frames < 2 or people < 0 or width < 64 or height < 64 or width % 2 or height % 2:
        raise PoseCliError("make_synthetic_video: frames ≥ 2, people ≥ 0 and an even size ≥ 64x64 are needed")
    rng = np.random.default_rng(seed)
    figures = [random_figure(rng, width, height, frames) for _ in range(people)]
    occlude: dict[int, tuple[int, int]] = {}
    if people >= 2:
        # Two figures of similar size on one horizontal line, walking towards each other.
        unit = 0.09 * height
        travel = (width - 5.0 * unit) / max(frames - 1, 1)
        base = {"sway": 0.0, "lean": 0.08, "arm_swing": 0.8, "leg_swing": 0.45, "speed": 0.4}
        figures[0] = Figure(
            unit=unit, start=(2.5 * unit, 0.55 * height), velocity=(travel, 0.0), phase=0.0, **base
        )
        figures[1] = Figure(
            unit=unit * 0.95,
            start=(width - 2.5 * unit, 0.55 * height),
            velocity=(-travel, 0.0),
            phase=1.5,
            **base,
        )
        hidden = max(2, frames // 6)
        start = min(frames - hidden, frames // 2 + max(1, frames // 8))
        occlude[0] = (start, start + hidden)
    video = render_video(rng, frames, people, width, height, figures, occlude, effects=False)
    target = Path(path)
    with atomic_path(target) as tmp, av.open(str(tmp), mode="w") as container:
        codec = "libx264" if target.suffix.lower() in (".mp4", ".mkv", ".mov") else "mpeg4"
        stream = container.add_stream(codec, rate=round(fps))
        assert isinstance(stream, VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "16", "preset": "veryfast"}
        for image in video.frames:
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tracks = []
    for p in range(people):
        kps = np.stack([keypoint_array(video.joints[t, p], width, height) for t in range(frames)])
        boxes = np.stack(
            [person_box(video.joints[t, p], float(video.units[p]), width, height) for t in range(frames)]
        )
        tracks.append(
            SyntheticTrack(track_id=p, boxes=boxes, keypoints=kps, visible=video.visible[:, p].copy())
        )
    return tracks
