"""``posecli train``: train FAMI-Pose, TDMI or HRNet on PoseTrack or synthetic data (issue #5).

The same command runs on several GPUs under ``torchrun --nproc-per-node N -m posecli train …``.
It prints one line per epoch (also into a pipe or a log file; not with ``--quiet``) and at the end the
best validation score, its epoch and the ``best``/``last`` checkpoint paths. Interrupted, it prints the
command that continues the run (``--resume auto``) and exits with 130.
"""

from __future__ import annotations

import shlex
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.markup import escape

from posecli.cli.options import DeviceOption, QuietOption, console, err_console, resolve_device

if TYPE_CHECKING:
    from posecli.train import EpochSummary


class DataKind(str, Enum):
    """Where the training clips come from."""

    posetrack = "posetrack"
    synthetic = "synthetic"


def train(
    config: Annotated[
        Path,
        typer.Option(
            "--config",
            "-c",
            help="Experiment recipe (YAML), e.g. configs/fami_hrnet-w48_posetrack17_384x288.yaml.",
        ),
    ],
    data_root: Annotated[
        Path,
        typer.Option(
            "--data-root",
            help=(
                "Dataset root (PoseTrack17/18/21 layout, detected); for synthetic data the folder to "
                "generate into or reuse."
            ),
        ),
    ],
    data: Annotated[
        DataKind,
        typer.Option(
            "--data", help="posetrack: a real dataset; synthetic: generated PoseTrack18-format videos."
        ),
    ] = DataKind.posetrack,
    overrides: Annotated[
        list[str] | None,
        typer.Option(
            "--set",
            metavar="KEY=VALUE",
            help="Override one config value, e.g. --set train.lr=1e-4 (repeatable; values are YAML).",
        ),
    ] = None,
    resume: Annotated[
        str | None,
        typer.Option(
            "--resume",
            metavar="auto|PATH",
            help="'auto' continues from <out-dir>/last.json when present; or a run folder / last.json.",
        ),
    ] = None,
    out_dir: Annotated[
        Path | None,
        typer.Option(
            "--out-dir",
            "-o",
            help="Run folder for logs and checkpoints (default: runs/train/<config name>).",
            file_okay=False,
        ),
    ] = None,
    device: DeviceOption = "auto",
    quiet: QuietOption = False,
) -> None:
    """Train FAMI-Pose, TDMI or HRNet on PoseTrack or synthetic data, with validation and checkpoints.

    Example (a frozen FAMI-Pose backbone needs a trained HRNet-W48, e.g. from `posecli weights pull
    hrnet_w48_posetrack18_384x288_mmpose`):

    posecli train --config configs/fami_hrnet-w48_posetrack17_384x288.yaml --data-root data/posetrack17
    --set train.init_checkpoint=PATH

    Several GPUs (DDP; rank 0 logs, validates and writes checkpoints):

    torchrun --nproc-per-node 2 -m posecli train --config configs/tdmi_hrnet-w48_posetrack17_384x288.yaml
    --data-root data/posetrack17

    A quick run on generated data: posecli train --data synthetic --data-root runs/synthetic
    --config configs/fami_hrnet-w8_synthetic_128x96.yaml
    """
    from posecli.train import format_epoch, run_training, summary_lines

    def show_epoch(summary: EpochSummary) -> None:
        console.print(format_epoch(summary), markup=False, highlight=False, soft_wrap=True)

    try:
        result = run_training(
            config_path=config,
            data=data.value,
            data_root=data_root,
            overrides=overrides or [],
            resume=resume,
            out_dir=out_dir,
            device=resolve_device(device, quiet),
            quiet=quiet,
            on_epoch=None if quiet else show_epoch,
        )
    except KeyboardInterrupt:
        again = resume_command(config, data_root, data.value, overrides or [], out_dir, device)
        message = f"[red]posecli train: interrupted; continue with: {escape(again)}[/red]"
        err_console.print(message, highlight=False, soft_wrap=True)
        raise typer.Exit(code=130) from None
    if result.main:
        for line in summary_lines(result):
            console.print(line, markup=False, highlight=False, soft_wrap=True)


def resume_command(
    config: Path, data_root: Path, data: str, overrides: list[str], out_dir: Path | None, device: str
) -> str:
    """The ``posecli train`` command line that continues a run started with these options."""
    words = ["posecli", "train", "--config", str(config), "--data-root", str(data_root)]
    if data != DataKind.posetrack.value:
        words += ["--data", data]
    for item in overrides:
        words += ["--set", item]
    if out_dir is not None:
        words += ["--out-dir", str(out_dir)]
    if device != "auto":
        words += ["--device", device]
    return shlex.join([*words, "--resume", "auto"])
