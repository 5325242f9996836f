"""The root command: version, help, the not-yet-landed rule and one-line errors."""

from __future__ import annotations

import subprocess
import sys

from typer.testing import CliRunner

from posecli import __version__
from posecli.cli import app

runner = CliRunner()


def test_version_prints_package_version() -> None:
    result = runner.invoke(app, ["--version"])
    assert result.exit_code == 0
    assert result.stdout.strip() == f"posecli {__version__}"


def test_every_command_has_help() -> None:
    for command in ["detect", "track", "estimate", "train", "eval", "evaluate", "data", "weights"]:
        result = runner.invoke(app, [command, "--help"])
        assert result.exit_code == 0, (command, result.output)
        assert "Usage" in result.output


def test_python_dash_m_runs() -> None:
    result = subprocess.run([sys.executable, "-m", "posecli", "--help"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    assert "estimate" in result.stdout
