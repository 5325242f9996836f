"""The videos named on a command line: files, folders, glob patterns and URLs, expanded in order.

* a video file, or a frame folder (a folder holding frame images, PoseTrack layout): one video;
* a folder holding no frame images: every video file in it (by extension), sorted by name;
* a glob pattern that names no existing path (``'clips/*.mp4'``, ``'runs/**/*.mov'``; quoted, so the
  shell leaves it to posecli): every video file and frame folder it matches, sorted;
* an ``http(s)://`` or ``rtsp(s)://`` URL: opened by FFmpeg through PyAV; kept as a ``str``, since
  ``Path`` would collapse its ``//``.

A URL's outputs are named after the file stem of its path (``http://host/a/clip.mp4?x=1`` → ``clip``).
Nothing here imports PyAV, OpenCV or torch.
"""

from __future__ import annotations

import glob
import os
import stat
from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from posecli.errors import PoseCliError

URL_SCHEMES = ("http://", "https://", "rtsp://", "rtsps://")
VIDEO_SUFFIXES = (
    ".mp4", ".m4v", ".mov", ".mkv", ".webm", ".avi", ".mpg", ".mpeg", ".ts", ".mts", ".wmv", ".flv", ".3gp", ".ogv",
)  # fmt: skip
FRAME_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp")  # as posecli.video reads frame folders
GLOB_CHARACTERS = frozenset("*?[")

VideoSource = Path | str  # a path, or a URL kept as text


def is_url(text: str | os.PathLike[str]) -> bool:
    """Whether ``text`` is a URL FFmpeg opens (``http(s)://``, ``rtsp(s)://``) rather than a path."""
    return isinstance(text, str) and text.lower().startswith(URL_SCHEMES)


def video_source(text: str | os.PathLike[str]) -> VideoSource:
    """One command-line video: a URL stays text, anything else is a ``Path``."""
    return str(text) if is_url(text) else Path(text)


def source_name(source: VideoSource) -> str:
    """The file name of a path or of a URL's path (``http://h/v/clip.mp4?a=1`` → ``clip.mp4``)."""
    if isinstance(source, str) and is_url(source):
        name = unquote(urlsplit(source).path.rstrip("/").rsplit("/", 1)[-1])
        return name or urlsplit(source).hostname or "stream"
    return Path(source).name


def source_stem(source: VideoSource) -> str:
    """What outputs are named by: the file stem (a frame folder's whole name)."""
    name = source_name(source)
    return Path(name).stem if Path(name).suffix else name


def expand_inputs(items: Iterable[str | os.PathLike[str]]) -> list[VideoSource]:
    """Every video the command-line ``items`` name, in order (see the module docstring).

    Raises one ``PoseCliError`` line for a folder with neither videos nor frame images, and for a
    pattern that matches nothing. Missing paths are left to the video reader, which names them.
    """
    videos: list[VideoSource] = []
    for item in items:
        text = os.fspath(item)
        if is_url(text):
            videos.append(text)
            continue
        path = Path(text)
        if not _exists(path) and GLOB_CHARACTERS & set(text):
            matches = sorted(glob.glob(text, recursive=True))
            found = [Path(m) for m in matches if _is_video_file(Path(m)) or _is_frame_folder(Path(m))]
            if not found:
                raise PoseCliError(f"{text}: the pattern matches no video file or frame folder")
            videos.extend(found)
        elif _is_dir(path) and not _is_frame_folder(path):
            found = sorted((p for p in path.iterdir() if _is_video_file(p)), key=lambda p: p.name)
            if not found:
                raise PoseCliError(
                    f"{path}: the folder holds no video files ({', '.join(VIDEO_SUFFIXES[:6])}, …) "
                    f"and no frame images ({', '.join(FRAME_SUFFIXES)})"
                )
            videos.extend(found)
        else:
            videos.append(path)
    return videos


def _exists(path: Path) -> bool:
    try:
        os.stat(path)
    except (OSError, ValueError):
        return False
    return True


def _is_dir(path: Path) -> bool:
    try:
        return stat.S_ISDIR(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False


def _is_video_file(path: Path) -> bool:
    """A regular file with a video extension (a FIFO named ``x.mp4`` is not opened by the listing)."""
    try:
        regular = stat.S_ISREG(os.stat(path).st_mode)
    except (OSError, ValueError):
        return False
    return regular and path.suffix.lower() in VIDEO_SUFFIXES and not path.name.startswith(".")


def _is_frame_folder(path: Path) -> bool:
    """A folder holding at least one frame image (then it is one video, as ``posecli.video`` reads it)."""
    if not _is_dir(path):
        return False
    try:
        return any(p.suffix.lower() in FRAME_SUFFIXES and p.is_file() for p in path.iterdir())
    except OSError:
        return False
