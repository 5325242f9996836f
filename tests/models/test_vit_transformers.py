"""posecli's ViTPose against Hugging Face transformers' ``VitPoseForPoseEstimation`` (optional extra).

Random small weights (every parameter and BN statistic drawn, not the init) are saved as the Hugging
Face safetensors file, imported strictly through ``posecli weights import``'s code path and run on the
same crops: the heatmaps agree to 1e-5.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from posecli.checkpoints import import_model

transformers = pytest.importorskip("transformers")


def _hf_model(dim: int, depth: int, heads: int, size: tuple[int, int]) -> torch.nn.Module:
    backbone = transformers.VitPoseBackboneConfig(
        hidden_size=dim, num_hidden_layers=depth, num_attention_heads=heads, mlp_ratio=4, image_size=list(size),
        out_indices=[depth], layer_norm_eps=1e-6, qkv_bias=True,  # ViTPose's LN eps (HF's default is 1e-12)
    )
    config = transformers.VitPoseConfig(backbone_config=backbone, use_simple_decoder=False, num_labels=17)
    model = transformers.VitPoseForPoseEstimation(config)
    gen = torch.Generator().manual_seed(0)
    with torch.no_grad():
        for name, tensor in model.state_dict().items():
            if not tensor.is_floating_point():
                continue
            draw = torch.rand(tensor.shape, generator=gen)
            if "running_var" in name or "layernorm" in name and name.endswith("weight"):
                tensor.copy_(0.5 + draw)  # positive variances, O(1) norm gains
            else:
                tensor.copy_(0.4 * (draw - 0.5))
    return model.eval()


@pytest.mark.parametrize("size", [(128, 96), (256, 192)])
def test_heatmaps_match_transformers(tmp_path: Path, size: tuple[int, int]) -> None:
    dim, depth, heads = 32, 2, 4
    reference = _hf_model(dim, depth, heads, size)
    src = tmp_path / "model.safetensors"
    save_file({k: v.contiguous() for k, v in reference.state_dict().items()}, str(src))
    grid = (size[0] // 16, size[1] // 16)
    model, report = import_model(
        src, "vitpose_b", strict=True, width=dim, vit_depth=depth, vit_heads=heads, input_size=size,
        vit_pos_grid=grid,
    )
    assert report.source_layout == "hf-vitpose"
    model.eval()
    crops = torch.randn(3, 3, *size, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        expected = reference(pixel_values=crops).heatmaps
        got = model(crops.unsqueeze(1)).heatmaps
    assert got.shape == expected.shape == (3, 17, size[0] // 4, size[1] // 4)
    assert expected.abs().max() > 1e-2  # the comparison is not between near-zero maps
    assert (got - expected).abs().max() <= 1e-5
