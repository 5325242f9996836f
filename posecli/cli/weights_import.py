"""``posecli weights import``: convert a foreign checkpoint into a posecli checkpoint (issue #3)."""

from __future__ import annotations

from posecli.cli.options import not_landed


def import_weights() -> None:
    """Import an official HRNet, mmpose HRNet or reference FAMI-Pose/TDMI checkpoint."""
    not_landed("weights import", 3)
