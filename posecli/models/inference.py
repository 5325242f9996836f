"""The flip test of video inference (spec §9): network outputs of mirrored crops turned back and averaged.

The streaming model stage of ``estimate`` (windows, feature cache, ``reuse`` and ``exact`` clips) is
``posecli.runner``; training validation calls ``average_with_flipped`` on whole clips.
"""

from __future__ import annotations

from torch import Tensor

from posecli.keypoints import FLIP_PAIRS
from posecli.models.pose_model import PoseOutput


def swap_flip_pairs(values: Tensor) -> Tensor:
    """Swap the left/right joints (``keypoints.FLIP_PAIRS``) along dim 1 of ``(B, K, ...)``."""
    order = list(range(values.shape[1]))
    for a, b in FLIP_PAIRS:
        order[a], order[b] = b, a
    return values[:, order]


def unflip_heatmaps(heatmaps: Tensor) -> Tensor:
    """Heatmaps ``(B, K, h, w)`` of horizontally flipped crops back to the original orientation: mirror,
    swap left/right joints, and shift one pixel right as the reference flip test does (``SHIFT_HEATMAP``)."""
    back = swap_flip_pairs(heatmaps.flip(-1))
    shifted = back.clone()
    shifted[..., 1:] = back[..., :-1]
    return shifted


def average_with_flipped(output: PoseOutput, flipped: PoseOutput) -> PoseOutput:
    """The flip test (spec §9): the mean of ``output`` and the unflipped ``flipped`` output.

    Heatmaps as ``unflip_heatmaps``; SimCC logits: the x vector mirrored, joints swapped (y only
    swapped), then averaged, as the official SimCC flip test does for Gaussian labels.
    """
    heatmaps = (output.heatmaps.float() + unflip_heatmaps(flipped.heatmaps.float())) / 2
    simcc_x = simcc_y = None
    if output.simcc_x is not None and output.simcc_y is not None:
        assert flipped.simcc_x is not None and flipped.simcc_y is not None
        simcc_x = (output.simcc_x.float() + swap_flip_pairs(flipped.simcc_x.float().flip(-1))) / 2
        simcc_y = (output.simcc_y.float() + swap_flip_pairs(flipped.simcc_y.float())) / 2
    return PoseOutput(heatmaps, simcc_x, simcc_y, output.backbone_heatmaps)
