"""Parameter counts and state-dict key names against the spec (models.md §2.3, §3.4, §4)."""

from __future__ import annotations

import pytest
import torch

from posecli.models import build_model
from posecli.models.backbones.hrnet import HRNet

SPEC_PARAMS = {"hrnet_w48": 63.60e6, "fami_hrnet_w48": 64.66e6, "tdmi_hrnet_w48": 66.47e6}
EXACT = {  # name: (parameters, outside HRNet, state-dict entries)
    "hrnet_w48": (63_595_745, 0, 1_754),
    "fami_hrnet_w48": (64_655_204, 1_059_459, 1_929),
    "tdmi_hrnet_w48": (66_466_819, 2_871_074, 2_192),
}


def _count(model: torch.nn.Module, outside_hrnet: bool = False) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if not (outside_hrnet and n.startswith("hrnet.")))


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(EXACT))
def test_w48_counts(name: str) -> None:
    model = build_model(name)
    params, outside, entries = EXACT[name]
    assert abs(_count(model) - SPEC_PARAMS[name]) / SPEC_PARAMS[name] < 1e-3
    assert _count(model) == params
    assert _count(model, outside_hrnet=True) == outside
    assert len(model.state_dict()) == entries
    hrnet_keys = [k for k in model.state_dict() if k.startswith("hrnet.")]
    assert len(hrnet_keys) == 1_754


def test_w32_count() -> None:
    assert sum(p.numel() for p in HRNet(32).parameters()) == pytest.approx(28.54e6, rel=1e-3)


def test_hrnet_official_keys_and_shapes() -> None:
    sd = build_model("hrnet_w48").state_dict()
    shapes = {
        "hrnet.conv1.weight": (64, 3, 3, 3),
        "hrnet.layer1.0.conv1.weight": (64, 64, 1, 1),
        "hrnet.layer1.0.downsample.0.weight": (256, 64, 1, 1),
        "hrnet.transition1.0.0.weight": (48, 256, 3, 3),
        "hrnet.transition1.1.0.0.weight": (96, 256, 3, 3),
        "hrnet.stage2.0.branches.0.0.conv1.weight": (48, 48, 3, 3),
        "hrnet.stage2.0.fuse_layers.0.1.0.weight": (48, 96, 1, 1),
        "hrnet.transition2.2.0.0.weight": (192, 96, 3, 3),
        "hrnet.transition3.3.0.0.weight": (384, 192, 3, 3),
        "hrnet.stage4.2.branches.0.3.conv1.weight": (48, 48, 3, 3),
        "hrnet.stage4.2.fuse_layers.0.3.1.weight": (48,),
        "hrnet.final_layer.weight": (17, 48, 1, 1),
        "hrnet.final_layer.bias": (17,),
    }
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key
    # the last stage-4 module fuses into the highest-resolution branch only
    assert not any(k.startswith("hrnet.stage4.2.fuse_layers.1.") for k in sd)
    assert any(k.startswith("hrnet.stage4.1.fuse_layers.3.") for k in sd)
    # an official checkpoint (bare keys) loads strictly into the backbone
    official = {k.removeprefix("hrnet."): v for k, v in sd.items()}
    HRNet(48).load_state_dict(official, strict=True)


def test_fami_keys_and_shapes() -> None:
    sd = build_model("fami_hrnet_w48").state_dict()
    tops = {k.split(".")[0] for k in sd}
    expected = {"hrnet", "feat_global_offset_layers", "sup_agg_block", "combined_feat_layers",
                "init_feature_agg_block", "agg_final_layer"}
    expected |= {f"{p}_{i}" for p in ("dcn_offset", "dcn_mask", "dcn") for i in range(1, 5)}
    assert tops == expected
    assert sum(k.startswith("feat_global_offset_layers.") for k in sd) == 59
    shapes = {
        "feat_global_offset_layers.0.layers.0.conv1.weight": (16, 48, 3, 3),
        "feat_global_offset_layers.0.layers.0.downsample.0.weight": (16, 48, 1, 1),
        "feat_global_offset_layers.5.conv.weight": (16, 16, 3, 3),
        "feat_global_offset_layers.5.conv.bias": (16,),
        "feat_global_offset_layers.5.bn.running_var": (16,),
        "feat_global_offset_layers.7.weight": (64, 144),
        "feat_global_offset_layers.8.weight": (64, 64),
        "feat_global_offset_layers.9.weight": (2, 64),
        "feat_global_offset_layers.9.bias": (2,),
        "combined_feat_layers.layers.0.conv1.weight": (48, 96, 3, 3),
        "combined_feat_layers.layers.0.downsample.0.weight": (48, 96, 1, 1),
        "dcn_offset_3.conv.weight": (216, 48, 3, 3),
        "dcn_offset_3.conv.bias": (216,),
        "dcn_mask_4.conv.weight": (108, 48, 3, 3),
        "dcn_1.weight": (48, 48, 3, 3),
        "dcn_1.bias": (48,),
        "sup_agg_block.layers.0.conv1.weight": (48, 192, 3, 3),
        "sup_agg_block.layers.1.conv1.weight": (48, 48, 3, 3),
        "init_feature_agg_block.layers.2.bn2.weight": (48,),
        "agg_final_layer.weight": (17, 48, 3, 3),
        "agg_final_layer.bias": (17,),
    }
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key
    assert not any(".bn." in k for k in sd if k.startswith("dcn_"))  # offset/mask convs have no BN
    assert "sup_agg_block.layers.1.downsample.0.weight" not in sd  # only the first block projects


def test_tdmi_keys_and_shapes() -> None:
    sd = build_model("tdmi_hrnet_w48").state_dict()
    tops = {k.split(".")[0] for k in sd}
    expected = {"hrnet", "sup_agg", "combined_feat_layers", "all_agg_block", "use_motion_structure",
                "noisy_motion_structure", "multimodal_fusion", "heatmap_head", "motion_heatmap_head"}
    expected |= {f"{p}_{i}" for p in ("dcn_offset", "dcn_mask", "dcn") for i in range(1, 5)}
    expected |= {f"{p}_s{j}" for p in ("motion_fusion", "m_a_agg", "m_a_dcn_offset", "m_a_dcn_mask", "m_a_dcn")
                 for j in range(1, 5)}
    expected |= {f"motion_smooth_s{j}" for j in range(2, 5)}
    assert tops == expected
    shapes = {
        "use_motion_structure.0.weight": (128, 48),
        "use_motion_structure.2.weight": (48, 128),
        "noisy_motion_structure.2.bias": (48,),
        "m_a_dcn_offset_s2.conv.weight": (216, 48, 3, 3),
        "m_a_dcn_mask_s4.conv.bias": (108,),
        "m_a_dcn_s1.weight": (48, 48, 3, 3),
        "motion_fusion_s3.layers.0.conv1.weight": (48, 192, 3, 3),
        "m_a_agg_s1.layers.0.downsample.0.weight": (48, 96, 1, 1),
        "motion_smooth_s2.layers.0.downsample.0.weight": (48, 48, 1, 1),
        "multimodal_fusion.0.layers.2.conv2.weight": (48, 48, 3, 3),
        "heatmap_head.weight": (17, 48, 3, 3),
        "motion_heatmap_head.bias": (17,),
    }
    for key, shape in shapes.items():
        assert tuple(sd[key].shape) == shape, key


@pytest.mark.parametrize("name", ["fami_hrnet_w32", "tdmi_hrnet_w32", "hrnet_w32"])
def test_reference_layout_round_trip(name: str) -> None:
    """A state dict in the reference layout loads strictly and reproduces the outputs."""
    kwargs = {"width": 8, "input_size": (64, 64), "head": "simcc"}
    src = build_model(name, **kwargs).eval()
    dst = build_model(name, **kwargs).eval()
    sd = src.state_dict()
    assert not any(k.startswith(("temporal.", "head.")) for k in sd)
    assert "mlp_head_x.weight" in sd
    dst.load_state_dict(sd, strict=True)
    frames = torch.randn(1, src.num_frames, 3, 64, 64)
    with torch.no_grad():
        a, b = src(frames), dst(frames)
    assert torch.equal(a.heatmaps, b.heatmaps) and torch.equal(a.simcc_x, b.simcc_x)
    with pytest.raises(RuntimeError, match="Missing"):
        dst.load_state_dict({k: v for k, v in sd.items() if not k.startswith("mlp_head_y")}, strict=True)
