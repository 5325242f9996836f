"""``posecli detect``."""

from __future__ import annotations

from posecli.cli.options import not_landed


def detect() -> None:
    """(being written)"""
    not_landed("detect", 2)
