"""The tracker protocol: the people of one frame in, for each person kept its input row and track id out."""

from __future__ import annotations

from typing import ClassVar, Protocol, runtime_checkable

import numpy as np

from posecli.structures import PoseInstance


@runtime_checkable
class Tracker(Protocol):
    """Gives each person a ``track_id`` that stays the same across frames.

    ``assign`` is called once per frame, in frame order, with every person of that frame (possibly
    none). Reads ``PoseInstance.box`` ``(4,)`` xyxy, ``score`` and, when its scores are > 0,
    ``keypoints`` ``(K, 3)``. Returns ``(row, track_id)`` for each person it keeps, ``row`` the index of
    that person in ``instances``, in input order (ids are non-negative ints, never reused within one
    video). ``update`` gives the same as the kept instances with ``track_id`` set. ``reset`` forgets all
    tracks (call it between videos).

    Capabilities are declared, not probed: ``predicts_boxes`` says that ``predict`` gives each live
    track's box for the next frame (what ``estimate --det-every`` carries people on).
    """

    predicts_boxes: ClassVar[bool]

    def assign(self, instances: list[PoseInstance]) -> list[tuple[int, int]]: ...

    def update(self, instances: list[PoseInstance]) -> list[PoseInstance]: ...

    def predict(self) -> list[tuple[int, np.ndarray]]: ...

    def reset(self) -> None: ...


class BaseTracker:
    """What every ``Tracker`` shares: ``update`` made from ``assign``, and no box prediction unless a
    tracker declares it. A plain class (not the protocol itself), so trackers pickle into progress files."""

    predicts_boxes: ClassVar[bool] = False

    def assign(self, instances: list[PoseInstance]) -> list[tuple[int, int]]:
        raise NotImplementedError

    def update(self, instances: list[PoseInstance]) -> list[PoseInstance]:
        """The instances ``assign`` keeps, each with its ``track_id`` set, in input order."""
        return [instances[row].with_track_id(track_id) for row, track_id in self.assign(instances)]

    def predict(self) -> list[tuple[int, np.ndarray]]:
        """``[(track_id, box (4,) xyxy)]`` for the next frame; only where ``predicts_boxes``."""
        raise NotImplementedError(f"{type(self).__name__} does not predict boxes")
