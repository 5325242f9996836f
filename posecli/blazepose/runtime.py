"""Loading a TFLite model with the LiteRT interpreter, with errors a user can act on."""

from __future__ import annotations

import os
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
        interpreter = Interpreter(model_path=str(path), num_threads=num_threads)
        interpreter.allocate_tensors()
    except (ValueError, RuntimeError) as error:
        raise PoseCliError(f"{path}: not a valid TFLite model ({error})") from error
    return interpreter
