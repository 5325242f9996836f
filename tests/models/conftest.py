"""Shared helpers for the model tests: tiny sizes that keep every model fast on two CPU cores."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from posecli.models.deform import DeformConv2d

TINY = {"width": 8, "input_size": (64, 64)}


@pytest.fixture
def tiny() -> dict:
    """Overrides for a tiny model: width 8, 64×64 crops (16×16 heatmaps)."""
    return dict(TINY)


@pytest.fixture
def relclose():
    """The ``assert_relclose`` helper as a fixture."""
    return assert_relclose


def assert_relclose(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-5) -> None:
    """``a`` equals ``b`` relative to ``a``'s scale (the reference init makes outputs ~1e-6), and is not 0."""
    scale = a.abs().max()
    assert scale > 0, "comparison of all-zero tensors proves nothing"
    assert (a - b).abs().max() <= rel * scale, f"max diff {(a - b).abs().max():.3e} vs scale {scale:.3e}"


@pytest.fixture
def informative():
    """The ``informative_weights`` helper as a fixture."""
    return informative_weights


def informative_weights(model: nn.Module, seed: int = 1) -> nn.Module:
    """Re-initialise a ``VideoPoseModel`` so every input measurably moves the output; returns it in eval mode.

    The reference init (conv std 0.001, raw DCN masks ≈ 1e-11) makes the DCN outputs ≈ 0, so FAMI's
    output would not depend on the supporting frames at all. Here every Conv2d / Linear / DCN weight is
    N(0, 1/fan_in) (biases N(0, 0.1²)); offset predictors get gain 0.5 and biases U(-1, 1) (fractional
    offsets of about a pixel); mask predictors gain 0.3 and bias 1 (raw masks ≈ 1 ± 0.3). BN running
    statistics are then set from one train-mode pass on random clips, so eval-mode activations are O(1).
    """
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in model.named_modules():
            if not isinstance(module, (nn.Conv2d, nn.Linear, DeformConv2d)):
                continue
            role = "offset" if "offset" in name else "mask" if "mask" in name else ""
            gain = {"offset": 0.5, "mask": 0.3}.get(role, 1.0)
            fan_in = module.weight[0].numel()
            module.weight.copy_(torch.randn(module.weight.shape, generator=gen) * gain / math.sqrt(fan_in))
            if module.bias is None:
                continue
            if role == "mask":
                module.bias.fill_(1.0)
            elif role == "offset":
                module.bias.copy_(torch.rand(module.bias.shape, generator=gen) * 2 - 1)
            else:
                module.bias.copy_(torch.randn(module.bias.shape, generator=gen) * 0.1)
        norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        momenta = [bn.momentum for bn in norms]
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: one pass sets the running stats to its batch stats
        model.train()
        h, w = model.config.input_size
        model(torch.randn(2, model.num_frames, 3, h, w, generator=gen))
        for bn, momentum in zip(norms, momenta):
            bn.momentum = momentum
    return model.eval()


@pytest.fixture(autouse=True)
def _seed_and_threads() -> None:
    torch.manual_seed(0)
    # one intra-op thread: small convs gain nothing from two, and on a loaded 2-core machine the
    # thread pool's spin-waiting makes them ~15× slower
    torch.set_num_threads(1)
