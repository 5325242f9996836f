"""``write_synthetic_dataset`` writes a whole dataset or nothing, and checks its options up front."""

from __future__ import annotations

import errno
import shutil
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from posecli.data import synthetic
from posecli.data.synthetic import write_synthetic_dataset
from posecli.errors import PoseCliError

SMALL: dict[str, Any] = {"videos": 2, "frames": 3, "people": 1, "size": (64, 64), "val_videos": 1}


class _Terminated(BaseException):
    """Stands in for the exception the CLI raises on SIGTERM (not an ``Exception``)."""


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _interrupt_after(monkeypatch: pytest.MonkeyPatch, jpegs: int, error: BaseException) -> None:
    """Make the ``jpegs + 1``-th frame written raise ``error`` (frames are the only binary writes)."""
    real = synthetic.atomic_write_bytes
    written = [0]

    def write(path: Path, data: bytes) -> None:
        if written[0] == jpegs:
            raise error
        written[0] += 1
        real(path, data)

    monkeypatch.setattr(synthetic, "atomic_write_bytes", write)


def _temporaries(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if ".tmp-" in p.name)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), _Terminated(), RuntimeError("boom")])
def test_an_interrupted_run_leaves_neither_dataset_nor_temporary_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, error: BaseException
) -> None:
    _interrupt_after(monkeypatch, 3, error)
    with pytest.raises(type(error)):
        write_synthetic_dataset(tmp_path / "d", **SMALL)
    assert list(tmp_path.iterdir()) == []
    monkeypatch.undo()
    write_synthetic_dataset(tmp_path / "d", exist_ok=False, **SMALL)  # no leftover to refuse
    assert (tmp_path / "d" / "annotations").is_dir() and _temporaries(tmp_path) == []


def test_a_replaced_dataset_stays_whole_until_the_new_one_is_complete(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target, fresh = tmp_path / "d", tmp_path / "fresh"
    write_synthetic_dataset(target, seed=1, layout="posetrack17", **SMALL)
    (target / "notes.txt").write_text("mine")  # not part of the dataset: must survive both runs
    before = _tree(target)
    _interrupt_after(monkeypatch, 4, KeyboardInterrupt())
    with pytest.raises(KeyboardInterrupt):
        write_synthetic_dataset(target, seed=2, layout="posetrack18", **SMALL)
    assert _tree(target) == before and _temporaries(tmp_path) == []
    monkeypatch.undo()
    write_synthetic_dataset(target, seed=2, layout="posetrack18", **SMALL)
    write_synthetic_dataset(fresh, seed=2, layout="posetrack18", **SMALL)
    # The old posetrack17 entries are gone, not mixed into the new dataset.
    assert _tree(target) == {**_tree(fresh), "notes.txt": b"mine"} and _temporaries(tmp_path) == []


def test_exist_ok_false_refuses_any_dataset_entry_but_fills_an_empty_folder(tmp_path: Path) -> None:
    target = tmp_path / "d"
    (target / "images" / "train").mkdir(parents=True)
    with pytest.raises(PoseCliError, match=f"{target / 'images'} already exists"):
        write_synthetic_dataset(target, exist_ok=False, **SMALL)
    assert [p.name for p in target.iterdir()] == ["images"] and _temporaries(tmp_path) == []
    empty = tmp_path / "empty"
    empty.mkdir()
    write_synthetic_dataset(empty, exist_ok=False, **SMALL)
    assert (empty / "annotations" / "train" / "000001_mpii_train.json").is_file()


def test_temporaries_of_dead_runs_are_swept_and_live_ones_kept(tmp_path: Path) -> None:
    finished = subprocess.Popen([sys.executable, "-c", "pass"])
    finished.wait()
    dead, live = finished.pid, subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        for name in (f".d.tmp-{dead}", f".d.tmp-{live.pid}", f".other.tmp-{dead}"):
            (tmp_path / name / "images").mkdir(parents=True)
        write_synthetic_dataset(tmp_path / "d", **SMALL)
    finally:
        live.kill()
        live.wait()
    assert _temporaries(tmp_path) == sorted([f".d.tmp-{live.pid}", f".other.tmp-{dead}"])


def test_a_dataset_that_cannot_fit_is_refused_naming_the_folder(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setattr(shutil, "disk_usage", lambda path: SimpleNamespace(total=10**9, free=50_000))
    with pytest.raises(PoseCliError, match=r"d: the dataset needs about 0\.\d MB but only 0\.1 MB is free"):
        write_synthetic_dataset(tmp_path / "d", videos=4, frames=8, size=(320, 240))
    assert list(tmp_path.iterdir()) == []


def test_a_write_error_names_the_dataset_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    def full(path: Path, data: bytes) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(synthetic, "atomic_write_bytes", full)
    target = tmp_path / "d"
    expected = rf"^{target}: could not write the dataset \(No space left on device\)"
    with pytest.raises(PoseCliError, match=expected):
        write_synthetic_dataset(target, **SMALL)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"people": 100}, "people: 100 is above the maximum 99"),
        ({"videos": 0}, "videos: 0 is below the minimum 1"),
        ({"val_videos": 100_001}, "val_videos: 100001 is above the maximum 100,000"),
        ({"frames": 10_000}, "frames: 10000 is above the maximum 9,999"),
        ({"seed": -1}, "seed: -1 is below the minimum 0"),
        ({"size": (4097, 64)}, "size: 4097x64 is too large"),
    ],
)
def test_out_of_range_options_are_refused_before_writing(
    tmp_path: Path, kwargs: dict[str, Any], message: str
) -> None:
    with pytest.raises(PoseCliError, match=message):
        write_synthetic_dataset(tmp_path / "d", **{**SMALL, "frames": 1, **kwargs})
    assert list(tmp_path.iterdir()) == []


def test_a_file_in_the_way_is_named(tmp_path: Path) -> None:
    (tmp_path / "d").write_text("x")
    with pytest.raises(PoseCliError, match="d: exists and is not a folder"):
        write_synthetic_dataset(tmp_path / "d", **SMALL)
