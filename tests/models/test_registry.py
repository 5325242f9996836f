"""Registry, builders and ModelConfig."""

from __future__ import annotations

import pytest

from posecli.models import MODELS, ModelConfig, build_model, list_models, model_config


def test_names() -> None:
    expected = {"hrnet_w32", "hrnet_w48", "fami_hrnet_w32", "fami_hrnet_w48", "tdmi_hrnet_w32", "tdmi_hrnet_w48"}
    assert expected <= set(list_models())
    assert list_models() == sorted(MODELS)


def test_unknown_name_lists_models() -> None:
    with pytest.raises(ValueError, match="fami_hrnet_w48, hrnet_w32"):
        build_model("fami_resnet")


def test_unknown_override_rejected() -> None:
    with pytest.raises(ValueError, match="unknown ModelConfig key"):
        build_model("hrnet_w32", widht=8)
    with pytest.raises(ValueError, match="cannot be overridden"):
        build_model("hrnet_w32", arch="fami")
    with pytest.raises(ValueError, match="head"):
        build_model("hrnet_w32", width=8, head="regression")


@pytest.mark.parametrize("name", ["hrnet_w48", "fami_hrnet_w48", "tdmi_hrnet_w48"])
def test_presets_match_reference(name: str) -> None:
    cfg = model_config(name)
    assert cfg.width == 48 and cfg.input_size == (384, 288) and cfg.heatmap_size == (96, 72)
    assert cfg.num_keypoints == 17 and cfg.head == "heatmap" and cfg.mi_estimator == "reference"
    assert cfg.num_frames == (1 if name.startswith("hrnet") else 5)
    assert cfg.freeze_backbone is name.startswith("fami")  # FAMI freezes HRNet, TDMI fine-tunes it
    assert cfg.frozen_backbone_bn == "update" and cfg.gtm == "translation" and cfg.mi_temperature == 0.05
    assert (cfg.fami_alpha, cfg.fami_beta) == (0.5, 0.1)
    assert (cfg.tdmi_alpha, cfg.tdmi_beta, cfg.tdmi_gamma) == (1.0, 1.0, 1.0)
    assert cfg.simcc_split_ratio == 1.5 and cfg.simcc_sigma == 4.0
    small = model_config(name, input_size=(256, 192))
    assert small.heatmap_size == (64, 48) and small.simcc_split_ratio == 2.0


def test_config_round_trip_and_errors() -> None:
    cfg = model_config("tdmi_hrnet_w32", head="simcc", width=8)
    data = cfg.to_dict()
    assert isinstance(data["input_size"], list)
    assert ModelConfig.from_dict(data) == cfg
    with pytest.raises(ValueError, match="unknown ModelConfig key"):
        ModelConfig.from_dict({**data, "dropout": 0.1})
    with pytest.raises(ValueError, match="input_size"):
        ModelConfig(input_size=(100, 64))
    with pytest.raises(ValueError, match="width"):
        ModelConfig(width=6)
    with pytest.raises(ValueError, match="mi_estimator"):
        ModelConfig(mi_estimator="mine")


def test_model_carries_resolved_config() -> None:
    model = build_model("fami_hrnet_w32", width=8, input_size=(64, 64))
    assert model.config.heatmap_size == (16, 16) and model.config.num_frames == 5
    assert model.num_frames == 5 and model.config.name == "fami_hrnet_w32"
