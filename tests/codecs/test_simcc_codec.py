"""Round trips and label rules of the SimCC codec."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from posecli.codecs.simcc import SimCCCodec


def test_encode_shapes_and_label() -> None:
    codec = SimCCCodec((384, 288), split_ratio=1.5, sigma=4.0)
    tx, ty, w = codec.encode(np.array([[100.0, 200.0]]), np.array([1]))
    assert tx.shape == (1, 432) and ty.shape == (1, 576) and w.tolist() == [1.0]
    # μ = coord·k unrounded: 150 and 300; peak 1/(σ√(2π))
    assert tx[0].argmax() == 150 and ty[0].argmax() == 300
    assert tx[0, 150] == pytest.approx(1 / (4 * math.sqrt(2 * math.pi)), rel=1e-6)
    assert tx[0, 154] == pytest.approx(np.exp(-0.5) / (4 * math.sqrt(2 * math.pi)), rel=1e-6)
    assert tx[0].sum() == pytest.approx(1.0, rel=1e-3)


def test_encode_weights() -> None:
    codec = SimCCCodec((256, 192), split_ratio=2.0, sigma=6.0)
    kps = np.array([[10.0, 10.0], [-100.0, 10.0], [10.0, 400.0], [-5.0, 10.0]])
    tx, ty, w = codec.encode(kps, np.array([0, 1, 1, 1]))
    assert w.tolist() == [0.0, 0.0, 0.0, 1.0]
    assert not tx[:3].any() and not ty[:3].any()


def test_round_trip() -> None:
    codec = SimCCCodec((256, 192), split_ratio=2.0, sigma=6.0)
    rng = np.random.default_rng(1)
    kps = rng.uniform([0, 0], [191, 255], size=(17, 2))
    tx, ty, _ = codec.encode(kps, np.ones(17))
    # labels as logits: the log of a Gaussian keeps its argmax
    coords, scores = codec.decode(torch.from_numpy(np.log(tx + 1e-12))[None], np.log(ty + 1e-12)[None])
    assert coords.shape == (1, 17, 2) and scores.shape == (1, 17)
    assert np.abs(coords[0] - kps).max() <= 0.25 + 1e-6  # half a bin at k = 2
    assert ((scores > 0) & (scores <= 1)).all()


def test_decode_score_is_min_of_axes() -> None:
    codec = SimCCCodec((4, 4), split_ratio=1.0, sigma=1.0)
    x = np.array([[[10.0, 0, 0, 0]]])
    y = np.array([[[0.0, 1.0, 0, 0]]])
    coords, scores = codec.decode(x, y)
    np.testing.assert_allclose(coords[0, 0], [0.0, 1.0])
    expect_y = np.exp(1) / (np.exp(1) + 3)
    assert scores[0, 0] == pytest.approx(expect_y, rel=1e-6)
    with pytest.raises(ValueError):
        codec.decode(np.zeros((1, 2, 4)), np.zeros((1, 3, 4)))
