"""SimCC head: two Linear classifiers over the flattened K-channel map (spec models.md §5, §12d).

Design: Li et al., "SimCC: a Simple Coordinate Classification Perspective for Human Pose Estimation"
(ECCV 2022); upstream ``mlp_head_x`` / ``mlp_head_y`` of leeyegy/SimCC (MIT). posecli applies them to
the 17-channel heatmap of any model (HRNet's ``final_layer`` output, FAMI's ``agg_final_layer``, TDMI's
``heatmap_head``), so the keys are ``mlp_head_x.*`` / ``mlp_head_y.*`` at the top level.
"""

from __future__ import annotations

from torch import Tensor, nn


class SimCCHead(nn.Module):
    """``(B, K, h, w)`` map → x logits ``(B, K, W·k)`` and y logits ``(B, K, H·k)``."""

    def __init__(self, heatmap_size: tuple[int, int], input_size: tuple[int, int], split_ratio: float) -> None:
        super().__init__()
        features = heatmap_size[0] * heatmap_size[1]  # 6912 at 96×72
        self.mlp_head_x = nn.Linear(features, round(input_size[1] * split_ratio))
        self.mlp_head_y = nn.Linear(features, round(input_size[0] * split_ratio))

    def forward(self, maps: Tensor) -> tuple[Tensor, Tensor]:
        """maps ``(B, K, h, w)`` → (simcc_x ``(B, K, W·k)``, simcc_y ``(B, K, H·k)``)."""
        flat = maps.flatten(2)  # (B, K, h·w)
        return self.mlp_head_x(flat), self.mlp_head_y(flat)
