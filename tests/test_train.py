"""The training loop: tiny models learn on synthetic data, exact resume, crash-safe checkpoints, DDP.

Every run here is on the CPU with HRNet width 8 and a few synthetic clips.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import posecli.checkpoints
from posecli.checkpoints import load_checkpoint
from posecli.config import ExperimentConfig, load_config
from posecli.data.posetrack import read_posetrack
from posecli.data.synthetic import write_synthetic_dataset
from posecli.evaluation.posetrack import evaluate_posetrack
from posecli.train import build_dataset, build_training_model, fit, predict, write_predictions

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.fixture(scope="module")
def data_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """2 train videos × 6 frames × 2 people (12 labelled clips), 1 val video; 160×128 frames."""
    root = tmp_path_factory.mktemp("synthetic")
    write_synthetic_dataset(root, videos=2, frames=6, people=2, seed=0, size=(160, 128), val_videos=1)
    return root


@pytest.fixture(autouse=True)
def one_thread() -> object:
    """One intra-op thread: the runs stay fast on a shared 2-core machine and bit-reproducible."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def tiny(arch: str, root: Path, *overrides: str) -> ExperimentConfig:
    """The tiny recipe of ``arch`` on ``root`` with deterministic CPU settings and no validation."""
    return load_config(
        CONFIGS / f"{arch}_hrnet-w8_synthetic_128x96.yaml",
        [f"data.root={root}", "train.deterministic=true", "eval.every=0", "train.batch_size=4", *overrides],
    )


def train_set_ap(config: ExperimentConfig, model: torch.nn.Module, out: Path) -> float:
    """poseval AP of ``model`` on the training split (GT boxes), through the prediction files."""
    split = read_posetrack(config.data.root, "train")  # type: ignore[arg-type]
    dataset = build_dataset(config, split, False, model.num_frames)  # type: ignore[arg-type]
    keypoints, _ = predict(model, dataset, torch.device("cpu"), batch_size=16)  # type: ignore[arg-type]
    write_predictions(split, dataset, keypoints, out)
    return evaluate_posetrack(out, split.gt_path, metrics=("ap",)).total_ap


def records(run: Path) -> list[dict[str, float]]:
    return [json.loads(line) for line in (run / "log.jsonl").read_text().splitlines()]


@pytest.mark.slow
@pytest.mark.parametrize("arch", ["fami", "tdmi"])
def test_tiny_model_lowers_its_loss_and_raises_its_training_ap(
    arch: str, data_root: Path, tmp_path: Path
) -> None:
    config = tiny(
        arch,
        data_root,
        "model.input_size=[96, 64]",
        "train.max_steps=40",
        "train.epochs=100",
        "data.flip_prob=0",
        "data.sigma=2",
        "train.deterministic=false",
    )
    torch.manual_seed(config.train.seed)
    before = train_set_ap(config, build_training_model(config), tmp_path / "before")
    result = fit(config, tmp_path / "run", quiet=True)
    steps = [r for r in records(result.out_dir) if "train/loss" in r]
    assert [r["step"] for r in steps] == list(range(1, 41))
    assert {"train/mse", "train/mi", "samples_per_s", "lr"} <= set(steps[0])
    first = sum(r["train/mse"] for r in steps[:5]) / 5
    last = sum(r["train/mse"] for r in steps[-5:]) / 5
    assert last < 0.8 * first
    assert sum(r["train/loss"] for r in steps[-5:]) < sum(r["train/loss"] for r in steps[:5])
    after = train_set_ap(config, load_checkpoint(result.last_checkpoint), tmp_path / "after")
    assert after > before + 5, (before, after)


def _weights(path: Path) -> dict[str, torch.Tensor]:
    return load_file(str(path))


def test_resume_is_exact(data_root: Path, tmp_path: Path) -> None:
    """Stopping after 2 steps (mid-epoch) and resuming to step 5 equals an uninterrupted 5-step run,
    across an epoch boundary with a learning-rate milestone (3 batches per epoch)."""
    overrides = (
        "model.input_size=[64, 64]",
        "train.epochs=3",
        "train.lr_steps=[1]",
        "train.lr_factor=0.5",
        "data.max_train_samples=12",
    )
    straight = fit(tiny("hrnet", data_root, *overrides, "train.max_steps=5"), tmp_path / "a", quiet=True)
    fit(tiny("hrnet", data_root, *overrides, "train.max_steps=2"), tmp_path / "b", quiet=True)
    pointer = json.loads((tmp_path / "b" / "last.json").read_text())
    assert pointer["step"] == 2 and pointer["epoch"] == 0
    resumed = fit(
        tiny("hrnet", data_root, *overrides, "train.max_steps=5"), tmp_path / "b", resume="auto", quiet=True
    )
    assert resumed.state.step == straight.state.step == 5 and resumed.state.epoch == straight.state.epoch == 1
    a, b = _weights(straight.last_checkpoint), _weights(resumed.last_checkpoint)
    assert a.keys() == b.keys()
    assert all(torch.equal(a[k], b[k]) for k in a), [k for k in a if not torch.equal(a[k], b[k])][:3]
    # the learning rate followed the milestone in both runs
    lrs = {r["step"]: r["lr"] for r in records(tmp_path / "b") if "lr" in r}
    assert lrs[2] == pytest.approx(3e-3) and lrs[5] == pytest.approx(1.5e-3)
    # an unrelated run differs (the comparison can fail)
    other = fit(
        tiny("hrnet", data_root, *overrides, "train.max_steps=5", "train.seed=1"), tmp_path / "c", quiet=True
    )
    c = _weights(other.last_checkpoint)
    assert not all(torch.equal(a[k], c[k]) for k in a)


@pytest.mark.parametrize("fail_in", ["weights", "state"])
def test_crash_while_checkpointing_keeps_the_last_checkpoint(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, fail_in: str
) -> None:
    config = tiny(
        "hrnet",
        data_root,
        "model.input_size=[64, 64]",
        "train.checkpoint_every=1",
        "train.max_steps=3",
        "train.epochs=5",
    )
    run = tmp_path / "run"
    fit(tiny("hrnet", data_root, "model.input_size=[64, 64]", "train.max_steps=1"), run, quiet=True)
    good = json.loads((run / "last.json").read_text())
    good_weights = _weights(run / good["weights"])

    def broken_write(obj: object, path: object, *args: object, **kwargs: object) -> None:
        Path(str(path)).write_bytes(b"partial")  # half a file, then the crash
        raise OSError("disk full")

    if fail_in == "weights":
        monkeypatch.setattr(posecli.checkpoints, "save_file", broken_write)
    else:
        monkeypatch.setattr(torch, "save", broken_write)
    with pytest.raises(OSError, match="disk full"):
        fit(config, run, resume="auto", quiet=True)
    monkeypatch.undo()
    # the pointer and the files it names are untouched and complete
    assert json.loads((run / "last.json").read_text()) == good
    after = _weights(run / good["weights"])
    assert all(torch.equal(good_weights[k], after[k]) for k in good_weights)
    assert load_checkpoint(run / "last.safetensors").num_frames == 1
    assert not [p for p in run.rglob("*") if p.name.startswith(".") and p.is_file()]  # no temp files left
    # and training resumes from it
    resumed = fit(config, run, resume="auto", quiet=True)
    assert resumed.state.step == 3


@pytest.mark.slow
def test_two_process_gloo_run_finishes_and_its_checkpoint_loads(data_root: Path, tmp_path: Path) -> None:
    run = tmp_path / "ddp"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "POSECLI_DEBUG": "1"}
    command = [
        sys.executable,
        "-m",
        "torch.distributed.run",
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "posecli",
        "train",
        "--data",
        "synthetic",
        "--data-root",
        str(data_root),
        "--config",
        str(CONFIGS / "fami_hrnet-w8_synthetic_128x96.yaml"),
        "--out-dir",
        str(run),
        "--device",
        "cpu",
        "--quiet",
        "--set",
        "model.input_size=[64, 64]",
        "--set",
        "train.batch_size=2",
        "--set",
        "train.epochs=1",
        "--set",
        "train.max_steps=2",
        "--set",
        "eval.every=1",
    ]
    done = subprocess.run(command, check=False, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    model = load_checkpoint(run / "last.safetensors")
    assert model.num_frames == 5
    steps = [r for r in records(run) if "train/loss" in r]
    assert [r["step"] for r in steps] == [1, 2]  # only rank 0 logs
    assert json.loads((run / "last.json").read_text())["step"] == 2
    assert (run / "best.safetensors").is_file()  # validated on rank 0 at the end


def test_flip_test_maps_heatmaps_back_and_swaps_sides() -> None:
    from posecli.train import _unflip_heatmaps

    heatmaps = torch.zeros(1, 17, 8, 6)
    heatmaps[0, 9, 3, 1] = 1.0  # left wrist at x = 1 in the flipped crop
    back = _unflip_heatmaps(heatmaps)
    # mirrored to x = 6 − 1 − 1 = 4, moved to the right wrist, shifted one pixel right (reference SHIFT_HEATMAP)
    assert back[0, 10, 3, 5] == 1.0 and back[0, 9].sum() == 0 and back.sum() == 1.0


def test_init_checkpoint_fills_the_backbone_only(tmp_path: Path) -> None:
    from posecli.errors import PoseCliError
    from posecli.train import load_init_weights

    config = tiny("fami", tmp_path, "model.input_size=[64, 64]")
    torch.manual_seed(0)
    source = build_training_model(config)
    # an official-HRNet-style file: bare backbone keys, wrapped in 'state_dict' with DataParallel prefixes
    bare = {
        "module." + k.removeprefix("hrnet."): v
        for k, v in source.state_dict().items()
        if k.startswith("hrnet.")
    }
    path = tmp_path / "hrnet.pth"
    torch.save({"state_dict": bare}, path)
    torch.manual_seed(5)
    fresh = build_training_model(config)
    loaded = load_init_weights(fresh, path)
    assert loaded == len(bare)
    mine, theirs = fresh.state_dict(), source.state_dict()
    for key, value in mine.items():
        if key.startswith("hrnet."):
            assert torch.equal(value, theirs[key]), key
    assert not torch.equal(mine["agg_final_layer.weight"], theirs["agg_final_layer.weight"])
    with pytest.raises(PoseCliError, match="does not exist"):
        load_init_weights(fresh, tmp_path / "missing.pth")
    torch.save({"other.weight": torch.zeros(3)}, tmp_path / "bad.pth")
    with pytest.raises(PoseCliError, match="no HRNet weights"):
        load_init_weights(fresh, tmp_path / "bad.pth")


@pytest.mark.parametrize("layout", ["posetrack17", "posetrack18", "posetrack21"])
def test_prediction_files_of_perfect_keypoints_score_100_ap(tmp_path: Path, layout: str) -> None:
    """The validation writer pairs with every layout's GT files: GT keypoints as predictions → AP 100."""
    root = tmp_path / layout
    write_synthetic_dataset(
        root, videos=1, frames=6, people=2, seed=2, size=(160, 128), val_videos=2, layout=layout
    )
    config = tiny("hrnet", root, "model.input_size=[64, 64]")
    split = read_posetrack(root, "val")
    dataset = build_dataset(config, split, False, 1)
    keypoints = np.stack([s.keypoints for s in dataset.samples]).copy()
    # distinct scores per joint so that the ranking has no ties
    keypoints[..., 2] = np.where(
        keypoints[..., 2] > 0, np.linspace(0.5, 1.0, keypoints[..., 2].size).reshape(keypoints.shape[:2]), 0
    )
    out = write_predictions(split, dataset, keypoints, tmp_path / "pred")
    assert sorted(p.stem for p in out.glob("*.json")) == ["100001_mpii_test", "100002_mpii_test"]
    doc = json.loads((out / "100001_mpii_test.json").read_text())
    assert len(doc["images"]) == 6 and {a["track_id"] for a in doc["annotations"]} == {0, 1}
    result = evaluate_posetrack(out, split.gt_path, metrics=("ap",))
    assert result.total_ap == pytest.approx(100.0)
    assert result.num_gt_frames == 6  # 3 labelled frames × 2 videos


def test_an_existing_run_is_not_overwritten_and_a_mismatched_resume_is_named(
    data_root: Path, tmp_path: Path
) -> None:
    from posecli.errors import PoseCliError

    run = tmp_path / "run"
    fit(tiny("hrnet", data_root, "model.input_size=[64, 64]", "train.max_steps=1"), run, quiet=True)
    with pytest.raises(PoseCliError, match="already holds a run"):
        fit(tiny("hrnet", data_root, "model.input_size=[64, 64]", "train.max_steps=2"), run, quiet=True)
    with pytest.raises(PoseCliError, match="does not fit this config's model"):
        fit(
            tiny("hrnet", data_root, "model.input_size=[64, 64]", "model.width=16", "train.max_steps=2"),
            run,
            resume="auto",
            quiet=True,
        )
    with pytest.raises(PoseCliError, match="neither a run folder"):
        fit(
            tiny("hrnet", data_root, "model.input_size=[64, 64]"),
            tmp_path / "new",
            resume=str(tmp_path / "x"),
            quiet=True,
        )
