"""The CPU grid_sample deformable convolution equals torchvision's within 1e-4; which kernel runs."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest
import torch
from torchvision.ops import deform_conv2d

from posecli.models import build_model
from posecli.models.deform import (
    DeformConv2d,
    deform_conv2d_grid_sample,
    modulated_deform_conv2d,
    resolve_deform_impl,
)


@pytest.mark.parametrize(
    ("size", "channels", "groups", "padding", "dilation", "stride"),
    [((24, 18), 48, 12, 3, 3, 1), ((16, 16), 8, 2, 1, 1, 1), ((9, 7), 16, 4, 3, 3, 1), ((12, 10), 8, 1, 1, 1, 2)],
)
@pytest.mark.parametrize("block", [None, 1, 2000])  # whole map / one row per block / a few rows per block
def test_equals_torchvision(size: tuple[int, int], channels: int, groups: int, padding: int, dilation: int,
                            stride: int, block: int | None, monkeypatch: pytest.MonkeyPatch) -> None:
    from posecli.models import deform

    if block is not None:
        monkeypatch.setattr(deform, "CHUNK_FLOATS", block)
    torch.manual_seed(0)
    h, w = size
    ho = (h + 2 * padding - dilation * 2 - 1) // stride + 1
    wo = (w + 2 * padding - dilation * 2 - 1) // stride + 1
    x = torch.randn(2, channels, h, w, dtype=torch.float64, requires_grad=True)
    # large offsets push many taps across the border, exercising zero padding
    offset = (torch.randn(2, 2 * groups * 9, ho, wo, dtype=torch.float64) * 4).requires_grad_()
    mask = torch.randn(2, groups * 9, ho, wo, dtype=torch.float64, requires_grad=True)  # raw, may be < 0
    weight = torch.randn(channels, channels, 3, 3, dtype=torch.float64, requires_grad=True)
    bias = torch.randn(channels, dtype=torch.float64, requires_grad=True)
    inputs = (x, offset, mask, weight, bias)
    ref = deform_conv2d(x, offset, weight, bias, stride=stride, padding=padding, dilation=dilation, mask=mask)
    ours = deform_conv2d_grid_sample(x, offset, weight, bias, mask, stride, padding, dilation)
    assert ours.shape == ref.shape
    assert (ours - ref).abs().max() <= 1e-4
    grads_ref = torch.autograd.grad(ref.square().sum(), inputs)
    grads_ours = torch.autograd.grad(ours.square().sum(), inputs)
    for g_ref, g_ours in zip(grads_ref, grads_ours):
        assert (g_ref - g_ours).abs().max() <= 1e-4 * max(1.0, g_ref.abs().max().item())
    with torch.no_grad():  # inference masks the samples in place
        assert (deform_conv2d_grid_sample(x, offset, weight, bias, mask, stride, padding, dilation) - ref).abs().max() <= 1e-4


def test_float32_module_dispatch() -> None:
    torch.manual_seed(1)
    dcn = DeformConv2d(48, 48, 3, padding=3, dilation=3, impl="grid_sample")
    x = torch.randn(1, 48, 24, 18)
    offset = torch.randn(1, 216, 24, 18) * 2
    mask = torch.randn(1, 108, 24, 18)
    ref = modulated_deform_conv2d(x, offset, dcn.weight, dcn.bias, mask, 1, 3, 3, impl="torchvision")
    assert (dcn(x, offset, mask) - ref).abs().max() <= 1e-4
    assert torch.equal(dcn.bias.detach(), torch.zeros(48))  # bias starts at 0
    with pytest.raises(ValueError):
        modulated_deform_conv2d(x, offset, dcn.weight, dcn.bias, mask, impl="cuda-magic")
    with pytest.raises(ValueError, match="offset channels"):
        deform_conv2d_grid_sample(x, offset[:, :200], dcn.weight, None, None, 1, 3, 3)


def test_zero_offset_unit_mask_is_plain_conv() -> None:
    torch.manual_seed(2)
    x = torch.randn(1, 8, 10, 10)
    weight = torch.randn(4, 8, 3, 3)
    out = deform_conv2d_grid_sample(x, torch.zeros(1, 18, 10, 10), weight, None, torch.ones(1, 9, 10, 10), 1, 1, 1)
    assert (out - torch.nn.functional.conv2d(x, weight, padding=1)).abs().max() < 1e-5


def test_resolve_deform_impl() -> None:
    assert resolve_deform_impl("auto", "cpu") == "grid_sample"
    assert resolve_deform_impl("auto", torch.device("cuda", 0)) == "torchvision"
    assert resolve_deform_impl("torchvision", "cpu") == "torchvision"
    assert resolve_deform_impl("grid_sample", "cuda") == "grid_sample"
    with pytest.raises(ValueError, match="cuda-magic"):
        resolve_deform_impl("cuda-magic", "cpu")


@pytest.mark.parametrize(("impl", "kernel"), [("auto", "grid_sample"), ("torchvision", "torchvision")])
def test_model_reports_and_runs_its_kernel(impl: str, kernel: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """``VideoPoseModel.deform_kernel`` names the kernel its DCNs really run (the run config records it)."""
    from posecli.models import deform

    ran: list[str] = []
    for attr, label in (("deform_conv2d_grid_sample", "grid_sample"), ("tv_deform_conv2d", "torchvision")):
        real = getattr(deform, attr)
        monkeypatch.setattr(deform, attr, lambda *a, real=real, label=label, **k: ran.append(label) or real(*a, **k))
    model = build_model("fami_hrnet_w32", width=8, input_size=(64, 64), deform_impl=impl).eval()
    assert model.deform_kernel == kernel
    with torch.no_grad():
        model(torch.randn(1, 5, 3, 64, 64))
    assert ran and set(ran) == {kernel}
    assert build_model("hrnet_w32", width=8, input_size=(64, 64)).deform_kernel is None


def test_kernel_choice_logged_once_at_debug() -> None:
    """A fresh process (the choice is logged once per process): two calls, one DEBUG line."""
    script = textwrap.dedent(
        """
        import logging, sys, torch
        logging.basicConfig(level=logging.DEBUG, stream=sys.stdout, format="%(name)s|%(message)s")
        from posecli.models.deform import DeformConv2d
        dcn = DeformConv2d(8, 8, 3, padding=1)
        x, offset, mask = torch.randn(1, 8, 6, 6), torch.zeros(1, 36, 6, 6), torch.ones(1, 18, 6, 6)
        dcn(x, offset, mask)
        dcn(x, offset, mask)
        """
    )
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False)
    assert run.returncode == 0, run.stderr
    lines = [line.split("|", 1)[1] for line in run.stdout.splitlines() if line.startswith("posecli.models.deform|")]
    assert lines == ["deformable conv: deform_impl=auto runs the grid_sample kernel on cpu"]


@pytest.mark.gpu
def test_cuda_torchvision_matches_cpu_grid_sample() -> None:
    """On GPU ``auto`` dispatches to torchvision; it must agree with the CPU grid_sample form."""
    torch.manual_seed(3)
    x = torch.randn(2, 48, 24, 18)
    offset = torch.randn(2, 216, 24, 18) * 3
    mask = torch.randn(2, 108, 24, 18)
    weight = torch.randn(48, 48, 3, 3) * 0.1
    bias = torch.randn(48)
    cpu = modulated_deform_conv2d(x, offset, weight, bias, mask, 1, 3, 3, impl="auto")
    gpu = modulated_deform_conv2d(
        x.cuda(), offset.cuda(), weight.cuda(), bias.cuda(), mask.cuda(), 1, 3, 3, impl="auto"
    ).cpu()
    assert (cpu - gpu).abs().max() <= 1e-4
