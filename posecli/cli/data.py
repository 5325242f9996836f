"""``posecli data``: synthetic PoseTrack-format data and dataset checks (issue #5)."""

from __future__ import annotations

import re
from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from posecli.cli.options import QuietOption, console, note
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
    out_dir: Annotated[
        Path | None,
        typer.Option("--out-dir", "-o", help="Dataset folder to create (required).", file_okay=False),
    ] = None,
    out: Annotated[
        Path | None,
        typer.Option("--out", hidden=True, help="Deprecated spelling of --out-dir.", file_okay=False),
    ] = None,
    videos: Annotated[int, typer.Option("--videos", help="Training videos (1 to 100,000).")] = 4,
    val_videos: Annotated[int, typer.Option("--val-videos", help="Validation videos (0 to 100,000).")] = 1,
    frames: Annotated[int, typer.Option("--frames", help="Frames per video (1 to 9,999).")] = 16,
    people: Annotated[int, typer.Option("--people", help="Moving figures per video (0 to 99).")] = 2,
    seed: Annotated[
        int, typer.Option("--seed", help="Generator seed (≥ 0); the same seed gives identical files.")
    ] = 0,
    size: Annotated[
        str, typer.Option("--size", help="Frame size WxH in pixels, 64x64 to 4096x4096.")
    ] = "320x240",
    layout: Annotated[
        LayoutChoice, typer.Option("--layout", help="Folder and JSON layout to write.")
    ] = LayoutChoice.posetrack18,
    label_every: Annotated[
        int, typer.Option("--label-every", help="Annotate every n-th frame (is_labeled).")
    ] = 2,
    exist_ok: Annotated[
        bool,
        typer.Option("--exist-ok", help="Replace an existing dataset (only once the new one is complete)."),
    ] = False,
    hard_share: Annotated[
        float | None,
        typer.Option(
            "--hard-share",
            help="Make this share (0 to 1) of every video's frames hard key frames between clean neighbours, "
            "flagged in synthetic_effects.json, and every other frame clean (default: random blur and "
            "occluders, about one frame in three).",
        ),
    ] = None,
    hard_kinds: Annotated[
        str,
        typer.Option(
            "--hard-kinds",
            help="Comma-separated effects a hard frame draws from: blur (motion), defocus, joints (two "
            "limbs of one person hidden), person (one person hidden whole).",
        ),
    ] = "blur,defocus,joints,person",
    quiet: QuietOption = False,
) -> None:
    """Generate PoseTrack-format synthetic videos with moving articulated figures (2018 layout by default).

    The dataset appears in --out-dir only when it is complete: an interrupted run leaves nothing behind.
    """
    # posecli.data.synthetic needs numpy and OpenCV, not torch; imported here to keep --help fast.
    from posecli.data.synthetic import (
        HARD_KINDS,
        hard_problem,
        option_problem,
        size_problem,
        write_synthetic_dataset,
    )

    if out is not None:
        if out_dir is not None and out_dir != out:
            raise PoseCliError(f"--out {out} and --out-dir {out_dir} disagree (--out is the old name of -o)")
        if not quiet:
            note("--out is deprecated; use -o/--out-dir")
        out_dir = out
    if out_dir is None:
        raise PoseCliError("--out-dir: no dataset folder given (e.g. -o runs/synthetic)")
    # Checked here as well as in the library so that the message names the option as typed.
    counts = {"videos": videos, "val_videos": val_videos, "frames": frames, "people": people}
    for name, value in (counts | {"label_every": label_every, "seed": seed}).items():
        problem = option_problem(name, value)
        if problem:
            raise PoseCliError(f"--{name.replace('_', '-')}: {problem}")
    frame_size = _parse_size(size)
    problem = size_problem(frame_size)
    if problem:
        raise PoseCliError(f"--size: {problem}")
    kinds = tuple(k.strip() for k in hard_kinds.split(",") if k.strip())
    for option, problem in (
        ("--hard-share", hard_problem(hard_share, HARD_KINDS)),
        ("--hard-kinds", hard_problem(None, kinds)),
    ):
        if problem:
            raise PoseCliError(f"{option}: {problem}")
    names = write_synthetic_dataset(
        out_dir,
        videos=videos,
        val_videos=val_videos,
        frames=frames,
        people=people,
        seed=seed,
        size=frame_size,
        layout=layout.value,
        label_every=label_every,
        quiet=quiet,
        exist_ok=exist_ok,
        hard_share=hard_share,
        hard_kinds=kinds,
    )
    if not quiet:
        console.print(f"wrote {len(names['train'])} train and {len(names['val'])} val videos to {out_dir}")


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
