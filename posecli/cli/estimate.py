"""``posecli estimate``."""

from __future__ import annotations

from posecli.cli.options import not_landed


def estimate() -> None:
    """(being written)"""
    not_landed("estimate", 2)
