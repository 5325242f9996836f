"""The ``write_case`` fixture: small PoseTrack cases written into ``tmp_path`` in the real formats."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from posecli.evaluation.synthetic import SynthFrame, write_sequence

Writer = Callable[..., tuple[Path, Path]]


@pytest.fixture
def write_case(tmp_path: Path) -> Writer:
    """``write_case(gt={seq: frames}, pred={seq: frames}, gt_fmt="2018", pred_fmt="2018")``.

    Returns the (pred, gt) folders.
    """
    counter = iter(range(1000))

    def write(
        gt: dict[str, list[SynthFrame]],
        pred: dict[str, list[SynthFrame]],
        gt_fmt: str = "2018",
        pred_fmt: str = "2018",
    ) -> tuple[Path, Path]:
        root = tmp_path / f"case{next(counter)}"
        for name, frames in gt.items():
            write_sequence(root / "gt" / f"{name}.json", name, frames, gt=True, fmt=gt_fmt)
        for name, frames in pred.items():
            write_sequence(root / "pred" / f"{name}.json", name, frames, gt=False, fmt=pred_fmt)
        (root / "pred").mkdir(parents=True, exist_ok=True)
        return root / "pred", root / "gt"

    return write
