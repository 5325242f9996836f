"""One small builder per registered model; each passes its numbers to ``build_from_config``.

Builders only build (random init); loading weights is ``posecli.checkpoints``' job.
"""

from __future__ import annotations

from typing import Any

from posecli.models.backbones.hrnet import HRNet, init_hrnet_weights
from posecli.models.backbones.vit import ViTEncoder, init_vit_weights
from posecli.models.config import VIT_ARCHS, VIT_SIZE_LETTERS, ModelConfig
from posecli.models.heads.deconv import DeconvHeatmapDecoder
from posecli.models.heads.simcc import SimCCHead
from posecli.models.pose_model import VideoPoseModel
from posecli.models.temporal.fami import FamiTemporal
from posecli.models.temporal.tar import TarTemporal
from posecli.models.temporal.tdmi import TdmiTemporal


def build_from_config(config: ModelConfig) -> VideoPoseModel:
    """Build the model a (possibly unresolved) config describes; the model keeps the resolved copy."""
    cfg = config.resolved()
    assert cfg.heatmap_size is not None and cfg.num_frames is not None and cfg.simcc_split_ratio is not None
    if cfg.arch in VIT_ARCHS:
        return _build_vit(cfg)
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


def _build_vit(cfg: ModelConfig) -> VideoPoseModel:
    """ViTPose (``vitpose``) or TAR-ViTPose (``tar``) from a resolved config."""
    assert cfg.vit_depth is not None and cfg.vit_heads is not None and cfg.vit_drop_path is not None
    assert cfg.heatmap_size is not None and cfg.num_frames is not None and cfg.simcc_split_ratio is not None
    encoder = ViTEncoder(
        cfg.width, cfg.vit_depth, cfg.vit_heads, pos_grid=cfg.vit_pos_grid, drop_path_rate=cfg.vit_drop_path
    )
    init_vit_weights(encoder)
    decoder = DeconvHeatmapDecoder(cfg.width, cfg.num_keypoints, cfg.decoder_channels)
    decoder.init_weights()
    temporal: TarTemporal | None = None
    if cfg.arch == "tar":
        if cfg.num_frames != 5:
            raise ValueError(f"TAR-ViTPose uses the 5-frame window t-2..t+2, got num_frames {cfg.num_frames}")
        temporal = TarTemporal(
            cfg.width, cfg.num_keypoints, cfg.num_frames, layers=cfg.tar_layers, heads=cfg.tar_heads,
            threshold=cfg.tar_mask_threshold,
        )
    elif cfg.num_frames != 1:
        raise ValueError(f"single-frame ViTPose needs num_frames 1, got {cfg.num_frames}")
    if cfg.freeze_backbone:
        encoder.requires_grad_(False)
    head = SimCCHead(cfg.heatmap_size, cfg.input_size, cfg.simcc_split_ratio) if cfg.head == "simcc" else None
    return VideoPoseModel(config=cfg, backbone=encoder, temporal=temporal, head=head, decoder=decoder)


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


def _vitpose(size: str, overrides: dict[str, Any]) -> VideoPoseModel:
    return _build(f"vitpose_{size}", "vitpose", VIT_SIZE_LETTERS[size], overrides)


def _tar_vitpose(size: str, overrides: dict[str, Any]) -> VideoPoseModel:
    return _build(f"tar_vitpose_{size}", "tar", VIT_SIZE_LETTERS[size], overrides)


def vitpose_s(**overrides: Any) -> VideoPoseModel:
    """ViTPose-S: ViT 384-d, 12 layers, 12 heads + deconv decoder (24.29 M parameters)."""
    return _vitpose("s", overrides)


def vitpose_b(**overrides: Any) -> VideoPoseModel:
    """ViTPose-B: ViT 768-d, 12 layers, 12 heads + deconv decoder (89.99 M parameters)."""
    return _vitpose("b", overrides)


def vitpose_l(**overrides: Any) -> VideoPoseModel:
    """ViTPose-L: ViT 1024-d, 24 layers, 16 heads + deconv decoder (308.5 M parameters)."""
    return _vitpose("l", overrides)


def vitpose_h(**overrides: Any) -> VideoPoseModel:
    """ViTPose-H: ViT 1280-d, 32 layers, 16 heads + deconv decoder (637.2 M parameters)."""
    return _vitpose("h", overrides)


def tar_vitpose_s(**overrides: Any) -> VideoPoseModel:
    """TAR-ViTPose on ViTPose-S (6 JTA layers, 4 heads; 35.55 M parameters)."""
    return _tar_vitpose("s", overrides)


def tar_vitpose_b(**overrides: Any) -> VideoPoseModel:
    """TAR-ViTPose on ViTPose-B (6 JTA layers, 4 heads; 134.93 M parameters)."""
    return _tar_vitpose("b", overrides)


def tar_vitpose_h(**overrides: Any) -> VideoPoseModel:
    """TAR-ViTPose on ViTPose-H (6 JTA layers, 4 heads; 761.91 M parameters)."""
    return _tar_vitpose("h", overrides)
