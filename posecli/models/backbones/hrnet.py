"""HRNet (high-resolution network) pose backbone with the official ``pose_hrnet`` state-dict layout.

Design: Sun et al., "Deep High-Resolution Representation Learning for Human Pose Estimation"
(CVPR 2019); upstream name ``PoseHighResolutionNet`` in leoxiaobin/deep-high-resolution-net.pytorch
(MIT licence). Re-implemented from the architecture description in spec models.md §2; no code copied.

Checkpoint key mapping: the attribute names below equal the official keys (``conv1``, ``bn1``,
``conv2``, ``bn2``, ``layer1``, ``transition1..3``, ``stage2..4`` with ``branches`` / ``fuse_layers``,
``final_layer``), so an official COCO/PoseTrack checkpoint loads with ``strict=True``; inside a
``VideoPoseModel`` they sit under the prefix ``hrnet.``.

Structure at base width C: stem (two 3×3 stride-2 convs, 64 ch, stride 4), ``layer1`` (4 Bottlenecks,
256 ch), then 2, 3 and 4 parallel branches of C, 2C, 4C, 8C channels in 1, 4 and 3 modules of
4 BasicBlocks each, fused by summation; the last module only outputs the highest-resolution branch.
``final_layer`` is a 1×1 conv with bias to 17 heatmaps.
"""

from __future__ import annotations

from torch import Tensor, nn

BN_MOMENTUM = 0.1


class BasicBlock(nn.Module):
    """Two 3×3 convs (no bias) with BN and a residual; ``downsample`` projects the shortcut if given."""

    expansion = 1

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        """x ``(N, inplanes, H, W)`` → ``(N, planes, H/stride, W/stride)``."""
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + shortcut)


class Bottleneck(nn.Module):
    """1×1 → 3×3 → 1×1 (×4 channels) bottleneck with BN and a residual."""

    expansion = 4

    def __init__(self, inplanes: int, planes: int, stride: int = 1, downsample: nn.Module | None = None) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(inplanes, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes, momentum=BN_MOMENTUM)
        self.conv3 = nn.Conv2d(planes, planes * 4, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(planes * 4, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        self.downsample = downsample

    def forward(self, x: Tensor) -> Tensor:
        """x ``(N, inplanes, H, W)`` → ``(N, 4·planes, H/stride, W/stride)``."""
        shortcut = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + shortcut)


def _conv_bn(cin: int, cout: int, kernel: int, stride: int, relu: bool) -> list[nn.Module]:
    """Bias-free conv + BN (+ ReLU) as a layer list, so indices match the official keys (0 conv, 1 bn)."""
    layers: list[nn.Module] = [
        nn.Conv2d(cin, cout, kernel, stride, kernel // 2, bias=False),
        nn.BatchNorm2d(cout, momentum=BN_MOMENTUM),
    ]
    if relu:
        layers.append(nn.ReLU(inplace=True))
    return layers


class HighResolutionModule(nn.Module):
    """Parallel branches of BasicBlocks followed by all-to-all fusion by summation.

    ``fuse_layers[i][j]`` brings branch j to branch i's resolution: a 1×1 conv + BN + nearest
    upsampling when j > i, a chain of stride-2 3×3 convs when j < i, nothing when i == j. With
    ``multi_scale_output=False`` only branch 0's fused output is produced.
    """

    def __init__(self, channels: list[int], num_blocks: int, multi_scale_output: bool) -> None:
        super().__init__()
        self.num_branches = len(channels)
        self.multi_scale_output = multi_scale_output
        self.branches = nn.ModuleList(
            nn.Sequential(*(BasicBlock(c, c) for _ in range(num_blocks))) for c in channels
        )
        num_out = self.num_branches if multi_scale_output else 1
        fuse_layers = []
        for i in range(num_out):
            row: list[nn.Module | None] = []
            for j in range(self.num_branches):
                if j > i:
                    row.append(
                        nn.Sequential(
                            *_conv_bn(channels[j], channels[i], 1, 1, relu=False),
                            nn.Upsample(scale_factor=2 ** (j - i), mode="nearest"),
                        )
                    )
                elif j == i:
                    row.append(None)
                else:
                    steps = []
                    for k in range(i - j):
                        last = k == i - j - 1
                        cout = channels[i] if last else channels[j]
                        steps.append(nn.Sequential(*_conv_bn(channels[j], cout, 3, 2, relu=not last)))
                    row.append(nn.Sequential(*steps))
            fuse_layers.append(nn.ModuleList(row))  # type: ignore[arg-type]  # None = identity (official layout)
        self.fuse_layers = nn.ModuleList(fuse_layers)
        self.relu = nn.ReLU(inplace=False)

    def forward(self, xs: list[Tensor]) -> list[Tensor]:
        """xs: one ``(N, C_i, H/2^i, W/2^i)`` tensor per branch → fused tensors (all or branch 0)."""
        xs = [branch(x) for branch, x in zip(self.branches, xs)]
        outs = []
        for i, row in enumerate(self.fuse_layers):
            assert isinstance(row, nn.ModuleList)
            # summed in branch order 0, 1, 2, … as the official code does: float32 sums depend on the
            # order, and starting from branch i instead moved outputs by ~1e-6 relative
            parts = [xs[j] if j == i else layer(xs[j]) for j, layer in enumerate(row)]
            total = parts[0]
            for part in parts[1:]:
                total = total + part
            outs.append(self.relu(total))
        return outs


class HRNet(nn.Module):
    """HRNet pose backbone at base width C (32 or 48 for W32/W48) with a 17-heatmap ``final_layer``."""

    def __init__(self, width: int = 48, num_keypoints: int = 17) -> None:
        super().__init__()
        c = width
        self.width = width
        self.conv1 = nn.Conv2d(3, 64, 3, 2, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.conv2 = nn.Conv2d(64, 64, 3, 2, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(64, momentum=BN_MOMENTUM)
        self.relu = nn.ReLU(inplace=True)
        downsample = nn.Sequential(*_conv_bn(64, 256, 1, 1, relu=False))
        self.layer1 = nn.Sequential(
            Bottleneck(64, 64, downsample=downsample), *(Bottleneck(256, 64) for _ in range(3))
        )
        widths = [c, 2 * c, 4 * c, 8 * c]
        self.transition1 = self._transition([256], widths[:2])
        self.stage2 = self._stage(widths[:2], num_modules=1, multi_scale_output=True)
        self.transition2 = self._transition(widths[:2], widths[:3])
        self.stage3 = self._stage(widths[:3], num_modules=4, multi_scale_output=True)
        self.transition3 = self._transition(widths[:3], widths[:4])
        # the last stage-4 module outputs only the highest-resolution branch
        self.stage4 = self._stage(widths, num_modules=3, multi_scale_output=False)
        self.final_layer = nn.Conv2d(c, num_keypoints, 1, 1, 0)

    @staticmethod
    def _transition(prev: list[int], cur: list[int]) -> nn.ModuleList:
        """Adapt existing branches (None when unchanged) and spawn the new one by stride-2 convs."""
        layers: list[nn.Module | None] = []
        for i, cout in enumerate(cur):
            if i < len(prev):
                layers.append(nn.Sequential(*_conv_bn(prev[i], cout, 3, 1, relu=True)) if prev[i] != cout else None)
            else:
                steps = []
                for j in range(i + 1 - len(prev)):
                    cin = prev[-1]
                    out = cout if j == i - len(prev) else cin
                    steps.append(nn.Sequential(*_conv_bn(cin, out, 3, 2, relu=True)))
                layers.append(nn.Sequential(*steps))
        return nn.ModuleList(layers)  # type: ignore[arg-type]  # None = branch kept as is (official layout)

    @staticmethod
    def _stage(channels: list[int], num_modules: int, multi_scale_output: bool) -> nn.Sequential:
        modules = [
            HighResolutionModule(channels, 4, multi_scale_output or i < num_modules - 1) for i in range(num_modules)
        ]
        return nn.Sequential(*modules)

    @staticmethod
    def _apply_transition(transition: nn.ModuleList, xs: list[Tensor]) -> list[Tensor]:
        out = []
        for i, layer in enumerate(transition):
            if i < len(xs):
                out.append(xs[i] if layer is None else layer(xs[i]))
            else:
                out.append(layer(xs[-1]))  # new branch grows from the lowest-resolution one
        return out

    def forward_stages(self, x: Tensor) -> list[Tensor]:
        """The highest-resolution branch at four depths (TDMI's stage taps, spec §12b).

        x: ``(N, 3, H, W)`` normalised RGB → four ``(N, C, H/4, W/4)`` tensors: after ``transition1``,
        after ``stage2``, after ``stage3`` and after ``stage4`` (the last one is the feature F).
        """
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.relu(self.bn2(self.conv2(x)))
        x = self.layer1(x)  # (N, 256, H/4, W/4)
        xs = self._apply_transition(self.transition1, [x])
        taps = [xs[0]]
        xs = self.stage2(xs)
        taps.append(xs[0])
        xs = self.stage3(self._apply_transition(self.transition2, xs))
        taps.append(xs[0])
        xs = self.stage4(self._apply_transition(self.transition3, xs))
        taps.append(xs[0])
        return taps

    def forward_features(self, x: Tensor) -> list[Tensor]:
        """x ``(N, 3, H, W)`` → ``[F]`` with F ``(N, C, H/4, W/4)`` (the stage-4 high-resolution output)."""
        return [self.forward_stages(x)[-1]]

    def forward(self, x: Tensor) -> tuple[Tensor, list[Tensor]]:
        """x ``(N, 3, H, W)`` → (heatmaps ``(N, 17, H/4, W/4)``, ``[F]``) as the reference returns."""
        feats = self.forward_features(x)
        return self.final_layer(feats[0]), feats


def init_hrnet_weights(model: HRNet) -> None:
    """The official HRNet initialisation: conv weights N(0, 0.001), conv biases 0, BN γ 1 / β 0."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            nn.init.normal_(module.weight, std=0.001)
            if module.bias is not None:
                nn.init.zeros_(module.bias)
        elif isinstance(module, nn.BatchNorm2d):
            nn.init.ones_(module.weight)
            nn.init.zeros_(module.bias)

