"""TDMI temporal module: appearance branch, temporal difference encoder, disentanglement and fusion.

Design: Feng et al., "Mutual Information-Based Temporal Difference Learning for Human Pose Estimation
in Video" (CVPR 2023); upstream class ``DTDMNRV15_2`` of the anonymous review drop a3s5d9f3g2/4523 on
the FAMI-Pose code (no licence; re-implemented from spec models.md §4, no code copied).

Checkpoint key mapping (top level inside a ``VideoPoseModel``, as upstream): ``sup_agg``,
``combined_feat_layers``, ``dcn_offset_{1..4}``, ``dcn_mask_{1..4}``, ``dcn_{1..4}``, ``all_agg_block``,
``motion_fusion_s{1..4}``, ``m_a_agg_s{1..4}``, ``m_a_dcn_offset_s{1..4}``, ``m_a_dcn_mask_s{1..4}``,
``m_a_dcn_s{1..4}``, ``motion_smooth_s{2..4}``, ``use_motion_structure``, ``noisy_motion_structure``,
``multimodal_fusion`` (``.0.layers.*``), ``heatmap_head``, ``motion_heatmap_head`` (unused upstream).

Stage taps (spec §12b, an inference): the highest-resolution HRNet branch after ``transition1``,
``stage2``, ``stage3`` and ``stage4``.

Batch-norm rule: in training a BN layer normalises with the statistics of the batch it is called on
and updates its running statistics once per call, so every BN-carrying block must be called on
exactly the batch the reference calls it on. Here every such block (``sup_agg``,
``combined_feat_layers``, ``all_agg_block``, ``motion_fusion_sj``, ``m_a_agg_sj``,
``motion_smooth_sj``, ``multimodal_fusion``) belongs to one stage and runs once per step on the B
samples, frames and differences stacked on channels, as in the reference; no block is shared across
frames or stages (unlike FAMI-Pose's GTM), so none may be batched over them. The disentanglement MLPs
and the offset and mask predictors have no BN.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from posecli.models.deform import DeformConv2d
from posecli.models.heads.heatmap import heatmap_conv
from posecli.models.temporal.blocks import (
    ChainOfBasicBlocks,
    TemporalOutput,
    init_temporal_weights,
    local_calibration,
    mask_conv,
    offset_conv,
)

RDM_HIDDEN = 128  # hidden width of the disentanglement MLPs (reference)
NUM_STAGES = 4


def _channel_mask_mlp(channels: int) -> nn.Sequential:
    """Linear(C→128), ReLU, Linear(128→C), Sigmoid: ``(B, C)`` → channel weights in (0, 1)."""
    return nn.Sequential(
        nn.Linear(channels, RDM_HIDDEN), nn.ReLU(inplace=True), nn.Linear(RDM_HIDDEN, channels), nn.Sigmoid()
    )


class TdmiTemporal(nn.Module):
    """TDMI on cached HRNet stage taps.

    ``features`` names, each ``(B, C, h, w)``: ``motion`` (M), ``motion_useful`` (M⁺),
    ``motion_noisy`` (M⁻), ``appearance`` (A), ``fused`` (Φ, the feature the head reads).
    """

    num_taps = NUM_STAGES  # four HRNet depths per frame

    def __init__(self, channels: int, num_keypoints: int = 17, num_frames: int = 5, deform_impl: str = "auto") -> None:
        super().__init__()
        c = channels
        frames_c = (num_frames - 1) * c  # 4 supporting features, or 4 differences, stacked on channels
        self.num_frames = num_frames
        # appearance branch: the FAMI LCM without the GTM
        self.sup_agg = ChainOfBasicBlocks(frames_c, c, 2)
        self.combined_feat_layers = ChainOfBasicBlocks(2 * c, c, 1)
        # LCM: offset (216 at C=48) and raw-mask (108) predictors and 3×3 DCNs with dilation 3
        self.dcn_offset_1, self.dcn_offset_2 = offset_conv(c), offset_conv(c)
        self.dcn_offset_3, self.dcn_offset_4 = offset_conv(c), offset_conv(c)
        self.dcn_mask_1, self.dcn_mask_2 = mask_conv(c), mask_conv(c)
        self.dcn_mask_3, self.dcn_mask_4 = mask_conv(c), mask_conv(c)
        self.dcn_1, self.dcn_2, self.dcn_3, self.dcn_4 = (
            DeformConv2d(c, c, 3, padding=3, dilation=3, impl=deform_impl) for _ in range(4)
        )
        self.all_agg_block = ChainOfBasicBlocks(2 * c, c, 3)
        # temporal difference encoder, one set per stage
        for j in range(1, NUM_STAGES + 1):
            setattr(self, f"motion_fusion_s{j}", ChainOfBasicBlocks(frames_c, c, 2))
            setattr(self, f"m_a_agg_s{j}", ChainOfBasicBlocks(2 * c, c, 1))
            setattr(self, f"m_a_dcn_offset_s{j}", offset_conv(c))
            setattr(self, f"m_a_dcn_mask_s{j}", mask_conv(c))
            # padding 1 / dilation 1 here although the offsets come from dilation-3 convs (reference)
            setattr(self, f"m_a_dcn_s{j}", DeformConv2d(c, c, 3, padding=1, dilation=1, impl=deform_impl))
            if j > 1:
                setattr(self, f"motion_smooth_s{j}", ChainOfBasicBlocks(c, c, 1))
        # representation disentanglement: independent useful / noisy channel masks
        self.use_motion_structure = _channel_mask_mlp(c)
        self.noisy_motion_structure = _channel_mask_mlp(c)
        self.multimodal_fusion = nn.Sequential(ChainOfBasicBlocks(2 * c, c, 3))
        self.heatmap_head = heatmap_conv(c, num_keypoints)
        self.motion_heatmap_head = heatmap_conv(c, num_keypoints)
        # never used in the forward pass upstream: frozen so DDP and gradient checks see no dead weights
        self.motion_heatmap_head.requires_grad_(False)

    def init_weights(self, std: float) -> None:
        """Reference init (spec §3.3 by analogy, unconfirmed); ``motion_heatmap_head`` Kaiming."""
        init_temporal_weights(self, std)
        nn.init.kaiming_normal_(self.motion_heatmap_head.weight, mode="fan_out", nonlinearity="relu")

    def appearance(self, feats: Tensor) -> Tensor:
        """Appearance A ``(B, C, h, w)`` from stage-4 features ``(B, T, C, h, w)``."""
        b, t, c, h, w = feats.shape
        key = feats[:, t // 2]
        support = torch.cat([feats[:, : t // 2], feats[:, t // 2 + 1 :]], dim=1).reshape(b, (t - 1) * c, h, w)
        agg_sup = self.sup_agg(support)
        comb = self.combined_feat_layers(torch.cat([agg_sup, key], dim=1))
        sup = local_calibration(
            (self.dcn_1, self.dcn_2, self.dcn_3, self.dcn_4),
            (self.dcn_offset_1, self.dcn_offset_2, self.dcn_offset_3, self.dcn_offset_4),
            (self.dcn_mask_1, self.dcn_mask_2, self.dcn_mask_3, self.dcn_mask_4),
            agg_sup, comb,
        )
        return self.all_agg_block(torch.cat([key, sup], dim=1))

    def motion(self, taps: list[Tensor]) -> Tensor:
        """Motion M ``(B, C, h, w)`` from four stage taps, each ``(B, T, C, h, w)``."""
        key4 = taps[-1][:, taps[-1].shape[1] // 2]  # stage-4 key feature guides every stage
        total: Tensor | None = None
        for j, feats in enumerate(taps, start=1):
            b, t, c, h, w = feats.shape
            diffs = (feats[:, 1:] - feats[:, :-1]).reshape(b, (t - 1) * c, h, w)  # consecutive differences
            m = getattr(self, f"motion_fusion_s{j}")(diffs)
            guide = getattr(self, f"m_a_agg_s{j}")(torch.cat([key4, m], dim=1))
            m_hat = getattr(self, f"m_a_dcn_s{j}")(
                m, getattr(self, f"m_a_dcn_offset_s{j}")(guide), getattr(self, f"m_a_dcn_mask_s{j}")(guide)
            )
            # progressive accumulation: each stage smooths the running sum
            total = m_hat if total is None else getattr(self, f"motion_smooth_s{j}")(total + m_hat)
        assert total is not None
        return total

    def forward(self, taps: list[Tensor]) -> TemporalOutput:
        """taps: four ``(B, T, C, h, w)`` tensors (stage order), frames t-2..t+2, key at T // 2."""
        if len(taps) != NUM_STAGES:
            raise ValueError(f"TDMI needs {NUM_STAGES} HRNet stage taps, got {len(taps)}")
        appearance = self.appearance(taps[-1])
        motion = self.motion(taps)
        pooled = motion.mean(dim=(2, 3))  # (B, C) global average pool
        useful = self.use_motion_structure(pooled)[:, :, None, None] * motion
        noisy = self.noisy_motion_structure(pooled)[:, :, None, None] * motion
        fused = self.multimodal_fusion(torch.cat([useful, appearance], dim=1))
        heatmaps = self.heatmap_head(fused)
        feats = {
            "motion": motion, "motion_useful": useful, "motion_noisy": noisy, "appearance": appearance,
            "fused": fused,
        }
        return TemporalOutput(heatmaps, feats)
