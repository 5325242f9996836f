"""Multi-person BlazePose: detection starts people, each person is then followed by its own ROI.

Per frame: every person found in the previous frame is re-measured inside the ROI its landmarks
predicted (BlazePose's auxiliary hip-centre and above-head points), so a person keeps being found even
when the detector would miss them. The detector (full frame, plus tiles every few frames) only has to
start new people; a detection whose hip centre is close to an already-followed person is ignored.
Two ROIs that drift onto the same body give two copies of one person: when half of their landmarks
coincide (closer than 10 % of the box diagonal), or one copy lies inside the other's box, only the
one with the higher presence is kept. (The embedded model therefore cannot report a person standing
entirely inside another person's silhouette; the temporal models' pipeline has no such rule.)
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from posecli.blazepose.detector import BlazePoseDetector
from posecli.blazepose.geometry import Roi, roi_from_axis
from posecli.blazepose.landmarks import BlazePoseLandmarker, LandmarkResult, to_coco, to_posetrack
from posecli.structures import PoseInstance

_HIPS = (23, 24)


@dataclass
class EstimatorSettings:
    """Tuning of the multi-person loop (defaults measured on the example clip)."""

    presence_threshold: float = 0.5  # below this pose-presence probability a crop holds nobody
    detect_every: int = 1  # run the full-frame detector every N frames (1 = every frame)
    tile_every: int = 3  # also run it on tiles every N frames (0 = never)
    duplicate_distance: float = 0.25  # a detection whose hip centre is closer than this × ROI size is a known person
    merge_fraction: float = 0.5  # people sharing this fraction of landmarks (within 10 % of the box diagonal) are one
    max_people: int = 20  # safety cap per frame


@dataclass
class _Followed:
    roi: Roi
    misses: int = 0


@dataclass
class BlazePoseEstimator:
    """Frame-by-frame multi-person pose estimation with the embedded BlazePose models.

    Call once per frame in order; ``reset()`` between videos.
    """

    detector: BlazePoseDetector
    landmarker: BlazePoseLandmarker
    settings: EstimatorSettings = field(default_factory=EstimatorSettings)
    _followed: list[Roi] = field(default_factory=list, init=False)
    _frame_index: int = field(default=0, init=False)

    def reset(self) -> None:
        self._followed = []
        self._frame_index = 0

    def state(self) -> dict[str, object]:
        """Everything that carries over to the next frame (for resumable runs); picklable."""
        return {"followed": list(self._followed), "frame_index": self._frame_index}

    def restore(self, state: dict[str, object]) -> None:
        """Continue from a ``state()`` taken earlier."""
        self._followed = list(state["followed"])  # type: ignore[call-overload]
        self._frame_index = int(state["frame_index"])  # type: ignore[call-overload]

    def __call__(self, frame: np.ndarray) -> list[PoseInstance]:
        """People in ``frame`` ``(H, W, 3)`` uint8 RGB, without track ids, best first."""
        s = self.settings
        height, width = frame.shape[:2]
        results: list[LandmarkResult] = []
        for roi in self._followed:
            result = self.landmarker(frame, roi)
            if result.presence >= s.presence_threshold:
                results.append(result)
        results = self._merge(results, width, height)

        run_detector = (self._frame_index % max(1, s.detect_every) == 0) or not results
        if run_detector:
            use_tiles = s.tile_every > 0 and self._frame_index % s.tile_every == 0
            for detection in self.detector(frame, use_tiles=use_tiles):
                if len(results) >= s.max_people or detection.landmarks is None:
                    break
                roi = roi_from_axis(detection.landmarks[0], detection.landmarks[1])
                if self._is_known(roi, results):
                    continue
                result = self.landmarker(frame, roi)
                if result.presence >= s.presence_threshold:
                    results = self._merge(results + [result], width, height)

        self._followed = [r.next_roi for r in results]
        self._frame_index += 1
        return [self._to_instance(r, width, height) for r in results]

    def _is_known(self, roi: Roi, results: list[LandmarkResult]) -> bool:
        """Whether a detection's hip centre belongs to a person already followed: close to their hip
        centre, or inside the inner part of their box (the detector also fires on parts of a body)."""
        for r in results:
            hip = r.landmarks[list(_HIPS), :2].mean(0)
            if np.hypot(roi.cx - hip[0], roi.cy - hip[1]) < self.settings.duplicate_distance * roi.size:
                return True
            lo, hi = r.landmarks[:, :2].min(0), r.landmarks[:, :2].max(0)
            margin = 0.15 * (hi - lo)
            if np.all((lo + margin <= (roi.cx, roi.cy)) & ((roi.cx, roi.cy) <= hi - margin)):
                return True
        return False

    def _merge(self, results: list[LandmarkResult], width: int, height: int) -> list[LandmarkResult]:
        if len(results) < 2:
            return results
        results = sorted(results, key=lambda r: -r.presence)
        keep: list[LandmarkResult] = []
        for candidate in results:
            if not any(_same_person(candidate, kept, self.settings.merge_fraction) for kept in keep):
                keep.append(candidate)
        return keep

    @staticmethod
    def _to_instance(result: LandmarkResult, width: int, height: int) -> PoseInstance:
        return PoseInstance(
            keypoints=to_posetrack(result.landmarks),
            box=_landmark_box(result.landmarks, width, height),
            score=result.presence,
            coco_keypoints=to_coco(result.landmarks),
        )


def _same_person(a: LandmarkResult, b: LandmarkResult, fraction: float) -> bool:
    """Whether ``a`` and ``b`` are copies of one person: at least ``fraction`` of their 33 landmarks
    coincide, or most landmarks of one (70 %) lie inside the other's box (a ROI that
    slid onto part of a neighbour's body)."""
    for inner, outer in ((a, b), (b, a)):
        lo, hi = outer.landmarks[:, :2].min(0), outer.landmarks[:, :2].max(0)
        inside = np.all((inner.landmarks[:, :2] >= lo) & (inner.landmarks[:, :2] <= hi), axis=1)
        if inside.mean() >= 0.7:
            return True
    lo = np.minimum(a.landmarks[:, :2].min(0), b.landmarks[:, :2].min(0))
    hi = np.maximum(a.landmarks[:, :2].max(0), b.landmarks[:, :2].max(0))
    tolerance = 0.1 * float(np.hypot(*(hi - lo)))
    distances = np.linalg.norm(a.landmarks[:, :2] - b.landmarks[:, :2], axis=1)
    return float(np.mean(distances < tolerance)) >= fraction


def _landmark_box(landmarks: np.ndarray, width: int, height: int, pad: float = 0.08) -> np.ndarray:
    """``(4,)`` xyxy box around all 33 landmarks, padded by ``pad`` of its size and clipped to the frame."""
    lo, hi = landmarks[:, :2].min(0), landmarks[:, :2].max(0)
    margin = (hi - lo) * pad
    lo, hi = lo - margin, hi + margin
    return np.array([max(0.0, lo[0]), max(0.0, lo[1]), min(float(width), hi[0]), min(float(height), hi[1])])
