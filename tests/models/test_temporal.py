"""Wiring details of FAMI-Pose and TDMI that are easy to get wrong (spec checklist)."""

from __future__ import annotations

import torch

from posecli.models import build_model
from posecli.models.temporal.blocks import ChainOfBasicBlocks


def _capture(module: torch.nn.Module, store: dict, name: str) -> None:
    module.register_forward_hook(lambda m, args, out: store.__setitem__(name, (args, out)))


def test_chain_first_block_always_projects() -> None:
    chain = ChainOfBasicBlocks(8, 8, 2)
    assert chain.layers[0].downsample is not None and chain.layers[1].downsample is None


def test_fami_lcm_order_and_concats(tiny: dict) -> None:
    model = build_model("fami_hrnet_w32", **tiny).eval()
    t = model.temporal
    seen: dict = {}
    for name in ("sup_agg_block", "combined_feat_layers", "dcn_1", "dcn_2", "dcn_3", "dcn_4",
                 "init_feature_agg_block", "dcn_offset_3", "dcn_offset_4"):
        _capture(getattr(t, name), seen, name)
    frames = torch.randn(1, 5, 3, 64, 64)
    with torch.no_grad():
        model(frames)
        key = model.hrnet.forward_features(frames[:, 2])[0]
    agg_sup = seen["sup_agg_block"][1]
    # concat(agg_sup, z_t) into combined_feat_layers
    comb_in = seen["combined_feat_layers"][0][0]
    assert torch.equal(comb_in[:, :8], agg_sup) and torch.allclose(comb_in[:, 8:], key)
    # dcn_1/2 refine c; dcn_3 moves agg_sup with offsets from c; dcn_4 refines that from itself
    assert torch.equal(seen["dcn_1"][0][0], seen["combined_feat_layers"][1])
    assert torch.equal(seen["dcn_2"][0][0], seen["dcn_1"][1])
    assert torch.equal(seen["dcn_3"][0][0], agg_sup)
    assert torch.equal(seen["dcn_offset_3"][0][0], seen["dcn_2"][1])
    assert torch.equal(seen["dcn_4"][0][0], seen["dcn_3"][1])
    assert torch.equal(seen["dcn_offset_4"][0][0], seen["dcn_3"][1])
    final_in = seen["init_feature_agg_block"][0][0]  # concat(z_t, aligned)
    assert torch.allclose(final_in[:, :8], key) and torch.equal(final_in[:, 8:], seen["dcn_4"][1])
    assert t.dcn_1.padding == 3 and t.dcn_1.dilation == 3
    assert t.dcn_offset_1.conv.dilation == (3, 3) and t.dcn_offset_1.conv.out_channels == 18 * 2


def test_tdmi_wiring(tiny: dict) -> None:
    model = build_model("tdmi_hrnet_w32", **tiny).eval()
    t = model.temporal
    seen: dict = {}
    for name in ("motion_fusion_s1", "m_a_agg_s2", "m_a_dcn_s4", "motion_smooth_s2", "multimodal_fusion",
                 "all_agg_block"):
        _capture(getattr(t, name), seen, name)
    frames = torch.randn(1, 5, 3, 64, 64)
    with torch.no_grad():
        model(frames)
        taps = model.hrnet.forward_stages(frames[0])  # 4 × (5, C, h, w), frame-major
    diffs = seen["motion_fusion_s1"][0][0]
    expected = torch.cat([taps[0][i + 1] - taps[0][i] for i in range(4)])[None]
    assert torch.allclose(diffs, expected, atol=1e-6)  # stage-1 tap, consecutive differences
    guide_in = seen["m_a_agg_s2"][0][0]  # concat(stage-4 key feature, m_j)
    assert torch.allclose(guide_in[:, :8], taps[3][2:3], atol=1e-6)
    assert t.m_a_dcn_s1.padding == 1 and t.m_a_dcn_s1.dilation == 1
    assert t.m_a_dcn_offset_s1.conv.dilation == (3, 3)
    assert not hasattr(t, "motion_smooth_s1")
    fused_in = seen["multimodal_fusion"][0][0]  # concat(M⁺, A)
    assert torch.equal(fused_in[:, 8:], seen["all_agg_block"][1])
    assert not any(p.requires_grad for p in t.motion_heatmap_head.parameters())
