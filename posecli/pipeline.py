"""The streaming core of ``estimate``: frames in, tracked ``FrameResult``s out, in order.

    decode → people (detect + pose) → track → FrameResult

Frames go in one at a time; nothing holds more than the current frame (the temporal models of a later
stage add a window of five frames). The per-frame pose stage is any object with the ``FramePoseStage``
shape: the embedded BlazePose estimator detects and measures people in one go.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import numpy as np

from posecli.errors import PoseCliError
from posecli.structures import FrameResult, PoseInstance
from posecli.tracking.base import Tracker

EMBEDDED_MODEL = "blazepose_full"


class FramePoseStage(Protocol):
    """People of one frame: ``(H, W, 3)`` uint8 RGB in, ``PoseInstance``s (no track ids) out.

    Called once per frame in order; ``reset()`` between videos; ``state()``/``restore()`` save and
    reload what carries over between frames (a picklable object), for resumable runs.
    """

    def __call__(self, frame: np.ndarray) -> list[PoseInstance]: ...

    def reset(self) -> None: ...

    def state(self) -> object: ...

    def restore(self, state: object) -> None: ...


@dataclass
class StageTimes:
    """Seconds spent per stage over a run (decode is measured by the caller's frame source)."""

    decode: float = 0.0
    pose: float = 0.0
    track: float = 0.0
    write: float = 0.0
    frames: int = 0

    def as_dict(self) -> dict[str, float]:
        return {"decode": self.decode, "pose": self.pose, "track": self.track, "write": self.write}


def build_pose_stage(model: str, weights: Path | None = None, device: str = "cpu") -> FramePoseStage:
    """The per-frame pose stage for ``model``.

    ``blazepose_full`` (the embedded default) runs on the CPU through LiteRT whatever ``device`` says;
    ``weights`` may point to a folder holding its two ``.tflite`` files.
    """
    if model != EMBEDDED_MODEL:
        raise PoseCliError(
            f"--model {model}: estimate runs only the embedded '{EMBEDDED_MODEL}' model in this version; "
            "temporal models (FAMI-Pose, TDMI, HRNet) in estimate are tracked in issue #6"
        )
    from posecli.blazepose import BlazePoseDetector, BlazePoseEstimator, BlazePoseLandmarker
    from posecli.weights import fetch

    if weights is not None:
        folder = Path(weights)
        detector_path, landmark_path = folder / "pose_detection.tflite", folder / "pose_landmark_full.tflite"
    else:
        detector_path, landmark_path = fetch(EMBEDDED_MODEL, quiet=True)
    return BlazePoseEstimator(BlazePoseDetector(detector_path), BlazePoseLandmarker(landmark_path))


def track_frames(
    frames: Iterable[tuple[int, float, np.ndarray]],
    pose_stage: FramePoseStage,
    tracker: Tracker,
    times: StageTimes | None = None,
) -> Iterator[FrameResult]:
    """Run ``pose_stage`` and ``tracker`` over ``(index, timestamp, image)`` frames, in order.

    ``times`` (optional) accumulates the seconds spent in the pose and track stages.
    """
    times = times if times is not None else StageTimes()
    for index, timestamp, image in frames:
        t0 = time.perf_counter()
        people = pose_stage(image)
        t1 = time.perf_counter()
        tracked = tracker.update(people)
        t2 = time.perf_counter()
        times.pose += t1 - t0
        times.track += t2 - t1
        times.frames += 1
        yield FrameResult(frame_index=index, timestamp=timestamp, instances=tuple(tracked))
