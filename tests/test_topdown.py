"""``estimate`` with a posecli network (top-down: boxes → tracker → crops → FAMI-Pose/HRNet) on a
synthetic clip with known tracks: ids through a crossing and an occlusion, both inference modes,
an entering/leaving person, resume after an interruption."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from posecli import jobs
from posecli.checkpoints import save_checkpoint
from posecli.data.synthetic import make_synthetic_video
from posecli.errors import PoseCliError
from posecli.export.boxes import FrameDetections, write_boxes_json
from posecli.export.posetrack import read_posetrack_json
from posecli.models import build_model
from posecli.pipeline import TopDownProcessor
from posecli.structures import Detection
from posecli.tracking.similarity import box_iou
from posecli.video import probe_video

FRAMES = 30


def _walker_box(frame: int) -> np.ndarray:
    """A third person who enters at frame 8 and leaves after frame 19, along the top."""
    x = 20.0 + 12.0 * (frame - 8)
    return np.array([x, 8.0, x + 36.0, 88.0])


@pytest.fixture(scope="module")
def scene(tmp_path_factory: pytest.TempPathFactory) -> dict:
    root = tmp_path_factory.mktemp("scene")
    video = root / "cross.mp4"
    tracks = make_synthetic_video(video, frames=FRAMES, people=2, size=(320, 240), seed=1)
    rng = np.random.default_rng(0)
    frames = []
    for f in range(FRAMES):
        detections = [
            Detection(box=t.boxes[f] + rng.normal(0, 1.0, 4), score=0.9) for t in tracks if t.visible[f]
        ]
        if 8 <= f < 20:
            detections.append(Detection(box=_walker_box(f), score=0.8))
        frames.append(FrameDetections(f, f / 25.0, tuple(detections)))
    boxes = root / "cross.boxes.json"
    write_boxes_json(boxes, frames, probe_video(video))
    torch.manual_seed(0)
    weights = root / "fami_tiny.safetensors"
    save_checkpoint(weights, build_model("fami_hrnet_w32", width=8, input_size=(128, 96)))
    return {"video": video, "boxes": boxes, "weights": weights, "tracks": tracks}


def _run(scene: dict, out: Path, **overrides) -> list:
    options = jobs.EstimateOptions(
        model="fami_hrnet_w32", weights=scene["weights"], boxes=scene["boxes"], overlay=False, **overrides
    )
    jobs.estimate_videos([scene["video"]], out, options, quiet=True)
    return read_posetrack_json(out / "cross.posetrack.json")


def _id_switches(results: list, tracks: list) -> tuple[int, int]:
    """(ID switches, frames where a visible GT person had no output) matching by box IoU ≥ 0.5."""
    switches = missed = 0
    last: dict[int, int] = {}
    for frame in results:
        boxes = np.stack([p.box for p in frame.instances]) if frame.instances else np.zeros((0, 4))
        for track in tracks:
            if not track.visible[frame.frame_index]:
                continue
            iou = box_iou(track.boxes[frame.frame_index][None], boxes)[0] if len(boxes) else np.zeros(0)
            if not len(iou) or iou.max() < 0.5:
                missed += 1
                continue
            pid = frame.instances[int(iou.argmax())].track_id
            if track.track_id in last and last[track.track_id] != pid:
                switches += 1
            last[track.track_id] = pid
    return switches, missed


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["reuse", "exact"])
def test_network_pipeline_keeps_ids_through_crossing_and_occlusion(scene: dict, tmp_path: Path, mode: str) -> None:
    results = _run(scene, tmp_path, mode=mode)
    assert [r.frame_index for r in results] == list(range(FRAMES))
    assert _id_switches(results, scene["tracks"]) == (0, 0)
    # keypoints come back in frame pixels, inside (a margin around) each person's crop
    for frame in results:
        for person in frame.instances:
            x1, y1, x2, y2 = person.box
            w, h = x2 - x1, y2 - y1
            assert np.all(person.keypoints[:, 0] > x1 - w) and np.all(person.keypoints[:, 0] < x2 + w)
            assert np.all(person.keypoints[:, 1] > y1 - h) and np.all(person.keypoints[:, 1] < y2 + h)
            assert np.all((person.keypoints[:, 2] >= 0) & (person.keypoints[:, 2] <= 1))
    # the person who enters and leaves gets exactly one track
    walker_ids = {
        p.track_id for f in results for p in f.instances
        if 8 <= f.frame_index < 20 and box_iou(_walker_box(f.frame_index)[None], p.box[None])[0, 0] > 0.9
    }
    assert len(walker_ids) == 1


@pytest.mark.slow
def test_reuse_and_exact_agree_on_who_is_where(scene: dict, tmp_path: Path) -> None:
    reuse = _run(scene, tmp_path / "reuse", mode="reuse")
    exact = _run(scene, tmp_path / "exact", mode="exact")
    for a, b in zip(reuse, exact):
        assert [p.track_id for p in a.instances] == [p.track_id for p in b.instances]
        for p, q in zip(a.instances, b.instances):
            assert np.allclose(p.box, q.box)


@pytest.mark.slow
def test_interrupted_network_run_resumes_byte_identical(scene: dict, tmp_path: Path, monkeypatch) -> None:
    _run(scene, tmp_path / "whole", mode="reuse", jsonl=True, checkpoint_every=4)
    original_push = TopDownProcessor.push
    calls = {"n": 0}

    def crashing_push(self, frame):
        calls["n"] += 1
        if calls["n"] == 19:
            raise KeyboardInterrupt
        return original_push(self, frame)

    monkeypatch.setattr(TopDownProcessor, "push", crashing_push)
    with pytest.raises(KeyboardInterrupt):
        _run(scene, tmp_path / "cut", mode="reuse", jsonl=True, checkpoint_every=4)
    assert (tmp_path / "cut" / ".cross.progress" / "state.pkl").exists()
    monkeypatch.setattr(TopDownProcessor, "push", original_push)
    options = jobs.EstimateOptions(
        model="fami_hrnet_w32", weights=scene["weights"], boxes=scene["boxes"], overlay=False, jsonl=True,
        checkpoint_every=4,
    )
    [summary] = jobs.estimate_videos([scene["video"]], tmp_path / "cut", options, quiet=True, resume=True)
    assert summary.resumed_from > 0
    for name in ["cross.posetrack.json", "cross.jsonl"]:
        assert (tmp_path / "cut" / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name


def test_network_without_weights_explains_how_to_get_them(scene: dict, tmp_path: Path) -> None:
    options = jobs.EstimateOptions(model="tdmi_hrnet_w48", overlay=False)
    with pytest.raises(PoseCliError, match="posecli train.*posecli weights import"):
        jobs.estimate_videos([scene["video"]], tmp_path, options, quiet=True)


def test_checkpoint_of_another_architecture_is_refused(scene: dict, tmp_path: Path) -> None:
    options = jobs.EstimateOptions(model="tdmi_hrnet_w32", weights=scene["weights"], overlay=False)
    with pytest.raises(PoseCliError, match="holds a fami model"):
        jobs.estimate_videos([scene["video"]], tmp_path, options, quiet=True)


def test_rcnn_detector_comes_from_the_given_file_or_the_verified_cache(
    scene: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    built: list[tuple] = []
    fetched: list[str] = []

    class RecordingDetector:
        def __init__(self, weights: Path, arch: str, device: str) -> None:
            built.append((weights, arch, device))

    def fake_fetch(name: str, quiet: bool = False) -> list[Path]:
        fetched.append(name)
        return [tmp_path / "cache" / "rcnn.pth"]

    monkeypatch.setattr(jobs, "TorchvisionPersonDetector", RecordingDetector)
    monkeypatch.setattr(jobs, "fetch", fake_fetch)
    base = {"model": "fami_hrnet_w32", "weights": scene["weights"], "detector": "rcnn"}
    given = jobs.build_processor(jobs.EstimateOptions(**base, detector_weights=tmp_path / "mine.pth"))
    assert isinstance(given.detector, RecordingDetector)
    assert built == [(tmp_path / "mine.pth", "fasterrcnn_resnet50_fpn", "cpu")] and fetched == []
    jobs.build_processor(jobs.EstimateOptions(**base))
    assert fetched == [jobs.RCNN_WEIGHTS] and built[-1][0] == tmp_path / "cache" / "rcnn.pth"
    with pytest.raises(PoseCliError, match="--detector: 'yolo' is not one of"):
        jobs.build_processor(jobs.EstimateOptions(**{**base, "detector": "yolo"}))
    with pytest.raises(PoseCliError, match="--detector works with the network models"):
        jobs.build_processor(jobs.EstimateOptions(detector="rcnn"))
