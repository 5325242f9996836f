"""The bytes of every PoseTrack file posecli writes, pinned: ``posecli estimate``'s files, both
synthetic generators' files in every layout and format.

All of them go through ``posecli.export.posetrack``'s one writer. The digests were recorded before
the generators were moved onto it, so a refactor that changes a key order, a separator or a
rounding fails here. Only JSON is pinned (JPEG bytes depend on the OpenCV build); the generators are
pure functions of their seeds (numpy's PCG64 streams are stable across versions).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from posecli.data.synthetic import write_synthetic_dataset
from posecli.evaluation.synthetic import random_sequence, write_sequence
from posecli.export.posetrack import write_posetrack_json
from posecli.structures import FrameResult
from posecli.video import VideoInfo


def _digest(root: Path) -> str:
    """SHA-256 over the sorted lines ``"<relative path> <sha256>"`` of the JSON files under ``root``."""
    lines = [
        f"{p.relative_to(root).as_posix()} {hashlib.sha256(p.read_bytes()).hexdigest()}"
        for p in sorted(root.rglob("*.json"))
    ]
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


@pytest.mark.parametrize(
    ("layout", "expected"),
    [
        ("posetrack17", "f96a3000caa6e31ab13fa2d24a4a995736479074e38afc4e3d91289725cc1a6b"),
        ("posetrack18", "41161d2bbecf14351623b14b95c0cedb3aed814ef81b8e9085c681d70db0824d"),
        ("posetrack21", "6a21c70fb90d9fb3ae30ccb152c0e17fc5028199aedcee2897252d17b8c21794"),
    ],
)
def test_synthetic_dataset_json_bytes(tmp_path: Path, layout: str, expected: str) -> None:
    root = tmp_path / layout
    write_synthetic_dataset(
        root,
        videos=2,
        frames=5,
        people=2,
        seed=7,
        size=(96, 64),
        val_videos=1,
        layout=layout,  # type: ignore[arg-type]
    )
    assert _digest(root) == expected


def test_evaluation_synthetic_file_bytes(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    for i in range(2):
        gt, pred = random_sequence(rng, 6, 3, labeled_every=2)
        name = f"00000{i}_mpii_test"
        for fmt in ("2018", "2017"):
            for role, frames in (("gt", gt), ("pred", pred)):
                path = tmp_path / fmt / role / f"{name}.json"
                write_sequence(path, name, frames, gt=role == "gt", fmt=fmt)
    assert _digest(tmp_path) == "4e93d2cc8b2914b7fd88a1cee4f2950c0da157e459d6a09142598b0e48f61b13"


@pytest.mark.parametrize(
    ("video_name", "expected"),
    [
        ("000342_mpii_test", "7fda747971f8b2d5e8176c67d23ba7630113907632afb0a27f454e0f6e65e1dc"),
        ("clip", "992b2475d5cca54b8978839d472787336b6e738ae706e8a7db621fb3de724d5f"),
    ],
)
def test_estimate_file_bytes(
    tmp_path: Path, make_person: Callable[..., object], video_name: str, expected: str
) -> None:
    rng = np.random.default_rng(0)
    results = [
        FrameResult(
            frame_index=i,
            timestamp=i / 25.0,
            instances=tuple(make_person(rng, track_id=k if k else None) for k in range(2)),  # type: ignore[misc]
        )
        for i in (0, 1, 3)
    ]
    info = VideoInfo(
        path=Path("clip.mp4"), fps=25.0, num_frames=6, width=320, height=240, rotation=0, backend="pyav"
    )
    path = tmp_path / f"{video_name}.json"
    write_posetrack_json(path, results, info, video_name)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == expected
