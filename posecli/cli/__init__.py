"""The ``posecli`` command line: a root Typer app with one thin module per command.

Errors: ``PoseCliError`` (bad input) becomes one red line on stderr and exit code 1, and so does an
``OSError`` (full disk, read-only folder: the line names the file); any other exception too, unless
``POSECLI_DEBUG=1`` asks for the traceback.

Signals: SIGTERM and SIGHUP are turned into an ``Interrupted`` exception (a ``KeyboardInterrupt``), so
every ``finally`` block and atomic writer cleans up as it does for Ctrl-C. The run then says it was
interrupted (and, for ``estimate``, the command that continues it) and exits with 128 + the signal
number: 130 for Ctrl-C, 143 for SIGTERM, 129 for SIGHUP.

Command modules import their heavy libraries inside the command function, so ``posecli --help`` and
input checks stay fast and never import torch.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import signal
import threading
import warnings
from collections.abc import Iterator
from typing import Annotated, Any

import typer
from rich.markup import escape
from typer.core import TyperGroup

from posecli import __version__
from posecli.cli import (
    data,
    detect,
    estimate,
    evaluate,
    export_annotations,
    import_annotations,
    render,
    track,
    train,
    weights,
)
from posecli.cli.options import err_console
from posecli.errors import PoseCliError


def _show_warning(message: Warning | str, category: type[Warning], *args: Any, **kwargs: Any) -> None:
    """Library warnings (a truncated video, a frame-rate guess) as one yellow line each."""
    # escaped: a message quoting a file name or value such as "[/x]" is text, not Rich markup
    err_console.print(f"[yellow]warning: {escape(str(message))}[/yellow]", highlight=False, soft_wrap=True)


class Interrupted(KeyboardInterrupt):
    """A termination signal (SIGTERM, SIGHUP) delivered as an exception, so cleanup runs as for Ctrl-C."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


_CAUGHT_SIGNALS = tuple(getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name))


@contextlib.contextmanager
def _signals_as_interrupts() -> Iterator[None]:
    """While the block runs, SIGTERM and SIGHUP raise ``Interrupted`` in the main thread (once: a
    repeated signal during the cleanup it started is ignored, so the cleanup finishes)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # signal handlers can only be installed from the main thread
        return
    raised = False

    def handler(signum: int, frame: Any) -> None:
        nonlocal raised
        if not raised:
            raised = True
            raise Interrupted(signum)

    previous = {sig: signal.signal(sig, handler) for sig in _CAUGHT_SIGNALS}
    try:
        yield
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


def _resume_command(argv: tuple[str, ...]) -> str:
    """The command line that continues an interrupted ``estimate``: the same one with ``--resume``."""
    return shlex.join(["posecli", *argv, *([] if "--resume" in argv else ["--resume"])])


def _error_message(error: Exception) -> str:
    """The first line of ``error``; an ``OSError`` as ``<file>: <reason>``."""
    if isinstance(error, OSError) and error.filename is not None:
        where = os.fsdecode(error.filename)
        if error.filename2 is not None:
            where += f" → {os.fsdecode(error.filename2)}"
        # an OSError raised without an errno (OSError("disk full")) keeps its text in args[0]
        reason = error.strerror or (str(error.args[0]) if error.args else "") or type(error).__name__
        return f"{where}: {reason}"
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def _is_usage_error(error: Exception) -> bool:
    """Click's ``UsageError`` family (unknown option, bad choice, missing argument), whichever click
    Typer uses: they carry exit code 2 and a one-line ``format_message``."""
    return getattr(error, "exit_code", None) == 2 and callable(getattr(error, "format_message", None))


class _ErrorReportingGroup(TyperGroup):
    """Root group that turns exceptions from any subcommand, usage errors included, into one line and
    exit code 1."""

    _argv: tuple[str, ...] = ()

    def make_context(self, info_name: str | None, args: list[str], *rest: Any, **kwargs: Any) -> Any:
        self._argv = tuple(args)  # the command line, for the --resume hint after an interruption
        return super().make_context(info_name, args, *rest, **kwargs)

    def invoke(self, ctx: Any) -> Any:  # a click Context (Typer may vendor its own click)
        warnings.showwarning = _show_warning
        try:
            with _signals_as_interrupts():
                return super().invoke(ctx)
        except (typer.Exit, typer.Abort):
            raise
        except KeyboardInterrupt as error:
            signum = error.signum if isinstance(error, Interrupted) else signal.SIGINT
            what = "" if signum == signal.SIGINT else f" ({signal.Signals(signum).name})"
            hint = ""
            if ctx.invoked_subcommand == "estimate":
                hint = f"; continue with: {_resume_command(self._argv)}"
            err_console.print(f"[red]posecli: interrupted{what}[/red]{hint}", highlight=False, soft_wrap=True)
            raise typer.Exit(code=128 + int(signum)) from None
        except BrokenPipeError:
            # the reader of our output went away (`posecli ... | head`): nothing left to say to it
            os.dup2(os.open(os.devnull, os.O_WRONLY), 1)
            raise typer.Exit(code=0) from None
        except Exception as error:  # every failure must be one line, not a traceback
            # exits of the command-line layer (Typer may vendor its own click)
            if type(error).__module__.split(".")[0] in ("typer", "click"):
                if not _is_usage_error(error):
                    raise
                # a wrong option or value is bad input too: one line and exit 1, like every other
                who = f"posecli {ctx.invoked_subcommand}" if ctx.invoked_subcommand else "posecli"
                err_console.print(
                    f"[red]{who}: error: {escape(error.format_message())}[/red] [dim](see {who} --help)[/dim]",
                    highlight=False,
                    soft_wrap=True,
                )
                raise typer.Exit(code=1) from None
            if os.environ.get("POSECLI_DEBUG") == "1":
                raise
            who = f"posecli {ctx.invoked_subcommand}" if ctx.invoked_subcommand else "posecli"
            # an OSError that names its file is the environment's fault (full disk, permissions), not a bug
            expected = isinstance(error, PoseCliError) or (isinstance(error, OSError) and error.filename is not None)
            kind = "error" if expected else f"unexpected error ({type(error).__name__})"
            message = _error_message(error)
            hint = "" if expected else " [dim](POSECLI_DEBUG=1 shows the traceback)[/dim]"
            err_console.print(
                f"[red]{who}: {kind}: {escape(message)}[/red]{hint}", highlight=False, soft_wrap=True
            )
            raise typer.Exit(code=1) from None


app = typer.Typer(
    cls=_ErrorReportingGroup,
    name="posecli",
    help="Video human pose estimation: detect → track → temporal pose network, training and PoseTrack evaluation.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,
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


# short_help: click would cut the docstrings' first lines mid-sentence in `posecli --help`
app.command("detect", short_help="Person boxes per frame → <stem>.boxes.json.")(detect.detect)
app.command("track", short_help="Track ids for saved boxes or poses (no network).")(track.track)
app.command("estimate", short_help="Estimate and track human poses in videos.")(estimate.estimate)
app.command("render", short_help="Redraw the overlay of saved poses on their video.")(render.render)
app.command("train", short_help="Train FAMI-Pose, TDMI or HRNet.")(train.train)
app.command("eval", short_help="Score predictions against PoseTrack ground truth (AP, MOTA).")(evaluate.evaluate)
app.command("evaluate", hidden=True)(evaluate.evaluate)
app.command("export", short_help="Poses out to CVAT, COCO or Label Studio for correction.")(
    export_annotations.export
)
app.command("import", short_help="Corrected annotations → a PoseTrack folder for train and eval.")(
    import_annotations.import_
)
app.add_typer(data.app, name="data")
app.add_typer(weights.app, name="weights")


def main() -> None:
    """Console-script entry point."""
    app()
