"""The detector protocol: one RGB frame in, a list of person detections out."""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from posecli.structures import Detection


@runtime_checkable
class Detector(Protocol):
    """Finds people in one frame.

    Reads: ``frame`` ``(H, W, 3)`` uint8 RGB. Writes: ``Detection.box`` ``(4,)`` xyxy pixels,
    ``Detection.score`` in ``[0, 1]``, optionally ``Detection.landmarks``. Sorted by score, descending.

    Capabilities are declared, not probed: ``seeks_frames`` says that the detector looks frames up by
    index (a box file), so a caller that skips or resumes frames calls ``seek(index)`` before a frame.
    """

    seeks_frames: ClassVar[bool]

    def __call__(self, frame: np.ndarray) -> list[Detection]: ...

    def seek(self, frame_index: int) -> None: ...


class BaseDetector:
    """What every ``Detector`` shares: no look-up by frame index unless a detector declares it."""

    seeks_frames: ClassVar[bool] = False

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        raise NotImplementedError

    def seek(self, frame_index: int) -> None:
        """Make the next call return the people of frame ``frame_index``; only where ``seeks_frames``."""
        raise NotImplementedError(f"{type(self).__name__} does not look frames up by index")
