"""ViTPose encoder and decoder: sizes, parameter counts, token grid, position-embedding resize."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F

from posecli.models import build_model, model_config
from posecli.models.backbones.vit import ViTEncoder, resize_pos_embed, token_grid

# name → (embed dim, depth, heads, drop path, parameters, backbone parameters); ViTPose-B ≈ 90 M as published
SIZES = {
    "vitpose_s": (384, 12, 12, 0.1, 24_290_193, 21_663_360),
    "vitpose_b": (768, 12, 12, 0.3, 89_993_745, 85_794_048),
    "vitpose_l": (1024, 24, 16, 0.5, 308_543_761, 303_295_488),
    "vitpose_h": (1280, 32, 16, 0.55, 637_207_569, 630_910_720),
    "tar_vitpose_s": (384, 12, 12, 0.1, 35_551_377, 21_663_360),
    "tar_vitpose_b": (768, 12, 12, 0.3, 134_929_425, 85_794_048),
    "tar_vitpose_h": (1280, 32, 16, 0.55, 761_907_729, 630_910_720),
}


@pytest.mark.parametrize("name", sorted(SIZES))
def test_sizes_and_parameter_counts(name: str) -> None:
    dim, depth, heads, drop, total, backbone = SIZES[name]
    cfg = model_config(name)
    assert (cfg.width, cfg.vit_depth, cfg.vit_heads, cfg.vit_drop_path) == (dim, depth, heads, drop)
    assert cfg.input_size == (384, 288) and cfg.heatmap_size == (96, 72)
    assert cfg.num_frames == (5 if name.startswith("tar") else 1)
    with torch.device("meta"):  # shapes only: no memory for the large sizes
        model = build_model(name)
    assert sum(p.numel() for p in model.parameters()) == total
    assert sum(p.numel() for p in model.backbone.parameters()) == backbone
    assert model.backbone.layers[-1].drop_path.rate == pytest.approx(drop)
    assert model.backbone.layers[0].drop_path.rate == 0.0
    assert model.backbone.pos_embed.shape == (1, 16 * 12, dim)  # the 256×192 grid of the checkpoints
    assert model.keypoint_head.deconv_layers[0].weight.shape == (dim, 256, 4, 4)


def test_token_grid_follows_the_padded_patch_conv() -> None:
    assert token_grid((384, 288)) == (24, 18)
    assert token_grid((256, 192)) == (16, 12)
    encoder = ViTEncoder(16, 1, 2)
    with torch.no_grad():
        assert encoder(torch.randn(1, 3, 384, 288)).shape == (1, 16, 24, 18)


def test_pos_embed_resized_bicubically_only_off_grid() -> None:
    table = torch.randn(1, 16 * 12, 4)
    assert resize_pos_embed(table, (16, 12), (16, 12)) is table
    grid = table.view(1, 16, 12, 4).permute(0, 3, 1, 2)
    expected = F.interpolate(grid, size=(24, 18), mode="bicubic", align_corners=False).flatten(2).transpose(1, 2)
    assert torch.equal(resize_pos_embed(table, (16, 12), (24, 18)), expected)
    # and the encoder uses it: with zero patch weights its output is the normed resized table
    encoder = ViTEncoder(4, 0, 2, pos_grid=(16, 12)).eval()
    with torch.no_grad():
        encoder.patch_embed.projection.weight.zero_()
        encoder.patch_embed.projection.bias.zero_()
        encoder.pos_embed.copy_(table)
        out = encoder(torch.randn(1, 3, 384, 288))  # (1, 4, 24, 18)
    normed = F.layer_norm(expected, (4,), eps=1e-6)
    assert torch.allclose(out.flatten(2).transpose(1, 2), normed, atol=1e-5)


def test_decoder_upsamples_tokens_to_the_heatmap_once_per_crop() -> None:
    model = build_model("vitpose_b", width=16, input_size=(256, 192), decoder_channels=8).eval()
    with torch.no_grad():
        out = model(torch.randn(2, 1, 3, 256, 192))
    assert out.heatmaps.shape == (2, 17, 64, 48) and out.backbone_heatmaps is None
    crop = torch.randn(1, 3, 256, 192)
    with torch.no_grad():
        taps = model.encode_frames(crop)
        assert [tuple(t.shape) for t in taps] == [(1, 17, 64, 48)]  # single-frame ViTPose caches its heatmaps
        assert torch.allclose(taps[0], model.keypoint_head(model.backbone(crop)))
        assert torch.equal(model.backbone_pose(taps), taps[0])


def test_tar_caches_first_pass_heatmaps_with_the_tokens() -> None:
    model = build_model("tar_vitpose_b", width=16, input_size=(128, 96), decoder_channels=8, tar_layers=1).eval()
    crops = torch.randn(3, 3, 128, 96)
    with torch.no_grad():
        heat, tokens = model.encode_frames(crops)
        assert heat.shape == (3, 17, 32, 24) and tokens.shape == (3, 16, 8, 6)
        assert torch.equal(model.backbone_pose([heat, tokens]), heat)
        assert torch.allclose(heat, model.keypoint_head(model.backbone(crops)))


def test_vit_config_errors() -> None:
    with pytest.raises(ValueError, match="divisible"):
        build_model("vitpose_b", width=36, vit_heads=8)
    with pytest.raises(ValueError, match="num_frames"):
        build_model("tar_vitpose_b", width=16, num_frames=3)
    for key in ("vit_heads", "vit_depth", "tar_heads", "decoder_channels"):
        with pytest.raises(ValueError, match=f"{key} must be a positive integer"):
            model_config("tar_vitpose_b", **{key: 0})  # 0 heads once divided by zero
