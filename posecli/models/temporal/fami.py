"""FAMI-Pose temporal module: GTM alignment, supporting aggregation, LCM and fusion.

Design: Liu et al., "Temporal Feature Alignment and Mutual Information Maximization for Video-Based
Human Pose Estimation" (CVPR 2022); upstream class ``Alignment_V15`` in Pose-Group/FAMI-Pose (no
licence; re-implemented from spec models.md §3, no code copied).

Checkpoint key mapping: inside a ``VideoPoseModel`` the attributes below appear at the top level,
exactly as in the reference state dict (``feat_global_offset_layers.*``, ``sup_agg_block.*``,
``combined_feat_layers.*``, ``dcn_offset_{1..4}.conv.*``, ``dcn_mask_{1..4}.conv.*``, ``dcn_{1..4}.*``,
``init_feature_agg_block.*``, ``agg_final_layer.*``); the backbone is ``hrnet.*``.

Batch-norm rule: in training a BN layer normalises with the statistics of the batch it is called on
and updates its running statistics once per call, so every BN-carrying block is called on exactly the
batch the reference calls it on. The GTM ``feat_global_offset_layers`` is shared by the supporting
frames and runs once per supporting frame (B samples each, frames t-2, t-1, t+1, t+2 in turn: S
running-statistics updates per step); one call over all B·S samples would normalise with mixed-frame
statistics and train a different model. ``sup_agg_block``, ``combined_feat_layers`` and
``init_feature_agg_block`` run once on the B samples; the LCM offset and mask predictors have no BN.
In eval mode batching does not change the arithmetic's meaning, but the GTM still runs per frame:
its Linear layers round differently at another batch size, and per frame the float32 results equal
the reference's.
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
from posecli.models.temporal.gtm import build_gtm, gtm_matrix, warp_affine


class FamiTemporal(nn.Module):
    """FAMI-Pose on cached HRNet features.

    ``features`` names: ``key`` (z_t), ``agg_sup`` (aggregated warped supporting features, before the
    LCM) and ``agg_final`` (z̃, the fused feature the head reads), each ``(B, C, h, w)``.
    """

    num_taps = 1  # only the stage-4 feature of each frame is needed

    def __init__(
        self, channels: int, num_keypoints: int = 17, num_frames: int = 5, gtm: str = "translation",
        deform_impl: str = "auto",
    ) -> None:
        super().__init__()
        c = channels
        self.gtm_mode = gtm
        self.num_frames = num_frames
        self.feat_global_offset_layers = build_gtm(c, gtm)
        self.sup_agg_block = ChainOfBasicBlocks((num_frames - 1) * c, c, 2)
        self.combined_feat_layers = ChainOfBasicBlocks(2 * c, c, 1)
        # LCM: offset (216 at C=48) and raw-mask (108) predictors and 3×3 DCNs with dilation 3
        self.dcn_offset_1, self.dcn_offset_2 = offset_conv(c), offset_conv(c)
        self.dcn_offset_3, self.dcn_offset_4 = offset_conv(c), offset_conv(c)
        self.dcn_mask_1, self.dcn_mask_2 = mask_conv(c), mask_conv(c)
        self.dcn_mask_3, self.dcn_mask_4 = mask_conv(c), mask_conv(c)
        self.dcn_1, self.dcn_2, self.dcn_3, self.dcn_4 = (
            DeformConv2d(c, c, 3, padding=3, dilation=3, impl=deform_impl) for _ in range(4)
        )
        self.init_feature_agg_block = ChainOfBasicBlocks(2 * c, c, 3)
        self.agg_final_layer = heatmap_conv(c, num_keypoints)

    def init_weights(self, std: float) -> None:
        """Reference init (spec §3.3), plus identity start of the affine GTM's last Linear."""
        init_temporal_weights(self, std)
        if self.gtm_mode == "affine":
            last = self.feat_global_offset_layers[9]
            assert isinstance(last, nn.Linear)
            nn.init.zeros_(last.weight)
            nn.init.zeros_(last.bias)

    def align(self, key: Tensor, support: Tensor) -> tuple[Tensor, Tensor]:
        """GTM: warp each supporting feature onto the key feature, the GTM called once per frame.

        key ``(B, C, h, w)``; support ``(B, S, C, h, w)`` → (aligned ``(B, S, C, h, w)``,
        matrices ``(B, S, 2, 3)`` source → destination pixels).
        """
        b, s, c, h, w = support.shape
        flat = support.reshape(b * s, c, h, w)  # (B·S, C, h, w)
        diff = support - key.unsqueeze(1)  # (B, S, C, h, w)
        # one call per supporting frame, in frame order (module docstring: batch-norm rule)
        params = torch.stack([self.feat_global_offset_layers(diff[:, i]) for i in range(s)], dim=1)  # (B,S,2|6)
        matrix = gtm_matrix(params.reshape(b * s, -1), (h, w), self.gtm_mode)  # (B·S, 2, 3)
        return warp_affine(flat, matrix).view(b, s, c, h, w), matrix.view(b, s, 2, 3)

    def forward(self, taps: list[Tensor]) -> TemporalOutput:
        """taps: ``[F]`` with F ``(B, T, C, h, w)``, frames t-2, t-1, t, t+1, t+2 (key at T // 2)."""
        feats = taps[-1]
        b, t, c, h, w = feats.shape
        key = feats[:, t // 2]
        support = torch.cat([feats[:, : t // 2], feats[:, t // 2 + 1 :]], dim=1)  # (B, S, C, h, w)
        aligned, _ = self.align(key, support)
        agg_sup = self.sup_agg_block(aligned.reshape(b, (t - 1) * c, h, w))  # frames stacked on channels
        comb = self.combined_feat_layers(torch.cat([agg_sup, key], dim=1))  # concat(agg_sup, z_t)
        sup = local_calibration(
            (self.dcn_1, self.dcn_2, self.dcn_3, self.dcn_4),
            (self.dcn_offset_1, self.dcn_offset_2, self.dcn_offset_3, self.dcn_offset_4),
            (self.dcn_mask_1, self.dcn_mask_2, self.dcn_mask_3, self.dcn_mask_4),
            agg_sup, comb,
        )
        agg_final = self.init_feature_agg_block(torch.cat([key, sup], dim=1))
        heatmaps = self.agg_final_layer(agg_final)
        return TemporalOutput(heatmaps, {"key": key, "agg_sup": agg_sup, "agg_final": agg_final})
