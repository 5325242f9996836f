"""Rotated square regions of interest (ROIs), as BlazePose uses them, and their crop transforms."""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np


@dataclass(frozen=True)
class Roi:
    """A rotated square in image pixels: centre, side length and rotation (radians, clockwise-positive).

    A rotation of 0 means the person's hip→head axis points straight up in the crop.
    """

    cx: float
    cy: float
    size: float
    rotation: float

    def crop_to_image(self, crop_size: int) -> np.ndarray:
        """``(2, 3)`` affine matrix mapping crop pixels ``(u, v)`` to image pixels ``(x, y)``."""
        c, s = math.cos(self.rotation), math.sin(self.rotation)
        k = self.size / crop_size
        # image = centre + R(rotation) @ ((u, v) - crop_size / 2) * k   (y axis points down)
        return np.array(
            [
                [c * k, -s * k, self.cx - (c - s) * self.size / 2],
                [s * k, c * k, self.cy - (s + c) * self.size / 2],
            ],
            dtype=np.float64,
        )

    def box(self) -> np.ndarray:
        """Axis-aligned ``(4,)`` xyxy box around the rotated square."""
        corners = np.array([[0, 0, 1], [1, 0, 1], [0, 1, 1], [1, 1, 1]], dtype=np.float64)
        pts = corners @ self.crop_to_image(1).T
        return np.array([pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()])


def roi_from_axis(center: np.ndarray, scale_point: np.ndarray, enlarge: float = 1.25) -> Roi:
    """BlazePose's alignment rule: a square centred on ``center`` (hip centre) whose half side is the
    distance to ``scale_point`` (a point above the head), rotated so the centre→scale axis points up,
    then enlarged by ``enlarge``.

    center, scale_point: ``(2,)`` image pixels.
    """
    dx, dy = float(scale_point[0] - center[0]), float(scale_point[1] - center[1])
    angle = math.atan2(-dy, dx)  # mathematical angle, y up
    rotation = _normalize_radians(math.pi / 2 - angle)
    size = 2.0 * math.hypot(dx, dy) * enlarge
    return Roi(float(center[0]), float(center[1]), size, rotation)


def crop(image: np.ndarray, roi: Roi, crop_size: int) -> np.ndarray:
    """Warp the rotated ``roi`` of ``image`` ``(H, W, 3)`` to a ``(crop_size, crop_size, 3)`` crop.

    Pixels outside the image are black, as in BlazePose's own preprocessing.
    """
    matrix = roi.crop_to_image(crop_size)
    return cv2.warpAffine(
        image,
        matrix,
        (crop_size, crop_size),
        flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=(0, 0, 0),
    )


def crop_points_to_image(points: np.ndarray, roi: Roi, crop_size: int) -> np.ndarray:
    """Map ``(N, 2)`` crop pixel coordinates back to ``(N, 2)`` image pixels."""
    matrix = roi.crop_to_image(crop_size)
    return points @ matrix[:, :2].T + matrix[:, 2]


def box_iou(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU of ``(N, 4)`` and ``(M, 4)`` xyxy boxes → ``(N, M)``."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    area_a = np.clip(a[:, 2:] - a[:, :2], 0, None).prod(axis=1)
    area_b = np.clip(b[:, 2:] - b[:, :2], 0, None).prod(axis=1)
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def _normalize_radians(angle: float) -> float:
    return angle - 2 * math.pi * math.floor((angle + math.pi) / (2 * math.pi))
