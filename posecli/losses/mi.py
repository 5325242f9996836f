"""Mutual-information objectives of FAMI-Pose and TDMI (spec models.md §6.2–6.4).

The released code estimates MI with a KL-style surrogate between spatial softmax distributions:
both tensors are reshaped to ``(B·C, h·w)``, ``P = softmax(F1/T)`` (F1 detached), ``Q = softmax(F2/T)``
with T = 0.05, and ``F.kl_div(input=P, target=Q)`` with its default element mean, i.e. the mean of
``Q·(log Q − P)``. Because ``P`` is a probability and not a log-probability this is not a true KL;
``estimator="kl"`` passes ``log_softmax(F1/T)`` instead (a true KL(Q‖P), element mean).
"""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

FAMI_TERMS = ("m1", "m2", "m3", "m4", "m5", "m6")


def mi_surrogate(
    f1: Tensor, f2: Tensor, temperature: float = 0.05, estimator: str = "reference", detach_first: bool = True
) -> Tensor:
    """Scalar MI surrogate between two ``(B, C, h, w)`` tensors; gradient reaches f2 (and f1 only if
    ``detach_first`` is False, TDMI's KL*)."""
    if f1.shape != f2.shape:
        raise ValueError(f"MI inputs differ in shape: {tuple(f1.shape)} vs {tuple(f2.shape)}")
    if detach_first:
        f1 = f1.detach()
    a = f1.reshape(-1, f1.shape[-2] * f1.shape[-1]) / temperature  # (B·C, h·w)
    b = f2.reshape(-1, f2.shape[-2] * f2.shape[-1]) / temperature
    # Q·log Q is taken through log_softmax: the same value as kl_div's xlogy(Q, Q), but with a finite
    # gradient where Q underflows to 0 (xlogy's gradient is NaN there at T = 0.05)
    log_q = F.log_softmax(b, dim=1)
    if estimator == "reference":
        inp = F.softmax(a, dim=1)
    elif estimator == "kl":
        inp = F.log_softmax(a, dim=1)
    else:
        raise ValueError(f"unknown MI estimator {estimator!r}; choose 'reference' or 'kl'")
    return (log_q.exp() * (log_q - inp)).mean()  # kl_div(inp, Q, reduction="mean")


def fami_mi_terms(
    features: dict[str, Tensor], heatmaps: Tensor, temperature: float, estimator: str
) -> dict[str, Tensor]:
    """The six FAMI-Pose terms m1..m6 (spec §6.3 table), each a scalar.

    features: ``key``, ``agg_sup``, ``agg_final`` and their ``label_*`` maps (see ``PoseOutput``);
    heatmaps: the final ``(B, K, h, w)`` map ŷ.
    """

    def mi(a: Tensor, b: Tensor) -> Tensor:
        return mi_surrogate(a, b, temperature, estimator)

    same = mi(features["key"], features["agg_final"])  # m2 and m6 are one computation upstream
    return {
        "m1": mi(features["label_agg_final"], heatmaps),
        "m2": same,
        "m3": mi(features["label_agg_sup"], heatmaps),
        "m4": mi(features["agg_sup"], features["agg_final"]),
        "m5": mi(features["label_key"], heatmaps),
        "m6": same,
    }


def fami_mi_loss(terms: dict[str, Tensor], beta: float) -> Tensor:
    """``−β·m1 + β·m2 + m3 − m4 + m5 − m6`` (to be scaled by α)."""
    return -beta * terms["m1"] + beta * terms["m2"] + terms["m3"] - terms["m4"] + terms["m5"] - terms["m6"]


def tdmi_mi_terms(
    features: dict[str, Tensor], heatmaps: Tensor, temperature: float, estimator: str
) -> dict[str, Tensor]:
    """The three TDMI groups (spec §6.4), each a scalar.

    motion = 2·KL*(M⁺, M⁻) − KL(M→M⁺); multimodal = KL(M⁺→A) − KL(M⁺→Φ) − KL(A→Φ);
    regular = KL_y(M⁺) − KL(M⁺→Φ) + KL_y(A) − KL(A→Φ).
    """

    def kl(a: Tensor, b: Tensor) -> Tensor:
        return mi_surrogate(a, b, temperature, estimator)

    useful, noisy = features["motion_useful"], features["motion_noisy"]
    appearance, fused = features["appearance"], features["fused"]
    useful_fused = kl(useful, fused)
    appearance_fused = kl(appearance, fused)
    motion = 2 * mi_surrogate(useful, noisy, temperature, estimator, detach_first=False) - kl(
        features["motion"], useful
    )
    multimodal = kl(useful, appearance) - useful_fused - appearance_fused
    regular = (
        kl(features["label_motion_useful"], heatmaps) - useful_fused
        + kl(features["label_appearance"], heatmaps) - appearance_fused
    )
    return {"motion": motion, "multimodal": multimodal, "regular": regular}
