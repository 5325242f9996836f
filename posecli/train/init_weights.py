"""The training model: built from the recipe, with its HRNet (or ViTPose) part initialised from a checkpoint."""

from __future__ import annotations

from pathlib import Path

from posecli.config import ExperimentConfig
from posecli.errors import PoseCliError
from posecli.models import VideoPoseModel, build_from_config


def load_init_weights(model: VideoPoseModel, path: str | Path) -> int:
    """Load the HRNet part of a checkpoint (official HRNet, mmpose, DCPose, reference or posecli keys,
    mapped by ``posecli.checkpoints.remap_keys``) into ``model.hrnet``; returns the tensors loaded.

    Only ``hrnet.*`` keys are taken (the temporal module keeps its init, as the reference's
    ``strict=False`` load does). Every HRNet tensor must fit, except the pose head ``final_layer``
    (an ImageNet HRNet has none) and BatchNorm step counters: a file of another width would
    otherwise fill only its width-independent stem and leave the rest random without a word.
    ViT models take the ViTPose encoder and decoder (``backbone.*``, ``keypoint_head.*``) the same way
    from any ViTPose layout (TAR-ViTPose starts from a trained ViTPose, its ``CHECKPOINT_FILE``).
    """
    from posecli.checkpoints import read_foreign_state_dict, remap_keys

    source = Path(path)
    if not source.is_file():
        raise PoseCliError(f"train.init_checkpoint: {source} does not exist")
    try:
        state, layout = remap_keys(read_foreign_state_dict(source))
    except PoseCliError as error:
        raise PoseCliError(f"train.init_checkpoint: {error}") from None
    own = model.state_dict()
    parts: tuple[str, ...] = ("backbone.", "keypoint_head.") if model.is_vit else ("hrnet.",)
    kind = f"ViTPose-{model.config.width}" if model.is_vit else f"HRNet-W{model.config.width}"
    usable = {
        k: v.to(own[k].dtype)
        for k, v in state.items()
        if k.startswith(parts) and k in own and tuple(v.shape) == tuple(own[k].shape)
    }
    if not usable:
        raise PoseCliError(
            f"train.init_checkpoint: {source} ({layout} layout) has no {kind.split('-')[0]} weights of this width"
        )
    unfilled = [
        k
        for k in own
        if k.startswith(parts)
        and k not in usable
        and not k.startswith("hrnet.final_layer.")
        and not k.endswith("num_batches_tracked")
    ]
    if unfilled:
        hrnet_total = sum(1 for k in own if k.startswith(parts))
        key = unfilled[0]
        why = "missing"
        if key in state:
            why = f"{tuple(state[key].shape)} in the file vs {tuple(own[key].shape)}"
        raise PoseCliError(
            f"train.init_checkpoint: {source} ({layout} layout) fills only {len(usable)} of {hrnet_total} "
            f"{kind} tensors (e.g. {key}: {why}); is it an {kind.split('-')[0]} of this width?"
        )
    model.load_state_dict(usable, strict=False)
    return len(usable)


_ARCH_NAMES = {"fami": "FAMI-Pose", "tdmi": "TDMI", "hrnet": "HRNet", "tar": "TAR-ViTPose"}


def check_init_checkpoint(config: ExperimentConfig) -> None:
    """``PoseCliError`` (one line) when ``train.init_checkpoint`` names a missing file, or when a
    frozen backbone has none: it must start from trained weights.

    ``load_init_weights`` reads mmpose, official HRNet, DCPose and posecli files directly, so the
    message points at the downloadable mmpose PoseTrack18 HRNet-W48 without an import step.
    """
    path = config.train.init_checkpoint
    if path and not Path(path).is_file():
        raise PoseCliError(f"train.init_checkpoint: {path} does not exist")
    model = config.model.resolved()
    if model.arch == "tar" and not path and model.tar_mask_threshold > 0:
        # a random decoder's ~1e-6 first-pass maps mask every token: NaN from the first step
        raise PoseCliError(
            "train.init_checkpoint: TAR-ViTPose starts from a trained ViTPose of the same size (the reference's "
            "CHECKPOINT_FILE; an mmpose, official or Hugging Face ViTPose file is read directly); pass "
            "--set train.init_checkpoint=PATH, or model.tar_mask_threshold=0 for a from-scratch toy run"
        )
    if not model.freeze_backbone or path:
        return
    example = (
        " (e.g. the file that `posecli weights pull hrnet_w48_posetrack18_384x288_mmpose` prints; "
        "mmpose, official HRNet, DCPose and posecli checkpoints are read directly, no import needed)"
        if model.width == 48
        else " (an mmpose, official HRNet, DCPose or posecli checkpoint, read directly)"
    )
    raise PoseCliError(
        f"train.init_checkpoint: the {_ARCH_NAMES.get(model.arch, model.arch)} recipe freezes its backbone "
        f"and starts from a trained HRNet-W{model.width}; pass --set train.init_checkpoint=PATH{example}"
    )


def build_training_model(config: ExperimentConfig) -> VideoPoseModel:
    """The model of the recipe, with the HRNet initialisation checkpoint loaded when one is named.

    A builder only: ``fit`` calls ``check_init_checkpoint`` first (benchmarks time frozen models
    from random weights)."""
    model = build_from_config(config.model)
    if config.train.init_checkpoint:
        load_init_weights(model, config.train.init_checkpoint)
    return model
