"""``ClipDataset``: person clips from PoseTrack frames, cropped, augmented and encoded as targets.

One item is one person box on one key frame plus its supporting frames (``supporting_frames``),
all cut with the key frame's box (the reference does no per-frame tracking). Augmentation is one
random draw per item shared by the whole clip, taken from a generator seeded by ``(seed, epoch,
index)``: results do not depend on the worker that loads the item, so resumed and multi-worker runs
see exactly the same data as an uninterrupted single-process run.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset

from posecli.codecs.heatmap import HeatmapCodec
from posecli.codecs.simcc import SimCCCodec
from posecli.data.posetrack import ClipSample, supporting_frames
from posecli.data.transforms import AugmentConfig, crop_frames, crop_keypoints, draw_crop
from posecli.errors import PoseCliError


def read_frame(path: Path) -> np.ndarray:
    """One frame as ``(H, W, 3)`` uint8 BGR; ``PoseCliError`` naming the file when unreadable."""
    image = cv2.imread(str(path), cv2.IMREAD_COLOR)
    if image is None:
        raise PoseCliError(f"{path}: frame is missing or not a readable image")
    return image


class ClipDataset(Dataset):
    """Crops and targets for a list of ``ClipSample``.

    Each item is a dict of tensors:
    ``frames`` ``(T, 3, H, W)`` uint8 RGB (T = ``num_frames``: 1 → key frame only, 5 → t−2 … t+2);
    ``heatmaps`` ``(K, h, w)`` float32 and ``target_weight`` ``(K,)`` float32 (from ``HeatmapCodec``);
    with a ``SimCCCodec``: ``simcc_x`` ``(K, W·k)``, ``simcc_y`` ``(K, H·k)``;
    ``center`` ``(2,)``, ``scale`` ``(2,)`` float64 of the crop, ``score`` box score, ``index`` int.
    """

    def __init__(
        self,
        samples: Sequence[ClipSample],
        input_size: tuple[int, int],
        heatmap_codec: HeatmapCodec,
        simcc_codec: SimCCCodec | None = None,
        num_frames: int = 5,
        train: bool = False,
        augment: AugmentConfig | None = None,
        enlarge: float = 1.25,
        seed: int = 0,
    ) -> None:
        if num_frames not in (1, 5):
            raise ValueError(f"num_frames must be 1 or 5, got {num_frames}")
        self.samples = list(samples)
        self.input_size = (int(input_size[0]), int(input_size[1]))
        self.aspect_ratio = self.input_size[1] / self.input_size[0]
        self.heatmap_codec = heatmap_codec
        self.simcc_codec = simcc_codec
        self.num_frames = num_frames
        self.train = train
        self.augment = augment or AugmentConfig()
        self.enlarge = enlarge
        self.seed = seed
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Select the augmentation draws of ``epoch`` (call before iterating a new epoch)."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.samples)

    def clip_paths(self, index: int) -> list[Path]:
        """Frame files of item ``index`` in model order."""
        frame = self.samples[index].frame
        if self.num_frames == 1:
            return [frame.image_path]
        numbers = supporting_frames(frame.frame_number, frame.first_number, frame.nframes)
        return [frame.neighbour_path(n) for n in numbers]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        sample = self.samples[index]
        rng = np.random.default_rng([self.seed, self.epoch, index]) if self.train else None
        params = draw_crop(sample.box, sample.keypoints, rng, self.aspect_ratio, self.augment, self.enlarge)
        # Decode each distinct file once: boundary clips repeat the key frame.
        cache: dict[Path, np.ndarray] = {}
        images = []
        for path in self.clip_paths(index):
            if path not in cache:
                cache[path] = read_frame(path)
            images.append(cache[path])
        frames = crop_frames(images, params, self.input_size)
        keypoints = crop_keypoints(sample.keypoints, params, self.input_size)
        heatmaps, weight = self.heatmap_codec.encode(keypoints[:, :2], keypoints[:, 2])
        item = {
            "frames": torch.from_numpy(frames),
            "heatmaps": torch.from_numpy(heatmaps),
            "target_weight": torch.from_numpy(weight),
            "center": torch.from_numpy(params.center),
            "scale": torch.from_numpy(params.scale),
            "score": torch.tensor(sample.score, dtype=torch.float32),
            "index": torch.tensor(index),
        }
        if self.simcc_codec is not None:
            target_x, target_y, _ = self.simcc_codec.encode(keypoints[:, :2], keypoints[:, 2])
            item["simcc_x"] = torch.from_numpy(target_x)
            item["simcc_y"] = torch.from_numpy(target_y)
        return item
