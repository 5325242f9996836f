"""The training loop: tiny models learn on synthetic data, exact resume, crash-safe checkpoints, DDP.

Every run here is on the CPU with HRNet width 8 and a few synthetic clips.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import posecli.checkpoints
from posecli.atomic import atomic_path
from posecli.checkpoints import load_checkpoint
from posecli.config import ExperimentConfig, load_config
from posecli.data.posetrack import read_posetrack
from posecli.data.synthetic import write_synthetic_dataset
from posecli.errors import PoseCliError
from posecli.evaluation.posetrack import evaluate_posetrack
from posecli.models import build_from_config
from posecli.train import (
    Dist,
    EpochSampler,
    JsonlLogger,
    build_dataset,
    build_training_model,
    fit,
    predict,
    restore_scaler,
    write_predictions,
)

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


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
        "train.max_steps=60",
        "train.epochs=100",
        "data.flip_prob=0",
        "data.sigma=2",
        "train.deterministic=false",
    )
    torch.manual_seed(config.train.seed)
    before = train_set_ap(config, build_training_model(config), tmp_path / "before")
    result = fit(config, tmp_path / "run", quiet=True)
    steps = [r for r in records(result.out_dir) if "train/loss" in r]
    assert [r["step"] for r in steps] == list(range(1, 61))
    assert {"train/mse", "train/mi", "samples_per_s", "lr"} <= set(steps[0])
    first = sum(r["train/mse"] for r in steps[:5]) / 5
    last = sum(r["train/mse"] for r in steps[-5:]) / 5
    assert last < 0.8 * first
    assert sum(r["train/loss"] for r in steps[-5:]) < sum(r["train/loss"] for r in steps[:5])
    after = train_set_ap(config, load_checkpoint(result.last_checkpoint), tmp_path / "after")
    # 60 steps take both archs from ~0-2 AP to 25-36; 40 steps left TDMI at the mercy of float32
    # rounding (0.2 AP with one deformable-conv implementation, 5.2 with another).
    assert after > before + 10, (before, after)


@pytest.mark.parametrize("arch, kernel", [("fami", "grid_sample"), ("hrnet", None)])
def test_run_json_records_the_deformable_conv_kernel_auto_chose(
    arch: str, kernel: str | None, data_root: Path, tmp_path: Path
) -> None:
    config = tiny(arch, data_root, "model.input_size=[64, 64]", "train.max_steps=1", "train.batch_size=2")
    assert config.model.deform_impl == "auto"
    fit(config, tmp_path / "run", quiet=True)
    facts = json.loads((tmp_path / "run" / "run.json").read_text())
    assert facts["deform_kernel"] == kernel and facts["device"] == "cpu" and facts["world_size"] == 1


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

    def broken_save(obj: object, f: Any, *args: object, **kwargs: object) -> None:
        f.write(b"partial")  # half a file, then the crash
        raise OSError("disk full")

    def broken_atomic_write(path: Path, data: bytes) -> None:
        with atomic_path(path) as tmp:
            tmp.write_bytes(data[:100])
            raise OSError("disk full")

    if fail_in == "weights":
        monkeypatch.setattr(posecli.checkpoints, "atomic_write_bytes", broken_atomic_write)
        named = r"step-00000002\.safetensors: cannot write the checkpoint \(disk full\)"
    else:
        monkeypatch.setattr(torch, "save", broken_save)
        named = r"step-00000002\.state\.pt: cannot write the training state \(disk full\)"
    with pytest.raises(PoseCliError, match=named):
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
    from posecli.models.inference import unflip_heatmaps as _unflip_heatmaps

    heatmaps = torch.zeros(1, 17, 8, 6)
    heatmaps[0, 9, 3, 1] = 1.0  # left wrist at x = 1 in the flipped crop
    back = _unflip_heatmaps(heatmaps)
    # mirrored to x = 6 − 1 − 1 = 4, moved to the right wrist, shifted one pixel right
    # (the reference SHIFT_HEATMAP)
    assert back[0, 10, 3, 5] == 1.0 and back[0, 9].sum() == 0 and back.sum() == 1.0


def test_flip_test_averages_simcc_vectors_mirrored_and_swapped() -> None:
    from posecli.models.inference import average_with_flipped
    from posecli.models.pose_model import PoseOutput

    plain_x, plain_y = torch.zeros(1, 17, 10), torch.zeros(1, 17, 12)
    flip_x, flip_y = torch.zeros(1, 17, 10), torch.zeros(1, 17, 12)
    flip_x[0, 9, 2] = 2.0  # left wrist at bin 2 of the mirrored crop
    flip_y[0, 9, 7] = 4.0
    out = average_with_flipped(
        PoseOutput(torch.zeros(1, 17, 4, 4), plain_x, plain_y), PoseOutput(torch.zeros(1, 17, 4, 4), flip_x, flip_y)
    )
    assert out.simcc_x is not None and out.simcc_y is not None
    # x: mirrored to bin 10 − 1 − 2 = 7 on the right wrist, halved by the average; y: only swapped
    assert out.simcc_x[0, 10, 7] == 1.0 and out.simcc_x.sum() == 1.0
    assert out.simcc_y[0, 10, 7] == 2.0 and out.simcc_y[0, 9].sum() == 0


def test_init_checkpoint_fills_the_backbone_only(tmp_path: Path) -> None:
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
    # named like the GT files (PT17: <seq>_relpath_5sec_testsub.json; the frames pair by image folder)
    suffix = "_relpath_5sec_testsub" if layout == "posetrack17" else ""
    assert sorted(p.name for p in out.glob("*.json")) == [f"10000{i}_mpii_test{suffix}.json" for i in (1, 2)]
    assert sorted(p.name for p in out.glob("*.json")) == sorted(p.name for p in split.gt_path.glob("*.json"))
    doc = json.loads((out / f"100001_mpii_test{suffix}.json").read_text())
    assert len(doc["images"]) == 6 and {a["track_id"] for a in doc["annotations"]} == {0, 1}
    result = evaluate_posetrack(out, split.gt_path, metrics=("ap",))
    assert result.total_ap == pytest.approx(100.0)
    assert result.num_gt_frames == 6  # 3 labelled frames × 2 videos


def test_an_existing_run_is_not_overwritten_and_a_mismatched_resume_is_named(
    data_root: Path, tmp_path: Path
) -> None:
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


def test_epoch_sampler_shards_are_disjoint_and_a_resume_skips_exactly() -> None:
    """Two ranks split one (seed, epoch) permutation cut to whole steps; skipping k batches gives the
    tail of the uninterrupted order."""
    size, batch = 23, 3
    single = EpochSampler(size, batch, seed=5, ranks=Dist())
    pair = [EpochSampler(size, batch, seed=5, ranks=Dist(rank, 2, rank)) for rank in (0, 1)]
    used = (size // (batch * 2)) * batch * 2  # 18: drop_last, the other 5 clips wait for another epoch
    seen: set[int] = set()
    orders = []
    for epoch in range(8):
        single.set_epoch(epoch)
        shards = []
        for sampler in pair:
            sampler.set_epoch(epoch)
            shards.append(list(sampler))
            assert len(shards[-1]) == len(sampler) == used // 2 and sampler.batches_per_epoch == 3
        assert not set(shards[0]) & set(shards[1])
        union = set(shards[0]) | set(shards[1])
        assert len(union) == used and union <= set(range(size))
        # rank r holds every 2nd index of the same permutation the one-process run walks through
        interleaved = [i for step in zip(*shards, strict=True) for i in step]
        full = list(single)
        assert interleaved == full[:used] and len(full) == (size // batch) * batch
        seen |= set(interleaved)
        orders.append(full)
    # a new order per epoch, and no clip is left out for good
    assert orders[0] != orders[1] and seen == set(range(size))
    # resume: skipping the 2 trained batches yields exactly the rest of the epoch
    for sampler in (single, *pair):
        sampler.set_epoch(4)
        whole = list(sampler)
        sampler.set_epoch(4, skip_batches=2)
        assert list(sampler) == whole[2 * batch :] and len(sampler) == len(whole) - 2 * batch
    with pytest.raises(PoseCliError, match="exceeds the 5 training clips"):
        EpochSampler(5, 3, seed=0, ranks=Dist(0, 2, 0))


def test_gradient_clipping_uses_the_configured_max_norm(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[tuple[float, float, float]] = []
    original = torch.nn.utils.clip_grad_norm_

    def spy(parameters: object, max_norm: float, *args: object, **kwargs: object) -> torch.Tensor:
        params = list(parameters)  # type: ignore[call-overload]
        before = original(params, max_norm, *args, **kwargs)  # type: ignore[arg-type]
        after = torch.linalg.vector_norm(torch.stack([p.grad.norm() for p in params if p.grad is not None]))
        calls.append((max_norm, float(before), float(after)))
        return before

    monkeypatch.setattr(torch.nn.utils, "clip_grad_norm_", spy)
    small = ("model.input_size=[64, 64]", "train.max_steps=2")
    fit(tiny("hrnet", data_root, *small, "train.grad_clip=0.001"), tmp_path / "clipped", quiet=True)
    assert len(calls) == 2
    for max_norm, before, after in calls:
        assert max_norm == 0.001 and before > 0.01  # the clip had work to do
        assert after == pytest.approx(0.001, rel=1e-3)  # and the optimizer saw the clipped gradients
    calls.clear()
    fit(tiny("hrnet", data_root, *small), tmp_path / "plain", quiet=True)
    assert calls == []  # grad_clip null: no clipping


def test_validation_every_epoch_logs_a_finite_ap_kept_by_the_best_checkpoint(
    data_root: Path, tmp_path: Path
) -> None:
    small = ("model.input_size=[64, 64]", "data.max_train_samples=8")
    config = tiny("hrnet", data_root, *small, "train.epochs=2", "eval.every=1")
    result = fit(config, tmp_path / "run", quiet=True)
    run = result.out_dir
    validations = [r for r in records(run) if "val/mse" in r]
    assert [(r["epoch"], r["step"]) for r in validations] == [(1, 2), (2, 4)]
    assert all(isinstance(r["ap/total"], float) and math.isfinite(r["ap/total"]) for r in validations)
    assert (run / "predictions" / "epoch-001" / "100001_mpii_test.json").is_file()
    best = json.loads((run / "best.json").read_text())
    top = max(validations, key=lambda r: r["ap/total"])  # the first maximum: a later tie is not "better"
    assert best["metric"] == pytest.approx(top["ap/total"]) and best["step"] == top["step"]
    assert result.state.best_metric == pytest.approx(top["ap/total"])
    assert result.best_checkpoint is not None
    best_weights, named = _weights(result.best_checkpoint), _weights(run / best["weights"])
    assert all(torch.equal(best_weights[k], named[k]) for k in best_weights)


@pytest.mark.parametrize("bn", ["update", "freeze"])
def test_a_frozen_backbone_keeps_its_weights_and_trains_only_the_rest(
    data_root: Path, tmp_path: Path, bn: str
) -> None:
    """FAMI-Pose as released: HRNet frozen (weights as in the init checkpoint), BN statistics still
    updated under ``frozen_backbone_bn: update`` (not under ``freeze``), only trainable tensors in Adam."""
    overrides = ["model.input_size=[64, 64]", "model.freeze_backbone=true", f"model.frozen_backbone_bn={bn}"]
    torch.manual_seed(3)
    source = build_from_config(tiny("fami", data_root, *overrides).model)
    hrnet = {k.removeprefix("hrnet."): v for k, v in source.state_dict().items() if k.startswith("hrnet.")}
    init = tmp_path / "hrnet_w8.pth"
    torch.save({"state_dict": hrnet}, init)  # the official HRNet layout: bare keys
    config = tiny("fami", data_root, *overrides, f"train.init_checkpoint={init}", "train.max_steps=2")
    result = fit(config, tmp_path / "run", quiet=True)
    after = _weights(result.last_checkpoint)
    parameters = {name for name, _ in source.named_parameters()}
    for key, value in hrnet.items():
        if f"hrnet.{key}" in parameters:
            assert torch.equal(after[f"hrnet.{key}"], value), key
    stats = [k for k in hrnet if k.endswith(("running_mean", "running_var"))]
    changed = [k for k in stats if not torch.equal(after[f"hrnet.{k}"], hrnet[k])]
    assert stats and changed == (stats if bn == "update" else [])
    pointer = json.loads((result.out_dir / "last.json").read_text())
    optimizer = torch.load(result.out_dir / pointer["state"], weights_only=True)["optimizer"]
    trainable = [n for n, p in build_training_model(config).named_parameters() if p.requires_grad]
    assert trainable and not any(n.startswith("hrnet.") for n in trainable)
    assert len(trainable) == len([n for n in parameters if not n.startswith("hrnet.")])
    assert sum(len(group["params"]) for group in optimizer["param_groups"]) == len(trainable)


def test_bad_inputs_fail_before_the_out_dir_is_written(data_root: Path, tmp_path: Path) -> None:
    fami = load_config(CONFIGS / "fami_hrnet-w48_posetrack17_384x288.yaml", [f"data.root={data_root}"])
    with pytest.raises(PoseCliError) as error:
        fit(fami, tmp_path / "a", quiet=True)
    message = str(error.value)
    assert message.startswith("train.init_checkpoint: the FAMI-Pose recipe freezes its backbone")
    assert "--set train.init_checkpoint=PATH" in message and "hrnet_w48_posetrack18_384x288_mmpose" in message
    assert "\n" not in message
    missing = tiny("hrnet", data_root, f"train.init_checkpoint={tmp_path / 'nope.pth'}")
    with pytest.raises(PoseCliError, match="nope.pth does not exist"):
        fit(missing, tmp_path / "b", quiet=True)
    (tmp_path / "empty").mkdir()
    real = tiny("hrnet", tmp_path / "empty", "data.dataset=posetrack")
    with pytest.raises(PoseCliError, match="holds no PoseTrack annotations"):
        fit(real, tmp_path / "c", quiet=True)
    assert not any((tmp_path / name).exists() for name in "abc")


def test_tensorboard_mirrors_the_log_when_installed(tmp_path: Path) -> None:
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logger = JsonlLogger(tmp_path / "log.jsonl")
    assert logger.tensorboard is not None
    logger.log({"step": 3, "epoch": 1, "train/loss": 0.5, "lr": 1e-3})
    logger.close()
    events = EventAccumulator(str(tmp_path / "tensorboard"))
    events.Reload()
    assert [(e.step, e.value) for e in events.Scalars("train/loss")] == [(3, 0.5)]
    assert json.loads((tmp_path / "log.jsonl").read_text())["train/loss"] == 0.5


def test_a_float16_resume_of_a_run_saved_without_loss_scaling_starts_a_fresh_scale() -> None:
    """A run saved on the CPU or in bf16 holds an empty scaler state; resuming it with fp16 AMP must
    not fail (GradScaler refuses an empty state), while a saved live scale is restored."""
    fresh = torch.amp.GradScaler("cpu", enabled=True, init_scale=1024.0)
    restore_scaler(fresh, {})
    assert fresh.get_scale() == 1024.0
    saved = torch.amp.GradScaler("cpu", enabled=True, init_scale=8.0).state_dict()
    restored = torch.amp.GradScaler("cpu", enabled=True)
    restore_scaler(restored, saved)
    assert restored.get_scale() == 8.0
    off = torch.amp.GradScaler("cpu", enabled=False)
    restore_scaler(off, saved)  # a disabled scaler ignores any state
    assert not off.is_enabled()


@pytest.mark.gpu
@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_amp_steps_on_cuda_are_finite_and_the_scaler_state_resumes(
    data_root: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, dtype: str
) -> None:
    if dtype == "bfloat16" and not torch.cuda.is_bf16_supported():
        pytest.skip("this GPU has no bfloat16")
    overrides = ("model.input_size=[64, 64]", "train.amp=true", f"train.amp_dtype={dtype}", "train.epochs=5")
    run = tmp_path / "run"
    fit(tiny("fami", data_root, *overrides, "train.max_steps=2"), run, device="cuda", quiet=True)
    pointer = json.loads((run / "last.json").read_text())
    saved = torch.load(run / pointer["state"], map_location="cpu", weights_only=True)["scaler"]
    if dtype == "float16":
        assert 0 < saved["scale"] < math.inf  # a live dynamic loss scale
    else:
        assert saved == {}  # bfloat16 needs no loss scaling: the scaler is off
    loaded: list[dict[str, object]] = []
    original = torch.amp.GradScaler.load_state_dict

    def spy(self: torch.amp.GradScaler, state: dict[str, object]) -> None:
        loaded.append(dict(state))
        original(self, state)

    monkeypatch.setattr(torch.amp.GradScaler, "load_state_dict", spy)
    config = tiny("fami", data_root, *overrides, "train.max_steps=3")
    resumed = fit(config, run, device="cuda", resume="auto", quiet=True)
    assert resumed.state.step == 3 and loaded == [saved]
    steps = [r for r in records(run) if "train/loss" in r]
    assert [r["step"] for r in steps] == [1, 2, 3]
    assert all(isinstance(r["train/loss"], float) and math.isfinite(r["train/loss"]) for r in steps)
    assert load_checkpoint(resumed.last_checkpoint).num_frames == 5
