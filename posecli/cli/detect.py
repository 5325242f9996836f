"""``posecli detect``: person boxes per frame → ``<stem>.boxes.json``."""

from __future__ import annotations

from rich.table import Table

from posecli.cli.options import (
    ExistOkOption,
    OutDirOption,
    QuietOption,
    VideosArgument,
    WeightsOption,
    console,
    resolve_out_dir,
)


def detect(
    videos: VideosArgument,
    weights: WeightsOption = None,
    out_dir: OutDirOption = None,
    exist_ok: ExistOkOption = False,
    quiet: QuietOption = False,
) -> None:
    """Detect people in videos and write <stem>.boxes.json (boxes and scores per frame).

    Uses the embedded BlazePose model (runs on the CPU). The boxes file feeds `posecli track`.
    """
    from posecli import jobs

    summaries = jobs.detect_videos(
        videos, resolve_out_dir(out_dir, "detect"), weights=weights, exist_ok=exist_ok, quiet=quiet
    )
    table = Table(title="posecli detect")
    for column in ("video", "frames", "boxes", "output"):
        table.add_column(column, overflow="fold")
    for s in summaries:
        table.add_row(str(s.source), str(s.frames), str(s.boxes), str(s.output))
    console.print(table)
