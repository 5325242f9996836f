"""Writing videos: ``VideoWriter`` encodes RGB frames to an H.264 MP4 through PyAV, atomically, and
can carry over the audio of a source video (``audio_from``).

Reading (probing, decoding, damaged streams, frame folders) is ``posecli.video``'s.
"""

from __future__ import annotations

import contextlib
import warnings
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import av
import cv2
import numpy as np

from posecli.atomic import atomic_path
from posecli.errors import PoseCliError
from posecli.video import VideoWarning, open_container, shown_path

# Audio codecs the MP4 muxer takes as they are; any other audio is re-encoded to AAC.
MP4_AUDIO_CODECS = frozenset({"aac", "mp3", "alac", "ac3", "eac3", "opus", "flac"})
AAC_LAYOUTS = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}  # channel count -> layout for re-encoded audio
# x264 speed preset of overlays: superfast takes ~3 ms less per 1768×994 frame than veryfast (the
# overlay pass of a stitched run is encoder-bound) for a file about 1.8x larger at the same CRF
H264_PRESET = "superfast"


class VideoWriter:
    """Write RGB frames to an H.264 MP4 (yuv420p) through PyAV, atomically.

    Frames go to a temporary file beside ``path`` that is renamed to ``path`` by ``close()`` and removed
    by ``abort()``, when the ``with`` block raises, and whenever setting up, writing or closing fails,
    Ctrl-C included: no exit path leaves the temporary file behind. yuv420p needs even sizes: an odd
    width or height gets one replicated column or row, so the output is at most one pixel larger.

    ``audio_from``: a video file or URL whose first audio track is written alongside, in step with the
    frames (``AudioCarry``); frame ``i`` is shown at ``i / fps`` from the source video's start.
    """

    def __init__(
        self, path: str | Path, fps: float, width: int, height: int, *, audio_from: str | Path | None = None
    ) -> None:
        if fps <= 0 or width <= 0 or height <= 0:
            raise PoseCliError(f"{shown_path(path)}: cannot write a video of {width}x{height} at {fps} fps")
        self.path = Path(path)
        self.width = int(width)
        self.height = int(height)
        self._container: Any = None
        self._open = True
        self._stack = contextlib.ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        self._audio: AudioCarry | None = None
        try:
            # A rational rate: 29.97 must stay 30000/1001, not drift.
            self._rate = Fraction(fps).limit_denominator(1001)
            self._container = av.open(str(self._tmp), mode="w", options={"movflags": "faststart"})
            self._stream = self._container.add_stream(_h264_encoder(), rate=self._rate)
            self._stream.width = self.width + self.width % 2
            self._stream.height = self.height + self.height % 2
            self._stream.pix_fmt = "yuv420p"
            x264 = self._stream.name == "libx264"
            self._stream.options = {"crf": "23", "preset": H264_PRESET} if x264 else {}
            self._audio = AudioCarry(audio_from, self._container) if audio_from is not None else None
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
            # OpenCV's RGB → I420 (BT.601, limited range, as swscale's default) costs ~1.5 ms at 1768×994
            # where swscale's conversion inside the encoder costs ~5 ms, on the overlay's critical thread
            planes = cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2YUV_I420)
            frame = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            frame.pts = self._count
            frame.time_base = 1 / self._rate
            for packet in self._stream.encode(frame):
                self._container.mux(packet)
            if self._audio is not None:  # the audio up to this frame's end, so the file stays interleaved
                self._audio.carry(until=float((self._count + 1) / self._rate))
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
            if self._audio is not None:  # no longer than the video
                self._audio.carry(until=float(self._count / self._rate))
                self._audio.finish()
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
        if self._audio is not None:
            self._audio.close()
        if self._container is not None:
            with contextlib.suppress(Exception):
                self._container.close()
        error = RuntimeError("video writing aborted")
        self._stack.__exit__(RuntimeError, error, None)


class AudioCarry:
    """The first audio track of ``source`` copied into ``container`` (packets as they are when MP4 takes
    the codec, else decoded and re-encoded to AAC), a piece at a time as the video advances.

    Times are counted from the source video stream's start, as the video frames are. A source without
    audio (or that cannot be opened again) carries nothing; audio that fails part-way stops there with
    one ``VideoWarning``, and the video is written anyway.
    """

    def __init__(self, source: str | Path, container: Any) -> None:
        self.source = source
        self.stream: Any = None
        self._input: Any = None
        self._packets: Any = None
        self._held: Any = None  # the first packet past the last ``until``
        self._encode = False
        try:
            self._input = open_container(source)
        except PoseCliError:
            return
        audio = next(iter(self._input.streams.audio), None)
        if audio is None:
            self.close()
            return
        video = next(iter(self._input.streams.video), None)
        start = 0.0
        if video is not None and video.start_time is not None and video.time_base is not None:
            start = float(video.start_time * video.time_base)
        self._start = start
        self._source_stream = audio
        if audio.codec_context.name in MP4_AUDIO_CODECS:
            self.stream = container.add_stream_from_template(audio)
        else:
            self._encode = True
            self.stream = container.add_stream("aac", rate=audio.codec_context.sample_rate or 48000)
            self.stream.format = "fltp"  # what FFmpeg's AAC encoder takes; frames are converted to it
            # a named layout of as many channels (AAC refuses an unnamed "2 channels" one); others are mixed to stereo
            channels = len(audio.codec_context.layout.channels)
            self.stream.layout = AAC_LAYOUTS.get(channels, "stereo")
        self._packets = self._input.demux(audio)

    def carry(self, until: float) -> None:
        """Write the source's audio packets that start before ``until`` seconds."""
        if self._packets is None:
            return
        try:
            while True:
                packet = self._held if self._held is not None else next(self._packets, None)
                self._held = None
                if packet is None:
                    self._stop()
                    return
                if packet.size == 0 or packet.pts is None:
                    continue
                seconds = float(packet.pts * packet.time_base) - self._start
                if seconds >= until:
                    self._held = packet
                    return
                self._write(packet)
        except (av.error.FFmpegError, ValueError, OSError) as error:
            warnings.warn(f"{shown_path(self.source)}: the audio stops at {until:.1f} s ({error})", VideoWarning, stacklevel=2)
            self._stop()

    def _write(self, packet: Any) -> None:
        shift = round(self._start / packet.time_base)
        if not self._encode:
            packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = self.stream
            self.stream.container.mux(packet)
            return
        for frame in packet.decode():
            frame.pts = None  # the encoder numbers its own samples
            for encoded in self.stream.encode(frame):
                self.stream.container.mux(encoded)

    def finish(self) -> None:
        """Flush the audio encoder (re-encoded audio) and close the source."""
        if self.stream is not None and self._encode:
            for encoded in self.stream.encode():
                self.stream.container.mux(encoded)
        self.close()

    def _stop(self) -> None:
        self._packets = None
        self._held = None

    def close(self) -> None:
        """Close the source (again: harmless)."""
        self._stop()
        if self._input is not None:
            with contextlib.suppress(Exception):
                self._input.close()
            self._input = None


def _h264_encoder() -> str:
    """The first H.264 encoder this PyAV build has."""
    for name in ("libx264", "libopenh264", "h264"):
        try:
            av.codec.Codec(name, "w")
        except (av.error.FFmpegError, ValueError):
            continue
        return name
    raise PoseCliError("this PyAV build has no H.264 encoder (libx264/libopenh264)")
