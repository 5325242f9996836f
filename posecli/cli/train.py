"""``posecli train``: train FAMI-Pose, TDMI or HRNet on PoseTrack or synthetic data (issue #5)."""

from __future__ import annotations

from posecli.cli.options import not_landed


def train() -> None:
    """Train FAMI-Pose, TDMI or HRNet on PoseTrack or synthetic data."""
    not_landed("train", 5)
