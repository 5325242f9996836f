"""Shared helpers for the model tests: tiny sizes that keep every model fast on two CPU cores."""

from __future__ import annotations

import pytest
import torch

TINY = {"width": 8, "input_size": (64, 64)}


@pytest.fixture
def tiny() -> dict:
    """Overrides for a tiny model: width 8, 64×64 crops (16×16 heatmaps)."""
    return dict(TINY)


@pytest.fixture
def relclose():
    """The ``assert_relclose`` helper as a fixture."""
    return assert_relclose


def assert_relclose(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-5) -> None:
    """``a`` equals ``b`` relative to ``a``'s scale (the reference init makes outputs ~1e-6), and is not 0."""
    scale = a.abs().max()
    assert scale > 0, "comparison of all-zero tensors proves nothing"
    assert (a - b).abs().max() <= rel * scale, f"max diff {(a - b).abs().max():.3e} vs scale {scale:.3e}"


@pytest.fixture(autouse=True)
def _seed_and_threads() -> None:
    torch.manual_seed(0)
    # one intra-op thread: small convs gain nothing from two, and on a loaded 2-core machine the
    # thread pool's spin-waiting makes them ~15× slower
    torch.set_num_threads(1)
