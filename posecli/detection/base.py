"""The detector protocol: one RGB frame in, a list of person detections out."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import numpy as np

from posecli.structures import Detection


@runtime_checkable
class Detector(Protocol):
    """Finds people in one frame.

    Reads: ``frame`` ``(H, W, 3)`` uint8 RGB. Writes: ``Detection.box`` ``(4,)`` xyxy pixels,
    ``Detection.score`` in ``[0, 1]``, optionally ``Detection.landmarks``. Sorted by score, descending.
    """

    def __call__(self, frame: np.ndarray) -> list[Detection]: ...
