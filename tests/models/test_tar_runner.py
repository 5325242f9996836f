"""TAR-ViTPose and ViTPose in the streaming model stage (``PoseRunner``): ``reuse`` equals the whole network
on the crops the boundary rule selects, and each crop's encoder and first-pass decoder run once."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from torch import nn

from posecli.models import build_model
from posecli.models.pose_model import VideoPoseModel
from posecli.runner import PoseRunner, support_frames

F64 = torch.float64
NO_IMAGE = np.zeros((1, 1, 3), np.uint8)  # reuse mode never re-crops a frame
SIZE = (64, 64)


def _model(name: str) -> VideoPoseModel:
    """A tiny model whose decoder gives O(1) heatmaps (its N(0, 0.001) init would give ~1e-6 maps)."""
    torch.manual_seed(0)
    model = build_model(name, width=16, input_size=SIZE, decoder_channels=8, tar_layers=2)
    for module in model.keypoint_head.modules():
        if isinstance(module, (nn.ConvTranspose2d, nn.Conv2d)):
            nn.init.normal_(module.weight, std=(1.0 / module.weight[0].numel()) ** 0.5)
    return model.double().eval()


def _people(*track_ids: int) -> list[SimpleNamespace]:
    return [SimpleNamespace(track_id=i, center=None, scale=None) for i in track_ids]


def _relclose(a: torch.Tensor, b: torch.Tensor, rel: float = 1e-9) -> None:
    scale = a.abs().max()
    assert scale > 0 and (a - b).abs().max() <= rel * scale, float((a - b).abs().max() / scale)


@pytest.mark.parametrize("name", ["tar_vitpose_s", "vitpose_s"])
def test_reuse_equals_the_whole_network_and_encodes_each_crop_once(name: str) -> None:
    model = _model(name)
    calls = {"backbone": 0, "decoder": 0}
    model.backbone.register_forward_hook(lambda m, a, o: calls.__setitem__("backbone", calls["backbone"] + len(a[0])))
    model.keypoint_head.register_forward_hook(lambda m, a, o: calls.__setitem__("decoder", calls["decoder"] + len(a[0])))
    crops = torch.randn(6, 2, 3, *SIZE, dtype=F64)  # frame, person
    runner = PoseRunner(model, batch_size=3)
    for f in range(6):
        runner.add_frame(f, NO_IMAGE, runner.encode(crops[f]), [0, 1], [10, 11])
    runner.finish()
    assert calls == {"backbone": 12, "decoder": 12}  # every crop once: encoder + its heatmaps (the tracker's pose)
    outputs = {key: runner.predict(key, _people(11, 10)) for key in range(6)}
    # reuse adds no encoder pass; TAR decodes its restored key map once per person-key-frame
    assert calls == {"backbone": 12, "decoder": 12 + (12 if name.startswith("tar") else 0)}
    for key, out in outputs.items():
        slots = list(support_frames(key, 0, 5, model.num_frames))
        clips = torch.stack([crops[slots, 1], crops[slots, 0]])  # (2, T, 3, H, W) in row order
        with torch.no_grad():
            whole = model(clips)
        _relclose(whole.heatmaps, out.heatmaps)
        if name.startswith("tar"):
            _relclose(whole.backbone_heatmaps, out.backbone_heatmaps)


def test_tar_reuse_with_flip_test_and_half_runs() -> None:
    model = _model("tar_vitpose_s").float()
    crops = torch.randn(5, 1, 3, *SIZE)
    for half in (False, True):
        runner = PoseRunner(model, flip_test=True, half=half)
        for f in range(5):
            runner.add_frame(f, NO_IMAGE, runner.encode(crops[f]), [0], [3])
        runner.finish()
        out = runner.predict(2, _people(3))
        assert out.heatmaps.shape == (1, 17, 16, 16) and torch.isfinite(out.heatmaps).all()
