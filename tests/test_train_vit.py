"""Training TAR-ViTPose: the tiny synthetic recipe trains and validates end to end with AdamW; the
PoseTrack recipes carry the official config's values; the ViTPose init checkpoint fills encoder + decoder."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

from posecli.checkpoints import load_checkpoint
from posecli.config import load_config
from posecli.errors import PoseCliError
from posecli.train import build_training_model, check_init_checkpoint, fit, load_init_weights

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY = CONFIGS / "tar-vitpose_vit-w16_synthetic_128x96.yaml"


@pytest.fixture(autouse=True)
def one_thread() -> object:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_tar_recipes_carry_the_official_optimisation() -> None:
    for size, width in (("s", 384), ("b", 768), ("h", 1280)):
        config = load_config(CONFIGS / f"tar-vitpose_vit-{size}_posetrack17_384x288.yaml")
        model, train = config.model, config.train
        assert (model.arch, model.width, model.input_size, model.heatmap_size) == ("tar", width, (384, 288), None)
        assert (model.tar_layers, model.tar_heads, model.tar_mask_threshold) == (6, 4, 0.2)
        assert (train.optimizer, train.lr, train.weight_decay, train.epochs, train.batch_size) == (
            "adamw", 5e-6, 0.1, 30, 16
        )
        assert (train.lr_steps, train.lr_factor) == ((5, 10, 15, 20, 25), 0.5)  # StepLR(5, 0.5)
        assert config.data.sigma == 3.0 and config.eval.flip_test is True
        assert config.model.resolved().heatmap_size == (96, 72)


def test_tar_without_a_vitpose_init_is_refused_unless_the_mask_is_off() -> None:
    config = load_config(CONFIGS / "tar-vitpose_vit-b_posetrack17_384x288.yaml")
    with pytest.raises(PoseCliError, match="train.init_checkpoint: TAR-ViTPose starts from a trained ViTPose"):
        check_init_checkpoint(config)
    check_init_checkpoint(load_config(TINY))  # threshold 0: the toy recipe may start from scratch


def test_vitpose_init_checkpoint_fills_encoder_and_decoder(tmp_path: Path) -> None:
    config = load_config(TINY, [f"data.root={tmp_path}"])
    torch.manual_seed(0)
    source = build_training_model(config)
    # an mmpose 1.x ViTPose file: backbone.* and head.* names
    mmpose = {
        ("head." + k.removeprefix("keypoint_head.") if k.startswith("keypoint_head.") else k): v
        for k, v in source.state_dict().items() if k.startswith(("backbone.", "keypoint_head."))
    }
    torch.save({"state_dict": mmpose}, tmp_path / "vitpose.pth")
    torch.manual_seed(5)
    fresh = build_training_model(config)
    assert load_init_weights(fresh, tmp_path / "vitpose.pth") == len(mmpose)
    mine, theirs = fresh.state_dict(), source.state_dict()
    assert torch.equal(mine["keypoint_head.final_layer.weight"], theirs["keypoint_head.final_layer.weight"])
    assert torch.equal(mine["backbone.layers.0.attn.qkv.weight"], theirs["backbone.layers.0.attn.qkv.weight"])
    assert not torch.equal(mine["query_feat.weight"], theirs["query_feat.weight"])  # TAR keeps its init
    partial = {"backbone.patch_embed.projection.weight": torch.zeros(16, 3, 16, 16)}  # only the patch conv
    torch.save({"state_dict": partial}, tmp_path / "partial.pth")
    with pytest.raises(PoseCliError, match=r"partial.pth \(mmpose-vitpose layout\) fills only 1 of .* ViTPose-16"):
        load_init_weights(fresh, tmp_path / "partial.pth")


def test_tiny_tar_trains_and_validates_end_to_end(data_root: Path, tmp_path: Path, monkeypatch) -> None:
    made: list[dict] = []

    class RecordingAdamW(torch.optim.AdamW):
        def __init__(self, params, **kwargs) -> None:
            made.append(kwargs)
            super().__init__(params, **kwargs)

    monkeypatch.setattr(torch.optim, "AdamW", RecordingAdamW)
    config = load_config(TINY, [f"data.root={data_root}", "train.max_steps=4", "train.epochs=2",
                                "eval.every=1", "train.batch_size=4", "train.weight_decay=0.1"])
    result = fit(config, tmp_path / "run", quiet=True)
    assert made == [{"lr": 3e-3, "weight_decay": 0.1}]  # train.optimizer: adamw
    logs = [json.loads(line) for line in (result.out_dir / "log.jsonl").read_text().splitlines()]
    steps = [r for r in logs if "train/loss" in r]
    assert len(steps) == 4 and all(math.isfinite(r["train/loss"]) for r in steps)
    assert "train/mi" not in steps[0]  # TAR-ViTPose trains on the heatmap MSE only
    history = result.state.history  # poseval validation ran after each epoch
    assert [r["epoch"] for r in history] == [1, 2] and all(math.isfinite(r["ap/total"]) for r in history)
    model = load_checkpoint(result.last_checkpoint)
    assert model.config.arch == "tar" and model.config.tar_layers == 1
