"""Training-mode FAMI-Pose and TDMI equal an independent formulation of the spec on stressed weights.

The models get ``stressed_weights`` (Kaiming scale, BN statistics calibrated on the test clips, DCN
offsets and GTM shifts of several pixels), so the temporal paths move the output and a batching or
wiring slip shows. Each test runs one float64 training step twice: posecli's ``model(frames)`` with
``build_loss`` and ``backward``, and on a deep copy a per-frame formulation written here from spec
models.md (§2.2 backbone batching, §3.2 / §4 forward, §6 losses) with torchvision's deformable conv and
a directly built shift grid. Heatmaps, every loss term, every gradient and every BN running statistic
must agree to 1e-9 relative.
"""

from __future__ import annotations

import copy

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torchvision.ops import deform_conv2d

from posecli.losses import build_loss
from posecli.models import VideoPoseModel, build_model

F64 = torch.float64
REL = 1e-9
B = 3  # clips per batch: every BN layer of the per-frame GTM sees 3 samples
T = 0.05  # MI temperature (spec §6.2)
KEY_FIRST = (2, 0, 1, 3, 4)  # the reference's backbone batch: key, then t-2, t-1, t+1, t+2 (§2.2)


def _rel(a: Tensor, b: Tensor, floor: float = 0.0) -> float:
    """Largest difference relative to b's largest magnitude (or ``floor`` when that is smaller)."""
    a, b = a.detach(), b.detach()
    return float((a - b).abs().max() / max(float(b.abs().max()), floor))


def _shift(x: Tensor, tx: Tensor, ty: Tensor) -> Tensor:
    """out(x, y) = in(x - tx, y - ty), bilinear, zeros outside (cv2.warpAffine, kornia align_corners=True).

    x ``(N, C, h, w)``; tx, ty ``(N,)`` in pixels; the grid is built directly in normalised coordinates.
    """
    n, _, h, w = x.shape
    ys = torch.arange(h, dtype=x.dtype).view(1, h, 1)
    xs = torch.arange(w, dtype=x.dtype).view(1, 1, w)
    gx = (xs - tx.view(n, 1, 1)) * (2 / (w - 1)) - 1
    gy = (ys - ty.view(n, 1, 1)) * (2 / (h - 1)) - 1
    grid = torch.stack([gx.expand(n, h, w), gy.expand(n, h, w)], dim=-1)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="zeros", align_corners=True)


def _dcn(module: nn.Module, name: str, x: Tensor, guide: Tensor, padding: int, dilation: int) -> Tensor:
    """dcn ``name`` on x with offsets and raw masks from guide, through torchvision (the reference's op)."""
    conv = getattr(module, name)
    offset_name, mask_name = (name.replace("dcn", kind, 1) for kind in ("dcn_offset", "dcn_mask"))
    offset, mask = getattr(module, offset_name)(guide), getattr(module, mask_name)(guide)
    return deform_conv2d(x, offset, conv.weight, conv.bias, padding=padding, dilation=dilation, mask=mask)


def _mi(f1: Tensor, f2: Tensor, detach_first: bool = True) -> Tensor:
    """§6.2: kl_div(softmax(F1/T), softmax(F2/T)) over [B·C, h·w], element mean, F1 detached."""
    f1 = f1.detach() if detach_first else f1
    p = F.softmax(f1.flatten(0, 1).flatten(1) / T, dim=1)
    q = F.softmax(f2.flatten(0, 1).flatten(1) / T, dim=1)
    return F.kl_div(p, q, reduction="mean")


def _mse(pred: Tensor, target: Tensor, weight: Tensor) -> Tensor:
    """§6.1: per joint nn.MSELoss(mean) of the weighted maps, summed over joints, / K."""
    k = pred.shape[1]
    w = weight[:, :, None, None]
    terms = [F.mse_loss(pred[:, j] * w[:, j], target[:, j] * w[:, j]) for j in range(k)]
    return torch.stack(terms).sum() / k


def _backbone(model: VideoPoseModel, frames: Tensor) -> list[tuple[Tensor, ...]]:
    """§2.2: one HRNet call over key-first, frame-major crops; per tap (key, t-2, t-1, t+1, t+2)."""
    x = torch.cat([frames[:, i] for i in KEY_FIRST])  # (5·B, 3, H, W)
    return [tap.chunk(5) for tap in model.hrnet.forward_stages(x)]


def spec_fami(model: VideoPoseModel, frames: Tensor, targets: dict[str, Tensor]) -> dict[str, Tensor]:
    """FAMI-Pose's training step from §3.2 and §6.3: the GTM called on each supporting frame separately."""
    m = model.temporal
    key, *sups = _backbone(model, frames)[-1]
    warped = []
    for sup in sups:  # t-2, t-1, t+1, t+2
        tx, ty = m.feat_global_offset_layers(sup - key).unbind(dim=1)  # (B,) each
        warped.append(_shift(sup, tx, ty))
    agg_sup = m.sup_agg_block(torch.cat(warped, dim=1))
    c = m.combined_feat_layers(torch.cat([agg_sup, key], dim=1))
    c = _dcn(m, "dcn_1", c, c, 3, 3)
    c = _dcn(m, "dcn_2", c, c, 3, 3)
    a = _dcn(m, "dcn_3", agg_sup, c, 3, 3)
    a = _dcn(m, "dcn_4", a, a, 3, 3)
    agg_final = m.init_feature_agg_block(torch.cat([key, a], dim=1))
    final = m.agg_final_layer(agg_final)

    def label(feat: Tensor) -> Tensor:
        return _mi(model.hrnet.final_layer(feat), final)

    mi = {
        "mi_m1": label(agg_final), "mi_m2": _mi(key, agg_final), "mi_m3": label(agg_sup),
        "mi_m4": _mi(agg_sup, agg_final), "mi_m5": label(key), "mi_m6": _mi(key, agg_final),
    }
    beta = 0.1
    mi_sum = -beta * mi["mi_m1"] + beta * mi["mi_m2"] + mi["mi_m3"] - mi["mi_m4"] + mi["mi_m5"] - mi["mi_m6"]
    mse = _mse(final, targets["heatmaps"], targets["target_weight"])
    loss = mse + 0.5 * mi_sum
    backbone_heatmaps = model.hrnet.final_layer(key)
    return {"heatmaps": final, "backbone_heatmaps": backbone_heatmaps, "mse": mse, **mi, "loss": loss}


def spec_tdmi(model: VideoPoseModel, frames: Tensor, targets: dict[str, Tensor]) -> dict[str, Tensor]:
    """TDMI's training step from §4 and §6.4."""
    m = model.temporal
    taps = _backbone(model, frames)
    key4, s1, s2, s4, s5 = taps[-1]
    agg_sup = m.sup_agg(torch.cat([s1, s2, s4, s5], dim=1))
    c = m.combined_feat_layers(torch.cat([agg_sup, key4], dim=1))
    c = _dcn(m, "dcn_1", c, c, 3, 3)
    c = _dcn(m, "dcn_2", c, c, 3, 3)
    a = _dcn(m, "dcn_3", agg_sup, c, 3, 3)
    a = _dcn(m, "dcn_4", a, a, 3, 3)
    appearance = m.all_agg_block(torch.cat([key4, a], dim=1))
    motion: Tensor | None = None
    for j, (k, x1, x2, x4, x5) in enumerate(taps, start=1):
        diffs = torch.cat([x2 - x1, k - x2, x4 - k, x5 - x4], dim=1)
        fused = getattr(m, f"motion_fusion_s{j}")(diffs)
        guide = getattr(m, f"m_a_agg_s{j}")(torch.cat([key4, fused], dim=1))
        moved = _dcn(m, f"m_a_dcn_s{j}", fused, guide, 1, 1)
        motion = moved if motion is None else getattr(m, f"motion_smooth_s{j}")(motion + moved)
    assert motion is not None
    pooled = motion.mean(dim=(2, 3))
    useful = m.use_motion_structure(pooled)[:, :, None, None] * motion
    noisy = m.noisy_motion_structure(pooled)[:, :, None, None] * motion
    fused_all = m.multimodal_fusion(torch.cat([useful, appearance], dim=1))
    final = m.heatmap_head(fused_all)

    def label(feat: Tensor) -> Tensor:
        return _mi(model.hrnet.final_layer(feat), final)

    mi = {
        "mi_motion": 2 * _mi(useful, noisy, detach_first=False) - _mi(motion, useful),
        "mi_multimodal": _mi(useful, appearance) - _mi(useful, fused_all) - _mi(appearance, fused_all),
        "mi_regular": label(useful) - _mi(useful, fused_all) + label(appearance) - _mi(appearance, fused_all),
    }
    mse = _mse(final, targets["heatmaps"], targets["target_weight"])
    loss = mse + mi["mi_motion"] + mi["mi_multimodal"] + mi["mi_regular"]
    backbone_heatmaps = model.hrnet.final_layer(key4)
    return {"heatmaps": final, "backbone_heatmaps": backbone_heatmaps, "mse": mse, **mi, "loss": loss}


def _inputs(model: VideoPoseModel, seed: int) -> tuple[Tensor, dict[str, Tensor]]:
    gen = torch.Generator().manual_seed(seed)
    h, w = model.config.input_size
    frames = torch.randn(B, 5, 3, h, w, generator=gen, dtype=F64)
    hh, ww = model.config.heatmap_size
    targets = {
        "heatmaps": torch.rand(B, 17, hh, ww, generator=gen, dtype=F64),
        "target_weight": (torch.rand(B, 17, generator=gen) > 0.2).to(F64),
    }
    return frames, targets


def _assert_same_step(model: VideoPoseModel, twin: VideoPoseModel, out: dict[str, Tensor],
                      spec: dict[str, Tensor]) -> None:
    """Outputs, loss terms, gradients and BN running statistics of two models after one step agree."""
    loss_scale = float(spec["loss"].detach().abs())
    for name, value in spec.items():
        # a loss term (a sum of MI values that nearly cancel) is judged on the scale of the loss
        floor = loss_scale if value.dim() == 0 else 0.0
        assert _rel(out[name], value, floor) <= REL, f"{name}: {_rel(out[name], value, floor):.2e}"
    grads = {n: p.grad for n, p in twin.named_parameters() if p.requires_grad}
    assert all(g is not None for g in grads.values())
    scale = max(float(g.abs().max()) for g in grads.values())
    for name, param in model.named_parameters():
        if not param.requires_grad:
            assert param.grad is None
            continue
        # a conv bias right before a train-mode BN has a zero gradient: judged on the global scale
        assert _rel(param.grad, grads[name], 1e-6 * scale) <= REL, f"gradient of {name}"
    buffers = dict(twin.named_buffers())
    for name, buf in model.named_buffers():
        if buf.dtype.is_floating_point:
            assert _rel(buf, buffers[name], 1e-12) <= REL, f"{name} after the step"
        else:
            assert torch.equal(buf, buffers[name]), f"{name}: {int(buf)} BN updates vs {int(buffers[name])}"


@pytest.mark.filterwarnings("ignore:reduction. 'mean' divides:UserWarning")  # the reference's reduction
@pytest.mark.parametrize(("name", "spec"), [("fami_hrnet_w32", spec_fami), ("tdmi_hrnet_w32", spec_tdmi)])
def test_training_step_equals_spec(name: str, spec, tiny: dict, stressed) -> None:
    model = build_model(name, **tiny).double()
    frames, targets = _inputs(model, seed=1)
    stressed(model, frames)
    twin = copy.deepcopy(model)
    model.train()
    twin.train()
    output = model(frames)
    terms = build_loss(model.config)(output, targets)
    terms["loss"].backward()
    expected = spec(twin, frames, targets)
    expected["loss"].backward()
    got = {"heatmaps": output.heatmaps, "backbone_heatmaps": output.backbone_heatmaps, **terms}
    _assert_same_step(model, twin, got, expected)


def test_gtm_runs_once_per_supporting_frame(tiny: dict, stressed) -> None:
    """In training and in eval the GTM sees each supporting frame's B samples in its own call, frames in
    order; in training its BN running statistics get one update per supporting frame."""
    model = build_model("fami_hrnet_w32", **tiny).double()
    frames, _ = _inputs(model, seed=2)
    stressed(model, frames)
    gtm = model.temporal.feat_global_offset_layers
    calls: list[Tensor] = []
    gtm.register_forward_hook(lambda module, args, out: calls.append(args[0]))
    first_bn = gtm[1].bn
    for mode in ("train", "eval"):
        calls.clear()
        count = int(first_bn.num_batches_tracked)
        getattr(model, mode)()
        with torch.no_grad():
            model(frames)
            feats = model.hrnet.forward_features(frames.flatten(0, 1))[0].unflatten(0, (B, 5))
        assert len(calls) == 4 and all(c.shape[0] == B for c in calls), [tuple(c.shape) for c in calls]
        for call, slot in zip(calls, (0, 1, 3, 4)):
            assert _rel(call, feats[:, slot] - feats[:, 2]) <= REL
        assert int(first_bn.num_batches_tracked) - count == (4 if mode == "train" else 0)


def test_backbone_batch_in_reference_order(tiny: dict) -> None:
    """§2.2: one HRNet call over the key frames first, then each supporting frame in time order
    (frame-major), so its training-mode batch statistics are the reference's sums in its order."""
    model = build_model("tdmi_hrnet_w32", **tiny).train()
    frames = torch.randn(2, 5, 3, 64, 64)
    seen: list[Tensor] = []
    model.hrnet.conv1.register_forward_hook(lambda module, args, out: seen.append(args[0]))
    model(frames)
    assert len(seen) == 1
    assert torch.equal(seen[0], torch.cat([frames[:, i] for i in KEY_FIRST]))


def test_stressed_weights_move_the_temporal_paths(tiny: dict, stressed) -> None:
    """Guard for the equality tests: GTM shifts and DCN offsets of several pixels, in both modes."""
    model = build_model("fami_hrnet_w32", **tiny).double()
    frames, _ = _inputs(model, seed=3)
    stressed(model, frames)
    seen: dict[str, list[Tensor]] = {}
    for name, module in (("shift", model.temporal.feat_global_offset_layers), ("offset", model.temporal.dcn_offset_3)):
        module.register_forward_hook(lambda m, args, out, name=name: seen.setdefault(name, []).append(out))
    for mode in ("train", "eval"):
        seen.clear()
        getattr(model, mode)()
        with torch.no_grad():
            model(frames)
        shifts, offsets = torch.cat(seen["shift"]), torch.cat(seen["offset"])
        assert shifts.abs().mean() > 1.0 and shifts.abs().max() > 2.5, (mode, shifts)
        assert offsets.abs().mean() > 1.0 and offsets.abs().max() > 5.0, mode
