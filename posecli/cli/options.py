"""Options and small helpers shared by every command, defined once.

Commands import the ``Annotated`` aliases below so that ``--device``, ``--out-dir``, ``--quiet`` and
``--exist-ok`` mean the same thing everywhere.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import Enum
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from rich.console import Console

from posecli import device as _device
from posecli import progress as _progress
from posecli.errors import PoseCliError

console = Console()
err_console = Console(stderr=True)



class ModeChoice(str, Enum):
    """How a temporal network sees a person's supporting frames (``posecli.runner``)."""

    reuse = "reuse"
    exact = "exact"


class DetectorChoice(str, Enum):
    """Which person detector feeds the networks and ``detect``."""

    embedded = "embedded"
    rcnn = "rcnn"


class TrackerChoice(str, Enum):
    """Which tracker gives the ids."""

    bytetrack = "bytetrack"
    iou = "iou"


DeviceOption = Annotated[
    str,
    typer.Option(
        "--device",
        help="Where networks run: auto (CUDA if available, else CPU, with a note), cpu, cuda or cuda:N.",
    ),
]
DetectorOption = Annotated[
    DetectorChoice,
    typer.Option(
        "--detector",
        help="embedded (BlazePose person boxes, offline, CPU) or rcnn (torchvision Faster R-CNN on --device; "
        "weights downloaded once, sha256-checked, or --detector-weights).",
    ),
]
DetectorWeightsOption = Annotated[
    Path | None, typer.Option("--detector-weights", help="Faster R-CNN weights file (skips the download).")
]
OutDirOption = Annotated[
    Path | None,
    typer.Option("--out-dir", "-o", help="Folder for the outputs (default: runs/<command>).", file_okay=False),
]
QuietOption = Annotated[bool, typer.Option("--quiet", "-q", help="No progress bars or notes; errors still print.")]
VideosArgument = Annotated[
    list[str],  # not Path: Path('http://host/v.mp4') collapses the URL's //
    typer.Argument(
        help="Video files, frame folders (PoseTrack layout), folders of videos (every video in it, sorted), "
        "quoted glob patterns ('clips/*.mp4') or http(s):// / rtsp:// URLs.",
        show_default=False,
    ),
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
    TrackerChoice, typer.Option("--tracker", help="bytetrack (Kalman boxes, IoU + pose cost, re-identification) or iou.")
]
ExistOkOption = Annotated[
    bool, typer.Option("--exist-ok", help="Overwrite existing output files instead of refusing.")
]
# Drawing (estimate's overlay and render). The default equals posecli.export.overlay.DEFAULT_KPT_THR (kept
# literal here so that `posecli --help` does not import OpenCV; a test checks that they agree).
DEFAULT_KPT_THR = 0.3
KptThrOption = Annotated[
    float,
    typer.Option(
        "--kpt-thr", min=0.0, max=1.0,
        help="Joints scored below this are not drawn, and are written with PoseTrack visibility 0 / COCO v=1 "
        "(their scores stay in the files).",
    ),
]
RadiusOption = Annotated[
    int | None, typer.Option("--radius", min=0, help="Joint dot radius in pixels (default: scaled with the frame).")
]
ThicknessOption = Annotated[
    int | None, typer.Option("--thickness", min=1, help="Line width in pixels (default: scaled with the frame).")
]


def resolve_device(spec: str, quiet: bool = False) -> str:
    """Turn ``auto|cpu|cuda|cuda:N`` into a checked torch device string (``posecli.device``)."""
    return _device.resolve_device(spec, quiet=quiet)


def check_device_spec(spec: str) -> str:
    """``--device`` checked for its spelling only (no torch import; ``posecli.device``)."""
    return _device.check_device_spec(spec)


def resolve_out_dir(out_dir: Path | None, command: str, create: bool = True) -> Path:
    """The output folder: ``out_dir`` or ``runs/<command>``; created if missing unless ``create`` is
    False (the jobs create it themselves once the inputs are checked, so bad input leaves nothing)."""
    path = out_dir if out_dir is not None else Path("runs") / command
    if path.exists() and not path.is_dir():
        raise PoseCliError(f"--out-dir: {path} exists and is not a folder")
    if create:
        path.mkdir(parents=True, exist_ok=True)
    return path


def refuse_overwrite(paths: Iterable[Path], exist_ok: bool) -> None:
    """Raise ``PoseCliError`` naming the first existing path unless ``exist_ok``."""
    if exist_ok:
        return
    for path in paths:
        if path.exists():
            raise PoseCliError(f"{path} already exists (pass --exist-ok to overwrite, or choose another --out-dir)")


def print_summary(line: str, outputs: tuple[Path, ...] | list[Path]) -> None:
    """One video's summary line, then each output path whole on its own line (copyable, never split)."""
    console.print(line, highlight=False, soft_wrap=True, markup=False)
    for path in outputs:
        console.print(f"  {path}", highlight=False, soft_wrap=True, markup=False)


def note(message: str) -> None:
    """A dim one-line note on stderr."""
    _progress.note(message)


def not_landed(command: str, issue: int) -> NoReturn:
    """Say in one line that ``command`` is not implemented yet, and exit with code 2."""
    err_console.print(
        f"[yellow]posecli {command}: not available yet in this version (tracked in issue #{issue}).[/yellow]",
        highlight=False,
    )
    raise typer.Exit(code=2)
