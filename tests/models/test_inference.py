"""Video inference modes: the boundary rule, and ``reuse`` equal to ``exact`` where they must agree.

The models get ``informative_weights`` (O(1) weights, calibrated BN): with the reference init the DCN
outputs are ≈ 0 and FAMI's output would not depend on the supporting frames, so no gathering bug
could show. ``test_supporting_frames_change_exact_output`` guards that premise. The comparisons run in
float64: in float32, batching five crops instead of one already moves a deep O(1) network by ~1e-5
relative, which would force a loose tolerance.
"""

from __future__ import annotations

import pytest
import torch

from posecli.models import build_model
from posecli.models.inference import ReuseRunner, predict_exact, support_frames

TEMPORAL = ["fami_hrnet_w32", "tdmi_hrnet_w32"]
F64 = torch.float64
REL = 1e-9  # float64 reuse vs exact differ only by summation order


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


def _changed(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest change of b against a, relative to a's scale."""
    return float((a - b).abs().max() / a.abs().max())


@pytest.mark.parametrize("name", TEMPORAL)
def test_supporting_frames_change_exact_output(name: str, tiny: dict, informative) -> None:
    """Guard for the tests below: every supporting slot, and their order, measurably moves the output."""
    model = informative(build_model(name, **tiny)).double()
    clip = torch.randn(1, 5, 3, 64, 64, dtype=F64)
    base = predict_exact(model, clip).heatmaps
    for slot in (0, 1, 3, 4):
        other = clip.clone()
        other[0, slot] = torch.randn(3, 64, 64, dtype=F64)
        assert _changed(base, predict_exact(model, other).heatmaps) > 0.05, f"slot {slot} does not matter"
    for order in ([1, 0, 2, 3, 4], [0, 1, 2, 4, 3], [3, 4, 2, 0, 1]):
        assert _changed(base, predict_exact(model, clip[:, order]).heatmaps) > 0.05, order


@pytest.mark.parametrize("name", TEMPORAL)
def test_reuse_equals_exact_on_static_video(name: str, tiny: dict, relclose, informative) -> None:
    model = informative(build_model(name, **tiny)).double()
    frame = torch.randn(3, 64, 64, dtype=F64)  # a static video: every frame gives the same crop
    runner = ReuseRunner(model)
    for f in range(6):
        runner.add_frame(f, {7: frame})
    out, ids = runner.predict(2, last_frame=5)
    exact = predict_exact(model, frame.expand(1, 5, 3, 64, 64).contiguous())
    assert ids == [7]
    relclose(exact.heatmaps, out.heatmaps, REL)
    relclose(exact.backbone_heatmaps, out.backbone_heatmaps, REL)


@pytest.mark.parametrize(("name", "head"), [("fami_hrnet_w32", "heatmap"), ("tdmi_hrnet_w32", "simcc")])
def test_reuse_gathers_the_right_frames(name: str, head: str, tiny: dict, relclose, informative) -> None:
    """On a moving video, reuse equals exact run on the per-frame crops the boundary rule selects."""
    model = informative(build_model(name, head=head, **tiny)).double()
    crops = torch.randn(6, 2, 3, 64, 64, dtype=F64)  # frame, person
    runner = ReuseRunner(model, batch_size=1)
    for f in range(6):
        runner.add_frame(f, {10: crops[f, 0], 11: crops[f, 1]})
    for key in (0, 1, 2, 5):  # p = 0, p = 1, interior, n = 0
        out, ids = runner.predict(key, last_frame=5, track_ids=[11, 10])
        slots = list(support_frames(key, 0, 5))
        clips = torch.stack([crops[slots, 1], crops[slots, 0]])  # (2, 5, 3, H, W) in row order
        exact = predict_exact(model, clips, batch_size=1)
        assert ids == [11, 10]
        relclose(exact.heatmaps, out.heatmaps, REL)
        relclose(exact.backbone_heatmaps, out.backbone_heatmaps, REL)
        if head == "simcc":
            relclose(exact.simcc_x, out.simcc_x, REL)
            relclose(exact.simcc_y, out.simcc_y, REL)


@pytest.mark.parametrize("name", TEMPORAL)
def test_missing_person_takes_key_features_and_eviction(name: str, tiny: dict, relclose, informative) -> None:
    model = informative(build_model(name, **tiny)).double()
    crops = torch.randn(5, 2, 3, 64, 64, dtype=F64)  # frame, person
    runner = ReuseRunner(model)
    for f in range(5):
        people = {1: crops[f, 0], 2: crops[f, 1]}
        if f == 3:
            del people[1]  # person 1 is missed in frame 3 (slot t+1 of key frame 2), person 2 is not
        if f == 0:
            del people[2]  # person 2 is missed in frame 0 (slot t-2)
        runner.add_frame(f, people)
    out, ids = runner.predict(2, last_frame=4)
    assert ids == [1, 2]
    clip_1 = crops[[0, 1, 2, 2, 4], 0]  # the missing slot holds the key frame's crop
    clip_2 = crops[[2, 1, 2, 3, 4], 1]
    exact = predict_exact(model, torch.stack([clip_1, clip_2]))
    relclose(exact.heatmaps[:1], out.heatmaps[:1], REL)
    relclose(exact.heatmaps[1:], out.heatmaps[1:], REL)
    runner.evict(1)
    assert runner.frames == [1, 2, 3, 4]
    with pytest.raises(KeyError, match="not cached"):
        runner.predict(2, last_frame=4)
    with pytest.raises(KeyError):
        runner.predict(9)


def test_single_frame_model_reuse(tiny: dict, relclose, informative) -> None:
    model = informative(build_model("hrnet_w32", **tiny)).double()
    crop = torch.randn(3, 64, 64, dtype=F64)
    runner = ReuseRunner(model)
    assert runner.lookahead == 0
    runner.add_frame(0, {0: crop})
    out, _ = runner.predict(0)
    relclose(predict_exact(model, crop[None, None]).heatmaps, out.heatmaps, REL)
