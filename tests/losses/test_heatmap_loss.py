"""Reference joint MSE: per-joint mean, summed over joints, divided by K, no 0.5."""

from __future__ import annotations

import pytest
import torch

from posecli.losses import joint_mse_loss


def test_matches_per_joint_definition() -> None:
    pred = torch.randn(3, 4, 5, 6)
    gt = torch.rand(3, 4, 5, 6)
    weight = torch.tensor([[1.0, 0.0, 1.0, 1.0], [1.0, 1.0, 0.0, 1.0], [0.0, 0.0, 0.0, 1.0]])
    total = 0.0
    for k in range(4):
        w = weight[:, k].view(3, 1, 1)
        total += torch.nn.functional.mse_loss(pred[:, k] * w, gt[:, k] * w, reduction="mean")
    assert joint_mse_loss(pred, gt, weight).item() == pytest.approx(total.item() / 4, rel=1e-6)


def test_hand_value_and_errors() -> None:
    pred = torch.zeros(1, 2, 1, 2)
    gt = torch.tensor([[[[1.0, 1.0]], [[2.0, 0.0]]]])
    # joint 0: mean(1, 1) = 1; joint 1: mean(4, 0) = 2 → (1 + 2) / 2
    assert joint_mse_loss(pred, gt, torch.ones(1, 2)).item() == pytest.approx(1.5)
    assert joint_mse_loss(pred, gt, torch.zeros(1, 2)).item() == 0.0
    with pytest.raises(ValueError):
        joint_mse_loss(pred, gt[:, :1], torch.ones(1, 2))
