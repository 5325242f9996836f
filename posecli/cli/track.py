"""``posecli track``."""

from __future__ import annotations

from posecli.cli.options import not_landed


def track() -> None:
    """(being written)"""
    not_landed("track", 2)
