"""The evaluator protocol shared by PoseTrack AP/MOTA and COCO OKS evaluation."""

from __future__ import annotations

from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Evaluator(Protocol):
    """Accumulates predictions, then scores them against ground truth it was built with.

    ``reset()`` forgets every prediction. ``process(...)`` adds the predictions of one unit (for the
    PoseTrack evaluators: one sequence, given as its image names and ``FrameResult``s whose
    ``PoseInstance.keypoints`` are ``(17, 3)`` ``x, y, score`` in the PoseTrack slot layout and whose
    ``track_id`` is set). ``evaluate()`` returns flat metrics such as ``{"ap/total": 71.3}``, NaN where
    a metric is undefined; it does not reset.
    """

    def reset(self) -> None: ...

    def process(self, *args: Any, **kwargs: Any) -> None: ...

    def evaluate(self) -> dict[str, float]: ...
