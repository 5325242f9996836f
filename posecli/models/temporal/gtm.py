"""Global Transformation Module (GTM) of FAMI-Pose and the kornia-equivalent affine warp.

The GTM regresses a global motion between a supporting feature and the key feature from their
difference and warps the supporting feature onto the key frame (spec models.md §3.2 step 2).
Layer indices equal the reference ``feat_global_offset_layers`` (``[0]`` chain, ``[1..5]`` stride-2
``conv_bn_relu``, ``[6]`` parameter-free flatten, ``[7..9]`` Linears without activations).

posecli differences (spec §12a, §12c):
- index 6 first adaptive-average-pools to 3×3, a no-op at 384×288 (96×72 maps end 3×3) that lets
  256×192 inputs (2×2 maps) use the same Linear shapes;
- ``mode="affine"`` (the paper's variant) predicts 6 numbers: a 2×3 pixel-space matrix acting about the
  map centre, as ``identity + delta``; the last Linear is zero-initialised so training starts at the
  identity. ``mode="translation"`` (released code) predicts (tx, ty).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from posecli.models.temporal.blocks import ChainOfBasicBlocks, ConvBnRelu

GTM_HIDDEN = 16  # channels of the GTM conv tower (reference)
GTM_POOL = 3  # spatial size the tower ends at for 96×72 maps


class PoolFlatten(nn.Module):
    """Adaptive-average-pool to 3×3 and flatten: ``(N, 16, h', w')`` → ``(N, 144)``."""

    def forward(self, x: Tensor) -> Tensor:
        """x ``(N, C, h', w')`` → ``(N, C·9)``."""
        if x.shape[-2:] != (GTM_POOL, GTM_POOL):
            x = F.adaptive_avg_pool2d(x, GTM_POOL)
        return torch.flatten(x, 1)


def build_gtm(channels: int, mode: str) -> nn.Sequential:
    """The ``feat_global_offset_layers`` stack for C-channel features; output ``(N, 2)`` or ``(N, 6)``."""
    layers: list[nn.Module] = [ChainOfBasicBlocks(channels, GTM_HIDDEN, 1)]
    layers += [ConvBnRelu(GTM_HIDDEN, GTM_HIDDEN, 3, stride=2, padding=1) for _ in range(5)]
    layers += [
        PoolFlatten(),
        nn.Linear(GTM_HIDDEN * GTM_POOL * GTM_POOL, 64),
        nn.Linear(64, 64),
        nn.Linear(64, 2 if mode == "translation" else 6),
    ]
    return nn.Sequential(*layers)


def gtm_matrix(params: Tensor, size: tuple[int, int], mode: str) -> Tensor:
    """Source → destination pixel matrices ``(N, 2, 3)`` from GTM outputs.

    params: ``(N, 2)`` (tx, ty) for ``translation``; ``(N, 6)`` row-major deltas from the identity for
    ``affine``, whose linear part acts about the map centre. size: ``(h, w)`` of the feature map.
    """
    n = params.shape[0]
    eye = torch.eye(2, 3, device=params.device, dtype=params.dtype).expand(n, 2, 3)
    if mode == "translation":
        shift = torch.zeros_like(eye)
        shift[:, :, 2] = params
        return eye + shift
    delta = params.view(n, 2, 3)
    linear = eye[:, :, :2] + delta[:, :, :2]
    centre = torch.tensor([(size[1] - 1) / 2, (size[0] - 1) / 2], device=params.device, dtype=params.dtype)
    # dst = L (src - c) + c + t  →  translation column = c + t - L c
    trans = centre + delta[:, :, 2] - torch.einsum("nij,j->ni", linear, centre)
    return torch.cat([linear, trans.unsqueeze(-1)], dim=2)


def warp_affine(x: Tensor, matrix: Tensor) -> Tensor:
    """Warp like ``cv2.warpAffine`` / kornia ``warp_affine(align_corners=True)``: bilinear, zero padding.

    x: ``(N, C, h, w)``; matrix: ``(N, 2, 3)`` source → destination in pixels, so for a translation
    ``out(x, y) = in(x - tx, y - ty)``. Returns ``(N, C, h, w)``.
    """
    n, _, h, w = x.shape
    full = torch.cat([matrix, matrix.new_tensor([0.0, 0.0, 1.0]).expand(n, 1, 3)], dim=1)  # (N, 3, 3)
    # pixel → normalised coordinates for align_corners=True
    norm = x.new_tensor([[2.0 / max(w - 1, 1), 0.0, -1.0], [0.0, 2.0 / max(h - 1, 1), -1.0], [0.0, 0.0, 1.0]])
    # grouped as kornia groups it, norm · (M · norm⁻¹): the float32 grid then equals the reference's
    dst_from_src = norm @ (full @ torch.linalg.inv(norm))
    theta = torch.linalg.inv(dst_from_src)[:, :2, :]  # affine_grid wants destination → source
    grid = F.affine_grid(theta, [n, x.shape[1], h, w], align_corners=True)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
