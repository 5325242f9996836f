"""Experiment config: YAML recipes, --set overrides, strict keys and types, round trip."""

from __future__ import annotations

from pathlib import Path

import pytest

from posecli.config import ExperimentConfig, config_from_dict, load_config
from posecli.errors import PoseCliError

CONFIGS = sorted((Path(__file__).resolve().parents[1] / "configs").glob("*.yaml"))


def test_recipe_names_follow_the_convention() -> None:
    assert len(CONFIGS) >= 6
    for path in CONFIGS:
        fields = path.stem.split("_")
        assert len(fields) == 4, path.name  # <method>_<backbone>_<dataset>_<HxW>
        h, w = (int(v) for v in fields[3].split("x"))
        config = load_config(path)
        assert config.name == path.stem
        assert tuple(config.model.input_size) == (h, w)


def test_reference_recipes_match_the_released_hyper_parameters() -> None:
    root = CONFIGS[0].parent
    fami = load_config(root / "fami_hrnet-w48_posetrack17_384x288.yaml")
    assert fami.model.arch == "fami" and fami.model.freeze_backbone is True and fami.model.width == 48
    assert (fami.train.lr, fami.train.lr_steps, fami.train.epochs, fami.train.batch_size) == (
        1e-3,
        (8, 12, 16),
        21,
        48,
    )
    assert fami.train.weight_decay == 0.0 and fami.train.init_checkpoint and fami.eval.decode == "argmax"
    tdmi = load_config(root / "tdmi_hrnet-w48_posetrack17_384x288.yaml")
    assert tdmi.model.arch == "tdmi" and tdmi.model.freeze_backbone is False
    assert (tdmi.train.lr_steps, tdmi.train.epochs, tdmi.train.batch_size) == ((6, 12, 18, 26), 20, 24)
    assert tdmi.eval.decode == "dark"


def test_overrides_are_typed_and_applied(tmp_path: Path) -> None:
    config = load_config(
        CONFIGS[0],
        [
            "train.lr=1e-4",
            "train.lr_steps=[2, 3]",
            "model.input_size=[256, 192]",
            "data.val_boxes=b.json",
            "train.grad_clip=null",
            "name=run7",
            "eval.flip_test=true",
        ],
    )
    assert config.train.lr == 1e-4 and config.train.lr_steps == (2, 3)
    assert tuple(config.model.input_size) == (256, 192) and config.data.val_boxes == "b.json"
    assert config.train.grad_clip is None and config.name == "run7" and config.eval.flip_test is True


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("train.lrr=1", "train: unknown key\\(s\\) lrr"),
        ("optim.lr=1", "unknown section 'optim'"),
        ("train.epochs=many", "train.epochs: expected an integer"),
        ("train.amp=3", "train.amp: expected true or false"),
        ("model.arch=resnet", "model: arch must be one of"),
        ("data.layout=coco", "data.layout: 'coco' is not one of"),
        ("train.batch_size=0", "train.batch_size: must be ≥ 1"),
        ("lr", "expected section.key=value"),
        ("train.lr_steps=5", "train.lr_steps: expected a list"),
    ],
)
def test_bad_values_name_the_key(override: str, message: str) -> None:
    with pytest.raises(PoseCliError, match=message):
        load_config(CONFIGS[0], [override])


def test_bad_files_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(PoseCliError, match="cannot read"):
        load_config(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("train: [1, 2\n")
    with pytest.raises(PoseCliError, match="bad.yaml: not valid YAML"):
        load_config(bad)
    bad.write_text("trian:\n  lr: 1\n")
    with pytest.raises(PoseCliError, match="bad.yaml: unknown section"):
        load_config(bad)


def test_to_dict_round_trips() -> None:
    for path in CONFIGS:
        config = load_config(path)
        again = config_from_dict(config.to_dict())
        assert again == config
    assert config_from_dict({}) == ExperimentConfig()
