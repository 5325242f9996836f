"""Crops and augmentation for person clips: box → (center, scale), unbiased affine warp, one random
draw shared by every frame of a clip (half-body, scale, rotation, flip), and normalisation.

Conventions (``models.md`` §7): ``scale`` is the box size in units of ``PIXEL_STD = 200`` pixels,
the box is first expanded to the crop's aspect ratio and then enlarged ×1.25 (a half-body crop
instead spans its joints' extent ×1.5, without the ×1.25). The affine transform
is the "unbiased" one (Huang et al., UDP; DARK's ``(w−1)/2`` variant): the box centre maps to the
crop's pixel centre ``((W−1)/2, (H−1)/2)`` and lengths scale by ``(W−1)/(box_w−1)``, so a flip of
the crop is exactly a reflection of the box about its centre.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import torch

from posecli.keypoints import FLIP_PAIRS, NUM_KEYPOINTS

PIXEL_STD = 200.0  # box size unit of the reference code
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # RGB
IMAGENET_STD = (0.229, 0.224, 0.225)
# Joints of the upper body (head, arms) and the lower body (hips, legs) for half-body augmentation.
UPPER_BODY = tuple(range(11))
LOWER_BODY = tuple(range(11, NUM_KEYPOINTS))
HALF_BODY_ENLARGE = 1.5  # the half-body box is the joints' extent × 1.5 (instead of BBOX_ENLARGE_FACTOR)


@dataclass(frozen=True)
class AugmentConfig:
    """Training augmentation (reference values; one draw per clip)."""

    scale_factor: float = 0.35  # scale × clip(1 + s·N(0,1), 1 − s, 1 + s)
    rotation_factor: float = 45.0  # degrees: clip(r·N(0,1), −2r, 2r)
    rotation_prob: float = 0.6  # probability of rotating at all
    flip_prob: float = 0.5
    half_body_prob: float = 0.3
    half_body_min_joints: int = 8  # half-body only when more joints than this are visible


@dataclass(frozen=True)
class CropParams:
    """Where one clip is cut from its frames. center: ``(2,)`` px; scale: ``(2,)`` in PIXEL_STD
    units; rotation in degrees (counter-clockwise in the image); flip: mirror the crop."""

    center: np.ndarray
    scale: np.ndarray
    rotation: float = 0.0
    flip: bool = False


def box_to_center_scale(
    box: np.ndarray, aspect_ratio: float, enlarge: float = 1.25
) -> tuple[np.ndarray, np.ndarray]:
    """Box ``(4,)`` ``x, y, w, h`` → center ``(2,)`` and scale ``(2,)``.

    aspect_ratio: crop width / height (0.75 for 288×384). The box grows to that ratio, then by
    ``enlarge`` (the reference ``BBOX_ENLARGE_FACTOR``).
    """
    x, y, w, h = (float(v) for v in box)
    center = np.array([x + w * 0.5, y + h * 0.5])
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    scale = np.array([w / PIXEL_STD, h / PIXEL_STD]) * enlarge
    return center, scale


def affine_matrix(
    center: np.ndarray,
    scale: np.ndarray,
    rotation: float,
    output_size: tuple[int, int],
    inverse: bool = False,
) -> np.ndarray:
    """The unbiased ``(2, 3)`` affine from frame pixels to crop pixels (or back with ``inverse``).

    output_size: crop ``(H, W)``. The box centre goes to ``((W−1)/2, (H−1)/2)``; the box width
    ``scale[0]·200`` maps onto the crop width with factor ``(W−1)/(box_w−1)``; the content turns by
    ``rotation`` degrees counter-clockwise (the reference sign).
    """
    out_h, out_w = output_size
    box_w = float(scale[0]) * PIXEL_STD
    s = (out_w - 1.0) / max(box_w - 1.0, 1e-6)
    theta = math.radians(rotation)
    cos, sin = math.cos(theta), math.sin(theta)
    # frame → crop: translate the centre to the origin, rotate by −θ, scale, move to the crop centre
    linear = s * np.array([[cos, sin], [-sin, cos]])
    dst_center = np.array([(out_w - 1.0) * 0.5, (out_h - 1.0) * 0.5])
    matrix = np.zeros((2, 3))
    matrix[:, :2] = linear
    matrix[:, 2] = dst_center - linear @ np.asarray(center, dtype=np.float64)
    if inverse:
        return cv2.invertAffineTransform(matrix)
    return matrix


def apply_affine(points: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Points ``(..., 2)`` through a ``(2, 3)`` affine matrix → ``(..., 2)``."""
    return points @ matrix[:, :2].T + matrix[:, 2]


def flip_keypoints(keypoints: np.ndarray, width: int) -> np.ndarray:
    """Mirror ``(..., K, C)`` keypoints (x in column 0) about ``(width−1)/2`` and swap the flip pairs."""
    out = keypoints.copy()
    out[..., 0] = width - 1 - out[..., 0]
    for a, b in FLIP_PAIRS:
        out[..., [a, b], :] = out[..., [b, a], :]
    return out


def half_body_center_scale(
    keypoints: np.ndarray, prefer_upper: bool, aspect_ratio: float
) -> tuple[np.ndarray, np.ndarray] | None:
    """Crop ``center (2,)`` and ``scale (2,)`` around the upper or the lower body (reference HRNet rule).

    keypoints: ``(17, 3)`` ``x, y, v``. The upper half (joints 0–10) is taken when ``prefer_upper`` and
    more than 2 of its joints are visible; otherwise the lower half (11–16) if more than 2 of its joints
    are visible, else the upper half. Centre = mean of the chosen visible joints; their extent
    (max − min) is expanded to ``aspect_ratio`` (W/H) and scale = extent / 200 × 1.5, with no
    ``bbox_enlarge`` on top. ``None`` (keep the full box) when fewer than 2 joints are chosen, or
    when they span at most 1 px in both directions (the reference would divide by a zero scale).
    """
    visible = keypoints[:, 2] > 0
    upper = [j for j in UPPER_BODY if visible[j]]
    lower = [j for j in LOWER_BODY if visible[j]]
    if prefer_upper and len(upper) > 2:
        chosen = upper
    else:
        chosen = lower if len(lower) > 2 else upper
    if len(chosen) < 2:
        return None
    pts = keypoints[chosen, :2].astype(np.float64)  # (n, 2)
    center = pts.mean(axis=0)
    w, h = (float(v) for v in pts.max(axis=0) - pts.min(axis=0))
    if max(w, h) <= 1.0:
        return None
    if w > aspect_ratio * h:
        h = w / aspect_ratio
    else:
        w = h * aspect_ratio
    scale = np.array([w / PIXEL_STD, h / PIXEL_STD]) * HALF_BODY_ENLARGE
    return center, scale


def draw_crop(
    box: np.ndarray,
    keypoints: np.ndarray,
    rng: np.random.Generator | None,
    aspect_ratio: float,
    augment: AugmentConfig,
    enlarge: float = 1.25,
) -> CropParams:
    """Crop parameters for one clip; with ``rng`` (training) one random augmentation draw.

    box: ``(4,)`` ``x, y, w, h`` of the key frame; keypoints: ``(17, 3)`` key-frame GT.
    """
    half: tuple[np.ndarray, np.ndarray] | None = None
    if rng is not None and augment.half_body_prob > 0:
        # Both draws are taken always, so the number of draws per sample does not depend on the data.
        take_half = rng.random() < augment.half_body_prob
        prefer_upper = rng.standard_normal() < 0.5  # the reference's randn() < 0.5: upper ≈ 69 %
        if take_half and int((keypoints[:, 2] > 0).sum()) > augment.half_body_min_joints:
            half = half_body_center_scale(keypoints, bool(prefer_upper), aspect_ratio)
    # the half-body crop carries its own ×1.5 and skips the box enlargement (as the reference does)
    center, scale = half if half is not None else box_to_center_scale(box, aspect_ratio, enlarge)
    if rng is None:
        return CropParams(center, scale)
    sf, rf = augment.scale_factor, augment.rotation_factor
    scale = scale * float(np.clip(rng.standard_normal() * sf + 1.0, 1.0 - sf, 1.0 + sf))
    rotation = float(np.clip(rng.standard_normal() * rf, -2 * rf, 2 * rf))
    if rng.random() >= augment.rotation_prob:
        rotation = 0.0
    flip = bool(rng.random() < augment.flip_prob)
    return CropParams(center, scale, rotation, flip)


def crop_frames(images: list[np.ndarray], params: CropParams, output_size: tuple[int, int]) -> np.ndarray:
    """Warp every frame of a clip with the same parameters.

    images: T × ``(H, W, 3)`` uint8 BGR (as OpenCV reads them). Returns ``(T, 3, h, w)`` uint8 RGB
    crops (normalise on the device with ``normalize_frames``: 4× less host→device traffic).
    """
    out_h, out_w = output_size
    matrix = affine_matrix(params.center, params.scale, params.rotation, output_size)
    crops = np.empty((len(images), 3, out_h, out_w), np.uint8)
    for i, image in enumerate(images):
        crop = cv2.warpAffine(image, matrix, (out_w, out_h), flags=cv2.INTER_LINEAR)
        if params.flip:
            crop = crop[:, ::-1]
        crops[i] = crop[:, :, ::-1].transpose(2, 0, 1)  # BGR (h, w, 3) → RGB (3, h, w)
    return crops


def crop_keypoints(keypoints: np.ndarray, params: CropParams, output_size: tuple[int, int]) -> np.ndarray:
    """Frame keypoints ``(17, 3)`` → crop keypoints ``(17, 3)``; joints that leave the crop get v = 0."""
    out_h, out_w = output_size
    matrix = affine_matrix(params.center, params.scale, params.rotation, output_size)
    out = keypoints.astype(np.float64).copy()
    out[:, :2] = apply_affine(out[:, :2], matrix)
    if params.flip:
        out = flip_keypoints(out, out_w)
    inside = (out[:, 0] >= 0) & (out[:, 0] <= out_w - 1) & (out[:, 1] >= 0) & (out[:, 1] <= out_h - 1)
    out[:, 2] = np.where(inside & (out[:, 2] > 0), 1.0, 0.0)
    return out


def crop_to_frame(
    coords: np.ndarray, center: np.ndarray, scale: np.ndarray, output_size: tuple[int, int]
) -> np.ndarray:
    """Decoded crop coordinates ``(N, K, 2)`` back to frame pixels, with per-sample center/scale ``(N, 2)``
    (unrotated, unflipped crops, as in validation)."""
    out = np.empty_like(coords, dtype=np.float64)
    for i in range(coords.shape[0]):
        inverse = affine_matrix(center[i], scale[i], 0.0, output_size, inverse=True)
        out[i] = apply_affine(coords[i].astype(np.float64), inverse)
    return out


def normalize_frames(frames: torch.Tensor) -> torch.Tensor:
    """uint8 RGB ``(..., 3, H, W)`` → float32 ``(..., 3, H, W)``: /255 then ImageNet mean/std."""
    mean = torch.tensor(IMAGENET_MEAN, device=frames.device, dtype=torch.float32).view(3, 1, 1)
    std = torch.tensor(IMAGENET_STD, device=frames.device, dtype=torch.float32).view(3, 1, 1)
    return (frames.float() / 255.0 - mean) / std
