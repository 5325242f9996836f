"""``VideoPoseModel``: an HRNet or ViT backbone, an optional temporal module and an optional SimCC head.

The model is split in two documented halves so that a streaming pipeline can cache the per-frame half
(spec §12f ``reuse`` mode):

- ``encode_frames(crops)``: HRNet on independent crops → per-crop feature taps;
- ``decode(taps)``: temporal module + head on stacked ``(B, T, C, h, w)`` taps → ``PoseOutput``.

``forward(frames)`` is exactly ``decode(encode_frames(...))`` on the five crops of each sample
(``exact`` mode, the reference protocol).

Input layout: posecli takes ``(B, T, 3, H, W)`` clips in time order. The reference FAMI-Pose/TDMI code
takes the key frame ``(B, 3, H, W)`` and the four supporting frames stacked on channels
``(B, 12, H, W)``; ``frames_from_reference`` and ``frames_to_reference`` convert between the two.

Batch norm in training: ``forward`` runs HRNet once over all B·T crops, as the reference runs it once
over its (S+1)·B crops, in the reference's order (key frames first, then each supporting frame in
time order): the batch statistics are then the same sums in the same order, and float32 training
results equal the reference's bit for bit, where a sample-major batch moved them by ~1e-6 relative in
HRNet and by far more after the temporal module. The temporal modules follow the same rule (see their
docstrings).

ViT models (``vitpose``, ``tar``): the backbone is a ``ViTEncoder`` (``backbone.*``) and the heatmaps
come from ViTPose's deconv decoder (``keypoint_head.*``). ``encode_frames`` gives ViTPose's heatmaps
``(N, K, 4h, 4w)`` (the decoder on that crop alone: single-frame ViTPose's whole output), and for
TAR-ViTPose also the token map ``(N, C, h, w)``; both are computed once per crop (the heatmaps are also
TAR's first pass, which its mask reads, and the tracker's per-frame pose).

State-dict layout: the HRNet backbone is ``hrnet.*``; the temporal module's and the SimCC head's own
sub-modules are saved at the top level (``feat_global_offset_layers.*``, ``mlp_head_x.*``, …) exactly
as in the reference checkpoints, through a state-dict hook pair that drops / restores the
``temporal.`` and ``head.`` container prefixes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from posecli.models.backbones.hrnet import HRNet
from posecli.models.backbones.vit import ViTEncoder
from posecli.models.config import ModelConfig
from posecli.models.deform import DeformKernel, resolve_deform_impl
from posecli.models.heads.deconv import DeconvHeatmapDecoder
from posecli.models.heads.simcc import SimCCHead
from posecli.models.temporal.fami import FamiTemporal
from posecli.models.temporal.tar import TarTemporal
from posecli.models.temporal.tdmi import TdmiTemporal

_CONTAINERS = ("temporal", "head")


@dataclass
class PoseOutput:
    """Outputs of ``VideoPoseModel``.

    heatmaps: ``(B, K, h, w)`` final heatmaps (for SimCC heads the 17-ch map the classifiers read).
    simcc_x / simcc_y: ``(B, K, W·k)`` / ``(B, K, H·k)`` logits when ``head == "simcc"``, else None.
    backbone_heatmaps: ``(B, K, h, w)`` HRNet ``final_layer`` on the key frame for temporal models
    (evaluated as "backbone only", never supervised; for TAR-ViTPose the first-pass ViTPose heatmap);
    None for single-frame models.
    features: named tensors for the MI losses, filled in training mode only. FAMI: ``key``, ``agg_sup``,
    ``agg_final`` ``(B, C, h, w)`` and ``label_key``, ``label_agg_sup``, ``label_agg_final``
    ``(B, K, h, w)`` (HRNet ``final_layer`` applied to them, no gradient). TDMI: ``motion``,
    ``motion_useful``, ``motion_noisy``, ``appearance``, ``fused`` and ``label_motion_useful``,
    ``label_appearance``.
    """

    heatmaps: Tensor
    simcc_x: Tensor | None = None
    simcc_y: Tensor | None = None
    backbone_heatmaps: Tensor | None = None
    features: dict[str, Tensor] = field(default_factory=dict)


class VideoPoseModel(nn.Module):
    """Backbone + temporal module + head; ``config`` is the resolved ``ModelConfig`` it was built from."""

    def __init__(
        self, *, config: ModelConfig, backbone: HRNet | ViTEncoder,
        temporal: FamiTemporal | TdmiTemporal | TarTemporal | None, head: SimCCHead | None,
        decoder: DeconvHeatmapDecoder | None = None,
    ) -> None:
        super().__init__()
        self.config = config
        self.num_frames = int(config.num_frames or 1)
        if isinstance(backbone, HRNet):
            self.hrnet = backbone
        else:
            if decoder is None:
                raise ValueError("a ViT backbone needs its heatmap decoder")
            self.backbone = backbone
            self.keypoint_head = decoder
        self.temporal = temporal
        self.head = head
        self.register_state_dict_post_hook(_flatten_containers)
        self.register_load_state_dict_pre_hook(_restore_containers)

    @property
    def num_taps(self) -> int:
        """How many per-frame tensors ``encode_frames`` gives (1; 4 for TDMI; 2 for TAR-ViTPose)."""
        return 1 if self.temporal is None else self.temporal.num_taps

    @property
    def deform_kernel(self) -> DeformKernel | None:
        """The deformable-conv kernel ``forward`` runs on the model's current device (``deform_impl``
        resolved: ``auto`` is ``grid_sample`` on the CPU, ``torchvision`` on GPUs); None without DCNs."""
        if self.temporal is None:
            return None
        return resolve_deform_impl(self.config.deform_impl, next(self.parameters()).device)

    @property
    def is_vit(self) -> bool:
        """Whether the backbone is a ViT encoder (``backbone.*`` + ``keypoint_head.*``), not HRNet."""
        return "hrnet" not in self._modules

    @property
    def encoder(self) -> nn.Module:
        """The per-frame backbone: ``hrnet`` or the ViT ``backbone``."""
        return self.backbone if self.is_vit else self.hrnet

    @property
    def backbone_frozen(self) -> bool:
        return not any(p.requires_grad for p in self.encoder.parameters())

    def train(self, mode: bool = True) -> VideoPoseModel:
        """As ``nn.Module.train``; a frozen HRNet with ``frozen_backbone_bn: freeze`` keeps BN in eval."""
        super().train(mode)
        if mode and self.backbone_frozen and self.config.frozen_backbone_bn == "freeze":
            self.encoder.eval()
        return self

    def encode_frames(self, crops: Tensor) -> list[Tensor]:
        """Per-frame half: crops ``(N, 3, H, W)`` normalised RGB → ``num_taps`` tensors ``(N, C, h, w)``.

        HRNet: the last tap is the stage-4 feature F. ViT: ViTPose's heatmaps ``(N, K, H/4, W/4)``, then
        for TAR-ViTPose the token map ``(N, C, H/16, W/16)``. Independent per crop (apart from BN in
        train mode), so results can be cached per (frame, person) and reused across key frames.
        """
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.backbone_frozen):
            if self.is_vit:
                feature = self.backbone(crops)  # (N, C, H/16, W/16)
            else:
                taps = self.hrnet.forward_stages(crops)
        if not self.is_vit:
            return taps[-self.num_taps :]
        heatmaps = self.keypoint_head(feature)  # (N, K, H/4, W/4)
        return [heatmaps, feature] if isinstance(self.temporal, TarTemporal) else [heatmaps]

    def backbone_pose(self, taps: list[Tensor]) -> Tensor:
        """The backbone's own heatmaps ``(N, K, h, w)`` (HRNet's ``final_layer``, ViTPose's decoder) from
        ``encode_frames``' taps of single crops, before any temporal model: the per-frame pose a
        tracker can use while the key frame still waits."""
        if not self.is_vit:
            return self.hrnet.final_layer(taps[-1])
        return taps[0]  # the ViTPose heatmaps encode_frames already made

    def decode(self, taps: list[Tensor]) -> PoseOutput:
        """Temporal half: ``num_taps`` tensors ``(B, T, C, h, w)`` (frames t-2..t+2, key at T // 2) → output.

        For single-frame HRNet T is 1 and the heatmap is ``hrnet.final_layer`` on F; single-frame
        ViTPose's one tap already is its heatmap; TAR-ViTPose decodes the key map its temporal module
        restores.
        """
        key_feature = taps[-1][:, taps[-1].shape[1] // 2]  # (B, C, h, w)
        backbone_heatmaps: Tensor | None = None
        features: dict[str, Tensor] = {}
        if self.is_vit:
            if isinstance(self.temporal, TarTemporal):
                first_pass = taps[0]  # (B, T, K, H/4, W/4)
                heatmaps = self.keypoint_head(self.temporal(taps[-1], first_pass))
                backbone_heatmaps = first_pass[:, first_pass.shape[1] // 2].detach()
            else:
                heatmaps = key_feature  # ViTPose's heatmaps of the key crop, made by encode_frames
        elif self.temporal is None:
            heatmaps = self.hrnet.final_layer(key_feature)
        else:
            assert not isinstance(self.temporal, TarTemporal)
            out = self.temporal(taps)
            heatmaps = out.heatmaps
            with torch.no_grad():
                backbone_heatmaps = self.hrnet.final_layer(key_feature)
            if self.training:
                features = dict(out.features)
                features.update(self._label_maps(out.features))
        simcc_x = simcc_y = None
        if self.head is not None:
            simcc_x, simcc_y = self.head(heatmaps)
        return PoseOutput(heatmaps, simcc_x, simcc_y, backbone_heatmaps, features)

    def _label_maps(self, feats: dict[str, Tensor]) -> dict[str, Tensor]:
        """HRNet ``final_layer`` on the features the feature-label MI terms read (always detached)."""
        names = ("key", "agg_sup", "agg_final") if isinstance(self.temporal, FamiTemporal) else (
            "motion_useful", "appearance"
        )
        with torch.no_grad():
            return {f"label_{n}": self.hrnet.final_layer(feats[n]) for n in names}

    def forward(self, frames: Tensor) -> PoseOutput:
        """frames ``(B, T, 3, H, W)`` normalised RGB, T = ``num_frames``, order t-2, t-1, t, t+1, t+2."""
        if frames.dim() != 5 or frames.shape[1] != self.num_frames:
            raise ValueError(f"expected frames (B, {self.num_frames}, 3, H, W), got {tuple(frames.shape)}")
        b, t = frames.shape[:2]
        # the reference's backbone batch: key frame first, then the others in time order, frame-major
        order = [t // 2, *range(t // 2), *range(t // 2 + 1, t)]
        crops = frames[:, order].transpose(0, 1).flatten(0, 1)  # (T·B, 3, H, W)
        taps = self.encode_frames(crops)
        back = [order.index(i) for i in range(t)]  # batch slot of each time step
        return self.decode([tap.unflatten(0, (t, b))[back].transpose(0, 1) for tap in taps])  # (B, T, C, h, w)


def frames_from_reference(key: Tensor, support: Tensor) -> Tensor:
    """The reference's two inputs → a posecli clip.

    key: ``(B, 3, H, W)``, the reference's ``kf_x``; support: ``(B, 3·S, H, W)``, its ``sup_x``, the S
    supporting frames stacked on channels in the order t-2, t-1, t+1, t+2 (3 RGB channels each).
    Returns frames ``(B, S+1, 3, H, W)`` in time order t-2, t-1, t, t+1, t+2, the key in the middle.
    """
    if key.dim() != 4 or key.shape[1] != 3:
        raise ValueError(f"expected the key frame as (B, 3, H, W), got {tuple(key.shape)}")
    b, _, h, w = key.shape
    if support.dim() != 4 or support.shape[1] % 6 or (support.shape[0], *support.shape[2:]) != (b, h, w):
        raise ValueError(
            f"expected supporting frames (B, 3·S, H, W) with an even S matching the key frame "
            f"{tuple(key.shape)}, got {tuple(support.shape)}"
        )
    sup = support.unflatten(1, (support.shape[1] // 3, 3))  # (B, S, 3, H, W), frames t-2, t-1, t+1, t+2
    half = sup.shape[1] // 2
    return torch.cat([sup[:, :half], key.unsqueeze(1), sup[:, half:]], dim=1)


def frames_to_reference(frames: Tensor) -> tuple[Tensor, Tensor]:
    """A posecli clip → the reference's two inputs (the inverse of ``frames_from_reference``).

    frames: ``(B, T, 3, H, W)`` in time order with odd T, key at T // 2. Returns (key ``(B, 3, H, W)``,
    support ``(B, 3·(T-1), H, W)``: the other frames in time order, stacked on channels).
    """
    if frames.dim() != 5 or frames.shape[2] != 3 or frames.shape[1] % 2 == 0 or frames.shape[1] < 3:
        raise ValueError(f"expected frames (B, T, 3, H, W) with an odd T ≥ 3, got {tuple(frames.shape)}")
    mid = frames.shape[1] // 2
    support = torch.cat([frames[:, :mid], frames[:, mid + 1 :]], dim=1)  # (B, T-1, 3, H, W)
    return frames[:, mid], support.flatten(1, 2)


def _flatten_containers(module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: Any) -> None:
    """State-dict post hook: ``temporal.X`` / ``head.X`` → ``X`` (reference top-level names)."""
    items = list(state_dict.items())
    state_dict.clear()
    for key, value in items:
        for container in _CONTAINERS:
            inner = prefix + container + "."
            if key.startswith(inner):
                key = prefix + key[len(inner) :]
                break
        state_dict[key] = value


def _restore_containers(
    module: nn.Module, state_dict: dict[str, Any], prefix: str, local_metadata: Any, strict: bool,
    missing_keys: list[str], unexpected_keys: list[str], error_msgs: list[str],
) -> None:
    """Load pre hook: put top-level keys that belong to the temporal module or head back under them."""
    owners = {}
    for container in _CONTAINERS:
        child = getattr(module, container, None)
        if child is not None:
            owners.update({name: container for name, _ in child.named_children()})
    for key in list(state_dict):
        if not key.startswith(prefix):
            continue
        top = key[len(prefix) :].split(".", 1)[0]
        if top in owners:
            state_dict[prefix + owners[top] + "." + key[len(prefix) :]] = state_dict.pop(key)
