"""One run at a time per output: a lock file per output stem, and the sweep of orphaned temporaries.

Two runs that write the same outputs into one folder would overwrite each other's files (each one
atomically, so the survivors are whole but come from different runs). ``lock_outputs`` takes an
exclusive ``flock`` on ``<out>/.<key>.lock`` for as long as the outputs are being written; a second
run fails at once with one line naming the first run's process id. The kernel drops a ``flock`` when
its process ends, however it ends, so a lock file left by ``kill -9`` is simply taken over.

While the lock is held no other posecli process writes those outputs, so temporary files of them
(``posecli.atomic.temporary_files``) can only be orphans of an earlier run that was killed:
``sweep_temporary_files`` removes them. ``claim_outputs`` does all of it for one run's outputs.
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path

from posecli.atomic import naming_path, temporary_files
from posecli.errors import PoseCliError

try:
    import fcntl
except ImportError:  # Windows has no flock; outputs are still written atomically, just not locked
    fcntl = None  # type: ignore[assignment]


def lock_path(out_dir: Path, key: str) -> Path:
    """The lock file guarding the outputs named ``<key>…`` in ``out_dir``."""
    return out_dir / f".{key}.lock"


@contextlib.contextmanager
def lock_outputs(out_dir: Path, key: str) -> Iterator[Path]:
    """Hold the lock of the outputs ``<out_dir>/<key>.*`` for the block; yields the lock file.

    Raises ``PoseCliError`` ("… is being written by another posecli run (pid N)") when another
    process holds it. The lock file is removed when the block ends.
    """
    path = lock_path(out_dir, key)
    if fcntl is None:
        yield path
        return
    fd = _acquire(path, out_dir / f"{key}.*")
    if fd is None:  # a file system without locks (some network mounts): outputs are still atomic
        yield path
        return
    try:
        yield path
    finally:
        # unlink while still holding the lock: a run waiting on this file sees it vanish and retries
        with contextlib.suppress(OSError):
            os.unlink(path)
        os.close(fd)


def _acquire(path: Path, outputs: Path) -> int | None:
    """The locked file descriptor of ``path``, or None where its file system has no locks."""
    while True:
        with naming_path(path):
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _read_pid(fd)
            os.close(fd)
            raise PoseCliError(
                f"{outputs} is being written by another posecli run (pid {holder}); wait for it to end "
                "or choose another --out-dir"
            ) from None
        except OSError as error:
            os.close(fd)
            if error.errno in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                with contextlib.suppress(OSError):
                    os.unlink(path)
                return None
            error.filename = os.fspath(path)
            raise
        # The run that held the lock may have removed the file between our open() and flock(): then
        # this lock guards a file nobody else will open, and a fresh one must be taken.
        try:
            current = os.stat(path)
        except FileNotFoundError:
            current = None
        if current is not None and os.path.samestat(os.fstat(fd), current):
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
            return fd
        os.close(fd)


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"


def sweep_temporary_files(targets: Iterable[Path]) -> list[Path]:
    """Remove the orphaned temporary files of ``targets`` (call only while holding their lock);
    returns what was removed."""
    removed = []
    for target in targets:
        for orphan in temporary_files(target):
            with contextlib.suppress(FileNotFoundError):
                orphan.unlink()
                removed.append(orphan)
    return removed


@contextlib.contextmanager
def claim_outputs(out_dir: Path, groups: Mapping[str, Iterable[Path]]) -> Iterator[None]:
    """Own the outputs of one run for the block: create ``out_dir`` if needed, lock every group
    (``{lock key: the files it guards}``), then remove the orphaned temporary files of those files.

    If the block fails and ``out_dir`` was created here and is still empty, it is removed again: a
    run that wrote nothing leaves nothing behind.
    """
    created = not out_dir.exists()
    with naming_path(out_dir):
        out_dir.mkdir(parents=True, exist_ok=True)
    try:
        with contextlib.ExitStack() as locks:
            for key, files in groups.items():
                locks.enter_context(lock_outputs(out_dir, key))
                sweep_temporary_files(files)
            yield
    except BaseException:
        if created:
            with contextlib.suppress(OSError):
                out_dir.rmdir()  # only succeeds while empty
        raise


def refuse_clashing_outputs(sources: Iterable[Path], outputs: Iterable[Path], exist_ok: bool) -> None:
    """Before a run: two inputs of one call that would write the same output, or an output that
    exists without ``exist_ok``, is one ``PoseCliError`` naming both (the lock only keeps runs apart)."""
    owner: dict[Path, Path] = {}
    for source, path in zip(sources, outputs, strict=True):
        if path in owner:
            raise PoseCliError(f"{source} and {owner[path]} would both write {path.name}; rename one of them")
        owner[path] = source
        if path.exists() and not exist_ok:
            raise PoseCliError(f"{path} already exists (pass --exist-ok to overwrite, or choose another --out-dir)")
