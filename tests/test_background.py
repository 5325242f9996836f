"""Decode-ahead and encode-behind threads: order, bounded memory, errors handed back, clean stops."""

from __future__ import annotations

import time

import pytest

from posecli.background import BackgroundCalls, Prefetcher


def test_prefetcher_keeps_order_and_stays_a_bounded_distance_ahead() -> None:
    produced: list[int] = []

    def source():
        for i in range(20):
            produced.append(i)
            yield i

    seen = []
    with Prefetcher(source(), depth=3) as items:
        for item in items:
            time.sleep(0.01)  # a slow consumer: the producer must wait, not run away
            # the producer is at most depth (queued) + 1 (in hand) items ahead of the consumer
            assert len(produced) - (item + 1) <= 4
            seen.append(item)
    assert seen == list(range(20))


def test_prefetcher_hands_the_sources_error_to_the_consumer() -> None:
    def source():
        yield 1
        raise ValueError("corrupt frame")

    with Prefetcher(source(), depth=2) as items, pytest.raises(ValueError, match="corrupt frame"):
        list(items)


def test_prefetcher_stops_its_thread_when_the_consumer_leaves_early() -> None:
    def endless():
        i = 0
        while True:
            yield i
            i += 1

    prefetcher = Prefetcher(endless(), depth=2)
    with prefetcher as items:
        for item in items:
            if item == 5:
                break
    assert not prefetcher._thread.is_alive()


def test_background_calls_run_in_order_and_close_waits_for_them() -> None:
    done: list[int] = []

    def slow_append(value: int) -> None:
        time.sleep(0.005)
        done.append(value)

    calls = BackgroundCalls(slow_append, depth=2)
    for i in range(10):
        calls.put(i)
    calls.close()
    assert done == list(range(10))


def test_background_calls_report_a_failure_and_skip_the_rest() -> None:
    done: list[int] = []

    def write(value: int) -> None:
        if value == 3:
            raise OSError("disk full")
        done.append(value)

    calls = BackgroundCalls(write, depth=1)
    with pytest.raises(OSError, match="disk full"):
        for i in range(50):
            calls.put(i)
            time.sleep(0.002)
        calls.close()
    assert done == [0, 1, 2]
    with pytest.raises(RuntimeError):
        calls.close()
        calls.put(99)
