"""The tracker protocol: the people of one frame in, the same people with ``track_id`` set out."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from posecli.structures import PoseInstance


@runtime_checkable
class Tracker(Protocol):
    """Gives each person a ``track_id`` that stays the same across frames.

    ``update`` is called once per frame, in frame order, with every person of that frame (possibly
    none). Reads ``PoseInstance.box`` ``(4,)`` xyxy, ``score`` and, when its scores are > 0,
    ``keypoints`` ``(K, 3)``. Returns the instances it keeps, in input order, each with ``track_id``
    set (ids are non-negative ints, never reused within one video). ``reset`` forgets all tracks
    (call it between videos).
    """

    def update(self, instances: list[PoseInstance]) -> list[PoseInstance]: ...

    def reset(self) -> None: ...
