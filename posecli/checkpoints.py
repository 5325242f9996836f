"""posecli checkpoints (safetensors + resolved ``ModelConfig``) and import of foreign checkpoints.

A posecli checkpoint is one ``.safetensors`` file: the model's state dict (reference key names, see
``posecli.models.pose_model``) plus string metadata ``posecli_format``, ``posecli_config`` (the
resolved ``ModelConfig`` as JSON) and ``posecli_extra`` (JSON, e.g. epoch or provenance). It rebuilds
its own model without any yaml.

``import_checkpoint`` reads an upstream file and maps its keys onto posecli's:

- official ``deep-high-resolution-net`` HRNet (bare keys ``conv1.*`` … ``final_layer.*``) → ``hrnet.``;
- DCPose (``rough_pose_estimation_net.*``) → ``hrnet.``;
- mmpose HRNet: ``backbone.*`` → ``hrnet.*`` and ``keypoint_head.final_layer.*`` (0.x) /
  ``head.final_layer.*`` (1.x) → ``hrnet.final_layer.*``. Below the prefix the names match the
  official ones one-to-one: mmcv's ``build_norm_layer(cfg, n, postfix=i)`` names a BatchNorm
  ``bn{i}`` (abbreviation "bn"), so mmpose's stem and blocks have ``bn1``/``bn2``/``bn3`` like
  ``pose_hrnet``, and transitions, fuse layers and downsamples are the same ``nn.Sequential`` indices;
- reference FAMI-Pose / TDMI state dicts (``hrnet.*`` + top-level temporal modules): unchanged;
- ViTPose / TAR-ViTPose: official ViTPose (``backbone.blocks.*``), mmpose 1.x ViTPose
  (``backbone.layers.*``, ``head.*``), Hugging Face ``VitPoseForPoseEstimation`` safetensors
  (``backbone.embeddings.*``, ``backbone.encoder.layer.*``) and official TAR-ViTPose state dicts
  (``model.*``, ``heatmap_head.*``, ``query_feat`` …): see ``posecli.vit_weights``;
- posecli checkpoints (``.safetensors`` with posecli metadata; the same key names): unchanged, layout
  ``posecli``, e.g. to re-import weights into a model built with other overrides.

``strict=True`` refuses any missing, unexpected or shape-mismatched key (nothing is written). Without
it, ``import_model`` still refuses a file that leaves a backbone key missing or any key mis-shaped
(the wrong ``--arch`` or width) unless ``allow_partial``; keys of parts the file does not have at all
(the temporal module or a SimCC head on top of a plain HRNet) keep their initialisation.
``import_model`` returns the model and the report in memory; ``import_checkpoint`` also writes it.

``--arch`` is a registered name (``posecli.models.list_models()``) or any
``hrnet_w<width>`` / ``fami_hrnet_w<width>`` / ``tdmi_hrnet_w<width>``, e.g. the tiny ``fami_hrnet_w8``.

``.pth``/``.pt`` files are read with ``torch.load(weights_only=True)`` (``posecli.weights.load_torch_file``):
a pickle naming anything but tensors and plain values is refused before any of it runs.

Wrappers are unpacked (``state_dict`` / ``model`` entries), ``module.`` is stripped anywhere and a
leading ``preact.`` removed, as the reference evaluator does.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file
from safetensors.torch import save as safetensors_bytes

from posecli.atomic import atomic_write_bytes
from posecli.errors import PoseCliError
from posecli.models import MODELS, build_model, model_config
from posecli.models.builders import build_from_config
from posecli.models.config import ModelConfig
from posecli.models.pose_model import VideoPoseModel
from posecli.vit_weights import drop_class_row, remap_vit_keys
from posecli.weights import load_torch_file

FORMAT = "posecli-checkpoint/1"
# top-level attribute names of the official pose_hrnet model
HRNET_TOP_LEVEL = (
    "conv1", "bn1", "conv2", "bn2", "layer1", "transition1", "stage2", "transition2", "stage3",
    "transition3", "stage4", "final_layer",
)
# any-width names beside the registered ones: hrnet_w8, fami_hrnet_w8, tdmi_hrnet_w8, ...
_ARCH_NAME = re.compile(r"(hrnet|fami_hrnet|tdmi_hrnet)_w(\d+)")


@dataclass
class ImportReport:
    """What ``import_checkpoint`` did: the detected layout and the key bookkeeping."""

    # "posecli", "reference", "official-hrnet", "mmpose-hrnet", "dcpose", "official-vitpose",
    # "mmpose-vitpose", "hf-vitpose" or "tar-vitpose"
    source_layout: str
    loaded: list[str] = field(default_factory=list)  # model keys filled from the file
    missing: list[str] = field(default_factory=list)  # model keys the file lacks (left at their init)
    unexpected: list[str] = field(default_factory=list)  # file keys (after remapping) the model lacks
    mismatched: list[str] = field(default_factory=list)  # "key: file shape vs model shape", not loaded

    def summary(self) -> str:
        """One line: counts per category."""
        return (
            f"{self.source_layout} layout: {len(self.loaded)} loaded, {len(self.missing)} missing, "
            f"{len(self.unexpected)} unexpected, {len(self.mismatched)} shape-mismatched"
        )


def save_checkpoint(path: Path, model: VideoPoseModel, extra: dict[str, Any] | None = None) -> None:
    """Write the model's weights and resolved config (and JSON-able ``extra``) atomically as safetensors.

    The bytes are written (and fsynced) by Python rather than by safetensors' own file writer, which
    reports no error on a full disk: a failed write raises ``PoseCliError`` naming ``path``.
    """
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {
        "posecli_format": FORMAT,
        "posecli_config": json.dumps(model.config.to_dict()),
        "posecli_extra": json.dumps(extra or {}),
    }
    data = safetensors_bytes(state, metadata=metadata)
    try:
        atomic_write_bytes(path, data)
    except OSError as error:
        reason = error.strerror or (str(error.args[0]) if error.args else type(error).__name__)
        raise PoseCliError(f"{path}: cannot write the checkpoint ({reason})") from None


def read_checkpoint_metadata(path: Path) -> tuple[ModelConfig, dict[str, Any]]:
    """The saved config and extra metadata of a posecli checkpoint, without loading the weights."""
    path = Path(path)
    if not path.is_file():
        raise PoseCliError(f"{path}: checkpoint file not found")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
    except Exception as error:  # noqa: BLE001 - safetensors raises several types for a foreign/corrupt file
        raise PoseCliError(f"{path}: not a safetensors checkpoint ({error})") from None
    if meta.get("posecli_format") != FORMAT or "posecli_config" not in meta:
        raise PoseCliError(f"{path}: no posecli config in the metadata (use `posecli weights import`)")
    try:
        config = ModelConfig.from_dict(json.loads(meta["posecli_config"]))
    except (ValueError, TypeError) as error:
        raise PoseCliError(f"{path}: posecli_config: {error}") from None
    return config, json.loads(meta.get("posecli_extra", "{}"))


def load_checkpoint(path: Path, device: str = "cpu") -> VideoPoseModel:
    """Rebuild the model a posecli checkpoint describes and load its weights (strict), on ``device``."""
    config, _ = read_checkpoint_metadata(path)
    model = build_from_config(config)
    state = load_file(str(path), device="cpu")
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first_line = str(error).splitlines()[0]
        raise PoseCliError(f"{path}: weights do not match the saved config: {first_line}") from None
    return model.to(device)


def read_foreign_state_dict(src: Path) -> dict[str, torch.Tensor]:
    """Tensors of a ``.pth``/``.pt``/``.pkl`` (torch, weights only) or ``.safetensors`` file, unwrapped."""
    src = Path(src)
    if not src.is_file():
        raise PoseCliError(f"{src}: checkpoint file not found")
    if src.suffix == ".safetensors":
        try:
            raw: Any = load_file(str(src), device="cpu")
        except Exception as error:  # noqa: BLE001 - corrupt or non-checkpoint files raise many types
            first = str(error).strip().splitlines()[0] if str(error).strip() else ""
            kind = type(error).__name__
            raise PoseCliError(f"{src}: cannot read as a checkpoint ({kind}: {first})") from None
    else:
        raw = load_torch_file(src, "the checkpoint")
    for wrapper in ("state_dict", "model", "model_state_dict"):
        if isinstance(raw, dict) and isinstance(raw.get(wrapper), dict):
            raw = raw[wrapper]
            break
    if not isinstance(raw, dict):
        raise PoseCliError(f"{src}: holds a {type(raw).__name__}, not a state dict")
    tensors = {k: v for k, v in raw.items() if isinstance(k, str) and isinstance(v, torch.Tensor)}
    if not tensors:
        raise PoseCliError(f"{src}: contains no tensors")
    return tensors


def remap_keys(state: dict[str, torch.Tensor]) -> tuple[dict[str, torch.Tensor], str]:
    """Map upstream key names onto posecli's; returns the new dict and the detected layout name."""
    cleaned = {}
    for key, value in state.items():
        key = key.replace("module.", "")  # DataParallel/DDP wrappers, anywhere in the name
        key = key.removeprefix("preact.")
        cleaned[key] = value
    keys = list(cleaned)
    vit = remap_vit_keys(cleaned)
    if vit is not None:
        return vit
    if any(k.startswith("backbone.") for k in keys):
        out = {}
        for key, value in cleaned.items():
            if key.startswith("backbone."):
                key = "hrnet." + key.removeprefix("backbone.")
            elif key.startswith(("keypoint_head.final_layer.", "head.final_layer.")):
                key = "hrnet.final_layer." + key.rsplit(".", 1)[1]
            out[key] = value
        return out, "mmpose-hrnet"
    dcpose = "rough_pose_estimation_net."
    if any(k.startswith(dcpose) for k in keys):
        renamed = {("hrnet." + k.removeprefix(dcpose) if k.startswith(dcpose) else k): v
                   for k, v in cleaned.items()}
        return renamed, "dcpose"
    if any(k.split(".", 1)[0] in HRNET_TOP_LEVEL for k in keys):
        return {
            ("hrnet." + k if k.split(".", 1)[0] in HRNET_TOP_LEVEL else k): v for k, v in cleaned.items()
        }, "official-hrnet"
    return cleaned, "reference"


def _is_posecli_checkpoint(src: Path) -> bool:
    """Whether ``src`` is a safetensors file carrying posecli checkpoint metadata."""
    if src.suffix != ".safetensors":
        return False
    try:
        with safe_open(str(src), framework="pt") as f:
            return (f.metadata() or {}).get("posecli_format") == FORMAT
    except Exception:  # noqa: BLE001 - unreadable files are reported by read_foreign_state_dict
        return False


def load_foreign_weights(
    model: VideoPoseModel, src: Path, strict: bool = False, allow_partial: bool = True
) -> ImportReport:
    """Fill ``model`` in place from a foreign checkpoint (any layout above).

    This is the reference ``MODEL.PRETRAINED`` step, e.g. the PoseTrack-trained HRNet-W48 that FAMI-Pose
    and TDMI start from. Keys the file lacks keep their current values; the report lists them, and the
    file's surplus and shape-mismatched keys. Nothing matching at all is an error, and with ``strict``
    any missing, unexpected or mismatched key is (one line, the model left unchanged). Without
    ``allow_partial`` a missing backbone (``hrnet.*``) key or any mis-shaped key is an error too: the
    file is for another architecture or width.
    """
    src = Path(src)
    state, layout = remap_keys(read_foreign_state_dict(src))
    if _is_posecli_checkpoint(src):
        layout = "posecli"
    own = model.state_dict()
    if layout == "mmpose-vitpose" and "backbone.pos_embed" in own:
        drop_class_row(state, own["backbone.pos_embed"].shape[1])
    report = ImportReport(layout)
    usable = {}
    for key, value in state.items():
        if key not in own:
            report.unexpected.append(key)
        elif tuple(value.shape) != tuple(own[key].shape):
            report.mismatched.append(f"{key}: {tuple(value.shape)} vs {tuple(own[key].shape)}")
        else:
            usable[key] = value.to(own[key].dtype)
    report.loaded = sorted(usable)
    report.missing = sorted(set(own) - set(usable))
    if not usable:
        raise PoseCliError(
            f"{src}: no key matches {model.config.name} ({layout} layout; "
            f"first file key: {next(iter(state))}); is the architecture right?"
        )
    if strict and (report.missing or report.unexpected or report.mismatched):
        kinds = {"missing": report.missing, "unexpected": report.unexpected, "mismatched": report.mismatched}
        first = [f"{title} {keys[0]}" for title, keys in kinds.items() if keys]
        raise PoseCliError(f"{src}: strict import into {model.config.name} failed: {report.summary()} "
                           f"(first {'; first '.join(first)})")
    # BatchNorm step counters are absent from old files and unused in eval: not a sign of another width
    backbone_missing = [
        k for k in report.missing
        if k.startswith(("hrnet.", "backbone.")) and not k.endswith("num_batches_tracked")
    ]
    if not allow_partial and (backbone_missing or report.mismatched):
        example = (report.mismatched or backbone_missing)[0]
        raise PoseCliError(
            f"{src}: only {len(usable)} of {len(own)} {model.config.name} tensors fit "
            f"({len(backbone_missing)} backbone keys missing, {len(report.mismatched)} shape-mismatched, "
            f"e.g. {example}); check --arch and its width, or pass --allow-partial to import anyway"
        )
    model.load_state_dict(usable, strict=False)
    return report


def resolve_model_config(arch: str, **overrides: Any) -> ModelConfig:
    """The resolved config of ``arch`` with ``ModelConfig`` overrides, without building the model.

    arch: a registered name or ``<hrnet|fami_hrnet|tdmi_hrnet>_w<width>`` (e.g. ``fami_hrnet_w8``, the
    width of the tiny synthetic recipes). Raises ``ValueError`` for an unknown name or bad override.
    """
    if arch in MODELS:
        return model_config(arch, **overrides)
    named = _ARCH_NAME.fullmatch(arch)
    if named is None:
        raise ValueError(
            f"unknown model {arch!r}; choose one of: {', '.join(sorted(MODELS))}, "
            "or hrnet_w<width>, fami_hrnet_w<width>, tdmi_hrnet_w<width> (e.g. fami_hrnet_w8)"
        )
    width = int(named.group(2))
    if overrides.get("width", width) != width:
        raise ValueError(f"{arch} has width {width}, not {overrides['width']}")
    data = ModelConfig(name=arch, arch=named.group(1).split("_")[0], width=width).to_dict()
    data.update(overrides)
    return ModelConfig.from_dict(data).resolved()


def build_named_model(arch: str, **overrides: Any) -> VideoPoseModel:
    """``build_model`` that also takes the any-width names of ``resolve_model_config`` (random weights)."""
    if arch in MODELS:
        return build_model(arch, **overrides)
    return build_from_config(resolve_model_config(arch, **overrides))


def import_model(
    src: Path, arch: str, *, strict: bool = False, allow_partial: bool = False, **overrides: Any
) -> tuple[VideoPoseModel, ImportReport]:
    """Load a foreign checkpoint into ``arch`` (with ``ModelConfig`` overrides) in memory; no file is written.

    Returns the filled model and the key report. ``strict``: refuse any missing, unexpected or
    mis-shaped key. ``allow_partial``: accept missing backbone keys and mis-shaped keys (they keep
    their fresh initialisation); otherwise those are refused with one line of counts. Keys of parts
    the file has none of (e.g. the temporal module over a plain HRNet) always keep their initialisation
    unless ``strict``. Raises ``PoseCliError`` naming the file.
    """
    try:
        model = build_named_model(arch, **overrides)
    except (ValueError, TypeError) as error:
        raise PoseCliError(f"--arch {arch}: {error}") from None
    report = load_foreign_weights(model, Path(src), strict=strict, allow_partial=allow_partial)
    return model, report


def save_imported(out: Path, model: VideoPoseModel, report: ImportReport, src: Path) -> None:
    """Write an ``import_model`` result as a posecli checkpoint, its provenance in the metadata."""
    extra = {
        "imported_from": Path(src).name,
        "source_layout": report.source_layout,
        "missing": len(report.missing),
    }
    save_checkpoint(Path(out), model, extra=extra)


def import_checkpoint(
    src: Path, arch: str, out: Path, strict: bool = False, allow_partial: bool = False, **overrides: Any
) -> ImportReport:
    """``import_model`` and save the result as a posecli checkpoint ``out``; returns the report.

    overrides: ``ModelConfig`` fields, e.g. ``head="simcc"``, ``input_size=(256, 192)``. Nothing is
    written when the import is refused (see ``import_model``).
    """
    model, report = import_model(src, arch, strict=strict, allow_partial=allow_partial, **overrides)
    save_imported(out, model, report, src)
    return report
