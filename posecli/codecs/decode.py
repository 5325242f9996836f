"""Network outputs → frame-space poses: the one decode step shared by the pipeline and validation.

A pose network sees a crop (``input_size``, HRNet's unbiased affine around a centre and a
``scale = crop size / 200``) and outputs heatmaps or SimCC x/y logits in crop coordinates. This
module decodes them with the model's codec, maps the joints back through the crop's inverse affine
into frame pixels and multiplies each joint's confidence by its box score (the reference
``maxvals × box score`` that poseval ranks by).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import torch

from posecli.codecs.heatmap import HeatmapCodec
from posecli.codecs.simcc import SimCCCodec

if TYPE_CHECKING:
    from posecli.models.config import ModelConfig


def decode_poses(
    config: ModelConfig,
    centers: np.ndarray,
    scales: np.ndarray,
    box_scores: np.ndarray,
    heatmaps: torch.Tensor | np.ndarray | None = None,
    simcc_x: torch.Tensor | np.ndarray | None = None,
    simcc_y: torch.Tensor | np.ndarray | None = None,
    method: str | None = None,
) -> np.ndarray:
    """Frame-space keypoints ``(N, K, 3)`` float64: ``x, y`` in frame pixels, ``score`` = joint
    confidence × box score.

    config: the model's resolved ``ModelConfig`` (``input_size``, ``heatmap_size``, ``head``,
    ``simcc_split_ratio`` and ``decode`` are read).
    centers, scales: ``(N, 2)`` per-crop centre (frame pixels) and scale (crop size / 200), as
    ``data.transforms.box_to_center_scale`` gives them; used with their own dtype.
    box_scores: ``(N,)``; the product with the ``(N, K)`` float32 joint confidences is taken in
    numpy's promoted dtype (a float32 array keeps it float32, a float64 array widens it).
    heatmaps: ``(N, K, h, w)``; simcc_x ``(N, K, W·k)`` and simcc_y ``(N, K, H·k)``: logits. A SimCC
    model decodes its SimCC vectors when both are given, otherwise the heatmaps are decoded.
    method: heatmap decoding, ``"argmax"`` or ``"dark"``; None → ``config.decode``.
    """
    if config.head == "simcc" and simcc_x is not None and simcc_y is not None:
        assert config.simcc_split_ratio is not None, "decode_poses needs a resolved ModelConfig"
        codec = SimCCCodec(config.input_size, config.simcc_split_ratio, config.simcc_sigma)
        coords, scores = codec.decode(simcc_x, simcc_y)  # (N, K, 2), (N, K) in crop pixels
    else:
        if heatmaps is None:
            raise ValueError("decode_poses needs heatmaps (or SimCC x/y logits for a SimCC model)")
        assert config.heatmap_size is not None, "decode_poses needs a resolved ModelConfig"
        chosen = method if method is not None else config.decode
        assert chosen is not None, "decode_poses needs a resolved ModelConfig or a method"
        codec_hm = HeatmapCodec(config.input_size, tuple(config.heatmap_size))  # type: ignore[arg-type]
        coords, scores = codec_hm.decode(heatmaps, method=chosen)
    from posecli.data.transforms import crop_to_frame

    frame_xy = crop_to_frame(coords, centers, scales, config.input_size)  # (N, K, 2) float64
    joint_scores = scores * np.asarray(box_scores)[:, None]  # (N, K)
    return np.concatenate([frame_xy, joint_scores[:, :, None]], axis=2)
