"""Float32 sums run in the reference's order where that costs nothing (issue: 1e-6–1e-5 relative
differences on stressed weights came from these two places).

HRNet's branch fusion adds the branches in index order starting from branch 0, as the official
``HighResolutionModule``; the GTM warp builds its grid as kornia 0.5's ``warp_affine`` (the FAMI-Pose
code's era) does: ``N · (M · N⁻¹)`` with N the pixel → [-1, 1] matrix, inverted, then ``affine_grid``.
Both tests compare bit for bit, so another grouping of the same arithmetic fails them.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from posecli.models.backbones.hrnet import HighResolutionModule
from posecli.models.temporal.gtm import gtm_matrix, warp_affine


def test_branch_fusion_sums_in_branch_order() -> None:
    widths = [8, 16, 32, 64]
    module = HighResolutionModule(widths, 1, multi_scale_output=True).eval()
    xs = [torch.randn(2, c, 32 >> i, 24 >> i) for i, c in enumerate(widths)]
    with torch.no_grad():
        out = module(list(xs))
        ys = [branch(x) for branch, x in zip(module.branches, xs)]
        for i, row in enumerate(module.fuse_layers):
            parts = [ys[j] if j == i else row[j](ys[j]) for j in range(len(widths))]
            expected = ((parts[0] + parts[1]) + parts[2]) + parts[3]  # j = 0, 1, 2, 3, as the official code
            assert torch.equal(out[i], torch.relu(expected)), f"branch {i}"


def test_warp_grid_grouped_as_kornia() -> None:
    n, h, w = 256, 24, 18
    x = torch.randn(n, 2, h, w)
    matrix = gtm_matrix(torch.randn(n, 2) * 3, (h, w), "translation")
    norm = torch.tensor([[2.0 / (w - 1), 0.0, -1.0], [0.0, 2.0 / (h - 1), -1.0], [0.0, 0.0, 1.0]])
    homography = torch.cat([matrix, torch.tensor([0.0, 0.0, 1.0]).expand(n, 1, 3)], dim=1)
    theta = torch.inverse(norm @ (homography @ torch.inverse(norm)))[:, :2]
    grid = F.affine_grid(theta, [n, 2, h, w], align_corners=True)
    expected = F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
    assert torch.equal(warp_affine(x, matrix), expected)
