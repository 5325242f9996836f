"""``posecli data synth`` and ``posecli data check``."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
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
        "-o",
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
            "exist_ok": False,
            "hard_share": None,
            "hard_kinds": ("blur", "defocus", "joints", "person"),
        }
    ]


def test_synth_then_check_on_real_files(tmp_path: Path) -> None:
    out = tmp_path / "d"
    result = runner.invoke(
        app,
        ["data", "synth", "--out-dir", str(out), "--videos", "1", "--frames", "4", "--size", "96x96", "-q"],
    )
    assert result.exit_code == 0, result.output
    assert (out / "annotations" / "train" / "000001_mpii_train.json").is_file()
    result = runner.invoke(app, ["data", "check", "--data-root", str(out)])
    assert result.exit_code == 0, result.output
    assert "layout: posetrack18" in result.output and "frames: 4" in result.output
    again = runner.invoke(app, ["data", "synth", "-o", str(out), "-q"])
    assert again.exit_code == 1 and "already exists" in again.output


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--size", "12"], "--size: '12' is not WxH"),
        (["--size", "10x10"], "--size: 10x10 is too small"),
        (["--size", "5000x240"], "--size: 5000x240 is too large"),
        (["--videos", "0"], "--videos: 0 is below the minimum 1"),
        (["--videos", "-3"], "--videos: -3 is below the minimum 1"),
        (["--videos", "100001"], "--videos: 100001 is above the maximum 100,000"),
        (["--val-videos", "-1"], "--val-videos: -1 is below the minimum 0"),
        (["--frames", "0"], "--frames: 0 is below the minimum 1"),
        (["--frames", "10000"], "--frames: 10000 is above the maximum 9,999"),
        (["--people", "-1"], "--people: -1 is below the minimum 0"),
        (["--people", "100"], "--people: 100 is above the maximum 99"),
        (["--label-every", "0"], "--label-every: 0 is below the minimum 1"),
        (["--seed", "-1"], "--seed: -1 is below the minimum 0"),
    ],
)
def test_synth_bad_input_is_one_line_and_writes_nothing(
    tmp_path: Path, args: list[str], message: str
) -> None:
    result = runner.invoke(app, ["data", "synth", "-o", str(tmp_path / "x"), *args, "-q"])
    assert result.exit_code == 1, result.output
    assert message in result.output and len(result.output.strip().splitlines()) == 1, result.output
    assert list(tmp_path.iterdir()) == []


def test_synth_needs_an_out_dir_and_keeps_out_as_a_hidden_alias(tmp_path: Path) -> None:
    missing = runner.invoke(app, ["data", "synth", "-q"])
    assert missing.exit_code == 1 and "--out-dir: no dataset folder given" in missing.output
    help_text = runner.invoke(app, ["data", "synth", "--help"], env={"COLUMNS": "200"}).output
    assert "--out-dir" in help_text and "--out " not in help_text
    old = runner.invoke(
        app, ["data", "synth", "--out", str(tmp_path / "d"), "--videos", "1", "--frames", "1"]
    )
    assert old.exit_code == 0, old.output
    assert "--out is deprecated" in old.output and (tmp_path / "d" / "annotations").is_dir()
    both = runner.invoke(
        app, ["data", "synth", "--out", str(tmp_path / "a"), "-o", str(tmp_path / "b"), "-q"]
    )
    assert both.exit_code == 1 and "disagree" in both.output


def test_synth_refuses_a_dataset_that_cannot_fit_the_disk(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(total=10**9, free=10**6))
    out = tmp_path / "big"
    result = runner.invoke(app, ["data", "synth", "-o", str(out), "--videos", "100", "--frames", "100", "-q"])
    assert result.exit_code == 1 and f"{out}: the dataset needs about" in result.output
    assert "1.0 MB is free" in result.output and not out.exists()


def test_synth_imports_no_torch(tmp_path: Path) -> None:
    """`posecli data synth` needs numpy and OpenCV only: torch (seconds, ~1 GB) is never imported."""
    code = (
        "import sys\n"
        "from posecli.cli import main\n"
        f"sys.argv = ['posecli', 'data', 'synth', '-o', {str(tmp_path / 'd')!r}, '--frames', '2', '-q']\n"
        "try:\n    main()\nexcept SystemExit as exit:\n    assert exit.code in (0, None), exit.code\n"
        "print('torch' in sys.modules)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False" and (tmp_path / "d" / "annotations").is_dir()


def test_check_names_a_missing_dataset(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "check", "--data-root", str(tmp_path)])
    assert result.exit_code == 1 and "holds no PoseTrack annotations" in result.output
