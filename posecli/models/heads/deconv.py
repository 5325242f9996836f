"""ViTPose's classic heatmap decoder: two 4×4 stride-2 deconvolutions (256 ch, BN, ReLU) and a 1×1 conv.

Design: the mmpose ``HeatmapHead`` of the ViTPose configs (``deconv_out_channels=(256, 256)``,
``deconv_kernel_sizes=(4, 4)``, padding 1, no deconv bias) — the "classic decoder" of the ViTPose
paper; re-implemented, no code copied. It upsamples the 1/16 token grid 4× to the 1/4 heatmap
(24×18 → 96×72 at 384×288).

State-dict keys (mmpose names; under ``keypoint_head.`` in a ``VideoPoseModel``):
``deconv_layers.0.weight`` (ConvTranspose2d ``(C, 256, 4, 4)``), ``deconv_layers.1.*`` (BN),
``deconv_layers.3.weight`` ``(256, 256, 4, 4)``, ``deconv_layers.4.*`` (BN),
``final_layer.{weight,bias}`` ``(K, 256, 1, 1)``.
"""

from __future__ import annotations

from torch import Tensor, nn


class DeconvHeatmapDecoder(nn.Module):
    """Feature map ``(N, C, gh, gw)`` → heatmaps ``(N, K, 4·gh, 4·gw)``."""

    def __init__(self, in_channels: int, num_keypoints: int = 17, channels: int = 256) -> None:
        super().__init__()
        self.deconv_layers = nn.Sequential(
            nn.ConvTranspose2d(in_channels, channels, 4, 2, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(channels, channels, 4, 2, 1, bias=False),
            nn.BatchNorm2d(channels),
            nn.ReLU(inplace=True),
        )
        self.final_layer = nn.Conv2d(channels, num_keypoints, 1)

    def forward(self, x: Tensor) -> Tensor:
        return self.final_layer(self.deconv_layers(x))

    def init_weights(self) -> None:
        """mmpose's head init: deconvs and the 1×1 conv N(0, 0.001), zero bias, unit BN."""
        for module in self.modules():
            if isinstance(module, (nn.ConvTranspose2d, nn.Conv2d)):
                nn.init.normal_(module.weight, std=0.001)
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
