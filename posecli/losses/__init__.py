"""Training objectives: heatmap MSE, SimCC KL and the FAMI-Pose / TDMI mutual-information terms.

``build_loss(config)`` returns a callable ``(PoseOutput, targets) -> dict`` of named scalar terms plus
``"loss"``, the total to back-propagate. Targets: ``heatmaps`` ``(B, K, h, w)``, ``target_weight``
``(B, K)``, and for SimCC heads ``simcc_x`` ``(B, K, W·k)`` / ``simcc_y`` ``(B, K, H·k)``.

Term names: ``mse`` or ``simcc``; FAMI ``mi_m1`` … ``mi_m6`` and ``mi`` (= α·(…), already weighted);
TDMI ``mi_motion``, ``mi_multimodal``, ``mi_regular`` (unweighted) and ``mi`` (weighted sum).
The MI terms need ``PoseOutput.features``, which the model fills in training mode.
"""

from __future__ import annotations

from collections.abc import Callable

from torch import Tensor

from posecli.losses.heatmap import joint_mse_loss
from posecli.losses.mi import fami_mi_loss, fami_mi_terms, mi_surrogate, tdmi_mi_terms
from posecli.losses.simcc import simcc_kl_loss
from posecli.models.config import ModelConfig
from posecli.models.pose_model import PoseOutput

LossFn = Callable[[PoseOutput, dict[str, Tensor]], dict[str, Tensor]]


class PoseLoss:
    """The objective of one ``ModelConfig``; call it as ``loss(output, targets)``."""

    def __init__(self, config: ModelConfig) -> None:
        self.config = config.resolved()

    def __call__(self, output: PoseOutput, targets: dict[str, Tensor]) -> dict[str, Tensor]:
        cfg = self.config
        terms: dict[str, Tensor] = {}
        weight = _target(targets, "target_weight")
        if cfg.head == "simcc":
            if output.simcc_x is None or output.simcc_y is None:
                raise ValueError("config head is 'simcc' but the model output has no SimCC logits")
            terms["simcc"] = simcc_kl_loss(
                output.simcc_x, output.simcc_y, _target(targets, "simcc_x"), _target(targets, "simcc_y"), weight
            )
            total = cfg.simcc_weight * terms["simcc"]
        else:
            terms["mse"] = joint_mse_loss(output.heatmaps, _target(targets, "heatmaps"), weight)
            total = cfg.mse_weight * terms["mse"]
        if cfg.arch in ("fami", "tdmi"):  # single-frame and ViT models have no MI terms
            if not output.features:
                raise ValueError("MI terms need PoseOutput.features: run the model in training mode")
            if cfg.arch == "fami":
                fami = fami_mi_terms(output.features, output.heatmaps, cfg.mi_temperature, cfg.mi_estimator)
                terms.update({f"mi_{k}": v for k, v in fami.items()})
                terms["mi"] = cfg.fami_alpha * fami_mi_loss(fami, cfg.fami_beta)
            else:
                tdmi = tdmi_mi_terms(output.features, output.heatmaps, cfg.mi_temperature, cfg.mi_estimator)
                terms.update({f"mi_{k}": v for k, v in tdmi.items()})
                terms["mi"] = (
                    cfg.tdmi_alpha * tdmi["motion"] + cfg.tdmi_beta * tdmi["multimodal"]
                    + cfg.tdmi_gamma * tdmi["regular"]
                )
            total = total + terms["mi"]
        terms["loss"] = total
        return terms


def build_loss(config: ModelConfig) -> LossFn:
    """The loss callable for a model config (see the module docstring for term names)."""
    return PoseLoss(config)


def _target(targets: dict[str, Tensor], key: str) -> Tensor:
    if key not in targets:
        raise ValueError(f"loss targets lack {key!r}; got {', '.join(sorted(targets)) or 'nothing'}")
    return targets[key]


__all__ = [
    "PoseLoss",
    "build_loss",
    "fami_mi_loss",
    "fami_mi_terms",
    "joint_mse_loss",
    "mi_surrogate",
    "simcc_kl_loss",
    "tdmi_mi_terms",
]
