"""``posecli eval``: official PoseTrack AP and MOTA (issue #4)."""

from __future__ import annotations

from posecli.cli.options import not_landed


def evaluate() -> None:
    """Score predictions against PoseTrack ground truth: per-joint AP (PCKh@0.5) and MOTA, as poseval."""
    not_landed("eval", 4)
