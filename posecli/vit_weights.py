"""Key mapping of ViTPose and TAR-ViTPose checkpoints onto posecli's ViT model names.

posecli's names (``posecli.models.backbones.vit``, ``heads.deconv``, ``temporal.tar``) are the mmpose 1.x
ones: ``backbone.<mmpretrain VisionTransformer>``, ``keypoint_head.deconv_layers.*``,
``keypoint_head.final_layer.*`` and the TAR modules at the top level. Four upstream layouts map onto them:

- ``tar-vitpose`` (zgspose/TARViTPose ``TAR_ViTPose`` state dicts, ``{'model_state_dict': ...}``): the
  mmpose estimator is held twice, as ``model.*`` and through the aliases ``backbone`` and
  ``heatmap_head = Sequential(head.deconv_layers, head.final_layer)``, so every encoder and decoder
  tensor is stored twice. ``backbone.*`` is taken as is, ``heatmap_head.0.*`` →
  ``keypoint_head.deconv_layers.*``, ``heatmap_head.1.*`` → ``keypoint_head.final_layer.*``; the
  ``model.backbone.*`` / ``model.head.*`` copies are dropped when their alias is present (they are
  the same tensors) and renamed the same way when it is not. TAR names (``query_feat``,
  ``masked_attention_layers`` …) are already posecli's.
- ``mmpose-vitpose`` (mmpose 1.x ``td-hm_ViTPose-*`` checkpoints): ``backbone.*`` as is,
  ``head.deconv_layers.*`` / ``head.final_layer.*`` → ``keypoint_head.*``. A ``pos_embed`` with one
  row more than the model's loses the first (class-token) row, as mmpretrain's load hook does for
  ``with_cls_token=False`` (``drop_class_row``, applied once the model is known).
- ``official-vitpose`` (ViTAE-Transformer/ViTPose, mmpose 0.x): ``patch_embed.proj`` →
  ``patch_embed.projection``, ``blocks.{i}.norm1/norm2`` → ``layers.{i}.ln1/ln2``, ``attn.*`` the
  same, ``mlp.fc1/fc2`` → ``ffn.layers.0.0/ffn.layers.1``, ``last_norm`` → ``ln1``;
  ``keypoint_head.*`` as is. Its ``pos_embed`` ``(1, 1 + L, C)`` is added as ``pos[1:] + pos[0]``
  in its forward, so posecli stores that sum.
- ``hf-vitpose`` (Hugging Face ``VitPoseForPoseEstimation`` safetensors): ``embeddings.patch_embeddings
  .projection`` → ``patch_embed.projection``; ``embeddings.position_embeddings`` ``(1, 1 + L, C)`` →
  ``pos[1:] + pos[0]`` (the same forward); ``encoder.layer.{i}.attention.attention.{query,key,value}``
  concatenated (q, k, v) → ``layers.{i}.attn.qkv``; ``attention.output.dense`` → ``attn.proj``;
  ``layernorm_before/after`` → ``ln1/ln2``; ``mlp.fc1/fc2`` → ``ffn.*``; ``layernorm`` → ``ln1``; the
  classic decoder ``head.deconv1/batchnorm1/deconv2/batchnorm2/conv`` → ``keypoint_head.deconv_layers.
  {0,1,3,4}`` / ``final_layer``. The simple decoder and ViTPose+ mixture-of-experts MLPs are not
  posecli models: their keys stay unmatched and a strict import names them.
"""

from __future__ import annotations

import re

import torch
from torch import Tensor

_HF_LAYER = re.compile(r"backbone\.encoder\.layer\.(\d+)\.(.+)")
_HF_LAYER_NAMES = {
    "attention.output.dense.": "attn.proj.",
    "layernorm_before.": "ln1.",
    "layernorm_after.": "ln2.",
    "mlp.fc1.": "ffn.layers.0.0.",
    "mlp.fc2.": "ffn.layers.1.",
}
_HF_HEAD = {
    "head.deconv1.": "keypoint_head.deconv_layers.0.",
    "head.batchnorm1.": "keypoint_head.deconv_layers.1.",
    "head.deconv2.": "keypoint_head.deconv_layers.3.",
    "head.batchnorm2.": "keypoint_head.deconv_layers.4.",
    "head.conv.": "keypoint_head.final_layer.",
}
_OFFICIAL_BLOCK = {
    "norm1.": "ln1.",
    "norm2.": "ln2.",
    "attn.": "attn.",
    "mlp.fc1.": "ffn.layers.0.0.",
    "mlp.fc2.": "ffn.layers.1.",
}


def detect_vit_layout(keys: list[str]) -> str | None:
    """The ViT layout of a (``module.``-stripped) key list, or None when it is not a ViT checkpoint."""
    if any(k.startswith("hrnet.") for k in keys):
        return None  # HRNet-based (FAMI-Pose / TDMI have a conv ``heatmap_head`` too)
    if any(k.startswith(("backbone.embeddings.", "backbone.encoder.layer.")) for k in keys):
        return "hf-vitpose"
    if any(k.startswith(("heatmap_head.0.", "model.backbone.")) or k == "query_feat.weight" for k in keys):
        return "tar-vitpose"
    if any(k.startswith("backbone.blocks.") for k in keys):
        return "official-vitpose"
    if any(k.startswith(("backbone.layers.", "backbone.patch_embed.projection.")) for k in keys):
        return "mmpose-vitpose"
    return None


def remap_vit_keys(state: dict[str, Tensor]) -> tuple[dict[str, Tensor], str] | None:
    """Map a ViTPose / TAR-ViTPose / Hugging Face state dict onto posecli names; None if it is none of them."""
    layout = detect_vit_layout(list(state))
    if layout is None:
        return None
    mapper = {
        "hf-vitpose": _from_hf,
        "tar-vitpose": _from_tar,
        "official-vitpose": _from_official,
        "mmpose-vitpose": _from_mmpose,
    }[layout]
    return mapper(state), layout


def _rename_prefix(key: str, table: dict[str, str]) -> str:
    for old, new in table.items():
        if key.startswith(old):
            return new + key[len(old) :]
    return key


def _from_mmpose(state: dict[str, Tensor]) -> dict[str, Tensor]:
    out = {}
    for key, value in state.items():
        key = _rename_prefix(key, {"head.deconv_layers.": "keypoint_head.deconv_layers.",
                                   "head.final_layer.": "keypoint_head.final_layer."})
        out[key] = value
    return out


def drop_class_row(state: dict[str, Tensor], own_length: int) -> None:
    """mmpretrain's load rule for ``with_cls_token=False``: a ``backbone.pos_embed`` with exactly one row
    more than the model's loses its first (class-token) row, in place."""
    pos = state.get("backbone.pos_embed")
    if pos is not None and pos.dim() == 3 and pos.shape[1] == own_length + 1:
        state["backbone.pos_embed"] = pos[:, 1:]


def _from_official(state: dict[str, Tensor]) -> dict[str, Tensor]:
    out = {}
    for key, value in state.items():
        if key.startswith("backbone.blocks."):
            index, rest = key[len("backbone.blocks.") :].split(".", 1)
            key = f"backbone.layers.{index}.{_rename_prefix(rest, _OFFICIAL_BLOCK)}"
        elif key == "backbone.pos_embed":
            value = _fold_class_row(value)  # the original forward adds row 0 to every token
        else:
            key = _rename_prefix(key, {"backbone.patch_embed.proj.": "backbone.patch_embed.projection.",
                                       "backbone.last_norm.": "backbone.ln1."})
        out[key] = value
    return out


def _from_hf(state: dict[str, Tensor]) -> dict[str, Tensor]:
    out: dict[str, Tensor] = {}
    qkv: dict[tuple[str, str], dict[str, Tensor]] = {}  # (layer, weight|bias) → {query, key, value}
    for key, value in state.items():
        layer = _HF_LAYER.fullmatch(key)
        if layer is not None:
            index, rest = layer.groups()
            part = re.fullmatch(r"attention\.attention\.(query|key|value)\.(weight|bias)", rest)
            if part is not None:
                qkv.setdefault((index, part.group(2)), {})[part.group(1)] = value
                continue
            key = f"backbone.layers.{index}.{_rename_prefix(rest, _HF_LAYER_NAMES)}"
        elif key == "backbone.embeddings.position_embeddings":
            key, value = "backbone.pos_embed", _fold_class_row(value)  # HF adds row 0 to every token
        else:
            key = _rename_prefix(key, {
                "backbone.embeddings.patch_embeddings.projection.": "backbone.patch_embed.projection.",
                "backbone.layernorm.": "backbone.ln1.",
                **_HF_HEAD,
            })
        out[key] = value
    for (index, kind), parts in qkv.items():
        shapes = {tuple(p.shape[1:]) for p in parts.values()}
        if set(parts) == {"query", "key", "value"} and len(shapes) == 1:
            out[f"backbone.layers.{index}.attn.qkv.{kind}"] = torch.cat([parts["query"], parts["key"], parts["value"]])
        else:  # an incomplete triple stays visible as unexpected keys
            for name, value in parts.items():
                out[f"backbone.encoder.layer.{index}.attention.attention.{name}.{kind}"] = value
    return out


def _fold_class_row(pos: Tensor) -> Tensor:
    """``(1, 1 + L, C)`` → ``pos[:, 1:] + pos[:, :1]``; any other shape is left for the shape check to name."""
    return pos[:, 1:] + pos[:, :1] if pos.dim() == 3 and pos.shape[1] > 1 else pos


def _from_tar(state: dict[str, Tensor]) -> dict[str, Tensor]:
    aliases = {
        "model.backbone.": "backbone.",
        "model.head.deconv_layers.": "keypoint_head.deconv_layers.",
        "model.head.final_layer.": "keypoint_head.final_layer.",
        "heatmap_head.0.": "keypoint_head.deconv_layers.",
        "heatmap_head.1.": "keypoint_head.final_layer.",
    }
    out: dict[str, Tensor] = {}
    # the aliases the reference forward calls (backbone, heatmap_head) win over the model.* copies
    for key, value in sorted(state.items(), key=lambda item: item[0].startswith("model.")):
        renamed = _rename_prefix(key, aliases)
        if key.startswith("model.") and renamed in out:
            continue
        out[renamed] = value
    return out
