"""``posecli export``: a prediction out to an annotation tool (CVAT video/images, COCO, Label Studio)."""

from __future__ import annotations

from enum import Enum
from pathlib import Path
from typing import Annotated

import typer

from posecli.cli.options import ExistOkOption, print_summary


class ExportFormat(str, Enum):
    """Annotation formats ``export`` writes and ``import`` reads."""

    cvat_video = "cvat-video"
    cvat_images = "cvat-images"
    coco = "coco"
    label_studio = "label-studio"


def export(
    predictions: Annotated[
        Path,
        typer.Argument(
            help="A posecli prediction: PoseTrack 2018 (<stem>.posetrack.json), PoseTrack 2017, COCO results or JSON lines.",
            show_default=False,
        ),
    ],
    to: Annotated[ExportFormat, typer.Option("--to", help="Annotation format to write.")],
    video: Annotated[
        Path | None,
        typer.Option("--video", help="The source video: frame size and count, and the frames for --frames."),
    ] = None,
    output: Annotated[
        Path | None,
        typer.Option("--output", "-o", help="Output file (default: runs/export/<video>.<format suffix>)."),
    ] = None,
    keyframes_every: Annotated[
        int,
        typer.Option(
            "--keyframes-every", help="cvat-video: a keyframe every K frames (CVAT interpolates between)."
        ),
    ] = 1,
    kpt_thr: Annotated[
        float,
        typer.Option(
            "--kpt-thr", help="Joints scored below this are marked occluded, for the annotator to check."
        ),
    ] = 0.3,
    frames: Annotated[
        Path | None,
        typer.Option(
            "--frames",
            help="Extract the labelled frames here as frame_%06d.jpg (required for label-studio).",
            file_okay=False,
        ),
    ] = None,
    image_url: Annotated[
        str | None,
        typer.Option(
            "--image-url",
            help="label-studio: task image URL with {name} for the frame file (default: Label Studio's local-files route, /data/local-files/?d=<frames folder name>/{name}).",
        ),
    ] = None,
    exist_ok: ExistOkOption = False,
) -> None:
    """Write tracked poses for correction in CVAT, Label Studio or any COCO keypoints tool."""
    from posecli.annotation.exchange import export_annotations

    summary = export_annotations(
        predictions,
        to.value,
        video=video,
        output=output,
        keyframes_every=keyframes_every,
        kpt_thr=kpt_thr,
        frames_dir=frames,
        image_url=image_url,
        exist_ok=exist_ok,
    )
    line = f"{predictions}: {summary.frames} frames, {summary.people} people, {summary.tracks} tracks"
    print_summary(line, summary.outputs)
