"""Every registered model, both heads, at tiny width: shapes, finiteness and gradient coverage."""

from __future__ import annotations

import pytest
import torch

from posecli.codecs import SimCCCodec
from posecli.losses import build_loss
from posecli.models import build_model, list_models

TINY = {"width": 8, "input_size": (64, 64)}


def _targets(model: torch.nn.Module, batch: int) -> dict[str, torch.Tensor]:
    cfg = model.config
    h, w = cfg.heatmap_size
    codec = SimCCCodec(cfg.input_size, cfg.simcc_split_ratio, cfg.simcc_sigma)
    tx = torch.softmax(torch.randn(batch, 17, codec.num_bins_x), -1)
    ty = torch.softmax(torch.randn(batch, 17, codec.num_bins_y), -1)
    return {
        "heatmaps": torch.rand(batch, 17, h, w),
        "target_weight": torch.ones(batch, 17),
        "simcc_x": tx,
        "simcc_y": ty,
    }


@pytest.mark.parametrize("head", ["heatmap", "simcc"])
@pytest.mark.parametrize("name", list_models())
def test_forward_backward(name: str, head: str) -> None:
    model = build_model(name, head=head, **TINY).train()
    b = 2
    frames = torch.randn(b, model.num_frames, 3, 64, 64)
    out = model(frames)
    assert out.heatmaps.shape == (b, 17, 16, 16)
    assert torch.isfinite(out.heatmaps).all()
    if head == "simcc":
        assert out.simcc_x.shape == (b, 17, 128) and out.simcc_y.shape == (b, 17, 128)  # k = 2 at 64×64
    else:
        assert out.simcc_x is None and out.simcc_y is None
    if name.startswith(("hrnet", "vitpose")):
        assert out.backbone_heatmaps is None and out.features == {}
    else:
        assert out.backbone_heatmaps.shape == (b, 17, 16, 16)
        assert bool(out.features) is not name.startswith("tar")  # MI inputs are filled in training mode
    terms = build_loss(model.config)(out, _targets(model, b))
    assert torch.isfinite(terms["loss"])
    terms["loss"].backward()
    trainable = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    assert trainable
    for pname, param in trainable:
        assert param.grad is not None, f"{pname} got no gradient"
        assert torch.isfinite(param.grad).all(), f"{pname} has a non-finite gradient"
    frozen = [p for p in model.parameters() if not p.requires_grad]
    assert all(p.grad is None for p in frozen)
    if name.startswith("fami"):
        assert all(not p.requires_grad for p in model.hrnet.parameters())  # FAMI freezes the whole HRNet
    if name.startswith("tdmi"):
        assert model.hrnet.conv1.weight.grad is not None  # TDMI fine-tunes HRNet


def test_eval_mode_has_no_features() -> None:
    model = build_model("tdmi_hrnet_w32", **TINY).eval()
    with torch.no_grad():
        out = model(torch.randn(1, 5, 3, 64, 64))
    assert out.features == {}


def test_wrong_frame_count_rejected() -> None:
    model = build_model("fami_hrnet_w32", **TINY)
    with pytest.raises(ValueError, match="expected frames"):
        model(torch.randn(1, 3, 3, 64, 64))


@pytest.mark.parametrize("bn_mode", ["update", "freeze"])
def test_frozen_backbone_batchnorm(bn_mode: str) -> None:
    model = build_model("fami_hrnet_w32", frozen_backbone_bn=bn_mode, **TINY).train()
    before = model.hrnet.bn1.running_mean.clone()
    # two clips: in training the GTM's BN layers normalise each supporting frame's batch on its own,
    # and at 64×64 its last maps are 1×1, so one clip would leave them a single value per channel
    model(torch.randn(2, 5, 3, 64, 64) + 1.0)
    changed = not torch.equal(before, model.hrnet.bn1.running_mean)
    assert changed is (bn_mode == "update")  # the released code keeps updating running stats
    assert model.hrnet.training is (bn_mode == "update")


def test_unfrozen_fami_backbone_gets_gradients() -> None:
    model = build_model("fami_hrnet_w32", freeze_backbone=False, **TINY).train()
    out = model(torch.randn(2, 5, 3, 64, 64))  # two clips: see test_frozen_backbone_batchnorm
    build_loss(model.config)(out, _targets(model, 2))["loss"].backward()
    assert model.hrnet.conv1.weight.grad is not None


# (H, W) → heatmap (h, w), side the GTM conv tower ends at, SimCC bins (x, y) with the default k
SIZES = {(384, 288): ((96, 72), 3, (432, 576)), (256, 192): ((64, 48), 2, (384, 512))}
REAL_CASES = [(name, size, "heatmap") for size in SIZES for name in list_models()] + [
    ("fami_hrnet_w48", (384, 288), "simcc"),
    ("tdmi_hrnet_w32", (256, 192), "simcc"),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "size", "head"), REAL_CASES, ids=lambda v: "x".join(map(str, v)) if
                         isinstance(v, tuple) else str(v))
def test_real_input_sizes(name: str, size: tuple[int, int], head: str) -> None:
    """Width-8 models end to end at the real crop sizes. At 384×288 the GTM tower ends at 3×3 and
    index 6 only flattens (the reference shape); at 256×192 it ends at 2×2 and is pooled (spec §12c)."""
    (h, w), gtm_side, (bins_x, bins_y) = SIZES[size]
    model = build_model(name, width=8, input_size=size, head=head).eval()
    seen: list[tuple[int, ...]] = []
    if name.startswith("fami"):
        flatten = model.temporal.feat_global_offset_layers[6]
        flatten.register_forward_hook(
            lambda m, args, out: seen.extend([tuple(args[0].shape), tuple(out.shape)])
        )
    with torch.no_grad():
        out = model(torch.randn(1, model.num_frames, 3, *size))
    assert out.heatmaps.shape == (1, 17, h, w) and torch.isfinite(out.heatmaps).all()
    if name.startswith(("hrnet", "vitpose")):
        assert out.backbone_heatmaps is None
    else:
        assert out.backbone_heatmaps.shape == (1, 17, h, w)
    if name.startswith("fami"):
        # one call per supporting frame, 16·3·3 features
        assert seen == [(1, 16, gtm_side, gtm_side), (1, 144)] * 4
    if head == "simcc":
        assert out.simcc_x.shape == (1, 17, bins_x) and out.simcc_y.shape == (1, 17, bins_y)
        assert torch.isfinite(out.simcc_x).all() and torch.isfinite(out.simcc_y).all()
    else:
        assert out.simcc_x is None
