"""Loading a posecli pose network with trained weights for ``estimate``: a checkpoint or a manifest entry.

Apart from the ``estimate`` jobs this is what the benchmarks use; torch is imported only when a network
is loaded.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from posecli.detection.embedded import EMBEDDED_MODEL
from posecli.errors import PoseCliError

if TYPE_CHECKING:
    from posecli.models.pose_model import VideoPoseModel


def load_network(model: str | None, weights: Path | str | None, device: str, quiet: bool = False) -> VideoPoseModel:
    """The posecli network with trained weights from ``weights``, on ``device``.

    ``weights``: a posecli checkpoint (from ``posecli train`` or ``posecli weights import``), or the
    name of a manifest entry (e.g. ``hrnet_w32_posetrack18_256x192_mmpose``), downloaded once into the
    verified cache and converted on the fly; it must fill every weight. ``model``: the registered
    name the weights must be (architecture and width), or None for whatever they hold. No trained
    FAMI-Pose/TDMI checkpoint is published anywhere, so for those the message says how to make one.
    """
    from posecli.checkpoints import load_checkpoint, load_foreign_weights
    from posecli.models import build_model, list_models, model_config
    from posecli.weights import fetch, load_manifest

    if model is not None and model not in list_models():
        raise PoseCliError(f"--model {model}: unknown (choose {EMBEDDED_MODEL} or one of {', '.join(list_models())})")
    manifest = load_manifest()
    if weights is None:
        pulls = [e.name for e in manifest.values() if e.arch == model]
        hint = f"--weights {pulls[0]} (downloaded once) or " if pulls else f"no trained {model} checkpoint is published; "
        raise PoseCliError(
            f"--model {model} needs trained weights: {hint}a checkpoint from `posecli train --config configs/...` "
            f"or from `posecli weights import FILE --arch {model}`"
        )
    if not Path(weights).exists() and str(weights) in manifest:
        entry = manifest[str(weights)]
        if entry.arch not in list_models():
            raise PoseCliError(f"--weights {weights}: {entry.arch} weights are not a posecli pose network")
        if model is not None and entry.arch != model:
            raise PoseCliError(f"--weights {weights}: holds {entry.arch} weights, not {model}")
        [file] = fetch(entry.name, quiet=quiet)
        network = build_model(entry.arch, **entry.config)
        report = load_foreign_weights(network, file)
        if report.missing or report.mismatched:
            raise PoseCliError(f"--weights {weights}: does not fill {entry.arch} ({report.summary()})")
        return network.to(device)
    network = load_checkpoint(Path(weights), device=device)
    if model is not None:
        wanted, held = model_config(model), network.config
        if (held.arch, held.width) != (wanted.arch, wanted.width):
            raise PoseCliError(
                f"--weights {weights}: holds a {held.arch} model of width {held.width} ({held.name}), not {model}"
            )
    return network
