"""SimCC KL loss against a hand computation."""

from __future__ import annotations

import math

import pytest
import torch

from posecli.losses import simcc_kl_loss


def test_hand_value() -> None:
    x = torch.tensor([[[0.0, 0.0]]])  # uniform → log p = log 0.5
    y = torch.tensor([[[0.0, math.log(3.0)]]])  # p = (0.25, 0.75)
    tx = torch.tensor([[[1.0, 0.0]]])
    ty = torch.tensor([[[0.5, 0.5]]])
    # x: [1·(0 − log 0.5) + 0] / 2 bins; y: [0.5(log .5 − log .25) + 0.5(log .5 − log .75)] / 2
    lx = math.log(2) / 2
    ly = (0.5 * math.log(2) + 0.5 * math.log(0.5 / 0.75)) / 2
    value = simcc_kl_loss(x, y, tx, ty, torch.ones(1, 1))
    assert value.item() == pytest.approx(lx + ly, rel=1e-6)
    assert simcc_kl_loss(x, y, tx, ty, torch.zeros(1, 1)).item() == 0.0


def test_batch_and_joint_reduction() -> None:
    x, y = torch.randn(4, 3, 10), torch.randn(4, 3, 12)
    tx, ty = torch.softmax(torch.randn(4, 3, 10), -1), torch.softmax(torch.randn(4, 3, 12), -1)
    w = torch.rand(4, 3)
    expected = 0.0
    for logits, target in ((x, tx), (y, ty)):
        for k in range(3):
            per = (target[:, k] * (target[:, k].log() - torch.log_softmax(logits[:, k], -1))).mean(-1)
            expected += (per * w[:, k]).mean()
    assert simcc_kl_loss(x, y, tx, ty, w).item() == pytest.approx(expected.item() / 3, rel=1e-5)
    with pytest.raises(ValueError):
        simcc_kl_loss(x, y, tx[..., :5], ty, w)
