"""Wiring details of FAMI-Pose and TDMI that are easy to get wrong (spec §3.2, §4, checklist).

Forward hooks capture what each sub-module receives; the models get ``informative_weights`` so that
every compared tensor is O(1) and distinct (with the reference init most of them are ≈ 0).
"""

from __future__ import annotations

import pytest
import torch
from torchvision.ops import deform_conv2d

from posecli.models import build_model
from posecli.models.temporal.blocks import ChainOfBasicBlocks
from posecli.models.temporal.gtm import gtm_matrix, warp_affine

C = 8  # channels of the tiny models


def _hooks(module: torch.nn.Module, names: list[str]) -> dict:
    """Register forward hooks on ``module.<name>``; the dict fills with name → (inputs, output)."""
    seen: dict = {}
    for name in names:
        getattr(module, name).register_forward_hook(
            lambda m, args, out, name=name: seen.__setitem__(name, (args, out))
        )
    return seen


def _inp(seen: dict, name: str, i: int = 0) -> torch.Tensor:
    return seen[name][0][i]


def _out(seen: dict, name: str) -> torch.Tensor:
    return seen[name][1]


def _close(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-5) -> None:
    assert a.shape == b.shape, (a.shape, b.shape)
    scale = b.abs().max()
    diff = (a - b).abs().max()
    assert scale > 0 and diff <= rel * scale, f"max diff {diff:.3e} vs {scale:.3e}"


def test_chain_first_block_always_projects() -> None:
    chain = ChainOfBasicBlocks(8, 8, 2)
    assert chain.layers[0].downsample is not None and chain.layers[1].downsample is None


LCM = [f"{kind}_{i}" for kind in ("dcn", "dcn_offset", "dcn_mask") for i in range(1, 5)]


@pytest.mark.parametrize(
    ("name", "agg"), [("fami_hrnet_w32", "sup_agg_block"), ("tdmi_hrnet_w32", "sup_agg")]
)
def test_lcm_raw_masks_offsets_and_guides(name: str, agg: str, tiny: dict, informative) -> None:
    """Each dcn_i gets dcn_offset_i's and dcn_mask_i's raw outputs, computed from the right guide:
    dcn_1, dcn_2 refine c (offsets from c); dcn_3 moves agg_sup with offsets from c; dcn_4 from a."""
    model = informative(build_model(name, **tiny))
    t = model.temporal
    seen = _hooks(t, [*LCM, agg, "combined_feat_layers"])
    with torch.no_grad():
        model(torch.randn(1, 5, 3, 64, 64))
    c0, agg_sup = _out(seen, "combined_feat_layers"), _out(seen, agg)
    # (what dcn_i deforms, the guide its offsets and masks come from)
    expected = {
        1: (c0, c0),
        2: (_out(seen, "dcn_1"), _out(seen, "dcn_1")),
        3: (agg_sup, _out(seen, "dcn_2")),
        4: (_out(seen, "dcn_3"), _out(seen, "dcn_3")),
    }
    for i, (x, guide) in expected.items():
        dcn_in = seen[f"dcn_{i}"][0]
        assert torch.equal(dcn_in[0], x), f"dcn_{i} deforms the wrong feature"
        assert torch.equal(_inp(seen, f"dcn_offset_{i}"), guide), f"dcn_offset_{i} reads the wrong guide"
        assert torch.equal(_inp(seen, f"dcn_mask_{i}"), guide), f"dcn_mask_{i} reads the wrong guide"
        assert torch.equal(dcn_in[1], _out(seen, f"dcn_offset_{i}")), f"dcn_{i} offsets not dcn_offset_{i}'s"
        mask = _out(seen, f"dcn_mask_{i}")
        assert torch.equal(dcn_in[2], mask), f"dcn_{i} mask is not dcn_mask_{i}'s raw output"
        assert (mask > 1).any(), "masks outside (0, 1) are needed to tell raw from sigmoid"
        dcn = getattr(t, f"dcn_{i}")
        # the DCN itself uses the mask raw, as torchvision's modulated deform_conv2d, padding 3 dilation 3
        ref = deform_conv2d(x, dcn_in[1], dcn.weight, dcn.bias, padding=3, dilation=3, mask=mask)
        _close(_out(seen, f"dcn_{i}"), ref, 1e-4)
    assert t.dcn_offset_1.conv.dilation == (3, 3) and t.dcn_offset_1.conv.out_channels == 18 * 2


def test_fami_gtm_and_support_aggregation_order(tiny: dict, informative) -> None:
    """The GTM reads z_{t+δ} − z_t, one call per frame, and sup_agg_block the warped frames t−2, t−1,
    t+1, t+2."""
    model = informative(build_model("fami_hrnet_w32", **tiny))
    t = model.temporal
    seen = _hooks(t, ["sup_agg_block", "combined_feat_layers", "init_feature_agg_block", "dcn_4"])
    gtm_calls: list = []
    t.feat_global_offset_layers.register_forward_hook(lambda m, args, out: gtm_calls.append((args[0], out)))
    frames = torch.randn(1, 5, 3, 64, 64)
    with torch.no_grad():
        model(frames)
        feats = model.hrnet.forward_features(frames[0])[0]  # (5, C, h, w), frames t-2..t+2
    support = feats[[0, 1, 3, 4]]
    key = feats[2:3]
    assert len(gtm_calls) == 4  # one call per supporting frame, in frame order
    for (gtm_in, _), frame in zip(gtm_calls, support):
        _close(gtm_in, frame[None] - key)  # difference, support minus key
    params = torch.cat([out for _, out in gtm_calls])  # (4, 2), one (tx, ty) per supporting frame
    assert params.abs().min() > 0.01  # a real, per-frame warp
    warped = warp_affine(support, gtm_matrix(params, key.shape[-2:], "translation"))
    _close(_inp(seen, "sup_agg_block"), warped.reshape(1, 4 * C, *key.shape[-2:]))
    # with the last GTM Linear zeroed the warp is the identity: the concat is the raw frames in order
    with torch.no_grad():
        t.feat_global_offset_layers[9].weight.zero_()
        t.feat_global_offset_layers[9].bias.zero_()
        model(frames)
    _close(_inp(seen, "sup_agg_block"), torch.cat(list(support))[None])
    agg_sup = _out(seen, "sup_agg_block")
    comb_in = _inp(seen, "combined_feat_layers")  # concat(agg_sup, z_t)
    assert torch.equal(comb_in[:, :C], agg_sup)
    _close(comb_in[:, C:], key)
    final_in = _inp(seen, "init_feature_agg_block")  # concat(z_t, aligned)
    _close(final_in[:, :C], key)
    assert torch.equal(final_in[:, C:], _out(seen, "dcn_4"))


def test_fami_training_features(tiny: dict, informative) -> None:
    model = informative(build_model("fami_hrnet_w32", **tiny)).train()
    seen = _hooks(model.temporal, ["sup_agg_block", "init_feature_agg_block", "combined_feat_layers"])
    out = model(torch.randn(2, 5, 3, 64, 64))  # two clips (FAMI's per-frame GTM in training)
    assert torch.equal(out.features["agg_sup"], _out(seen, "sup_agg_block"))
    assert torch.equal(out.features["agg_final"], _out(seen, "init_feature_agg_block"))
    assert torch.equal(out.features["key"], _inp(seen, "combined_feat_layers")[:, C:])


TDMI_HOOKS = [
    "sup_agg", "combined_feat_layers", "all_agg_block", "dcn_4", "use_motion_structure",
    "noisy_motion_structure", "multimodal_fusion", "heatmap_head",
    *(f"{kind}_s{j}" for kind in ("motion_fusion", "m_a_agg", "m_a_dcn_offset", "m_a_dcn_mask", "m_a_dcn")
      for j in range(1, 5)),
    *(f"motion_smooth_s{j}" for j in range(2, 5)),
]


def test_tdmi_wiring(tiny: dict, informative) -> None:
    model = informative(build_model("tdmi_hrnet_w32", **tiny))
    t = model.temporal
    seen = _hooks(t, TDMI_HOOKS)
    frames = torch.randn(1, 5, 3, 64, 64)
    with torch.no_grad():
        model(frames)
        taps = model.hrnet.forward_stages(frames[0])  # 4 × (5, C, h, w), frames t-2..t+2
    key4 = taps[3][2:3]
    # appearance: raw stage-4 supporting features t-2, t-1, t+1, t+2; concat(agg_sup, z_t); (z_t, aligned)
    _close(_inp(seen, "sup_agg"), torch.cat([taps[3][i] for i in (0, 1, 3, 4)])[None])
    comb_in = _inp(seen, "combined_feat_layers")
    assert torch.equal(comb_in[:, :C], _out(seen, "sup_agg"))
    _close(comb_in[:, C:], key4)
    all_in = _inp(seen, "all_agg_block")
    _close(all_in[:, :C], key4)
    assert torch.equal(all_in[:, C:], _out(seen, "dcn_4"))
    # TDE per stage: consecutive differences of that stage's tap; guide concat(stage-4 key, m_j); raw masks
    for j in range(1, 5):
        tap = taps[j - 1]
        _close(_inp(seen, f"motion_fusion_s{j}"), torch.cat([tap[i + 1] - tap[i] for i in range(4)])[None])
        m_j = _out(seen, f"motion_fusion_s{j}")
        guide_in = _inp(seen, f"m_a_agg_s{j}")
        _close(guide_in[:, :C], key4)
        assert torch.equal(guide_in[:, C:], m_j)
        g_j = _out(seen, f"m_a_agg_s{j}")
        assert torch.equal(_inp(seen, f"m_a_dcn_offset_s{j}"), g_j)
        assert torch.equal(_inp(seen, f"m_a_dcn_mask_s{j}"), g_j)
        dcn_in = seen[f"m_a_dcn_s{j}"][0]
        assert torch.equal(dcn_in[0], m_j)
        assert torch.equal(dcn_in[1], _out(seen, f"m_a_dcn_offset_s{j}"))
        assert torch.equal(dcn_in[2], _out(seen, f"m_a_dcn_mask_s{j}"))  # raw, no sigmoid
        dcn = getattr(t, f"m_a_dcn_s{j}")
        ref = deform_conv2d(m_j, dcn_in[1], dcn.weight, dcn.bias, padding=1, dilation=1, mask=dcn_in[2])
        _close(_out(seen, f"m_a_dcn_s{j}"), ref, 1e-4)
    # progressive accumulation: M_j = motion_smooth_sj(M_{j-1} + m̂_j), M_1 = m̂_1
    running = _out(seen, "m_a_dcn_s1")
    for j in range(2, 5):
        _close(_inp(seen, f"motion_smooth_s{j}"), running + _out(seen, f"m_a_dcn_s{j}"))
        running = _out(seen, f"motion_smooth_s{j}")
    motion = running
    # RDM: global average pool of M → independent channel masks; fusion input concat(M⁺, A)
    _close(_inp(seen, "use_motion_structure"), motion.mean(dim=(2, 3)))
    _close(_inp(seen, "noisy_motion_structure"), motion.mean(dim=(2, 3)))
    useful = _out(seen, "use_motion_structure")[:, :, None, None] * motion
    fused_in = _inp(seen, "multimodal_fusion")
    _close(fused_in[:, :C], useful)
    assert torch.equal(fused_in[:, C:], _out(seen, "all_agg_block"))
    assert torch.equal(_inp(seen, "heatmap_head"), _out(seen, "multimodal_fusion"))
    assert t.m_a_dcn_s1.padding == 1 and t.m_a_dcn_s1.dilation == 1
    assert t.m_a_dcn_offset_s1.conv.dilation == (3, 3)
    assert not hasattr(t, "motion_smooth_s1")
    assert not any(p.requires_grad for p in t.motion_heatmap_head.parameters())


def test_tdmi_training_features(tiny: dict, informative) -> None:
    model = informative(build_model("tdmi_hrnet_w32", **tiny)).train()
    seen = _hooks(model.temporal, TDMI_HOOKS)
    out = model(torch.randn(1, 5, 3, 64, 64))
    f = out.features
    motion = _out(seen, "motion_smooth_s4")
    assert torch.equal(f["motion"], motion)
    _close(f["motion_useful"], _out(seen, "use_motion_structure")[:, :, None, None] * motion)
    _close(f["motion_noisy"], _out(seen, "noisy_motion_structure")[:, :, None, None] * motion)
    assert not torch.allclose(f["motion_useful"], f["motion_noisy"])
    assert torch.equal(f["appearance"], _out(seen, "all_agg_block"))
    assert torch.equal(f["fused"], _out(seen, "multimodal_fusion"))
    assert torch.equal(_inp(seen, "multimodal_fusion")[:, :C], f["motion_useful"])


@pytest.mark.parametrize(
    ("name", "overrides", "names"),
    [
        ("fami_hrnet_w32", {}, ("key", "agg_sup", "agg_final")),
        ("fami_hrnet_w32", {"freeze_backbone": False}, ("key", "agg_sup", "agg_final")),
        ("tdmi_hrnet_w32", {}, ("motion_useful", "appearance")),
    ],
)
def test_label_maps_are_detached_final_layer_outputs(name: str, overrides: dict, names: tuple, tiny: dict,
                                                     informative) -> None:
    """features["label_X"] = hrnet.final_layer(features["X"]), carrying no gradient (spec §6.2.4)."""
    model = informative(build_model(name, **overrides, **tiny)).train()
    out = model(torch.randn(2, 5, 3, 64, 64))  # two clips (FAMI's per-frame GTM in training)
    assert {k for k in out.features if k.startswith("label_")} == {f"label_{n}" for n in names}
    for n in names:
        label = out.features[f"label_{n}"]
        # the feature itself carries a gradient (except FAMI's key feature from a frozen HRNet)
        assert out.features[n].requires_grad is not (n == "key" and model.backbone_frozen)
        assert not label.requires_grad and label.grad_fn is None, f"label_{n} carries a gradient"
        with torch.no_grad():
            expected = model.hrnet.final_layer(out.features[n])
        assert label.shape == (2, 17, 16, 16)
        _close(label, expected)
    others = [out.features[n] for n in names]
    for i, a in enumerate(others):  # distinct features, so a swapped name would be caught
        for b in others[i + 1 :]:
            assert not torch.allclose(a, b)
