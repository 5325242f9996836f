"""``posecli import``: corrected annotations back to a PoseTrack 2018 folder for ``train`` and ``eval``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posecli.cli.export_annotations import ExportFormat
from posecli.cli.options import ExistOkOption, QuietOption, print_summary


def import_(
    annotations: Annotated[
        Path,
        typer.Argument(
            help="The annotation file (CVAT zip or XML, COCO JSON, Label Studio JSON export).",
            show_default=False,
        ),
    ],
    source: Annotated[ExportFormat, typer.Option("--from", help="Its format.")],
    video: Annotated[
        Path, typer.Option("--video", help="The annotated video (its frames are written for training).")
    ],
    out_dir: Annotated[
        Path,
        typer.Option(
            "--out-dir",
            "-o",
            help="Dataset root: annotations/<split>/<video>.json and images/<split>/<video>/.",
            file_okay=False,
        ),
    ],
    split: Annotated[str, typer.Option("--split", help="train or val.")] = "train",
    exist_ok: ExistOkOption = False,
    quiet: QuietOption = False,
) -> None:
    """Read corrections into a PoseTrack 2018 dataset: posecli train --data posetrack --data-root DIR."""
    from posecli.annotation.exchange import import_annotations

    summary = import_annotations(
        annotations, source.value, video=video, out_dir=out_dir, split=split, exist_ok=exist_ok, quiet=quiet
    )
    line = (
        f"{annotations}: {summary.frames} frames ({summary.labeled} labelled), {summary.people} people, "
        f"{summary.tracks} tracks"
    )
    print_summary(line, [summary.annotation_file, summary.images])
