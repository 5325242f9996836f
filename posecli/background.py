"""Work beside the model: decoding ahead of it and encoding behind it, each in one thread.

``estimate`` is a chain decode → detect → track → pose → draw/encode. Run in one thread, the model
waits for every frame to be decoded and every overlay frame to be encoded. PyAV (FFmpeg) and OpenCV
release the GIL while they work, so a decode thread that keeps a few frames ready and an encode thread
that takes finished frames let those stages run while the model computes
(``benchmarks/bench_estimate.py`` measures both ways side by side).

Both keep order, hold at most ``depth`` items (bounded memory), and hand an exception raised in the
thread back to the caller at its next call.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Iterable, Iterator
from types import TracebackType
from typing import Any, Generic, Self, TypeVar

T = TypeVar("T")

_END = object()


class Prefetcher(Generic[T]):
    """Iterate over ``source`` in a background thread, ``depth`` items ahead of the consumer.

    Use as a context manager: leaving the block stops the thread (also after an error or an early
    ``break``) before the caller closes what ``source`` reads from.
    """

    def __init__(self, source: Iterable[T], depth: int = 4) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self._source = source
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="posecli-prefetch", daemon=True)
        self._started = False

    def _put(self, item: Any) -> bool:
        """Queue ``item`` unless stopped; False once the consumer has gone."""
        while not self._stop.is_set():
            try:
                self._queue.put(item, timeout=0.05)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            for item in self._source:
                if not self._put(item):
                    return
            self._put(_END)
        except BaseException as error:  # noqa: BLE001 - handed to the consumer, who re-raises it
            self._put(_Failure(error))

    def __iter__(self) -> Iterator[T]:
        if not self._started:
            self._started = True
            self._thread.start()
        while True:
            item = self._queue.get()
            if item is _END:
                return
            if isinstance(item, _Failure):
                raise item.error
            yield item

    def close(self) -> None:
        """Stop the thread and wait for it (idempotent)."""
        self._stop.set()
        if self._started:
            while self._thread.is_alive():
                try:  # unblock a producer waiting on a full queue
                    self._queue.get_nowait()
                except queue.Empty:
                    self._thread.join(timeout=0.05)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


class BackgroundCalls:
    """Call ``function(*args)`` for every ``put(*args)``, in order, in one background thread.

    At most ``depth`` calls wait; ``put`` blocks when they are that many. ``close()`` waits for the
    calls queued so far; an exception raised by one of them is re-raised by the next ``put`` or by
    ``close`` (later calls are then skipped).
    """

    def __init__(self, function: Callable[..., Any], depth: int = 4) -> None:
        if depth < 1:
            raise ValueError(f"depth must be at least 1, got {depth}")
        self._function = function
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=depth)
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="posecli-background", daemon=True)
        self._thread.start()
        self._closed = False

    def _run(self) -> None:
        while True:
            args = self._queue.get()
            if args is _END:
                return
            if self._error is None:
                try:
                    self._function(*args)
                except BaseException as error:  # noqa: BLE001 - re-raised in the caller's thread
                    self._error = error

    def _raise(self) -> None:
        if self._error is not None:
            error, self._error = self._error, None
            raise error

    def put(self, *args: Any) -> None:
        """Queue one call (blocks while ``depth`` calls wait)."""
        if self._closed:
            raise RuntimeError("BackgroundCalls is closed")
        self._raise()
        self._queue.put(args)

    def close(self) -> None:
        """Wait for every queued call; re-raise the first failure."""
        if not self._closed:
            self._closed = True
            self._queue.put(_END)
            self._thread.join()
        self._raise()


class _Failure:
    def __init__(self, error: BaseException) -> None:
        self.error = error
