"""The reference's input layout (key frame + four supporting frames stacked on 12 channels) ↔ posecli's
``(B, 5, 3, H, W)`` clips, both directions (spec §2.2, §7: supporting channels t-2, t-1, t+1, t+2)."""

from __future__ import annotations

import pytest
import torch

from posecli.models import frames_from_reference, frames_to_reference

OFFSETS = (-2, -1, 0, 1, 2)  # time offset of each posecli frame slot


def _labelled(b: int = 2, h: int = 4, w: int = 3) -> torch.Tensor:
    """Clips whose every value encodes (sample, time offset, RGB channel): 100·b + 10·offset + channel."""
    frames = torch.empty(b, 5, 3, h, w)
    for i in range(b):
        for slot, offset in enumerate(OFFSETS):
            for ch in range(3):
                frames[i, slot, ch] = 100 * i + 10 * offset + ch
    return frames


def test_to_reference_follows_the_documented_order() -> None:
    frames = _labelled()
    key, support = frames_to_reference(frames)
    assert key.shape == (2, 3, 4, 3) and support.shape == (2, 12, 4, 3)
    for i in range(2):
        assert torch.equal(key[i, :, 0, 0], torch.tensor([100.0 * i + c for c in range(3)]))
        # channels 3k..3k+2 hold supporting frame k of t-2, t-1, t+1, t+2, each in R, G, B order
        expected = [100.0 * i + 10 * offset + c for offset in (-2, -1, 1, 2) for c in range(3)]
        assert torch.equal(support[i, :, 2, 1], torch.tensor(expected))


def test_from_reference_follows_the_documented_order() -> None:
    b, h, w = 2, 4, 3
    rgb = torch.arange(3.0).view(3, 1, 1)
    key = torch.stack([torch.full((3, h, w), 100.0 * i) + rgb for i in range(b)])
    support = torch.stack(
        [torch.cat([torch.full((3, h, w), 100.0 * i + 10 * o) + rgb for o in (-2, -1, 1, 2)]) for i in range(b)]
    )
    assert torch.equal(frames_from_reference(key, support), _labelled(b, h, w))


def test_round_trips() -> None:
    frames = torch.randn(3, 5, 3, 8, 6)
    key, support = frames_to_reference(frames)
    assert torch.equal(frames_from_reference(key, support), frames)
    key, support = torch.randn(3, 3, 8, 6), torch.randn(3, 12, 8, 6)
    back_key, back_support = frames_to_reference(frames_from_reference(key, support))
    assert torch.equal(back_key, key) and torch.equal(back_support, support)


def test_reference_layout_matches_the_references_own_split() -> None:
    """The reference splits sup_x by ``torch.chunk(sup_x, 4, dim=1)``: chunks are t-2, t-1, t+1, t+2."""
    frames = torch.randn(2, 5, 3, 8, 6)
    _, support = frames_to_reference(frames)
    for chunk, slot in zip(torch.chunk(support, 4, dim=1), (0, 1, 3, 4)):
        assert torch.equal(chunk, frames[:, slot])


@pytest.mark.parametrize(
    ("key", "support"),
    [((2, 3, 8, 6), (2, 10, 8, 6)), ((2, 3, 8, 6), (3, 12, 8, 6)), ((2, 1, 8, 6), (2, 12, 8, 6)),
     ((2, 3, 8, 6), (2, 12, 8, 5)), ((2, 3, 8, 6), (2, 9, 8, 6))],
)
def test_from_reference_rejects_bad_shapes(key: tuple, support: tuple) -> None:
    with pytest.raises(ValueError, match="expected"):
        frames_from_reference(torch.zeros(key), torch.zeros(support))


@pytest.mark.parametrize("shape", [(2, 4, 3, 8, 6), (2, 5, 1, 8, 6), (2, 1, 3, 8, 6), (5, 3, 8, 6)])
def test_to_reference_rejects_bad_shapes(shape: tuple) -> None:
    with pytest.raises(ValueError, match="expected frames"):
        frames_to_reference(torch.zeros(shape))
