"""decode_poses: network outputs on crops → frame-space joints × box score."""

from __future__ import annotations

import numpy as np
import pytest

from posecli.codecs.decode import decode_poses
from posecli.codecs.simcc import SimCCCodec
from posecli.data.transforms import affine_matrix, apply_affine, box_to_center_scale
from posecli.models.config import ModelConfig

INPUT = (128, 96)  # crop (H, W)


def _people(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Frame joints ``(n, K, 2)`` inside random boxes, and their crops' centres, scales and crop joints."""
    centers, scales, frame_xy, crop_xy = [], [], [], []
    for _ in range(n):
        x, y = rng.uniform(0, 400, 2)
        w, h = rng.uniform(60, 200, 2)
        center, scale = box_to_center_scale(np.array([x, y, w, h]), INPUT[1] / INPUT[0])
        joints = np.stack(
            [rng.uniform(x + 0.2 * w, x + 0.8 * w, 17), rng.uniform(y + 0.2 * h, y + 0.8 * h, 17)], -1
        )
        centers.append(center)
        scales.append(scale)
        frame_xy.append(joints)
        crop_xy.append(apply_affine(joints, affine_matrix(center, scale, 0.0, INPUT)))
    return np.stack(centers), np.stack(scales), np.stack(frame_xy), np.stack(crop_xy)


@pytest.mark.parametrize("arch", ["hrnet", "tdmi"])
def test_heatmaps_map_back_to_frame_pixels(arch: str) -> None:
    rng = np.random.default_rng(3)
    config = ModelConfig(arch=arch, width=8, input_size=INPUT).resolved()
    centers, scales, frame_xy, crop_xy = _people(rng, 3)
    # Gaussians centred off the heatmap grid (the codec's encoder snaps to it), where DARK and
    # argmax + ¼ px give different answers
    h, w = config.heatmap_size  # type: ignore[misc]
    mu = crop_xy / 4.0  # (3, 17, 2) heatmap pixels (stride 4)
    ys, xs = np.mgrid[0:h, 0:w]
    d2 = (xs - mu[..., 0, None, None]) ** 2 + (ys - mu[..., 1, None, None]) ** 2
    heatmaps = np.exp(-d2 / (2 * 2.0**2)).astype(np.float32)  # (3, 17, h, w)
    box_scores = np.array([0.9, 0.5, 0.25], dtype=np.float32)
    poses = decode_poses(config, centers, scales, box_scores, heatmaps=heatmaps)
    assert poses.shape == (3, 17, 3) and poses.dtype == np.float64
    # one heatmap pixel is 4 crop pixels; a crop pixel is scale·200 / crop width frame pixels
    frame_per_heatmap_px = 4 * scales[:, 0] * 200 / INPUT[1]
    error = np.abs(poses[:, :, :2] - frame_xy).max(axis=(1, 2))
    assert (error <= frame_per_heatmap_px).all()
    # each peak is about 1 (the grid is within a pixel of the centre), so a joint's score is about its box score
    np.testing.assert_allclose(poses[:, :, 2], np.broadcast_to(box_scores[:, None], (3, 17)), rtol=0.12)
    # the decode method comes from the model config: dark for TDMI, argmax otherwise
    expected = "dark" if arch == "tdmi" else "argmax"
    other = "argmax" if arch == "tdmi" else "dark"
    same = decode_poses(config, centers, scales, box_scores, heatmaps=heatmaps, method=expected)
    changed = decode_poses(config, centers, scales, box_scores, heatmaps=heatmaps, method=other)
    np.testing.assert_array_equal(poses, same)
    assert not np.array_equal(poses[:, :, :2], changed[:, :, :2])


def test_simcc_logits_map_back_to_frame_pixels() -> None:
    rng = np.random.default_rng(5)
    config = ModelConfig(arch="hrnet", width=8, input_size=INPUT, head="simcc").resolved()
    centers, scales, frame_xy, crop_xy = _people(rng, 2)
    codec = SimCCCodec(INPUT, config.simcc_split_ratio, config.simcc_sigma)  # type: ignore[arg-type]
    targets = [codec.encode(c, np.ones(17)) for c in crop_xy]
    logits_x = np.log(np.stack([t[0] for t in targets]) + 1e-12)  # softmax(log p) = p
    logits_y = np.log(np.stack([t[1] for t in targets]) + 1e-12)
    poses = decode_poses(config, centers, scales, np.ones(2), simcc_x=logits_x, simcc_y=logits_y)
    # one bin is 1/k crop pixels; a crop pixel is scale·200 / crop width frame pixels
    frame_per_bin = scales[:, 0] * 200 / INPUT[1] / config.simcc_split_ratio  # type: ignore[operator]
    error = np.abs(poses[:, :, :2] - frame_xy).max(axis=(1, 2))
    assert (error <= frame_per_bin).all()


def test_heatmaps_required_without_simcc() -> None:
    config = ModelConfig(arch="hrnet", width=8, input_size=INPUT).resolved()
    with pytest.raises(ValueError, match="heatmaps"):
        decode_poses(config, np.zeros((1, 2)), np.ones((1, 2)), np.ones(1))
