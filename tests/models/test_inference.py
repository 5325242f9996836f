"""The model stage (``posecli.runner.PoseRunner``): the boundary rule, the window it streams, and ``reuse``
equal to the whole network on a clip where the two must agree.

The models get ``informative_weights`` (O(1) weights, calibrated BN): with the reference init the DCN
outputs are ≈ 0 and FAMI's output would not depend on the supporting frames, so no gathering bug
could show. ``test_supporting_frames_change_the_whole_network_output`` guards that premise. The
comparisons run in float64: in float32, batching five crops instead of one already moves a deep O(1)
network by ~1e-5 relative, which would force a loose tolerance.
"""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from posecli.models import build_model
from posecli.models.pose_model import PoseOutput, VideoPoseModel
from posecli.runner import PoseRunner, support_frames

TEMPORAL = ["fami_hrnet_w32", "tdmi_hrnet_w32"]
F64 = torch.float64
REL = 1e-9  # float64 reuse vs the whole network differ only by summation order
NO_IMAGE = np.zeros((1, 1, 3), np.uint8)  # reuse mode never re-crops a frame


def _whole(model: VideoPoseModel, clips: torch.Tensor) -> PoseOutput:
    """The whole network on clips ``(B, T, 3, H, W)`` (every frame cropped already)."""
    with torch.no_grad():
        return model.eval()(clips)


def _people(*track_ids: int) -> list[SimpleNamespace]:
    """Key-frame people as ``reuse`` reads them (the crop geometry is only used by ``exact``)."""
    return [SimpleNamespace(track_id=i, center=None, scale=None) for i in track_ids]


def _stream(runner: PoseRunner, frames: list[dict[int, torch.Tensor]]) -> list[int]:
    """Add every frame's crops ``{track_id: (3, H, W)}`` in order, then end the stream; returns the key
    frames in the order they became ready."""
    ready = []
    for index, crops in enumerate(frames):
        ids = list(crops)
        encoded = runner.encode(torch.stack([crops[i] for i in ids])) if ids else None
        ready += runner.add_frame(index, NO_IMAGE, encoded, list(range(len(ids))), ids)
    return ready + runner.finish()


def test_support_frames_boundary_rule() -> None:
    assert support_frames(5, 0, 10) == (3, 4, 5, 6, 7)
    assert support_frames(0, 0, 10) == (0, 0, 0, 1, 2)  # p = 0 → (t, t)
    assert support_frames(1, 0, 10) == (0, 1, 1, 2, 3)  # p = 1 → (t-1, t)
    assert support_frames(9, 0, 10) == (7, 8, 9, 10, 10)  # n = 1 → (t+1, t+1)
    assert support_frames(10, 0, 10) == (8, 9, 10, 10, 10)  # n = 0 → (t, t)
    assert support_frames(4, 0, None) == (2, 3, 4, 5, 6)
    assert support_frames(0, 0, 0) == (0, 0, 0, 0, 0)
    assert support_frames(12, 10, 13) == (10, 11, 12, 13, 13)  # a stream that starts at frame 10
    assert support_frames(3, 0, 5, num_frames=1) == (3,)
    with pytest.raises(ValueError):
        support_frames(11, 0, 10)


def _changed(a: torch.Tensor, b: torch.Tensor) -> float:
    """Largest change of b against a, relative to a's scale."""
    return float((a - b).abs().max() / a.abs().max())


@pytest.mark.parametrize("name", TEMPORAL)
def test_supporting_frames_change_the_whole_network_output(name: str, tiny: dict, informative) -> None:
    """Guard for the tests below: every supporting slot, and their order, measurably moves the output."""
    model = informative(build_model(name, **tiny)).double()
    clip = torch.randn(1, 5, 3, 64, 64, dtype=F64)
    base = _whole(model, clip).heatmaps
    for slot in (0, 1, 3, 4):
        other = clip.clone()
        other[0, slot] = torch.randn(3, 64, 64, dtype=F64)
        assert _changed(base, _whole(model, other).heatmaps) > 0.05, f"slot {slot} does not matter"
    for order in ([1, 0, 2, 3, 4], [0, 1, 2, 4, 3], [3, 4, 2, 0, 1]):
        assert _changed(base, _whole(model, clip[:, order]).heatmaps) > 0.05, order


def test_key_frames_are_ready_as_soon_as_their_lookahead_arrived_and_old_frames_go(tiny: dict) -> None:
    """The window protocol: key t is ready once frame t + 2 is in (the last two at the end), and after
    each prediction only the frames a later key frame can still read are kept."""
    model = build_model("fami_hrnet_w32", **tiny).double()
    runner = PoseRunner(model)
    assert runner.lookahead == 2
    crop = torch.randn(1, 3, 64, 64, dtype=F64)
    for index in range(7):
        ready = runner.add_frame(index, NO_IMAGE, runner.encode(crop), [0], [5])
        assert ready == ([index - 2] if index >= 2 else [])
        for key in ready:
            runner.predict(key, _people(5))
            kept = sorted(runner.state()["taps"])
            assert kept == list(range(max(key - 1, 0), index + 1))  # key - 1 is slot t-2 of key + 1
    assert runner.finish() == [5, 6]
    assert runner.predict(5, _people(5)) is not None and runner.predict(6, _people(5)) is not None
    assert runner.predict(6, []) is None  # a key frame with nobody in it


@pytest.mark.parametrize("name", TEMPORAL)
def test_reuse_equals_the_whole_network_on_a_static_video(name: str, tiny: dict, relclose, informative) -> None:
    model = informative(build_model(name, **tiny)).double()
    frame = torch.randn(3, 64, 64, dtype=F64)  # a static video: every frame gives the same crop
    runner = PoseRunner(model)
    assert _stream(runner, [{7: frame}] * 6) == [0, 1, 2, 3, 4, 5]
    for key in (0, 1):
        runner.predict(key, _people(7))
    out = runner.predict(2, _people(7))
    exact = _whole(model, frame.expand(1, 5, 3, 64, 64).contiguous())
    relclose(exact.heatmaps, out.heatmaps, REL)
    relclose(exact.backbone_heatmaps, out.backbone_heatmaps, REL)


@pytest.mark.parametrize(("name", "head"), [("fami_hrnet_w32", "heatmap"), ("tdmi_hrnet_w32", "simcc")])
def test_reuse_gathers_the_right_frames(name: str, head: str, tiny: dict, relclose, informative) -> None:
    """On a moving video, reuse equals the whole network on the per-frame crops the boundary rule selects."""
    model = informative(build_model(name, head=head, **tiny)).double()
    crops = torch.randn(6, 2, 3, 64, 64, dtype=F64)  # frame, person
    runner = PoseRunner(model, batch_size=1)
    _stream(runner, [{10: crops[f, 0], 11: crops[f, 1]} for f in range(6)])
    for key in (0, 1, 2, 5):  # p = 0, p = 1, interior, n = 0
        out = runner.predict(key, _people(11, 10))
        slots = list(support_frames(key, 0, 5))
        clips = torch.stack([crops[slots, 1], crops[slots, 0]])  # (2, 5, 3, H, W) in row order
        exact = _whole(model, clips)
        relclose(exact.heatmaps, out.heatmaps, REL)
        relclose(exact.backbone_heatmaps, out.backbone_heatmaps, REL)
        if head == "simcc":
            relclose(exact.simcc_x, out.simcc_x, REL)
            relclose(exact.simcc_y, out.simcc_y, REL)


@pytest.mark.parametrize("name", TEMPORAL)
def test_reuse_equals_the_whole_network_on_stressed_weights(name: str, tiny: dict, relclose, stressed) -> None:
    """As above with ``stressed_weights`` (GTM shifts and DCN offsets of several pixels, BN calibrated
    on these very crops): every cached slot a key frame reads is the right one, in the right place."""
    model = build_model(name, **tiny).double()
    crops = torch.randn(7, 3, 3, 64, 64, dtype=F64)  # frame, person
    stressed(model, crops[:5].transpose(0, 1).contiguous())  # each person's clip of frames 0..4
    runner = PoseRunner(model, batch_size=2)
    _stream(runner, [{20 + p: crops[f, p] for p in range(3)} for f in range(7)])
    for key in (0, 1, 3, 5, 6):
        out = runner.predict(key, _people(20, 21, 22))
        slots = list(support_frames(key, 0, 6))
        exact = _whole(model, crops[slots].transpose(0, 1))  # (3, 5, 3, H, W), one clip per person
        relclose(exact.heatmaps, out.heatmaps, REL)
        relclose(exact.backbone_heatmaps, out.backbone_heatmaps, REL)


@pytest.mark.parametrize("name", TEMPORAL)
def test_missing_person_takes_key_features_and_eviction(name: str, tiny: dict, relclose, informative) -> None:
    model = informative(build_model(name, **tiny)).double()
    crops = torch.randn(5, 2, 3, 64, 64, dtype=F64)  # frame, person
    frames = []
    for f in range(5):
        people = {1: crops[f, 0], 2: crops[f, 1]}
        if f == 3:
            del people[1]  # person 1 is missed in frame 3 (slot t+1 of key frame 2), person 2 is not
        if f == 0:
            del people[2]  # person 2 is missed in frame 0 (slot t-2)
        frames.append(people)
    runner = PoseRunner(model)
    _stream(runner, frames)
    out = runner.predict(2, _people(1, 2))
    clip_1 = crops[[0, 1, 2, 2, 4], 0]  # the missing slot holds the key frame's crop
    clip_2 = crops[[2, 1, 2, 3, 4], 1]
    exact = _whole(model, torch.stack([clip_1, clip_2]))
    relclose(exact.heatmaps[:1], out.heatmaps[:1], REL)
    relclose(exact.heatmaps[1:], out.heatmaps[1:], REL)
    assert sorted(runner.state()["taps"]) == [1, 2, 3, 4]  # frame 0 is no later key frame's slot
    with pytest.raises(KeyError, match="no longer kept"):
        runner.predict(2, _people(1, 2))
    with pytest.raises(KeyError):
        runner.predict(9, _people(1))


def test_single_frame_model_reuse(tiny: dict, relclose, informative) -> None:
    model = informative(build_model("hrnet_w32", **tiny)).double()
    crop = torch.randn(3, 64, 64, dtype=F64)
    runner = PoseRunner(model)
    assert runner.lookahead == 0
    assert _stream(runner, [{0: crop}]) == [0]
    out = runner.predict(0, _people(0))
    relclose(_whole(model, crop[None, None]).heatmaps, out.heatmaps, REL)
