"""One training epoch, read top to bottom: fetch, forward, a named loss dict, a finite-loss check,
backward, clip, step, log (and the periodic checkpoint ``fit`` asks for)."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor, nn
from torch.utils.data import DataLoader

from posecli.data.transforms import normalize_frames
from posecli.progress import progress_bar
from posecli.train.checkpointing import TrainState
from posecli.train.distributed import Dist
from posecli.train.run_log import JsonlLogger

TARGET_KEYS = ("heatmaps", "target_weight", "simcc_x", "simcc_y")
AMP_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16}


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
