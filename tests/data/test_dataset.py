"""``ClipDataset``: shapes, targets that match the crop, and seeded per-clip augmentation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from posecli.codecs.heatmap import HeatmapCodec
from posecli.codecs.simcc import SimCCCodec
from posecli.data.dataset import ClipDataset
from posecli.data.posetrack import read_posetrack, training_samples
from posecli.data.transforms import AugmentConfig


def _dataset(root: Path, train: bool, simcc: bool = False, num_frames: int = 5, seed: int = 0) -> ClipDataset:
    samples = training_samples(read_posetrack(root, "train"))
    codec = HeatmapCodec((64, 64), (16, 16), sigma=2.0)
    return ClipDataset(
        samples,
        (64, 64),
        codec,
        SimCCCodec((64, 64), 2.0, 4.0) if simcc else None,
        num_frames=num_frames,
        train=train,
        augment=AugmentConfig(),
        seed=seed,
    )


def test_item_shapes_and_types(synthetic_roots: dict[str, Path]) -> None:
    item = _dataset(synthetic_roots["posetrack18"], train=True, simcc=True)[0]
    assert item["frames"].shape == (5, 3, 64, 64) and item["frames"].dtype == torch.uint8
    assert item["heatmaps"].shape == (17, 16, 16) and item["target_weight"].shape == (17,)
    assert item["simcc_x"].shape == (17, 128) and item["simcc_y"].shape == (17, 128)
    assert item["center"].shape == (2,) and item["scale"].shape == (2,) and int(item["index"]) == 0
    single = _dataset(synthetic_roots["posetrack18"], train=False, num_frames=1)[0]
    assert single["frames"].shape == (1, 3, 64, 64)


def test_clip_uses_the_supporting_frames_of_the_key_frame(synthetic_roots: dict[str, Path]) -> None:
    ds = _dataset(synthetic_roots["posetrack17"], train=False)
    paths = ds.clip_paths(0)  # key frame 1 of a 1-indexed video: p = 0 → (t, t)
    assert [p.name for p in paths] == [
        "00000001.jpg",
        "00000001.jpg",
        "00000001.jpg",
        "00000002.jpg",
        "00000003.jpg",
    ]
    item = ds[0]
    assert torch.equal(item["frames"][0], item["frames"][2]) and not torch.equal(
        item["frames"][2], item["frames"][3]
    )


def test_targets_peak_at_the_visible_joints(synthetic_roots: dict[str, Path]) -> None:
    ds = _dataset(synthetic_roots["posetrack18"], train=True)
    for index in range(4):
        item = ds[index]
        weight = item["target_weight"].numpy()
        assert weight[[3, 4]].sum() == 0 and weight.sum() >= 8  # ears unannotated, most joints visible
        peaks = item["heatmaps"].flatten(1).max(dim=1).values.numpy()
        np.testing.assert_allclose(peaks[weight > 0], 1.0)


def test_augmentation_depends_on_seed_epoch_and_index_only(synthetic_roots: dict[str, Path]) -> None:
    ds = _dataset(synthetic_roots["posetrack18"], train=True, seed=5)
    first = [ds[i]["frames"] for i in range(4)]
    reversed_order = {i: ds[i]["frames"] for i in (3, 2, 1, 0)}
    assert all(torch.equal(first[i], reversed_order[i]) for i in range(4))
    ds.set_epoch(1)
    assert not all(torch.equal(first[i], ds[i]["frames"]) for i in range(4))
    other_seed = _dataset(synthetic_roots["posetrack18"], train=True, seed=6)
    assert not all(torch.equal(first[i], other_seed[i]["frames"]) for i in range(4))
    plain = _dataset(synthetic_roots["posetrack18"], train=False)
    plain.set_epoch(3)
    assert torch.equal(plain[0]["frames"], _dataset(synthetic_roots["posetrack18"], train=False)[0]["frames"])
