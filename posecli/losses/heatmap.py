"""Heatmap regression loss of the reference (``JointsMSELoss(use_target_weight=True)``, spec §6.1)."""

from __future__ import annotations

from torch import Tensor


def joint_mse_loss(pred: Tensor, target: Tensor, target_weight: Tensor) -> Tensor:
    """Target-weighted MSE: per joint the mean over B×h×w, summed over joints, divided by K.

    pred, target ``(B, K, h, w)``; target_weight ``(B, K)``. No 0.5 factor (FAMI-Pose/TDMI code);
    equal to the mean over all elements of ``((pred - target)·w)²``.
    """
    if pred.shape != target.shape:
        raise ValueError(f"heatmap prediction {tuple(pred.shape)} and target {tuple(target.shape)} differ")
    weight = target_weight.reshape(*target_weight.shape[:2], 1, 1).to(pred.dtype)
    return ((pred - target) * weight).pow(2).mean()
