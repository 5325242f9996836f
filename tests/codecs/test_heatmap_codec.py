"""Round trips and reference rules of the Gaussian heatmap codec."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from posecli.codecs.heatmap import HeatmapCodec


def _codec() -> HeatmapCodec:
    return HeatmapCodec(input_size=(384, 288), heatmap_size=(96, 72), sigma=3.0)


def test_encode_peak_and_window() -> None:
    codec = _codec()
    kps = np.array([[100.0, 200.0], [3.0, 5.0]])
    hm, w = codec.encode(kps, np.array([1, 1]))
    assert hm.shape == (2, 96, 72) and hm.dtype == np.float32
    assert w.tolist() == [1.0, 1.0]
    # mu = int(coord / 4 + 0.5): 100/4 = 25, 200/4 = 50
    assert hm[0, 50, 25] == pytest.approx(1.0)
    assert hm[0, 50, 26] == pytest.approx(np.exp(-1 / 18), rel=1e-6)
    # window is (6σ+1)² = 19×19 around the centre, zero beyond it
    assert np.count_nonzero(hm[0]) == 19 * 19
    assert hm[0, 50, 25 + 10] == 0.0
    # clipped at the border: mu = (1, 1)
    assert hm[1, 1, 1] == pytest.approx(1.0)
    assert np.count_nonzero(hm[1]) == 11 * 11


def test_encode_invisible_and_outside() -> None:
    codec = _codec()
    kps = np.array([[100.0, 200.0], [-200.0, 10.0], [400.0, 10.0], [np.nan, 1.0]])
    hm, w = codec.encode(kps, np.array([0, 1, 1, 1]))
    assert w.tolist() == [0.0, 0.0, 0.0, 0.0]
    assert not hm.any()
    # a joint just outside whose window still reaches inside keeps its weight
    hm, w = codec.encode(np.array([[-10.0, 100.0]]), np.array([1]))
    assert w[0] == 1.0 and hm.max() > 0


@pytest.mark.parametrize("method", ["argmax", "dark"])
def test_round_trip(method: str) -> None:
    codec = _codec()
    rng = np.random.default_rng(0)
    kps = rng.uniform([20, 20], [268, 364], size=(17, 2))
    hm, _ = codec.encode(kps, np.ones(17))
    coords, scores = codec.decode(torch.from_numpy(hm)[None], method=method)
    assert coords.shape == (1, 17, 2) and scores.shape == (1, 17)
    # encoding snaps to the 4-pixel grid, so the round trip is exact to within half a stride
    assert np.abs(coords[0] - kps).max() <= 2.0 + 1e-4
    np.testing.assert_allclose(scores, 1.0, rtol=1e-6)


def test_quarter_offset_direction() -> None:
    codec = HeatmapCodec((16, 16), (16, 16), sigma=1.0)
    hm = np.zeros((1, 1, 16, 16), dtype=np.float32)
    hm[0, 0, 8, 8] = 1.0
    hm[0, 0, 8, 9] = 0.5  # right neighbour higher than the left → +0.25 in x
    hm[0, 0, 7, 8] = 0.5  # upper neighbour higher → -0.25 in y
    coords, scores = codec.decode(hm)
    np.testing.assert_allclose(coords[0, 0], [8.25, 7.75])
    assert scores[0, 0] == 1.0


def test_dark_recovers_subpixel_gaussian() -> None:
    codec = HeatmapCodec((64, 64), (64, 64), sigma=2.0)
    ys, xs = np.mgrid[0:64, 0:64]
    true = np.array([30.3, 21.7])
    hm = np.exp(-((xs - true[0]) ** 2 + (ys - true[1]) ** 2) / (2 * 2.0**2)).astype(np.float32)
    coords, _ = codec.decode(hm[None, None], method="dark")
    assert np.abs(coords[0, 0] - true).max() < 0.1
    coords_argmax, _ = codec.decode(hm[None, None], method="argmax")
    assert np.abs(coords_argmax[0, 0] - true).max() <= 0.3


def test_decode_nonpositive_and_errors() -> None:
    codec = _codec()
    coords, scores = codec.decode(-np.ones((2, 3, 96, 72), dtype=np.float32))
    assert (coords == 0).all() and (scores == -1).all()
    with pytest.raises(ValueError):
        codec.decode(np.zeros((3, 96, 72)))
    with pytest.raises(ValueError):
        codec.decode(np.zeros((1, 1, 96, 72)), method="soft")
    with pytest.raises(ValueError):
        codec.encode(np.zeros((3, 2)), np.ones(2))
