"""MI surrogate and the FAMI-Pose / TDMI objectives against hand computations."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posecli.losses import build_loss, fami_mi_loss, fami_mi_terms, mi_surrogate, tdmi_mi_terms
from posecli.models import model_config
from posecli.models.pose_model import PoseOutput

T = 0.05


def _np_softmax(a: np.ndarray) -> np.ndarray:
    e = np.exp(a - a.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def _hand(f1: torch.Tensor, f2: torch.Tensor, estimator: str) -> float:
    """mean over all B·C·h·w elements of Q·(log Q − P), P a probability (reference) or log-probability."""
    a = f1.double().numpy().reshape(-1, f1.shape[-2] * f1.shape[-1]) / T
    b = f2.double().numpy().reshape(-1, f2.shape[-2] * f2.shape[-1]) / T
    q = _np_softmax(b)
    p = _np_softmax(a)
    inp = p if estimator == "reference" else np.log(p)
    return float(np.mean(q * (np.log(q) - inp)))


@pytest.mark.filterwarnings("ignore:reduction")  # kl_div(reduction="mean") is the reference's choice
@pytest.mark.parametrize("estimator", ["reference", "kl"])
def test_surrogate_equals_hand_value(estimator: str) -> None:
    f1 = torch.randn(2, 3, 4, 5) * 0.02
    f2 = torch.randn(2, 3, 4, 5) * 0.02
    value = mi_surrogate(f1, f2, T, estimator)
    assert value.item() == pytest.approx(_hand(f1, f2, estimator), rel=1e-4, abs=1e-7)
    # the reference value equals torch's kl_div with a probability as input
    if estimator == "reference":
        ref = torch.nn.functional.kl_div(
            torch.softmax(f1.reshape(6, 20) / T, 1), torch.softmax(f2.reshape(6, 20) / T, 1), reduction="mean"
        )
        assert value.item() == pytest.approx(ref.item(), rel=1e-5)
    if estimator == "kl":
        assert mi_surrogate(f1, f1, T, "kl").item() == pytest.approx(0.0, abs=1e-7)


def test_surrogate_tiny_example() -> None:
    # one row of two cells; f1 = f2 = (0, 0.05 ln 3) → P = Q = (0.25, 0.75)
    f = torch.tensor([[[[0.0, T * np.log(3.0)]]]])
    q = np.array([0.25, 0.75])
    expected_ref = np.mean(q * (np.log(q) - q))
    assert mi_surrogate(f, f, T, "reference").item() == pytest.approx(expected_ref, rel=1e-5)


def test_gradient_flows_only_into_second_argument() -> None:
    f1 = torch.randn(1, 2, 3, 3, requires_grad=True)
    f2 = torch.randn(1, 2, 3, 3, requires_grad=True)
    mi_surrogate(f1, f2).backward()
    assert f1.grad is None and f2.grad is not None and f2.grad.abs().sum() > 0
    g1 = torch.randn(1, 2, 3, 3, requires_grad=True)
    mi_surrogate(g1, f2, detach_first=False).backward()
    assert g1.grad is not None  # TDMI's KL* detaches nothing


def test_surrogate_gradient_finite_when_softmax_underflows() -> None:
    f2 = torch.tensor([[[[0.0, 10.0, -10.0]]]], requires_grad=True)  # /0.05 → exp underflows
    mi_surrogate(torch.zeros(1, 1, 1, 3), f2).backward()
    assert torch.isfinite(f2.grad).all()


def _fami_features() -> tuple[dict[str, torch.Tensor], torch.Tensor]:
    names = ["key", "agg_sup", "agg_final"]
    feats = {n: torch.randn(2, 4, 3, 3) * 0.05 for n in names}
    feats.update({f"label_{n}": torch.randn(2, 5, 3, 3) * 0.05 for n in names})
    return feats, torch.randn(2, 5, 3, 3) * 0.05


@pytest.mark.parametrize("estimator", ["reference", "kl"])
def test_fami_terms(estimator: str) -> None:
    feats, hm = _fami_features()
    terms = fami_mi_terms(feats, hm, T, estimator)
    hand = {
        "m1": _hand(feats["label_agg_final"], hm, estimator),
        "m2": _hand(feats["key"], feats["agg_final"], estimator),
        "m3": _hand(feats["label_agg_sup"], hm, estimator),
        "m4": _hand(feats["agg_sup"], feats["agg_final"], estimator),
        "m5": _hand(feats["label_key"], hm, estimator),
    }
    hand["m6"] = hand["m2"]
    for k, v in hand.items():
        assert terms[k].item() == pytest.approx(v, rel=1e-4, abs=1e-7), k
    combined = -0.1 * hand["m1"] + 0.1 * hand["m2"] + hand["m3"] - hand["m4"] + hand["m5"] - hand["m6"]
    assert fami_mi_loss(terms, 0.1).item() == pytest.approx(combined, rel=1e-4, abs=1e-7)
    # net coefficient of the m2 ≡ m6 computation is α(β − 1) = −0.45
    cfg = model_config("fami_hrnet_w48", mi_estimator=estimator)
    out = PoseOutput(hm, features=feats)
    target_hm = torch.zeros_like(hm)
    loss = build_loss(cfg)(out, {"heatmaps": target_hm, "target_weight": torch.ones(2, 5)})
    mse = hm.square().mean().item()
    assert loss["mse"].item() == pytest.approx(mse, rel=1e-5)
    assert loss["loss"].item() == pytest.approx(mse + 0.5 * combined, rel=1e-4, abs=1e-7)
    assert set(loss) == {"mse", "mi", "loss"} | {f"mi_m{i}" for i in range(1, 7)}


@pytest.mark.parametrize("estimator", ["reference", "kl"])
def test_tdmi_terms(estimator: str) -> None:
    names = ["motion", "motion_useful", "motion_noisy", "appearance", "fused"]
    feats = {n: torch.randn(2, 4, 3, 3) * 0.05 for n in names}
    feats["label_motion_useful"] = torch.randn(2, 5, 3, 3) * 0.05
    feats["label_appearance"] = torch.randn(2, 5, 3, 3) * 0.05
    hm = torch.randn(2, 5, 3, 3) * 0.05
    terms = tdmi_mi_terms(feats, hm, T, estimator)

    def h(a: str, b: str) -> float:
        return _hand(feats[a], feats[b], estimator)

    motion = 2 * h("motion_useful", "motion_noisy") - h("motion", "motion_useful")
    multimodal = h("motion_useful", "appearance") - h("motion_useful", "fused") - h("appearance", "fused")
    regular = (
        _hand(feats["label_motion_useful"], hm, estimator) - h("motion_useful", "fused")
        + _hand(feats["label_appearance"], hm, estimator) - h("appearance", "fused")
    )
    for name, value in (("motion", motion), ("multimodal", multimodal), ("regular", regular)):
        assert terms[name].item() == pytest.approx(value, rel=1e-4, abs=1e-7), name
    cfg = model_config("tdmi_hrnet_w48", mi_estimator=estimator, tdmi_beta=0.5)
    targets = {"heatmaps": hm, "target_weight": torch.ones(2, 5)}
    loss = build_loss(cfg)(PoseOutput(hm, features=feats), targets)
    assert loss["mse"].item() == 0.0
    assert loss["loss"].item() == pytest.approx(motion + 0.5 * multimodal + regular, rel=1e-4, abs=1e-7)


def test_loss_errors() -> None:
    cfg = model_config("fami_hrnet_w48")
    hm = torch.zeros(1, 17, 4, 4)
    with pytest.raises(ValueError, match="training mode"):
        build_loss(cfg)(PoseOutput(hm), {"heatmaps": hm, "target_weight": torch.ones(1, 17)})
    with pytest.raises(ValueError, match="lack 'target_weight'"):
        build_loss(cfg)(PoseOutput(hm), {"heatmaps": hm})
    with pytest.raises(ValueError, match="SimCC"):
        simcc_loss = build_loss(model_config("hrnet_w32", head="simcc"))
        simcc_loss(PoseOutput(hm), {"target_weight": torch.ones(1, 17)})
    with pytest.raises(ValueError, match="estimator"):
        mi_surrogate(hm, hm, estimator="mine")


def _torch_hand(
    f1: torch.Tensor, f2: torch.Tensor, estimator: str, detach_first: bool = True
) -> torch.Tensor:
    """The surrogate written out in torch (differentiable), detaching f1 unless told otherwise."""
    a = (f1.detach() if detach_first else f1).reshape(-1, f1.shape[-2] * f1.shape[-1]) / T
    b = f2.reshape(-1, f2.shape[-2] * f2.shape[-1]) / T
    log_q = torch.log_softmax(b, 1)
    inp = torch.softmax(a, 1) if estimator == "reference" else torch.log_softmax(a, 1)
    return (log_q.exp() * (log_q - inp)).mean()


def _leaves(names: list[str], channels: int = 4) -> dict[str, torch.Tensor]:
    return {n: (torch.randn(2, channels, 3, 3, dtype=torch.float64) * 0.05).requires_grad_() for n in names}


def _grads(value: torch.Tensor, leaves: dict[str, torch.Tensor]) -> dict[str, torch.Tensor | None]:
    grads = torch.autograd.grad(value, list(leaves.values()), allow_unused=True, retain_graph=True)
    return dict(zip(leaves, grads))


def _assert_grads(got: dict, want: dict, group: str) -> None:
    for name, expected in want.items():
        if expected is None:
            assert got[name] is None or not got[name].any(), f"{group}: {name} must get no gradient"
        else:
            assert got[name] is not None and got[name].abs().max() > 0, f"{group}: {name} gets no gradient"
            close = torch.allclose(got[name], expected, rtol=1e-6, atol=1e-12)
            assert close, f"{group}: wrong gradient to {name}"


@pytest.mark.parametrize("estimator", ["reference", "kl"])
def test_tdmi_gradients_follow_the_detach_rules(estimator: str) -> None:
    """KL*(M⁺, M⁻) sends gradient to both M⁺ and M⁻; every KL(X→Y) and KL_y(X) term none to X."""
    feats = _leaves(["motion", "motion_useful", "motion_noisy", "appearance", "fused"])
    feats.update(_leaves(["label_motion_useful", "label_appearance"], 5))
    hm = (torch.randn(2, 5, 3, 3, dtype=torch.float64) * 0.05).requires_grad_()
    leaves = {**feats, "heatmaps": hm}
    terms = tdmi_mi_terms(feats, hm, T, estimator)
    m, u, n, a, f = (feats[k] for k in ("motion", "motion_useful", "motion_noisy", "appearance", "fused"))
    lu, la = feats["label_motion_useful"], feats["label_appearance"]

    def h(x: torch.Tensor, y: torch.Tensor, detach_first: bool = True) -> torch.Tensor:
        return _torch_hand(x, y, estimator, detach_first)

    hand = {
        "motion": 2 * h(u, n, detach_first=False) - h(m, u),
        "multimodal": h(u, a) - h(u, f) - h(a, f),
        "regular": h(lu, hm) - h(u, f) + h(la, hm) - h(a, f),
    }
    receives = {  # which inputs each group must send gradient to
        "motion": {"motion_useful", "motion_noisy"},
        "multimodal": {"appearance", "fused"},
        "regular": {"heatmaps", "fused"},
    }
    for group, value in hand.items():
        got = _grads(terms[group], leaves)
        want = _grads(value, leaves)
        assert {k for k, g in want.items() if g is not None} == receives[group]  # the hand version's own rule
        _assert_grads(got, want, group)
    # M⁺ is KL*'s first argument: its gradient is more than the −KL(M→M⁺) part it gets as a second argument
    only_second = torch.autograd.grad(-h(m, u), u)[0]
    assert not torch.allclose(_grads(terms["motion"], leaves)["motion_useful"], only_second)


@pytest.mark.parametrize("estimator", ["reference", "kl"])
def test_fami_gradients_reach_only_second_arguments(estimator: str) -> None:
    feats = _leaves(["key", "agg_sup", "agg_final"])
    feats.update(_leaves(["label_key", "label_agg_sup", "label_agg_final"], 5))
    hm = (torch.randn(2, 5, 3, 3, dtype=torch.float64) * 0.05).requires_grad_()
    leaves = {**feats, "heatmaps": hm}
    terms = fami_mi_terms(feats, hm, T, estimator)
    second = {"m1": "heatmaps", "m2": "agg_final", "m3": "heatmaps", "m4": "agg_final", "m5": "heatmaps",
              "m6": "agg_final"}
    for term, target in second.items():
        got = _grads(terms[term], leaves)
        for name, grad in got.items():
            if name == target:
                assert grad is not None and grad.abs().max() > 0, f"{term}: no gradient to {name}"
            else:
                assert grad is None or not grad.any(), f"{term}: {name} must get no gradient"
