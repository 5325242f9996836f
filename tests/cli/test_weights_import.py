"""``posecli weights import``: thin command over ``posecli.checkpoints.import_checkpoint``."""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import torch
from typer.testing import CliRunner

from posecli.checkpoints import ImportReport, read_checkpoint_metadata
from posecli.cli import app
from posecli.models.backbones.hrnet import HRNet

runner = CliRunner()


def test_help() -> None:
    result = runner.invoke(app, ["weights", "import", "--help"])
    assert result.exit_code == 0 and "--arch" in result.output


def test_passes_keywords_and_reports(tmp_path: Path) -> None:
    src = tmp_path / "w.pth"
    src.write_bytes(b"x")
    report = ImportReport("official-hrnet", loaded=["hrnet.a"], missing=[f"k{i}" for i in range(12)])
    with mock.patch("posecli.checkpoints.import_checkpoint", return_value=report) as call:
        result = runner.invoke(app, ["weights", "import", str(src), "--arch", "fami_hrnet_w48"])
    assert result.exit_code == 0, result.output
    call.assert_called_once_with(src=src, arch="fami_hrnet_w48", out=tmp_path / "w.fami_hrnet_w48.safetensors")
    assert "12 missing" in result.output and "and 4 more" in result.output


def test_refuses_overwrite_and_bad_input(tmp_path: Path) -> None:
    src = tmp_path / "w.pth"
    src.write_bytes(b"x")
    out = tmp_path / "o.safetensors"
    out.write_bytes(b"old")
    with mock.patch("posecli.checkpoints.import_checkpoint") as call:
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
    result = runner.invoke(app, ["weights", "import", str(src), "--arch", "resnet", "--out", str(out), "--exist-ok"])
    assert result.exit_code == 1 and "unknown model" in result.output
