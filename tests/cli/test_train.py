"""``posecli train``: options reach ``run_training`` as keywords; bad input is one line, exit 1."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import posecli.train
from posecli.cli import app

runner = CliRunner()


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []
    monkeypatch.setattr(posecli.train, "run_training", lambda **kwargs: received.append(kwargs))
    return received


def test_help_lists_the_options() -> None:
    result = runner.invoke(app, ["train", "--help"], env={"COLUMNS": "240"})  # wide: no wrapped lines
    assert result.exit_code == 0
    for option in ("--config", "--data-root", "--data", "--set", "--resume", "--out-dir", "--device"):
        assert option in result.output
    # metavars say what the values look like, and the help shows a full command and the DDP launch
    assert "KEY=VALUE" in result.output and "auto|PATH" in result.output
    assert "posecli train --config configs/fami_hrnet-w48_posetrack17_384x288.yaml" in result.output
    assert "torchrun --nproc-per-node 2 -m posecli train --config" in result.output


def test_options_become_keyword_arguments(calls: list[dict[str, Any]], tmp_path: Path) -> None:
    args = [
        "train",
        "--config",
        "c.yaml",
        "--data",
        "synthetic",
        "--data-root",
        str(tmp_path),
        "--set",
        "train.lr=1e-4",
        "--set",
        "train.epochs=2",
        "--resume",
        "auto",
        "--out-dir",
        str(tmp_path / "run"),
        "--device",
        "cpu",
        "-q",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert calls == [
        {
            "config_path": Path("c.yaml"),
            "data": "synthetic",
            "data_root": tmp_path,
            "overrides": ["train.lr=1e-4", "train.epochs=2"],
            "resume": "auto",
            "out_dir": tmp_path / "run",
            "device": "cpu",
            "quiet": True,
        }
    ]


def test_defaults(calls: list[dict[str, Any]], tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["train", "--config", "c.yaml", "--data-root", str(tmp_path), "--device", "cpu"]
    )
    assert result.exit_code == 0, result.output
    assert calls[0]["data"] == "posetrack" and calls[0]["overrides"] == [] and calls[0]["resume"] is None
    assert calls[0]["out_dir"] is None


def test_bad_input_is_one_red_line(tmp_path: Path) -> None:
    result = runner.invoke(
        app,
        ["train", "--config", str(tmp_path / "nope.yaml"), "--data-root", str(tmp_path), "--device", "cpu"],
    )
    assert result.exit_code == 1
    assert "cannot read" in result.output and "Traceback" not in result.output
    config = Path(__file__).resolve().parents[2] / "configs" / "fami_hrnet-w8_synthetic_128x96.yaml"
    result = runner.invoke(
        app,
        [
            "train",
            "--config",
            str(config),
            "--data-root",
            str(tmp_path / "empty"),
            "--set",
            "train.nope=1",
            "--device",
            "cpu",
        ],
    )
    assert result.exit_code == 1 and "unknown key(s) nope" in result.output
    result = runner.invoke(
        app, ["train", "--config", str(config), "--data-root", str(tmp_path), "--device", "cpu"]
    )
    assert result.exit_code == 1 and "holds no PoseTrack annotations" in result.output
    result = runner.invoke(
        app, ["train", "--config", str(config), "--data-root", str(tmp_path), "--device", "tpu"]
    )
    assert result.exit_code == 1 and "--device" in result.output
