"""The GTM warp reproduces kornia's align_corners=True warp, and the GTM learns a known translation."""

from __future__ import annotations

import pytest
import torch

from posecli.models.temporal.fami import FamiTemporal
from posecli.models.temporal.gtm import build_gtm, gtm_matrix, warp_affine


def _blobs(h: int, w: int, centres: list[tuple[float, float]], sigma: float = 4.0) -> torch.Tensor:
    """``(1, C, h, w)`` smooth maps, one Gaussian blob per channel."""
    ys, xs = torch.meshgrid(torch.arange(h, dtype=torch.float32), torch.arange(w, dtype=torch.float32), indexing="ij")
    maps = [torch.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * sigma**2)) for cx, cy in centres]
    return torch.stack(maps)[None]


def test_integer_translation_moves_content() -> None:
    x = torch.randn(2, 3, 10, 12)
    matrix = gtm_matrix(torch.tensor([[2.0, 1.0], [-1.0, 0.0]]), (10, 12), "translation")
    out = warp_affine(x, matrix)
    # out(x, y) = in(x - tx, y - ty), zeros where the source is outside
    assert torch.allclose(out[0, :, 1:, 2:], x[0, :, :-1, :-2], atol=1e-5)
    assert out[0, :, 0, :].abs().max() < 1e-6 and out[0, :, :, :2].abs().max() < 1e-6
    assert torch.allclose(out[1, :, :, :-1], x[1, :, :, 1:], atol=1e-5)


def test_subpixel_matches_align_corners_formula() -> None:
    x = torch.randn(1, 2, 6, 5)
    out = warp_affine(x, gtm_matrix(torch.tensor([[0.25, -0.5]]), (6, 5), "translation"))
    # bilinear interpolation of in(x - 0.25, y + 0.5) at an interior pixel (x=2, y=3)
    sx, sy = 2 - 0.25, 3 + 0.5
    x0, y0 = int(sx), int(sy)
    fx, fy = sx - x0, sy - y0
    v = x[0, :, y0, x0] * (1 - fx) * (1 - fy) + x[0, :, y0, x0 + 1] * fx * (1 - fy)
    v += x[0, :, y0 + 1, x0] * (1 - fx) * fy + x[0, :, y0 + 1, x0 + 1] * fx * fy
    assert torch.allclose(out[0, :, 3, 2], v, atol=1e-5)


def test_affine_mode_starts_at_identity_and_rotates_about_centre() -> None:
    temporal = FamiTemporal(8, gtm="affine").eval()  # one clip: BN on its running statistics
    temporal.init_weights(0.001)
    assert temporal.feat_global_offset_layers[9].weight.shape == (6, 64)
    key = torch.randn(1, 8, 24, 20)
    support = torch.randn(1, 4, 8, 24, 20)
    aligned, matrix = temporal.align(key, support)
    assert torch.allclose(matrix, torch.eye(2, 3).expand(1, 4, 2, 3), atol=1e-6)
    assert torch.allclose(aligned, support, atol=1e-5)
    # a pure 180° rotation about the centre maps the map onto its point reflection
    delta = torch.tensor([[-2.0, 0.0, 0.0, 0.0, -2.0, 0.0]])
    x = torch.randn(1, 1, 5, 7)
    rotated = warp_affine(x, gtm_matrix(delta, (5, 7), "affine"))
    assert torch.allclose(rotated, x.flip(-1).flip(-2), atol=1e-5)


@pytest.mark.parametrize("size", [(96, 72), (64, 48)])
def test_gtm_shapes(size: tuple[int, int]) -> None:
    gtm = build_gtm(8, "translation")
    assert gtm(torch.randn(2, 8, *size)).shape == (2, 2)


def test_gtm_recovers_known_translation() -> None:
    torch.manual_seed(0)
    h, w = 48, 40
    centres = [(12.0, 14.0), (25.0, 30.0), (20.0, 20.0), (30.0, 10.0)]
    key = _blobs(h, w, centres)
    shift = (2.0, -1.0)
    support = _blobs(h, w, [(cx + shift[0], cy + shift[1]) for cx, cy in centres])  # key moved by +shift
    temporal = FamiTemporal(4)
    temporal.init_weights(0.001)
    optim = torch.optim.Adam(temporal.feat_global_offset_layers.parameters(), lr=0.003)
    for _ in range(60):
        aligned, _ = temporal.align(key, support[:, None])
        loss = (aligned[:, 0] - key).square().mean()
        optim.zero_grad()
        loss.backward()
        optim.step()
    _, matrix = temporal.align(key, support[:, None])
    t = matrix[0, 0, :, 2].detach()
    assert torch.allclose(t, torch.tensor([-shift[0], -shift[1]]), atol=0.15), t
