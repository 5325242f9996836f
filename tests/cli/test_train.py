"""``posecli train``: options reach ``run_training`` as keywords; bad input is one line, exit 1."""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

import posecli.train
import posecli.train.fitting
from posecli.cli import app
from posecli.train import FitResult, TrainState

runner = CliRunner()


def _finished(out: Path) -> FitResult:
    return FitResult(out, TrainState(step=4, epoch=2), out / "last.safetensors", None, {})


@pytest.fixture
def calls(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    received: list[dict[str, Any]] = []

    def fake(**kwargs: Any) -> FitResult:
        received.append(kwargs)
        return _finished(Path("runs/train/x"))

    monkeypatch.setattr(posecli.train, "run_training", fake)
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
    assert calls[0].pop("on_epoch") is None  # --quiet: no epoch lines
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
    assert calls[0]["out_dir"] is None and callable(calls[0]["on_epoch"])


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


CONFIG = Path(__file__).resolve().parents[2] / "configs" / "hrnet_hrnet-w8_synthetic_128x96.yaml"


def tiny_args(data_root: Path, run: Path, *sets: str) -> list[str]:
    args = ["train", "--config", str(CONFIG), "--data", "synthetic", "--data-root", str(data_root)]
    args += ["--out-dir", str(run), "--device", "cpu"]
    for item in ("model.input_size=[64, 64]", "train.batch_size=4", "data.max_train_samples=8", *sets):
        args += ["--set", item]
    return args


def test_a_run_prints_one_line_per_epoch_and_the_best_checkpoint(data_root: Path, tmp_path: Path) -> None:
    """CliRunner's stdout is no terminal: the epoch lines and the summary must still be there."""
    torch.set_num_threads(1)
    run = tmp_path / "run"
    result = runner.invoke(app, tiny_args(data_root, run, "train.epochs=2", "eval.every=1"))
    assert result.exit_code == 0, result.output
    epochs = [line for line in result.output.splitlines() if re.match(r"epoch \d+/\d+ ", line)]
    assert [line.split()[:4] for line in epochs] == [["epoch", "1/2", "step", "2"], ["epoch", "2/2", "step", "4"]]
    assert all(" loss " in line and " AP " in line for line in epochs), epochs
    best = json.loads((run / "best.json").read_text())
    best_epoch = 1 if best["step"] == 2 else 2
    assert f"best: AP {best['metric']:.2f} at epoch {best_epoch}, step {best['step']}: {run / 'best.safetensors'}" in result.output
    assert f"last: {run / 'last.safetensors'}" in result.output
    # --quiet keeps the summary but drops the epoch lines
    quiet = runner.invoke(app, [*tiny_args(data_root, tmp_path / "q", "train.max_steps=1", "eval.every=0"), "-q"])
    assert quiet.exit_code == 0, quiet.output
    assert not [line for line in quiet.output.splitlines() if re.match(r"epoch \d+/\d+ ", line)]
    assert "best: no validation ran" in quiet.output and f"last: {tmp_path / 'q' / 'last.safetensors'}" in quiet.output


def test_an_interrupt_prints_the_command_that_resumes(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    torch.set_num_threads(1)
    run = tmp_path / "run dir"  # a space: the printed command must quote it
    args = tiny_args(data_root, run, "train.max_steps=3", "train.checkpoint_every=1", "eval.every=0", "train.log_every=1")
    original = posecli.train.fitting.train_one_epoch
    calls = []

    def interrupted(*a: Any, **k: Any) -> bool:
        calls.append(1)
        original(*a, **k)  # the first epoch's 2 steps are trained and checkpointed, then Ctrl-C
        raise KeyboardInterrupt

    monkeypatch.setattr(posecli.train.fitting, "train_one_epoch", interrupted)  # where fit looks it up
    result = runner.invoke(app, args)
    assert result.exit_code == 130
    hint = [line for line in result.output.splitlines() if "interrupted" in line]
    assert len(hint) == 1 and hint[0].startswith("posecli train: interrupted; continue with: posecli train ")
    command = hint[0].split("continue with: ", 1)[1]
    assert command.endswith("--resume auto") and shlex.quote(str(run)) in command
    monkeypatch.undo()
    # the printed command continues the run to the end, every step logged once
    again = shlex.split(command)
    assert again[:2] == ["posecli", "train"]
    resumed = runner.invoke(app, again[1:])
    assert resumed.exit_code == 0, resumed.output
    steps = [json.loads(line)["step"] for line in (run / "log.jsonl").read_text().splitlines()]
    assert steps == [1, 2, 3]


def test_an_interrupt_before_any_work_still_names_the_resume_command(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    def stop(**kwargs: Any) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(posecli.train, "run_training", stop)
    args = ["train", "--config", "c.yaml", "--data-root", "data", "--set", "train.lr=1e-4", "--set", "name=a b"]
    result = runner.invoke(app, [*args, "--device", "cpu"])
    assert result.exit_code == 130
    expected = "posecli train --config c.yaml --data-root data --set train.lr=1e-4 --set 'name=a b' --device cpu --resume auto"
    assert f"posecli train: interrupted; continue with: {expected}" in result.output


def test_a_name_that_escapes_runs_train_writes_nothing(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    work = tmp_path / "a" / "b" / "c"
    work.mkdir(parents=True)
    monkeypatch.chdir(work)
    args = ["train", "--config", str(CONFIG), "--data", "synthetic", "--data-root", str(data_root), "--device", "cpu"]
    result = runner.invoke(app, [*args, "--set", "name=../../../escaped", "-q"])
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and "--set name=../../../escaped: name:" in lines[0], result.output
    assert not list(tmp_path.rglob("escaped")) and not (work / "runs").exists()


@pytest.mark.parametrize(
    ("sets", "expected"),
    [
        (["train.lr=.nan"], "--set train.lr=.nan: train.lr: expected a finite number"),
        (["data.workers=-2"], "--set data.workers=-2: data.workers: must be ≥ 0, got -2"),
        (["train.nope=1"], "--set train.nope=1: train: unknown key(s) nope"),
    ],
)
def test_bad_set_values_are_one_line_naming_the_option(data_root: Path, sets: list[str], expected: str) -> None:
    args = ["train", "--config", str(CONFIG), "--data-root", str(data_root), "--device", "cpu"]
    for item in sets:
        args += ["--set", item]
    result = runner.invoke(app, args)
    assert result.exit_code == 1
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and expected in lines[0] and str(CONFIG) not in lines[0], result.output


def test_bad_recipe_files_are_one_line_naming_the_file(data_root: Path, tmp_path: Path) -> None:
    cases = {
        "nan.yaml": (b"train:\n  lr: .nan\n", "train.lr: expected a finite number"),
        "binary.yaml": (b"\x7fELF\x02\x01\x01\x00\x00\x00", "a binary file"),
        "latin1.yaml": (b"name: caf\xe9\n", "not UTF-8 text"),
        "listname.yaml": (b"name: [a, b]\n", "name: expected a folder name"),
    }
    for name, (content, expected) in cases.items():
        recipe = tmp_path / name
        recipe.write_bytes(content)
        result = runner.invoke(app, ["train", "--config", str(recipe), "--data-root", str(data_root), "--device", "cpu"])
        assert result.exit_code == 1, name
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and f"{recipe}: " in lines[0] and expected in lines[0], result.output


def test_the_command_modules_do_not_import_torch() -> None:
    """`posecli --help` and input checks stay fast: the train and weights commands import torch lazily.

    The modules are imported under a stand-in ``posecli.cli`` package, so that only their own imports
    count (the real package also imports every other command)."""
    code = (
        "import sys, types, pathlib, posecli\n"
        "package = types.ModuleType('posecli.cli')\n"
        "package.__path__ = [str(pathlib.Path(posecli.__file__).parent / 'cli')]\n"
        "sys.modules['posecli.cli'] = package\n"
        "import posecli.cli.train, posecli.cli.weights, posecli.cli.weights_import\n"
        "heavy = sorted(m for m in ('torch', 'torchvision', 'posecli.train', 'posecli.checkpoints') if m in sys.modules)\n"
        "print(','.join(heavy))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "", done.stdout
