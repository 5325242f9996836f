"""Options and small helpers shared by every command, defined once.

Commands import the ``Annotated`` aliases below so that ``--device``, ``--out-dir``, ``--quiet`` and
``--exist-ok`` mean the same thing everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from posecli.errors import PoseCliError

console = Console()
err_console = Console(stderr=True)

DeviceOption = Annotated[
    str,
    typer.Option(
        "--device",
        help="Where networks run: auto (CUDA if available, else CPU, with a note), cpu, cuda or cuda:N.",
    ),
]
OutDirOption = Annotated[
    Path | None,
    typer.Option("--out-dir", "-o", help="Folder for the outputs (default: runs/<command>).", file_okay=False),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or notes; errors still print.")]
VideosArgument = Annotated[
    list[Path],
    typer.Argument(help="Video files, or folders of frames (PoseTrack layout).", show_default=False),
]
WeightsOption = Annotated[
    Path | None,
    typer.Option(
        "--weights",
        help="Networks: a posecli checkpoint or a manifest name (`posecli weights list`); embedded model: "
        "a folder with its .tflite files.",
    ),
]
TrackerOption = Annotated[
    str, typer.Option("--tracker", help="bytetrack (Kalman boxes, IoU + pose cost, re-identification) or iou.")
]
ExistOkOption = Annotated[
    bool, typer.Option("--exist-ok", help="Overwrite existing output files instead of refusing.")
]


def resolve_device(spec: str, quiet: bool = False) -> str:
    """Turn ``auto|cpu|cuda|cuda:N`` into a torch device string, checking that it exists.

    ``auto`` falls back to the CPU with a note when CUDA is not available.
    """
    spec = spec.strip().lower()
    if not re.fullmatch(r"auto|cpu|cuda(:\d+)?", spec):
        raise PoseCliError(f"--device: '{spec}' is not one of auto, cpu, cuda, cuda:N")
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


def resolve_out_dir(out_dir: Path | None, command: str) -> Path:
    """The output folder: ``out_dir`` or ``runs/<command>``; created if missing."""
    path = out_dir if out_dir is not None else Path("runs") / command
    if path.exists() and not path.is_dir():
        raise PoseCliError(f"--out-dir: {path} exists and is not a folder")
    path.mkdir(parents=True, exist_ok=True)
    return path


def refuse_overwrite(paths: Iterable[Path], exist_ok: bool) -> None:
    """Raise ``PoseCliError`` naming the first existing path unless ``exist_ok``."""
    if exist_ok:
        return
    for path in paths:
        if path.exists():
            raise PoseCliError(f"{path} already exists (pass --exist-ok to overwrite, or choose another --out-dir)")


def note(message: str) -> None:
    """A dim one-line note on stderr."""
    err_console.print(f"[dim]note: {message}[/dim]", highlight=False)


def not_landed(command: str, issue: int) -> NoReturn:
    """Say in one line that ``command`` is not implemented yet, and exit with code 2."""
    err_console.print(
        f"[yellow]posecli {command}: not available yet in this version (tracked in issue #{issue}).[/yellow]",
        highlight=False,
    )
    raise typer.Exit(code=2)
