"""Where networks run: ``auto``, ``cpu``, ``cuda`` or ``cuda:N`` turned into a checked torch device.

torch is imported only for a CUDA question, so checking a ``--device`` spelling is free, and a run
that never starts a network (the embedded model, bad input) never pays for torch or prints the CPU
note.
"""

from __future__ import annotations

import re

from posecli.errors import PoseCliError
from posecli.progress import note

_SPEC = re.compile(r"auto|cpu|cuda(:\d+)?")


def check_device_spec(spec: str) -> str:
    """``spec`` lower-cased if it is one of ``auto|cpu|cuda|cuda:N``; ``PoseCliError`` otherwise."""
    spec = spec.strip().lower()
    if not _SPEC.fullmatch(spec):
        raise PoseCliError(f"--device: '{spec}' is not one of auto, cpu, cuda, cuda:N")
    return spec


def resolve_device(spec: str, quiet: bool = False) -> str:
    """Turn ``auto|cpu|cuda|cuda:N`` into a torch device string, checking that it exists.

    ``auto`` falls back to the CPU with a note (unless ``quiet``) when CUDA is not available; call it
    only when a network is about to run, so the note is true when it appears.
    """
    spec = check_device_spec(spec)
    if spec == "cpu":
        return "cpu"
    import torch

    available = torch.cuda.is_available()
    if spec == "auto":
        if available:
            return "cuda:0"
        if not quiet:
            note("no CUDA device found; running on the CPU")
        return "cpu"
    if not available:
        raise PoseCliError(f"--device {spec}: CUDA is not available on this machine (use --device cpu)")
    index = int(spec.split(":")[1]) if ":" in spec else 0
    if index >= torch.cuda.device_count():
        raise PoseCliError(f"--device {spec}: only {torch.cuda.device_count()} CUDA device(s) present")
    return f"cuda:{index}"
