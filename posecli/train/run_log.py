"""``log.jsonl``: one JSON record per logged step and per validation (rank 0), mirrored to TensorBoard,
and cut back to the resumed step on a resume so that no step is logged twice."""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from posecli.atomic import atomic_write_text, writing
from posecli.train.checkpointing import TrainState


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
