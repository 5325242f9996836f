"""``posecli weights``: list, verify, pull and import model weights."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from posecli.cli.options import QuietOption, console
from posecli.cli.weights_import import import_weights
from posecli.errors import PoseCliError
from posecli.weights import fetch, get_entry, load_manifest, local_path, status, verify_file

app = typer.Typer(help="List, verify, download and import model weights.", no_args_is_help=True)


@app.command("list")
def list_weights() -> None:
    """List the weights in the manifest with their licence and local status."""
    table = Table(title="posecli weights", caption="`posecli weights pull NAME` downloads an entry")
    for column in ("name", "status", "licence"):
        table.add_column(column, no_wrap=True)
    for entry in load_manifest().values():
        state = status(entry)
        shown = f"{entry.kind}, {state}" if entry.kind == "embedded" else ("cached" if state == "ok" else state)
        table.add_row(entry.name, shown, entry.licence)
    console.print(table)


@app.command("verify")
def verify(
    name: Annotated[str | None, typer.Argument(help="Weights name (default: every local entry).")] = None,
) -> None:
    """Check the sha256 of local weights files against the manifest (exit 1 on any mismatch)."""
    entries = [get_entry(name)] if name else list(load_manifest().values())
    table = Table(title="weights verification")
    for column in ("name", "file", "result"):
        table.add_column(column)
    failures = []
    for entry in entries:
        for file in entry.files:
            path = local_path(entry, file)
            if entry.kind == "download" and not path.exists() and name is None:
                table.add_row(entry.name, file.name, "not downloaded")
                continue
            try:
                verify_file(path, file)
                table.add_row(entry.name, file.name, "[green]ok[/green]")
            except PoseCliError as error:
                table.add_row(entry.name, file.name, "[red]failed[/red]")
                failures.append(str(error))
    console.print(table)
    if failures:
        raise PoseCliError(failures[0])


@app.command("pull")
def pull(
    name: Annotated[str, typer.Argument(help="Weights name from `posecli weights list`.")],
    quiet: QuietOption = False,
) -> None:
    """Download weights into the user cache (sha256-checked) so later runs work offline."""
    for path in fetch(name, quiet=quiet):
        console.print(f"{name}: {path}")


app.command("import")(import_weights)
