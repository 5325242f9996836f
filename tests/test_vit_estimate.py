"""``estimate`` with width-reduced ViTPose / TAR-ViTPose checkpoints on a synthetic clip with box files:
both inference modes, flip test and ``--half`` give every frame's people with finite keypoints."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn
from typer.testing import CliRunner

from posecli import jobs
from posecli.checkpoints import save_checkpoint
from posecli.cli import app
from posecli.data.synthetic import make_synthetic_video
from posecli.export.boxes import FrameDetections, write_boxes_json
from posecli.export.posetrack import read_posetrack_json
from posecli.models import build_model
from posecli.structures import Detection
from posecli.video import probe_video

FRAMES = 8
TINY = {"width": 16, "vit_depth": 1, "vit_heads": 2, "input_size": (128, 96), "decoder_channels": 8, "tar_layers": 1}


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("vitscene")
    video = root / "walk.mp4"
    tracks = make_synthetic_video(video, frames=FRAMES, people=2, size=(320, 240), seed=3)
    frames = [
        FrameDetections(f, f / 25.0, tuple(Detection(box=t.boxes[f], score=0.9) for t in tracks if t.visible[f]))
        for f in range(FRAMES)
    ]
    boxes = root / "walk.boxes.json"
    write_boxes_json(boxes, frames, probe_video(video))
    weights = {}
    for name in ("tar_vitpose_b", "vitpose_b"):
        torch.manual_seed(0)
        model = build_model(name, **TINY)
        # O(1) heatmaps: the decoder's N(0, 0.001) init gives ~1e-6 maps, which TAR's mask blocks entirely
        for module in model.keypoint_head.modules():
            if isinstance(module, (nn.ConvTranspose2d, nn.Conv2d)):
                nn.init.normal_(module.weight, std=(1.0 / module.weight[0].numel()) ** 0.5)
        weights[name] = root / f"{name}.safetensors"
        save_checkpoint(weights[name], model)
    return {"video": video, "boxes": boxes, "weights": weights, "people": sum(t.visible.sum() for t in tracks)}


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "mode", "flip_test", "half"),
    [("tar_vitpose_b", "reuse", False, False), ("tar_vitpose_b", "exact", True, False),
     ("tar_vitpose_b", "reuse", True, True), ("vitpose_b", "reuse", False, False)],
)
def test_estimate_runs_the_vit_networks(scene: dict, tmp_path: Path, name: str, mode: str, flip_test: bool,
                                        half: bool) -> None:
    options = jobs.EstimateOptions(
        weights=scene["weights"][name], boxes=scene["boxes"], overlay=False, mode=mode, flip_test=flip_test,
        half=half,
    )
    jobs.estimate_videos([scene["video"]], tmp_path, options, quiet=True)
    results = read_posetrack_json(tmp_path / "walk.posetrack.json")
    assert [r.frame_index for r in results] == list(range(FRAMES))
    assert sum(len(r.instances) for r in results) == scene["people"]
    for frame in results:
        for person in frame.instances:
            assert np.isfinite(person.keypoints).all()
            x1, y1, x2, y2 = person.box
            w, h = x2 - x1, y2 - y1
            assert np.all(person.keypoints[:, 0] > x1 - w) and np.all(person.keypoints[:, 0] < x2 + w)
            assert np.all(person.keypoints[:, 1] > y1 - h) and np.all(person.keypoints[:, 1] < y2 + h)


def test_cli_model_name_must_match_the_weights(scene: dict, tmp_path: Path) -> None:
    """``--model vitpose_b`` with a width-16 checkpoint is one line naming the weights, exit 1."""
    result = CliRunner().invoke(app, [
        "estimate", str(scene["video"]), "--model", "tar_vitpose_b", "--weights", str(scene["weights"]["vitpose_b"]),
        "--boxes", str(scene["boxes"]), "--out-dir", str(tmp_path), "--no-overlay", "-q",
    ])
    assert result.exit_code == 1
    assert "vitpose_b.safetensors" in result.output and "not tar_vitpose_b" in result.output
    assert "Traceback" not in result.output


@pytest.mark.slow
def test_interrupted_tar_run_resumes_byte_identical(scene: dict, tmp_path: Path, monkeypatch) -> None:
    """The runner's cache holds two tensors per crop for TAR (heatmaps, tokens): both survive a resume."""
    from posecli.pipeline import TopDownProcessor

    def options() -> jobs.EstimateOptions:
        return jobs.EstimateOptions(weights=scene["weights"]["tar_vitpose_b"], boxes=scene["boxes"], overlay=False,
                                    jsonl=True, checkpoint_every=2)

    jobs.estimate_videos([scene["video"]], tmp_path / "whole", options(), quiet=True)
    original_push = TopDownProcessor.push
    calls = {"n": 0}

    def crashing_push(self, frame):
        calls["n"] += 1
        if calls["n"] == 6:
            raise KeyboardInterrupt
        return original_push(self, frame)

    monkeypatch.setattr(TopDownProcessor, "push", crashing_push)
    with pytest.raises(KeyboardInterrupt):
        jobs.estimate_videos([scene["video"]], tmp_path / "cut", options(), quiet=True)
    monkeypatch.setattr(TopDownProcessor, "push", original_push)
    [summary] = jobs.estimate_videos([scene["video"]], tmp_path / "cut", options(), quiet=True, resume=True)
    assert summary.resumed_from > 0
    for name in ["walk.posetrack.json", "walk.jsonl"]:
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
