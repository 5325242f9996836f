"""``fit``: data and model construction, resume, the epoch loop with validation and checkpoints, and
``run_training`` (what ``posecli train`` calls)."""

from __future__ import annotations

import math
import os
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist
from torch import nn

from posecli.atomic import atomic_write_json, writing
from posecli.config import ExperimentConfig
from posecli.data.posetrack import read_posetrack
from posecli.errors import PoseCliError
from posecli.models import VideoPoseModel
from posecli.train.checkpointing import (
    TrainState,
    find_resume,
    load_resume,
    save_training_checkpoint,
    sweep_temporary_files,
)
from posecli.train.data import EpochSampler, build_dataset, make_loader, prepare_data_root
from posecli.train.distributed import Dist, barrier, init_distributed
from posecli.train.init_weights import build_training_model, check_init_checkpoint
from posecli.train.loop import AMP_DTYPES, StepContext, train_one_epoch
from posecli.train.run_log import JsonlLogger, truncate_log
from posecli.train.validation import validate


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
        # what `auto` settings resolved to on this machine (config.json keeps the recipe as given)
        with writing(out / "run.json", "run facts"):
            atomic_write_json(out / "run.json", run_facts(model, target, ranks.world_size), indent=2)

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
    loader = make_loader(train_set, config.train.batch_size, config.data.workers, pin, sampler)

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
    # AdamW decouples the weight decay from the gradient (TAR-ViTPose); Adam adds it to it
    optimizer_class = torch.optim.AdamW if config.train.optimizer == "adamw" else torch.optim.Adam
    optimizer = optimizer_class(params, lr=config.train.lr, weight_decay=config.train.weight_decay)
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
        state = load_resume(pointer, model, optimizer, scheduler, scaler, target)
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
            save_training_checkpoint(out, model, optimizer, scheduler, scaler, state, config, best)

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
            barrier(ranks)
            if finished:
                break
    finally:
        logger.close()
    barrier(ranks)
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


def run_facts(model: VideoPoseModel, device: torch.device, world_size: int) -> dict[str, Any]:
    """The run's resolved environment for ``run.json``: which deformable-conv kernel ``deform_impl``
    chose (``grid_sample`` / ``torchvision``; None for HRNet), the device, process count and torch."""
    return {
        "deform_kernel": model.deform_kernel,
        "device": str(device),
        "world_size": world_size,
        "torch": torch.__version__,
    }
