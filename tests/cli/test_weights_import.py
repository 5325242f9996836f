"""``posecli weights import``: thin command over ``posecli.checkpoints.import_model`` and ``save_imported``."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import pytest
import torch
from typer.testing import CliRunner

from posecli.checkpoints import ImportReport, load_checkpoint, read_checkpoint_metadata, save_checkpoint
from posecli.cli import app
from posecli.cli.weights_import import parse_model_overrides
from posecli.errors import PoseCliError
from posecli.models import build_model
from posecli.models.backbones.hrnet import HRNet

runner = CliRunner()


def test_help() -> None:
    result = runner.invoke(app, ["weights", "import", "--help"])
    assert result.exit_code == 0
    assert all(flag in result.output for flag in ("--arch", "--set", "--strict"))


def test_passes_keywords_and_reports(tmp_path: Path) -> None:
    src = tmp_path / "w.pth"
    src.write_bytes(b"x")
    report = ImportReport("official-hrnet", loaded=["hrnet.a"], missing=[f"k{i}" for i in range(12)])
    model = object()
    with (
        mock.patch("posecli.checkpoints.import_model", return_value=(model, report)) as call,
        mock.patch("posecli.checkpoints.save_imported") as save,
    ):
        result = runner.invoke(app, ["weights", "import", str(src), "--arch", "fami_hrnet_w48"])
    assert result.exit_code == 0, result.output
    call.assert_called_once_with(src, "fami_hrnet_w48", strict=False, allow_partial=False)
    save.assert_called_once_with(tmp_path / "w.fami_hrnet_w48.safetensors", model, report, src)
    assert "12 missing" in result.output and "and 4 more" in result.output


def test_refuses_overwrite_and_bad_input(tmp_path: Path) -> None:
    src = tmp_path / "w.pth"
    src.write_bytes(b"x")
    out = tmp_path / "o.safetensors"
    out.write_bytes(b"old")
    with mock.patch("posecli.checkpoints.import_model") as call:
        result = runner.invoke(app, ["weights", "import", str(src), "--arch", "hrnet_w32", "--out", str(out)])
        assert result.exit_code == 1 and "already exists" in result.output
        result = runner.invoke(app, ["weights", "import", str(tmp_path / "none.pth"), "--arch", "hrnet_w32"])
        assert result.exit_code == 1 and "not found" in result.output
        result = runner.invoke(app, ["weights", "import", str(src), "--arch", "hrnet_w32", "--out", "x.pth"])
        assert result.exit_code == 1 and ".safetensors" in result.output
    call.assert_not_called()


def test_real_import_end_to_end(tmp_path: Path) -> None:
    torch.set_num_threads(1)
    src = tmp_path / "pose_hrnet_w32.pth"
    torch.save(HRNet(32).state_dict(), src)
    out = tmp_path / "hrnet.safetensors"
    result = runner.invoke(app, ["weights", "import", str(src), "--arch", "hrnet_w32", "--out", str(out)])
    assert result.exit_code == 0, result.output
    config, extra = read_checkpoint_metadata(out)
    assert config.name == "hrnet_w32" and extra["source_layout"] == "official-hrnet"
    args = ["weights", "import", str(src), "--arch", "resnet", "--out", str(out), "--exist-ok"]
    result = runner.invoke(app, args)
    assert result.exit_code == 1 and "unknown model" in result.output


def test_set_overrides_are_typed_and_passed(tmp_path: Path) -> None:
    src = tmp_path / "w.pth"
    src.write_bytes(b"x")
    args = ["--set", "head=simcc", "--set", "input_size=256,192", "--set", "freeze_backbone=false",
            "--set", "simcc_split_ratio=2", "--set", "model.width=8", "--set", "heatmap_size=none",
            "--strict", "--allow-partial"]
    with (
        mock.patch("posecli.checkpoints.import_model", return_value=(None, ImportReport("reference"))) as call,
        mock.patch("posecli.checkpoints.save_imported"),
    ):
        result = runner.invoke(app, ["weights", "import", str(src), "--arch", "fami_hrnet_w48", *args])
    assert result.exit_code == 0, result.output
    call.assert_called_once_with(
        src, "fami_hrnet_w48", strict=True, allow_partial=True,
        head="simcc", input_size=(256, 192), freeze_backbone=False, simcc_split_ratio=2.0, width=8,
        heatmap_size=None,
    )


def test_parse_model_overrides() -> None:
    assert parse_model_overrides(["input_size=256x192", "input_size = [384, 288]", "mi_estimator=kl"]) == {
        "input_size": (384, 288), "mi_estimator": "kl"
    }
    assert parse_model_overrides(["freeze_backbone=true", "num_frames=none", "init_std=1e-3"]) == {
        "freeze_backbone": True, "num_frames": None, "init_std": 0.001
    }
    bad = {
        "head": "expected key=value", "colour=red": "unknown model setting", "name=x": "set by --arch",
        "arch=tdmi": "set by --arch", "input_size=256": "two integers", "width=wide": "an integer",
        "freeze_backbone=maybe": "true or false", "init_std=small": "a number", "width=none": "an integer",
    }
    for item, message in bad.items():
        with pytest.raises(PoseCliError, match=message):
            parse_model_overrides([item])


def test_bad_set_is_one_line_and_imports_nothing(tmp_path: Path) -> None:
    src = tmp_path / "w.pth"
    src.write_bytes(b"x")
    with mock.patch("posecli.checkpoints.import_model") as call:
        for item in ("colour=red", "input_size=1,2,3", "head=resnet", "width=6"):
            result = runner.invoke(app, ["weights", "import", str(src), "--arch", "hrnet_w32", "--set", item])
            assert result.exit_code == 1, item
            assert len(result.output.strip().splitlines()) == 1 and "--set" in result.output, result.output
    call.assert_not_called()


def test_real_import_into_simcc_256x192_and_strict(tmp_path: Path) -> None:
    """An official-layout HRNet file goes into a SimCC 256×192 model; --strict refuses the missing head."""
    torch.set_num_threads(1)
    state = HRNet(8).state_dict()
    src = tmp_path / "pose_hrnet.pth"
    torch.save(state, src)
    out = tmp_path / "simcc.safetensors"
    sets = ["--set", "width=8", "--set", "head=simcc", "--set", "input_size=256,192"]
    base = ["weights", "import", str(src), "--arch", "hrnet_w32", "--out", str(out)]
    result = runner.invoke(app, [*base, *sets, "--strict"])
    assert result.exit_code == 1 and not out.exists()
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert "strict" in result.output and "missing mlp_head_x.bias" in result.output
    result = runner.invoke(app, [*base, *sets])
    assert result.exit_code == 0, result.output
    assert "1754 loaded, 4 missing" in result.output and "mlp_head_x.weight" in result.output
    config, _ = read_checkpoint_metadata(out)
    assert config.head == "simcc" and config.input_size == (256, 192) and config.simcc_split_ratio == 2.0
    model = load_checkpoint(out)
    assert model.state_dict()["mlp_head_x.weight"].shape == (384, 64 * 48)
    assert torch.equal(model.state_dict()["hrnet.conv1.weight"], state["conv1.weight"])
    # every key present and shaped right: --strict succeeds
    plain = tmp_path / "plain.safetensors"
    result = runner.invoke(app, ["weights", "import", str(src), "--arch", "hrnet_w32", "--out", str(plain),
                                 "--set", "width=8", "--strict"])
    assert result.exit_code == 0 and "0 missing, 0 unexpected, 0 shape-mismatched" in result.output


def test_posecli_checkpoint_reimport(tmp_path: Path) -> None:
    src = tmp_path / "mine.safetensors"
    save_checkpoint(src, build_model("hrnet_w32", width=8, input_size=(64, 64)))
    out = tmp_path / "again.safetensors"
    result = runner.invoke(app, ["weights", "import", str(src), "--arch", "hrnet_w32", "--out", str(out),
                                 "--set", "width=8", "--set", "input_size=64,64", "--strict"])
    assert result.exit_code == 0, result.output
    assert "posecli layout: 1754 loaded" in result.output
    assert read_checkpoint_metadata(out)[1]["source_layout"] == "posecli"


def test_a_file_of_another_width_is_refused_unless_partial_is_allowed(tmp_path: Path) -> None:
    """A width-8 HRNet imported as hrnet_w32 fills only the width-independent stem: exit 1 with the
    counts and no file, unless --allow-partial."""
    torch.set_num_threads(1)
    src = tmp_path / "pose_hrnet_w8.pth"
    torch.save(HRNet(8).state_dict(), src)
    out = tmp_path / "w32.safetensors"
    base = ["weights", "import", str(src), "--arch", "hrnet_w32", "--out", str(out)]
    result = runner.invoke(app, base)
    assert result.exit_code == 1 and not out.exists()
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "pose_hrnet_w8.pth" in lines[0] and "of 1754 hrnet_w32 tensors fit" in lines[0]
    assert "shape-mismatched" in lines[0] and "--allow-partial" in lines[0]
    result = runner.invoke(app, [*base, "--allow-partial"])
    assert result.exit_code == 0, result.output
    assert out.is_file() and "shape-mismatched" in result.output


def test_width_8_architectures_are_accepted(tmp_path: Path) -> None:
    """The tiny recipes' names (fami_hrnet_w8, as the README's synthetic recipe trains) are valid --arch."""
    torch.set_num_threads(1)
    src = tmp_path / "hrnet8.pth"
    state = HRNet(8).state_dict()
    torch.save(state, src)
    for arch in ("fami_hrnet_w8", "tdmi_hrnet_w8", "hrnet_w8"):
        out = tmp_path / f"{arch}.safetensors"
        args = ["weights", "import", str(src), "--arch", arch, "--out", str(out), "--set", "input_size=64,64"]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, (arch, result.output)
        config, extra = read_checkpoint_metadata(out)
        assert (config.name, config.width, config.arch) == (arch, 8, arch.split("_")[0])
        assert extra["source_layout"] == "official-hrnet"
        assert torch.equal(load_checkpoint(out).state_dict()["hrnet.stage4.0.fuse_layers.0.1.0.weight"],
                           state["stage4.0.fuse_layers.0.1.0.weight"])
    result = runner.invoke(app, ["weights", "import", str(src), "--arch", "fami_hrnet_w8", "--set", "width=16"])
    assert result.exit_code == 1 and "width 8, not 16" in result.output
    result = runner.invoke(app, ["weights", "import", str(src), "--arch", "fami_hrnet_w6"])
    assert result.exit_code == 1 and "--arch fami_hrnet_w6" in result.output and "multiple of 4" in result.output
