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


REFERENCE_DATA = {  # models.md §7, the same for every PoseTrack17 recipe
    "sigma": 3.0,
    "bbox_enlarge": 1.25,
    "scale_factor": 0.35,
    "rotation_factor": 45.0,
    "rotation_prob": 0.6,
    "half_body_prob": 0.3,
    "half_body_min_joints": 8,
    "flip_prob": 0.5,
    "box_score_threshold": 0.2,
}


def _check_reference_data(config: ExperimentConfig) -> None:
    for key, value in REFERENCE_DATA.items():
        assert getattr(config.data, key) == value, (config.name, key)


def test_reference_recipes_match_the_released_hyper_parameters() -> None:
    """models.md §7–8: data conventions, optimisation, MI weights and validation of the W48 recipes."""
    root = CONFIGS[0].parent
    fami = load_config(root / "fami_hrnet-w48_posetrack17_384x288.yaml")
    assert fami.model.arch == "fami" and fami.model.freeze_backbone is True and fami.model.width == 48
    assert fami.model.frozen_backbone_bn == "update" and fami.model.gtm == "translation"
    assert (fami.model.fami_alpha, fami.model.fami_beta, fami.model.mi_estimator) == (0.5, 0.1, "reference")
    assert fami.model.mi_temperature == 0.05
    train = fami.train
    assert (train.lr, train.lr_steps, train.lr_factor) == (1e-3, (8, 12, 16), 0.1)
    assert (train.epochs, train.batch_size) == (21, 48)
    assert fami.train.weight_decay == 0.0
    assert (fami.model.decode, fami.eval.decode, fami.eval.flip_test) == ("argmax", None, False)
    _check_reference_data(fami)
    tdmi = load_config(root / "tdmi_hrnet-w48_posetrack17_384x288.yaml")
    assert tdmi.model.arch == "tdmi" and tdmi.model.freeze_backbone is False
    assert (tdmi.model.tdmi_alpha, tdmi.model.tdmi_beta, tdmi.model.tdmi_gamma) == (1.0, 1.0, 1.0)
    assert tdmi.model.mi_estimator == "reference"
    train = tdmi.train
    assert (train.lr, train.lr_steps, train.lr_factor) == (1e-3, (6, 12, 18, 26), 0.1)
    assert (train.epochs, train.batch_size) == (20, 24)
    assert tdmi.train.weight_decay == 0.0
    assert (tdmi.model.decode, tdmi.eval.decode, tdmi.eval.flip_test) == ("dark", None, False)
    _check_reference_data(tdmi)
    # the variants keep the released data conventions and FAMI's MI weights
    for name in ("fami-simcc_hrnet-w48_posetrack17_384x288", "fami-finetune_hrnet-w48_posetrack17_384x288"):
        variant = load_config(root / f"{name}.yaml")
        _check_reference_data(variant)
        assert (variant.model.fami_alpha, variant.model.fami_beta) == (0.5, 0.1)
        assert (variant.train.lr, variant.train.lr_steps) == (1e-3, (8, 12, 16))
        assert variant.eval.flip_test is False
    # no recipe names an HRNet file that is not shipped: the init checkpoint is passed with --set
    for path in CONFIGS:
        assert load_config(path).train.init_checkpoint is None, path.name


def test_tiny_recipes_name_their_width() -> None:
    """``model.name`` is descriptive (models are built from arch and width): it must not claim w32."""
    for path in CONFIGS:
        config = load_config(path)
        assert config.model.name.endswith(f"_w{config.model.width}"), path.name


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
        ("train.amp_dtype=float8", "train.amp_dtype: 'float8' is not one of float16, bfloat16"),
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


def _recipe(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "recipe.yaml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (".nan", "train.lr: expected a finite number, got nan"),
        (".inf", "train.lr: expected a finite number, got inf"),
        ("-.inf", "train.lr: expected a finite number, got -inf"),
        ("-1e-3", "train.lr: must be > 0, got -0.001"),
        ("0", "train.lr: must be > 0, got 0.0"),
    ],
)
def test_a_learning_rate_that_is_not_a_positive_number_names_the_file_and_field(
    tmp_path: Path, value: str, message: str
) -> None:
    path = _recipe(tmp_path, f"train:\n  lr: {value}\n")
    with pytest.raises(PoseCliError) as error:
        load_config(path)
    assert str(error.value) == f"{path}: {message}"
    # the same value from --set names the option, not the file
    with pytest.raises(PoseCliError) as error:
        load_config(CONFIGS[0], [f"train.lr={value}"])
    assert str(error.value) == f"--set train.lr={value}: {message}"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        ("data.workers=-2", "data.workers: must be ≥ 0, got -2"),
        ("data.flip_prob=1.5", "data.flip_prob: must be between 0 and 1, got 1.5"),
        ("data.sigma=0", "data.sigma: must be > 0, got 0.0"),
        ("train.max_steps=0", "train.max_steps: must be ≥ 1, got 0"),
        ("train.weight_decay=-1", "train.weight_decay: must be ≥ 0, got -1.0"),
        ("model.mi_temperature=.nan", "model.mi_temperature: expected a finite number, got nan"),
        ("model.width=wide", "model.width: expected an integer, got 'wide'"),
    ],
)
def test_out_of_range_values_name_the_set_option(override: str, message: str) -> None:
    with pytest.raises(PoseCliError) as error:
        load_config(CONFIGS[0], [override])
    assert str(error.value) == f"--set {override}: {message}"


def test_unknown_keys_from_set_name_the_option_not_the_file(tmp_path: Path) -> None:
    with pytest.raises(PoseCliError) as error:
        load_config(CONFIGS[0], ["train.nope=1"])
    message = str(error.value)
    assert message.startswith("--set train.nope=1: train: unknown key(s) nope; known:")
    assert str(CONFIGS[0]) not in message
    with pytest.raises(PoseCliError, match=r"^--set model.colour=red: model: unknown key\(s\) colour"):
        load_config(CONFIGS[0], ["model.colour=red"])
    # an unknown key in the file still names the file
    path = _recipe(tmp_path, "train:\n  nope: 1\n")
    with pytest.raises(PoseCliError, match=f"^{path}: train: unknown key"):
        load_config(path, ["train.lr=1e-4"])


@pytest.mark.parametrize("name", ["../../../escaped", "a/b", "..", ".", "x\\..\\y", "", "a..b"])
def test_run_names_that_would_leave_the_output_root_are_refused(name: str) -> None:
    with pytest.raises(PoseCliError) as error:
        load_config(CONFIGS[0], [f"name='{name}'"])
    assert str(error.value).startswith(f"--set name='{name}': name: ")
    assert "not a plain folder name" in str(error.value)


def test_a_list_as_name_is_refused(tmp_path: Path) -> None:
    path = _recipe(tmp_path, "name: [a, b]\n")
    with pytest.raises(PoseCliError) as error:
        load_config(path)
    assert str(error.value) == f"{path}: name: expected a folder name, got ['a', 'b']"
    assert load_config(_recipe(tmp_path, "name: run_7\n")).name == "run_7"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"name: x\n\x00\x01\x02binary", "a binary file (NUL byte at offset 8)"),
        (b"name: caf\xe9\n", "not UTF-8 text (byte 9)"),
        (b"\x89PNG\r\n\x1a\n\x00\x00", "a binary file"),
        (b"[" * 5000, "not valid YAML|nested too deeply"),
    ],
)
def test_binary_and_non_utf8_recipes_are_one_line(tmp_path: Path, content: bytes, message: str) -> None:
    path = tmp_path / "recipe.yaml"
    path.write_bytes(content)
    with pytest.raises(PoseCliError) as error:
        load_config(path)
    text = str(error.value)
    assert text.startswith(f"{path}: ") and "\n" not in text
    assert any(part in text for part in message.split("|")), text


def test_train_and_weights_import_read_set_the_same_way() -> None:
    """One --set grammar: what `weights import --set` accepts, `train --set model.*` accepts too."""
    from posecli.cli.weights_import import parse_model_overrides

    items = ["input_size=256x192", "heatmap_size=64,48", "num_frames=none", "freeze_backbone=1", "init_std=1e-3"]
    config = load_config(CONFIGS[0], [f"model.{item}" for item in items])
    imported = parse_model_overrides(items)
    assert imported == {
        "input_size": (256, 192),
        "heatmap_size": (64, 48),
        "num_frames": None,
        "freeze_backbone": True,
        "init_std": 0.001,
    }
    for key, value in imported.items():
        assert getattr(config.model, key) == value, key
    # text stays text where a field holds text, and malformed items fail alike in both commands
    assert load_config(CONFIGS[0], ["data.val_boxes=none"]).data.val_boxes == "none"
    for item in ("input_size", "input_size=[1, 2"):
        with pytest.raises(PoseCliError, match="--set") as from_train:
            load_config(CONFIGS[0], [f"model.{item}"])
        with pytest.raises(PoseCliError, match="--set") as from_import:
            parse_model_overrides([item])
        assert ("YAML" in str(from_train.value)) == ("YAML" in str(from_import.value))
