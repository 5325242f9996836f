"""Sliding temporal windows over a stream: each key frame with its supporting frames t−r … t+r.

The boundary rule is the reference one of FAMI-Pose / DCPose (``models.md`` §7, radius 2): with ``p``
frames before the key frame ``t`` and ``n`` after it, the previous slots are
``p ≥ 2 → (t−2, t−1)``, ``p = 1 → (t−1, t)``, ``p = 0 → (t, t)`` and the next slots are
``n ≥ 2 → (t+1, t+2)``, ``n = 1 → (t+1, t+1)``, ``n = 0 → (t, t)``.

For another radius ``r`` the same rule is applied per side: the previous slots take the available
offsets ``min(p, r), …, 1`` in that order and are padded with the key frame itself; the next slots
take ``1, …, min(n, r)`` and are padded by repeating the last of them (the key frame if ``n = 0``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from typing import TypeVar

T = TypeVar("T")


def window_offsets(before: int, after: int, radius: int = 2) -> list[int]:
    """Frame offsets (relative to the key frame) filling the ``2 * radius + 1`` slots, in slot order.

    ``before``/``after``: how many frames exist before/after the key frame.
    Example (radius 2): ``window_offsets(1, 5) == [-1, 0, 0, 1, 2]``.
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    previous = [-d for d in range(min(before, radius), 0, -1)]
    previous += [0] * (radius - len(previous))  # missing earlier frames: the key frame stands in
    following = list(range(1, min(after, radius) + 1))
    following += [following[-1] if following else 0] * (radius - len(following))  # repeat the last
    return previous + [0] + following


def temporal_windows(items: Iterable[T], radius: int = 2) -> Iterator[tuple[int, list[T]]]:
    """Stream ``(key index, [item t−r, …, item t, …, item t+r])`` for every item, in order.

    ``items`` is consumed lazily: the window of key ``t`` is yielded as soon as item ``t + r`` has
    arrived (or the stream has ended), and at most ``2 * radius + 1`` items are held at any time, so a
    video's frames can be streamed through. Slots follow the boundary rule of the module docstring;
    ``radius = 0`` yields single-item windows.
    """
    if radius < 0:
        raise ValueError(f"radius must be >= 0, got {radius}")
    size = 2 * radius + 1
    buffer: deque[T] = deque(maxlen=size)  # items first_index … first_index + len - 1
    first_index = 0
    count = 0
    for item in items:
        if len(buffer) == size:
            first_index += 1  # the append below drops the oldest item, no longer needed by any key
        buffer.append(item)
        count += 1
        key = count - 1 - radius
        if key >= 0:
            yield key, _window(buffer, first_index, key, count, radius)
    # The stream ended: the last ``radius`` keys have fewer than ``radius`` frames after them.
    for key in range(max(count - radius, 0), count):
        yield key, _window(buffer, first_index, key, count, radius)


def _window(buffer: deque[T], first_index: int, key: int, count: int, radius: int) -> list[T]:
    """The items of key ``key`` (stream length so far ``count``), taken from ``buffer``."""
    offsets = window_offsets(key, count - 1 - key, radius)
    return [buffer[key + offset - first_index] for offset in offsets]
