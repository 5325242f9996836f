"""Crash-safe training checkpoints: where training stands, and how it is saved and resumed.

Files of a run folder (all written atomically)::

    <out>/checkpoints/step-00000120.safetensors   weights + resolved model config (posecli.checkpoints)
    <out>/checkpoints/step-00000120.state.pt      optimizer, scheduler, scaler, RNG, step, epoch, config
                                                  (tensors and plain values only: read back with
                                                  weights_only=True, so a doctored file runs no code)
    <out>/last.json, <out>/best.json              which of those files are the last / best checkpoint
    <out>/last.safetensors, <out>/best.safetensors  the same weights under a stable name

A pointer file changes (by an atomic rename) only after both files it names are complete, so a crash
while writing a checkpoint leaves the previous one intact and resumable; a resume removes the
temporary files a killed save left behind. A failed write is one ``PoseCliError`` naming the file.
"""

from __future__ import annotations

import json
import math
import os
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from posecli.atomic import atomic_link, atomic_path, atomic_write_json, fsync_path, is_temporary_name, writing
from posecli.config import ExperimentConfig
from posecli.errors import PoseCliError
from posecli.models import VideoPoseModel

# Run folders written before training state held only plain values keep numpy's RNG state as an
# ndarray: these globals rebuild an ndarray (no other callable), so such folders still resume.
_LEGACY_STATE_GLOBALS = (
    np.zeros(1).__reduce__()[0],  # numpy's _reconstruct (numpy.core or numpy._core by version)
    np.ndarray,
    np.dtype,
    type(np.dtype(np.uint32)),
)


@dataclass
class TrainState:
    """Where training stands. ``batch_in_epoch``: batches of ``epoch`` already trained (resume point)."""

    epoch: int = 0
    step: int = 0
    batch_in_epoch: int = 0
    best_metric: float = -math.inf
    best_epoch: int = -1
    history: list[dict[str, float]] = field(default_factory=list)


def rng_state() -> dict[str, Any]:
    """Every RNG's state as tensors and plain values, which ``torch.load(weights_only=True)`` reads."""
    name, key, pos, has_gauss, cached_gaussian = np.random.get_state(legacy=True)  # type: ignore[misc]
    version, internal, gauss = random.getstate()
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "name": name,
            "key": torch.from_numpy(key.astype(np.int64)),  # uint32 words; torch has no uint32 pickling
            "pos": int(pos),
            "has_gauss": int(has_gauss),
            "cached_gaussian": float(cached_gaussian),
        },
        "python": [version, list(internal), gauss],
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restore what ``rng_state`` captured (and numpy's own tuple from older run folders)."""
    torch.set_rng_state(state["torch"])
    saved = state["numpy"]
    if isinstance(saved, dict):
        key = saved["key"].numpy().astype(np.uint32)
        np.random.set_state((saved["name"], key, saved["pos"], saved["has_gauss"], saved["cached_gaussian"]))
    else:  # a run folder from before plain-value states: numpy's own tuple
        np.random.set_state(saved)
    version, internal, gauss = state["python"]
    random.setstate((version, tuple(internal), gauss))
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def save_training_checkpoint(
    out_dir: Path,
    model: VideoPoseModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    state: TrainState,
    config: ExperimentConfig,
    best: bool,
) -> None:
    """Write weights and training state for ``state.step``, then move the ``last`` (and ``best``) pointers.

    Order matters for crash safety: both files are complete before ``last.json`` names them, and
    files no pointer names are deleted only afterwards.
    """
    from posecli.checkpoints import save_checkpoint

    folder = out_dir / "checkpoints"
    with writing(folder, "checkpoint folder"):
        folder.mkdir(parents=True, exist_ok=True)
    stem = f"step-{state.step:08d}"
    weights, training = folder / f"{stem}.safetensors", folder / f"{stem}.state.pt"
    extra = {"experiment": config.to_dict(), "step": state.step, "epoch": state.epoch}
    save_checkpoint(weights, model, extra=extra)  # atomic and fsynced itself; errors name the file
    payload = {
        "optimizer": optimizer.state_dict(),
        "scheduler": scheduler.state_dict(),
        "scaler": scaler.state_dict(),
        "rng": rng_state(),
        "train_state": {
            "epoch": state.epoch,
            "step": state.step,
            "batch_in_epoch": state.batch_in_epoch,
            "best_metric": state.best_metric,
            "best_epoch": state.best_epoch,
            "history": state.history,
        },
        "config": config.to_dict(),
    }
    # through a Python file object, so that a failed write raises OSError (torch's own writer
    # raises a RuntimeError without the errno)
    with writing(training, "training state"), atomic_path(training) as tmp, open(tmp, "wb") as f:
        torch.save(payload, f)
        f.flush()
        os.fsync(f.fileno())  # the bytes are on disk before the rename makes the file visible
    # make both renames durable before last.json (fsynced itself) names them
    fsync_path(folder)
    pointer = {
        "step": state.step,
        "epoch": state.epoch,
        "weights": f"checkpoints/{weights.name}",
        "state": f"checkpoints/{training.name}",
    }
    with writing(out_dir / "last.json", "checkpoint pointer"):
        atomic_write_json(out_dir / "last.json", pointer, indent=2)
    with writing(out_dir / "last.safetensors", "checkpoint"):
        atomic_link(out_dir / "last.safetensors", weights)
    if best:
        with writing(out_dir / "best.json", "checkpoint pointer"):
            atomic_write_json(out_dir / "best.json", {**pointer, "metric": state.best_metric}, indent=2)
        with writing(out_dir / "best.safetensors", "checkpoint"):
            atomic_link(out_dir / "best.safetensors", weights)
    keep = set()
    for name in ("last.json", "best.json"):
        if (out_dir / name).is_file():
            named = json.loads((out_dir / name).read_text())
            keep |= {Path(named["weights"]).name, Path(named["state"]).name}
    for path in folder.iterdir():
        if path.name not in keep and not path.name.startswith("."):
            with writing(path, "old checkpoint (removing it)"):
                path.unlink(missing_ok=True)


def sweep_temporary_files(out_dir: Path) -> list[Path]:
    """Remove the temporary files that killed writes left in a run folder (its top level,
    ``checkpoints/`` and ``predictions/``); returns them. Only for a run folder no process writes to."""
    folders = [out_dir, out_dir / "checkpoints"]
    predictions = out_dir / "predictions"
    if predictions.is_dir():
        folders += [predictions, *(p for p in predictions.iterdir() if p.is_dir())]
    removed = []
    for folder in folders:
        if not folder.is_dir():
            continue
        for path in folder.iterdir():
            if is_temporary_name(path.name) and path.is_file():
                with writing(path, "temporary file (removing it)"):
                    path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def find_resume(resume: str | None, out_dir: Path) -> Path | None:
    """The ``last.json`` to resume from: ``auto`` → ``<out_dir>/last.json`` if present; a run folder or
    a pointer file → that; None → start fresh."""
    if resume is None:
        return None
    if resume == "auto":
        pointer = out_dir / "last.json"
        return pointer if pointer.is_file() else None
    path = Path(resume)
    pointer = path / "last.json" if path.is_dir() else path
    if not pointer.is_file():
        raise PoseCliError(
            f"--resume: {path} is neither a run folder with last.json nor a checkpoint pointer file"
        )
    return pointer


def load_resume(
    pointer: Path,
    model: VideoPoseModel,
    optimizer: torch.optim.Optimizer,
    scheduler: torch.optim.lr_scheduler.LRScheduler,
    scaler: torch.amp.GradScaler,
    device: torch.device,
) -> TrainState:
    """Restore weights, optimizer, scheduler, scaler and RNG from the files ``pointer`` names.

    The state file is read with ``weights_only=True`` (``posecli.weights.load_torch_file``): a pickle
    naming any callable is refused, unrun, with one line naming the file.
    """
    from safetensors.torch import load_file

    from posecli.weights import load_torch_file

    try:
        named = json.loads(pointer.read_text(encoding="utf-8"))
        weights_path, state_path = pointer.parent / named["weights"], pointer.parent / named["state"]
    except (OSError, json.JSONDecodeError, KeyError) as error:
        raise PoseCliError(f"--resume: {pointer}: not a checkpoint pointer ({error})") from None
    for path in (weights_path, state_path):
        if not path.is_file():
            raise PoseCliError(f"--resume: {pointer}: names {path}, which is missing")
    try:
        weights = load_file(str(weights_path), device=str(device))
    except Exception as error:  # noqa: BLE001 - safetensors raises its own types for a damaged file
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise PoseCliError(f"--resume: {weights_path}: not a readable safetensors file ({first})") from None
    try:
        model.load_state_dict(weights, strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise PoseCliError(f"--resume: {weights_path} does not fit this config's model ({first})") from None
    # on the CPU: the optimizer moves its state to the parameters' device, and RNG states stay there
    payload = load_torch_file(state_path, "the training state", allowed=_LEGACY_STATE_GLOBALS)
    try:
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        restore_scaler(scaler, payload["scaler"])
        set_rng_state(payload["rng"])
        return TrainState(**payload["train_state"])
    except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as error:
        first = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
        raise PoseCliError(
            f"--resume: {state_path}: not a training state of this run ({type(error).__name__}: {first})"
        ) from None


def restore_scaler(scaler: torch.amp.GradScaler, saved: dict[str, Any]) -> None:
    """Load a checkpoint's loss-scaler state into ``scaler``.

    A run saved without float16 loss scaling (fp32, bf16 or on the CPU) holds an empty state, which
    ``GradScaler.load_state_dict`` refuses; a float16 run resumed from it starts from a fresh scale.
    """
    if scaler.is_enabled() and not saved:
        return
    scaler.load_state_dict(saved)
