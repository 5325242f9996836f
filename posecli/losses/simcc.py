"""SimCC classification loss (``KLDiscretLoss`` of the official SimCC ``sa-simdr``, spec §5.1)."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor


def simcc_kl_loss(
    simcc_x: Tensor, simcc_y: Tensor, target_x: Tensor, target_y: Tensor, target_weight: Tensor
) -> Tensor:
    """KL(target ‖ softmax(logits)) per joint and axis, mean over bins, × weight, mean over batch,
    summed over x, y and joints, divided by K.

    simcc_x / target_x ``(B, K, W·k)``; simcc_y / target_y ``(B, K, H·k)``; target_weight ``(B, K)``.
    """
    num_joints = simcc_x.shape[1]
    weight = target_weight.to(simcc_x.dtype)
    total = simcc_x.new_zeros(())
    for logits, target in ((simcc_x, target_x), (simcc_y, target_y)):
        if logits.shape != target.shape:
            raise ValueError(f"SimCC logits {tuple(logits.shape)} and labels {tuple(target.shape)} differ")
        per_joint = F.kl_div(F.log_softmax(logits, dim=-1), target, reduction="none").mean(dim=-1)  # (B, K)
        total = total + (per_joint * weight).mean(dim=0).sum()
    return total / num_joints
