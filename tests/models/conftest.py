"""Shared helpers for the model tests: tiny sizes that keep every model fast on two CPU cores."""

from __future__ import annotations

import math
from collections.abc import Callable

import pytest
import torch
from torch import nn

from posecli.models.deform import DeformConv2d
from posecli.models.temporal.fami import FamiTemporal

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


@pytest.fixture
def stressed():
    """The ``stressed_weights`` helper as a fixture."""
    return stressed_weights


OFFSET_STD = 2.0  # px: spread of the DCN offsets a stressed model predicts
OFFSET_BIAS = 2.0  # px: offset biases U(-2, 2), so sampling points sit 0-6 px away
MASK_STD = 0.5  # spread of the raw DCN masks around their bias 1 (some fall below 0)
SHIFT_STD = 2.5  # px: spread of the GTM (tx, ty)
SHIFT_BIAS = 1.5  # px: GTM biases U(-1.5, 1.5)


def stressed_weights(model: nn.Module, clips: torch.Tensor, seed: int = 0) -> nn.Module:
    """Re-initialise a ``VideoPoseModel`` so that its temporal paths move by pixels; returns it in eval mode.

    The reference init (conv std 0.001) leaves supporting and key features ~3e-8 apart, GTM shifts
    ≤ 0.01 px and DCN offsets ≤ 0.05 px, so batching or warp bugs do not show. Here:

    - every Conv2d / Linear / DCN weight is Kaiming-normal (std √(2 / fan_in)), biases N(0, 0.1²);
    - the DCN offset predictors are rescaled to an output spread of ``OFFSET_STD`` px on ``clips``
      with biases U(-``OFFSET_BIAS``, ``OFFSET_BIAS``): offsets of several pixels;
    - the raw-mask predictors to a spread of ``MASK_STD`` around a bias of 1;
    - FAMI's last GTM Linear to a (tx, ty) spread of ``SHIFT_STD`` px, biases U(-1.5, 1.5);
    - the batch-norm running statistics are those of a train-mode pass on ``clips`` (the test's own
      inputs, ``(B, T, 3, H, W)`` in the model's dtype), so eval-mode activations are O(1) on them.

    The rescaling happens inside that same pass (forward pre-hooks, in forward order), so the
    statistics downstream of a rescaled layer already see its final scale.
    """
    gen = torch.Generator().manual_seed(seed)
    dtype = clips.dtype
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, (nn.Conv2d, nn.Linear, DeformConv2d)):
                fan_in = module.weight[0].numel()
                weight = torch.randn(module.weight.shape, generator=gen, dtype=dtype) * math.sqrt(2 / fan_in)
                module.weight.copy_(weight)
                if module.bias is not None:
                    module.bias.copy_(torch.randn(module.bias.shape, generator=gen, dtype=dtype) * 0.1)
        targets: list[tuple[nn.Module, float]] = []
        for name, module in model.named_modules():
            last = name.rsplit(".", 1)[-1]
            if last.startswith(("dcn_offset", "m_a_dcn_offset")):
                conv = module.conv
                conv.bias.copy_(_uniform(conv.bias.shape, OFFSET_BIAS, gen, dtype))
                targets.append((conv, OFFSET_STD))
            elif last.startswith(("dcn_mask", "m_a_dcn_mask")):
                module.conv.bias.fill_(1.0)
                targets.append((module.conv, MASK_STD))
        temporal = getattr(model, "temporal", None)
        if isinstance(temporal, FamiTemporal):
            linear = temporal.feat_global_offset_layers[-1]
            linear.bias.copy_(_uniform(linear.bias.shape, SHIFT_BIAS, gen, dtype))
            targets.append((linear, SHIFT_STD))
        handles = [module.register_forward_pre_hook(_rescale_once(std)) for module, std in targets]
        norms = [m for m in model.modules() if isinstance(m, nn.BatchNorm2d)]
        momenta = [bn.momentum for bn in norms]
        for bn in norms:
            bn.reset_running_stats()
            bn.momentum = None  # cumulative average: the running stats become this pass's batch stats
        model.train()
        for bn in norms:
            bn.train()  # also a frozen HRNet with frozen_backbone_bn: freeze
        model(clips)
        for handle in handles:
            handle.remove()
        for bn, momentum in zip(norms, momenta):
            bn.momentum = momentum
    return model.eval()


def _uniform(shape: torch.Size, bound: float, gen: torch.Generator, dtype: torch.dtype) -> torch.Tensor:
    """U(-bound, bound) samples."""
    return (torch.rand(shape, generator=gen, dtype=dtype) * 2 - 1) * bound


def _rescale_once(std: float) -> Callable[[nn.Module, tuple[torch.Tensor, ...]], None]:
    """A forward pre-hook that, on its first call only, scales the layer's weight so that its output
    without bias has standard deviation ``std`` on the input it is about to process."""
    done: list[bool] = []

    def hook(module: nn.Module, args: tuple[torch.Tensor, ...]) -> None:
        if done:
            return
        done.append(True)
        out = module.forward(*args)  # .forward: no hooks, so no recursion
        bias = module.bias.view(1, -1, *([1] * (out.dim() - 2)))
        module.weight.mul_(std / (out - bias).std())

    return hook


@pytest.fixture(autouse=True)
def _seed_and_threads(seeded_torch: None) -> None:
    """Every model test runs with ``seeded_torch`` (tests/conftest.py)."""
