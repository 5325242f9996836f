"""Training: one readable loop for FAMI-Pose, TDMI and HRNet on PoseTrack or synthetic data.

``train_one_epoch`` runs the same phases for every batch: fetch, forward, a named loss dict, a
finite-loss check, backward, clip, step, log. ``fit`` wraps it with data and model construction,
resume, per-epoch validation (poseval AP through ``posecli.evaluation``) and checkpoints.

Multi-GPU: run the same command under ``torchrun --nproc-per-node N``; rank, world size and local
rank come from the environment, the model is wrapped in DDP, each rank reads its own shard of every
epoch's permutation, and only rank 0 logs, validates and writes files.

Checkpoints (all files written atomically, see ``_save_checkpoint``)::

    <out>/checkpoints/step-00000120.safetensors   weights + resolved model config (posecli.checkpoints)
    <out>/checkpoints/step-00000120.state.pt      optimizer, scheduler, scaler, RNG, step, epoch, config
                                                  (tensors and plain values only: read back with
                                                  weights_only=True, so a doctored file runs no code)
    <out>/last.json, <out>/best.json              which of those files are the last / best checkpoint
    <out>/last.safetensors, <out>/best.safetensors  the same weights under a stable name
    <out>/log.jsonl                                one JSON record per logged step and per validation

A pointer file changes (by an atomic rename) only after both files it names are complete, so a crash
while writing a checkpoint leaves the previous one intact and resumable. A resume removes the
temporary files a killed save left behind and cuts ``log.jsonl`` back to the resumed step, so no step
is logged twice. A failed write (full disk, read-only folder) is one ``PoseCliError`` naming the file.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import os
import random
import re
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Sampler

from posecli.atomic import atomic_path, atomic_write_json, atomic_write_text
from posecli.codecs.decode import decode_poses
from posecli.codecs.heatmap import HeatmapCodec
from posecli.codecs.simcc import SimCCCodec
from posecli.config import ExperimentConfig
from posecli.data.dataset import ClipDataset
from posecli.data.posetrack import (
    PoseTrackSplit,
    detect_layout,
    read_posetrack,
    training_samples,
    validation_samples,
)
from posecli.data.synthetic import write_synthetic_dataset
from posecli.data.transforms import AugmentConfig, normalize_frames
from posecli.errors import PoseCliError
from posecli.keypoints import NUM_KEYPOINTS, POSETRACK_CATEGORY_SKELETON, POSETRACK_KEYPOINTS
from posecli.models import VideoPoseModel, build_from_config
from posecli.models.inference import average_with_flipped
from posecli.progress import progress_bar

TARGET_KEYS = ("heatmaps", "target_weight", "simcc_x", "simcc_y")
# Collective timeout: rank 0 validates alone (minutes on a full PoseTrack val split) while the other
# ranks wait at a barrier; the default (10 min for NCCL) would abort such a run.
PROCESS_GROUP_TIMEOUT = datetime.timedelta(minutes=60)
AMP_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}
# what atomic_path leaves behind when killed mid-write: "." + target + "." + 8 mkstemp characters + suffix
_TEMPORARY_FILE = re.compile(r"\..+\.[a-z0-9_]{8}(\.tmp[^/]*|\.partial)")
# Run folders written before training state held only plain values keep numpy's RNG state as an
# ndarray: these globals rebuild an ndarray (no other callable), so such folders still resume.
_LEGACY_STATE_GLOBALS = (
    np.zeros(1).__reduce__()[0],  # numpy's _reconstruct (numpy.core or numpy._core by version)
    np.ndarray,
    np.dtype,
    type(np.dtype(np.uint32)),
)


# --------------------------------------------------------------------------------------------------
# Process group


@dataclass(frozen=True)
class Dist:
    """This process's place in a (possibly single-process) run."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: str) -> tuple[Dist, torch.device]:
    """Join the ``torchrun`` process group when ``WORLD_SIZE > 1``; returns the ranks and the device.

    device: a resolved device string (``cpu``, ``cuda:N``); under torchrun on CUDA each process takes
    ``cuda:<LOCAL_RANK>``. Backend: NCCL on CUDA, gloo on the CPU.
    """
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return Dist(), torch.device(device)
    rank, local = int(os.environ["RANK"]), int(os.environ.get("LOCAL_RANK", "0"))
    if device.startswith("cuda"):
        torch.cuda.set_device(local)
        target = torch.device("cuda", local)
    else:
        target = torch.device("cpu")
    if not dist.is_initialized():
        dist.init_process_group(
            backend="nccl" if target.type == "cuda" else "gloo", timeout=PROCESS_GROUP_TIMEOUT
        )
    return Dist(rank, world, local), target


def _barrier(ranks: Dist) -> None:
    if ranks.world_size > 1:
        dist.barrier()


# --------------------------------------------------------------------------------------------------
# Data


class EpochSampler(Sampler[int]):
    """A seeded permutation per epoch, split across ranks, that can skip already-trained batches.

    The permutation depends only on ``(seed, epoch)``. It is cut to a multiple of
    ``world_size · batch_size`` (drop_last: the < world_size · batch_size clips left over differ from
    epoch to epoch, and every step has full batches); rank r takes every world_size-th index of the
    rest starting at r, so the ranks' shards are disjoint and together cover the cut permutation.
    ``set_epoch(epoch, skip_batches)`` drops this rank's first ``skip_batches · batch_size`` indices.

    Why not ``DistributedSampler``: it cannot start mid-epoch, so an exact resume after step k of
    an epoch would have to replay the epoch (different weights) or iterate the DataLoader over the
    trained batches (decoding every skipped clip). Skipping in the sampler costs nothing, the
    skipped clips are never loaded, and the one-process and the DDP runs share this code.
    """

    def __init__(self, size: int, batch_size: int, seed: int, ranks: Dist) -> None:
        self.size, self.batch_size, self.seed, self.ranks = size, batch_size, seed, ranks
        self.epoch, self.skip_batches = 0, 0
        self.batches_per_epoch = size // (batch_size * ranks.world_size)  # drop_last semantics
        if self.batches_per_epoch == 0:
            raise PoseCliError(
                f"train.batch_size: {batch_size} × {ranks.world_size} process(es) exceeds the {size} "
                "training clips"
            )

    def set_epoch(self, epoch: int, skip_batches: int = 0) -> None:
        self.epoch, self.skip_batches = epoch, skip_batches

    def _indices(self) -> list[int]:
        generator = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        order = torch.randperm(self.size, generator=generator).tolist()
        used = self.batches_per_epoch * self.batch_size * self.ranks.world_size
        mine = order[:used][self.ranks.rank :: self.ranks.world_size]
        return mine[self.skip_batches * self.batch_size :]

    def __iter__(self) -> Iterator[int]:
        return iter(self._indices())

    def __len__(self) -> int:
        return (self.batches_per_epoch - self.skip_batches) * self.batch_size


def prepare_data_root(config: ExperimentConfig, ranks: Dist, quiet: bool = True) -> Path:
    """The dataset root; for ``synthetic`` data generate it (rank 0) unless it already holds data."""
    data = config.data
    if data.root is None:
        raise PoseCliError("--data-root: no dataset folder given (or set data.root in the config)")
    root = Path(data.root)
    if data.dataset == "synthetic":
        if ranks.main and not (root / "annotations").is_dir():
            write_synthetic_dataset(
                root,
                videos=data.synthetic_videos,
                frames=data.synthetic_frames,
                people=data.synthetic_people,
                seed=data.synthetic_seed,
                size=data.synthetic_size,
                val_videos=data.synthetic_val_videos,
            )
        _barrier(ranks)
        return root
    detect_layout(root)
    return root


def build_dataset(
    config: ExperimentConfig, split: PoseTrackSplit, train: bool, num_frames: int
) -> ClipDataset:
    """The ``ClipDataset`` of one split: GT boxes for training, GT or detection boxes for validation."""
    model, data = config.model.resolved(), config.data
    assert model.heatmap_size is not None and model.simcc_split_ratio is not None
    if train:
        samples = training_samples(split)[: data.max_train_samples]
    else:
        samples = validation_samples(split, data.val_boxes, data.box_score_threshold)[: data.max_val_samples]
    if not samples:
        raise PoseCliError(f"--data-root: the {split.split} split of {split.root} has no usable person boxes")
    heatmap_codec = HeatmapCodec(model.input_size, model.heatmap_size, data.sigma)
    simcc_codec = (
        SimCCCodec(model.input_size, model.simcc_split_ratio, model.simcc_sigma)
        if model.head == "simcc"
        else None
    )
    augment = AugmentConfig(
        scale_factor=data.scale_factor,
        rotation_factor=data.rotation_factor,
        rotation_prob=data.rotation_prob,
        flip_prob=data.flip_prob,
        half_body_prob=data.half_body_prob,
        half_body_min_joints=data.half_body_min_joints,
    )
    return ClipDataset(
        samples,
        model.input_size,
        heatmap_codec,
        simcc_codec,
        num_frames=num_frames,
        train=train,
        augment=augment,
        enlarge=data.bbox_enlarge,
        seed=config.train.seed,
    )


def _loader(
    dataset: ClipDataset, batch_size: int, workers: int, pin: bool, sampler: Sampler[int] | None
) -> DataLoader:
    return DataLoader(
        dataset,
        batch_size=batch_size,
        sampler=sampler,
        shuffle=False,
        num_workers=workers,
        pin_memory=pin,
        drop_last=False,
        # workers are re-created each epoch so that they see the dataset's new epoch number
        persistent_workers=False,
        prefetch_factor=4 if workers > 0 else None,
    )


# --------------------------------------------------------------------------------------------------
# State, logging, checkpoints


@dataclass
class TrainState:
    """Where training stands. ``batch_in_epoch``: batches of ``epoch`` already trained (resume point)."""

    epoch: int = 0
    step: int = 0
    batch_in_epoch: int = 0
    best_metric: float = -math.inf
    best_epoch: int = -1
    history: list[dict[str, float]] = field(default_factory=list)


class JsonlLogger:
    """Appends one JSON object per record to ``log.jsonl`` (rank 0 only), mirrored to TensorBoard
    (``<out>/tensorboard``) when it is installed (``pip install posecli[train]``).

    purge_step: on a resume, the first step still to come; TensorBoard drops its events from there on
    (``log.jsonl`` is cut back by ``truncate_log``)."""

    def __init__(self, path: Path | None, purge_step: int | None = None) -> None:
        self.path = path
        self.tensorboard: Any = None
        if path is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tensorboard = SummaryWriter(
                    log_dir=str(path.parent / "tensorboard"), purge_step=purge_step
                )
            except ImportError:  # tensorboard is optional
                self.tensorboard = None

    def log(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with writing(self.path, "training log"), open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(clean) + "\n")
        if self.tensorboard is not None:
            for key, value in record.items():
                if isinstance(value, int | float) and key not in ("step", "epoch") and math.isfinite(value):
                    self.tensorboard.add_scalar(key, value, record.get("step", 0))

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


@contextlib.contextmanager
def writing(path: Path, what: str = "file") -> Iterator[None]:
    """Turn an ``OSError`` in the block (full disk, read-only folder) into one line naming ``path``."""
    try:
        yield
    except OSError as error:
        raise PoseCliError(f"{path}: cannot write the {what} ({os_reason(error)})") from None


def os_reason(error: OSError) -> str:
    """The reason of an ``OSError`` without its file name, e.g. ``No space left on device``."""
    return error.strerror or (str(error.args[0]) if error.args else "") or type(error).__name__


def _rng_state() -> dict[str, Any]:
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


def _set_rng_state(state: dict[str, Any]) -> None:
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


def _publish(target: Path, source: Path) -> None:
    """Atomically make ``target`` a hard link to (or, where links fail, a copy of) ``source``."""
    with writing(target, "checkpoint"), atomic_path(target) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            tmp.write_bytes(source.read_bytes())


def _fsync(path: Path) -> None:
    """Flush a file's (or a folder's entries') data to disk; a no-op where the OS cannot fsync it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # e.g. folders on some file systems
        pass
    finally:
        os.close(fd)


def _save_checkpoint(
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
        "rng": _rng_state(),
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
    with writing(training, "training state"), atomic_path(training) as tmp:
        with open(tmp, "wb") as f:
            torch.save(payload, f)
            f.flush()
            os.fsync(f.fileno())  # the bytes are on disk before the rename makes the file visible
    # make both renames durable before last.json (fsynced itself) names them
    _fsync(folder)
    pointer = {
        "step": state.step,
        "epoch": state.epoch,
        "weights": f"checkpoints/{weights.name}",
        "state": f"checkpoints/{training.name}",
    }
    with writing(out_dir / "last.json", "checkpoint pointer"):
        atomic_write_json(out_dir / "last.json", pointer, indent=2)
    _publish(out_dir / "last.safetensors", weights)
    if best:
        with writing(out_dir / "best.json", "checkpoint pointer"):
            atomic_write_json(out_dir / "best.json", {**pointer, "metric": state.best_metric}, indent=2)
        _publish(out_dir / "best.safetensors", weights)
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
            if _TEMPORARY_FILE.fullmatch(path.name) and path.is_file():
                with writing(path, "temporary file (removing it)"):
                    path.unlink(missing_ok=True)
                removed.append(path)
    return removed


def truncate_log(path: Path, state: TrainState) -> int:
    """Cut ``log.jsonl`` back to what the resumed ``state`` had logged; returns the records dropped.

    Kept: step records up to ``state.step`` and the validation records (those with ``val/mse``) that
    ``state.history`` holds; a run killed after its last checkpoint logged more, which the resumed run
    logs again. Lines that are not JSON records (a line cut by the kill) are dropped too.
    """
    if not path.is_file():
        return 0
    validated = {h.get("step") for h in state.history}
    kept, dropped = [], 0
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            dropped += 1
            continue
        if not isinstance(record, dict):
            dropped += 1
            continue
        step = record.get("step")
        if "val/mse" in record:
            keep = step in validated  # a validation the checkpoint saw; a later one is done again
        else:
            keep = not isinstance(step, int) or step <= state.step
        if keep:
            kept.append(line)
        else:
            dropped += 1
    if dropped:
        with writing(path, "training log"):
            atomic_write_text(path, "".join(f"{line}\n" for line in kept))
    return dropped


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


def _load_resume(
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
        model.load_state_dict(load_file(str(weights_path), device=str(device)), strict=True)
    except RuntimeError as error:
        first = str(error).splitlines()[0]
        raise PoseCliError(f"--resume: {weights_path} does not fit this config's model ({first})") from None
    # on the CPU: the optimizer moves its state to the parameters' device, and RNG states stay there
    payload = load_torch_file(state_path, "the training state", allowed=_LEGACY_STATE_GLOBALS)
    try:
        optimizer.load_state_dict(payload["optimizer"])
        scheduler.load_state_dict(payload["scheduler"])
        restore_scaler(scaler, payload["scaler"])
        _set_rng_state(payload["rng"])
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


# --------------------------------------------------------------------------------------------------
# The loop


@dataclass
class StepContext:
    """What ``train_one_epoch`` needs besides the model and data, grouped to keep its signature short."""

    loss_fn: Any
    optimizer: torch.optim.Optimizer
    scaler: torch.amp.GradScaler
    device: torch.device
    amp: bool
    amp_dtype: torch.dtype
    grad_clip: float | None
    max_steps: int | None
    log_every: int
    ranks: Dist
    logger: JsonlLogger
    checkpoint_every: int | None = None
    save: Any = None  # callable() writing the last checkpoint (rank 0), used every checkpoint_every steps
    # sum of this epoch's losses, kept on the device (no host sync per step); fit resets it per epoch
    loss_sum: Tensor | None = None
    loss_steps: int = 0

    def mean_loss(self) -> float:
        """Mean loss of the steps since the last reset (NaN when there were none)."""
        if self.loss_sum is None or not self.loss_steps:
            return math.nan
        return float(self.loss_sum) / self.loss_steps


def train_one_epoch(
    model: nn.Module, loader: DataLoader, ctx: StepContext, state: TrainState, quiet: bool = True
) -> bool:
    """Train over ``loader`` (the rest of ``state.epoch``); returns True when ``max_steps`` was reached.

    Each batch: frames ``(B, T, 3, H, W)`` uint8, targets ``heatmaps (B, K, h, w)``, ``target_weight
    (B, K)`` and, for SimCC heads, ``simcc_x (B, K, W·k)``, ``simcc_y (B, K, H·k)``.
    """
    model.train()
    params = [p for p in model.parameters() if p.requires_grad]
    samples_per_step = loader.batch_size * ctx.ranks.world_size  # type: ignore[operator]
    window_start, window_samples = time.perf_counter(), 0
    end_of_epoch = state.batch_in_epoch + len(loader)  # the loader holds only the batches still to do
    with progress_bar(
        f"epoch {state.epoch + 1}", len(loader) * samples_per_step, "samples", quiet
    ) as advance:
        for batch in loader:
            # fetch: uint8 crops travel to the device, normalisation happens there
            frames = normalize_frames(batch["frames"].to(ctx.device, non_blocking=True))
            targets = {k: batch[k].to(ctx.device, non_blocking=True) for k in TARGET_KEYS if k in batch}
            # forward
            with torch.autocast(ctx.device.type, dtype=ctx.amp_dtype, enabled=ctx.amp):
                output = model(frames)
            # named loss dict (computed in float32)
            losses = ctx.loss_fn(_float_output(output), targets)
            loss = losses["loss"]
            # finite-loss check: stop with the step number rather than train on NaN
            if not torch.isfinite(loss):
                terms = ", ".join(f"{k}={float(v):.4g}" for k, v in losses.items())
                raise FloatingPointError(
                    f"non-finite loss at step {state.step + 1} (epoch {state.epoch + 1}): {terms}"
                )
            # backward
            ctx.optimizer.zero_grad(set_to_none=True)
            ctx.scaler.scale(loss).backward()
            # clip
            if ctx.grad_clip is not None:
                ctx.scaler.unscale_(ctx.optimizer)
                torch.nn.utils.clip_grad_norm_(params, ctx.grad_clip)
            # step
            ctx.scaler.step(ctx.optimizer)
            ctx.scaler.update()
            state.step += 1
            state.batch_in_epoch += 1
            ctx.loss_sum = loss.detach() if ctx.loss_sum is None else ctx.loss_sum + loss.detach()
            ctx.loss_steps += 1
            window_samples += samples_per_step
            advance(samples_per_step)
            # log
            last_in_epoch = state.batch_in_epoch == end_of_epoch
            if ctx.ranks.main and (state.step % ctx.log_every == 0 or last_in_epoch):
                elapsed = time.perf_counter() - window_start
                record: dict[str, Any] = {
                    "step": state.step,
                    "epoch": state.epoch + 1,
                    "lr": ctx.optimizer.param_groups[0]["lr"],
                }
                record.update({f"train/{k}": float(v.detach()) for k, v in losses.items()})
                record["samples_per_s"] = window_samples / elapsed if elapsed > 0 else float("nan")
                ctx.logger.log(record)
                window_start, window_samples = time.perf_counter(), 0
            if ctx.checkpoint_every and state.step % ctx.checkpoint_every == 0 and ctx.save is not None:
                ctx.save()
            if ctx.max_steps is not None and state.step >= ctx.max_steps:
                return True
    return False


def _float_output(output: Any) -> Any:
    """The model output with its tensors cast to float32 (losses stay in float32 under AMP)."""
    for name in ("heatmaps", "simcc_x", "simcc_y", "backbone_heatmaps"):
        value = getattr(output, name, None)
        if isinstance(value, Tensor) and value.dtype != torch.float32:
            setattr(output, name, value.float())
    features = getattr(output, "features", None)
    if isinstance(features, dict):
        for key, value in features.items():
            if isinstance(value, Tensor) and value.dtype != torch.float32:
                features[key] = value.float()
    return output


# --------------------------------------------------------------------------------------------------
# Validation


@torch.no_grad()
def predict(
    model: VideoPoseModel,
    dataset: ClipDataset,
    device: torch.device,
    batch_size: int = 32,
    decode: str = "argmax",
    flip_test: bool = False,
    workers: int = 0,
    quiet: bool = True,
) -> tuple[np.ndarray, float]:
    """Keypoints of every dataset item in frame pixels, and the mean heatmap MSE against its targets.

    Returns ``(N, 17, 3)`` float64 ``x, y, score`` (score = decoded confidence × box score) and the
    target-weighted heatmap MSE averaged over items (the reference ``JointMSELoss`` form).
    """
    model.eval()
    cfg = model.config
    out = np.zeros((len(dataset), NUM_KEYPOINTS, 3))
    mse_sum, count = 0.0, 0
    loader = _loader(dataset, batch_size, workers, device.type == "cuda", None)
    with progress_bar("validate", len(dataset), "clips", quiet) as advance:
        for batch in loader:
            frames = normalize_frames(batch["frames"].to(device))
            output = model(frames)
            if flip_test:
                output = average_with_flipped(output, model(frames.flip(-1)))
            heatmaps, simcc_x, simcc_y = output.heatmaps.float(), output.simcc_x, output.simcc_y
            weight = batch["target_weight"].to(device)[:, :, None, None]
            per_joint = ((heatmaps - batch["heatmaps"].to(device)) * weight).pow(2).mean(dim=(2, 3))  # (B, K)
            mse_sum += float(per_joint.mean(dim=1).sum())
            count += frames.shape[0]
            out[batch["index"].numpy()] = decode_poses(
                cfg,
                batch["center"].numpy(),
                batch["scale"].numpy(),
                batch["score"].numpy(),
                heatmaps=heatmaps,
                simcc_x=simcc_x,
                simcc_y=simcc_y,
                method=decode,
            )
            advance(frames.shape[0])
    return out, mse_sum / max(count, 1)


def write_predictions(
    split: PoseTrackSplit, dataset: ClipDataset, keypoints: np.ndarray, out_dir: Path
) -> Path:
    """Write PoseTrack 2018 prediction files, one per video of ``split``, named like its GT files
    (``PoseTrackSplit.prediction_file_name``: poseval looks predictions up by the GT file name).

    Every frame of every video is listed (poseval pairs frames by position); each predicted person
    gets ``keypoints`` (51 numbers), ``scores`` (17) and ``track_id`` = its index within the frame.
    keypoints: ``(N, 17, 3)`` from ``predict`` in dataset order. Returns the folder.
    """
    by_frame: dict[tuple[str, int], list[int]] = {}
    for i, sample in enumerate(dataset.samples):
        by_frame.setdefault((sample.frame.video, sample.frame.frame_number), []).append(i)
    categories = [
        {
            "supercategory": "person",
            "id": 1,
            "name": "person",
            "keypoints": list(POSETRACK_KEYPOINTS),
            "skeleton": [list(e) for e in POSETRACK_CATEGORY_SKELETON],
        }
    ]
    for video, frames in split.videos().items():
        images, annotations = [], []
        for frame in frames:
            images.append(
                {
                    "id": frame.image_id,
                    "file_name": frame.image_name,
                    "frame_id": frame.image_id,
                    "nframes": frame.nframes,
                }
            )
            for track, i in enumerate(by_frame.get((video, frame.frame_number), [])):
                kp = keypoints[i]
                annotations.append(
                    {
                        "image_id": frame.image_id,
                        "category_id": 1,
                        "track_id": track,
                        # x, y and the joint score in the third column (poseval drops only x = y = v = 0)
                        "keypoints": [round(float(v), 3) for v in kp.reshape(-1)],
                        "scores": [round(float(s), 5) for s in kp[:, 2]],
                    }
                )
        atomic_write_json(
            out_dir / split.prediction_file_name(video),
            {"images": images, "annotations": annotations, "categories": categories},
        )
    return out_dir


def validate(
    model: VideoPoseModel,
    dataset: ClipDataset,
    split: PoseTrackSplit,
    config: ExperimentConfig,
    out_dir: Path,
    device: torch.device,
    quiet: bool = True,
) -> dict[str, float]:
    """Predict the split, write the prediction files to ``out_dir`` and score them with poseval's AP.

    Returns ``{"val/mse": ..., "ap/total": ..., "ap/Head": ..., ...}`` (AP keys only when the split
    has GT files ``posecli eval`` can read).
    """
    from posecli.evaluation.posetrack import evaluate_posetrack

    keypoints, mse = predict(
        model,
        dataset,
        device,
        config.eval.batch_size,
        config.eval.decode,
        config.eval.flip_test,
        workers=min(config.data.workers, 4),
        quiet=quiet,
    )
    metrics = {"val/mse": mse}
    with writing(out_dir, "validation predictions"):
        write_predictions(split, dataset, keypoints, out_dir)
    if split.gt_path.exists():
        result = evaluate_posetrack(
            out_dir, split.gt_path, mode=config.eval.mode, metrics=("ap",), quiet=True
        )
        metrics.update(result.metrics())
    return metrics


# --------------------------------------------------------------------------------------------------
# fit


@dataclass
class FitResult:
    """What a finished ``fit`` leaves behind (rank 0's view; ``main`` is False on the other ranks)."""

    out_dir: Path
    state: TrainState
    last_checkpoint: Path
    best_checkpoint: Path | None
    metrics: dict[str, float]
    main: bool = True

    def best_validation(self) -> dict[str, float] | None:
        """The validation record of the best epoch (``state.history``), or None without validation."""
        for record in self.state.history:
            if record.get("epoch") == self.state.best_epoch:
                return record
        return None


@dataclass(frozen=True)
class EpochSummary:
    """What ``fit`` reports after each epoch (or the partial epoch ``max_steps`` ended), on rank 0."""

    epoch: int  # 1-based epoch the weights come from
    epochs: int  # train.epochs
    step: int  # optimizer steps so far
    loss: float  # mean training loss of this epoch's steps in this process (NaN when none ran)
    metrics: dict[str, float]  # validation metrics ("val/mse", "ap/total", ...); empty when not validated
    best: bool  # this validation is the best so far
    seconds: float  # wall time of the epoch, validation and checkpoint included


def format_epoch(summary: EpochSummary) -> str:
    """One line for an epoch, e.g. ``epoch 3/30  step 36  loss 0.00123  AP 41.20 (best)  9.8 s``."""
    parts = [f"epoch {summary.epoch}/{summary.epochs}", f"step {summary.step}", f"loss {summary.loss:.5g}"]
    ap, mse = summary.metrics.get("ap/total"), summary.metrics.get("val/mse")
    if ap is not None and math.isfinite(ap):
        parts.append(f"AP {ap:.2f}" + (" (best)" if summary.best else ""))
    if mse is not None:
        parts.append(f"val MSE {mse:.5g}" + (" (best)" if summary.best and ap is None else ""))
    parts.append(f"{summary.seconds:.1f} s")
    return "  ".join(parts)


def summary_lines(result: FitResult) -> list[str]:
    """The lines ``posecli train`` prints at the end: steps, the best epoch and both checkpoint paths."""
    state = result.state
    lines = [f"trained {state.step} steps ({state.epoch} full epochs) into {result.out_dir}"]
    best = result.best_validation()
    if best is not None and result.best_checkpoint is not None:
        ap = best.get("ap/total")
        score = f"AP {ap:.2f}" if ap is not None and math.isfinite(ap) else f"val MSE {best['val/mse']:.5g}"
        where = f"epoch {state.best_epoch}, step {best.get('step')}"
        lines.append(f"best: {score} at {where}: {result.best_checkpoint}")
    else:
        lines.append("best: no validation ran (eval.every 0, or no validation split)")
    lines.append(f"last: {result.last_checkpoint}")
    return lines


def _seed_everything(seed: int, deterministic: bool) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    if deterministic:
        torch.use_deterministic_algorithms(True, warn_only=True)
        torch.backends.cudnn.benchmark = False
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")


def load_init_weights(model: VideoPoseModel, path: str | Path) -> int:
    """Load the HRNet part of a checkpoint (official HRNet, mmpose, DCPose, reference or posecli keys,
    mapped by ``posecli.checkpoints.remap_keys``) into ``model.hrnet``; returns the tensors loaded.

    Only ``hrnet.*`` keys are taken (the temporal module keeps its init, as the reference's
    ``strict=False`` load does). Every HRNet tensor must fit, except the pose head ``final_layer``
    (an ImageNet HRNet has none) and BatchNorm step counters: a file of another width would
    otherwise fill only its width-independent stem and leave the rest random without a word.
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
    usable = {
        k: v.to(own[k].dtype)
        for k, v in state.items()
        if k.startswith("hrnet.") and k in own and tuple(v.shape) == tuple(own[k].shape)
    }
    if not usable:
        raise PoseCliError(
            f"train.init_checkpoint: {source} ({layout} layout) has no HRNet weights of this width"
        )
    unfilled = [
        k
        for k in own
        if k.startswith("hrnet.")
        and k not in usable
        and not k.startswith("hrnet.final_layer.")
        and not k.endswith("num_batches_tracked")
    ]
    if unfilled:
        hrnet_total = sum(1 for k in own if k.startswith("hrnet."))
        key = unfilled[0]
        why = "missing"
        if key in state:
            why = f"{tuple(state[key].shape)} in the file vs {tuple(own[key].shape)}"
        raise PoseCliError(
            f"train.init_checkpoint: {source} ({layout} layout) fills only {len(usable)} of {hrnet_total} "
            f"HRNet-W{model.config.width} tensors (e.g. {key}: {why}); is it an HRNet of this width?"
        )
    model.load_state_dict(usable, strict=False)
    return len(usable)


_ARCH_NAMES = {"fami": "FAMI-Pose", "tdmi": "TDMI", "hrnet": "HRNet"}


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


def fit(
    config: ExperimentConfig,
    out_dir: str | Path,
    device: str = "cpu",
    resume: str | None = None,
    quiet: bool = False,
    on_epoch: Callable[[EpochSummary], None] | None = None,
) -> FitResult:
    """Train ``config`` and write logs and checkpoints to ``out_dir``.

    device: a resolved device string (``cpu`` / ``cuda:N``; under torchrun each rank uses its local
    GPU). resume: None, ``auto`` (continue from ``out_dir/last.json`` when present) or a run folder /
    pointer file. Stops after ``train.epochs`` epochs or ``train.max_steps`` steps, whichever first.
    on_epoch: called on rank 0 after each epoch's validation and checkpoint (``format_epoch`` makes
    a line of it).
    """
    out = Path(out_dir)
    ranks, target = init_distributed(device)
    # deterministic mode is process-global: put back what the caller had once training ends
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    try:
        return _fit(config, out, ranks, target, resume, quiet, on_epoch)
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        if ranks.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _fit(
    config: ExperimentConfig,
    out: Path,
    ranks: Dist,
    target: torch.device,
    resume: str | None,
    quiet: bool,
    on_epoch: Callable[[EpochSummary], None] | None,
) -> FitResult:
    """``fit`` once the process group is joined: data, model, optimizer, resume, the epoch loop."""
    if resume is None and (out / "last.json").is_file():
        raise PoseCliError(
            f"--out-dir: {out} already holds a run (last.json); pass --resume auto to continue it "
            "or choose another --out-dir"
        )
    _seed_everything(config.train.seed, config.train.deterministic)
    quiet = quiet or not ranks.main

    # inputs first: a bad init checkpoint or data root fails before anything is written to the out-dir
    check_init_checkpoint(config)
    root = prepare_data_root(config, ranks, quiet)
    train_split = read_posetrack(root, config.data.train_split, config.data.layout)
    model = build_training_model(config).to(target)
    if ranks.main and config.train.init_checkpoint is None and config.data.dataset == "posetrack":
        warnings.warn(
            "train.init_checkpoint is not set: the HRNet backbone starts from random weights "
            "(the reference recipes start from a trained HRNet; pass --set train.init_checkpoint=PATH)",
            stacklevel=2,
        )
    if ranks.main:
        with writing(out, "run folder"):
            out.mkdir(parents=True, exist_ok=True)
        with writing(out / "config.json", "resolved config"):
            atomic_write_json(out / "config.json", config.to_dict(), indent=2)

    # data
    train_set = build_dataset(config, train_split, True, model.num_frames)
    val_split = val_set = None
    if config.eval.every > 0 and ranks.main:
        try:
            val_split = read_posetrack(root, config.data.val_split, config.data.layout)
        except PoseCliError:
            if config.data.val_boxes is not None:
                raise
            val_split = None  # no validation split on disk: train without validation
        if val_split is not None:
            val_set = build_dataset(config, val_split, False, model.num_frames)
    sampler = EpochSampler(len(train_set), config.train.batch_size, config.train.seed, ranks)
    pin = target.type == "cuda" and config.data.pin_memory
    loader = _loader(train_set, config.train.batch_size, config.data.workers, pin, sampler)

    # model, optimizer, schedule
    if ranks.world_size > 1 and config.train.sync_bn:
        if target.type != "cuda":
            raise PoseCliError(
                "train.sync_bn: SyncBatchNorm needs CUDA devices (set it to false for CPU runs)"
            )
        model = nn.SyncBatchNorm.convert_sync_batchnorm(model)  # type: ignore[assignment]
    from posecli.losses import build_loss

    loss_fn = build_loss(model.config)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.Adam(params, lr=config.train.lr, weight_decay=config.train.weight_decay)
    scheduler = torch.optim.lr_scheduler.MultiStepLR(
        optimizer, list(config.train.lr_steps), config.train.lr_factor
    )
    amp = config.train.amp and target.type == "cuda"
    amp_dtype = AMP_DTYPES[config.train.amp_dtype]
    # loss scaling only for float16 (bfloat16 has float32's range); its state is in every checkpoint
    scaler = torch.amp.GradScaler(target.type, enabled=amp and amp_dtype == torch.float16)
    state = TrainState()
    pointer = find_resume(resume, out)
    if pointer is not None:
        state = _load_resume(pointer, model, optimizer, scheduler, scaler, target)
    if ranks.main:
        # what a killed run left: temporary files of an unfinished save, log records past the checkpoint
        sweep_temporary_files(out)
        if pointer is not None:
            truncate_log(out / "log.jsonl", state)
    train_model: nn.Module = model
    if ranks.world_size > 1:
        # TDMI keeps an unused head (as the reference state dict has it): unused parameters are allowed
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[target.index] if target.type == "cuda" else None, find_unused_parameters=True
        )
    logger = JsonlLogger(
        out / "log.jsonl" if ranks.main else None, purge_step=state.step + 1 if state.step else None
    )

    def save(best: bool = False) -> None:
        if ranks.main:
            _save_checkpoint(out, model, optimizer, scheduler, scaler, state, config, best)

    ctx = StepContext(
        loss_fn=loss_fn,
        optimizer=optimizer,
        scaler=scaler,
        device=target,
        amp=amp,
        amp_dtype=amp_dtype,
        grad_clip=config.train.grad_clip,
        max_steps=config.train.max_steps,
        log_every=config.train.log_every,
        ranks=ranks,
        logger=logger,
        checkpoint_every=config.train.checkpoint_every,
        save=save,
    )
    metrics: dict[str, float] = {}
    try:
        while state.epoch < config.train.epochs:
            if config.train.max_steps is not None and state.step >= config.train.max_steps:
                break
            train_set.set_epoch(state.epoch)
            sampler.set_epoch(state.epoch, state.batch_in_epoch)
            started, ctx.loss_sum, ctx.loss_steps = time.perf_counter(), None, 0
            stopped = train_one_epoch(train_model, loader, ctx, state, quiet)
            epoch_done = not stopped or state.batch_in_epoch >= sampler.batches_per_epoch
            if epoch_done:
                scheduler.step()
                state.epoch += 1
                state.batch_in_epoch = 0
            # validation: every `eval.every` epochs, after the last epoch, and when max_steps stops the run
            finished = stopped or state.epoch >= config.train.epochs
            due = epoch_done and config.eval.every > 0 and state.epoch % config.eval.every == 0
            best = False
            shown_epoch = state.epoch if epoch_done else state.epoch + 1  # the epoch the weights come from
            validated: dict[str, float] = {}
            if ranks.main and val_set is not None and val_split is not None and (due or finished):
                metrics = validate(
                    model,
                    val_set,
                    val_split,
                    config,
                    out / "predictions" / f"epoch-{state.epoch:03d}",
                    target,
                    quiet,
                )
                validated = metrics
                score = metrics.get("ap/total", float("nan"))
                score = score if math.isfinite(score) else -metrics["val/mse"]
                best = score > state.best_metric
                if best:
                    state.best_metric, state.best_epoch = score, shown_epoch
                # "epoch" is the epoch the weights come from (1-based), also when max_steps stopped it early
                state.history.append({"epoch": shown_epoch, "step": state.step, **metrics})
                logger.log({"step": state.step, "epoch": shown_epoch, **metrics})
            save(best)
            if ranks.main and on_epoch is not None:
                seconds = time.perf_counter() - started
                summary = EpochSummary(
                    shown_epoch, config.train.epochs, state.step, ctx.mean_loss(), validated, best, seconds
                )
                on_epoch(summary)
            _barrier(ranks)
            if finished:
                break
    finally:
        logger.close()
    _barrier(ranks)
    best_path = out / "best.safetensors"
    best_checkpoint = best_path if best_path.exists() else None
    return FitResult(out, state, out / "last.safetensors", best_checkpoint, metrics, main=ranks.main)


def run_training(
    *,
    config_path: str | Path,
    data: str,
    data_root: str | Path,
    overrides: list[str] | None = None,
    resume: str | None = None,
    out_dir: str | Path | None = None,
    device: str = "cpu",
    quiet: bool = False,
    on_epoch: Callable[[EpochSummary], None] | None = None,
) -> FitResult:
    """``posecli train``: load the recipe, apply ``--set`` overrides and the data flags, then ``fit``.

    data: ``posetrack`` or ``synthetic`` (generated into ``data_root`` when it holds no dataset yet).
    out_dir: default ``runs/train/<config name>``. on_epoch: see ``fit``. Raises ``PoseCliError`` on
    bad input.
    """
    from posecli.config import load_config

    if data not in ("posetrack", "synthetic"):
        raise PoseCliError(f"--data: '{data}' is not one of posetrack, synthetic")
    config = load_config(config_path, overrides or [])
    # the flags' values are set as they are, not parsed as YAML like --set values (a folder called
    # "true" or "[x" is still a folder)
    config.data.dataset, config.data.root = data, str(data_root)
    val_boxes = config.data.val_boxes
    if config.data.dataset == "posetrack" and val_boxes is not None and not Path(val_boxes).is_file():
        raise PoseCliError(f"data.val_boxes: {val_boxes} does not exist")
    target = Path(out_dir) if out_dir is not None else Path("runs") / "train" / config.name
    return fit(config, target, device=device, resume=resume, quiet=quiet, on_epoch=on_epoch)
