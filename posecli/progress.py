"""Console output of long runs: one Rich progress bar style for every loop (count, rate (items/s),
elapsed and ETA) and one-line notes."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

# Progress and notes go to stderr so that stdout stays clean for tables and piping.
stderr_console = Console(stderr=True)


def note(message: str) -> None:
    """A dim one-line note on stderr."""
    stderr_console.print(f"[dim]note: {message}[/dim]", highlight=False)


class _RateColumn(ProgressColumn):
    """Items per second, e.g. ``12.3 frames/s``."""

    def __init__(self, unit: str) -> None:
        super().__init__()
        self.unit = unit

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("--" if speed is None else f"{speed:.1f} {self.unit}/s", style="progress.data.speed")


@contextlib.contextmanager
def progress_bar(
    description: str, total: float | None, unit: str = "frames", quiet: bool = False
) -> Iterator[callable]:  # type: ignore[valid-type]
    """Show a progress bar while the block runs; yields ``advance(n=1)``.

    With ``quiet`` nothing is drawn and ``advance`` does nothing.
    """
    if quiet:
        yield lambda n=1: None
        return
    columns = [
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        _RateColumn(unit),
        TimeElapsedColumn(),
        TextColumn("ETA"),
        TimeRemainingColumn(),
    ]
    with Progress(*columns, console=stderr_console, transient=False) as progress:
        task_id = progress.add_task(description, total=total)
        yield lambda n=1: progress.advance(task_id, n)
