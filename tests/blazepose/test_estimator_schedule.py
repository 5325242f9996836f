"""The multi-person loop's detection schedule, consistency check and multi-scale tiles."""

from __future__ import annotations

from pathlib import Path

import av
import cv2
import numpy as np

from posecli.blazepose import BlazePoseDetector, BlazePoseEstimator, BlazePoseLandmarker
from posecli.blazepose.estimator import EstimatorSettings
from posecli.blazepose.geometry import Roi
from posecli.blazepose.landmarks import LandmarkResult
from posecli.structures import Detection
from posecli.weights import fetch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo.mp4"
FULL = (0, 0, 640, 480)


def _upright(cx: float, cy: float, size: float) -> np.ndarray:
    """``(33, 3)`` landmarks of an upright person centred at (cx, cy), every joint seen."""
    u = size / 10
    lm = np.zeros((33, 3))
    lm[:, 0], lm[:, 1], lm[:, 2] = cx, cy - 3 * u, 1.0
    for left, right, dy, half in ((11, 12, -2.0, 1.0), (13, 14, -0.5, 1.1), (15, 16, 1.0, 1.1),
                                  (23, 24, 0.5, 0.6), (25, 26, 2.5, 0.6), (27, 28, 4.5, 0.6)):  # fmt: skip
        lm[left, :2] = (cx + half * u, cy + dy * u)
        lm[right, :2] = (cx - half * u, cy + dy * u)
    return lm


class FakeLandmarker:
    """Answers every ROI with an upright person there, or, with ``shift``, with one displaced by
    ``shift`` pixels (a region that slid onto something else)."""

    def __init__(self, shift: float = 0.0, presence: float = 1.0) -> None:
        self.shift, self.presence, self.calls = shift, presence, 0

    def __call__(self, frame: np.ndarray, roi: Roi) -> LandmarkResult:
        self.calls += 1
        cx = roi.cx + self.shift
        lm = _upright(cx, roi.cy, roi.size / 1.25)
        return LandmarkResult(lm, self.presence, Roi(cx, roi.cy, roi.size, 0.0), visibility=np.ones(33))


class FakeDetector:
    """One person at (320, 240) on every call; records the regions it was asked to search."""

    tiles = True

    def __init__(self) -> None:
        self.calls: list[list[tuple[int, int, int, int]]] = []

    def tile_schedule(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        return [(0, 0, 320, 320), (320, 0, 640, 320), (0, 160, 320, 480), (320, 160, 640, 480)]

    def detect_regions(self, frame: np.ndarray, regions: list[tuple[int, int, int, int]]) -> list[Detection]:
        self.calls.append(list(regions))
        hip, top = np.array([320.0, 240.0]), np.array([320.0, 160.0])
        return [Detection(box=np.array([240.0, 160.0, 400.0, 320.0]), score=0.9, landmarks=np.stack([hip, top, hip, hip]))]


FRAME = np.zeros((480, 640, 3), np.uint8)


def test_detector_runs_on_a_cadence_with_tiles_in_turn() -> None:
    detector = FakeDetector()
    estimator = BlazePoseEstimator(detector, FakeLandmarker(), EstimatorSettings(detect_every=4))  # type: ignore[arg-type]
    for _ in range(6):
        assert len(estimator(FRAME)) == 1
    # frame 0: full frame and every tile; then one tile per frame in turn, the full frame every 4th
    assert detector.calls[0] == [FULL, *detector.tile_schedule(640, 480)]
    assert [FULL in regions for regions in detector.calls] == [True, False, False, False, True, False]
    assert [regions[-1] for regions in detector.calls[1:4]] == detector.tile_schedule(640, 480)[:3]


def test_a_lost_person_triggers_redetection_on_the_same_frame() -> None:
    detector = FakeDetector()
    landmarker = FakeLandmarker()
    estimator = BlazePoseEstimator(detector, landmarker, EstimatorSettings(detect_every=100))  # type: ignore[arg-type]
    estimator(FRAME)
    estimator(FRAME)
    assert FULL not in detector.calls[1]
    landmarker.presence = 0.1  # the followed person vanishes
    assert estimator(FRAME) == []
    assert FULL in detector.calls[2]
    # and the detector also looks closely around where they were: 2 × their ROI (size 200), clipped
    assert detector.calls[2][-1] == (120, 40, 520, 440)


class NarrowSightLandmarker(FakeLandmarker):
    """Finds the person only in a region at least ``needed`` pixels wide (the detector's above-head
    point put the region too tight around a bent or partly hidden person)."""

    def __init__(self, needed: float, shift: float = 0.0) -> None:
        super().__init__(shift=shift)
        self.needed, self.sizes = needed, []

    def __call__(self, frame: np.ndarray, roi: Roi) -> LandmarkResult:
        self.sizes.append(roi.size)
        result = super().__call__(frame, roi)
        presence = 1.0 if roi.size >= self.needed else 0.0
        return LandmarkResult(result.landmarks, presence, result.next_roi, result.visibility)


class WeakDetector(FakeDetector):
    def __init__(self, score: float) -> None:
        super().__init__()
        self.score = score

    def detect_regions(self, frame: np.ndarray, regions: list[tuple[int, int, int, int]]) -> list[Detection]:
        found = super().detect_regions(frame, regions)
        return [Detection(box=d.box, score=self.score, landmarks=d.landmarks) for d in found]


def test_a_confident_detection_is_measured_again_in_an_enlarged_region() -> None:
    # the detection's ROI is 200 px (2 × 80 × 1.25); the person shows only in a 400 px region
    landmarker = NarrowSightLandmarker(needed=390.0)
    people = BlazePoseEstimator(FakeDetector(), landmarker)(FRAME)  # type: ignore[arg-type]
    assert len(people) == 1
    assert landmarker.sizes == [200.0, 300.0, 400.0]  # as detected, then 1.5× and 2×
    none_needed = NarrowSightLandmarker(needed=0.0)
    assert len(BlazePoseEstimator(FakeDetector(), none_needed)(FRAME)) == 1  # type: ignore[arg-type]
    assert none_needed.sizes == [200.0]  # no second look when the first one finds the person


def test_no_second_look_for_a_weak_detection_or_for_someone_elsewhere() -> None:
    # a weak detection enlarged takes in clutter: it gets one look only
    landmarker = NarrowSightLandmarker(needed=390.0)
    assert BlazePoseEstimator(WeakDetector(0.6), landmarker)(FRAME) == []  # type: ignore[arg-type]
    assert landmarker.sizes == [200.0]
    # the enlarged region answers with a person 100 px from the detected hip: someone else
    elsewhere = NarrowSightLandmarker(needed=390.0, shift=100.0)
    assert BlazePoseEstimator(FakeDetector(), elsewhere)(FRAME) == []  # type: ignore[arg-type]
    assert elsewhere.sizes == [200.0, 300.0, 400.0]


def test_landmarks_far_from_their_region_are_rejected() -> None:
    # the landmark model answers with a skeleton 0.5 region sizes away: someone (something) else
    shifted = BlazePoseEstimator(FakeDetector(), FakeLandmarker(shift=100.0))  # type: ignore[arg-type]
    assert shifted(FRAME) == []
    near = BlazePoseEstimator(FakeDetector(), FakeLandmarker(shift=10.0))  # type: ignore[arg-type]
    assert len(near(FRAME)) == 1


def _small_people_frame() -> np.ndarray:
    """Frame 120 of the example clip shrunk to 0.3× (the walker about 130 px tall) in a grey 1920×1080 frame."""
    with av.open(str(EXAMPLE)) as container:
        for index, frame in enumerate(container.decode(video=0)):
            if index == 120:
                image = frame.to_ndarray(format="rgb24")
                break
    small = cv2.resize(image, None, fx=0.3, fy=0.3, interpolation=cv2.INTER_AREA)
    canvas = np.full((1080, 1920, 3), 90, np.uint8)
    canvas[600 : 600 + small.shape[0], 1100 : 1100 + small.shape[1]] = small
    return canvas


def test_multi_scale_tiles_find_a_small_person_in_a_1080p_frame() -> None:
    frame = _small_people_frame()
    detector_path, landmark_path = fetch("blazepose_full", quiet=True)
    landmarker = BlazePoseLandmarker(landmark_path)
    assert BlazePoseDetector(detector_path)(frame, use_tiles=False) == []  # the full frame misses them
    coarse = BlazePoseEstimator(BlazePoseDetector(detector_path, tile_levels=(0.6,)), landmarker)
    assert coarse(frame) == []
    people = BlazePoseEstimator(BlazePoseDetector(detector_path), landmarker)(frame)
    assert len(people) == 1
    x1, y1, x2, y2 = people[0].box
    assert 1280 < x1 < x2 < 1420 and 720 < y1 < y2 < 910 and 100 < y2 - y1 < 200  # the walker, ~130 px tall


def test_resumed_state_continues_the_tile_turn() -> None:
    first, second = FakeDetector(), FakeDetector()
    estimator = BlazePoseEstimator(first, FakeLandmarker())  # type: ignore[arg-type]
    estimator(FRAME)
    estimator(FRAME)
    resumed = BlazePoseEstimator(second, FakeLandmarker())  # type: ignore[arg-type]
    resumed.restore(estimator.state())
    resumed(FRAME)
    assert second.calls[0][-1] == first.tile_schedule(640, 480)[1]  # the next tile, not the first again


def test_a_whole_body_detection_over_a_followed_person_is_a_second_person() -> None:
    estimator = BlazePoseEstimator(FakeDetector(), FakeLandmarker())  # type: ignore[arg-type]
    followed = FakeLandmarker()(FRAME, Roi(320.0, 240.0, 200.0, 0.0))  # hip centre (320, 248)
    # both detections lie inside the inner part of the followed person's box, 32 px from their hips
    assert estimator._is_known(Roi(325.0, 280.0, 60.0, 0.0), [followed])  # a small one: a part of them
    assert not estimator._is_known(Roi(325.0, 280.0, 200.0, 0.0), [followed])  # their size: someone behind
    assert estimator._is_known(Roi(322.0, 250.0, 200.0, 0.0), [followed])  # on their hips: them
