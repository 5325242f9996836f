"""posecli checkpoints (safetensors + config) and import of foreign checkpoint layouts."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from safetensors.torch import save_file

from posecli.checkpoints import (
    import_checkpoint,
    import_model,
    load_checkpoint,
    read_checkpoint_metadata,
    remap_keys,
    save_checkpoint,
)
from posecli.errors import PoseCliError
from posecli.models import build_model
from posecli.models.backbones.hrnet import HRNet

TINY = {"width": 8, "input_size": (64, 64)}


@pytest.fixture(autouse=True)
def _threads() -> None:
    torch.manual_seed(0)
    torch.set_num_threads(1)


def _random_state(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    """A state dict with fresh random values, so a successful load is visible."""
    state = model.state_dict()
    return {k: (torch.randn_like(v) if v.is_floating_point() else v + 3) for k, v in state.items()}


def test_save_load_round_trip(tmp_path: Path) -> None:
    model = build_model("tdmi_hrnet_w32", head="simcc", gtm="translation", **TINY).eval()
    path = tmp_path / "m.safetensors"
    save_checkpoint(path, model, extra={"epoch": 7, "git": "abc"})
    config, extra = read_checkpoint_metadata(path)
    assert config == model.config and extra == {"epoch": 7, "git": "abc"}
    loaded = load_checkpoint(path).eval()
    assert loaded.config == model.config
    loaded_state = loaded.state_dict()
    for key, value in model.state_dict().items():
        assert torch.equal(value, loaded_state[key]), key
    frames = torch.randn(1, 5, 3, 64, 64)
    with torch.no_grad():
        assert torch.equal(model(frames).simcc_y, loaded(frames).simcc_y)
    assert not list(tmp_path.glob(".*tmp*"))  # the atomic writer left no temporary file


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(PoseCliError, match="not found"):
        load_checkpoint(tmp_path / "none.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"not a checkpoint")
    with pytest.raises(PoseCliError, match="junk.safetensors"):
        load_checkpoint(junk)
    plain = tmp_path / "plain.safetensors"
    save_file({"w": torch.zeros(2)}, str(plain))
    with pytest.raises(PoseCliError, match="no posecli config"):
        load_checkpoint(plain)


def test_import_official_hrnet(tmp_path: Path) -> None:
    hrnet = HRNet(32)
    state = _random_state(hrnet)
    src = tmp_path / "pose_hrnet_w32_256x192.pth"
    # DataParallel-style names inside the reference wrapper
    torch.save({"state_dict": {f"module.{k}": v for k, v in state.items()}, "epoch": 3}, src)
    out = tmp_path / "out.safetensors"
    report = import_checkpoint(src, "hrnet_w32", out)
    assert report.source_layout == "official-hrnet"
    assert len(report.loaded) == 1_754 and not report.missing and not report.unexpected
    model = load_checkpoint(out)
    assert torch.equal(model.state_dict()["hrnet.stage4.2.fuse_layers.0.3.1.weight"],
                       state["stage4.2.fuse_layers.0.3.1.weight"])
    _, extra = read_checkpoint_metadata(out)
    assert extra["source_layout"] == "official-hrnet" and extra["imported_from"] == src.name


def _mmpose_layout(state: dict[str, torch.Tensor], version: int) -> dict[str, torch.Tensor]:
    """Official HRNet keys → an mmpose HRNet checkpoint's: ``backbone.*`` and the head's ``final_layer``.

    mmpose builds its norms with mmcv's ``build_norm_layer(cfg, n, postfix=i)``, which names a
    BatchNorm ``bn{i}`` (abbreviation "bn"): the stem is ``backbone.bn1``/``bn2``, Bottlenecks
    ``backbone.layer1.0.bn3``, BasicBlocks ``….branches.0.0.bn2``; downsample, transition and fuse
    layers are ``nn.Sequential`` with the same indices as the official code. So below the prefix the
    names equal the official ones; only the head moves (0.x ``keypoint_head.``, 1.x ``head.``).
    """
    out = {}
    for key, value in state.items():
        if key.startswith("final_layer."):
            head = "keypoint_head" if version == 0 else "head"
            out[f"{head}.{key}"] = value
        else:
            out["backbone." + key] = value
    return out


@pytest.mark.parametrize("version", [0, 1])
def test_import_mmpose_hrnet_into_fami(tmp_path: Path, version: int) -> None:
    hrnet = HRNet(8)
    state = _random_state(hrnet)
    layout = _mmpose_layout(state, version)
    for key in ("backbone.bn1.weight", "backbone.bn2.running_var", "backbone.layer1.0.bn3.weight",
                "backbone.layer1.0.downsample.1.running_mean", "backbone.stage2.0.branches.0.0.bn2.bias",
                "backbone.transition1.1.0.1.weight", "backbone.stage4.2.fuse_layers.0.3.1.weight",
                ("keypoint_head" if version == 0 else "head") + ".final_layer.weight"):
        assert key in layout, key
    assert not any("norm" in k for k in layout)
    src = tmp_path / "mmpose.pth"
    torch.save({"meta": {"mmpose": "x"}, "state_dict": layout}, src)
    out = tmp_path / "fami.safetensors"
    report = import_checkpoint(src, "fami_hrnet_w32", out, **TINY)
    assert report.source_layout == "mmpose-hrnet"
    assert len(report.loaded) == 1_754 and not report.unexpected
    # the temporal part stays at its init
    assert report.missing and all(not k.startswith("hrnet.") for k in report.missing)
    model = load_checkpoint(out)
    loaded = model.state_dict()
    for key in ("final_layer.weight", "layer1.0.bn3.running_var", "bn1.weight"):
        assert torch.equal(loaded[f"hrnet.{key}"], state[key]), key
    strict = import_checkpoint(src, "hrnet_w32", tmp_path / "hrnet.safetensors", strict=True, **TINY)
    assert strict.source_layout == "mmpose-hrnet" and len(strict.loaded) == 1_754 and not strict.missing


def test_import_reference_fami_layout_and_mismatch(tmp_path: Path) -> None:
    source = build_model("fami_hrnet_w32", **TINY)
    state = _random_state(source)
    state["preact.extra_head.weight"] = torch.zeros(3)  # leading preact. is stripped, key is surplus
    state["dcn_1.bias"] = torch.zeros(5)  # wrong shape
    src = tmp_path / "epoch_20_state.pth"
    torch.save({"begin_epoch": 21, "state_dict": state, "optimizer": [{}]}, src)
    # a mis-shaped key means another architecture or width: refused unless asked for, nothing written
    with pytest.raises(PoseCliError, match=r"only 1928 of 1929 fami_hrnet_w32 tensors fit .*1 shape-mismatched"):
        import_checkpoint(src, "fami_hrnet_w32", tmp_path / "x.safetensors", **TINY)
    assert not (tmp_path / "x.safetensors").exists()
    report = import_checkpoint(src, "fami_hrnet_w32", tmp_path / "x.safetensors", allow_partial=True, **TINY)
    assert report.source_layout == "reference"
    assert report.unexpected == ["extra_head.weight"]
    assert report.mismatched == ["dcn_1.bias: (5,) vs (8,)"] and report.missing == ["dcn_1.bias"]
    assert "1 unexpected" in report.summary()
    model = load_checkpoint(tmp_path / "x.safetensors")
    key = "feat_global_offset_layers.9.weight"
    assert torch.equal(model.state_dict()[key], state[key])


def test_import_dcpose_prefix() -> None:
    state = {"rough_pose_estimation_net.conv1.weight": torch.zeros(1), "other.x": torch.zeros(1)}
    remapped, layout = remap_keys(state)
    assert layout == "dcpose" and set(remapped) == {"hrnet.conv1.weight", "other.x"}


def test_import_errors(tmp_path: Path) -> None:
    src = tmp_path / "x.pth"
    torch.save({"foo.weight": torch.zeros(2)}, src)
    with pytest.raises(PoseCliError, match="no key matches"):
        import_checkpoint(src, "hrnet_w32", tmp_path / "o.safetensors", **TINY)
    with pytest.raises(PoseCliError, match="--arch"):
        import_checkpoint(src, "resnet50", tmp_path / "o.safetensors")
    bad = tmp_path / "bad.pth"
    bad.write_bytes(b"garbage")
    with pytest.raises(PoseCliError, match="bad.pth"):
        import_checkpoint(bad, "hrnet_w32", tmp_path / "o.safetensors")
    torch.save([1, 2], tmp_path / "list.pth")
    with pytest.raises(PoseCliError, match="not a state dict"):
        import_checkpoint(tmp_path / "list.pth", "hrnet_w32", tmp_path / "o.safetensors")


def test_load_foreign_weights_in_place(tmp_path: Path) -> None:
    from posecli.checkpoints import load_foreign_weights

    model = build_model("tdmi_hrnet_w32", **TINY)
    before = model.state_dict()["dcn_1.weight"].clone()
    hrnet_state = _random_state(HRNet(8))
    src = tmp_path / "out_model.pth"
    torch.save(hrnet_state, src)  # a bare HRNet state dict, like the reference's out_model.pth
    report = load_foreign_weights(model, src)
    assert report.source_layout == "official-hrnet" and len(report.loaded) == 1_754
    assert torch.equal(model.state_dict()["hrnet.conv1.weight"], hrnet_state["conv1.weight"])
    assert torch.equal(model.state_dict()["dcn_1.weight"], before)
    # strict: the bare HRNet lacks the temporal keys → refused, and the model is left as it was
    fresh = build_model("tdmi_hrnet_w32", **TINY)
    conv1 = fresh.state_dict()["hrnet.conv1.weight"].clone()
    message = "strict import into tdmi_hrnet_w32 failed: .*, 438 missing, 0 unexpected"
    with pytest.raises(PoseCliError, match=message):
        load_foreign_weights(fresh, src, strict=True)
    assert torch.equal(fresh.state_dict()["hrnet.conv1.weight"], conv1)


def test_strict_import_refuses_any_mismatch(tmp_path: Path) -> None:
    source = build_model("fami_hrnet_w32", **TINY)
    full = _random_state(source)
    cases = {
        "missing dcn_1.bias": {k: v for k, v in full.items() if k != "dcn_1.bias"},
        "unexpected extra.weight": {**full, "extra.weight": torch.zeros(1)},
        "mismatched dcn_1.bias": {**full, "dcn_1.bias": torch.zeros(5)},
    }
    for message, state in cases.items():
        src = tmp_path / "epoch_1_state.pth"
        torch.save({"state_dict": state}, src)
        out = tmp_path / "strict.safetensors"
        expected = f"strict import into fami_hrnet_w32 failed: .*first {message}"
        with pytest.raises(PoseCliError, match=expected):
            import_checkpoint(src, "fami_hrnet_w32", out, strict=True, **TINY)
        assert not out.exists()
    torch.save({"state_dict": full}, tmp_path / "ok.pth")
    report = import_checkpoint(
        tmp_path / "ok.pth", "fami_hrnet_w32", tmp_path / "ok.safetensors", strict=True, **TINY
    )
    assert report.source_layout == "reference" and len(report.loaded) == len(full)


def test_import_posecli_checkpoint_layout(tmp_path: Path) -> None:
    model = build_model("tdmi_hrnet_w32", head="simcc", **TINY)
    state = _random_state(model)
    model.load_state_dict(state)
    src = tmp_path / "native.safetensors"
    save_checkpoint(src, model)
    report = import_checkpoint(
        src, "tdmi_hrnet_w32", tmp_path / "copy.safetensors", strict=True, head="simcc", **TINY
    )
    assert report.source_layout == "posecli" and len(report.loaded) == len(state)
    copy = load_checkpoint(tmp_path / "copy.safetensors")
    assert torch.equal(copy.state_dict()["mlp_head_y.weight"], state["mlp_head_y.weight"])
    # a plain safetensors file with the same keys but no posecli metadata is the reference layout
    plain = tmp_path / "plain.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(plain))
    assert import_checkpoint(plain, "tdmi_hrnet_w32", tmp_path / "p.safetensors", head="simcc",
                             **TINY).source_layout == "reference"


def test_import_model_in_memory_writes_nothing(tmp_path: Path) -> None:
    """The Python form of `weights import`: the filled model and the key report, and no file."""
    hrnet_state = _random_state(HRNet(8))
    src = tmp_path / "pose_hrnet_w8.pth"
    torch.save({"state_dict": {f"module.{k}": v for k, v in hrnet_state.items()}}, src)
    before = sorted(tmp_path.iterdir())
    model, report = import_model(src, "fami_hrnet_w8", input_size=(64, 64))
    assert sorted(tmp_path.iterdir()) == before
    assert model.config.name == "fami_hrnet_w8" and model.config.width == 8
    assert report.source_layout == "official-hrnet" and len(report.loaded) == len(hrnet_state)
    assert report.missing and not any(k.startswith("hrnet.") for k in report.missing)  # the temporal part
    assert torch.equal(model.state_dict()["hrnet.layer1.0.conv2.weight"], hrnet_state["layer1.0.conv2.weight"])
    # the same call through import_checkpoint writes exactly that model
    out = tmp_path / "fami8.safetensors"
    import_checkpoint(src, "fami_hrnet_w8", out, input_size=(64, 64))
    assert torch.equal(load_checkpoint(out).state_dict()["hrnet.final_layer.weight"],
                       hrnet_state["final_layer.weight"])
    # another width is refused with counts, or loaded partially when asked
    with pytest.raises(PoseCliError, match=r"pose_hrnet_w8.pth: only \d+ of 1754 hrnet_w32 tensors fit"):
        import_model(src, "hrnet_w32", input_size=(64, 64))
    _, partial = import_model(src, "hrnet_w32", allow_partial=True, input_size=(64, 64))
    assert partial.mismatched and len(partial.loaded) < 1754
