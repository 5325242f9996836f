"""Initialisation of the temporal modules (spec §3.3, §4, §12a), checked through ``build_model``.

Every temporal ``nn.Conv2d`` weight ~ N(0, init_std = 0.001) with bias 0; BN γ 1, β 0; ``nn.Linear`` and
``DeformConv2d`` weights keep PyTorch's default kaiming-uniform(a=√5), i.e. U(±1/√fan_in), with bias 0;
TDMI's unused ``motion_heatmap_head`` is Kaiming-normal (fan_out); the affine GTM's last Linear starts at 0
(identity warp). Sample statistics are compared within 6 standard errors of their own sample size.
"""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from posecli.models import build_model
from posecli.models.deform import DeformConv2d

Z = 6.0  # tolerance in standard errors


def _fan_in(weight: torch.Tensor) -> int:
    return weight[0].numel()


def _assert_normal(name: str, weight: torch.Tensor, std: float) -> None:
    """Sample std of N(0, std²) draws: relative standard error 1/√(2n); mean: std/√n."""
    w, n = weight.detach().double(), weight.numel()
    message = f"{name}: std {w.std().item():.3g} vs {std:.3g}"
    assert abs(w.std().item() / std - 1) < Z / math.sqrt(2 * n), message
    assert abs(w.mean().item()) < Z * std / math.sqrt(n), f"{name}: mean {w.mean().item():.3g}"


def _assert_default_uniform(name: str, weight: torch.Tensor) -> None:
    """PyTorch's default: U(±1/√fan_in), std 1/√(3·fan_in); sample-std relative SE ≈ 0.447/√n."""
    w, n = weight.detach().double(), weight.numel()
    bound = 1 / math.sqrt(_fan_in(weight))
    assert w.abs().max().item() <= bound, f"{name}: |w| exceeds the default bound 1/√fan_in"
    expected = bound / math.sqrt(3)
    assert abs(w.std().item() / expected - 1) < Z * 0.447 / math.sqrt(n), f"{name}: std {w.std().item():.3g}"


def _zero_bias(name: str, module: nn.Module) -> None:
    assert module.bias is not None and not module.bias.any(), f"{name}: bias is not 0"


@pytest.mark.parametrize("name", ["fami_hrnet_w32", "tdmi_hrnet_w32"])
def test_temporal_init(name: str, tiny: dict) -> None:
    model = build_model(name, **tiny)
    kinds = {"conv": 0, "bn": 0, "linear": 0, "dcn": 0}
    pooled = []
    for mname, m in model.temporal.named_modules():
        if isinstance(m, nn.Conv2d):
            if mname == "motion_heatmap_head":  # Kaiming-normal, fan_out, ReLU gain (spec §4.5)
                fan_out = m.weight.shape[0] * m.weight[0, 0].numel()
                _assert_normal(mname, m.weight, math.sqrt(2 / fan_out))
            else:
                _assert_normal(mname, m.weight, 0.001)
                pooled.append(m.weight.detach().flatten())
            if m.bias is not None:
                _zero_bias(mname, m)
            kinds["conv"] += 1
        elif isinstance(m, nn.BatchNorm2d):
            assert torch.equal(m.weight, torch.ones_like(m.weight)) and not m.bias.any(), mname
            assert not m.running_mean.any(), mname
            assert torch.equal(m.running_var, torch.ones_like(m.running_var)), mname
            kinds["bn"] += 1
        elif isinstance(m, (nn.Linear, DeformConv2d)):
            _assert_default_uniform(mname, m.weight)
            _zero_bias(mname, m)
            kinds["linear" if isinstance(m, nn.Linear) else "dcn"] += 1
    assert all(kinds.values()), kinds  # every kind of layer was seen
    # all temporal convs together: a tight check of the std itself
    allw = torch.cat(pooled).double()
    assert abs(allw.std().item() / 0.001 - 1) < Z / math.sqrt(2 * allw.numel()) + 1e-3


def test_init_std_is_the_config_value(tiny: dict) -> None:
    model = build_model("fami_hrnet_w32", init_std=0.01, **tiny)
    _assert_normal("dcn_offset_1", model.temporal.dcn_offset_1.conv.weight, 0.01)
    _assert_normal("agg_final_layer", model.temporal.agg_final_layer.weight, 0.01)


def test_hrnet_init(tiny: dict) -> None:
    """The builder also applies the official HRNet init: conv N(0, 0.001), final_layer bias 0, BN 1/0."""
    model = build_model("hrnet_w32", **tiny)
    convs = [m for m in model.hrnet.modules() if isinstance(m, nn.Conv2d)]
    weights = torch.cat([m.weight.detach().flatten() for m in convs]).double()
    assert abs(weights.std().item() / 0.001 - 1) < 0.01
    assert not model.hrnet.final_layer.bias.any()
    assert all(torch.equal(m.weight, torch.ones_like(m.weight)) and not m.bias.any()
               for m in model.hrnet.modules() if isinstance(m, nn.BatchNorm2d))


@pytest.mark.parametrize("gtm", ["translation", "affine"])
def test_gtm_last_linear_init(gtm: str, tiny: dict) -> None:
    """affine: the last GTM Linear (6, 64) is zero, so the GTM starts at the identity whatever its input;
    translation keeps the default init (2, 64). The Linears before it keep the default either way."""
    model = build_model("fami_hrnet_w32", gtm=gtm, **tiny)
    layers = model.temporal.feat_global_offset_layers
    last = layers[9]
    assert last.weight.shape == ((6, 64) if gtm == "affine" else (2, 64))
    for i in (7, 8):
        _assert_default_uniform(f"gtm.{i}", layers[i].weight)
        _zero_bias(f"gtm.{i}", layers[i])
    _zero_bias("gtm.9", last)
    if gtm == "affine":
        assert not last.weight.any()
        key, support = torch.randn(2, 8, 16, 16), torch.randn(2, 4, 8, 16, 16)
        with torch.no_grad():
            aligned, matrix = model.temporal.align(key, support)
        assert torch.equal(matrix, torch.eye(2, 3).expand(2, 4, 2, 3))
        assert torch.allclose(aligned, support, atol=1e-4)
    else:
        _assert_default_uniform("gtm.9", last.weight)
