"""Training data: the dataset root, one split's ``ClipDataset`` and the resumable per-epoch sampler."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import torch
from torch.utils.data import DataLoader, Sampler

from posecli.codecs.heatmap import HeatmapCodec
from posecli.codecs.simcc import SimCCCodec
from posecli.config import ExperimentConfig
from posecli.data.dataset import ClipDataset
from posecli.data.posetrack import PoseTrackSplit, detect_layout, training_samples, validation_samples
from posecli.data.synthetic import write_synthetic_dataset
from posecli.data.transforms import AugmentConfig
from posecli.errors import PoseCliError
from posecli.train.distributed import Dist, barrier


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
        barrier(ranks)
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


def make_loader(
    dataset: ClipDataset, batch_size: int, workers: int, pin: bool, sampler: Sampler[int] | None
) -> DataLoader:
    """A ``DataLoader`` over ``dataset`` in ``sampler``'s order (dataset order without one)."""
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
