"""Training under faults: a kill mid-save, a resume after it, old run folders, full and read-only disks,
bad annotation values. Every failure is one ``PoseCliError`` naming the file; nothing is left behind.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import random
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from posecli.cli import app
from posecli.config import ExperimentConfig, load_config
from posecli.data.synthetic import write_synthetic_dataset
from posecli.errors import PoseCliError
from posecli.train import TrainState, fit, truncate_log

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
runner = CliRunner()


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(root: Path, *overrides: str) -> ExperimentConfig:
    return load_config(
        CONFIGS / "hrnet_hrnet-w8_synthetic_128x96.yaml",
        [
            f"data.root={root}",
            "data.dataset=synthetic",
            "model.input_size=[64, 64]",
            "train.batch_size=4",
            "train.deterministic=true",
            "eval.every=0",
            *overrides,
        ],
    )


def records(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


def temporary_files(run: Path) -> list[Path]:
    return sorted(p for p in run.rglob(".*") if p.is_file())


def test_resume_sweeps_orphaned_temporary_files_and_logs_each_step_once(data_root: Path, tmp_path: Path) -> None:
    """A run killed during a save leaves `.step-N.safetensors.*.tmp.*` files and log records past its
    checkpoint; the resume removes the first and logs every step exactly once."""
    run = tmp_path / "run"
    fit(tiny(data_root, "train.max_steps=2", "train.epochs=3", "train.log_every=1"), run, quiet=True)
    assert json.loads((run / "last.json").read_text())["step"] == 2
    # what a kill -9 during the save of step 3 leaves behind (atomic_path's mkstemp names)
    orphans = [
        run / "checkpoints" / ".step-00000003.safetensors.k2j4_x9a.tmp.safetensors",
        run / "checkpoints" / ".step-00000003.state.pt.0abcdefg.tmp.pt",
        run / ".last.json.zz9_8y7x.tmp.json",
        run / ".last.safetensors.aaaaaaaa.tmp.safetensors",
    ]
    for path in orphans:
        path.write_bytes(b"half a file")
    keep = run / "checkpoints" / ".notes"  # not an atomic_path temporary name: left alone
    keep.write_text("mine")
    with open(run / "log.jsonl", "a", encoding="utf-8") as log:
        log.write(json.dumps({"step": 3, "epoch": 1, "train/loss": 0.5}) + "\n")
        log.write(json.dumps({"step": 3, "epoch": 1, "val/mse": 0.1}) + "\n")
        log.write('{"step": 4, "epo')  # the line the kill cut
    resumed = fit(tiny(data_root, "train.max_steps=4", "train.epochs=3", "train.log_every=1"), run, resume="auto", quiet=True)
    assert resumed.state.step == 4
    assert not any(p.exists() for p in orphans)
    assert temporary_files(run) == [keep]
    steps = [r["step"] for r in records(run) if "train/loss" in r]
    assert steps == [1, 2, 3, 4]
    assert not [r for r in records(run) if "val/mse" in r]  # the killed run's validation is gone


def test_truncate_log_keeps_the_validations_the_checkpoint_saw(tmp_path: Path) -> None:
    log = tmp_path / "log.jsonl"
    lines = [
        {"step": 3, "epoch": 1, "train/loss": 1.0},
        {"step": 3, "epoch": 1, "val/mse": 0.2},
        {"step": 6, "epoch": 2, "train/loss": 0.5},
        {"step": 6, "epoch": 2, "val/mse": 0.1},  # logged after the step-6 checkpoint of checkpoint_every
        {"step": 7, "epoch": 3, "train/loss": 0.4},
    ]
    log.write_text("".join(json.dumps(r) + "\n" for r in lines))
    state = TrainState(epoch=1, step=6, batch_in_epoch=3, history=[{"epoch": 1, "step": 3, "val/mse": 0.2}])
    assert truncate_log(log, state) == 2
    assert [json.loads(x) for x in log.read_text().splitlines()] == lines[:3]
    assert truncate_log(log, state) == 0  # nothing more to cut: the file is not rewritten


def test_a_run_folder_from_before_plain_value_states_still_resumes(data_root: Path, tmp_path: Path) -> None:
    """Old state files hold numpy's RNG state as an ndarray (not loadable with plain weights_only):
    numpy's array globals are allowed for them, so they resume, with their RNG state restored."""
    run = tmp_path / "run"
    fit(tiny(data_root, "train.max_steps=1", "train.epochs=2"), run, quiet=True)
    state_path = run / json.loads((run / "last.json").read_text())["state"]
    payload = torch.load(state_path, weights_only=True)
    assert isinstance(payload["rng"]["numpy"], dict)  # the new format is plain values
    np.random.seed(1234)
    random.seed(99)
    expected_numpy, expected_python = np.random.random(), random.random()
    np.random.seed(1234)
    random.seed(99)
    payload["rng"]["numpy"] = np.random.get_state()  # the old format: numpy's tuple with an ndarray
    payload["rng"]["python"] = random.getstate()
    torch.save(payload, state_path)
    with pytest.raises(Exception, match="Weights only load failed"):
        torch.load(state_path, weights_only=True)  # really the old format
    np.random.seed(0)
    random.seed(0)
    config = tiny(data_root, "train.max_steps=1", "train.epochs=2")  # nothing left to train: only the restore
    resumed = fit(config, run, resume="auto", quiet=True)
    assert resumed.state.step == 1
    assert np.random.random() == expected_numpy and random.random() == expected_python


def test_a_state_file_of_the_wrong_shape_is_one_line(data_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    fit(tiny(data_root, "train.max_steps=1", "train.epochs=2"), run, quiet=True)
    state_path = run / json.loads((run / "last.json").read_text())["state"]
    torch.save({"optimizer": [1, 2]}, state_path)
    with pytest.raises(PoseCliError, match=r"--resume: .*state\.pt: not a training state of this run"):
        fit(tiny(data_root, "train.max_steps=2", "train.epochs=2"), run, resume="auto", quiet=True)
    state_path.write_bytes(b"\x00" * 64)
    with pytest.raises(PoseCliError, match=r"state\.pt: cannot read the training state"):
        fit(tiny(data_root, "train.max_steps=2", "train.epochs=2"), run, resume="auto", quiet=True)


@contextlib.contextmanager
def small_tmpfs(folder: Path, size: str, read_only: bool = False) -> Iterator[Path]:
    """A tmpfs of ``size`` mounted on ``folder``; skips the test where mounting is not allowed."""
    folder.mkdir(parents=True, exist_ok=True)
    options = f"size={size}" + (",ro" if read_only else "")
    try:
        done = subprocess.run(
            ["mount", "-t", "tmpfs", "-o", options, "tmpfs", str(folder)], capture_output=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        pytest.skip("mount is not available")
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({done.stderr.decode(errors='replace').strip()})")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], capture_output=True, timeout=20)


def test_a_full_disk_names_the_checkpoint_file(data_root: Path, tmp_path: Path) -> None:
    """A real full disk: a 256 KiB tmpfs holds the config and the log, not the first checkpoint."""
    with small_tmpfs(tmp_path / "disk", "256k") as disk:
        run = disk / "run"
        with pytest.raises(PoseCliError) as error:
            fit(tiny(data_root, "train.max_steps=1"), run, quiet=True)
        message = str(error.value)
        assert message.startswith(f"{run}/") and "No space left on device" in message, message
        assert "checkpoints/step-00000001" in message
        assert temporary_files(run) == []  # the half-written file is gone
        assert not (run / "last.json").exists()


def test_a_read_only_run_folder_names_the_file(data_root: Path, tmp_path: Path) -> None:
    """Read-only through a mount (root ignores file permissions): the resume's first write names its file."""
    source = tmp_path / "run"
    fit(tiny(data_root, "train.max_steps=1", "train.epochs=2"), source, quiet=True)
    with small_tmpfs(tmp_path / "ro", "64m") as mount:
        subprocess.run(["cp", "-a", str(source), str(mount)], check=True)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True, timeout=20)
        run = mount / "run"
        result = runner.invoke(app, resume_args(data_root, run))
        assert result.exit_code == 1, result.output
        lines = result.output.strip().splitlines()
        assert len(lines) == 1 and f"{run}/config.json: cannot write" in lines[0], result.output
        assert "Read-only file system" in lines[0]


@pytest.mark.skipif(os.geteuid() == 0, reason="root ignores file permissions (the tmpfs test covers it)")
def test_a_read_only_run_folder_by_permissions_names_the_file(data_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    fit(tiny(data_root, "train.max_steps=1", "train.epochs=2"), run, quiet=True)
    for folder in (run, run / "checkpoints"):
        folder.chmod(0o555)
    try:
        result = runner.invoke(app, resume_args(data_root, run))
    finally:
        for folder in (run, run / "checkpoints"):
            folder.chmod(0o755)
    assert result.exit_code == 1
    assert f"{run}/config.json: cannot write" in result.output and "Permission denied" in result.output


def test_a_write_error_in_the_log_names_it(data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "log.jsonl").mkdir()  # the log cannot be opened for appending
    with pytest.raises(PoseCliError, match=rf"^{run}/log.jsonl: cannot write the training log \(Is a directory\)"):
        fit(tiny(data_root, "train.max_steps=1"), run, quiet=True)
    # ENOSPC from write() carries no path: the message still names the file
    (run / "log.jsonl").rmdir()
    real_open = open

    class FullDisk:
        def __init__(self, f: object) -> None:
            self.f = f

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *args: object) -> None:
            self.f.close()  # type: ignore[attr-defined]

        def write(self, text: str) -> int:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    def opening(path: object, mode: str = "r", *args: object, **kwargs: object) -> object:
        f = real_open(path, mode, *args, **kwargs)  # type: ignore[call-overload]
        return FullDisk(f) if str(path).endswith("log.jsonl") and "a" in mode else f

    monkeypatch.setattr("builtins.open", opening)
    with pytest.raises(PoseCliError, match=rf"^{run}/log.jsonl: cannot write the training log \(No space left"):
        fit(tiny(data_root, "train.max_steps=1"), tmp_path / "run", resume="auto", quiet=True)


def resume_args(data_root: Path, run: Path) -> list[str]:
    config = CONFIGS / "hrnet_hrnet-w8_synthetic_128x96.yaml"
    sets = ["model.input_size=[64, 64]", "train.batch_size=4", "eval.every=0", "train.max_steps=2", "train.epochs=2"]
    args = ["train", "--config", str(config), "--data", "synthetic", "--data-root", str(data_root)]
    args += ["--out-dir", str(run), "--device", "cpu", "-q", "--resume", "auto"]
    for item in sets:
        args += ["--set", item]
    return args


@pytest.mark.parametrize(
    ("value", "field"),
    [('"12.5"', "keypoints[0]"), ("NaN", "keypoints[0]"), ("1e999", "keypoints[0]"), ("true", "keypoints[0]")],
)
def test_training_annotations_with_non_numbers_are_refused(tmp_path: Path, value: str, field: str) -> None:
    """String (or non-finite) keypoints were read as numbers without a word; now one line names them."""
    root = tmp_path / "data"
    write_synthetic_dataset(root, videos=1, frames=4, people=1, seed=0, size=(160, 128), val_videos=1)
    gt = next((root / "annotations" / "train").glob("*.json"))
    doc = json.loads(gt.read_text())
    labelled = next(a for a in doc["annotations"] if a.get("keypoints"))
    labelled["keypoints"][0] = "__VALUE__"
    gt.write_text(json.dumps(doc).replace('"__VALUE__"', value))
    config = CONFIGS / "hrnet_hrnet-w8_synthetic_128x96.yaml"
    result = runner.invoke(
        app,
        ["train", "--config", str(config), "--data", "synthetic", "--data-root", str(root), "--device", "cpu",
         "-q", "--out-dir", str(tmp_path / "run"), "--set", "model.input_size=[64, 64]"],
    )
    assert result.exit_code == 1, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and f"{gt}: annotations[" in lines[0] and f"].{field}: expected a finite number" in lines[0]
    assert not (tmp_path / "run").exists()
