"""``posecli eval``: official PoseTrack AP and MOTA (issue #4)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from posecli.atomic import atomic_write_json
from posecli.cli.options import ExistOkOption, QuietOption, console, err_console, refuse_overwrite
from posecli.evaluation.posetrack import evaluate_posetrack
from posecli.evaluation.report import print_report


class EvalMode(str, Enum):
    """Which official evaluator to reproduce."""

    poseval = "poseval"
    posetrack21 = "posetrack21"


def evaluate(
    pred: Annotated[
        Path,
        typer.Argument(
            help="Predictions: a folder of per-sequence *.json files or one file (2017 or 2018 format)."
        ),
    ],
    gt: Annotated[
        Path, typer.Option("--gt", help="Ground truth: a folder of per-sequence *.json files or one file.")
    ],
    mode: Annotated[
        EvalMode,
        typer.Option(help="poseval: PoseTrack 2017/2018 AP + MOTA; posetrack21: the PoseTrack21 kit's mAP."),
    ] = EvalMode.poseval,
    metrics: Annotated[
        str | None,
        typer.Option(
            help="Comma-separated: ap, mota (poseval mode only), oks (COCO OKS AP). "
            "Default: ap,mota (poseval) or ap (posetrack21)."
        ),
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", help="Write every metric, counts, pairing report and GT fingerprint here."),
    ] = None,
    per_sequence: Annotated[
        bool, typer.Option("--per-sequence", help="Also score each sequence alone.")
    ] = False,
    quiet: QuietOption = False,
    exist_ok: ExistOkOption = False,
) -> None:
    """Score predictions against PoseTrack ground truth: per-joint AP (PCKh@0.5) and MOTA, as poseval."""
    if json_path is not None:
        refuse_overwrite([json_path], exist_ok)
    chosen = metrics.split(",") if metrics else (["ap", "mota"] if mode is EvalMode.poseval else ["ap"])
    result = evaluate_posetrack(
        pred=pred, gt=gt, mode=mode.value, metrics=chosen, per_sequence=per_sequence, quiet=quiet
    )
    print_report(result, console=console, warn=err_console, per_sequence=per_sequence, quiet=quiet)
    if json_path is not None:
        atomic_write_json(json_path, result.to_dict(), indent=2)
