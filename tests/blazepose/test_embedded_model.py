"""The embedded BlazePose model on the real example clip (two people, 1768×994, VP9)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest

from posecli.blazepose import BlazePoseDetector, BlazePoseEstimator, BlazePoseLandmarker
from posecli.blazepose.geometry import box_iou
from posecli.weights import fetch

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "demo.mp4"
ROOF_MAN_FRAME0 = np.array([585.0, 67.0, 718.0, 491.0])  # measured by eye on frame 0


def _frames(count: int) -> list[np.ndarray]:
    with av.open(str(EXAMPLE)) as container:
        frames = []
        for frame in container.decode(video=0):
            frames.append(frame.to_ndarray(format="rgb24"))
            if len(frames) == count:
                return frames
    return frames


@pytest.fixture(scope="module")
def models() -> tuple[BlazePoseDetector, BlazePoseLandmarker]:
    detector_path, landmark_path = fetch("blazepose_full", quiet=True)
    return BlazePoseDetector(detector_path), BlazePoseLandmarker(landmark_path)


def _roof_man_found(detections) -> bool:
    return any(560 < d.landmarks[0][0] < 760 and 150 < d.landmarks[0][1] < 400 for d in detections)


def test_tiles_find_the_small_person_the_full_frame_misses(models) -> None:
    detector, _ = models
    frames = _frames(40)[::4]
    full = sum(_roof_man_found(detector(f, use_tiles=False)) for f in frames)
    tiled = sum(_roof_man_found(detector(f, use_tiles=True)) for f in frames)
    assert tiled == len(frames)
    assert full <= len(frames) // 2


@pytest.mark.slow
def test_estimator_follows_both_people_upright(models) -> None:
    detector, landmarker = models
    estimator = BlazePoseEstimator(detector, landmarker)
    counts = []
    for index, frame in enumerate(_frames(60)):
        people = estimator(frame)
        counts.append(len(people))
        if index == 0:
            assert len(people) == 1
            assert box_iou(people[0].box, ROOF_MAN_FRAME0)[0, 0] > 0.6
            kp = people[0].keypoints
            # standing person: head_top above nose above head_bottom above hips above ankles
            assert kp[2, 1] < kp[0, 1] < kp[1, 1] < kp[11, 1] < kp[15, 1]
            assert people[0].coco_keypoints is not None
            # facing the camera: the person's left shoulder is on the image's right
            assert kp[5, 0] > kp[6, 0]
    # the walker enters around frame 40; from then on both people are found
    assert all(c == 1 for c in counts[:35])
    assert sum(c == 2 for c in counts[45:]) >= 14


def test_parallel_landmark_model_gives_the_same_people(models) -> None:
    """With a second landmark model the followed people are measured in parallel threads; every
    frame's people (order, landmarks, scores) equal those of one model measuring them in turn."""
    detector, landmarker = models
    _, landmark_path = fetch("blazepose_full", quiet=True)
    serial = BlazePoseEstimator(detector, landmarker)
    parallel = BlazePoseEstimator(detector, landmarker, helpers=(BlazePoseLandmarker(landmark_path, num_threads=1),))
    followed_two = 0
    for frame in _frames(124)[100:]:  # both people in view
        one, two = serial(frame), parallel(frame)
        followed_two += len(parallel.state()["followed"]) >= 2
        assert len(one) == len(two)
        for a, b in zip(one, two, strict=True):
            np.testing.assert_array_equal(a.keypoints, b.keypoints)
            assert a.score == b.score
    assert followed_two > 10  # the parallel path really ran (two people followed)
    assert parallel._pool is not None
