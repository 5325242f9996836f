"""BlazePose full landmark model (``pose_landmark_full.tflite``) and the mapping of its 33 landmarks
to the 17 PoseTrack slots and to COCO-17.

The network takes a 256×256 RGB crop in [0, 1] of a rotated square ROI and returns 39 landmarks
(x, y, z, visibility logit, presence logit) in crop pixels — 33 body landmarks, then two auxiliary
ones (hip centre and an above-head point) that define the ROI for the next frame — plus a pose-presence
probability.

**Mapping to PoseTrack** (BlazePose index → slot): nose 0 → 0; ears 7, 8 → 3, 4; shoulders 11, 12 → 5, 6;
elbows 13, 14 → 7, 8; wrists 15, 16 → 9, 10; hips 23, 24 → 11, 12; knees 25, 26 → 13, 14; ankles
27, 28 → 15, 16. PoseTrack's two head points have no BlazePose counterpart and are derived:

- ``head_bottom`` (slot 1, the upper neck just below the chin) = midpoint of the mouth centre (9, 10)
  and the shoulder centre (11, 12);
- ``head_top`` (slot 2, the crown) = eye centre (2, 5) + 1.7 × (eye centre − mouth centre): the crown
  lies about 1.7 eye-to-mouth distances above the eyes on an adult head.

A derived point's score is the smallest score of the landmarks it is built from. COCO-17 uses the eyes
(2, 5) for slots 1, 2 and otherwise the same landmarks.

Per-landmark score = sigmoid(visibility) × pose-presence probability.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posecli.blazepose.geometry import Roi, crop, crop_points_to_image, roi_from_axis
from posecli.blazepose.runtime import load_interpreter

INPUT_SIZE = 256
NUM_LANDMARKS = 33

# BlazePose landmark index for each PoseTrack / COCO slot that has a direct counterpart.
_DIRECT_SLOTS = {0: 0, 3: 7, 4: 8, 5: 11, 6: 12, 7: 13, 8: 14, 9: 15, 10: 16,
                 11: 23, 12: 24, 13: 25, 14: 26, 15: 27, 16: 28}  # fmt: skip
_MOUTH = (9, 10)
_SHOULDERS = (11, 12)
_EYES = (2, 5)
HEAD_TOP_FACTOR = 1.7


@dataclass(frozen=True, eq=False)
class LandmarkResult:
    """One person's landmarks in image pixels.

    landmarks: ``(33, 3)`` x, y, score. presence: pose-presence probability of the crop.
    next_roi: the ROI that should contain this person in the next frame.
    visibility: ``(33,)`` the model's own per-landmark visibility in [0, 1] (score / presence).
    """

    landmarks: np.ndarray
    presence: float
    next_roi: Roi
    visibility: np.ndarray


def to_posetrack(landmarks: np.ndarray) -> np.ndarray:
    """``(33, 3)`` BlazePose landmarks → ``(17, 3)`` PoseTrack keypoints (x, y, score)."""
    out = np.zeros((17, 3), dtype=np.float64)
    for slot, index in _DIRECT_SLOTS.items():
        out[slot] = landmarks[index]
    mouth = landmarks[list(_MOUTH)]
    shoulders = landmarks[list(_SHOULDERS)]
    eyes = landmarks[list(_EYES)]
    mouth_c, shoulder_c, eye_c = mouth[:, :2].mean(0), shoulders[:, :2].mean(0), eyes[:, :2].mean(0)
    out[1, :2] = (mouth_c + shoulder_c) / 2
    out[1, 2] = min(mouth[:, 2].min(), shoulders[:, 2].min())
    out[2, :2] = eye_c + HEAD_TOP_FACTOR * (eye_c - mouth_c)
    out[2, 2] = min(eyes[:, 2].min(), mouth[:, 2].min())
    return out


def to_coco(landmarks: np.ndarray) -> np.ndarray:
    """``(33, 3)`` BlazePose landmarks → ``(17, 3)`` COCO keypoints (x, y, score)."""
    out = np.zeros((17, 3), dtype=np.float64)
    for slot, index in _DIRECT_SLOTS.items():
        out[slot] = landmarks[index]
    out[1] = landmarks[_EYES[0]]
    out[2] = landmarks[_EYES[1]]
    return out


class BlazePoseLandmarker:
    """Runs the landmark network on one rotated ROI of a frame."""

    def __init__(self, model_path: str | Path, num_threads: int | None = None) -> None:
        self._interpreter = load_interpreter(model_path, num_threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        by_size = {int(np.prod(d["shape"])): d["index"] for d in self._interpreter.get_output_details()}
        self._landmarks_out = by_size[39 * 5]
        self._presence_out = by_size[1]

    def __call__(self, frame: np.ndarray, roi: Roi) -> LandmarkResult:
        """Landmarks of the person in ``roi`` of ``frame`` ``(H, W, 3)`` uint8 RGB."""
        patch = crop(frame, roi, INPUT_SIZE).astype(np.float32) / 255.0
        self._interpreter.set_tensor(self._input, patch[None])
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._landmarks_out).reshape(39, 5)
        presence = float(self._interpreter.get_tensor(self._presence_out).reshape(-1)[0])
        points = crop_points_to_image(raw[:, :2].astype(np.float64), roi, INPUT_SIZE)
        visibility = 1.0 / (1.0 + np.exp(-np.clip(raw[:NUM_LANDMARKS, 3], -50, 50)))
        landmarks = np.concatenate([points[:NUM_LANDMARKS], (visibility * presence)[:, None]], axis=1)
        next_roi = roi_from_axis(points[33], points[34])
        return LandmarkResult(landmarks=landmarks, presence=presence, next_roi=next_roi, visibility=visibility)
