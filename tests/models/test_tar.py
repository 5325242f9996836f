"""TAR-ViTPose temporal module against its formulas, worked by hand on small cases (mask edge cases too)."""

from __future__ import annotations

import math

import pytest
import torch

from posecli.models import build_model
from posecli.models.temporal.tar import (
    PostNormAttention,
    TarTemporal,
    WindowCrossAttention,
    attention_mask,
    scrambled_mask_source,
)


def _peaks(b: int, t: int, k: int, size: int, cell: dict[tuple[int, int], int]) -> torch.Tensor:
    """Heatmaps ``(b, t, k, size, size)`` that are 0 except a 1 on the 4×4 block of token ``cell[(t, j)]``
    (tokens of a 2×2 grid, row-major); pairs missing from ``cell`` stay flat (all 0)."""
    maps = torch.zeros(b, t, k, size, size)
    for (frame, joint), token in cell.items():
        row, col = divmod(token, 2)
        maps[:, frame, joint, row * 4 : row * 4 + 4, col * 4 : col * 4 + 4] = 1.0
    return maps


def test_mask_rows_read_the_scrambled_frame_joint_pairs() -> None:
    # every (frame, joint) heatmap lights exactly one of the 4 tokens: (3·frame + joint) mod 4
    cell = {(f, j): (3 * f + j) % 4 for f in range(5) for j in range(17)}
    mask = attention_mask(_peaks(1, 5, 17, 8, cell), (2, 2), 0.2, heads=4)
    assert mask.shape == (4, 17, 5 * 4)  # (B·heads, K, T·h·w)
    assert torch.equal(mask[0], mask[3])  # the same mask for every head
    # worked by hand: row index j·5 + s of the (T, K) block read as (K, T) → (frame, joint) = divmod(·, 17)
    for joint, slot, source in [(0, 0, (0, 0)), (0, 4, (0, 4)), (3, 4, (1, 2)), (7, 2, (2, 3)), (16, 4, (4, 16))]:
        assert scrambled_mask_source(joint, slot) == source
        open_tokens = [p for p in range(4) if not mask[0, joint, slot * 4 + p]]
        assert open_tokens == [cell[source]], (joint, slot)


def test_mask_normalises_then_resizes_bilinearly() -> None:
    # a ramp 0..7 down the rows: normalised r / (7 + 1e-6); bilinear 8 → 2 samples rows 1.5 and 5.5
    ramp = torch.arange(8.0).view(8, 1).expand(8, 8) + 100.0  # an offset the min-max removes
    maps = ramp.expand(1, 5, 17, 8, 8).clone()
    sampled_row0 = 1.5 / (7 + 1e-6)  # 0.2143
    assert sampled_row0 > 0.2
    open_at = attention_mask(maps, (2, 2), 0.2, heads=1)
    closed_at = attention_mask(maps, (2, 2), 0.22, heads=1)
    assert not open_at.any()  # both token rows ≥ 0.2
    top = closed_at[0, 0].view(5, 2, 2)[:, 0]  # (T, w): the first token row of every slot
    assert top.all() and not closed_at[0, 0].view(5, 2, 2)[:, 1].any()


def test_flat_heatmap_masks_everything() -> None:
    flat = torch.full((1, 5, 17, 8, 8), 0.3)
    assert attention_mask(flat, (2, 2), 0.2, heads=2).all()  # (m - min) / (0 + 1e-6) = 0 < 0.2


def _module(dim: int = 8, layers: int = 2) -> TarTemporal:
    torch.manual_seed(0)
    return TarTemporal(dim, 17, 5, layers=layers, heads=4, threshold=0.2).eval()


def test_fully_masked_row_gives_nan_for_the_whole_person() -> None:
    module = _module()
    feats = torch.randn(2, 5, 8, 2, 2)
    cell = {(f, j): (f + j) % 4 for f in range(5) for j in range(17)}
    maps = _peaks(2, 5, 17, 8, cell)
    with torch.no_grad():
        assert torch.isfinite(module(feats, maps)).all()
        # query joint 0 reads (frame 0, joints 0..4): make those five maps flat for person 1 only
        for joint in range(5):
            maps[1, 0, joint] = 0.0
        out = module(feats, maps)
    assert torch.isfinite(out[0]).all()  # person 0 is untouched
    assert torch.isnan(out[1]).all()  # one blocked query spreads through self-attention and GRA
    # four of the five flat: the row still has open tokens, the output stays finite
    maps[1, 0, 4] = _peaks(1, 5, 17, 8, cell)[0, 0, 4]
    with torch.no_grad():
        assert torch.isfinite(module(feats, maps)).all()


def _mha(module: torch.nn.MultiheadAttention, q: torch.Tensor, kv: torch.Tensor, blocked: torch.Tensor | None,
         heads: int) -> torch.Tensor:
    """Multi-head attention written out: the packed in-projection rows are q, k, v in that order."""
    c = q.shape[-1]
    wq, wk, wv = module.in_proj_weight.split(c)
    bq, bk, bv = module.in_proj_bias.split(c)
    d = c // heads
    qh = (q @ wq.T + bq).unflatten(-1, (heads, d)).transpose(1, 2)  # (B, heads, Q, d)
    kh = (kv @ wk.T + bk).unflatten(-1, (heads, d)).transpose(1, 2)
    vh = (kv @ wv.T + bv).unflatten(-1, (heads, d)).transpose(1, 2)
    scores = qh @ kh.transpose(-1, -2) / math.sqrt(d)  # (B, heads, Q, S)
    if blocked is not None:
        scores = scores.masked_fill(blocked.view(q.shape[0], heads, *blocked.shape[1:]), float("-inf"))
    out = (scores.softmax(-1) @ vh).transpose(1, 2).flatten(2)  # (B, Q, C)
    return out @ module.out_proj.weight.T + module.out_proj.bias


def test_forward_matches_the_written_out_formulas() -> None:
    module = _module(dim=8, layers=2)
    b, t, c, h, w = 2, 5, 8, 2, 2
    feats = torch.randn(b, t, c, h, w)
    cell = {(f, j): (2 * f + j) % 4 for f in range(5) for j in range(17)}
    maps = _peaks(b, t, 17, 8, cell) + 0.01 * torch.rand(b, t, 17, 8, 8)
    with torch.no_grad():
        got = module(feats, maps)
        blocked = attention_mask(maps, (h, w), 0.2, 4)
        # token p of a frame = the p-th run of C values of its channel-major (C, h·w) map
        tokens = torch.stack([feats[:, f].reshape(b, -1).view(b, h * w, c) for f in range(t)], 1)
        window = tokens.flatten(1, 2)  # (B, T·h·w, C)
        q = (module.query_feat.weight + module.query_pe.weight).expand(b, -1, -1)
        for i in range(2):
            cross, own, ffn = module.masked_attention_layers[i], module.self_attention_layers[i], module.ffn_layers[i]
            q = cross.norm(q + _mha(cross.mha, q, window, blocked, 4))
            q = own.norm(q + _mha(own.mha, q, q, None, 4))
            hidden = torch.nn.functional.gelu(q @ ffn.fc1.weight.T + ffn.fc1.bias)
            q = ffn.norm(q + hidden @ ffn.fc2.weight.T + ffn.fc2.bias)
        gra = module.cross_attention
        key = gra.norm(tokens[:, 2] + _mha(gra.mha, tokens[:, 2], q, None, 4))  # (B, h·w, C)
        expected = key.reshape(b, -1).view(b, c, h, w)  # the runs of C values laid back channel-major
    assert ffn.fc1.weight.shape == (16, 8)  # the 2×-wide FFN
    assert (got - expected).abs().max() <= 1e-5


def test_unmasked_threshold_equals_no_mask() -> None:
    module = _module()
    feats, maps = torch.randn(1, 5, 8, 2, 2), torch.rand(1, 5, 17, 8, 8)
    with torch.no_grad():
        module.threshold = -1.0  # nothing is below it
        masked = module(feats, maps)
        module.use_mask = False
        plain = module(feats, maps)
    assert torch.allclose(masked, plain, atol=1e-6)


@pytest.mark.parametrize("changed_slot", [0, 1, 3, 4])
def test_every_window_frame_reaches_the_key_output(changed_slot: int) -> None:
    """The TAR model reads all five crops (JTA over the whole window), unlike the single-frame ViTPose."""
    torch.manual_seed(0)
    model = build_model("tar_vitpose_s", width=16, input_size=(64, 64), decoder_channels=16, tar_layers=1).eval()
    clip = torch.randn(1, 5, 3, 64, 64)
    other = clip.clone()
    other[:, changed_slot] = torch.randn(3, 64, 64)
    with torch.no_grad():
        a, b = model(clip), model(other)
    assert torch.equal(a.backbone_heatmaps, b.backbone_heatmaps)  # the key frame's own first pass
    # relative: the decoder's N(0, 0.001) init makes heatmaps ~1e-7
    assert (a.heatmaps - b.heatmaps).abs().max() > 1e-3 * a.heatmaps.abs().max()


def test_random_decoder_maps_are_masked_out_unless_the_threshold_is_zero() -> None:
    """At the decoder's N(0, 0.001) init the first-pass maps are ~1e-6, the size of the normalisation's
    1e-6: most rows are fully masked (NaN, as the reference); threshold 0 masks nothing."""
    torch.manual_seed(0)
    clip = torch.randn(1, 5, 3, 64, 64)
    model = build_model("tar_vitpose_s", width=16, input_size=(64, 64), decoder_channels=8, tar_layers=1).eval()
    with torch.no_grad():
        assert model(clip).backbone_heatmaps.abs().max() < 1e-5
        assert torch.isnan(model(clip).heatmaps).all()
        model.temporal.threshold = 0.0
        assert torch.isfinite(model(clip).heatmaps).all()


def test_window_cross_attention_equals_nn_multihead_attention() -> None:
    """The reassociated window attention gives ``nn.MultiheadAttention``'s result, NaN rows included."""
    torch.manual_seed(0)
    layer = WindowCrossAttention(16, 4)
    reference = PostNormAttention(16, 4)
    reference.load_state_dict(layer.state_dict())
    query = torch.randn(2, 17, 16, requires_grad=True)
    window = torch.randn(2, 40, 16)
    blocked = torch.rand(2 * 4, 17, 40) < 0.5
    blocked[5, 3] = True  # person 1, head 1, query 3: a fully masked row
    got, expected = layer(query, window, blocked), reference(query, window, blocked)
    assert torch.equal(torch.isnan(got), torch.isnan(expected)) and torch.isnan(got[1, 3]).all()
    finite = ~torch.isnan(expected)
    assert (got[finite] - expected[finite]).abs().max() <= 1e-5
    assert torch.isfinite(got[0]).all()
    # the gradients agree too (training runs this path)
    blocked[5, 3] = False
    weights = torch.randn(2, 17, 16)  # a loss whose gradient is not ~0 (the LayerNorm fixes Σ out²)
    g1 = torch.autograd.grad((layer(query, window, blocked) * weights).sum(), query)[0]
    g2 = torch.autograd.grad((reference(query, window, blocked) * weights).sum(), query)[0]
    assert (g1 - g2).abs().max() <= 1e-4 * g2.abs().max()
