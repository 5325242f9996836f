"""Writing videos: ``VideoWriter`` encodes RGB frames to an H.264 MP4 through PyAV, atomically.

Reading (probing, decoding, damaged streams, frame folders) is ``posecli.video``'s.
"""

from __future__ import annotations

import contextlib
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import av
import numpy as np

from posecli.atomic import atomic_path
from posecli.errors import PoseCliError
from posecli.video import shown_path


class VideoWriter:
    """Write RGB frames to an H.264 MP4 (yuv420p) through PyAV, atomically.

    Frames go to a temporary file beside ``path`` that is renamed to ``path`` by ``close()`` and removed
    by ``abort()``, when the ``with`` block raises, and whenever setting up, writing or closing fails,
    Ctrl-C included: no exit path leaves the temporary file behind. yuv420p needs even sizes: an odd
    width or height gets one replicated column or row, so the output is at most one pixel larger.
    """

    def __init__(self, path: str | Path, fps: float, width: int, height: int) -> None:
        if fps <= 0 or width <= 0 or height <= 0:
            raise PoseCliError(f"{shown_path(path)}: cannot write a video of {width}x{height} at {fps} fps")
        self.path = Path(path)
        self.width = int(width)
        self.height = int(height)
        self._container: Any = None
        self._open = True
        self._stack = contextlib.ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        try:
            # A rational rate: 29.97 must stay 30000/1001, not drift.
            self._rate = Fraction(fps).limit_denominator(1001)
            self._container = av.open(str(self._tmp), mode="w", options={"movflags": "faststart"})
            self._stream = self._container.add_stream(_h264_encoder(), rate=self._rate)
            self._stream.width = self.width + self.width % 2
            self._stream.height = self.height + self.height % 2
            self._stream.pix_fmt = "yuv420p"
            x264 = self._stream.name == "libx264"
            self._stream.options = {"crf": "23", "preset": "veryfast"} if x264 else {}
        except BaseException:
            self._discard()
            raise
        self._count = 0

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    @property
    def frames_written(self) -> int:
        return self._count

    def write(self, image: np.ndarray) -> None:
        """Append one ``(height, width, 3)`` uint8 RGB frame.

        A wrong frame shape raises ``ValueError`` and leaves the writer usable; a failure (or Ctrl-C)
        inside the encoder discards the file, since a half-encoded frame cannot be taken back.
        """
        if not self._open:
            raise ValueError(f"{shown_path(self.path)}: writer is closed")
        if image.shape != (self.height, self.width, 3) or image.dtype != np.uint8:
            raise ValueError(
                f"{shown_path(self.path)}: expected a ({self.height}, {self.width}, 3) uint8 frame, "
                f"got {image.shape} {image.dtype}"
            )
        if self.width % 2 or self.height % 2:
            image = np.pad(image, ((0, self.height % 2), (0, self.width % 2), (0, 0)), mode="edge")
        try:
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
            frame.pts = self._count
            frame.time_base = 1 / self._rate
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
        except BaseException:
            self._discard()
            raise
        self._count += 1

    def close(self) -> None:
        """Flush the encoder, finish the file and rename it to ``path``."""
        if not self._open:
            return
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
        except BaseException:
            self._discard()
            raise
        self._open = False
        self._stack.close()  # the rename (atomic_path removes the temporary file if that fails)

    def abort(self) -> None:
        """Stop without producing ``path``: the temporary file is removed."""
        if self._open:
            self._discard()

    def _discard(self) -> None:
        """Close the container, ignoring its errors, and remove the temporary file."""
        self._open = False
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
        error = RuntimeError("video writing aborted")
        self._stack.__exit__(RuntimeError, error, None)


def _h264_encoder() -> str:
    """The first H.264 encoder this PyAV build has."""
    for name in ("libx264", "libopenh264", "h264"):
        try:
            av.codec.Codec(name, "w")
        except (av.error.FFmpegError, ValueError):
            continue
        return name
    raise PoseCliError("this PyAV build has no H.264 encoder (libx264/libopenh264)")
