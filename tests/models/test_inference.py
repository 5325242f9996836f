"""Video inference modes: the boundary rule, and ``reuse`` equal to ``exact`` where they must agree."""

from __future__ import annotations

import pytest
import torch

from posecli.models import build_model
from posecli.models.inference import ReuseRunner, predict_exact, support_frames


def test_support_frames_boundary_rule() -> None:
    assert support_frames(5, 0, 10) == (3, 4, 5, 6, 7)
    assert support_frames(0, 0, 10) == (0, 0, 0, 1, 2)  # p = 0 → (t, t)
    assert support_frames(1, 0, 10) == (0, 1, 1, 2, 3)  # p = 1 → (t-1, t)
    assert support_frames(9, 0, 10) == (7, 8, 9, 10, 10)  # n = 1 → (t+1, t+1)
    assert support_frames(10, 0, 10) == (8, 9, 10, 10, 10)  # n = 0 → (t, t)
    assert support_frames(4, 0, None) == (2, 3, 4, 5, 6)
    assert support_frames(0, 0, 0) == (0, 0, 0, 0, 0)
    assert support_frames(3, 0, 5, num_frames=1) == (3,)
    with pytest.raises(ValueError):
        support_frames(11, 0, 10)


def _scale_head(model: torch.nn.Module) -> None:
    """Make outputs O(1) instead of ~1e-6 (reference init) so equality checks mean something."""
    with torch.no_grad():
        for p in model.parameters():
            if p.dim() > 1:
                p.mul_(30.0)


@pytest.mark.parametrize("name", ["fami_hrnet_w32", "tdmi_hrnet_w32"])
def test_reuse_equals_exact_on_static_video(name: str, tiny: dict, relclose) -> None:
    model = build_model(name, **tiny).eval()
    _scale_head(model)
    frame = torch.randn(3, 64, 64)  # a static video: every frame gives the same crop
    runner = ReuseRunner(model)
    for f in range(6):
        runner.add_frame(f, {7: frame})
    out, ids = runner.predict(2, last_frame=5)
    exact = predict_exact(model, frame.expand(1, 5, 3, 64, 64).contiguous())
    assert ids == [7]
    relclose(exact.heatmaps, out.heatmaps)
    relclose(exact.backbone_heatmaps, out.backbone_heatmaps)


def test_reuse_gathers_the_right_frames(tiny: dict, relclose) -> None:
    """On a moving video, reuse equals exact run on the per-frame crops the boundary rule selects."""
    model = build_model("tdmi_hrnet_w32", head="simcc", **tiny).eval()
    _scale_head(model)
    crops = torch.randn(6, 2, 3, 64, 64)  # frame, person
    runner = ReuseRunner(model, batch_size=1)
    for f in range(6):
        runner.add_frame(f, {10: crops[f, 0], 11: crops[f, 1]})
    for key in (0, 1, 4, 5):
        out, ids = runner.predict(key, last_frame=5, track_ids=[11, 10])
        slots = list(support_frames(key, 0, 5))
        clips = torch.stack([crops[slots, 1], crops[slots, 0]])  # (2, 5, 3, H, W) in row order
        exact = predict_exact(model, clips, batch_size=1)
        assert ids == [11, 10]
        relclose(exact.heatmaps, out.heatmaps)
        relclose(exact.simcc_x, out.simcc_x)


def test_missing_person_takes_key_features_and_eviction(tiny: dict, relclose) -> None:
    model = build_model("fami_hrnet_w32", **tiny).eval()
    _scale_head(model)
    crops = torch.randn(5, 3, 64, 64)
    runner = ReuseRunner(model)
    for f in range(5):
        runner.add_frame(f, {1: crops[f]} if f != 3 else {})  # the person is missed in frame 3
    out, _ = runner.predict(2, last_frame=4)
    clip = torch.stack([crops[0], crops[1], crops[2], crops[2], crops[4]])[None]
    relclose(predict_exact(model, clip).heatmaps, out.heatmaps)
    runner.evict(1)
    assert runner.frames == [1, 2, 3, 4]
    with pytest.raises(KeyError, match="not cached"):
        runner.predict(2, last_frame=4)
    with pytest.raises(KeyError):
        runner.predict(9)


def test_single_frame_model_reuse(tiny: dict, relclose) -> None:
    model = build_model("hrnet_w32", **tiny).eval()
    _scale_head(model)
    crop = torch.randn(3, 64, 64)
    runner = ReuseRunner(model)
    assert runner.lookahead == 0
    runner.add_frame(0, {0: crop})
    out, _ = runner.predict(0)
    relclose(predict_exact(model, crop[None, None]).heatmaps, out.heatmaps)
