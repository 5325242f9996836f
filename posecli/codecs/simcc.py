"""SimCC targets and decoding: one 1-D classification vector per axis and joint.

Encoding is the Gaussian-smoothed ``sa-simdr`` label of the official SimCC (Li et al., ECCV 2022;
spec models.md §5.1): with split ratio k the x axis has ``W·k`` bins and the y axis ``H·k``; the label
is ``exp(-(i-μ)² / 2σ²) / (σ√(2π))`` with ``μ = coord·k`` (not rounded). A joint's weight is its
visibility, or 0 when the 3σ window around the rounded bin lies fully outside the bin range.

Decoding: softmax per axis, argmax / k gives input-crop pixels; the confidence is the smaller of the
two axis maxima.
"""

from __future__ import annotations

import math

import numpy as np
import torch


class SimCCCodec:
    """Encode keypoints as SimCC x/y label vectors and decode logits back to keypoints.

    input_size: ``(H, W)`` of the crop; split_ratio: bins per pixel (k); sigma: Gaussian σ in bins.
    """

    def __init__(self, input_size: tuple[int, int], split_ratio: float = 2.0, sigma: float = 6.0) -> None:
        self.input_size = (int(input_size[0]), int(input_size[1]))
        if min(self.input_size) <= 0 or split_ratio <= 0 or sigma <= 0:
            raise ValueError(f"bad SimCC codec settings: input {input_size}, ratio {split_ratio}, sigma {sigma}")
        self.split_ratio = float(split_ratio)
        self.sigma = float(sigma)
        self.num_bins_x = round(self.input_size[1] * self.split_ratio)  # W·k
        self.num_bins_y = round(self.input_size[0] * self.split_ratio)  # H·k

    def encode(self, keypoints: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Labels for one person.

        keypoints: ``(K, 2)`` x, y in input-crop pixels; visible: ``(K,)`` 0/1.
        Returns target_x ``(K, W·k)``, target_y ``(K, H·k)`` float32 and target_weight ``(K,)`` float32.
        """
        keypoints = np.asarray(keypoints, dtype=np.float64).reshape(-1, 2)
        visible = np.asarray(visible).reshape(-1)
        if visible.shape[0] != keypoints.shape[0]:
            raise ValueError(f"visible has {visible.shape[0]} entries for {keypoints.shape[0]} keypoints")
        num = keypoints.shape[0]
        weight = (visible > 0).astype(np.float32)
        target_x = np.zeros((num, self.num_bins_x), dtype=np.float32)
        target_y = np.zeros((num, self.num_bins_y), dtype=np.float32)
        radius = self.sigma * 3
        bins_x = np.arange(self.num_bins_x, dtype=np.float64)
        bins_y = np.arange(self.num_bins_y, dtype=np.float64)
        norm = 1.0 / (self.sigma * math.sqrt(2 * math.pi))
        for k in range(num):
            if not np.all(np.isfinite(keypoints[k])):
                weight[k] = 0.0
                continue
            mu_x, mu_y = keypoints[k] * self.split_ratio
            # the visibility window test is done on the rounded bin, as the reference does
            cx, cy = int(mu_x + 0.5), int(mu_y + 0.5)
            if cx - radius >= self.num_bins_x or cy - radius >= self.num_bins_y or cx + radius + 1 < 0 or cy + radius + 1 < 0:
                weight[k] = 0.0
                continue
            if weight[k] < 0.5:
                continue
            target_x[k] = norm * np.exp(-((bins_x - mu_x) ** 2) / (2 * self.sigma**2))
            target_y[k] = norm * np.exp(-((bins_y - mu_y) ** 2) / (2 * self.sigma**2))
        return target_x, target_y, weight

    def decode(
        self, simcc_x: np.ndarray | torch.Tensor, simcc_y: np.ndarray | torch.Tensor
    ) -> tuple[np.ndarray, np.ndarray]:
        """Keypoints from SimCC logits.

        simcc_x: ``(B, K, W·k)``; simcc_y: ``(B, K, H·k)``.
        Returns coords ``(B, K, 2)`` float32 x, y in input-crop pixels and scores ``(B, K)`` float32
        (``min`` of the per-axis softmax maxima).
        """
        px = _softmax(_to_numpy(simcc_x))
        py = _softmax(_to_numpy(simcc_y))
        if px.ndim != 3 or py.ndim != 3 or px.shape[:2] != py.shape[:2]:
            raise ValueError(f"simcc_x/simcc_y must be (B, K, bins) with equal B, K; got {px.shape}, {py.shape}")
        x = px.argmax(axis=2).astype(np.float32) / self.split_ratio
        y = py.argmax(axis=2).astype(np.float32) / self.split_ratio
        scores = np.minimum(px.max(axis=2), py.max(axis=2))
        return np.stack([x, y], axis=-1).astype(np.float32), scores.astype(np.float32)


def _to_numpy(values: np.ndarray | torch.Tensor) -> np.ndarray:
    if isinstance(values, torch.Tensor):
        return values.detach().float().cpu().numpy()
    return np.asarray(values, dtype=np.float32)


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, numerically stable."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    e = np.exp(shifted)
    return e / e.sum(axis=-1, keepdims=True)
