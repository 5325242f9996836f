"""Gaussian heatmap targets and heatmap decoding (argmax + quarter offset, or DARK).

Encoding follows the reference HRNet / FAMI-Pose rule (spec models.md §7 "Targets"): the joint is
snapped to the heatmap grid with ``mu = int(coord / stride + 0.5)``, an unnormalised Gaussian
``exp(-d² / 2σ²)`` with peak 1 is pasted in a ``(6σ+1)²`` window, and the joint's weight is its
visibility, or 0 when that window lies fully outside the heatmap.

Decoding (spec §9): per-joint argmax with ``maxval`` = peak value; ``argmax`` shifts the location a
quarter pixel toward the higher neighbour in x and y; ``dark`` (Zhang et al., "Distribution-Aware
Coordinate Representation", CVPR 2020) blurs with an 11×11 Gaussian, takes the log and refines the
argmax by one Newton step of a second-order Taylor expansion. Coordinates are returned in input-crop
pixels, i.e. heatmap pixels times the stride (input size / heatmap size).
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

_DARK_KERNEL = 11  # Gaussian blur kernel used by the DARK reference (TDMI's decoder)


class HeatmapCodec:
    """Encode keypoints as Gaussian heatmaps and decode heatmaps back to keypoints.

    input_size, heatmap_size: ``(H, W)``, e.g. ``(384, 288)`` and ``(96, 72)``; sigma in heatmap pixels.
    """

    def __init__(self, input_size: tuple[int, int], heatmap_size: tuple[int, int], sigma: float = 3.0) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.heatmap_size = (int(heatmap_size[0]), int(heatmap_size[1]))
        if min(self.input_size + self.heatmap_size) <= 0:
            raise ValueError(f"sizes must be positive, got input {input_size}, heatmap {heatmap_size}")
        if sigma <= 0:
            raise ValueError(f"sigma must be positive, got {sigma}")
        self.sigma = float(sigma)
        # (sx, sy): input-crop pixels per heatmap pixel
        self.stride = np.array(
            [self.input_size[1] / self.heatmap_size[1], self.input_size[0] / self.heatmap_size[0]], dtype=np.float64
        )

    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Gaussian targets for one person.

        keypoints: ``(K, 2)`` x, y in input-crop pixels; visible: ``(K,)`` 0/1.
        Returns heatmaps ``(K, h, w)`` float32 (peak 1) and target_weight ``(K,)`` float32.
        """
        keypoints = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
        visible = np.asarray(visible).reshape(-1)
        if visible.shape[0] != keypoints.shape[0]:
            raise ValueError(f"visible has {visible.shape[0]} entries for {keypoints.shape[0]} keypoints")
        h, w = self.heatmap_size
        num = keypoints.shape[0]
        heatmaps = np.zeros((num, h, w), dtype=np.float32)
        weight = (visible > 0).astype(np.float32)
        radius = self.sigma * 3
        size = int(2 * radius + 1)
        grid = np.arange(size, dtype=np.float32)
        centre = size // 2
        # the window Gaussian is the same for every joint: the centre is snapped to the grid
        gauss = np.exp(-((grid[None, :] - centre) ** 2 + (grid[:, None] - centre) ** 2) / (2 * self.sigma**2))
        for k in range(num):
            if not np.all(np.isfinite(keypoints[k])):
                weight[k] = 0.0
                continue
            mu_x = int(keypoints[k, 0] / self.stride[0] + 0.5)
            mu_y = int(keypoints[k, 1] / self.stride[1] + 0.5)
            x0, y0 = int(mu_x - radius), int(mu_y - radius)  # upper-left of the window
            x1, y1 = int(mu_x + radius + 1), int(mu_y + radius + 1)  # bottom-right, exclusive
            if x0 >= w or y0 >= h or x1 < 0 or y1 < 0:
                weight[k] = 0.0  # the whole window is outside: nothing to learn from
                continue
            if weight[k] < 0.5:
                continue
            gx0, gx1 = max(0, -x0), min(x1, w) - x0
            gy0, gy1 = max(0, -y0), min(y1, h) - y0
            heatmaps[k, max(0, y0) : min(y1, h), max(0, x0) : min(x1, w)] = gauss[gy0:gy1, gx0:gx1]
        return heatmaps, weight

    def decode(self, heatmaps: np.ndarray | torch.Tensor, method: str = "argmax") -> tuple[np.ndarray, np.ndarray]:
        """Keypoints from heatmaps.

        heatmaps: ``(B, K, h, w)``. method: ``argmax`` (argmax + quarter-pixel shift) or ``dark``.
        Returns coords ``(B, K, 2)`` float32 x, y in input-crop pixels and scores ``(B, K)`` float32
        (the heatmap maximum).
        """
        if isinstance(heatmaps, torch.Tensor):
            heatmaps = heatmaps.detach().float().cpu().numpy()
        hm = np.asarray(heatmaps, dtype=np.float32)
        if hm.ndim != 4:
            raise ValueError(f"heatmaps must be (B, K, h, w), got shape {hm.shape}")
        if method not in ("argmax", "dark"):
            raise ValueError(f"unknown decoding method {method!r}; choose 'argmax' or 'dark'")
        coords, maxvals = _argmax_coords(hm)
        if method == "argmax":
            coords = _quarter_offset(hm, coords)
        else:
            coords = _dark_refine(hm, coords)
        coords = coords * self.stride.astype(np.float32)  # heatmap pixels → input-crop pixels
        return coords.astype(np.float32), maxvals.astype(np.float32)


def _argmax_coords(hm: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Integer argmax (x, y) ``(B, K, 2)`` and max values ``(B, K)``; joints with max ≤ 0 get (0, 0)."""
    b, k, h, w = hm.shape
    flat = hm.reshape(b, k, h * w)
    idx = flat.argmax(axis=2)
    maxvals = np.take_along_axis(flat, idx[..., None], axis=2)[..., 0]
    coords = np.stack([idx % w, idx // w], axis=-1).astype(np.float32)
    coords *= (maxvals > 0)[..., None]  # the reference zeroes joints whose peak is not positive
    return coords, maxvals


def _quarter_offset(hm: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """Shift each argmax a quarter pixel toward its higher neighbour (interior pixels only)."""
    b, k, h, w = hm.shape
    out = coords.copy()
    for i in range(b):
        for j in range(k):
            px, py = int(coords[i, j, 0] + 0.5), int(coords[i, j, 1] + 0.5)
            if 1 < px < w - 1 and 1 < py < h - 1:
                dx = hm[i, j, py, px + 1] - hm[i, j, py, px - 1]
                dy = hm[i, j, py + 1, px] - hm[i, j, py - 1, px]
                out[i, j] += np.sign([dx, dy]).astype(np.float32) * 0.25
    return out


def _dark_refine(hm: np.ndarray, coords: np.ndarray) -> np.ndarray:
    """DARK: blur (kernel 11, peak preserved), log, one Newton step from the argmax."""
    b, k, h, w = hm.shape
    border = (_DARK_KERNEL - 1) // 2
    out = coords.copy()
    for i in range(b):
        for j in range(k):
            peak = hm[i, j].max()
            padded = np.zeros((h + 2 * border, w + 2 * border), dtype=np.float32)
            padded[border:-border, border:-border] = hm[i, j]
            blurred = cv2.GaussianBlur(padded, (_DARK_KERNEL, _DARK_KERNEL), 0)[border:-border, border:-border]
            bmax = blurred.max()
            if bmax > 0:
                blurred = blurred * (peak / bmax)  # keep the original peak height
            logm = np.log(np.clip(blurred, 1e-3, 50.0)).astype(np.float64)
            px, py = int(coords[i, j, 0]), int(coords[i, j, 1])
            if not (1 < px < w - 2 and 1 < py < h - 2):
                continue
            dx = 0.5 * (logm[py, px + 1] - logm[py, px - 1])
            dy = 0.5 * (logm[py + 1, px] - logm[py - 1, px])
            dxx = 0.25 * (logm[py, px + 2] - 2 * logm[py, px] + logm[py, px - 2])
            dyy = 0.25 * (logm[py + 2, px] - 2 * logm[py, px] + logm[py - 2, px])
            dxy = 0.25 * (
                logm[py + 1, px + 1] - logm[py - 1, px + 1] - logm[py + 1, px - 1] + logm[py - 1, px - 1]
            )
            det = dxx * dyy - dxy**2
            if det == 0:
                continue
            hessian = np.array([[dxx, dxy], [dxy, dyy]])
            out[i, j] -= (np.linalg.inv(hessian) @ np.array([dx, dy])).astype(np.float32)
    return out
