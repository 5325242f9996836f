"""Video input and output: stream RGB frames from a file or a frame folder, write H.264 videos.

Reading (``VideoReader``) yields ``VideoFrame`` objects one at a time, in presentation order, so memory
stays bounded whatever the length of the video. Three backends give the same frames:

* ``decord`` (tried first when installed): sequential decoding and exact seeking by frame index.
  On the 2-core development machine it decodes slower than PyAV (``benchmarks/RESULTS.md``).
* ``pyav``: used automatically for VP9 streams (decord 0.6.0 stops on them after a few frames) and
  rotated videos (decord 0.6.0 applies the display matrix itself and returns 4-channel frames), and
  when decord cannot open a file or fails while decoding: the reader then continues with PyAV from the
  first frame decord did not deliver, so no frame is lost or repeated.
* ``frames``: a folder of images in the PoseTrack layout (``000000.jpg`` ... or ``00000001.jpg`` ...),
  sorted by the number in the file name.

``start`` (resumed runs) seeks: decord by frame index; PyAV to the timestamp of that frame, found by
a demux-only scan and checked on the decoded frame (else it decodes from the start and discards).

Rotation: ``VideoInfo.rotation`` is the clockwise angle (0, 90, 180 or 270) that turns the stored
frames upright, read from the display-matrix side data (or the legacy ``rotate`` tag), the same
convention as the ``rotate`` tag phones write. Frames are rotated before they are yielded, and
``width``/``height`` are the displayed (rotated) size.

Bad input raises ``PoseCliError`` with one line naming the file. A stream that ends early (a file cut
mid-stream, corrupt data) yields the frames that decode, sets ``VideoReader.truncated`` and emits a
``VideoWarning`` naming the file and the number of frames reached.
"""

from __future__ import annotations

import contextlib
import re
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import av
import cv2
import numpy as np

from posecli.atomic import atomic_path
from posecli.errors import PoseCliError

BACKENDS = ("auto", "decord", "pyav", "frames")
SEEK_MIN_FRAMES = 120  # below this, decoding from the first frame costs about as much as seeking
REORDER_MARGIN = 32  # packets beyond the target scanned for its timestamp; > any codec's reorder depth
DEFAULT_FOLDER_FPS = 25.0  # PoseTrack sequences carry no frame rate; 25 is the common camera rate
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
DECORD_FAILING_CODECS = frozenset({"vp9"})  # decord 0.6.0 decodes these wrongly or stops early


class VideoWarning(UserWarning):
    """A recoverable problem with an input video (truncated stream, assumed frame rate)."""


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a video before decoding it.

    fps: frames per second (average rate); num_frames: frame count from the container index, or an
    estimate from the duration when the container has none (``frame_count_exact`` False), 0 if
    unknown; width/height: displayed size, after rotation; rotation: clockwise degrees applied to the
    stored frames (0/90/180/270); backend: ``decord``, ``pyav`` or ``frames`` (what ``auto`` starts with);
    codec: FFmpeg's codec name.
    """

    path: Path
    fps: float
    num_frames: int
    width: int
    height: int
    rotation: int
    backend: str
    frame_count_exact: bool = True
    codec: str = ""  # FFmpeg's name of the video codec (h264, vp9, …); "" for frame folders


@dataclass(frozen=True, eq=False)
class VideoFrame:
    """One decoded frame. index: 0-based position in the stream; timestamp: seconds from the stream
    start; image: ``(H, W, 3)`` uint8 RGB, rotation applied, C-contiguous."""

    index: int
    timestamp: float
    image: np.ndarray


# ----------------------------------------------------------------------------------------------------
# Probing


def probe_video(path: str | Path, backend: str = "auto", fps: float | None = None) -> VideoInfo:
    """Open ``path`` (a video file or a frame folder), check that a first frame decodes, describe it.

    ``fps`` is used for frame folders only (default 25, with a ``VideoWarning``). Raises
    ``PoseCliError`` for a missing path, a folder without frames, a file that is not a video, or a
    video without a decodable frame.
    """
    path = Path(path)
    if backend not in BACKENDS:
        raise PoseCliError(f"{path}: unknown video backend '{backend}' (choose from {', '.join(BACKENDS)})")
    if not path.exists():
        raise PoseCliError(f"{path}: no such file or folder")
    if path.is_dir() or backend == "frames":
        return _probe_folder(path, fps)
    info = _probe_pyav(path)
    if backend == "auto":
        # decord cannot honour rotation metadata correctly, and decord 0.6.0 stops on VP9 streams after a
        # frame or two (the fall-back then costs a second open and re-decoding): both go straight to PyAV.
        decord_ok = info.rotation == 0 and info.codec not in DECORD_FAILING_CODECS
        chosen = "decord" if decord_ok and _decord_available() else "pyav"
    else:
        chosen = backend
    if chosen == "decord":
        if not _decord_available():
            raise PoseCliError(f"{path}: the decord backend is not installed (use the pyav backend)")
        if info.rotation != 0:
            raise PoseCliError(
                f"{path}: rotated video ({info.rotation}°): decord cannot apply rotation; "
                "use the pyav backend"
            )
    return VideoInfo(
        path=info.path,
        fps=info.fps,
        num_frames=info.num_frames,
        width=info.width,
        height=info.height,
        rotation=info.rotation,
        backend=chosen,
        frame_count_exact=info.frame_count_exact,
        codec=info.codec,
    )


def _probe_pyav(path: Path) -> VideoInfo:
    """Stream facts from the container, plus the rotation of (and a check on) the first frame."""
    try:
        container = av.open(str(path))
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as error:
        raise PoseCliError(f"{path}: not a readable video file ({_short(error)})") from None
    with container:
        if not container.streams.video:
            raise PoseCliError(f"{path}: the file has no video stream")
        stream = container.streams.video[0]
        codec = str(stream.codec_context.name or "")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        first = _first_frame(container, stream, path)
        rotation = _rotation_of(first, stream)
        width, height = first.width, first.height
        count = int(stream.frames or 0)
        exact = count > 0
        if not exact and fps > 0:
            # No frame index (e.g. WebM/MKV): estimate from the stream or container duration.
            if stream.duration is not None and stream.time_base is not None:
                seconds = float(stream.duration * stream.time_base)
            elif container.duration is not None:
                seconds = container.duration / av.time_base
            else:
                seconds = 0.0
            count = max(round(seconds * fps), 1)
    if fps <= 0:
        raise PoseCliError(f"{path}: the video stream has no frame rate")
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(path, fps, count, width, height, rotation, "pyav", exact, codec)


def _first_frame(container: Any, stream: Any, path: Path) -> Any:
    """Decode the first frame of ``stream`` or raise ``PoseCliError``."""
    try:
        for frame in container.decode(stream):
            return frame
    except (av.error.FFmpegError, ValueError) as error:
        raise PoseCliError(f"{path}: no decodable video frame ({_short(error)})") from None
    raise PoseCliError(f"{path}: no decodable video frame (the video stream is empty)")


def _rotation_of(frame: Any, stream: Any) -> int:
    """Clockwise rotation in degrees (0/90/180/270) that makes ``frame`` upright."""
    ccw = getattr(frame, "rotation", None)  # PyAV >= 14: from the DISPLAYMATRIX side data
    if ccw:
        return round(-float(ccw) / 90.0) * 90 % 360
    tag = stream.metadata.get("rotate") if stream.metadata else None  # legacy tag, clockwise
    if tag:
        try:
            return round(float(tag) / 90.0) * 90 % 360
        except ValueError:
            return 0
    return 0


_FPS_NOTED: set[Path] = set()  # folders already warned about (see _probe_folder)


def _probe_folder(path: Path, fps: float | None) -> VideoInfo:
    files = _frame_files(path)
    image = _read_image(files[0])
    if fps is None:
        # Probing and then reading a folder would say this twice; once per folder is enough.
        if path.resolve() not in _FPS_NOTED:
            _FPS_NOTED.add(path.resolve())
            warnings.warn(
                f"{path}: a frame folder has no frame rate; assuming {DEFAULT_FOLDER_FPS:g} fps",
                VideoWarning,
                stacklevel=3,
            )
        fps = DEFAULT_FOLDER_FPS
    if fps <= 0:
        raise PoseCliError(f"{path}: fps must be positive, got {fps}")
    height, width = image.shape[:2]
    return VideoInfo(path, float(fps), len(files), width, height, 0, "frames", True)


def _frame_files(path: Path) -> list[Path]:
    """Image files of a frame folder, sorted by the number in their name (then by name)."""
    if not path.is_dir():
        raise PoseCliError(f"{path}: the frames backend needs a folder of images")
    files = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise PoseCliError(f"{path}: folder holds no frame images ({', '.join(IMAGE_SUFFIXES)})")

    def key(p: Path) -> tuple[int, int, str]:
        digits = re.findall(r"\d+", p.stem)
        return (0, int(digits[-1]), p.name) if digits else (1, 0, p.name)

    return sorted(files, key=key)


def _read_image(file: Path) -> np.ndarray:
    """``(H, W, 3)`` uint8 RGB."""
    data = cv2.imread(str(file), cv2.IMREAD_COLOR)
    if data is None:
        raise PoseCliError(f"{file}: not a readable image")
    return cv2.cvtColor(data, cv2.COLOR_BGR2RGB)


def _decord_available() -> bool:
    try:
        import decord  # noqa: F401
    except ImportError:
        return False
    return True


def _short(error: BaseException) -> str:
    """One line describing ``error`` without repeating the file name (PyAV appends it)."""
    reason = getattr(error, "strerror", None)
    if isinstance(reason, str) and reason:
        return reason
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


# ----------------------------------------------------------------------------------------------------
# Reading


class VideoReader:
    """Iterate over the frames of a video file or a frame folder, in order, one at a time.

    ``backend``: ``auto`` (decord, else PyAV), ``decord``, ``pyav`` or ``frames``; ``start``: index of
    the first frame to yield (a resumed run); ``fps``: frame rate of a frame folder. Use as a context
    manager or iterate directly; each iteration restarts from ``start``. After an iteration,
    ``truncated`` is True if the stream ended before ``info.num_frames`` or on a decoding error, and
    ``backend_used`` lists the backends used in order (``["decord", "pyav"]`` after a fallback).
    """

    def __init__(
        self, path: str | Path, backend: str = "auto", start: int = 0, fps: float | None = None
    ) -> None:
        if start < 0:
            raise PoseCliError(f"{path}: start frame must be >= 0, got {start}")
        self.info = probe_video(path, backend=backend, fps=fps)
        self.start = start
        self.truncated = False
        self.backend_used: list[str] = []
        self._closer: contextlib.ExitStack | None = None
        self._seeked_to: int | None = None  # timestamp the last PyAV iteration seeked to (for tests)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    def close(self) -> None:
        """Release the open decoder, if an iteration was left unfinished."""
        if self._closer is not None:
            self._closer.close()
            self._closer = None

    def __len__(self) -> int:
        """Frames this reader is expected to yield (``info.num_frames - start``, at least 0)."""
        return max(self.info.num_frames - self.start, 0)

    def __iter__(self) -> Iterator[VideoFrame]:
        self.close()
        self.truncated = False
        self.backend_used = []
        self._closer = contextlib.ExitStack()
        reached = self.start
        backend = self.info.backend
        if backend == "frames":
            frames = self._iter_folder()
        elif backend == "decord":
            frames = self._iter_decord(self._closer)
        else:
            frames = self._iter_pyav(self._closer, self.start)
        for frame in frames:
            reached = frame.index + 1
            yield frame
        self.close()
        # Fewer frames than the container index promised, or a decoding error (set by a backend) before
        # the promised count was reached.
        short = self.info.frame_count_exact and reached < self.info.num_frames
        self.truncated = short or (self.truncated and not self.info.frame_count_exact)
        if self.truncated:
            warnings.warn(
                f"{self.info.path}: stream ended early at frame {reached} of {self.info.num_frames} "
                "(truncated or corrupt file); continuing with the frames decoded",
                VideoWarning,
                stacklevel=2,
            )

    # -- backends -------------------------------------------------------------------------------------

    def _iter_folder(self) -> Iterator[VideoFrame]:
        files = _frame_files(self.info.path)
        self.backend_used.append("frames")
        for index in range(self.start, len(files)):
            image = _read_image(files[index])
            if image.shape[:2] != (self.info.height, self.info.width):
                raise PoseCliError(
                    f"{files[index]}: frame size {image.shape[1]}x{image.shape[0]} differs from the first "
                    f"frame's {self.info.width}x{self.info.height}"
                )
            yield VideoFrame(index, index / self.info.fps, image)

    def _iter_pyav(self, closer: contextlib.ExitStack, start: int) -> Iterator[VideoFrame]:
        """Decode with PyAV; frame ``start`` is reached by seeking when that is exact, else by decoding
        from the first frame and discarding (unconverted) the frames before it.

        Index = position in presentation order, which is what decord counts too, so the backends agree
        frame for frame. Seeking needs the presentation timestamp of frame ``start``; a demux-only scan
        (no decoding) finds it, and the decoded frame must carry exactly that timestamp, otherwise the
        reader decodes from the beginning instead.
        """
        path = self.info.path
        self.backend_used.append("pyav")
        target = _seek_target(path, start) if start >= SEEK_MIN_FRAMES else None
        self._seeked_to = None
        if target is not None:
            container = self._open_pyav(closer)
            stream = container.streams.video[0]
            container.seek(target, stream=stream, backward=True, any_frame=False)
            frames = self._decode(container, stream)
            for frame in frames:
                if frame.pts is None or frame.pts >= target:
                    if frame.pts == target:
                        self._seeked_to = target
                        yield self._to_video_frame(frame, start, stream)
                        for index, later in enumerate(frames, start=start + 1):
                            yield self._to_video_frame(later, index, stream)
                        return
                    break
            # The seek did not land on the frame found by the scan: decode from the start instead.
            frames.close()
            self.truncated = False
        container = self._open_pyav(closer)
        stream = container.streams.video[0]
        for index, frame in enumerate(self._decode(container, stream)):
            if index >= start:
                yield self._to_video_frame(frame, index, stream)

    def _open_pyav(self, closer: contextlib.ExitStack) -> Any:
        try:
            container = closer.enter_context(av.open(str(self.info.path)))
        except av.error.FFmpegError as error:
            raise PoseCliError(f"{self.info.path}: not a readable video file ({_short(error)})") from None
        container.streams.video[0].thread_type = "AUTO"  # frame + slice threads: much faster on multi-core
        return container

    def _decode(self, container: Any, stream: Any) -> Iterator[Any]:
        """PyAV frames of ``stream``; a decoding error ends the stream and marks it truncated."""
        try:
            yield from container.decode(stream)
        except (av.error.FFmpegError, ValueError):
            # Corrupt or cut data: keep what decoded; __iter__ reports it.
            self.truncated = True

    def _to_video_frame(self, frame: Any, index: int, stream: Any) -> VideoFrame:
        if frame.pts is not None and stream.time_base is not None:
            timestamp = float((frame.pts - (stream.start_time or 0)) * stream.time_base)
        else:
            timestamp = index / self.info.fps
        return VideoFrame(index, timestamp, _upright(frame.to_ndarray(format="rgb24"), self.info.rotation))

    def _iter_decord(self, closer: contextlib.ExitStack) -> Iterator[VideoFrame]:
        import decord

        path = self.info.path
        try:
            reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=0)
        except (decord.DECORDError, RuntimeError):
            yield from self._iter_pyav(closer, self.start)
            return
        self.backend_used.append("decord")
        count = len(reader)
        index = self.start
        try:
            if self.start > 0:
                if self.start >= count:
                    return
                reader.seek_accurate(self.start)
            while index < count:
                array = reader.next().asnumpy()
                if array.ndim != 3 or array.shape[2] != 3:
                    raise decord.DECORDError(f"unexpected frame shape {array.shape}")
                timestamp = float(reader.get_frame_timestamp(index)[0])
                yield VideoFrame(index, timestamp, np.ascontiguousarray(array))
                index += 1
        except StopIteration:
            # decord's index promised more frames than the stream holds: PyAV tells if any remain.
            pass
        except (decord.DECORDError, RuntimeError):
            pass
        else:
            if not self.info.frame_count_exact or index >= self.info.num_frames:
                return
            # decord's index is shorter than the container's frame count: let PyAV deliver the rest.
        # decord failed (or ended early) at ``index``: PyAV continues from exactly that frame.
        del reader  # frees decord's decoder threads before PyAV starts its own
        yield from self._iter_pyav(closer, index)


def _seek_target(path: Path, start: int) -> int | None:
    """Presentation timestamp of frame ``start``, from the packets of the stream without decoding.

    Decoders reorder frames only within a short window, so the ``start``-th smallest timestamp among
    the first ``start + REORDER_MARGIN`` packets is frame ``start``'s. Returns None whenever packets
    may not map one-to-one onto shown frames (missing timestamps, packets the demuxer marks to
    discard, duplicates) or the stream is shorter: the caller then decodes from the start.
    """
    stamps: list[int] = []
    try:
        with av.open(str(path)) as container:
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the demuxer's end-of-stream marker
                if packet.pts is None or packet.is_discard or packet.is_corrupt:
                    return None
                stamps.append(packet.pts)
                if len(stamps) >= start + REORDER_MARGIN:
                    break
    except (av.error.FFmpegError, ValueError):
        return None
    # Either the scan stopped ``REORDER_MARGIN`` packets past the target, or it saw the whole stream.
    if len(stamps) <= start or len(set(stamps)) != len(stamps):
        return None
    return sorted(stamps)[start]


def _upright(image: np.ndarray, rotation: int) -> np.ndarray:
    """Rotate ``(H, W, 3)`` by ``rotation`` degrees clockwise; returns a contiguous array."""
    if rotation == 0:
        return image
    # np.rot90 turns counter-clockwise for positive k.
    return np.ascontiguousarray(np.rot90(image, k=-(rotation // 90)))


# ----------------------------------------------------------------------------------------------------
# Writing


class VideoWriter:
    """Write RGB frames to an H.264 MP4 (yuv420p) through PyAV, atomically.

    Frames go to a temporary file beside ``path`` that is renamed to ``path`` by ``close()`` and removed
    by ``abort()`` (or when the ``with`` block raises). yuv420p needs even sizes: an odd width or
    height gets one replicated column or row, so the output is at most one pixel larger.
    """

    def __init__(self, path: str | Path, fps: float, width: int, height: int) -> None:
        if fps <= 0 or width <= 0 or height <= 0:
            raise PoseCliError(f"{path}: cannot write a video of {width}x{height} at {fps} fps")
        self.path = Path(path)
        self.width = int(width)
        self.height = int(height)
        self._stack = contextlib.ExitStack()
        self._tmp = self._stack.enter_context(atomic_path(self.path))
        # A rational rate: 29.97 must stay 30000/1001, not drift.
        self._rate = Fraction(fps).limit_denominator(1001)
        self._container: Any = av.open(str(self._tmp), mode="w", options={"movflags": "faststart"})
        self._stream = self._container.add_stream(_h264_encoder(), rate=self._rate)
        self._stream.width = self.width + self.width % 2
        self._stream.height = self.height + self.height % 2
        self._stream.pix_fmt = "yuv420p"
        self._stream.options = {"crf": "23", "preset": "veryfast"} if self._stream.name == "libx264" else {}
        self._count = 0
        self._open = True

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
        """Append one ``(height, width, 3)`` uint8 RGB frame."""
        if not self._open:
            raise ValueError(f"{self.path}: writer is closed")
        if image.shape != (self.height, self.width, 3) or image.dtype != np.uint8:
            raise ValueError(
                f"{self.path}: expected a ({self.height}, {self.width}, 3) uint8 frame, "
                f"got {image.shape} {image.dtype}"
            )
        if self.width % 2 or self.height % 2:
            image = np.pad(image, ((0, self.height % 2), (0, self.width % 2), (0, 0)), mode="edge")
        frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        frame.pts = self._count
        frame.time_base = 1 / self._rate
        for packet in self._stream.encode(frame):
            self._container.mux(packet)
        self._count += 1

    def close(self) -> None:
        """Flush the encoder, finish the file and rename it to ``path``."""
        if not self._open:
            return
        self._open = False
        try:
            for packet in self._stream.encode():
                self._container.mux(packet)
            self._container.close()
        except BaseException as error:
            self._container.close()
            self._stack.__exit__(type(error), error, error.__traceback__)
            raise
        self._stack.close()

    def abort(self) -> None:
        """Stop without producing ``path``: the temporary file is removed."""
        if not self._open:
            return
        self._open = False
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
