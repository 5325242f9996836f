"""Multi-person BlazePose: detection starts people, each person is then followed by its own ROI.

Per frame: every person found in the previous frame is re-measured inside the ROI its landmarks
predicted (BlazePose's auxiliary hip-centre and above-head points), so a person keeps being found
between detections. The detector only has to start new people, on a schedule that keeps its cost
bounded:

- the full frame every ``detect_every`` frames, and at once on any frame where nobody is followed
  or a followed person was just lost; then also a square around where the lost person was
  (``lost_region`` × their ROI), where a small person in a large frame is large enough to be found;
- ``tiles_per_frame`` tiles of the detector's multi-scale tile schedule per frame, in turn, so
  small people anywhere in the frame are found within a few dozen frames; the first frame visits
  every tile (a picture, or the start of a video, is searched completely).

A detection whose hip centre is close to an already-followed person is ignored. A new detection
whose landmarks fail is measured again in its region enlarged (``retry_scales``): the detector's
above-head point often misjudges the size of a bent or partly hidden person.

Every landmark result must pass, besides the pose-presence probability: the plausibility rules
(``plausibility.rejection``: joints seen, limb proportions, a lying torso seen clearly) and
**consistency with the region it came from**: the landmarks' own hip centre and body size must stay
near the detection's (or the followed ROI's). A region that straddles two people, or slides off its
person onto clutter, answers with a skeleton elsewhere or of another size, and is dropped.
Two ROIs that drift onto the same body give two copies of one person: when half of their landmarks
coincide (closer than 10 % of the box diagonal), or one copy lies inside the other's box, only the
one with the higher presence is kept. (The embedded model therefore cannot report a person standing
entirely inside another person's silhouette; the temporal models' pipeline has no such rule.)
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field, replace

import numpy as np

from posecli.blazepose.detector import BlazePoseDetector
from posecli.blazepose.geometry import Roi, roi_from_axis
from posecli.blazepose.landmarks import BlazePoseLandmarker, LandmarkResult, to_coco, to_posetrack
from posecli.blazepose.plausibility import PlausibilityRules, rejection
from posecli.structures import PoseInstance

_HIPS = (23, 24)


@dataclass
class EstimatorSettings:
    """Tuning of the multi-person loop (defaults measured with ``benchmarks/bench_accuracy.py`` and
    ``bench_estimate.py``)."""

    presence_threshold: float = 0.5  # below this pose-presence probability a crop holds nobody
    detect_every: int = 4  # full-frame detector every N frames while people are followed
    tiles_per_frame: int = 1  # tiles of the multi-scale schedule visited per frame, in turn (0 = none)
    first_frame_tiles: bool = True  # the first frame visits every tile
    # a detection whose hip centre is closer than this × ROI size is a known person (0.25 took the
    # neighbour of a person in a crowd for them: in a 1080p pan of CrowdPose 103319 two men 0.19 apart)
    duplicate_distance: float = 0.15
    # a detection inside the inner part of a followed person's box is a part of them (the detector also
    # fires on a torso or a face) only when its region is smaller than this × theirs; a whole-body
    # detection there is a second person half hidden behind the first
    part_size: float = 0.7
    merge_fraction: float = 0.5  # people sharing this fraction of landmarks (within 10 % of the box diagonal) are one
    max_people: int = 20  # safety cap per frame
    # the landmarks' hip centre may lie this far (× the source region's size) from the region's centre,
    # and their body size within this factor of the region's, else they are someone (something) else
    max_shift: float = 0.35
    max_size_change: float = 1.8
    # a new detection whose landmarks fail is looked at again in its region enlarged by each of these,
    # if the detector was sure (a weak one enlarged takes in clutter: a ghost in examples/demo.mp4)
    retry_scales: tuple[float, ...] = (1.5, 2.0)
    retry_min_detection: float = 0.7
    lost_region: float = 2.0  # a lost person is searched for in a square this × their ROI's size
    rules: PlausibilityRules = field(default_factory=PlausibilityRules)


@dataclass
class BlazePoseEstimator:
    """Frame-by-frame multi-person pose estimation with the embedded BlazePose models.

    Call once per frame in order; ``reset()`` between videos. ``helpers``: more landmark models (own
    interpreters), so that the people followed from the last frame are measured in parallel threads
    (LiteRT releases the GIL while it runs; one interpreter never serves two threads at once).
    """

    detector: BlazePoseDetector
    landmarker: BlazePoseLandmarker
    settings: EstimatorSettings = field(default_factory=EstimatorSettings)
    helpers: tuple[BlazePoseLandmarker, ...] = ()
    _pool: ThreadPoolExecutor | None = field(default=None, init=False, repr=False)
    _followed: list[Roi] = field(default_factory=list, init=False)
    _frame_index: int = field(default=0, init=False)
    _next_tile: int = field(default=0, init=False)

    def reset(self) -> None:
        self._followed = []
        self._frame_index = 0
        self._next_tile = 0

    def state(self) -> dict[str, object]:
        """Everything that carries over to the next frame (for resumable runs); picklable."""
        return {"followed": list(self._followed), "frame_index": self._frame_index, "next_tile": self._next_tile}

    def restore(self, state: dict[str, object]) -> None:
        """Continue from a ``state()`` taken earlier."""
        self._followed = list(state["followed"])  # type: ignore[call-overload]
        self._frame_index = int(state["frame_index"])  # type: ignore[call-overload]
        self._next_tile = int(state.get("next_tile", 0))  # type: ignore[call-overload]

    def __call__(self, frame: np.ndarray) -> list[PoseInstance]:
        """People in ``frame`` ``(H, W, 3)`` uint8 RGB, without track ids, best first."""
        s = self.settings
        height, width = frame.shape[:2]
        measured = list(zip(self._followed, self._measure_followed(frame), strict=True))
        results = self._merge([r for roi, r in measured if self._accepted(r, roi, width, height)], width, height)
        kept = {id(r) for r in results}
        # A lost person is searched for by the detector around where they were too, at a resolution
        # the full-frame pass lacks for a small person in a large frame.
        lost = [roi for roi, r in measured if id(r) not in kept]

        cadence = self._frame_index % max(1, s.detect_every) == 0
        regions = self._regions(width, height, full=cadence or bool(lost) or not results)
        regions += [r for r in (_around(roi, s.lost_region, width, height) for roi in lost) if r is not None]
        if regions:
            for detection in self.detector.detect_regions(frame, regions):
                if len(results) >= s.max_people or detection.landmarks is None:
                    break
                roi = roi_from_axis(detection.landmarks[0], detection.landmarks[1])
                if self._is_known(roi, results):
                    continue
                result = self._first_look(frame, roi, width, height, detection.score)
                if result is not None:
                    results = self._merge(results + [result], width, height)

        self._followed = [r.next_roi for r in results]
        self._frame_index += 1
        return [self._to_instance(r, width, height) for r in results]

    def _first_look(
        self, frame: np.ndarray, roi: Roi, width: int, height: int, detection_score: float
    ) -> LandmarkResult | None:
        """The landmarks of a new detection's ``roi``, or None when nobody is there. The detector's
        above-head point often misjudges the size of a bent or partly hidden person, so a region whose
        landmarks fail is measured again enlarged by each of ``retry_scales`` when the detection is
        confident (CrowdPose 103319: the right-hand man, detector score 0.85, gets pose presence 0.00 in
        his detection's region and 1.00 in it enlarged 2×)."""
        s = self.settings
        for scale in (1.0, *(s.retry_scales if detection_score >= s.retry_min_detection else ())):
            region = roi if scale == 1.0 else replace(roi, size=roi.size * scale)
            result = self.landmarker(frame, region)
            # the person must still be where the detector put them: an enlarged region only widens the view
            found = result.next_roi
            close = np.hypot(found.cx - roi.cx, found.cy - roi.cy) <= s.max_shift * roi.size
            if close and self._accepted(result, region, width, height, detection_score):
                return result
        return None

    def _measure_followed(self, frame: np.ndarray) -> list[LandmarkResult]:
        """Landmarks inside every followed ROI, in order: ROI ``i`` runs on landmark model ``i mod n``,
        model 0 on this thread and the ``helpers`` in the pool's threads."""
        rois = self._followed
        models = (self.landmarker, *self.helpers)
        if len(rois) < 2 or len(models) < 2:
            return [self.landmarker(frame, roi) for roi in rois]
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=len(self.helpers), thread_name_prefix="posecli-landmarks")
        n = len(models)
        futures = [self._pool.submit(_measure, models[k], frame, rois[k::n]) for k in range(1, n)]
        chunks = [_measure(models[0], frame, rois[0::n]), *(f.result() for f in futures)]
        results: list[LandmarkResult | None] = [None] * len(rois)
        for k, chunk in enumerate(chunks):
            results[k::n] = chunk
        return results  # type: ignore[return-value]

    def _regions(self, width: int, height: int, full: bool) -> list[tuple[int, int, int, int]]:
        """The detector's regions for this frame: the full frame if ``full``, plus this frame's tiles."""
        s = self.settings
        regions = [(0, 0, width, height)] if full else []
        schedule = self.detector.tile_schedule(width, height) if self.detector.tiles else []
        if not schedule:
            return regions
        if self._frame_index == 0 and s.first_frame_tiles:
            return regions + schedule
        for _ in range(min(s.tiles_per_frame, len(schedule))):
            regions.append(schedule[self._next_tile % len(schedule)])
            self._next_tile = (self._next_tile + 1) % len(schedule)
        return regions

    def _accepted(
        self, result: LandmarkResult, source: Roi, width: int, height: int, detection_score: float | None = None
    ) -> bool:
        """Whether ``result`` (landmarks measured inside ``source``, a followed ROI or a detection's with
        ``detection_score``) is a person: present, plausible and consistent with its region. Landmarks
        outside the ``width × height`` frame do not count as seen (a person leaving the frame is gone
        once too little of them is left inside)."""
        s = self.settings
        if result.presence < s.presence_threshold:
            return False
        found = result.next_roi
        if np.hypot(found.cx - source.cx, found.cy - source.cy) > s.max_shift * source.size:
            return False
        ratio = found.size / max(source.size, 1e-6)
        if not 1.0 / s.max_size_change <= ratio <= s.max_size_change:
            return False
        points = result.landmarks[:, :2]
        inside = (points[:, 0] >= 0) & (points[:, 0] < width) & (points[:, 1] >= 0) & (points[:, 1] < height)
        return rejection(points, np.where(inside, result.visibility, 0.0), s.rules, detection_score) is None

    def _is_known(self, roi: Roi, results: list[LandmarkResult]) -> bool:
        """Whether a detection's hip centre belongs to a person already followed: close to their hip
        centre, or, for a detection of a part of a body (a region smaller than ``part_size`` × theirs),
        inside the inner part of their box."""
        for r in results:
            hip = r.landmarks[list(_HIPS), :2].mean(0)
            if np.hypot(roi.cx - hip[0], roi.cy - hip[1]) < self.settings.duplicate_distance * roi.size:
                return True
            lo, hi = r.landmarks[:, :2].min(0), r.landmarks[:, :2].max(0)
            margin = 0.15 * (hi - lo)
            part = roi.size < self.settings.part_size * r.next_roi.size
            if part and np.all((lo + margin <= (roi.cx, roi.cy)) & ((roi.cx, roi.cy) <= hi - margin)):
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


def _around(roi: Roi, factor: float, width: int, height: int) -> tuple[int, int, int, int] | None:
    """The square region ``factor`` × ``roi``'s size around its centre, clipped to the frame (None when
    less than 8 pixels of it are left in either direction)."""
    half = factor * roi.size / 2
    x0, y0 = max(0, int(roi.cx - half)), max(0, int(roi.cy - half))
    x1, y1 = min(width, int(roi.cx + half)), min(height, int(roi.cy + half))
    return (x0, y0, x1, y1) if x1 - x0 >= 8 and y1 - y0 >= 8 else None


def _measure(model: BlazePoseLandmarker, frame: np.ndarray, rois: list[Roi]) -> list[LandmarkResult]:
    """``model``'s landmarks in each of ``rois``, one after another (one thread per model)."""
    return [model(frame, roi) for roi in rois]


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
