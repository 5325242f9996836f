"""Fixtures for the annotation-loop tests: a tracked prediction of the shared six-frame H.264 clip.

The poses move linearly (1.5 px per frame), so CVAT's linear interpolation between keyframes gives
them back exactly and a round trip with ``--keyframes-every`` > 1 can be compared frame by frame.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posecli.export.posetrack import write_posetrack_json
from posecli.structures import FrameResult, PoseInstance
from posecli.video import probe_video

WIDTH, HEIGHT, FRAMES = 96, 64, 6  # the h264_clip fixture


def pose(frame: int, track_id: int, x0: float, y0: float) -> PoseInstance:
    """A 17-joint pose on a small grid, moving right by 1.5 px per frame. Ears (3, 4) unlocated (score
    0), the left wrist (9) scored low (occluded on export at --kpt-thr 0.3) from frame 2 on."""
    grid = np.array([[x0 + 4.25 * (k % 4), y0 + 3.5 * (k // 4)] for k in range(17)]) + (1.5 * frame, 0.0)
    scores = np.full(17, 0.9)
    scores[[3, 4]] = 0.0
    if frame >= 2:
        scores[9] = 0.1
    keypoints = np.column_stack([grid, scores])
    box = np.concatenate([grid.min(0), grid.max(0)])
    return PoseInstance(keypoints=keypoints, box=box, score=0.9, track_id=track_id)


def tracked_frames() -> list[FrameResult]:
    """Track 3 on all six frames; track 7 on frames 0-1 and 4-5 (absent in between)."""
    frames = []
    for f in range(FRAMES):
        people = [pose(f, 3, 10.0, 10.0)]
        if f not in (2, 3):
            people.append(pose(f, 7, 50.0, 30.0))
        frames.append(FrameResult(frame_index=f, timestamp=f / 25, instances=tuple(people)))
    return frames


@pytest.fixture()
def prediction(h264_clip: Path) -> Path:
    """``<tmp>/in/clip.posetrack.json``: ``tracked_frames`` of the clip, as ``posecli estimate`` writes it."""
    path = h264_clip.with_name("clip.posetrack.json")
    write_posetrack_json(path, tracked_frames(), probe_video(h264_clip), "clip")
    return path
