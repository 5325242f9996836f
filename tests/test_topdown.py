"""``estimate`` with a posecli network (top-down: boxes → tracker → crops → FAMI-Pose/HRNet) on a
synthetic clip with known tracks: ids through a crossing and an occlusion, both inference modes,
an entering/leaving person, resume after an interruption."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import torch

from posecli import jobs
from posecli.checkpoints import save_checkpoint
from posecli.data.synthetic import make_synthetic_video
from posecli.detection.embedded import RCNN_WEIGHTS
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
    options = jobs.EstimateOptions(weights=scene["weights"], boxes=scene["boxes"], overlay=False, **overrides)
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
    """The two modes differ only in the supporting frames' crops. At the reference init (the scene's
    weights) FAMI's deformable masks are ≈ 0, so its output does not depend on the supporting frames:
    the keypoints must agree too, and a mode that mixed up people, crops or decoding would not."""
    reuse = _run(scene, tmp_path / "reuse", mode="reuse")
    exact = _run(scene, tmp_path / "exact", mode="exact")
    assert len(reuse) == len(exact) == FRAMES
    for a, b in zip(reuse, exact):
        assert [p.track_id for p in a.instances] == [p.track_id for p in b.instances]
        for p, q in zip(a.instances, b.instances):
            assert np.allclose(p.box, q.box)
            assert np.allclose(p.keypoints, q.keypoints, atol=1e-3), (a.frame_index, p.track_id)


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["reuse", "exact"])
def test_interrupted_network_run_resumes_byte_identical(scene: dict, tmp_path: Path, monkeypatch, mode: str) -> None:
    _run(scene, tmp_path / "whole", mode=mode, jsonl=True, checkpoint_every=4)
    original_push = TopDownProcessor.push
    calls = {"n": 0}

    def crashing_push(self, frame):
        calls["n"] += 1
        if calls["n"] == 19:
            raise KeyboardInterrupt
        return original_push(self, frame)

    monkeypatch.setattr(TopDownProcessor, "push", crashing_push)
    with pytest.raises(KeyboardInterrupt):
        _run(scene, tmp_path / "cut", mode=mode, jsonl=True, checkpoint_every=4)
    assert (tmp_path / "cut" / ".cross.progress" / "state.pkl").exists()
    monkeypatch.setattr(TopDownProcessor, "push", original_push)
    options = jobs.EstimateOptions(
        weights=scene["weights"], boxes=scene["boxes"], overlay=False, jsonl=True, checkpoint_every=4, mode=mode
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
    with pytest.raises(PoseCliError, match="holds a fami model of width 8"):
        jobs.estimate_videos([scene["video"]], tmp_path, options, quiet=True)
    # the right family but another width is refused too
    options = jobs.EstimateOptions(model="fami_hrnet_w32", weights=scene["weights"], overlay=False)
    with pytest.raises(PoseCliError, match=r"width 8 \(fami_hrnet_w32\), not fami_hrnet_w32"):
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

    monkeypatch.setattr("posecli.detection.torchvision_rcnn.TorchvisionPersonDetector", RecordingDetector)
    monkeypatch.setattr("posecli.weights.fetch", fake_fetch)
    base = {"weights": scene["weights"], "detector": "rcnn"}
    given = jobs.build_processor(jobs.EstimateOptions(**base, detector_weights=tmp_path / "mine.pth"))
    assert isinstance(given.detector, RecordingDetector)
    assert built == [(tmp_path / "mine.pth", "fasterrcnn_resnet50_fpn", "cpu")] and fetched == []
    jobs.build_processor(jobs.EstimateOptions(**base))
    assert fetched == [RCNN_WEIGHTS] and built[-1][0] == tmp_path / "cache" / "rcnn.pth"
    with pytest.raises(PoseCliError, match="--detector: 'yolo' is not one of"):
        jobs.build_processor(jobs.EstimateOptions(**{**base, "detector": "yolo"}))
    with pytest.raises(PoseCliError, match="--detector works with the network models"):
        jobs.build_processor(jobs.EstimateOptions(detector="rcnn"))
    monkeypatch.undo()  # the embedded detector below fetches its own files
    assert jobs.build_processor(jobs.EstimateOptions(weights=scene["weights"])).model.config.arch == "fami"


# --- the processor itself: what the tracker sees, the exact protocol, flip test, det-every, smoothing ----


def _frames(video: Path) -> list:
    from posecli.video import VideoReader

    with VideoReader(video) as reader:
        return list(reader)


def _lively(model: torch.nn.Module) -> torch.nn.Module:
    """Variance-keeping weights (the reference init makes every output ≈ 1e-6) and open deformable
    convolutions (mask bias 1: at the reference init the masks are ≈ 0, so FAMI's supporting frames
    would not reach the output at all)."""
    with torch.no_grad():
        for name, module in model.named_modules():
            if isinstance(module, torch.nn.Conv2d | torch.nn.Linear):
                torch.nn.init.kaiming_normal_(module.weight, nonlinearity="relu")
                module.weight.mul_(0.5)
            if "dcn_mask" in name and isinstance(module, torch.nn.Conv2d) and module.bias is not None:
                module.bias.fill_(1.0)
    return model.eval()


def _processor(scene: dict, model: torch.nn.Module, tracker=None, **kwargs) -> TopDownProcessor:
    from posecli.detection.precomputed import PrecomputedDetector
    from posecli.tracking.bytetrack import ByteTracker

    return TopDownProcessor(
        model, PrecomputedDetector(scene["boxes"]), tracker or ByteTracker(), device="cpu", **kwargs
    )


def _run_processor(processor: TopDownProcessor, frames: list) -> list:
    results = []
    for frame in frames:
        results.extend(processor.push(frame))
    return results + processor.finish()


def test_tracker_gets_each_persons_backbone_pose(scene: dict) -> None:
    """The tracker's OKS cost and pose re-id need keypoints at update time: every person reaches it with
    the pose HRNet's heatmap layer gives on its crop. For a single-frame HRNet that pose *is* the output."""
    from posecli.tracking.bytetrack import ByteTracker

    given: list[list] = []

    class Recording(ByteTracker):
        def assign(self, instances):
            given.append(instances)
            return super().assign(instances)

    torch.manual_seed(0)
    model = _lively(build_model("hrnet_w32", width=8, input_size=(128, 96)))
    results = _run_processor(_processor(scene, model, Recording()), _frames(scene["video"]))
    assert len(given) == FRAMES and sum(len(g) for g in given) > FRAMES
    for frame, people in zip(results, given):
        assert all(p.keypoints[:, 2].max() > 0 for p in people)  # scored joints: the tracker uses OKS
        by_box = {tuple(p.box): p.keypoints for p in people}
        for person in frame.instances:
            assert np.allclose(by_box[tuple(person.box)], person.keypoints)


@pytest.mark.parametrize("flip_test", [False, True])
def test_exact_mode_is_the_reference_protocol(scene: dict, flip_test: bool) -> None:
    """exact = the key frame's box crops frames t-2..t+2 and the whole network runs on that clip;
    reusing each person's own key-frame crop must not change a thing."""
    from posecli.models.inference import average_with_flipped
    from posecli.runner import support_frames

    torch.manual_seed(0)
    model = _lively(build_model("fami_hrnet_w32", width=8, input_size=(128, 96)))
    frames = _frames(scene["video"])[:12]
    processor = _processor(scene, model, mode="exact", flip_test=flip_test)
    seen: dict[int, tuple] = {}
    predict = processor.runner.predict

    def recording(key, people):
        output = predict(key, people)
        seen[key] = (output.heatmaps.clone(), list(people))
        return output

    processor.runner.predict = recording  # type: ignore[method-assign]
    _run_processor(processor, frames)

    def whole(clips: torch.Tensor) -> torch.Tensor:
        with torch.no_grad():
            return model(clips)

    for key in (0, 1, 5, 11):  # both boundaries and the middle
        heatmaps, people = seen[key]
        slots = support_frames(key, 0, len(frames) - 1)
        clips = torch.stack([
            torch.stack([processor.runner.crop(frames[s].image, p.center, p.scale) for s in slots]) for p in people
        ])  # (P, 5, 3, H, W)
        expected = whole(clips)
        if flip_test:
            expected = average_with_flipped(expected, whole(clips.flip(-1)))
        scale = expected.heatmaps.abs().max()
        assert torch.allclose(heatmaps, expected.heatmaps, atol=1e-4 * float(scale)), key
    # the supporting frames really matter here (else this test would prove nothing)
    changed = clips.clone()
    changed[:, 0] = 0
    assert not torch.allclose(whole(changed).heatmaps, whole(clips).heatmaps)


def test_flip_test_averages_with_the_mirrored_crops(scene: dict) -> None:
    torch.manual_seed(0)
    model = _lively(build_model("hrnet_w32", width=8, input_size=(128, 96)))
    frames = _frames(scene["video"])[:6]
    plain = _run_processor(_processor(scene, model), frames)
    flipped = _run_processor(_processor(scene, model, flip_test=True), frames)
    moved = [
        float(np.abs(a.keypoints[:, :2] - b.keypoints[:, :2]).max())
        for fa, fb in zip(plain, flipped) for a, b in zip(fa.instances, fb.instances)
    ]
    assert max(moved) > 0  # the mirrored pass changes the answer
    for fa, fb in zip(plain, flipped):
        assert [p.track_id for p in fa.instances] == [p.track_id for p in fb.instances]


def test_det_every_with_a_box_file_uses_each_frames_own_boxes(scene: dict) -> None:
    """Between detections the tracker's predicted boxes carry people; on detection frames the boxes
    must be the file's boxes *of that frame* (the file is read by frame number, not call count)."""
    from posecli.detection.precomputed import PrecomputedDetector

    torch.manual_seed(0)
    model = build_model("hrnet_w32", width=8, input_size=(128, 96))
    results = _run_processor(_processor(scene, model, det_every=3), _frames(scene["video"]))
    boxes = PrecomputedDetector(scene["boxes"])
    for frame in results:
        if frame.frame_index % 3:
            continue
        expected = np.stack([d.box for d in boxes.detections_at(frame.frame_index)])
        for person in frame.instances:
            assert np.abs(expected - person.box).sum(axis=1).min() < 1e-6, frame.frame_index


def test_smoothing_applies_to_the_networks(scene: dict, tmp_path: Path) -> None:
    """--smooth (One-Euro) on a single-frame HRNet: same people and boxes, steadier joints."""
    torch.manual_seed(0)
    weights = tmp_path / "hrnet.safetensors"
    save_checkpoint(weights, _lively(build_model("hrnet_w32", width=8, input_size=(128, 96))))

    def run(smooth: bool) -> list:
        options = jobs.EstimateOptions(weights=weights, boxes=scene["boxes"], overlay=False, smooth=smooth)
        jobs.estimate_videos([scene["video"]], tmp_path / str(smooth), options, quiet=True)
        return read_posetrack_json(tmp_path / str(smooth) / "cross.posetrack.json")

    def jitter(results: list) -> float:
        tracks: dict[int, list] = {}
        for frame in results:
            for p in frame.instances:
                tracks.setdefault(p.track_id, []).append(p.keypoints[:, :2])
        steps = [np.abs(np.diff(np.stack(k), axis=0)).mean() for k in tracks.values() if len(k) > 2]
        return float(np.mean(steps))

    raw, smooth = run(False), run(True)
    for a, b in zip(raw, smooth):
        assert [p.track_id for p in a.instances] == [p.track_id for p in b.instances]
        assert all(np.allclose(p.box, q.box) for p, q in zip(a.instances, b.instances))
    assert jitter(smooth) < 0.8 * jitter(raw)


def test_weights_by_manifest_name_are_downloaded_and_converted(
    scene: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, served_dir: tuple[Path, str]
) -> None:
    """--weights NAME: a manifest entry for the architecture (here an mmpose-layout HRNet served from
    localhost) is fetched into the verified cache once and loaded, every weight filled."""
    import hashlib

    import yaml

    from posecli import network_loading, weights

    root, base = served_dir
    torch.manual_seed(0)
    source = build_model("hrnet_w32", width=8, input_size=(128, 96))
    mmpose = {
        ("keypoint_head." + k.removeprefix("hrnet.") if k.startswith("hrnet.final_layer") else
         "backbone." + k.removeprefix("hrnet.")): v
        for k, v in source.state_dict().items()
    }
    torch.save({"state_dict": mmpose}, root / "tiny_hrnet.pth")
    digest = hashlib.sha256((root / "tiny_hrnet.pth").read_bytes()).hexdigest()
    manifest = tmp_path / "manifest.yaml"
    manifest.write_text(yaml.safe_dump({"tiny_hrnet_mmpose": {
        "kind": "download", "arch": "hrnet_w32", "licence": "MIT", "source": "test",
        "config": {"width": 8, "input_size": [128, 96]},
        "files": [{"name": "tiny_hrnet.pth", "sha256": digest, "url": f"{base}/tiny_hrnet.pth"}],
    }}))
    original = weights.load_manifest
    monkeypatch.setattr(weights, "load_manifest", lambda path=None: original(manifest))
    monkeypatch.setenv("POSECLI_CACHE", str(tmp_path / "cache"))
    network = network_loading.load_network("hrnet_w32", "tiny_hrnet_mmpose", "cpu", quiet=True)
    assert (tmp_path / "cache" / "tiny_hrnet_mmpose" / "tiny_hrnet.pth").is_file() or any(
        (tmp_path / "cache").rglob("tiny_hrnet.pth")
    )
    loaded = network.state_dict()
    for key, value in source.state_dict().items():
        assert torch.equal(loaded[key], value), key
    with pytest.raises(PoseCliError, match="holds hrnet_w32 weights, not hrnet_w48"):
        network_loading.load_network("hrnet_w48", "tiny_hrnet_mmpose", "cpu", quiet=True)
    # an entry that leaves weights unfilled is refused rather than run half-random
    monkeypatch.setattr(weights, "load_manifest", lambda path=None: {
        **original(manifest), "tiny_fami": replace(original(manifest)["tiny_hrnet_mmpose"], arch="fami_hrnet_w32"),
    })
    with pytest.raises(PoseCliError, match="does not fill fami_hrnet_w32"):
        network_loading.load_network("fami_hrnet_w32", "tiny_fami", "cpu", quiet=True)


@pytest.mark.slow
def test_several_videos_in_one_call(scene: dict, tmp_path: Path) -> None:
    import shutil

    second = tmp_path / "again.mp4"
    shutil.copy(scene["video"], second)
    options = jobs.EstimateOptions(weights=scene["weights"], boxes=scene["boxes"], overlay=True)
    summaries = jobs.estimate_videos([scene["video"], second], tmp_path / "out", options, quiet=True)
    assert [s.video for s in summaries] == [scene["video"], second]
    first = read_posetrack_json(tmp_path / "out" / "cross.posetrack.json")
    again = read_posetrack_json(tmp_path / "out" / "again.posetrack.json")
    assert (tmp_path / "out" / "cross.overlay.mp4").is_file() and (tmp_path / "out" / "again.overlay.mp4").is_file()
    # each video starts from a fresh tracker: the same clip gives the same ids and keypoints
    for a, b in zip(first, again, strict=True):
        assert [p.track_id for p in a.instances] == [p.track_id for p in b.instances]
        assert all(np.allclose(p.keypoints, q.keypoints) for p, q in zip(a.instances, b.instances))
    # two inputs with one stem would overwrite each other: refused before any work
    with pytest.raises(PoseCliError, match="would both write"):
        jobs.estimate_videos([scene["video"], scene["video"]], tmp_path / "dup", options, quiet=True)


def test_half_runs_the_networks_in_bf16_on_the_cpu(scene: dict) -> None:
    torch.manual_seed(0)
    model = _lively(build_model("fami_hrnet_w32", width=8, input_size=(128, 96)))
    frames = _frames(scene["video"])[:8]
    full = _run_processor(_processor(scene, model), frames)
    processor = _processor(scene, model, half=True)
    processor.push(frames[0])
    [cached] = processor.runner.state()["taps"].values()
    assert all(tap.dtype == torch.bfloat16 for taps in cached.values() for tap in taps)
    half = _run_processor(_processor(scene, model, half=True), frames)
    for a, b in zip(full, half, strict=True):
        assert [p.track_id for p in a.instances] == [p.track_id for p in b.instances]
        assert all(np.isfinite(p.keypoints).all() for p in b.instances)
