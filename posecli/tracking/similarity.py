"""Pairwise similarities between people used by the trackers: box IoU and keypoint OKS.

Boxes are ``x1, y1, x2, y2`` pixels; keypoints are ``(K, 3)`` ``x, y, score`` in the 17-slot
PoseTrack layout of ``posecli.keypoints``. A joint takes part in OKS only when its score is > 0 on
both sides.
"""

from __future__ import annotations

import numpy as np

# Per-slot OKS sigmas for the PoseTrack layout: the COCO values, with head_bottom and head_top reusing
# the COCO eye sigma 0.025 as mmpose's posetrack18 config does (posetrack.md §10).
POSETRACK_SIGMAS: np.ndarray = np.array(
    [0.026, 0.025, 0.025, 0.035, 0.035, 0.079, 0.079, 0.072, 0.072,
     0.062, 0.062, 0.107, 0.107, 0.087, 0.087, 0.089, 0.089],
    dtype=np.float64,
)  # fmt: skip


def box_iou(boxes_a: np.ndarray, boxes_b: np.ndarray) -> np.ndarray:
    """Intersection over union of every pair of boxes.

    boxes_a: ``(N, 4)``, boxes_b: ``(M, 4)`` xyxy. Returns ``(N, M)`` float64 in ``[0, 1]``; a pair
    of empty boxes has IoU 0.
    """
    a = np.asarray(boxes_a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(boxes_b, dtype=np.float64).reshape(-1, 4)
    area_a = np.clip(a[:, 2] - a[:, 0], 0, None) * np.clip(a[:, 3] - a[:, 1], 0, None)  # (N,)
    area_b = np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)  # (M,)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])  # (N, M, 2)
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])  # (N, M, 2)
    wh = np.clip(rb - lt, 0, None)
    inter = wh[..., 0] * wh[..., 1]
    union = area_a[:, None] + area_b[None, :] - inter
    return np.where(union > 0, inter / np.maximum(union, 1e-12), 0.0)


def box_area(boxes: np.ndarray) -> np.ndarray:
    """Areas of ``(N, 4)`` xyxy boxes, ``(N,)``; inverted boxes count as 0."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.clip(b[:, 2] - b[:, 0], 0, None) * np.clip(b[:, 3] - b[:, 1], 0, None)


def box_centers(boxes: np.ndarray) -> np.ndarray:
    """Centres of ``(N, 4)`` xyxy boxes, ``(N, 2)``."""
    b = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
    return np.stack([(b[:, 0] + b[:, 2]) / 2, (b[:, 1] + b[:, 3]) / 2], axis=1)


def has_pose(keypoints: np.ndarray | None) -> bool:
    """Whether ``keypoints`` is a 17-slot ``(17, 3)`` pose with at least one joint of score > 0.

    Poses in another layout are treated as absent, since the OKS sigmas are per PoseTrack slot.
    """
    if keypoints is None:
        return False
    k = np.asarray(keypoints)
    return k.shape == (len(POSETRACK_SIGMAS), 3) and bool(np.any(k[:, 2] > 0))


def oks_matrix(
    keypoints_a: np.ndarray,
    keypoints_b: np.ndarray,
    areas: np.ndarray,
    sigmas: np.ndarray = POSETRACK_SIGMAS,
) -> tuple[np.ndarray, np.ndarray]:
    """Object keypoint similarity of every pair of poses.

    keypoints_a: ``(N, K, 3)``, keypoints_b: ``(M, K, 3)``; areas: ``(M,)`` the scale s² of each
    pose of ``b`` (its box area). OKS = Σᵢ exp(−dᵢ²/(2 s² kᵢ²)) / #joints, kᵢ = 2σᵢ, over the joints
    with score > 0 on both sides. Returns ``(oks, valid)``, both ``(N, M)``: ``valid`` is False
    (and ``oks`` 0) where the pair shares no scored joint.
    """
    a = np.asarray(keypoints_a, dtype=np.float64)
    b = np.asarray(keypoints_b, dtype=np.float64)
    n, m = a.shape[0], b.shape[0]
    if n == 0 or m == 0:
        return np.zeros((n, m)), np.zeros((n, m), dtype=bool)
    k2 = (2.0 * np.asarray(sigmas, dtype=np.float64)) ** 2  # (K,)
    s2 = np.maximum(np.asarray(areas, dtype=np.float64).reshape(m), 1.0)  # (M,)
    d2 = np.sum((a[:, None, :, :2] - b[None, :, :, :2]) ** 2, axis=-1)  # (N, M, K)
    both = (a[:, None, :, 2] > 0) & (b[None, :, :, 2] > 0)  # (N, M, K)
    e = np.exp(-d2 / (2.0 * s2[None, :, None] * k2[None, None, :]))
    count = both.sum(axis=-1)  # (N, M)
    total = np.where(both, e, 0.0).sum(axis=-1)
    valid = count > 0
    return np.where(valid, total / np.maximum(count, 1), 0.0), valid


def align_pose(keypoints: np.ndarray, from_box: np.ndarray, to_box: np.ndarray) -> np.ndarray:
    """Move and scale a pose ``(K, 3)`` from ``from_box`` to ``to_box`` (both ``(4,)`` xyxy).

    Maps the pose so that its box centre lands on ``to_box``'s centre and its box size matches;
    scores are kept. Used to compare pose *shapes* of the same person seen at different places.
    """
    src = np.asarray(from_box, dtype=np.float64)
    dst = np.asarray(to_box, dtype=np.float64)
    src_wh = np.maximum(src[2:] - src[:2], 1e-6)
    dst_wh = np.maximum(dst[2:] - dst[:2], 1e-6)
    scale = dst_wh / src_wh  # (2,) per-axis, so an aspect change of the box is followed too
    out = np.array(keypoints, dtype=np.float64, copy=True)
    out[:, :2] = (out[:, :2] - (src[:2] + src[2:]) / 2) * scale + (dst[:2] + dst[2:]) / 2
    return out
