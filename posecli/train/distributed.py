"""Process group: a run's ranks from ``torchrun``'s environment (one process when it sets none).

Rank, world size and local rank come from ``RANK``/``WORLD_SIZE``/``LOCAL_RANK``; each rank trains on
its own shard of every epoch (``posecli.train.data.EpochSampler``) and only rank 0 logs, validates and
writes files.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass

import torch
import torch.distributed as dist

# Collective timeout: rank 0 validates alone (minutes on a full PoseTrack val split) while the other
# ranks wait at a barrier; the default (10 min for NCCL) would abort such a run.
PROCESS_GROUP_TIMEOUT = datetime.timedelta(minutes=60)


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


def barrier(ranks: Dist) -> None:
    """Wait for every rank (a no-op in a one-process run)."""
    if ranks.world_size > 1:
        dist.barrier()
