"""One small builder per registered model; each passes its numbers to ``build_from_config``.

Builders only build (random init); loading weights is ``posecli.checkpoints``' job.
"""

from __future__ import annotations

from typing import Any

from posecli.models.backbones.hrnet import HRNet, init_hrnet_weights
from posecli.models.config import ModelConfig
from posecli.models.heads.simcc import SimCCHead
from posecli.models.pose_model import VideoPoseModel
from posecli.models.temporal.fami import FamiTemporal
from posecli.models.temporal.tdmi import TdmiTemporal


def build_from_config(config: ModelConfig) -> VideoPoseModel:
    """Build the model a (possibly unresolved) config describes; the model keeps the resolved copy."""
    cfg = config.resolved()
    assert cfg.heatmap_size is not None and cfg.num_frames is not None and cfg.simcc_split_ratio is not None
    backbone = HRNet(cfg.width, cfg.num_keypoints)
    init_hrnet_weights(backbone)
    temporal: FamiTemporal | TdmiTemporal | None = None
    if cfg.arch == "fami":
        temporal = FamiTemporal(cfg.width, cfg.num_keypoints, cfg.num_frames, cfg.gtm, cfg.deform_impl)
    elif cfg.arch == "tdmi":
        temporal = TdmiTemporal(cfg.width, cfg.num_keypoints, cfg.num_frames, cfg.deform_impl)
        # hrnet.final_layer only reads detached features in TDMI (spec §6.2.4): it never gets a gradient
        backbone.final_layer.requires_grad_(False)
    elif cfg.num_frames != 1:
        raise ValueError(f"single-frame HRNet needs num_frames 1, got {cfg.num_frames}")
    if temporal is not None:
        temporal.init_weights(cfg.init_std)
    if cfg.freeze_backbone:
        backbone.requires_grad_(False)
    head = SimCCHead(cfg.heatmap_size, cfg.input_size, cfg.simcc_split_ratio) if cfg.head == "simcc" else None
    return VideoPoseModel(config=cfg, backbone=backbone, temporal=temporal, head=head)


def _build(name: str, arch: str, width: int, overrides: dict[str, Any]) -> VideoPoseModel:
    data = ModelConfig(name=name, arch=arch, width=width).to_dict()
    for key in ("name", "arch"):
        if key in overrides and overrides[key] != data[key]:
            raise ValueError(f"{name}: '{key}' cannot be overridden (got {overrides[key]!r})")
    data.update(overrides)
    return build_from_config(ModelConfig.from_dict(data))


def hrnet_w32(**overrides: Any) -> VideoPoseModel:
    """Single-frame HRNet-W32 (28.54 M parameters at 384×288)."""
    return _build("hrnet_w32", "hrnet", 32, overrides)


def hrnet_w48(**overrides: Any) -> VideoPoseModel:
    """Single-frame HRNet-W48 (63.60 M parameters)."""
    return _build("hrnet_w48", "hrnet", 48, overrides)


def fami_hrnet_w32(**overrides: Any) -> VideoPoseModel:
    """FAMI-Pose on HRNet-W32 (a posecli variant; 8 DCN offset groups)."""
    return _build("fami_hrnet_w32", "fami", 32, overrides)


def fami_hrnet_w48(**overrides: Any) -> VideoPoseModel:
    """FAMI-Pose as released: HRNet-W48, frozen backbone, translation GTM (64.66 M parameters)."""
    return _build("fami_hrnet_w48", "fami", 48, overrides)


def tdmi_hrnet_w32(**overrides: Any) -> VideoPoseModel:
    """TDMI on HRNet-W32 (a posecli variant)."""
    return _build("tdmi_hrnet_w32", "tdmi", 32, overrides)


def tdmi_hrnet_w48(**overrides: Any) -> VideoPoseModel:
    """TDMI as in the review-time code: HRNet-W48, fine-tuned backbone (66.47 M parameters)."""
    return _build("tdmi_hrnet_w48", "tdmi", 48, overrides)
