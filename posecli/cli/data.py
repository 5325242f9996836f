"""``posecli data``: synthetic PoseTrack-format data and dataset checks (issue #5)."""

from __future__ import annotations

import typer

from posecli.cli.options import not_landed

app = typer.Typer(help="Generate synthetic PoseTrack-format videos and inspect datasets.", no_args_is_help=True)


@app.command("synth")
def synth() -> None:
    """Generate PoseTrack18-format synthetic videos with moving articulated figures."""
    not_landed("data synth", 5)
