"""``posecli track``: track ids for saved boxes or poses, without running any network.

``<stem>.boxes.json`` → ``<stem>.tracks.json``; a PoseTrack file (``<stem>.posetrack.json`` from
``estimate``) → ``<stem>.tracks.posetrack.json``, re-tracked with its keypoints."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from posecli.cli.options import (
    DEFAULT_KPT_THR,
    ExistOkOption,
    KptThrOption,
    OutDirOption,
    QuietOption,
    TrackerChoice,
    TrackerOption,
    print_summary,
    resolve_out_dir,
)


def track(
    boxes: Annotated[
        list[Path],
        typer.Argument(
            help="<stem>.boxes.json files from `posecli detect`, or PoseTrack files from `posecli estimate` "
            "(re-tracked with their keypoints)."
        ),
    ],
    tracker: TrackerOption = TrackerChoice.bytetrack,
    stitch: Annotated[bool, typer.Option("--stitch", help="Merge tracklets broken by gaps (offline pass).")] = False,
    kpt_thr: KptThrOption = DEFAULT_KPT_THR,
    out_dir: OutDirOption = None,
    exist_ok: ExistOkOption = False,
    quiet: QuietOption = False,
) -> None:
    """Give each person a track id across frames: <stem>.tracks.json, or <stem>.tracks.posetrack.json."""
    from posecli import track_job  # torch-free: no network runs here

    summaries = track_job.track_boxes(
        boxes, resolve_out_dir(out_dir, "track", create=False), tracker=tracker.value, stitch=stitch, kpt_thr=kpt_thr,
        exist_ok=exist_ok, quiet=quiet,
    )
    for s in summaries:
        print_summary(f"{s.source}: {s.frames} frames, {s.boxes} people, {s.tracks} tracks", [s.output])
