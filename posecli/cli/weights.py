"""``posecli weights``: list, verify, pull and import model weights."""

from __future__ import annotations

import typer

from posecli.cli.options import not_landed
from posecli.cli.weights_import import import_weights

app = typer.Typer(help="List, verify, download and import model weights.", no_args_is_help=True)


@app.command("list")
def list_weights() -> None:
    """List the weights in the manifest."""
    not_landed("weights list", 2)


app.command("import")(import_weights)
