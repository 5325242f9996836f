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
- posecli checkpoints (``.safetensors`` with posecli metadata; the same key names): unchanged, layout
  ``posecli``, e.g. to re-import weights into a model built with other overrides.

``strict=True`` refuses any missing, unexpected or shape-mismatched key (nothing is written).

Wrappers are unpacked (``state_dict`` / ``model`` entries), ``module.`` is stripped anywhere and a
leading ``preact.`` removed, as the reference evaluator does.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from safetensors import safe_open
from safetensors.torch import load_file, save_file

from posecli.atomic import atomic_path
from posecli.errors import PoseCliError
from posecli.models import build_model
from posecli.models.builders import build_from_config
from posecli.models.config import ModelConfig
from posecli.models.pose_model import VideoPoseModel

FORMAT = "posecli-checkpoint/1"
# top-level attribute names of the official pose_hrnet model
HRNET_TOP_LEVEL = (
    "conv1", "bn1", "conv2", "bn2", "layer1", "transition1", "stage2", "transition2", "stage3",
    "transition3", "stage4", "final_layer",
)


@dataclass
class ImportReport:
    """What ``import_checkpoint`` did: the detected layout and the key bookkeeping."""

    source_layout: str  # "posecli", "reference", "official-hrnet", "mmpose-hrnet" or "dcpose"
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
    """Write the model's weights and resolved config (and JSON-able ``extra``) atomically as safetensors."""
    state = {k: v.detach().cpu().contiguous() for k, v in model.state_dict().items()}
    metadata = {
        "posecli_format": FORMAT,
        "posecli_config": json.dumps(model.config.to_dict()),
        "posecli_extra": json.dumps(extra or {}),
    }
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata=metadata)


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
    try:
        if src.suffix == ".safetensors":
            raw: Any = load_file(str(src), device="cpu")
        else:
            raw = torch.load(src, map_location="cpu", weights_only=True)
    except Exception as error:  # noqa: BLE001 - corrupt or non-checkpoint files raise many types
        raise PoseCliError(f"{src}: cannot read as a checkpoint ({type(error).__name__}: {error})") from None
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


def load_foreign_weights(model: VideoPoseModel, src: Path, strict: bool = False) -> ImportReport:
    """Fill ``model`` in place from a foreign checkpoint (any layout above).

    This is the reference ``MODEL.PRETRAINED`` step, e.g. the PoseTrack-trained HRNet-W48 that FAMI-Pose
    and TDMI start from. Keys the file lacks keep their current values; the report lists them, and the
    file's surplus and shape-mismatched keys. Nothing matching at all is an error, and with ``strict``
    any missing, unexpected or mismatched key is (one line, the model left unchanged).
    """
    src = Path(src)
    state, layout = remap_keys(read_foreign_state_dict(src))
    if _is_posecli_checkpoint(src):
        layout = "posecli"
    own = model.state_dict()
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
    model.load_state_dict(usable, strict=False)
    return report


def import_checkpoint(
    src: Path, arch: str, out: Path, strict: bool = False, **overrides: Any
) -> ImportReport:
    """Load a foreign checkpoint into ``build_model(arch, **overrides)`` and save it as a posecli checkpoint.

    overrides: ``ModelConfig`` fields, e.g. ``head="simcc"``, ``input_size=(256, 192)``. Keys the file
    lacks keep their fresh initialisation (e.g. the temporal module when importing a plain HRNet into
    ``fami_hrnet_w48``) unless ``strict``, which refuses any missing, unexpected or mismatched key and
    writes nothing; see ``load_foreign_weights`` for the report.
    """
    src, out = Path(src), Path(out)
    try:
        model = build_model(arch, **overrides)
    except ValueError as error:
        raise PoseCliError(f"--arch {arch}: {error}") from None
    report = load_foreign_weights(model, src, strict=strict)
    extra = {"imported_from": src.name, "source_layout": report.source_layout, "missing": len(report.missing)}
    save_checkpoint(out, model, extra=extra)
    return report
