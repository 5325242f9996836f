"""The model zoo: HRNet, FAMI-Pose and TDMI with heatmap or SimCC heads.

``build_model(name, **overrides)`` builds a registered model; overrides are ``ModelConfig`` fields,
e.g. ``head="simcc"``, ``input_size=(256, 192)``, ``width=8`` (a tiny backbone for CPU tests),
``gtm="affine"``, ``mi_estimator="kl"``, ``freeze_backbone=False``.
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
    tdmi_hrnet_w32,
    tdmi_hrnet_w48,
)
from posecli.models.config import ModelConfig
from posecli.models.deform import resolve_deform_impl
from posecli.models.pose_model import PoseOutput, VideoPoseModel, frames_from_reference, frames_to_reference

MODELS: dict[str, Callable[..., VideoPoseModel]] = {
    "hrnet_w32": hrnet_w32,
    "hrnet_w48": hrnet_w48,
    "fami_hrnet_w32": fami_hrnet_w32,
    "fami_hrnet_w48": fami_hrnet_w48,
    "tdmi_hrnet_w32": tdmi_hrnet_w32,
    "tdmi_hrnet_w48": tdmi_hrnet_w48,
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
    arch = name.split("_", 1)[0]
    width = int(name.rsplit("_w", 1)[1])
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
