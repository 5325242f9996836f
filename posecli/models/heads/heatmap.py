"""Heatmap head of the temporal models: one 3×3 conv (with bias) from the fused feature to K maps.

It is a plain ``nn.Conv2d`` so that its keys are the reference's ``agg_final_layer.{weight,bias}``
(FAMI-Pose) and ``heatmap_head.{weight,bias}`` (TDMI). The single-frame HRNet model uses HRNet's own
1×1 ``final_layer`` instead.
"""

from __future__ import annotations

from torch import nn


def heatmap_conv(channels: int, num_keypoints: int = 17) -> nn.Conv2d:
    """Conv2d(C, K, 3, padding 1, bias): ``(B, C, h, w)`` → ``(B, K, h, w)``."""
    return nn.Conv2d(channels, num_keypoints, 3, 1, 1, bias=True)
