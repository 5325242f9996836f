"""``posecli render``: redraw the overlay of saved poses (PoseTrack, COCO or JSON lines) on their video."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from posecli.cli.options import (
    DEFAULT_KPT_THR,
    ExistOkOption,
    QuietOption,
    RadiusOption,
    ThicknessOption,
    print_summary,
)


class FrameFormat(str, Enum):
    """Image format of ``--frames``."""

    png = "png"
    jpg = "jpg"


def render(
    predictions: Annotated[
        Path,
        typer.Argument(
            help="Poses to draw: a PoseTrack 2018 file (estimate, track --stitch, hand-corrected), a PoseTrack "
            "2017 annolist, COCO keypoint results or a .jsonl file.",
            show_default=False,
        ),
    ],
    video: Annotated[
        str, typer.Option("--video", "-v", help="The video (file, frame folder or URL) the poses were made from.")
    ],
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="The overlay video (default: runs/render/<video stem>.overlay.mp4)."),
    ] = None,
    frames: Annotated[
        Path | None, typer.Option("--frames", help="Also (or, without -o, only) write one image per frame into this new folder.")
    ] = None,
    frame_format: Annotated[FrameFormat, typer.Option("--frame-format", help="Image format of --frames.")] = FrameFormat.png,
    kpt_thr: Annotated[
        float, typer.Option("--kpt-thr", min=0.0, max=1.0, help="Joints scored below this are not drawn.")
    ] = DEFAULT_KPT_THR,
    radius: RadiusOption = None,
    thickness: ThicknessOption = None,
    ids: Annotated[bool, typer.Option("--ids/--no-ids", help="Draw the id label of each person.")] = True,
    exist_ok: ExistOkOption = False,
    quiet: QuietOption = False,
) -> None:
    """Draw saved poses on their video again: after `track --stitch`, a hand correction, or with another style.

    Writes an MP4 overlay that keeps the video's audio, and/or with --frames one PNG/JPEG per frame.
    """
    from posecli import render as render_job  # OpenCV and PyAV load only when a command runs
    from posecli.export.overlay import DrawStyle
    from posecli.inputs import video_source

    source = video_source(video)
    if output is None and frames is None:
        output = render_job.default_output(source, Path("runs") / "render")
    summary = render_job.render_overlay(
        predictions,
        source,
        output,
        style=DrawStyle(kpt_thr=kpt_thr, radius=radius, thickness=thickness, show_ids=ids),
        frames_dir=frames,
        frame_format=frame_format.value,
        exist_ok=exist_ok,
        quiet=quiet,
    )
    print_summary(
        f"{summary.predictions} ({summary.file_format}): {summary.frames} frames, {summary.people} people drawn",
        summary.outputs,
    )
