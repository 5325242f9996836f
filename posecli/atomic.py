"""Atomic file output: write to a temporary file beside the target, then rename over it.

A crash or Ctrl-C while writing therefore never leaves a half-written file under the final name,
and an older complete file is kept until the new one is whole. A ``kill -9`` can leave the temporary
file behind: ``temporary_files`` finds those of a target so that the next run can remove them.

An ``OSError`` raised while writing (a full disk, a read-only folder) names the target file: the
system reports ``[Errno 28]`` from ``write()`` without any path.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from posecli.errors import PoseCliError

# atomic_path's temporary names: "." + target name + "." + 8 mkstemp characters [a-z0-9_] + suffix
# (".tmp<ext>" or ".partial"); a killed write leaves such a file behind
_MKSTEMP_TAIL = r"[a-z0-9_]{8}(\.tmp[^/]*|\.partial)"


@contextlib.contextmanager
def naming_path(path: str | os.PathLike[str]) -> Iterator[None]:
    """Give an ``OSError`` raised in the block that names no file the name ``path``."""
    try:
        yield
    except OSError as error:
        if error.filename is None:
            error.filename = os.fspath(path)
        raise


def temporary_files(path: str | os.PathLike[str]) -> list[Path]:
    """Temporary files that ``atomic_path`` made for ``path`` and that still exist (left by a run
    that was killed; a live writer's too, so only call this while holding the output's lock)."""
    target = Path(path)
    pattern = re.compile(re.escape(f".{target.name}.") + _MKSTEMP_TAIL)
    try:
        names = os.listdir(target.parent)
    except OSError:
        return []
    return sorted(target.parent / n for n in names if pattern.fullmatch(n))


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], suffix: str | None = None) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; on success it is renamed to ``path``, on error removed.

    The temporary name ends with ``.tmp<target suffix>`` (or ``suffix``) so that writers that pick
    a container format from the extension (PyAV, OpenCV) still see the right one.
    """
    target = Path(path)
    tmp_suffix = suffix if suffix is not None else ".tmp" + target.suffix
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=tmp_suffix, dir=target.parent)
    except OSError as error:  # name the file wanted, not a random temporary name
        error.filename, error.filename2 = os.fspath(target), None
        raise
    os.close(fd)
    # mkstemp creates 0600 files; give the output the permissions a plain open() would (0666 & ~umask).
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp_name, 0o666 & ~umask)
    tmp = Path(tmp_name)
    try:
        with naming_path(target):
            yield tmp
            os.replace(tmp, target)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (fsynced before the rename)."""
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: Any, indent: int | None = None) -> None:
    """Serialise ``obj`` as JSON (NaN refused: write ``None`` instead) and write it atomically."""
    atomic_write_text(path, json.dumps(obj, indent=indent, allow_nan=False) + "\n")


_TEMPORARY_NAME = re.compile(r"\..+\." + _MKSTEMP_TAIL)


def is_temporary_name(name: str) -> bool:
    """Whether a file name is one of ``atomic_path``'s temporary names (of any target)."""
    return _TEMPORARY_NAME.fullmatch(name) is not None


def atomic_link(path: str | os.PathLike[str], source: str | os.PathLike[str]) -> None:
    """Atomically make ``path`` a hard link to (or, where links fail, a copy of) ``source``."""
    with atomic_path(path) as tmp:
        tmp.unlink()
        try:
            os.link(source, tmp)
        except OSError:
            tmp.write_bytes(Path(source).read_bytes())


def fsync_path(path: str | os.PathLike[str]) -> None:
    """Flush a file's (or a folder's entries') data to disk; a no-op where the OS cannot fsync it."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:  # e.g. folders on some file systems
        pass
    finally:
        os.close(fd)


@contextlib.contextmanager
def writing(path: str | os.PathLike[str], what: str = "file") -> Iterator[None]:
    """Turn an ``OSError`` in the block (full disk, read-only folder) into one ``PoseCliError`` line
    naming ``path`` and what was being written."""
    try:
        yield
    except OSError as error:
        raise PoseCliError(f"{path}: cannot write the {what} ({os_reason(error)})") from None


def os_reason(error: OSError) -> str:
    """The reason of an ``OSError`` without its file name, e.g. ``No space left on device``."""
    return error.strerror or (str(error.args[0]) if error.args else "") or type(error).__name__
