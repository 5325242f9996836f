"""ViTPose / TAR-ViTPose checkpoint import: state dicts with exactly the upstream names and shapes, strict.

The names come from the upstream modules: mmpretrain ``VisionTransformer`` + mmpose ``HeatmapHead``
(mmpose 1.x, and inside TAR-ViTPose twice: ``model.*`` and the ``backbone`` / ``heatmap_head`` aliases),
the original ViTPose ``ViT`` (``blocks``, ``last_norm``, a class-token row in ``pos_embed``) and Hugging
Face ``VitPoseForPoseEstimation``. The big sizes are checked on meta tensors (shapes only).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from posecli.checkpoints import import_checkpoint, import_model, load_checkpoint, remap_keys
from posecli.errors import PoseCliError
from posecli.models import build_model

Shape = tuple[int, ...]
SIZES = {"s": (384, 12), "b": (768, 12), "l": (1024, 24), "h": (1280, 32)}


def _mmpretrain(c: int, depth: int, prefix: str, tokens: int = 192) -> Iterator[tuple[str, Shape]]:
    yield f"{prefix}pos_embed", (1, tokens, c)
    yield f"{prefix}patch_embed.projection.weight", (c, 3, 16, 16)
    yield f"{prefix}patch_embed.projection.bias", (c,)
    for i in range(depth):
        p = f"{prefix}layers.{i}."
        for norm in ("ln1", "ln2"):
            yield f"{p}{norm}.weight", (c,)
            yield f"{p}{norm}.bias", (c,)
        yield f"{p}attn.qkv.weight", (3 * c, c)
        yield f"{p}attn.qkv.bias", (3 * c,)
        yield f"{p}attn.proj.weight", (c, c)
        yield f"{p}attn.proj.bias", (c,)
        yield f"{p}ffn.layers.0.0.weight", (4 * c, c)
        yield f"{p}ffn.layers.0.0.bias", (4 * c,)
        yield f"{p}ffn.layers.1.weight", (c, 4 * c)
        yield f"{p}ffn.layers.1.bias", (c,)
    yield f"{prefix}ln1.weight", (c,)
    yield f"{prefix}ln1.bias", (c,)


def _bn(prefix: str, n: int = 256) -> Iterator[tuple[str, Shape]]:
    for name in ("weight", "bias", "running_mean", "running_var"):
        yield f"{prefix}{name}", (n,)
    yield f"{prefix}num_batches_tracked", ()


def _deconvs(c: int, prefix: str) -> Iterator[tuple[str, Shape]]:
    yield f"{prefix}0.weight", (c, 256, 4, 4)
    yield from _bn(f"{prefix}1.")
    yield f"{prefix}3.weight", (256, 256, 4, 4)
    yield from _bn(f"{prefix}4.")


def _final(prefix: str) -> Iterator[tuple[str, Shape]]:
    yield f"{prefix}weight", (17, 256, 1, 1)
    yield f"{prefix}bias", (17,)


def _tar_modules(c: int, layers: int = 6) -> Iterator[tuple[str, Shape]]:
    yield "query_feat.weight", (17, c)
    yield "query_pe.weight", (17, c)

    def attention(prefix: str) -> Iterator[tuple[str, Shape]]:
        yield f"{prefix}mha.in_proj_weight", (3 * c, c)
        yield f"{prefix}mha.in_proj_bias", (3 * c,)
        yield f"{prefix}mha.out_proj.weight", (c, c)
        yield f"{prefix}mha.out_proj.bias", (c,)
        yield f"{prefix}norm.weight", (c,)
        yield f"{prefix}norm.bias", (c,)

    for i in range(layers):
        yield from attention(f"masked_attention_layers.{i}.")
        yield from attention(f"self_attention_layers.{i}.")
        yield f"ffn_layers.{i}.fc1.weight", (2 * c, c)
        yield f"ffn_layers.{i}.fc1.bias", (2 * c,)
        yield f"ffn_layers.{i}.fc2.weight", (c, 2 * c)
        yield f"ffn_layers.{i}.fc2.bias", (c,)
        yield f"ffn_layers.{i}.norm.weight", (c,)
        yield f"ffn_layers.{i}.norm.bias", (c,)
    yield from attention("cross_attention.")


def mmpose_names(c: int, depth: int) -> list[tuple[str, Shape]]:
    """mmpose 1.x ``TopdownPoseEstimator`` with the ViTPose backbone and ``HeatmapHead``."""
    return [*_mmpretrain(c, depth, "backbone."), *_deconvs(c, "head.deconv_layers."), *_final("head.final_layer.")]


def tar_names(c: int, depth: int, layers: int = 6) -> list[tuple[str, Shape]]:
    """``TAR_ViTPose.state_dict()``: ``model`` (the mmpose estimator), its aliases, then the TAR modules."""
    return [
        *_mmpretrain(c, depth, "model.backbone."), *_deconvs(c, "model.head.deconv_layers."),
        *_final("model.head.final_layer."), *_mmpretrain(c, depth, "backbone."),
        *_deconvs(c, "heatmap_head.0."), *_final("heatmap_head.1."), *_tar_modules(c, layers),
    ]


def official_names(c: int, depth: int, tokens: int = 192) -> list[tuple[str, Shape]]:
    """Original ViTPose (mmpose 0.x ``ViT`` + ``TopdownHeatmapSimpleHead``)."""
    out: list[tuple[str, Shape]] = [
        ("backbone.pos_embed", (1, tokens + 1, c)),
        ("backbone.patch_embed.proj.weight", (c, 3, 16, 16)),
        ("backbone.patch_embed.proj.bias", (c,)),
    ]
    for i in range(depth):
        p = f"backbone.blocks.{i}."
        out += [(f"{p}norm1.weight", (c,)), (f"{p}norm1.bias", (c,)), (f"{p}attn.qkv.weight", (3 * c, c)),
                (f"{p}attn.qkv.bias", (3 * c,)), (f"{p}attn.proj.weight", (c, c)), (f"{p}attn.proj.bias", (c,)),
                (f"{p}norm2.weight", (c,)), (f"{p}norm2.bias", (c,)), (f"{p}mlp.fc1.weight", (4 * c, c)),
                (f"{p}mlp.fc1.bias", (4 * c,)), (f"{p}mlp.fc2.weight", (c, 4 * c)), (f"{p}mlp.fc2.bias", (c,))]
    out += [("backbone.last_norm.weight", (c,)), ("backbone.last_norm.bias", (c,))]
    return out + [*_deconvs(c, "keypoint_head.deconv_layers."), *_final("keypoint_head.final_layer.")]


def hf_names(c: int, depth: int, tokens: int = 192) -> list[tuple[str, Shape]]:
    """Hugging Face ``VitPoseForPoseEstimation`` with the classic decoder."""
    out: list[tuple[str, Shape]] = [
        ("backbone.embeddings.position_embeddings", (1, tokens + 1, c)),
        ("backbone.embeddings.patch_embeddings.projection.weight", (c, 3, 16, 16)),
        ("backbone.embeddings.patch_embeddings.projection.bias", (c,)),
    ]
    for i in range(depth):
        p = f"backbone.encoder.layer.{i}."
        for name in ("query", "key", "value"):
            out += [(f"{p}attention.attention.{name}.weight", (c, c)), (f"{p}attention.attention.{name}.bias", (c,))]
        out += [(f"{p}attention.output.dense.weight", (c, c)), (f"{p}attention.output.dense.bias", (c,)),
                (f"{p}mlp.fc1.weight", (4 * c, c)), (f"{p}mlp.fc1.bias", (4 * c,)),
                (f"{p}mlp.fc2.weight", (c, 4 * c)), (f"{p}mlp.fc2.bias", (c,))]
        for norm in ("layernorm_before", "layernorm_after"):
            out += [(f"{p}{norm}.weight", (c,)), (f"{p}{norm}.bias", (c,))]
    out += [("backbone.layernorm.weight", (c,)), ("backbone.layernorm.bias", (c,)),
            ("head.deconv1.weight", (c, 256, 4, 4)), *_bn("head.batchnorm1."),
            ("head.deconv2.weight", (256, 256, 4, 4)), *_bn("head.batchnorm2."),
            ("head.conv.weight", (17, 256, 1, 1)), ("head.conv.bias", (17,))]
    return out


LAYOUTS = {"mmpose-vitpose": mmpose_names, "official-vitpose": official_names, "hf-vitpose": hf_names}


def _meta_state(names: list[tuple[str, Shape]]) -> dict[str, torch.Tensor]:
    return {name: torch.empty(shape, device="meta") for name, shape in names}


def _assert_same_layout(mapped: dict[str, torch.Tensor], model: torch.nn.Module) -> None:
    own = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in mapped.items()}
    assert sorted(set(own) - set(got)) == [] and sorted(set(got) - set(own)) == []
    assert got == own


@pytest.mark.parametrize("size", sorted(SIZES))
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_vitpose_layouts_fill_every_key(layout: str, size: str) -> None:
    c, depth = SIZES[size]
    state = _meta_state(LAYOUTS[layout](c, depth))
    mapped, detected = remap_keys(state)
    assert detected == layout
    if layout == "mmpose-vitpose":
        assert mapped["backbone.pos_embed"].shape == (1, 192, c)
    with torch.device("meta"):
        model = build_model(f"vitpose_{size}")
    _assert_same_layout(mapped, model)


@pytest.mark.parametrize("size", ["s", "b", "h"])
def test_tar_layout_fills_every_key(size: str) -> None:
    c, depth = SIZES[size]
    names = tar_names(c, depth)
    assert len(names) == len(set(names))
    mapped, detected = remap_keys(_meta_state(names))
    assert detected == "tar-vitpose"
    with torch.device("meta"):
        model = build_model(f"tar_vitpose_{size}")
    _assert_same_layout(mapped, model)


TINY = {"width": 32, "vit_depth": 2, "vit_heads": 2, "input_size": (128, 96), "tar_layers": 2}


def _random_state(names: list[tuple[str, Shape]], seed: int = 0) -> dict[str, torch.Tensor]:
    gen = torch.Generator().manual_seed(seed)
    return {
        n: (torch.tensor(3) if n.endswith("num_batches_tracked") else torch.rand(s, generator=gen) + 0.5)
        for n, s in names
    }


def test_tar_checkpoint_strict_import(tmp_path: Path) -> None:
    names = tar_names(32, 2, layers=2)
    state = _random_state(names)
    # the reference's aliases share storage: the model.* copies equal their alias
    for key in list(state):
        if key.startswith("model.backbone."):
            state[key] = state[key.removeprefix("model.")]
        elif key.startswith("model.head.deconv_layers."):
            state[key] = state["heatmap_head.0." + key.removeprefix("model.head.deconv_layers.")]
        elif key.startswith("model.head.final_layer."):
            state[key] = state["heatmap_head.1." + key.removeprefix("model.head.final_layer.")]
    src = tmp_path / "tar_vitpose_b.pth"
    torch.save({"epoch": 3, "model_state_dict": state}, src)
    out = tmp_path / "tar.safetensors"
    report = import_checkpoint(src, "tar_vitpose_b", out, strict=True, **TINY)
    assert report.source_layout == "tar-vitpose" and not report.missing and not report.unexpected
    model = load_checkpoint(out)
    got = model.state_dict()
    assert torch.equal(got["keypoint_head.deconv_layers.3.weight"], state["heatmap_head.0.3.weight"])
    assert torch.equal(got["keypoint_head.final_layer.bias"], state["heatmap_head.1.bias"])
    assert torch.equal(got["masked_attention_layers.1.mha.in_proj_weight"],
                       state["masked_attention_layers.1.mha.in_proj_weight"])
    assert torch.equal(got["backbone.pos_embed"], state["backbone.pos_embed"])
    # a missing TAR block is refused under --strict, naming the file
    del state["cross_attention.norm.bias"]
    torch.save({"model_state_dict": state}, src)
    with pytest.raises(PoseCliError, match=r"tar_vitpose_b\.pth: strict import.*missing cross_attention"):
        import_model(src, "tar_vitpose_b", strict=True, **TINY)


def test_official_and_hf_value_mapping(tmp_path: Path) -> None:
    official = _random_state(official_names(32, 2, tokens=48))
    torch.save({"state_dict": official}, tmp_path / "vitpose.pth")
    model, report = import_model(tmp_path / "vitpose.pth", "vitpose_b", strict=True, vit_pos_grid=(8, 6), **TINY)
    assert report.source_layout == "official-vitpose"
    pos = official["backbone.pos_embed"]
    assert torch.equal(model.backbone.pos_embed, pos[:, 1:] + pos[:, :1])
    assert torch.equal(model.backbone.layers[1].ffn.layers[1].weight, official["backbone.blocks.1.mlp.fc2.weight"])
    assert torch.equal(model.backbone.ln1.bias, official["backbone.last_norm.bias"])

    hf = _random_state(hf_names(32, 2, tokens=48), seed=1)
    save_file(hf, str(tmp_path / "model.safetensors"))
    model, report = import_model(tmp_path / "model.safetensors", "vitpose_b", strict=True, vit_pos_grid=(8, 6), **TINY)
    assert report.source_layout == "hf-vitpose"
    qkv = model.backbone.layers[0].attn.qkv.weight
    p = "backbone.encoder.layer.0.attention.attention."
    assert torch.equal(qkv[:32], hf[p + "query.weight"]) and torch.equal(qkv[64:], hf[p + "value.weight"])
    assert torch.equal(model.keypoint_head.deconv_layers[4].running_var, hf["head.batchnorm2.running_var"])


def test_mmpose_class_row_dropped_like_mmpretrain(tmp_path: Path) -> None:
    state = _random_state(mmpose_names(32, 2))
    state["backbone.pos_embed"] = torch.rand(1, 49, 32)  # one class-token row more than the 8×6 grid
    torch.save({"state_dict": state}, tmp_path / "mmpose.pth")
    model, report = import_model(tmp_path / "mmpose.pth", "vitpose_b", strict=True, vit_pos_grid=(8, 6), **TINY)
    assert report.source_layout == "mmpose-vitpose"
    assert torch.equal(model.backbone.pos_embed, state["backbone.pos_embed"][:, 1:])


def test_vitpose_file_into_hrnet_is_refused(tmp_path: Path) -> None:
    torch.save({"state_dict": _random_state(mmpose_names(32, 2))}, tmp_path / "vit.pth")
    with pytest.raises(PoseCliError, match="vit.pth"):
        import_model(tmp_path / "vit.pth", "hrnet_w32", width=8)


@pytest.mark.parametrize("layout", ["official-vitpose", "hf-vitpose"])
def test_malformed_tensors_are_named_not_a_traceback(tmp_path: Path, layout: str) -> None:
    """A 1-D position table or a q/k/v triple of unequal widths is reported as a key problem (one line)."""
    state = _random_state(LAYOUTS[layout](32, 2, tokens=48))
    if layout == "official-vitpose":
        state["backbone.pos_embed"] = torch.rand(7)
    else:
        state["backbone.embeddings.position_embeddings"] = torch.rand(7)
        state["backbone.encoder.layer.1.attention.attention.key.weight"] = torch.rand(32, 5)
    torch.save({"state_dict": state}, tmp_path / "odd.pth")
    with pytest.raises(PoseCliError, match=r"odd\.pth: strict import into vitpose_b failed"):
        import_model(tmp_path / "odd.pth", "vitpose_b", strict=True, vit_pos_grid=(8, 6), **TINY)
