"""Modulated deformable convolution (DCNv2) with torchvision semantics and a CPU ``grid_sample`` form.

``DeformConv2d`` keeps the parameter names of ``torchvision.ops.DeformConv2d`` (``weight``, ``bias``)
so reference FAMI-Pose/TDMI state dicts load unchanged. Offsets are ``(N, 2·G·kh·kw, Ho, Wo)`` with
channel ``g·2·kh·kw + 2·k + {0: dy, 1: dx}`` for offset group g and kernel tap ``k = i·kw + j``; masks
are ``(N, G·kh·kw, Ho, Wo)`` used raw (no sigmoid, as the reference). G is inferred from the offset
channels (12 in the reference at C = 48).

``deform_conv2d_grid_sample`` computes the same result by sampling every tap of every offset group
with one bilinear ``grid_sample`` call (zero padding, ``align_corners=True`` so that normalised grid
coordinates hit pixel centres exactly), weighting by the mask and contracting with the kernel as a
matrix product. torchvision's CPU kernel is a per-pixel im2col loop; on CPU the ``grid_sample`` form
is used when ``impl="auto"`` because it is faster (``benchmarks/bench_model_cpu.py``) and equal
within 1e-4 (``tests/models/test_deform.py``). Its sums run in another order than torchvision's, so
float32 outputs differ from the reference's by ~3e-6 relative per DCN; ``impl="torchvision"`` gives
the reference's float32 results bit for bit, at 4.5× the CPU time per DCN (``benchmarks/RESULTS.md``).

Which kernel ``auto`` picks is ``resolve_deform_impl(impl, device)``; the first call of each choice
logs it once at DEBUG level on the ``posecli.models.deform`` logger.
"""

from __future__ import annotations

import functools
import logging
import math
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import deform_conv2d as tv_deform_conv2d

_log = logging.getLogger(__name__)

DeformKernel = Literal["torchvision", "grid_sample"]
CHUNK_FLOATS = 1 << 18  # sampled values per block (1 MiB of float32): the block stays in the CPU cache


def deform_conv2d_grid_sample(
    x: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    mask: Tensor | None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
) -> Tensor:
    """Modulated deformable conv via ``grid_sample`` (groups = 1).

    x ``(N, C, H, W)``; offset ``(N, 2·G·kh·kw, Ho, Wo)``; weight ``(Cout, C, kh, kw)``;
    bias ``(Cout,)`` or None; mask ``(N, G·kh·kw, Ho, Wo)`` or None → ``(N, Cout, Ho, Wo)``.

    The work goes in blocks of one sample and a few output rows: the sampled columns of a block
    (``C·kh·kw`` values per output pixel) are made, masked and contracted while they are still in the
    cache. Done for the whole map at once they are tens of MB, and the CPU waits on memory (about 2.5×
    slower at five crops of 96×72; ``benchmarks/bench_model_cpu.py``). Same arithmetic either way.
    """
    n, c, h, w = x.shape
    cout, cin, kh, kw = weight.shape
    if cin != c:
        raise ValueError(f"weight expects {cin} input channels, input has {c}")
    taps = kh * kw
    ho, wo = offset.shape[-2:]
    groups = offset.shape[1] // (2 * taps)
    if groups * 2 * taps != offset.shape[1] or c % groups:
        raise ValueError(f"offset channels {offset.shape[1]} do not fit {taps} taps and {c} input channels")
    # base sampling positions of every tap at every output pixel, in input pixels
    ki = torch.arange(kh, device=x.device, dtype=x.dtype).repeat_interleave(kw) * dilation  # (taps,)
    kj = torch.arange(kw, device=x.device, dtype=x.dtype).repeat(kh) * dilation
    base_y = (torch.arange(ho, device=x.device, dtype=x.dtype) * stride - padding).view(1, ho, 1) + ki.view(taps, 1, 1)
    base_x = (torch.arange(wo, device=x.device, dtype=x.dtype) * stride - padding).view(1, 1, wo) + kj.view(taps, 1, 1)
    # pixel → normalised coordinates for align_corners=True; a size-1 axis maps its only pixel to 0
    scale_y, scale_x = 2.0 / max(h - 1, 1), 2.0 / max(w - 1, 1)
    off = offset.view(n, groups, taps, 2, ho, wo)
    masks = None if mask is None else mask.view(n, groups, 1, taps, ho, wo)
    columns_weight = weight.reshape(cout, c * taps)  # channel-major, tap-minor, like the columns below
    rows = max(1, min(ho, CHUNK_FLOATS // max(c * taps * wo, 1)))
    in_place = not torch.is_grad_enabled()  # autograd needs the unmasked samples for the mask's gradient
    out_rows = []
    for i in range(n):
        source = x[i].reshape(groups, c // groups, h, w)
        for r0 in range(0, ho, rows):
            r1 = min(r0 + rows, ho)
            py = (base_y[:, r0:r1] + off[i, :, :, 0, r0:r1]) * scale_y - 1.0  # (G, taps, R, Wo)
            px = (base_x + off[i, :, :, 1, r0:r1]) * scale_x - 1.0
            grid = torch.stack([px, py], dim=-1).view(groups, taps * (r1 - r0), wo, 2)
            sampled = F.grid_sample(source, grid, mode="bilinear", padding_mode="zeros", align_corners=True)
            sampled = sampled.view(groups, c // groups, taps, r1 - r0, wo)  # (G, C/G, taps, R, Wo)
            if masks is not None:
                block_mask = masks[i, :, :, :, r0:r1]  # (G, 1, taps, R, Wo)
                sampled = sampled.mul_(block_mask) if in_place else sampled * block_mask
            out_rows.append(columns_weight @ sampled.reshape(c * taps, (r1 - r0) * wo))  # (Cout, R·Wo)
    out = torch.cat(out_rows, dim=1).view(cout, n, ho, wo).transpose(0, 1)  # (N, Cout, Ho, Wo)
    if bias is not None:
        out = out + bias.view(1, cout, 1, 1)
    return out.contiguous()


def resolve_deform_impl(impl: str, device: torch.device | str) -> DeformKernel:
    """The kernel a ``deform_impl`` setting runs on ``device``: ``auto`` is ``grid_sample`` on the CPU
    and ``torchvision`` elsewhere; the other two name themselves. Unknown names raise ``ValueError``."""
    if impl == "auto":
        return "grid_sample" if torch.device(device).type == "cpu" else "torchvision"
    if impl in ("grid_sample", "torchvision"):
        return "grid_sample" if impl == "grid_sample" else "torchvision"
    raise ValueError(
        f"unknown deformable-conv implementation {impl!r}; choose auto, torchvision or grid_sample"
    )


@functools.cache
def _log_choice(impl: str, kernel: str, device_type: str) -> None:
    """One DEBUG line per (setting, kernel, device type) and process (cached: not one per call)."""
    _log.debug("deformable conv: deform_impl=%s runs the %s kernel on %s", impl, kernel, device_type)


def modulated_deform_conv2d(
    x: Tensor,
    offset: Tensor,
    weight: Tensor,
    bias: Tensor | None,
    mask: Tensor | None,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    impl: str = "auto",
) -> Tensor:
    """Dispatch to torchvision or the ``grid_sample`` form (``resolve_deform_impl``).

    Shapes as in ``deform_conv2d_grid_sample``.
    """
    kernel = resolve_deform_impl(impl, x.device)
    _log_choice(impl, kernel, x.device.type)
    if kernel == "grid_sample":
        return deform_conv2d_grid_sample(x, offset, weight, bias, mask, stride, padding, dilation)
    return tv_deform_conv2d(
        x, offset, weight, bias, stride=(stride, stride), padding=(padding, padding),
        dilation=(dilation, dilation), mask=mask,
    )


class DeformConv2d(nn.Module):
    """Modulated deformable 3×3 conv with the parameter names of ``torchvision.ops.DeformConv2d``.

    Weights keep PyTorch's default (Kaiming-uniform) init and the bias starts at 0, as the reference's
    init loop skips this module type (spec §3.3).
    """

    def __init__(
        self, in_channels: int, out_channels: int, kernel_size: int = 3, stride: int = 1, padding: int = 0,
        dilation: int = 1, impl: str = "auto",
    ) -> None:
        super().__init__()
        self.stride, self.padding, self.dilation, self.impl = stride, padding, dilation, impl
        self.weight = nn.Parameter(torch.empty(out_channels, in_channels, kernel_size, kernel_size))
        self.bias = nn.Parameter(torch.zeros(out_channels))
        nn.init.kaiming_uniform_(self.weight, a=math.sqrt(5))

    def forward(self, x: Tensor, offset: Tensor, mask: Tensor) -> Tensor:
        """x ``(N, Cin, H, W)``, offset ``(N, 2·G·9, Ho, Wo)``, mask ``(N, G·9, Ho, Wo)`` → ``(N, Cout, Ho, Wo)``."""
        return modulated_deform_conv2d(
            x, offset, self.weight, self.bias, mask, self.stride, self.padding, self.dilation, self.impl
        )
