"""Video input and output: stream RGB frames from a file or a frame folder, write H.264 videos.

Reading (``VideoReader``) yields ``VideoFrame`` objects one at a time, in presentation order, so memory
stays bounded whatever the length of the video. Three backends give the same frames:

* ``decord`` (tried first when installed): sequential decoding and exact seeking by frame index.
  On the 2-core development machine it decodes slower than PyAV (``benchmarks/RESULTS.md``).
* ``pyav``: used automatically for VP9 streams (decord 0.6.0 stops on them after a few frames),
  rotated videos (decord 0.6.0 applies the display matrix itself and returns 4-channel frames),
  containers without a frame index (Matroska, WebM: decord misnumbers the last frames of a cut file)
  and file names that are not valid UTF-8 (decord cannot encode them), and when decord cannot open a
  file or fails while decoding: the reader then continues with PyAV from the first frame decord did
  not deliver, so no frame is lost or repeated.
* ``frames``: a folder of images in the PoseTrack layout (``000000.jpg`` ... or ``00000001.jpg`` ...),
  sorted by the number in the file name.

``start`` (resumed runs) seeks: decord by frame index; PyAV to the timestamp of that frame, found by
a demux-only scan and checked on the decoded frame (else it decodes from the start and discards).

Rotation: ``VideoInfo.rotation`` is the clockwise angle (0, 90, 180 or 270) that turns the stored
frames upright, read from the display-matrix side data (or the legacy ``rotate`` tag), the same
convention as the ``rotate`` tag phones write. Frames are rotated before they are yielded, and
``width``/``height`` are the displayed (rotated) size.

Damaged input. Bad input (a missing path, a FIFO or device, not a video, nothing decodable) raises
``PoseCliError`` with one line naming the file, before anything blocks on it. Damage inside a video
that otherwise decodes is skipped: PyAV drops a packet that does not decode (or resynchronises after
bad container data) and goes on with the next one, and a frame image that does not read cleanly is
left out of a folder. Frames keep their true index: a PyAV frame's index is the rank of its timestamp
among the timestamps of the stream's packets (one packet per frame, as in MP4, MKV, WebM and AVI; for
the last frames of a cut file, whose reorder neighbours may never have been read, the usual distance
between timestamps counts the missing ones), so the frame after a lost one is not renumbered. Lost
frames are simply missing from the iteration (``VideoReader.lost`` lists their index ranges), unless
the reader was made with ``fill_gaps``: then each lost frame before the last decoded one is stood in
for by the frame decoded before it, or the first decoded frame when none came before
(``VideoFrame.held``; timestamps interpolated), so a consumer that needs consecutive frames gets them.
A stream that ends before the container's frame count (a cut file) loses its tail. After an iteration with any loss, ``VideoReader.truncated``
is True and one ``VideoWarning`` names the file and the frame ranges lost. Frames that decode with
concealed errors (FFmpeg patches damaged blocks without reporting it) cannot be told apart and are
kept.

Library chatter: decord's bundled FFmpeg is set to quiet, and what OpenCV's image decoders print to
stderr while a frame image is read is captured (a libjpeg "Corrupt JPEG data" line marks that image
as damaged), so only posecli's own lines reach the terminal. PyAV keeps FFmpeg quiet by default.
"""

from __future__ import annotations

import contextlib
import ctypes
import heapq
import os
import re
import stat
import statistics
import sys
import tempfile
import threading
import warnings
from collections import deque
from collections.abc import Generator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import av
import cv2
import numpy as np

from posecli.errors import PoseCliError
from posecli.inputs import is_url

BACKENDS = ("auto", "decord", "pyav", "frames")
SEEK_MIN_FRAMES = 120  # below this, decoding from the first frame costs about as much as seeking
REORDER_MARGIN = 32  # packets beyond the target scanned for its timestamp; > any codec's reorder depth
DEFAULT_FOLDER_FPS = 25.0  # PoseTrack sequences carry no frame rate; 25 is the common camera rate
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")
DECORD_FAILING_CODECS = frozenset({"vp9"})  # decord 0.6.0 decodes these wrongly or stops early
FIRST_FRAME_PACKETS = 300  # packets probed for a first decodable frame before a file is refused
DEMUX_RETRIES = 8  # consecutive demuxer errors after which the rest of a file counts as unreadable
RANGES_SHOWN = 6  # lost frame ranges (or skipped images) named in a warning; the rest are counted
AV_LOG_QUIET = -8  # FFmpeg's log level that prints nothing


class VideoWarning(UserWarning):
    """A recoverable problem with an input video (lost frames, unreadable images, assumed frame rate)."""


@dataclass(frozen=True)
class VideoInfo:
    """What is known about a video before decoding it.

    fps: frames per second (average rate); num_frames: frame count from the container index, or an
    estimate from the duration when the container has none (``frame_count_exact`` False), 0 if
    unknown; width/height: displayed size, after rotation; rotation: clockwise degrees applied to the
    stored frames (0/90/180/270); backend: ``decord``, ``pyav`` or ``frames`` (what ``auto`` starts with);
    codec: FFmpeg's codec name; frame_count_slack: how many frames an estimated count may overstate
    the stream by (a stream shorter than that is reported as cut).
    """

    path: Path | str  # a str for a URL (see posecli.inputs)
    fps: float
    num_frames: int
    width: int
    height: int
    rotation: int
    backend: str
    frame_count_exact: bool = True
    codec: str = ""  # FFmpeg's name of the video codec (h264, vp9, …); "" for frame folders
    frame_count_slack: int = 0  # 0 for an exact count; 1 for a track's own duration; more for a container's


@dataclass(frozen=True, eq=False)
class VideoFrame:
    """One decoded frame. index: 0-based position in the stream; timestamp: seconds from the stream
    start; image: ``(H, W, 3)`` uint8 RGB, rotation applied, C-contiguous; held: True when this frame
    could not be decoded and ``image`` is the previous decoded frame's (``VideoReader(fill_gaps=True)``)."""

    index: int
    timestamp: float
    image: np.ndarray
    held: bool = False


def shown_path(path: str | os.PathLike[str]) -> str:
    """``path`` as printable text: bytes of a file name that are not valid UTF-8 appear as ``\\xff``.

    Paths made from such names hold lone surrogates, which a strict UTF-8 stream refuses to print.
    """
    return os.fsdecode(path).encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


NETWORK_TIMEOUT_S = 15.0  # seconds a URL may take to open or to send more data before it is given up


def open_container(source: str | os.PathLike[str]) -> Any:
    """Open a video file or URL with PyAV for reading; a URL that does not answer (or stops sending)
    within ``NETWORK_TIMEOUT_S`` fails instead of hanging. Any failure is one ``PoseCliError`` line."""
    try:
        if is_url(source):
            return av.open(str(source), timeout=(NETWORK_TIMEOUT_S, NETWORK_TIMEOUT_S))
        return av.open(os.fspath(source))
    except (av.error.FFmpegError, UnicodeDecodeError, OSError) as error:
        what = "cannot open the URL" if is_url(source) else "not a readable video file"
        raise PoseCliError(f"{shown_path(source)}: {what} ({_short(error)})") from None


def check_input_path(path: str | Path) -> os.stat_result:
    """Refuse what cannot be read as a video without blocking: a missing path, or something that is
    neither a regular file nor a folder (a FIFO would block ``open`` until a writer appears; a device
    or socket never ends). Returns the ``stat`` of ``path``."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        raise PoseCliError(f"{shown_path(path)}: no such file or folder") from None
    except OSError as error:
        raise PoseCliError(f"{shown_path(path)}: cannot read ({_short(error)})") from None
    if not (stat.S_ISREG(info.st_mode) or stat.S_ISDIR(info.st_mode)):
        kind = (
            "a FIFO (named pipe)" if stat.S_ISFIFO(info.st_mode)
            else "a socket" if stat.S_ISSOCK(info.st_mode)
            else "a device" if stat.S_ISCHR(info.st_mode) or stat.S_ISBLK(info.st_mode)
            else "not a regular file"
        )
        raise PoseCliError(f"{shown_path(path)}: {kind}, not a video file or a frame folder")
    return info


# ----------------------------------------------------------------------------------------------------
# Probing


def probe_video(path: str | Path, backend: str = "auto", fps: float | None = None) -> VideoInfo:
    """Open ``path`` (a video file or a frame folder), check that a first frame decodes, describe it.

    ``fps`` is used for frame folders only (default 25, with a ``VideoWarning``). Raises
    ``PoseCliError`` for a missing path, a FIFO, socket or device, a folder without readable frames,
    a file that is not a video, or a video without a decodable frame.
    """
    if is_url(path):  # kept as text (Path would collapse the //); FFmpeg reads it through PyAV
        if backend not in ("auto", "pyav"):
            raise PoseCliError(f"{path}: a URL is read with the pyav backend, not '{backend}'")
        return _probe_pyav(path)
    path = Path(path)
    if backend not in BACKENDS:
        raise PoseCliError(
            f"{shown_path(path)}: unknown video backend '{backend}' (choose from {', '.join(BACKENDS)})"
        )
    is_dir = stat.S_ISDIR(check_input_path(path).st_mode)
    if is_dir or backend == "frames":
        return _probe_folder(path, fps)
    info = _probe_pyav(path)
    if backend == "auto":
        # decord cannot honour rotation metadata correctly; decord 0.6.0 stops on VP9 streams after a
        # frame or two (the fall-back then costs a second open and re-decoding); without a container
        # index (Matroska, WebM) decord numbers the packets it finds, so in a cut file the frames just
        # before the cut are numbered wrongly; and decord cannot encode a file name that is not valid
        # UTF-8. All of these go straight to PyAV.
        decord_ok = (
            info.rotation == 0
            and info.codec not in DECORD_FAILING_CODECS
            and info.frame_count_exact
            and _utf8_name(path)
        )
        chosen = "decord" if decord_ok and _decord_available() else "pyav"
    else:
        chosen = backend
    if chosen == "decord":
        if not _decord_available():
            raise PoseCliError(
                f"{shown_path(path)}: the decord backend is not installed (use the pyav backend)"
            )
        if info.rotation != 0:
            raise PoseCliError(
                f"{shown_path(path)}: rotated video ({info.rotation}°): decord cannot apply rotation; "
                "use the pyav backend"
            )
    return replace(info, backend=chosen)


def _utf8_name(path: Path) -> bool:
    try:
        str(path).encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _probe_pyav(path: Path | str) -> VideoInfo:
    """Stream facts from the container, plus the rotation of (and a check on) the first frame."""
    container = open_container(path)
    with container:
        if not container.streams.video:
            if not container.streams:
                # e.g. an MP4 whose writer stopped before the first frame: its muxer wrote no track.
                raise PoseCliError(f"{shown_path(path)}: no decodable video frame (the file holds no frames)")
            raise PoseCliError(f"{shown_path(path)}: the file has no video stream")
        stream = container.streams.video[0]
        codec = str(stream.codec_context.name or "")
        rate = stream.average_rate or stream.guessed_rate or stream.base_rate
        fps = float(rate) if rate else 0.0
        first = _first_frame(container, stream, path)
        rotation = _rotation_of(first, stream)
        width, height = first.width, first.height
        count = int(stream.frames or 0)
        exact = count > 0
        slack = 0
        if not exact and fps > 0:
            # No frame index (e.g. WebM/MKV): estimate from the video track's own duration, else the
            # container's (which may also cover a longer audio track, hence the larger slack).
            seconds, slack = _track_seconds(stream), 1
            if seconds is None:
                seconds = container.duration / av.time_base if container.duration is not None else 0.0
                slack = max(2, round(0.1 * seconds * fps))
            count = max(round(seconds * fps), 1)
    if fps <= 0:
        raise PoseCliError(f"{shown_path(path)}: the video stream has no frame rate")
    if rotation in (90, 270):
        width, height = height, width
    return VideoInfo(path, fps, count, width, height, rotation, "pyav", exact, codec, slack)


def _track_seconds(stream: Any) -> float | None:
    """Duration of the video track alone: the stream's, or the ``DURATION`` tag Matroska muxers write."""
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    tag = next((v for k, v in (stream.metadata or {}).items() if k.upper().startswith("DURATION")), None)
    match = re.fullmatch(r"(\d+):(\d{1,2}):(\d{1,2}(?:\.\d+)?)", str(tag or "").strip())
    if match is None:
        return None
    hours, minutes, seconds = match.groups()
    return int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def _first_frame(container: Any, stream: Any, path: Path) -> Any:
    """The first frame of ``stream`` that decodes (damaged packets before it are passed over, as
    reading does), or ``PoseCliError`` when none does within ``FIRST_FRAME_PACKETS`` packets."""
    reason = "the video stream is empty"
    try:
        for count, packet in enumerate(container.demux(stream)):
            if count > FIRST_FRAME_PACKETS:
                break
            try:
                frames = packet.decode()
            except (av.error.FFmpegError, ValueError) as error:
                reason = _short(error)
                continue
            if frames:
                return frames[0]
    except (av.error.FFmpegError, ValueError, OSError) as error:
        reason = _short(error)
    raise PoseCliError(f"{shown_path(path)}: no decodable video frame ({reason})")


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
    image = None
    for file in files:  # the first image that reads cleanly gives the size
        image, _ = _read_image(file)
        if image is not None:
            break
    if image is None:
        raise PoseCliError(f"{shown_path(path)}: no frame image in the folder is readable")
    if fps is None:
        # Probing and then reading a folder would say this twice; once per folder is enough.
        if path.resolve() not in _FPS_NOTED:
            _FPS_NOTED.add(path.resolve())
            warnings.warn(
                f"{shown_path(path)}: a frame folder has no frame rate; assuming {DEFAULT_FOLDER_FPS:g} fps",
                VideoWarning,
                stacklevel=3,
            )
        fps = DEFAULT_FOLDER_FPS
    if fps <= 0:
        raise PoseCliError(f"{shown_path(path)}: fps must be positive, got {fps}")
    height, width = image.shape[:2]
    return VideoInfo(path, float(fps), len(files), width, height, 0, "frames", True)


def _frame_files(path: Path) -> list[Path]:
    """Image files of a frame folder, sorted by the number in their name (then by name)."""
    if not path.is_dir():
        raise PoseCliError(f"{shown_path(path)}: the frames backend needs a folder of images")
    # is_file() is False for FIFOs and devices, so a named pipe called 000001.jpg is never opened.
    files = [p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES]
    if not files:
        raise PoseCliError(f"{shown_path(path)}: folder holds no frame images ({', '.join(IMAGE_SUFFIXES)})")

    def key(p: Path) -> tuple[int, int, str]:
        digits = re.findall(r"\d+", p.stem)
        return (0, int(digits[-1]), p.name) if digits else (1, 0, p.name)

    return sorted(files, key=key)


def _read_image(file: Path) -> tuple[np.ndarray | None, str]:
    """``(H, W, 3)`` uint8 RGB, or None and why the image cannot be used.

    The bytes are read by Python (any file name works) and decoded by OpenCV while its stderr is
    captured: libjpeg reports recoverable damage only there, as a "Corrupt JPEG data" warning, and
    still returns a (partly grey or shifted) picture, which is refused here.
    """
    try:
        data = np.fromfile(file, np.uint8)
    except OSError as error:
        return None, _short(error)
    if data.size == 0:
        return None, "empty file"
    with _captured_stderr() as messages:
        image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    damage = next((m for m in messages if m.startswith(_DAMAGE_MESSAGES)), None)
    if damage is not None:
        return None, damage.split(":")[0].lower()
    if image is None:
        return None, "not a readable image"
    return cv2.cvtColor(image, cv2.COLOR_BGR2RGB), ""


# What image libraries print about damaged data (libjpeg warnings and errors, libpng errors).
_DAMAGE_MESSAGES = ("Corrupt JPEG data", "Premature end of JPEG file", "libpng error")
_LIBRARY_MESSAGES = (
    *_DAMAGE_MESSAGES, "libpng warning", "Invalid JPEG", "Unsupported JPEG", "Bogus", "Warning:"
)
_STDERR_LOCK = threading.Lock()  # one capture at a time: file descriptor 2 is shared by the process


_stderr_sink: Any = None  # the file that takes stderr during a capture, kept open between images


@contextlib.contextmanager
def _captured_stderr() -> Iterator[list[str]]:
    """Collect the lines C libraries write to file descriptor 2 inside the block.

    Lines that look like an image library's are kept (and not shown); anything else that arrived
    meanwhile (another thread's output) is written back to stderr unchanged.
    """
    global _stderr_sink
    lines: list[str] = []
    with _STDERR_LOCK:
        try:
            if _stderr_sink is None:
                _stderr_sink = tempfile.TemporaryFile()  # noqa: SIM115 - reused by every capture
            with contextlib.suppress(Exception):
                sys.stderr.flush()
            saved = os.dup(2)
        except OSError:  # no stderr (or no temporary folder): decode without capturing
            yield lines
            return
        sink = _stderr_sink
        sink.seek(0)
        sink.truncate()
        os.dup2(sink.fileno(), 2)
        try:
            yield lines
        finally:
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            others = []
            for line in sink.read().decode("utf-8", "replace").splitlines(keepends=True):
                if line.lstrip().startswith(_LIBRARY_MESSAGES):
                    lines.append(line.strip())
                else:
                    others.append(line)
            if others:
                with contextlib.suppress(OSError):
                    os.write(2, "".join(others).encode("utf-8"))


def _decord_available() -> bool:
    try:
        import decord  # noqa: F401
    except ImportError:
        return False
    return True


_DECORD_QUIETED = False


def _quiet_decord() -> None:
    """Set decord's bundled FFmpeg to print nothing (once).

    decord ships its own copy of libavutil, which logs decoder errors ("[h264 @ 0x…] error while
    decoding") straight to stderr; posecli reports damage itself, as one warning.
    """
    global _DECORD_QUIETED
    if _DECORD_QUIETED:
        return
    _DECORD_QUIETED = True
    import decord

    bundled = Path(decord.__file__).resolve().parent.parent / "decord.libs"
    for library in bundled.glob("libavutil*.so*"):
        with contextlib.suppress(OSError, AttributeError):
            # The wheel has loaded this very file already; dlopen hands back the same copy.
            ctypes.CDLL(str(library)).av_log_set_level(AV_LOG_QUIET)


def _short(error: BaseException) -> str:
    """One line describing ``error`` without repeating the file name (PyAV appends it)."""
    reason = getattr(error, "strerror", None)
    if isinstance(reason, str) and reason:
        return reason
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__


def _spans(indices: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Sorted, merged ``(first, last)`` inclusive ranges."""
    merged: list[tuple[int, int]] = []
    for first, last in sorted(indices):
        if merged and first <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], last))
        else:
            merged.append((first, last))
    return merged


def _describe(spans: list[tuple[int, int]]) -> str:
    """``frame 4``, ``frames 3–6, 20 and 33–39``, … (at most ``RANGES_SHOWN`` ranges named)."""
    named = [f"{a}" if a == b else f"{a}–{b}" for a, b in spans[:RANGES_SHOWN]]
    if len(spans) > RANGES_SHOWN:
        named.append(f"{len(spans) - RANGES_SHOWN} more ranges")
    text = named[0] if len(named) == 1 else ", ".join(named[:-1]) + " and " + named[-1]
    single = len(spans) == 1 and spans[0][0] == spans[0][1]
    return ("frame " if single else "frames ") + text


# ----------------------------------------------------------------------------------------------------
# Reading


class VideoReader:
    """Iterate over the frames of a video file or a frame folder, in order, one at a time.

    ``backend``: ``auto`` (decord, else PyAV), ``decord``, ``pyav`` or ``frames``; ``start``: index of
    the first frame to yield (a resumed run); ``fps``: frame rate of a frame folder; ``fill_gaps``:
    yield a stand-in (``VideoFrame.held``, the image of the frame decoded before it) for every lost
    frame before the last decoded one, so that indices come out consecutive. Use as a context manager
    or iterate directly; each iteration restarts from ``start``. After an iteration, ``lost`` lists
    the inclusive index ranges of frames that could not be decoded (a cut tail included),
    ``truncated`` is True after any loss or skipped corrupt data (and one ``VideoWarning`` said so),
    and ``backend_used`` lists the backends used in order (``["decord", "pyav"]`` after a fallback).
    """

    def __init__(
        self,
        path: str | Path,
        backend: str = "auto",
        start: int = 0,
        fps: float | None = None,
        fill_gaps: bool = False,
    ) -> None:
        if start < 0:
            raise PoseCliError(f"{shown_path(path)}: start frame must be >= 0, got {start}")
        self.info = probe_video(path, backend=backend, fps=fps)
        self.start = start
        self.fill_gaps = fill_gaps
        self.truncated = False
        self.lost: list[tuple[int, int]] = []
        self.backend_used: list[str] = []
        self._closer: contextlib.ExitStack | None = None
        self._seeked_to: int | None = None  # timestamp the last PyAV iteration seeked to (for tests)
        # Per iteration: ranges the backends found lost, images left out, failed packet or demuxer
        # reads, one past the highest index seen, and frames really decoded.
        self._lost: list[tuple[int, int]] = []
        self._skipped: list[tuple[Path, str]] = []
        self._errors = 0
        self._end = start
        self._decoded = 0

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
        self.lost = []
        self.backend_used = []
        self._lost, self._skipped, self._errors = [], [], 0
        self._end, self._decoded = self.start, 0
        self._closer = contextlib.ExitStack()
        backend = self.info.backend
        if backend == "frames":
            frames = self._iter_folder()
        elif backend == "decord":
            frames = self._iter_decord(self._closer)
        else:
            frames = self._iter_pyav(self._closer, self.start)
        previous: VideoFrame | None = None
        for frame in frames:
            if self.fill_gaps:
                yield from self._stand_ins(previous, frame)
            previous = frame
            self._end = max(self._end, frame.index + 1)
            self._decoded += 1
            yield frame
        self.close()
        self._report()

    def _stand_ins(self, previous: VideoFrame | None, frame: VideoFrame) -> Iterator[VideoFrame]:
        """Held frames for the indices between ``previous`` (or ``start``) and ``frame``; timestamps
        are interpolated between the two decoded neighbours."""
        first = previous.index + 1 if previous is not None else self.start
        for index in range(first, frame.index):
            if previous is not None:
                share = (index - previous.index) / (frame.index - previous.index)
                timestamp = previous.timestamp + share * (frame.timestamp - previous.timestamp)
            else:  # lost frames before the first decoded one: it stands in for them too
                timestamp = frame.timestamp - (frame.index - index) / self.info.fps
            yield VideoFrame(index, timestamp, (previous or frame).image, held=True)

    def _report(self) -> None:
        """Set ``lost`` and ``truncated`` and say, in one warning, what the iteration lost."""
        info = self.info
        lost = list(self._lost)
        end = max([self._end] + [last + 1 for _, last in lost])
        if info.backend != "frames":
            promised = info.num_frames - (0 if info.frame_count_exact else info.frame_count_slack)
            if end < promised:  # the stream ended before the container's frame count
                lost.append((end, info.num_frames - 1))
        self.lost = [(max(a, self.start), b) for a, b in _spans(lost) if b >= self.start]
        self.truncated = bool(self.lost) or self._errors > 0
        if not self.truncated:
            return
        where = shown_path(info.path)
        if self._skipped:
            named = [f"{shown_path(file.name)} ({why})" for file, why in self._skipped[:RANGES_SHOWN]]
            if len(self._skipped) > RANGES_SHOWN:
                named.append(f"{len(self._skipped) - RANGES_SHOWN} more")
            count = len(self._skipped)
            message = (
                f"{where}: {count} frame image{'s' if count > 1 else ''} could not be read and "
                f"{'were' if count > 1 else 'was'} skipped: {', '.join(named)}; "
                "the other frames keep their indices"
            )
        elif self.lost:
            total = max(info.num_frames, end)
            about = "" if info.frame_count_exact else "about "
            held = " (lost frames inside the video are filled with the frame before them)"
            message = (
                f"{where}: {_describe(self.lost)} of {about}{total} could not be decoded "
                f"(truncated or corrupt file); continuing with the {self._decoded} frames decoded"
                f"{held if self.fill_gaps else ''}"
            )
        else:
            message = (
                f"{where}: skipped {self._errors} corrupt packet{'s' if self._errors > 1 else ''} while "
                "decoding; no frame is missing"
            )
        warnings.warn(message, VideoWarning, stacklevel=3)

    def _note_lost(self, first: int, last: int, keep_from: int) -> None:
        first = max(first, keep_from)
        if first <= last:
            self._lost.append((first, last))

    # -- backends -------------------------------------------------------------------------------------

    def _iter_folder(self) -> Iterator[VideoFrame]:
        files = _frame_files(self.info.path)
        self.backend_used.append("frames")
        for index in range(self.start, len(files)):
            image, problem = _read_image(files[index])
            if image is None:  # left out; the index stays free so the others keep theirs
                self._skipped.append((files[index], problem))
                self._lost.append((index, index))
                continue
            if image.shape[:2] != (self.info.height, self.info.width):
                raise PoseCliError(
                    f"{shown_path(files[index])}: frame size {image.shape[1]}x{image.shape[0]} differs from "
                    f"the first frame's {self.info.width}x{self.info.height}"
                )
            yield VideoFrame(index, index / self.info.fps, image)

    def _iter_pyav(self, closer: contextlib.ExitStack, start: int) -> Iterator[VideoFrame]:
        """Decode with PyAV; frame ``start`` is reached by seeking when that is exact, else by decoding
        from the first frame and discarding (unconverted) the frames before it.

        Seeking needs the presentation timestamp of frame ``start``; a demux-only scan (no decoding)
        finds it, and the first frame decoded at or after it must carry exactly that timestamp,
        otherwise (the seek landed elsewhere, or that frame is damaged) the reader decodes from the
        beginning instead.
        """
        self.backend_used.append("pyav")
        target = _seek_target(self.info.path, start) if start >= SEEK_MIN_FRAMES else None
        self._seeked_to = None
        if target is not None:
            container = self._open_pyav(closer)
            stream = container.streams.video[0]
            container.seek(target, stream=stream, backward=True, any_frame=False)
            noted, errors = len(self._lost), self._errors
            frames = self._decode(container, stream, first_index=start, first_pts=target)
            first = next(frames, None)
            if first is not None and first[1].pts == target:
                self._seeked_to = target
                yield self._to_video_frame(first[1], start, stream)
                for index, frame in frames:
                    yield self._to_video_frame(frame, index, stream)
                return
            frames.close()
            del self._lost[noted:]
            self._errors = errors
        container = self._open_pyav(closer)
        stream = container.streams.video[0]
        for index, frame in self._decode(container, stream, keep_from=start):
            if index >= start:
                yield self._to_video_frame(frame, index, stream)

    def _open_pyav(self, closer: contextlib.ExitStack) -> Any:
        container = closer.enter_context(open_container(self.info.path))
        container.streams.video[0].thread_type = "AUTO"  # frame + slice threads: much faster on multi-core
        return container

    def _decode(
        self,
        container: Any,
        stream: Any,
        first_index: int = 0,
        first_pts: int | None = None,
        keep_from: int = 0,
    ) -> Generator[tuple[int, Any], None, None]:
        """``(index, PyAV frame)`` for the frames of ``stream``, skipping what does not decode.

        A packet the decoder refuses is dropped and decoding goes on with the next; a demuxer error
        is retried (the next read starts after the bad data). The index of a frame is the rank of its
        timestamp among the packet timestamps: a timestamp passed over when a later frame comes out
        (every earlier frame has left the reorder buffer by then) belongs to a lost frame, which is
        noted (from ``keep_from`` on) and keeps its index. After a seek, ``first_pts`` is the timestamp
        of frame ``first_index``; frames before it are dropped unnumbered.
        """
        waiting: list[int] = []  # timestamps of packets whose frame has not come out yet (a min-heap)
        floor = first_pts
        index = first_index
        previous: int | None = None  # timestamp of the last frame out of the decoder
        steps: deque[int] = deque(maxlen=32)  # recent distances between the timestamps of frames

        def place(frame: Any, flushing: bool) -> int | None:
            nonlocal floor, index, previous
            pts = frame.pts
            if pts is not None:
                gap = 0
                if previous is not None and pts > previous:
                    if flushing and steps and floor is None:
                        # A frame that only comes out when the decoder is flushed may have lost reorder
                        # neighbours to a cut (packets never read are not in ``waiting``): the usual
                        # distance between frames tells how many are missing before it.
                        gap = round((pts - previous) / statistics.median(steps)) - 1
                    steps.append(pts - previous)
                previous = pts
                if floor is not None:
                    if pts < floor:  # decoded on the way from the seek's keyframe to the target
                        while waiting and waiting[0] <= pts:
                            heapq.heappop(waiting)
                        return None
                    while waiting and waiting[0] < floor:
                        heapq.heappop(waiting)
                    floor = None
                missing = 0
                while waiting and waiting[0] < pts:
                    heapq.heappop(waiting)
                    missing += 1
                if waiting and waiting[0] == pts:
                    heapq.heappop(waiting)
                missing = max(missing, gap)
                if missing:
                    self._note_lost(index, index + missing - 1, keep_from)
                    index += missing
            placed = index
            index += 1
            return placed

        packets = container.demux(stream)
        failures = 0
        flushed = False
        while True:
            try:
                packet = next(packets)
            except StopIteration:
                break
            except (av.error.FFmpegError, ValueError, OSError):
                self._errors += 1
                failures += 1
                if failures > DEMUX_RETRIES:
                    break
                packets = container.demux(stream)
                continue
            failures = 0
            if packet.size == 0:  # the demuxer's end-of-stream marker: decoding it flushes the decoder
                flushed = True
            elif packet.pts is not None and not packet.is_discard:
                heapq.heappush(waiting, packet.pts)
            try:
                frames = packet.decode()
            except (av.error.FFmpegError, ValueError):
                self._errors += 1  # corrupt data: this packet's frame is lost, the next one may decode
                continue
            for frame in frames:
                placed = place(frame, flushed)
                if placed is not None:
                    yield placed, frame
        if not flushed:  # the demuxer gave up: collect what the decoder still holds
            try:
                remaining = stream.decode(None)
            except (av.error.FFmpegError, ValueError):
                remaining = []
            for frame in remaining:
                placed = place(frame, True)
                if placed is not None:
                    yield placed, frame
        if floor is None and waiting:  # packets read whose frames never came out
            self._note_lost(index, index + len(waiting) - 1, keep_from)

    def _to_video_frame(self, frame: Any, index: int, stream: Any) -> VideoFrame:
        if frame.pts is not None and stream.time_base is not None:
            timestamp = float((frame.pts - (stream.start_time or 0)) * stream.time_base)
        else:
            timestamp = index / self.info.fps
        return VideoFrame(index, timestamp, _upright(frame.to_ndarray(format="rgb24"), self.info.rotation))

    def _iter_decord(self, closer: contextlib.ExitStack) -> Iterator[VideoFrame]:
        import decord

        _quiet_decord()
        path = self.info.path
        try:
            reader = decord.VideoReader(str(path), ctx=decord.cpu(0), num_threads=0)
        except (decord.DECORDError, RuntimeError, UnicodeEncodeError):
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
                return  # (a short stream without container index is reported as cut by __iter__)
            # decord's index is shorter than the container's frame count: let PyAV deliver the rest.
        # decord failed (or ended early) at ``index``: PyAV continues from exactly that frame, and
        # skips what it cannot decode either.
        del reader  # frees decord's decoder threads before PyAV starts its own
        yield from self._iter_pyav(closer, index)


def _seek_target(path: Path | str, start: int) -> int | None:
    """Presentation timestamp of frame ``start``, from the packets of the stream without decoding.

    Decoders reorder frames only within a short window, so the ``start``-th smallest timestamp among
    the first ``start + REORDER_MARGIN`` packets is frame ``start``'s. Returns None whenever packets
    may not map one-to-one onto shown frames (missing timestamps, packets the demuxer marks to
    discard, duplicates) or the stream is shorter: the caller then decodes from the start.
    """
    stamps: list[int] = []
    try:
        with open_container(path) as container:  # a URL too, with its timeout
            stream = container.streams.video[0]
            for packet in container.demux(stream):
                if packet.size == 0:
                    continue  # the demuxer's end-of-stream marker
                if packet.pts is None or packet.is_discard or packet.is_corrupt:
                    return None
                stamps.append(packet.pts)
                if len(stamps) >= start + REORDER_MARGIN:
                    break
    except (av.error.FFmpegError, ValueError, OSError, PoseCliError):
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
