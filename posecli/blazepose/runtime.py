"""Loading a TFLite model with the LiteRT interpreter, with errors a user can act on."""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from posecli.errors import PoseCliError


def load_interpreter(model_path: str | Path, num_threads: int | None = None) -> Any:
    """An allocated ``ai_edge_litert`` interpreter for ``model_path``.

    ``num_threads`` defaults to the number of CPU cores available to this process.
    """
    path = Path(model_path)
    if not path.is_file():
        raise PoseCliError(f"{path}: model file not found (run `posecli weights verify`)")
    try:
        from ai_edge_litert.interpreter import Interpreter
    except ImportError as error:  # pragma: no cover - a dependency of the package
        raise PoseCliError("the embedded model needs the 'ai-edge-litert' package (pip install ai-edge-litert)") from error
    if num_threads is None:
        num_threads = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    try:
        with _native_stderr_silenced():
            interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
            interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        raise PoseCliError(f"{path}: not a valid TFLite model ({error})") from error
    return interpreter


@contextlib.contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """Send file descriptor 2 to /dev/null for the duration: LiteRT's C++ runtime prints an INFO line
    ("Created TensorFlow Lite XNNPACK delegate") into every run's output otherwise. Python-level
    errors are exceptions, so nothing a user needs is lost."""
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # stderr replaced (pytest capture, CliRunner)
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    try:
        with open(os.devnull, "w") as null:
            os.dup2(null.fileno(), fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
