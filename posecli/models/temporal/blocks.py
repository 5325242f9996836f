"""Building blocks shared by FAMI-Pose and TDMI (spec models.md §3.1) and their initialisation.

Upstream names: ``ChainOfBasicBlocks`` and ``conv_bn_relu`` in Pose-Group/FAMI-Pose (no licence;
re-implemented from the spec). Key layout: ``<name>.layers.{i}.{conv1,bn1,conv2,bn2}``,
``<name>.layers.0.downsample.{0,1}`` and ``<name>.conv`` / ``<name>.bn``.
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import Tensor, nn

from posecli.models.backbones.hrnet import BN_MOMENTUM, BasicBlock
from posecli.models.deform import DeformConv2d


@dataclass
class TemporalOutput:
    """What a temporal module returns.

    heatmaps: ``(B, K, h, w)`` key-frame heatmap (the 17-ch conv map); features: named ``(B, C, h, w)``
    tensors the MI objectives need (see each module's docstring for the names).
    """

    heatmaps: Tensor
    features: dict[str, Tensor]


class ChainOfBasicBlocks(nn.Module):
    """n BasicBlocks ``in → out → … → out``; the first always has a 1×1 conv + BN projection shortcut.

    The projection is there even when ``in == out`` (the reference builds it unconditionally), which
    the checkpoint layout depends on.
    """

    def __init__(self, in_channels: int, out_channels: int, num_blocks: int) -> None:
        super().__init__()
        projection = nn.Sequential(
            nn.Conv2d(in_channels, out_channels, 1, bias=False), nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM)
        )
        blocks = [BasicBlock(in_channels, out_channels, downsample=projection)]
        blocks += [BasicBlock(out_channels, out_channels) for _ in range(num_blocks - 1)]
        self.layers = nn.Sequential(*blocks)

    def forward(self, x: Tensor) -> Tensor:
        """x ``(N, in, H, W)`` → ``(N, out, H, W)``."""
        return self.layers(x)


class ConvBnRelu(nn.Module):
    """Conv2d **with bias**, optionally followed by BN and ReLU (upstream ``conv_bn_relu``)."""

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1, padding: int = 0,
        dilation: int = 1, has_bn: bool = True, has_relu: bool = True,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels, out_channels, kernel_size, stride, padding, dilation, bias=True)
        self.bn = nn.BatchNorm2d(out_channels, momentum=BN_MOMENTUM) if has_bn else None
        self.relu = nn.ReLU(inplace=True) if has_relu else None

    def forward(self, x: Tensor) -> Tensor:
        """x ``(N, in, H, W)`` → ``(N, out, H', W')``."""
        x = self.conv(x)
        if self.bn is not None:
            x = self.bn(x)
        if self.relu is not None:
            x = self.relu(x)
        return x


def dcn_offset_groups(channels: int) -> int:
    """Offset groups of the LCM DCNs: 4 channels per group (12 groups at C = 48, as 216 = 2·9·12)."""
    return channels // 4


def offset_conv(channels: int) -> ConvBnRelu:
    """Offset predictor: 3×3, dilation 3, padding 3, bias, no BN/ReLU → ``2·9·G`` channels (216 at C=48)."""
    return ConvBnRelu(channels, 2 * 9 * dcn_offset_groups(channels), 3, 1, 3, 3, has_bn=False, has_relu=False)


def mask_conv(channels: int) -> ConvBnRelu:
    """Mask predictor: as ``offset_conv`` → ``9·G`` channels (108 at C=48); the output is used raw."""
    return ConvBnRelu(channels, 9 * dcn_offset_groups(channels), 3, 1, 3, 3, has_bn=False, has_relu=False)


def deform_step(
    dcn: DeformConv2d, offset_layer: ConvBnRelu, mask_layer: ConvBnRelu, x: Tensor, guide: Tensor
) -> Tensor:
    """Deform ``x`` with offsets and raw masks predicted from ``guide``; both ``(N, C, H, W)`` → same shape."""
    return dcn(x, offset_layer(guide), mask_layer(guide))


def local_calibration(
    dcns: tuple[DeformConv2d, ...], offsets: tuple[ConvBnRelu, ...], masks: tuple[ConvBnRelu, ...],
    agg_sup: Tensor, comb: Tensor,
) -> Tensor:
    """LCM of FAMI-Pose (and TDMI's appearance branch): four modulated DCNs, all ``(B, C, h, w)``.

    dcn_1 and dcn_2 refine the combined feature c (offsets from c); dcn_3 moves ``agg_sup`` with
    offsets from c; dcn_4 refines that result with offsets from itself. Returns the aligned feature.
    """
    comb = deform_step(dcns[0], offsets[0], masks[0], comb, comb)
    comb = deform_step(dcns[1], offsets[1], masks[1], comb, comb)
    aligned = deform_step(dcns[2], offsets[2], masks[2], agg_sup, comb)
    return deform_step(dcns[3], offsets[3], masks[3], aligned, aligned)


def init_temporal_weights(module: nn.Module, std: float) -> None:
    """Reference init (spec §3.3): every Conv2d N(0, std), bias 0; BN γ 1, β 0; Linear and DCN
    weights keep PyTorch defaults with biases set to 0."""
    for m in module.modules():
        if isinstance(m, nn.Conv2d):
            nn.init.normal_(m.weight, std=std)
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
        elif isinstance(m, (nn.Linear, DeformConv2d)) and m.bias is not None:
            nn.init.zeros_(m.bias)
