"""BlazePose pre/post-processing that does not need the networks: anchors, tiles, ROIs, joint mapping."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from posecli.blazepose.detector import ssd_anchor_centers, tile_regions, weighted_nms
from posecli.blazepose.geometry import Roi, crop, crop_points_to_image, roi_from_axis
from posecli.blazepose.landmarks import HEAD_TOP_FACTOR, to_coco, to_posetrack
from posecli.keypoints import COCO_KEYPOINTS, POSETRACK_KEYPOINTS


def test_anchor_layout_matches_the_network_output() -> None:
    anchors = ssd_anchor_centers()
    assert anchors.shape == (2254, 2)
    # stride 8: 28×28 cells × 2 anchors, then 14×14 × 2, then 7×7 × 6 (three stride-32 layers share a map)
    assert np.allclose(anchors[0], [0.5 / 28, 0.5 / 28]) and np.allclose(anchors[1], anchors[0])
    assert np.allclose(anchors[2], [1.5 / 28, 0.5 / 28])
    assert np.allclose(anchors[1568], [0.5 / 14, 0.5 / 14])
    assert np.allclose(anchors[1568 + 392 : 1568 + 392 + 6], [0.5 / 7, 0.5 / 7])
    assert np.allclose(anchors[-1], [6.5 / 7, 6.5 / 7])


def test_tiles_cover_the_frame_with_overlap() -> None:
    tiles = tile_regions(1768, 994, tile_fraction=0.6, overlap=0.25)
    covered = np.zeros((994, 1768), dtype=bool)
    for x0, y0, x1, y1 in tiles:
        assert x1 - x0 == y1 - y0 == round(0.6 * 994)
        covered[y0:y1, x0:x1] = True
    assert covered.all()
    xs = sorted({t[0] for t in tiles})
    assert all(b - a < round(0.6 * 994) for a, b in itertools.pairwise(xs))  # neighbours overlap


def test_upright_axis_gives_zero_rotation_and_enlarged_square() -> None:
    roi = roi_from_axis(np.array([100.0, 200.0]), np.array([100.0, 120.0]))
    assert roi.rotation == pytest.approx(0.0)
    assert roi.size == pytest.approx(2 * 80 * 1.25)
    assert (roi.cx, roi.cy) == (100.0, 200.0)
    lying = roi_from_axis(np.array([100.0, 200.0]), np.array([180.0, 200.0]))  # head to the right
    assert lying.rotation == pytest.approx(math.pi / 2)


def test_rotated_crop_and_back_mapping_agree() -> None:
    image = np.zeros((300, 400, 3), dtype=np.uint8)
    image[150:156, 250:256] = 255  # a white marker at (252.5, 152.5)
    roi = Roi(cx=200.0, cy=150.0, size=160.0, rotation=math.pi / 2)
    patch = crop(image, roi, 64)
    ys, xs = np.nonzero(patch[:, :, 0] > 128)
    centre_in_crop = np.array([[xs.mean() + 0.5, ys.mean() + 0.5]])
    back = crop_points_to_image(centre_in_crop, roi, 64)[0]
    assert np.allclose(back, [253.0, 153.0], atol=2.5)
    # rotation pi/2: the image's +x direction is the crop's -y (up) direction
    assert ys.mean() < 32


def test_weighted_nms_merges_overlapping_candidates() -> None:
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], dtype=float)
    kps = np.zeros((3, 4, 2))
    kps[1] += 1.0
    kps[2] += 55.0
    scores = np.array([0.9, 0.3, 0.8])
    out = weighted_nms(boxes, kps, scores, iou_threshold=0.3)
    assert [d.score for d in out] == [0.9, 0.8]
    assert np.allclose(out[0].box, (boxes[0] * 0.9 + boxes[1] * 0.3) / 1.2)
    assert np.allclose(out[0].landmarks, 1.0 * 0.3 / 1.2)


def test_weighted_nms_keeps_two_close_people_apart() -> None:
    # two people side by side: their body squares overlap (IoU 0.6) but their hip centres are 40 px
    # apart on 100 px squares; averaging them would aim the landmark model between the two
    boxes = np.array([[0, 0, 100, 100], [25, 0, 125, 100]], dtype=float)
    kps = np.zeros((2, 4, 2))
    kps[0, 0], kps[1, 0] = (50, 50), (90, 50)
    out = weighted_nms(boxes, kps, np.array([0.9, 0.8]), iou_threshold=0.3)
    assert [d.score for d in out] == [0.9, 0.8]
    assert np.allclose(out[0].landmarks[0], (50, 50)) and np.allclose(out[1].landmarks[0], (90, 50))


def _landmarks() -> np.ndarray:
    lm = np.zeros((33, 3))
    lm[:, 2] = 0.9
    lm[:, 0] = np.arange(33) * 10.0
    lm[:, 1] = 500.0
    lm[2, :2] = (95, 100)  # left eye
    lm[5, :2] = (105, 100)  # right eye
    lm[9, :2] = (97, 130)  # mouth left
    lm[10, :2] = (103, 130)  # mouth right
    lm[11, :2] = (120, 200)  # left shoulder
    lm[12, :2] = (80, 200)  # right shoulder
    lm[9, 2] = 0.4
    return lm


def test_posetrack_mapping_uses_the_right_landmarks_and_derives_head_points() -> None:
    lm = _landmarks()
    kp = to_posetrack(lm)
    names = dict(zip(POSETRACK_KEYPOINTS, kp))
    assert np.allclose(names["left_shoulder"], lm[11]) and np.allclose(names["right_shoulder"], lm[12])
    assert np.allclose(names["left_wrist"], lm[15]) and np.allclose(names["right_ankle"], lm[28])
    assert np.allclose(names["left_ear"], lm[7]) and np.allclose(names["nose"], lm[0])
    # head_bottom: halfway between mouth centre (100, 130) and shoulder centre (100, 200)
    assert np.allclose(names["head_bottom"][:2], [100, 165])
    # head_top: eye centre (100, 100) + factor × (eye centre − mouth centre)
    assert np.allclose(names["head_top"][:2], [100, 100 - HEAD_TOP_FACTOR * 30])
    # a derived point is only as sure as its least sure landmark
    assert names["head_bottom"][2] == pytest.approx(0.4) and names["head_top"][2] == pytest.approx(0.4)


def test_coco_mapping_keeps_the_eyes() -> None:
    lm = _landmarks()
    kp = dict(zip(COCO_KEYPOINTS, to_coco(lm)))
    assert np.allclose(kp["left_eye"], lm[2]) and np.allclose(kp["right_eye"], lm[5])
    assert np.allclose(kp["left_hip"], lm[23]) and np.allclose(kp["right_knee"], lm[26])
