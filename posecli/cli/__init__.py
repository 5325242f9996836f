"""The ``posecli`` command line: a root Typer app with one thin module per command.

Errors: ``PoseCliError`` (bad input) becomes one red line on stderr and exit code 1; any other
exception too, unless ``POSECLI_DEBUG=1`` asks for the traceback.
"""

from __future__ import annotations

import os
import warnings
from typing import Annotated, Any

import typer
from typer.core import TyperGroup

from posecli import __version__
from posecli.cli import data, detect, estimate, evaluate, track, train, weights
from posecli.cli.options import err_console
from posecli.errors import PoseCliError


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """Library warnings (a truncated video, a frame-rate guess) as one yellow line each."""
    err_console.print(f"[yellow]warning: {message}[/yellow]", highlight=False)


class _ErrorReportingGroup(TyperGroup):
    """Root group that turns exceptions from any subcommand into one line and exit code 1."""

    def invoke(self, ctx: Any) -> Any:  # a click Context (Typer may vendor its own click)
        warnings.showwarning = _show_warning
        try:
            return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt:
            err_console.print("[red]posecli: interrupted[/red]")
            raise typer.Exit(code=130) from None
        except BrokenPipeError:
            # the reader of our output went away (`posecli ... | head`): nothing left to say to it
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            raise typer.Exit(code=0) from None
        except Exception as error:  # noqa: BLE001 - every failure must be one line, not a traceback
            # usage errors and exits of the command-line layer (Typer may vendor its own click)
            if type(error).__module__.split(".")[0] in ("typer", "click"):
                raise
            if os.environ.get("POSECLI_DEBUG") == "1":
                raise
            command = ctx.invoked_subcommand or "posecli"
            kind = "error" if isinstance(error, PoseCliError) else f"unexpected error ({type(error).__name__})"
            message = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
            hint = "" if isinstance(error, PoseCliError) else " [dim](POSECLI_DEBUG=1 shows the traceback)[/dim]"
            err_console.print(f"[red]posecli {command}: {kind}: {message}[/red]{hint}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=1) from None


app = typer.Typer(
    cls=_ErrorReportingGroup,
    name="posecli",
    help="Video human pose estimation: detect → track → temporal pose network, training and PoseTrack evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode="rich",
)


def _print_version(value: bool) -> None:
    if value:
        print(f"posecli {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool, typer.Option("--version", callback=_print_version, is_eager=True, help="Print the version and exit.")
    ] = False,
) -> None:
    """posecli: video human pose annotation from the command line."""


app.command("detect")(detect.detect)
app.command("track")(track.track)
app.command("estimate")(estimate.estimate)
app.command("train")(train.train)
app.command("eval")(evaluate.evaluate)
app.command("evaluate", hidden=True)(evaluate.evaluate)
app.add_typer(data.app, name="data")
app.add_typer(weights.app, name="weights")


def main() -> None:
    """Console-script entry point."""
    app()
