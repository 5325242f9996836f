"""``posecli data synth`` and ``posecli data check``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import posecli.data.synthetic
from posecli.cli import app

runner = CliRunner()


def test_synth_passes_keywords(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    calls: list[dict[str, Any]] = []

    def fake(out: Path, **kwargs: Any) -> dict[str, list[str]]:
        calls.append({"out": out, **kwargs})
        return {"train": ["a"], "val": []}

    monkeypatch.setattr(posecli.data.synthetic, "write_synthetic_dataset", fake)
    args = [
        "data",
        "synth",
        "--out",
        str(tmp_path / "d"),
        "--videos",
        "3",
        "--frames",
        "5",
        "--people",
        "4",
        "--seed",
        "9",
        "--size",
        "200x150",
        "--val-videos",
        "2",
        "--layout",
        "posetrack21",
        "-q",
    ]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert calls == [
        {
            "out": tmp_path / "d",
            "videos": 3,
            "frames": 5,
            "people": 4,
            "seed": 9,
            "size": (200, 150),
            "val_videos": 2,
            "layout": "posetrack21",
            "label_every": 2,
            "quiet": True,
        }
    ]


def test_synth_then_check_on_real_files(tmp_path: Path) -> None:
    out = tmp_path / "d"
    result = runner.invoke(
        app, ["data", "synth", "--out", str(out), "--videos", "1", "--frames", "4", "--size", "96x96", "-q"]
    )
    assert result.exit_code == 0, result.output
    assert (out / "annotations" / "train" / "000001_mpii_train.json").is_file()
    result = runner.invoke(app, ["data", "check", "--data-root", str(out)])
    assert result.exit_code == 0, result.output
    assert "layout: posetrack18" in result.output and "frames: 4" in result.output
    again = runner.invoke(app, ["data", "synth", "--out", str(out), "-q"])
    assert again.exit_code == 1 and "already exists" in again.output


@pytest.mark.parametrize(
    ("args", "message"), [(["--size", "12"], "not WxH"), (["--size", "10x10"], "too small")]
)
def test_synth_bad_input(tmp_path: Path, args: list[str], message: str) -> None:
    result = runner.invoke(app, ["data", "synth", "--out", str(tmp_path / "x"), *args, "-q"])
    assert result.exit_code == 1 and message in result.output


def test_check_names_a_missing_dataset(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "check", "--data-root", str(tmp_path)])
    assert result.exit_code == 1 and "holds no PoseTrack annotations" in result.output
