"""Loss tests run single-threaded (tiny tensors; avoids thread-pool stalls on a busy 2-core machine)."""

from __future__ import annotations

import pytest


@pytest.fixture(autouse=True)
def _seed_and_threads(seeded_torch: None) -> None:
    """Every loss test runs with ``seeded_torch`` (tests/conftest.py)."""
