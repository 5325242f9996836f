"""The model zoo: HRNet, FAMI-Pose, TDMI, ViTPose and TAR-ViTPose with heatmap or SimCC heads.

``build_model(name, **overrides)`` builds a registered model; overrides are ``ModelConfig`` fields,
e.g. ``head="simcc"``, ``input_size=(256, 192)``, ``width=8`` (a tiny backbone for CPU tests),
``gtm="affine"``, ``mi_estimator="kl"``, ``freeze_backbone=False``; for the ViT models ``width`` is
the embed dim, e.g. a tiny test ViT: ``width=32, vit_depth=2, vit_heads=2, decoder_channels=16``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from posecli.models.builders import (
    build_from_config,
    fami_hrnet_w32,
    fami_hrnet_w48,
    hrnet_w32,
    hrnet_w48,
    tar_vitpose_b,
    tar_vitpose_h,
    tar_vitpose_s,
    tdmi_hrnet_w32,
    tdmi_hrnet_w48,
    vitpose_b,
    vitpose_h,
    vitpose_l,
    vitpose_s,
)
from posecli.models.config import VIT_SIZE_LETTERS, ModelConfig
from posecli.models.deform import resolve_deform_impl
from posecli.models.pose_model import PoseOutput, VideoPoseModel, frames_from_reference, frames_to_reference

MODELS: dict[str, Callable[..., VideoPoseModel]] = {
    "hrnet_w32": hrnet_w32,
    "hrnet_w48": hrnet_w48,
    "fami_hrnet_w32": fami_hrnet_w32,
    "fami_hrnet_w48": fami_hrnet_w48,
    "tdmi_hrnet_w32": tdmi_hrnet_w32,
    "tdmi_hrnet_w48": tdmi_hrnet_w48,
    "vitpose_s": vitpose_s,
    "vitpose_b": vitpose_b,
    "vitpose_l": vitpose_l,
    "vitpose_h": vitpose_h,
    "tar_vitpose_s": tar_vitpose_s,
    "tar_vitpose_b": tar_vitpose_b,
    "tar_vitpose_h": tar_vitpose_h,
}


def build_model(name: str, **overrides: Any) -> VideoPoseModel:
    """Build a registered model with random weights; unknown names raise ``ValueError``."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(sorted(MODELS))}")
    return MODELS[name](**overrides)


def list_models() -> list[str]:
    """Registered model names, sorted."""
    return sorted(MODELS)


def model_config(name: str, **overrides: Any) -> ModelConfig:
    """The resolved config ``build_model(name, **overrides)`` would use, without building the model."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of: {', '.join(sorted(MODELS))}")
    if name.startswith(("vitpose_", "tar_vitpose_")):
        arch, width = ("tar" if name.startswith("tar_") else "vitpose"), VIT_SIZE_LETTERS[name[-1]]
    else:
        arch, width = name.split("_", 1)[0], int(name.rsplit("_w", 1)[1])
    data = ModelConfig(name=name, arch=arch, width=width).to_dict()
    data.update(overrides)
    return ModelConfig.from_dict(data).resolved()


__all__ = [
    "MODELS",
    "ModelConfig",
    "PoseOutput",
    "VideoPoseModel",
    "build_from_config",
    "build_model",
    "frames_from_reference",
    "frames_to_reference",
    "list_models",
    "model_config",
    "resolve_deform_impl",
]
