"""Experiment configuration: typed dataclasses for the data, training and evaluation sections, plus
the model section (``posecli.models.config.ModelConfig``).

A recipe in ``configs/`` is one whole experiment (no inheritance). ``load_config(path, overrides)``
reads it, applies ``--set section.key=value`` overrides (values parsed as YAML), rejects unknown keys,
wrong types, non-finite numbers, out-of-range values and run names that would leave the output root
with a one-line ``PoseCliError`` that names where the value came from (the file, or the ``--set``
option) and the key, and returns an ``ExperimentConfig``; ``to_dict`` gives the resolved config that
every checkpoint stores.
"""

from __future__ import annotations

import dataclasses
import math
import re
import types
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml  # type: ignore[import-untyped]

from posecli.errors import PoseCliError
from posecli.models.config import DECODERS, ModelConfig

DATASETS = ("posetrack", "synthetic")
LAYOUTS = ("auto", "posetrack17", "posetrack18", "posetrack21")
AMP_DTYPES = ("float16", "bfloat16")
OPTIMIZERS = ("adam", "adamw")
# a pair or list of integers written as text on the command line: "256,192", "256x192", "(256 192)"
_INT_SEPARATORS = r"[\s,x×\[\]()]+"
_INT_LIST = r"[\s\[(]*\d+(?:[\s,x×]+\d+)*[\s\])]*"


@dataclass
class DataConfig:
    """Where the clips come from and how they are augmented (reference values, ``models.md`` §7)."""

    dataset: str = "posetrack"  # "posetrack" (a PoseTrack root) or "synthetic" (generated on first use)
    root: str | None = None  # dataset root; `posecli train --data-root` sets it
    layout: str = "auto"  # PoseTrack layout: auto-detected, or posetrack17 / posetrack18 / posetrack21
    train_split: str = "train"  # split used for training
    val_split: str = "val"  # split used for validation
    val_boxes: str | None = None  # detection-box JSON for validation; None → GT boxes
    box_score_threshold: float = 0.2  # detection boxes below this score are dropped (IMAGE_THRE)
    bbox_enlarge: float = 1.25  # crop = box expanded to the aspect ratio, × this (BBOX_ENLARGE_FACTOR)
    sigma: float = 3.0  # heatmap Gaussian σ in heatmap pixels
    scale_factor: float = 0.35  # random scale × clip(1 + s·N(0,1), 1 − s, 1 + s)
    rotation_factor: float = 45.0  # random rotation clip(r·N(0,1), −2r, 2r) degrees
    rotation_prob: float = 0.6  # probability that a clip is rotated at all
    flip_prob: float = 0.5  # horizontal flip probability (flip pairs swapped)
    half_body_prob: float = 0.3  # half-body crop probability, when > half_body_min_joints joints are visible
    half_body_min_joints: int = 8  # see half_body_prob
    workers: int = 4  # DataLoader worker processes per training process (0 = load in the main process)
    pin_memory: bool = True  # page-locked host batches (only used on CUDA)
    max_train_samples: int | None = None  # use only the first N training clips (quick experiments)
    max_val_samples: int | None = None  # use only the first N validation clips
    synthetic_videos: int = 6  # synthetic data: train videos (val gets synthetic_val_videos)
    synthetic_val_videos: int = 2  # synthetic data: val videos
    synthetic_frames: int = 16  # synthetic data: frames per video
    synthetic_people: int = 2  # synthetic data: figures per video
    synthetic_size: tuple[int, int] = (320, 240)  # synthetic data: frame (W, H) in pixels
    synthetic_seed: int = 0  # synthetic data: generator seed


@dataclass
class TrainConfig:
    """Optimisation (FAMI-Pose reference values, ``models.md`` §8)."""

    epochs: int = 21  # passes over the training clips
    batch_size: int = 48  # clips per optimizer step and process (DDP multiplies by the world size)
    optimizer: str = "adam"  # "adam" (HRNet/FAMI-Pose/TDMI references) or "adamw" (TAR-ViTPose)
    lr: float = 1e-3  # Adam learning rate
    weight_decay: float = 0.0  # Adam weight decay (the reference config's 1e-4 never reached Adam)
    lr_steps: tuple[int, ...] = (8, 12, 16)  # MultiStepLR milestones in epochs
    lr_factor: float = 0.1  # MultiStepLR gamma
    grad_clip: float | None = None  # max global gradient norm; None → no clipping
    amp: bool = True  # mixed precision (autocast, dtype amp_dtype) on CUDA; ignored on the CPU
    # float16 with a dynamic GradScaler (runs on every CUDA GPU; its state is checkpointed), or
    # bfloat16 (Ampere and newer; float32's exponent range, so no scaler is needed or used)
    amp_dtype: str = "float16"  # autocast dtype: "float16" (+ GradScaler, default) or "bfloat16"
    seed: int = 0  # seeds torch, numpy and the per-clip augmentation draws
    deterministic: bool = False  # torch deterministic algorithms (exact resume checks, slower)
    max_steps: int | None = None  # stop after this many optimizer steps in total (smoke runs, tests)
    log_every: int = 10  # steps between JSON-lines log records (and the last step of each epoch)
    checkpoint_every: int | None = None  # also write the last checkpoint every N steps; None → per epoch
    sync_bn: bool = False  # convert BatchNorm to SyncBatchNorm under DDP
    # HRNet checkpoint (path) loaded into the backbone before training: a posecli, mmpose, official
    # HRNet or DCPose file, read directly; None → random init (refused when the backbone is frozen)
    init_checkpoint: str | None = None


@dataclass
class EvalConfig:
    """Per-epoch validation."""

    every: int = 1  # epochs between validations (0 = never; the last epoch is always validated if > 0)
    batch_size: int = 32  # clips per forward pass
    decode: str | None = None  # validation's heatmap decoding, "argmax" or "dark"; None → model.decode
    flip_test: bool = False  # average with the horizontally flipped clip (reference validation: off)
    mode: str = "poseval"  # `posecli eval` mode used for the AP


@dataclass
class ExperimentConfig:
    """One whole experiment: model, data, training and evaluation."""

    name: str = "experiment"  # run name (default output folder: runs/train/<name>)
    model: ModelConfig = field(default_factory=ModelConfig)
    data: DataConfig = field(default_factory=DataConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    eval: EvalConfig = field(default_factory=EvalConfig)

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples as lists), loadable again with ``config_from_dict``."""
        out: dict[str, Any] = {"name": self.name, "model": self.model.to_dict()}
        for section in ("data", "train", "eval"):
            values = dataclasses.asdict(getattr(self, section))
            out[section] = {k: list(v) if isinstance(v, tuple) else v for k, v in values.items()}
        return out


_SECTIONS: dict[str, type] = {"data": DataConfig, "train": TrainConfig, "eval": EvalConfig}


def config_from_dict(
    data: dict[str, Any], source: str = "config", origins: dict[str, str] | None = None
) -> ExperimentConfig:
    """Build an ``ExperimentConfig``; unknown keys, wrong types and bad values raise ``PoseCliError``.

    origins: where a key's value came from when not from ``source``, e.g. ``{"train.lr": "--set
    train.lr=nan"}``; messages about that key name it instead of the file.
    """
    origins = origins or {}

    def where(key: str) -> str:
        return f"{origins.get(key, source)}: {key}"

    if not isinstance(data, dict):
        raise PoseCliError(f"{source}: expected a mapping with sections model, data, train, eval")
    unknown = sorted(set(data) - {"name", "model", *_SECTIONS})
    if unknown:
        raise PoseCliError(
            f"{source}: unknown section(s) {', '.join(unknown)}; known: name, model, data, train, eval"
        )
    kwargs: dict[str, Any] = {}
    if "name" in data:
        kwargs["name"] = _run_name(data["name"], where("name"))
    model = data.get("model") or {}
    if not isinstance(model, dict):
        raise PoseCliError(f"{source}: model: expected a mapping")
    model = _section_values(ModelConfig, model, "model", where, origins, source)
    try:
        kwargs["model"] = ModelConfig.from_dict(model)
    except (TypeError, ValueError) as error:
        from_set = sorted({origins[f"model.{k}"] for k in model if f"model.{k}" in origins})
        raise PoseCliError(f"{' and '.join(from_set) if from_set else source}: model: {error}") from None
    for name, cls in _SECTIONS.items():
        values = data.get(name) or {}
        if not isinstance(values, dict):
            raise PoseCliError(f"{source}: {name}: expected a mapping")
        kwargs[name] = cls(**_section_values(cls, values, name, where, origins, source))
    config = ExperimentConfig(**kwargs)
    _check_choices(config, where)
    return config


def _run_name(value: Any, where: str) -> str:
    """The run name: a plain folder name, since the default run folder is ``runs/train/<name>``."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise PoseCliError(f"{where}: expected a folder name, got {value!r}")
    name = str(value)
    if not name.strip() or name in (".", "..") or ".." in name or any(c in name for c in "/\\\0"):
        raise PoseCliError(
            f"{where}: {name!r} is not a plain folder name (no path separators or '..': the run folder "
            "runs/train/<name> must stay inside runs/train; use --out-dir for another place)"
        )
    return name


def _section_values(
    cls: type, values: dict[str, Any], section: str, where: Any, origins: dict[str, str], source: str
) -> dict[str, Any]:
    """``values`` checked against the fields of ``cls`` and converted to their types."""
    hints = typing.get_type_hints(cls)
    known = {f.name for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - known)
    if unknown:
        # name the --set option that brought an unknown key, else the file
        label = origins.get(f"{section}.{unknown[0]}", source)
        raise PoseCliError(
            f"{label}: {section}: unknown key(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    return {k: _coerce(v, hints[k], where(f"{section}.{k}")) for k, v in values.items()}


def _coerce(value: Any, hint: Any, where: str) -> Any:
    """Check ``value`` against a field type (int, float, bool, str, ``X | None``, tuples) and convert."""
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        inner = [o for o in options if o is not type(None)]
        # YAML's null is null/~/empty; "none" also means None where the field holds no text
        spelled_none = inner[0] is not str and isinstance(value, str) and value.lower() == "none"
        if (value is None or spelled_none) and type(None) in options:
            return None
        return _coerce(value, inner[0], where)
    if origin is tuple:
        args = typing.get_args(hint)
        if isinstance(value, str) and re.fullmatch(_INT_LIST, value):
            value = [int(v) for v in re.split(_INT_SEPARATORS, value) if v]  # "256,192", "256x192"
        if len(args) == 2 and args[1] is Ellipsis:
            if not isinstance(value, list | tuple):
                raise PoseCliError(f"{where}: expected a list, got {value!r}")
            return tuple(_coerce(v, args[0], where) for v in value)
        if not isinstance(value, list | tuple) or len(value) != len(args):
            shown = "two integers" if args == (int, int) else f"{len(args)} values"
            raise PoseCliError(
                f"{where}: expected a list of {shown}, e.g. [256, 192] or 256,192, got {value!r}"
            )
        return tuple(_coerce(v, a, where) for v, a in zip(value, args, strict=True))
    if hint is bool:
        if value in (0, 1) and not isinstance(value, float):
            return bool(value)  # 1/0 as well as YAML's true/false, yes/no, on/off
        if not isinstance(value, bool):
            raise PoseCliError(f"{where}: expected true or false, got {value!r}")
        return value
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise PoseCliError(f"{where}: expected an integer, got {value!r}")
        return value
    if hint is float:
        if isinstance(value, str):
            # YAML 1.1 reads "1e-4" (no dot) as a string
            try:
                value = float(value)
            except ValueError:
                pass
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise PoseCliError(f"{where}: expected a number, got {value!r}")
        if not math.isfinite(value):
            raise PoseCliError(f"{where}: expected a finite number, got {value!r}")
        return float(value)
    if hint is str:
        if not isinstance(value, str | int | float) or isinstance(value, bool):
            raise PoseCliError(f"{where}: expected a string, got {value!r}")
        return str(value)
    return value


def _check_choices(config: ExperimentConfig, where: Any) -> None:
    """Choices and ranges; ``where(key)`` says where a key's value came from."""
    checks = [
        ("data.dataset", config.data.dataset, DATASETS),
        ("data.layout", config.data.layout, LAYOUTS),
        ("train.amp_dtype", config.train.amp_dtype, AMP_DTYPES),
        ("train.optimizer", config.train.optimizer, OPTIMIZERS),
    ]
    if config.eval.decode is not None:  # None: the model's own decoding (ModelConfig checks it)
        checks.append(("eval.decode", config.eval.decode, DECODERS))
    for key, value, allowed in checks:
        if value not in allowed:
            raise PoseCliError(f"{where(key)}: '{value}' is not one of {', '.join(allowed)}")
    data, train = config.data, config.train
    # (key, value, smallest allowed, largest allowed, whether the smallest is excluded); None skips
    ranges: tuple[tuple[str, float | None, float, float, bool], ...] = (
        ("train.epochs", train.epochs, 1, math.inf, False),
        ("train.batch_size", train.batch_size, 1, math.inf, False),
        ("eval.batch_size", config.eval.batch_size, 1, math.inf, False),
        ("train.log_every", train.log_every, 1, math.inf, False),
        ("train.lr", train.lr, 0, math.inf, True),
        ("train.weight_decay", train.weight_decay, 0, math.inf, False),
        ("train.lr_factor", train.lr_factor, 0, math.inf, True),
        ("train.grad_clip", train.grad_clip, 0, math.inf, True),
        ("train.max_steps", train.max_steps, 1, math.inf, False),
        ("train.checkpoint_every", train.checkpoint_every, 1, math.inf, False),
        ("train.seed", train.seed, 0, 2**63 - 1, False),
        ("eval.every", config.eval.every, 0, math.inf, False),
        ("data.workers", data.workers, 0, math.inf, False),
        ("data.box_score_threshold", data.box_score_threshold, 0, 1, False),
        ("data.bbox_enlarge", data.bbox_enlarge, 0, math.inf, True),
        ("data.sigma", data.sigma, 0, math.inf, True),
        ("data.scale_factor", data.scale_factor, 0, 1, False),
        ("data.rotation_factor", data.rotation_factor, 0, 180, False),
        ("data.rotation_prob", data.rotation_prob, 0, 1, False),
        ("data.flip_prob", data.flip_prob, 0, 1, False),
        ("data.half_body_prob", data.half_body_prob, 0, 1, False),
        ("data.half_body_min_joints", data.half_body_min_joints, 0, math.inf, False),
        ("data.max_train_samples", data.max_train_samples, 1, math.inf, False),
        ("data.max_val_samples", data.max_val_samples, 1, math.inf, False),
        ("data.synthetic_videos", data.synthetic_videos, 1, math.inf, False),
        ("data.synthetic_val_videos", data.synthetic_val_videos, 0, math.inf, False),
        ("data.synthetic_frames", data.synthetic_frames, 1, math.inf, False),
        ("data.synthetic_people", data.synthetic_people, 1, math.inf, False),
        ("data.synthetic_seed", data.synthetic_seed, 0, 2**32 - 1, False),
        *(("data.synthetic_size", side, 1, math.inf, False) for side in data.synthetic_size),
        *(("train.lr_steps", step, 0, math.inf, False) for step in train.lr_steps),
    )
    for key, value, low, high, open_low in ranges:
        if value is None:
            continue
        if value < low or (open_low and value == low) or value > high:
            lower = f"> {low}" if open_low else f"≥ {low}"
            if high == math.inf:
                bound = lower
            else:
                bound = f"{lower} and ≤ {high}" if open_low else f"between {low} and {high}"
            raise PoseCliError(f"{where(key)}: must be {bound}, got {value}")


def apply_overrides(data: dict[str, Any], overrides: list[str], source: str = "--set") -> dict[str, Any]:
    """Apply ``section.key=value`` strings to a config dict (values parsed as YAML); returns a copy."""
    return _apply_overrides(data, overrides, source)[0]


def parse_set(
    item: str, source: str = "--set", example: str = "section.key=value, e.g. train.lr=1e-4"
) -> tuple[str, Any]:
    """One ``key=value`` override → ``(key, value)``, the value parsed as YAML (empty → None).

    The one ``--set`` parser: ``posecli train`` and ``posecli weights import`` both read their
    overrides with it (and convert the values with the config's field types). A missing ``=`` or
    invalid YAML is a ``PoseCliError`` naming ``source`` and the item; ``example`` shows the form.
    """
    if "=" not in item:
        raise PoseCliError(f"{source} {item!r}: expected {example}")
    key, raw = item.split("=", 1)
    try:
        value = yaml.safe_load(raw) if raw.strip() else None
    except yaml.YAMLError:
        raise PoseCliError(f"{source} {item!r}: the value is not valid YAML") from None
    return key.strip(), value


def model_values(values: dict[str, Any], origins: dict[str, str], source: str = "--set") -> dict[str, Any]:
    """``ModelConfig`` field values (as ``parse_set`` gives them) converted to the fields' types;
    errors name ``origins["model.<key>"]`` (the option that set the key), else ``source``."""
    return _section_values(
        ModelConfig, values, "model", lambda key: f"{origins.get(key, source)}: {key}", origins, source
    )


def _apply_overrides(
    data: dict[str, Any], overrides: list[str], source: str
) -> tuple[dict[str, Any], dict[str, str]]:
    """``apply_overrides``, plus which option set each key (``{"train.lr": "--set train.lr=1e-4"}``)."""
    out = {k: dict(v) if isinstance(v, dict) else v for k, v in data.items()}
    origins: dict[str, str] = {}
    for item in overrides:
        key, value = parse_set(item, source)
        parts = key.split(".")
        if parts == ["name"]:
            out["name"] = value
            origins["name"] = f"{source} {item}"
            continue
        if len(parts) != 2 or not all(parts):
            raise PoseCliError(f"{source} {item!r}: the key must be section.key (e.g. train.lr) or name")
        section, name = parts
        if section not in ("model", *_SECTIONS):
            raise PoseCliError(
                f"{source} {item!r}: unknown section '{section}'; known: model, data, train, eval"
            )
        out.setdefault(section, {})
        if not isinstance(out[section], dict):
            raise PoseCliError(f"{source} {item!r}: section '{section}' is not a mapping")
        out[section][name] = value
        origins[f"{section}.{name}"] = f"{source} {item}"
    return out, origins


def load_config(path: str | Path | None, overrides: list[str] | None = None) -> ExperimentConfig:
    """Read a YAML recipe (or start from the defaults when ``path`` is None) and apply overrides."""
    data: dict[str, Any] = {}
    source = "config"
    if path is not None:
        source = str(path)
        data = _read_recipe(Path(path))
    data, origins = _apply_overrides(data, overrides or [], "--set")
    return config_from_dict(data, source, origins)


def _read_recipe(path: Path) -> dict[str, Any]:
    """The mapping in a YAML recipe; a binary, non-UTF-8 or malformed file is one line naming it."""
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise PoseCliError(f"--config: cannot read {path} ({error.strerror or error})") from None
    nul = raw.find(b"\0")
    if nul >= 0:
        raise PoseCliError(f"{path}: a binary file (NUL byte at offset {nul}), not a YAML recipe")
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PoseCliError(f"{path}: not UTF-8 text (byte {error.start}), not a YAML recipe") from None
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as error:
        raise PoseCliError(f"{path}: not valid YAML ({str(error).splitlines()[0]})") from None
    except RecursionError:
        raise PoseCliError(f"{path}: not a usable YAML recipe (nested too deeply)") from None
    if not isinstance(data, dict):
        raise PoseCliError(f"{path}: expected a mapping with sections model, data, train, eval")
    return data
