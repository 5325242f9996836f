"""Synthetic PoseTrack datasets in each layout, generated once per test session."""

from __future__ import annotations

from pathlib import Path

import pytest

from posecli.data.synthetic import write_synthetic_dataset


@pytest.fixture(scope="session")
def synthetic_roots(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``{layout: root}`` for posetrack17/18/21: 2 train + 1 val videos, 6 frames, 2 people, 160x128."""
    roots = {}
    for layout in ("posetrack17", "posetrack18", "posetrack21"):
        root = tmp_path_factory.mktemp(layout)
        write_synthetic_dataset(
            root, videos=2, frames=6, people=2, seed=7, size=(160, 128), val_videos=1, layout=layout
        )
        roots[layout] = root
    return roots
