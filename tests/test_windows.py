"""Tests for posecli/windows.py: the reference boundary rule, streaming and bounded memory."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from posecli.windows import temporal_windows, window_offsets


def reference_window(t: int, nframes: int) -> list[int]:
    """models.md §7, radius 2, written out case by case as the spec states it."""
    p, n = t, nframes - t - 1
    if p >= 2:
        previous = [t - 2, t - 1]
    elif p == 1:
        previous = [t - 1, t]
    else:
        previous = [t, t]
    if n >= 2:
        following = [t + 1, t + 2]
    elif n == 1:
        following = [t + 1, t + 1]
    else:
        following = [t, t]
    return previous + [t] + following


@pytest.mark.parametrize("nframes", range(9))
def test_radius_2_matches_the_reference_rule(nframes: int) -> None:
    windows = list(temporal_windows(range(nframes)))
    assert [key for key, _ in windows] == list(range(nframes))
    for key, window in windows:
        assert window == reference_window(key, nframes), (key, nframes)


def test_spec_examples() -> None:
    assert window_offsets(0, 10) == [0, 0, 0, 1, 2]
    assert window_offsets(1, 10) == [-1, 0, 0, 1, 2]
    assert window_offsets(5, 1) == [-2, -1, 0, 1, 1]
    assert window_offsets(5, 0) == [-2, -1, 0, 0, 0]
    assert window_offsets(0, 0) == [0, 0, 0, 0, 0]


def test_other_radii() -> None:
    assert list(temporal_windows("abc", radius=0)) == [(0, ["a"]), (1, ["b"]), (2, ["c"])]
    assert list(temporal_windows("abc", radius=1)) == [
        (0, ["a", "a", "b"]),
        (1, ["a", "b", "c"]),
        (2, ["b", "c", "c"]),
    ]
    windows = dict(temporal_windows(range(10), radius=3))
    assert windows[0] == [0, 0, 0, 0, 1, 2, 3]
    assert windows[1] == [0, 1, 1, 1, 2, 3, 4]
    assert windows[5] == [2, 3, 4, 5, 6, 7, 8]
    assert windows[8] == [5, 6, 7, 8, 9, 9, 9]
    assert windows[9] == [6, 7, 8, 9, 9, 9, 9]
    with pytest.raises(ValueError, match="radius"):
        list(temporal_windows(range(3), radius=-1))


def test_windows_are_yielded_as_soon_as_the_look_ahead_arrived() -> None:
    pulled: list[int] = []

    def stream() -> Iterator[int]:
        for i in range(7):
            pulled.append(i)
            yield i

    for key, _ in temporal_windows(stream(), radius=2):
        # Key t needs t+2; only at the end of the stream may all items have been read.
        assert len(pulled) == min(key + 3, 7)


class Frame:
    """Stand-in for a decoded video frame (weak-referenceable)."""

    def __init__(self, index: int) -> None:
        self.index = index


def test_holds_at_most_2r_plus_1_items() -> None:
    refs: list[weakref.ref] = []

    def frames() -> Iterator[Frame]:
        for i in range(100):
            frame = Frame(i)
            refs.append(weakref.ref(frame))
            yield frame
            del frame

    most = 0
    for key, window in temporal_windows(frames(), radius=2):
        assert [f.index for f in window] == reference_window(key, 100)
        del window
        gc.collect(0)
        most = max(most, sum(r() is not None for r in refs))
    assert len(refs) == 100
    assert most <= 5
