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
    <out>/last.json, <out>/best.json              which of those files are the last / best checkpoint
    <out>/last.safetensors, <out>/best.safetensors  the same weights under a stable name
    <out>/log.jsonl                                one JSON record per logged step and per validation

A pointer file changes (by an atomic rename) only after both files it names are complete, so a crash
while writing a checkpoint leaves the previous one intact and resumable.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import random
import time
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import Tensor, nn
from torch.utils.data import DataLoader, Sampler

from posecli.atomic import atomic_path, atomic_write_json
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
from posecli.data.transforms import AugmentConfig, crop_to_frame, normalize_frames
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
    (``<out>/tensorboard``) when it is installed (``pip install posecli[train]``)."""

    def __init__(self, path: Path | None) -> None:
        self.path = path
        self.tensorboard: Any = None
        if path is not None:
            try:
                from torch.utils.tensorboard import SummaryWriter

                self.tensorboard = SummaryWriter(log_dir=str(path.parent / "tensorboard"))
            except ImportError:  # tensorboard is optional
                self.tensorboard = None

    def log(self, record: dict[str, Any]) -> None:
        if self.path is None:
            return
        clean = {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in record.items()}
        with open(self.path, "a", encoding="utf-8") as f:
            f.write(json.dumps(clean) + "\n")
        if self.tensorboard is not None:
            for key, value in record.items():
                if isinstance(value, int | float) and key not in ("step", "epoch") and math.isfinite(value):
                    self.tensorboard.add_scalar(key, value, record.get("step", 0))

    def close(self) -> None:
        if self.tensorboard is not None:
            self.tensorboard.close()


def _rng_state() -> dict[str, Any]:
    state: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": np.random.get_state(),
        "python": random.getstate(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def _publish(target: Path, source: Path) -> None:
    """Atomically make ``target`` a hard link to (or, where links fail, a copy of) ``source``."""
    with atomic_path(target) as tmp:
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
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"step-{state.step:08d}"
    weights, training = folder / f"{stem}.safetensors", folder / f"{stem}.state.pt"
    extra = {"experiment": config.to_dict(), "step": state.step, "epoch": state.epoch}
    save_checkpoint(weights, model, extra=extra)  # atomic itself
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
    with atomic_path(training) as tmp:
        torch.save(payload, tmp)
        _fsync(tmp)  # the bytes are on disk before the rename makes the file visible
    # save_checkpoint renames without an fsync: make its bytes and both renames durable before
    # last.json (fsynced itself) names them
    _fsync(weights)
    _fsync(folder)
    pointer = {
        "step": state.step,
        "epoch": state.epoch,
        "weights": f"checkpoints/{weights.name}",
        "state": f"checkpoints/{training.name}",
    }
    atomic_write_json(out_dir / "last.json", pointer, indent=2)
    _publish(out_dir / "last.safetensors", weights)
    if best:
        atomic_write_json(out_dir / "best.json", {**pointer, "metric": state.best_metric}, indent=2)
        _publish(out_dir / "best.safetensors", weights)
    keep = set()
    for name in ("last.json", "best.json"):
        if (out_dir / name).is_file():
            named = json.loads((out_dir / name).read_text())
            keep |= {Path(named["weights"]).name, Path(named["state"]).name}
    for path in folder.iterdir():
        if path.name not in keep and not path.name.startswith("."):
            path.unlink(missing_ok=True)


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
    """Restore weights, optimizer, scheduler, scaler and RNG from the files ``pointer`` names."""
    from safetensors.torch import load_file

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
    payload = torch.load(state_path, map_location=device, weights_only=False)
    optimizer.load_state_dict(payload["optimizer"])
    scheduler.load_state_dict(payload["scheduler"])
    restore_scaler(scaler, payload["scaler"])
    _set_rng_state(payload["rng"])
    return TrainState(**payload["train_state"])


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
    codec, simcc = dataset.heatmap_codec, dataset.simcc_codec
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
            if cfg.head == "simcc" and simcc is not None and simcc_x is not None and simcc_y is not None:
                coords, scores = simcc.decode(simcc_x, simcc_y)
            else:
                coords, scores = codec.decode(heatmaps, method=decode)
            image_xy = crop_to_frame(
                coords, batch["center"].numpy(), batch["scale"].numpy(), dataset.input_size
            )
            index = batch["index"].numpy()
            out[index, :, :2] = image_xy
            out[index, :, 2] = scores * batch["score"].numpy()[:, None]
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
    """What a finished ``fit`` leaves behind (rank 0's view)."""

    out_dir: Path
    state: TrainState
    last_checkpoint: Path
    best_checkpoint: Path | None
    metrics: dict[str, float]


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

    Only ``hrnet.*`` keys whose shapes match are taken (the temporal module keeps its init, as the
    reference's ``strict=False`` load does); a file that fills no HRNet key is an error.
    """
    from posecli.checkpoints import read_foreign_state_dict, remap_keys

    source = Path(path)
    if not source.is_file():
        raise PoseCliError(f"train.init_checkpoint: {source} does not exist")
    state, layout = remap_keys(read_foreign_state_dict(source))
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
) -> FitResult:
    """Train ``config`` and write logs and checkpoints to ``out_dir``.

    device: a resolved device string (``cpu`` / ``cuda:N``; under torchrun each rank uses its local
    GPU). resume: None, ``auto`` (continue from ``out_dir/last.json`` when present) or a run folder /
    pointer file. Stops after ``train.epochs`` epochs or ``train.max_steps`` steps, whichever first.
    """
    out = Path(out_dir)
    ranks, target = init_distributed(device)
    # deterministic mode is process-global: put back what the caller had once training ends
    previous = (
        torch.are_deterministic_algorithms_enabled(),
        torch.is_deterministic_algorithms_warn_only_enabled(),
    )
    try:
        return _fit(config, out, ranks, target, resume, quiet)
    finally:
        torch.use_deterministic_algorithms(previous[0], warn_only=previous[1])
        if ranks.world_size > 1 and dist.is_initialized():
            dist.destroy_process_group()


def _fit(
    config: ExperimentConfig, out: Path, ranks: Dist, target: torch.device, resume: str | None, quiet: bool
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
        out.mkdir(parents=True, exist_ok=True)
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
    train_model: nn.Module = model
    if ranks.world_size > 1:
        # TDMI keeps an unused head (as the reference state dict has it): unused parameters are allowed
        train_model = nn.parallel.DistributedDataParallel(
            model, device_ids=[target.index] if target.type == "cuda" else None, find_unused_parameters=True
        )
    logger = JsonlLogger(out / "log.jsonl" if ranks.main else None)

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
                score = metrics.get("ap/total", float("nan"))
                score = score if math.isfinite(score) else -metrics["val/mse"]
                best = score > state.best_metric
                if best:
                    state.best_metric, state.best_epoch = score, state.epoch
                state.history.append({"epoch": state.epoch, "step": state.step, **metrics})
                # "epoch" is the epoch the weights come from (1-based), also when max_steps stopped it early
                logger.log(
                    {"step": state.step, "epoch": state.epoch if epoch_done else state.epoch + 1, **metrics}
                )
            save(best)
            _barrier(ranks)
            if finished:
                break
    finally:
        logger.close()
    _barrier(ranks)
    best_path = out / "best.safetensors"
    return FitResult(out, state, out / "last.safetensors", best_path if best_path.exists() else None, metrics)


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
) -> FitResult:
    """``posecli train``: load the recipe, apply ``--set`` overrides and the data flags, then ``fit``.

    data: ``posetrack`` or ``synthetic`` (generated into ``data_root`` when it holds no dataset yet).
    out_dir: default ``runs/train/<config name>``. Raises ``PoseCliError`` on bad input.
    """
    from posecli.config import load_config

    if data not in ("posetrack", "synthetic"):
        raise PoseCliError(f"--data: '{data}' is not one of posetrack, synthetic")
    config = load_config(config_path, [*(overrides or []), f"data.dataset={data}", f"data.root={data_root}"])
    val_boxes = config.data.val_boxes
    if config.data.dataset == "posetrack" and val_boxes is not None and not Path(val_boxes).is_file():
        raise PoseCliError(f"data.val_boxes: {val_boxes} does not exist")
    target = Path(out_dir) if out_dir is not None else Path("runs") / "train" / config.name
    return fit(config, target, device=device, resume=resume, quiet=quiet)
