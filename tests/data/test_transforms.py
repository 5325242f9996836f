"""Unbiased affine crops, flips and the clip-wide augmentation draw."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posecli.data.transforms import (
    AugmentConfig,
    CropParams,
    affine_matrix,
    apply_affine,
    box_to_center_scale,
    crop_frames,
    crop_keypoints,
    crop_to_frame,
    draw_crop,
    flip_keypoints,
    half_body_center_scale,
    normalize_frames,
)
from posecli.keypoints import FLIP_PAIRS


def test_box_to_center_scale_expands_to_the_aspect_ratio() -> None:
    center, scale = box_to_center_scale(np.array([10.0, 20.0, 30.0, 80.0]), aspect_ratio=0.75, enlarge=1.25)
    np.testing.assert_allclose(center, [25.0, 60.0])
    np.testing.assert_allclose(scale, np.array([60.0, 80.0]) / 200 * 1.25)


def test_affine_maps_the_centre_to_the_crop_centre_and_inverts() -> None:
    center, scale = np.array([100.0, 80.0]), np.array([0.9, 1.2])
    for rotation in (0.0, 30.0, -75.0):
        m = affine_matrix(center, scale, rotation, (64, 48))
        np.testing.assert_allclose(apply_affine(center, m), [23.5, 31.5], atol=1e-9)
        back = affine_matrix(center, scale, rotation, (64, 48), inverse=True)
        pts = np.random.default_rng(0).uniform(0, 200, size=(10, 2))
        np.testing.assert_allclose(apply_affine(apply_affine(pts, m), back), pts, atol=1e-9)
    # unbiased scale: the box width (scale·200 px) spans the crop's (W − 1) pixel distance
    m = affine_matrix(center, scale, 0.0, (64, 48))
    np.testing.assert_allclose(m[0, 0], 47 / (0.9 * 200 - 1))
    # positive rotation turns the content counter-clockwise: a point right of the centre moves up
    m = affine_matrix(center, scale, 90.0, (64, 48))
    moved = apply_affine(center + [10.0, 0.0], m) - [23.5, 31.5]
    assert moved[1] < -1 and abs(moved[0]) < 1e-6


def test_crop_keypoints_follow_the_image_content() -> None:
    """A bright dot drawn at a joint lands where ``crop_keypoints`` puts that joint, flipped or not."""
    image = np.zeros((120, 160, 3), np.uint8)
    keypoints = np.zeros((17, 3))
    keypoints[9] = (70.0, 50.0, 1.0)  # left wrist
    image[48:53, 68:73] = 255
    for flip in (False, True):
        params = CropParams(np.array([80.0, 60.0]), np.array([0.6, 0.8]), rotation=20.0, flip=flip)
        crop = crop_frames([image], params, (64, 48))[0]  # (3, 64, 48)
        kp = crop_keypoints(keypoints, params, (64, 48))
        joint = 10 if flip else 9  # a flip turns the left wrist into the right one
        assert kp[joint, 2] == 1 and kp[19 - joint, 2] == 0
        ys, xs = np.nonzero(crop[0] > 100)
        np.testing.assert_allclose([xs.mean(), ys.mean()], kp[joint, :2], atol=0.8)


def test_joints_outside_the_crop_lose_visibility() -> None:
    keypoints = np.zeros((17, 3))
    keypoints[0] = (500.0, 500.0, 1.0)
    keypoints[1] = (80.0, 60.0, 1.0)
    kp = crop_keypoints(keypoints, CropParams(np.array([80.0, 60.0]), np.array([0.5, 0.5])), (64, 48))
    assert kp[0, 2] == 0 and kp[1, 2] == 1


def test_flip_keypoints_is_an_involution_that_swaps_pairs() -> None:
    kp = np.random.default_rng(1).uniform(0, 40, size=(17, 3))
    flipped = flip_keypoints(kp, 48)
    a, b = FLIP_PAIRS[0]
    np.testing.assert_allclose(flipped[a, 0], 47 - kp[b, 0])
    np.testing.assert_allclose(flip_keypoints(flipped, 48), kp)


def test_crop_back_to_frame_inverts_an_unaugmented_crop() -> None:
    center, scale = np.array([[50.0, 60.0]]), np.array([[0.4, 0.6]])
    pts = np.array([[[40.0, 70.0], [55.5, 52.25]]])
    m = affine_matrix(center[0], scale[0], 0.0, (96, 64))
    np.testing.assert_allclose(crop_to_frame(apply_affine(pts, m), center, scale, (96, 64)), pts, atol=1e-9)


def test_augmentation_draw_is_seeded_and_within_the_reference_ranges() -> None:
    box, keypoints = np.array([10.0, 10.0, 40.0, 90.0]), np.zeros((17, 3))
    aug = AugmentConfig()
    draws = [draw_crop(box, keypoints, np.random.default_rng(i), 0.75, aug) for i in range(200)]
    again = draw_crop(box, keypoints, np.random.default_rng(3), 0.75, aug)
    assert again.rotation == draws[3].rotation and again.flip == draws[3].flip
    _, base = box_to_center_scale(box, 0.75)
    ratios = np.array([d.scale[0] / base[0] for d in draws])
    assert ratios.min() >= 0.65 - 1e-9 and ratios.max() <= 1.35 + 1e-9 and ratios.std() > 0.1
    rotations = np.array([d.rotation for d in draws])
    assert np.abs(rotations).max() <= 90 and 0.25 < np.mean(rotations == 0) < 0.55
    assert 0.35 < np.mean([d.flip for d in draws]) < 0.65
    plain = draw_crop(box, keypoints, None, 0.75, aug)
    assert plain.rotation == 0 and not plain.flip


def test_half_body_crop_centres_on_one_half() -> None:
    keypoints = np.zeros((17, 3))
    keypoints[:, 2] = 1
    keypoints[:, 0] = 50
    keypoints[:, 1] = np.linspace(0, 160, 17)  # head at the top, ankles at the bottom
    aug = AugmentConfig(half_body_prob=1.0, scale_factor=0.0, rotation_prob=0.0, flip_prob=0.0)
    full = box_to_center_scale(np.array([30.0, 0.0, 40.0, 160.0]), 0.75)[1]
    for seed in range(5):
        params = draw_crop(
            np.array([30.0, 0.0, 40.0, 160.0]), keypoints, np.random.default_rng(seed), 0.75, aug
        )
        assert params.scale[1] < full[1] and abs(params.center[1] - 80) > 20


def _half_body_joints() -> np.ndarray:
    """Three visible upper joints and four visible lower ones (17, 3)."""
    keypoints = np.zeros((17, 3))
    keypoints[[0, 5, 6]] = [(10.0, 20.0, 1.0), (30.0, 40.0, 1.0), (50.0, 20.0, 1.0)]
    keypoints[[11, 12, 13, 14]] = [
        (20.0, 100.0, 1.0),
        (40.0, 100.0, 1.0),
        (20.0, 160.0, 1.0),
        (40.0, 160.0, 1.0),
    ]
    return keypoints


def test_half_body_centre_and_scale_have_the_reference_values() -> None:
    keypoints = _half_body_joints()
    # upper: mean (30, 26.67); extent 40 × 20, wider than 0.75 → h = 40 / 0.75; × 1.5 / 200, no × 1.25
    center, scale = half_body_center_scale(keypoints, True, 0.75)  # type: ignore[misc]
    np.testing.assert_allclose(center, [30.0, 80.0 / 3])
    np.testing.assert_allclose(scale, [40.0 / 200 * 1.5, 40.0 / 0.75 / 200 * 1.5])
    np.testing.assert_allclose(scale, [0.3, 0.4])
    # lower: mean (30, 130); extent 20 × 60, narrower than 0.75 → w = 60 · 0.75 = 45
    center, scale = half_body_center_scale(keypoints, False, 0.75)  # type: ignore[misc]
    np.testing.assert_allclose(center, [30.0, 130.0])
    np.testing.assert_allclose(scale, [0.3375, 0.45])
    # only 2 upper joints visible: upper is not eligible, lower (> 2) is taken
    two_upper = keypoints.copy()
    two_upper[0, 2] = 0
    np.testing.assert_allclose(half_body_center_scale(two_upper, True, 0.75)[0], [30.0, 130.0])  # type: ignore[index]
    # neither half has > 2 joints: the upper half is used if it has 2, else no half-body crop
    few = two_upper.copy()
    few[[13, 14], 2] = 0
    np.testing.assert_allclose(half_body_center_scale(few, False, 0.75)[0], [40.0, 30.0])  # type: ignore[index]
    few[5, 2] = 0
    assert half_body_center_scale(few, True, 0.75) is None


def test_draw_crop_uses_the_half_body_draw_without_box_enlargement() -> None:
    """draw_crop's half-body path equals ``half_body_center_scale`` with its own randn() < 0.5 draw."""
    keypoints = _half_body_joints()
    keypoints[[1, 2, 7, 8], :] = [(20.0, 10.0, 1.0), (25.0, 5.0, 1.0), (15.0, 50.0, 1.0), (45.0, 50.0, 1.0)]
    assert (keypoints[:, 2] > 0).sum() == 11  # > 8 visible joints: half-body allowed
    box = np.array([0.0, 0.0, 60.0, 170.0])
    aug = AugmentConfig(half_body_prob=1.0, scale_factor=0.0, rotation_prob=0.0, flip_prob=0.0)
    chose_upper = set()
    for seed in range(12):
        replay = np.random.default_rng(seed)
        replay.random()  # the half-body coin
        prefer_upper = bool(replay.standard_normal() < 0.5)
        chose_upper.add(prefer_upper)
        expected = half_body_center_scale(keypoints, prefer_upper, 0.75)
        assert expected is not None
        params = draw_crop(box, keypoints, np.random.default_rng(seed), 0.75, aug, enlarge=1.25)
        np.testing.assert_allclose(params.center, expected[0])
        np.testing.assert_allclose(params.scale, expected[1])
    assert chose_upper == {True, False}
    # at most 8 visible joints: the full box (× 1.25) is kept
    keypoints[[1, 2, 7], 2] = 0
    params = draw_crop(box, keypoints, np.random.default_rng(0), 0.75, aug, enlarge=1.25)
    np.testing.assert_allclose(params.scale, box_to_center_scale(box, 0.75, 1.25)[1])


def test_normalize_frames_uses_imagenet_statistics() -> None:
    frames = torch.full((2, 3, 4, 4), 255, dtype=torch.uint8)
    out = normalize_frames(frames)
    assert out.dtype == torch.float32
    np.testing.assert_allclose(
        out[0, :, 0, 0].numpy(), (1 - np.array([0.485, 0.456, 0.406])) / [0.229, 0.224, 0.225], rtol=1e-6
    )


@pytest.mark.parametrize("rotation", [0.0, 45.0])
def test_every_frame_of_a_clip_gets_the_same_warp(rotation: float) -> None:
    rng = np.random.default_rng(0)
    image = rng.integers(0, 255, size=(100, 120, 3), dtype=np.uint8)
    params = CropParams(np.array([60.0, 50.0]), np.array([0.4, 0.5]), rotation=rotation, flip=True)
    crops = crop_frames([image, image.copy(), image], params, (64, 48))
    assert crops.shape == (3, 3, 64, 48) and crops.dtype == np.uint8
    assert np.array_equal(crops[0], crops[1]) and np.array_equal(crops[0], crops[2])
