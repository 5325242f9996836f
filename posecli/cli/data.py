"""``posecli data``: synthetic PoseTrack-format data and dataset checks (issue #5)."""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from posecli.cli.options import ExistOkOption, QuietOption, console, refuse_overwrite
from posecli.errors import PoseCliError

app = typer.Typer(
    help="Generate synthetic PoseTrack-format videos and inspect datasets.", no_args_is_help=True
)


class LayoutChoice(str, Enum):
    """PoseTrack layouts the generator can write."""

    posetrack18 = "posetrack18"
    posetrack17 = "posetrack17"
    posetrack21 = "posetrack21"


def _parse_size(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d+)\s*[xX]\s*(\d+)\s*", text)
    if not match:
        raise PoseCliError(f"--size: '{text}' is not WxH, e.g. 320x240")
    return int(match.group(1)), int(match.group(2))


@app.command("synth")
def synth(
    out: Annotated[Path, typer.Option("--out", help="Dataset folder to create.", file_okay=False)],
    videos: Annotated[int, typer.Option("--videos", help="Training videos.", min=1)] = 4,
    val_videos: Annotated[int, typer.Option("--val-videos", help="Validation videos.", min=0)] = 1,
    frames: Annotated[int, typer.Option("--frames", help="Frames per video.", min=1)] = 16,
    people: Annotated[int, typer.Option("--people", help="Moving figures per video.", min=0)] = 2,
    seed: Annotated[
        int, typer.Option("--seed", help="Generator seed; the same seed gives identical files.")
    ] = 0,
    size: Annotated[str, typer.Option("--size", help="Frame size WxH in pixels.")] = "320x240",
    layout: Annotated[
        LayoutChoice, typer.Option("--layout", help="Folder and JSON layout to write.")
    ] = LayoutChoice.posetrack18,
    label_every: Annotated[
        int, typer.Option("--label-every", help="Annotate every n-th frame (is_labeled).", min=1)
    ] = 2,
    exist_ok: ExistOkOption = False,
    quiet: QuietOption = False,
) -> None:
    """Generate PoseTrack-format synthetic videos with moving articulated figures (2018 layout by default)."""
    from posecli.data.synthetic import write_synthetic_dataset

    refuse_overwrite(
        [p for p in (out / "annotations", out / "posetrack_data", out / "posetrack17_json_files")], exist_ok
    )
    names = write_synthetic_dataset(
        out,
        videos=videos,
        frames=frames,
        people=people,
        seed=seed,
        size=_parse_size(size),
        val_videos=val_videos,
        layout=layout.value,
        label_every=label_every,
        quiet=quiet,
    )
    if not quiet:
        console.print(f"wrote {len(names['train'])} train and {len(names['val'])} val videos to {out}")


@app.command("check")
def check(
    data_root: Annotated[Path, typer.Option("--data-root", help="PoseTrack dataset root (layout detected).")],
    split: Annotated[str, typer.Option("--split", help="Split to read: train or val.")] = "train",
) -> None:
    """Read a PoseTrack dataset split and print what was found (layout, videos, frames, persons)."""
    from posecli.data.posetrack import read_posetrack, summarize_split

    summary = summarize_split(read_posetrack(data_root, split))
    for key, value in summary.items():
        console.print(f"{key}: {value}", highlight=False)
