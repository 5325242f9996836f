"""The streaming core of ``estimate``: frames in, tracked ``FrameResult``s out, in frame order.

A *frame processor* takes frames one at a time (``push``) and returns the results that are ready,
delayed by its ``lookahead`` (the temporal networks need frames t+1, t+2 before frame t is done);
``finish`` returns the rest at the end of the stream. Two processors exist:

- ``EmbeddedProcessor``: the embedded BlazePose model detects and measures people in one go, then a
  tracker gives ids (lookahead 0);
- ``TopDownProcessor``: detector → tracker → per-person crops → a posecli network (HRNet, FAMI-Pose,
  TDMI) in ``exact`` or ``reuse`` mode (``posecli.models.inference``) → keypoints in frame pixels
  (lookahead ``num_frames // 2``). Only the frames and features of the current window are held.

Both save and restore what carries over between frames (``state``/``restore``) for resumable runs.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np

from posecli.errors import PoseCliError
from posecli.keypoints import NUM_KEYPOINTS
from posecli.structures import Detection, FrameResult, PoseInstance
from posecli.tracking.base import Tracker
from posecli.video import VideoFrame

if TYPE_CHECKING:  # torch is imported where a network runs: the embedded model and the CLI never need it
    import torch

EMBEDDED_MODEL = "blazepose_full"
MODES = ("reuse", "exact")


@dataclass
class StageTimes:
    """Seconds spent per stage over a run."""

    decode: float = 0.0
    detect: float = 0.0
    track: float = 0.0
    pose: float = 0.0
    write: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return {"decode": self.decode, "detect": self.detect, "track": self.track, "pose": self.pose, "write": self.write}


class FramePoseStage(Protocol):
    """People of one frame: ``(H, W, 3)`` uint8 RGB in, ``PoseInstance``s (no track ids) out."""

    def __call__(self, frame: np.ndarray) -> list[PoseInstance]: ...

    def reset(self) -> None: ...

    def state(self) -> object: ...

    def restore(self, state: object) -> None: ...


class FrameProcessor(Protocol):
    """Frames in (in order), finished ``FrameResult``s out (in order, ``lookahead`` frames late)."""

    lookahead: int
    times: StageTimes

    def push(self, frame: VideoFrame) -> list[FrameResult]: ...

    def finish(self) -> list[FrameResult]: ...

    def reset(self) -> None: ...

    def state(self) -> Any: ...

    def restore(self, state: Any) -> None: ...


class EmbeddedProcessor:
    """BlazePose (detection + landmarks per frame) followed by a tracker; no delay."""

    lookahead = 0

    def __init__(self, pose_stage: FramePoseStage, tracker: Tracker, smoother: Any | None = None) -> None:
        self.pose_stage = pose_stage
        self.tracker = tracker
        self.smoother = smoother
        self.times = StageTimes()

    def push(self, frame: VideoFrame) -> list[FrameResult]:
        t0 = time.perf_counter()
        people = self.pose_stage(frame.image)
        t1 = time.perf_counter()
        tracked = self.tracker.update(people)
        self.times.pose += t1 - t0
        self.times.track += time.perf_counter() - t1
        result = FrameResult(frame.index, frame.timestamp, tuple(tracked))
        if self.smoother is not None:
            result = self.smoother.smooth(result, frame.timestamp)
        return [result]

    def finish(self) -> list[FrameResult]:
        return []

    def reset(self) -> None:
        self.pose_stage.reset()
        self.tracker.reset()
        if self.smoother is not None:
            self.smoother.reset()

    def state(self) -> dict[str, Any]:
        return {"pose": self.pose_stage.state(), "tracker": self.tracker, "smoother": self.smoother}

    def restore(self, state: dict[str, Any]) -> None:
        self.pose_stage.restore(state["pose"])
        self.tracker = state["tracker"]
        self.smoother = state["smoother"]


@dataclass
class _Person:
    """A tracked person in one frame: its box and the crop transform made from it."""

    track_id: int
    box: np.ndarray  # (4,) xyxy
    score: float
    center: np.ndarray  # (2,) crop centre, frame pixels
    scale: np.ndarray  # (2,) crop size / 200 (reference pixel_std)


@dataclass
class _Frame:
    """One frame inside the look-ahead window. In ``exact`` mode the image stays (supporting frames are
    re-cropped with the key frame's boxes) together with each person's own-crop taps, which are that
    person's key-frame slot, so the reference protocol still costs five backbone passes, not six."""

    index: int
    timestamp: float
    people: list[_Person]
    image: np.ndarray | None = None
    key_taps: dict[int, list[torch.Tensor]] | None = None  # exact mode: {track_id: taps of its own crop}
    key_taps_flipped: dict[int, list[torch.Tensor]] | None = None  # exact mode with the flip test


class TopDownProcessor:
    """detector → crops → backbone → tracker → temporal network → keypoints, for HRNet, FAMI-Pose, TDMI.

    Per frame: every detected person is cropped with its own box (box ×1.25, unbiased affine) and
    the HRNet backbone runs once on all crops of the frame, batched. HRNet's own heatmap layer on
    those features gives each person a pose *before* tracking, so the tracker's IoU + OKS cost and
    its re-identification by pose see real keypoints; the same features are then kept for the
    temporal model. ``mode``: ``reuse`` (the cached features of each person's own crops feed up to
    five key frames) or ``exact`` (the reference: the key frame's box crops all five frames; the
    four supporting crops run through the backbone at the key frame). ``det_every``: detect every K
    frames, the tracker's predicted boxes carry people in between. ``flip_test``: also run every
    crop mirrored and average (spec §9). ``smoother``: One-Euro smoothing of the final keypoints.
    Per-joint score = network confidence × box score, as the reference writes it.
    """

    def __init__(
        self,
        model: Any,
        detector: Any,
        tracker: Tracker,
        *,
        mode: str = "reuse",
        device: str = "cpu",
        det_every: int = 1,
        batch_size: int = 32,
        half: bool = False,
        flip_test: bool = False,
        smoother: Any | None = None,
    ) -> None:
        import torch

        from posecli.codecs.heatmap import HeatmapCodec
        from posecli.codecs.simcc import SimCCCodec
        from posecli.models.inference import ReuseRunner

        if mode not in MODES:
            raise PoseCliError(f"--mode: '{mode}' is not one of {', '.join(MODES)}")
        if det_every > 1 and not hasattr(tracker, "predict"):
            raise PoseCliError("--det-every > 1 needs a tracker that predicts boxes (--tracker bytetrack)")
        if batch_size < 1:
            raise PoseCliError(f"--pose-batch-size must be at least 1, got {batch_size}")
        if torch.device(device).type == "cpu":
            # tiny activations deep in the network become denormal floats, which are very slow on CPUs
            torch.set_flush_denormal(True)
        self.model = model.to(device).eval()
        self.config = model.config
        self.detector = detector
        self.tracker = tracker
        self.mode = mode
        self.device = torch.device(device)
        self.det_every = max(1, det_every)
        self.batch_size = batch_size
        self.half = half
        # --half: fp16 on CUDA; bf16 on the CPU (much faster where the CPU has bf16 instructions;
        # benchmarks/bench_fastpaths.py and bench_modes.py measure speed and AP)
        low = torch.float16 if self.device.type == "cuda" else torch.bfloat16
        self._autocast: dict[str, Any] = {"device_type": self.device.type, "dtype": low}
        self.flip_test = flip_test
        self.smoother = smoother
        self.lookahead = model.num_frames // 2
        self.input_size: tuple[int, int] = tuple(self.config.input_size)  # (H, W)
        self.heatmap_codec = HeatmapCodec(self.input_size, tuple(self.config.heatmap_size))
        self.simcc_codec = (
            SimCCCodec(self.input_size, self.config.simcc_split_ratio, self.config.simcc_sigma)
            if self.config.head == "simcc" else None
        )
        self.decode_method = "dark" if self.config.arch == "tdmi" else "argmax"  # spec §8/§9
        self._runner_class = ReuseRunner
        self.times = StageTimes()
        self.reset()

    # -- per frame --------------------------------------------------------------------------------
    def reset(self) -> None:
        self.tracker.reset()
        if self.smoother is not None:
            self.smoother.reset()
        self._runner = self._runner_class(self.model, batch_size=self.batch_size)
        self._flip_runner = self._runner_class(self.model, batch_size=self.batch_size)
        self._window: deque[_Frame] = deque()
        self._pushed = 0
        self._first: int | None = None

    def push(self, frame: VideoFrame) -> list[FrameResult]:
        """Add one frame; return the key frame ``frame.index − lookahead`` once it can be computed."""
        if self._first is None:
            self._first = frame.index
        people, taps, flipped = self._detect_and_track(frame)
        record = _Frame(frame.index, frame.timestamp, people)
        if self.mode == "exact":
            record.image, record.key_taps, record.key_taps_flipped = frame.image, taps, flipped
        else:
            self._runner.add_taps(frame.index, taps)
            if flipped is not None:
                self._flip_runner.add_taps(frame.index, flipped)
        self._window.append(record)
        self._pushed += 1
        key = frame.index - self.lookahead
        if key < self._first:
            return []
        return [self._predict(key, last=None)]

    def finish(self) -> list[FrameResult]:
        """Results of the last ``lookahead`` frames, now that the stream's end is known."""
        if not self._window:
            return []
        last = self._window[-1].index
        start = max(self._first or 0, last - self.lookahead + 1)
        return [self._predict(key, last=last) for key in range(start, last + 1)]

    def state(self) -> dict[str, Any]:
        return {
            "tracker": self.tracker,
            "smoother": self.smoother,
            "window": list(self._window),
            "cache": self._runner._cache,
            "flip_cache": self._flip_runner._cache,
            "runner_first": self._runner.first_frame,
            "first": self._first,
            "pushed": self._pushed,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.tracker = state["tracker"]
        self.smoother = state["smoother"]
        self._window = deque(state["window"])
        self._runner._cache = state["cache"]
        self._flip_runner._cache = state["flip_cache"]
        self._runner.first_frame = self._flip_runner.first_frame = state["runner_first"]
        self._first = state["first"]
        self._pushed = state["pushed"]

    # -- stages -----------------------------------------------------------------------------------
    def _detect_and_track(
        self, frame: VideoFrame
    ) -> tuple[list[_Person], dict[int, list[torch.Tensor]], dict[int, list[torch.Tensor]] | None]:
        """People of ``frame`` with track ids, and their backbone taps ``{track_id: [tap (C, h, w)]}``
        (and those of the mirrored crops with the flip test)."""
        import torch

        from posecli.data.transforms import box_to_center_scale, crop_to_frame

        t0 = time.perf_counter()
        if self._pushed % self.det_every == 0:
            if hasattr(self.detector, "seek"):
                self.detector.seek(frame.index)  # box files are looked up by frame, whatever ran before
            detections: list[Detection] = self.detector(frame.image)
        else:  # carry people on the tracker's predicted boxes between detections
            detections = [Detection(box=box, score=1.0) for _, box in self.tracker.predict()]  # type: ignore[attr-defined]
        t1 = time.perf_counter()
        self.times.detect += t1 - t0
        height, width = self.input_size
        geometry = []
        for d in detections:
            x1, y1, x2, y2 = (float(v) for v in d.box)
            geometry.append(box_to_center_scale(np.array([x1, y1, x2 - x1, y2 - y1]), width / height))
        taps: list[torch.Tensor] = []
        flipped: list[torch.Tensor] | None = None
        poses = np.zeros((len(detections), NUM_KEYPOINTS, 3))
        if detections:
            crops = torch.stack([self._crop(frame.image, c, s) for c, s in geometry])  # (N, 3, H, W)
            taps = self._encode(crops)
            flipped = self._encode(crops.flip(-1)) if self.flip_test else None
            # A pose per person for the tracker: HRNet's heatmap layer on the stage-4 feature.
            with torch.no_grad(), torch.autocast(**self._autocast, enabled=self.half):
                heatmaps = self.model.hrnet.final_layer(taps[-1])  # (N, K, h, w)
            coords, scores = self.heatmap_codec.decode(heatmaps.float().cpu())
            centers, scales = np.stack([c for c, _ in geometry]), np.stack([s for _, s in geometry])
            poses[:, :, :2] = crop_to_frame(coords, centers, scales, self.input_size)
            poses[:, :, 2] = scores * np.array([d.score for d in detections])[:, None]
        t2 = time.perf_counter()
        self.times.pose += t2 - t1
        instances = [PoseInstance(keypoints=poses[i], box=d.box, score=d.score) for i, d in enumerate(detections)]
        row_of = {id(p.box): i for i, p in enumerate(instances)}  # trackers return the same box objects
        people, own, own_flipped = [], {}, {}
        for person in self.tracker.update(instances):
            i, track_id = row_of[id(person.box)], int(person.track_id)  # type: ignore[arg-type]
            center, scale = geometry[i]
            people.append(_Person(track_id, np.asarray(person.box, float), float(person.score), center, scale))
            own[track_id] = [tap[i] for tap in taps]
            if flipped is not None:
                own_flipped[track_id] = [tap[i] for tap in flipped]
        self.times.track += time.perf_counter() - t2
        return people, own, (own_flipped if flipped is not None else None)

    def _encode(self, crops: torch.Tensor) -> list[torch.Tensor]:
        """Backbone taps of crops ``(N, 3, H, W)`` → ``num_taps`` × ``(N, C, h, w)`` on the device."""
        import torch

        from posecli.models.inference import encode_in_batches

        with torch.autocast(**self._autocast, enabled=self.half):
            return encode_in_batches(self.model, crops, self.batch_size)

    def _crop(self, image: np.ndarray, center: np.ndarray, scale: np.ndarray) -> torch.Tensor:
        """``(3, H, W)`` normalised crop around ``center``/``scale`` (unbiased affine, bilinear)."""
        import torch

        from posecli.data.transforms import affine_matrix, normalize_frames

        height, width = self.input_size
        matrix = affine_matrix(center, scale, 0.0, (height, width))
        crop = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR)
        return normalize_frames(torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))))

    def _predict(self, key: int, last: int | None) -> FrameResult:
        import torch

        from posecli.models.inference import average_with_flipped, support_frames

        record = next(f for f in self._window if f.index == key)
        t0 = time.perf_counter()
        instances: list[PoseInstance] = []
        if record.people:
            ids = [p.track_id for p in record.people]
            with torch.no_grad(), torch.autocast(**self._autocast, enabled=self.half):
                if self.mode == "reuse":
                    output, _ = self._runner.predict(key, last_frame=last, track_ids=ids)
                    if self.flip_test:
                        mirrored, _ = self._flip_runner.predict(key, last_frame=last, track_ids=ids)
                        output = average_with_flipped(output, mirrored)
                else:
                    slots = support_frames(key, self._first or 0, last, self.model.num_frames)
                    output = self._exact_output(record, slots, flipped=False)
                    if self.flip_test:
                        output = average_with_flipped(output, self._exact_output(record, slots, flipped=True))
            instances = self._to_instances(output, record.people)
        self.times.pose += time.perf_counter() - t0
        # frames older than the window the next key frame needs are dropped (features and images)
        while self._window and self._window[0].index < key + 1 - self.lookahead:
            self._window.popleft()
        self._runner.evict(key + 1 - self.lookahead)
        self._flip_runner.evict(key + 1 - self.lookahead)
        result = FrameResult(key, record.timestamp, tuple(instances))
        if self.smoother is not None:
            result = self.smoother.smooth(result, record.timestamp)
        return result

    def _exact_output(self, record: _Frame, slots: tuple[int, ...], flipped: bool) -> Any:
        """The reference protocol for the people of key frame ``record``: each person's key box crops
        the supporting frames ``slots`` (the key slot reuses the taps of its own crop)."""
        import torch

        from posecli.models.inference import encode_in_batches

        own = record.key_taps_flipped if flipped else record.key_taps
        assert own is not None
        images = {f.index: f.image for f in self._window}
        others = [s for s in slots if s != record.index]
        crops = [
            self._crop(images[s], p.center, p.scale) for p in record.people for s in others  # type: ignore[arg-type]
        ]
        extra: list[torch.Tensor] = []
        if crops:
            batch = torch.stack(crops)  # (P·S', 3, H, W), person-major
            extra = encode_in_batches(self.model, batch.flip(-1) if flipped else batch, self.batch_size)
        stacked = []
        for tap in range(self.model.num_taps):
            per_person = []
            for i, person in enumerate(record.people):
                row = iter(range(i * len(others), (i + 1) * len(others)))
                frames = [own[person.track_id][tap] if s == record.index else extra[tap][next(row)] for s in slots]
                per_person.append(torch.stack(frames))  # (T, C, h, w)
            stacked.append(torch.stack(per_person))  # (P, T, C, h, w)
        return self.model.decode(stacked)

    def _to_instances(self, output: Any, people: list[_Person]) -> list[PoseInstance]:
        from posecli.data.transforms import crop_to_frame

        if self.simcc_codec is not None and output.simcc_x is not None:
            coords, scores = self.simcc_codec.decode(output.simcc_x.float().cpu(), output.simcc_y.float().cpu())
        else:
            coords, scores = self.heatmap_codec.decode(output.heatmaps.float().cpu(), method=self.decode_method)
        centers = np.stack([p.center for p in people])
        scales = np.stack([p.scale for p in people])
        frame_xy = crop_to_frame(coords, centers, scales, self.input_size)  # (P, K, 2)
        instances = []
        for i, person in enumerate(people):
            keypoints = np.concatenate([frame_xy[i], (scores[i] * person.score)[:, None]], axis=1)
            instances.append(PoseInstance(keypoints=keypoints, box=person.box, score=person.score, track_id=person.track_id))
        return instances


def build_embedded_stage(weights: Path | None = None) -> FramePoseStage:
    """The embedded BlazePose stage; ``weights`` may name a folder holding its two ``.tflite`` files."""
    from posecli.blazepose import BlazePoseDetector, BlazePoseEstimator, BlazePoseLandmarker
    from posecli.weights import fetch

    if weights is not None:
        folder = Path(weights)
        if not folder.is_dir():
            raise PoseCliError(f"--weights {folder}: for {EMBEDDED_MODEL} give the folder holding its .tflite files")
        detector_path, landmark_path = folder / "pose_detection.tflite", folder / "pose_landmark_full.tflite"
    else:
        detector_path, landmark_path = fetch(EMBEDDED_MODEL, quiet=True)
    return BlazePoseEstimator(BlazePoseDetector(detector_path), BlazePoseLandmarker(landmark_path))


class EmbeddedPersonDetector:
    """A ``Detector`` from the embedded model: person boxes around BlazePose landmarks (tight and
    steady), score = pose presence. The default detector of the top-down networks offline."""

    def __init__(self, stage: FramePoseStage) -> None:
        self.stage = stage

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        return [Detection(box=p.box, score=p.score) for p in self.stage(frame)]


def load_network(model: str | None, weights: Path | str | None, device: str, quiet: bool = False) -> Any:
    """The posecli network with trained weights from ``weights``, on ``device``.

    ``weights``: a posecli checkpoint (from ``posecli train`` or ``posecli weights import``), or the
    name of a manifest entry (e.g. ``hrnet_w32_posetrack18_256x192_mmpose``), downloaded once into the
    verified cache and converted on the fly; it must fill every weight. ``model``: the registered
    name the weights must be (architecture and width), or None for whatever they hold. No trained
    FAMI-Pose/TDMI checkpoint is published anywhere, so for those the message says how to make one.
    """
    from posecli.checkpoints import load_checkpoint, load_foreign_weights
    from posecli.models import build_model, list_models, model_config
    from posecli.weights import fetch, load_manifest

    if model is not None and model not in list_models():
        raise PoseCliError(f"--model {model}: unknown (choose {EMBEDDED_MODEL} or one of {', '.join(list_models())})")
    manifest = load_manifest()
    if weights is None:
        pulls = [e.name for e in manifest.values() if e.arch == model]
        hint = f"--weights {pulls[0]} (downloaded once) or " if pulls else f"no trained {model} checkpoint is published; "
        raise PoseCliError(
            f"--model {model} needs trained weights: {hint}a checkpoint from `posecli train --config configs/...` "
            f"or from `posecli weights import FILE --arch {model}`"
        )
    if not Path(weights).exists() and str(weights) in manifest:
        entry = manifest[str(weights)]
        if entry.arch not in list_models():
            raise PoseCliError(f"--weights {weights}: {entry.arch} weights are not a posecli pose network")
        if model is not None and entry.arch != model:
            raise PoseCliError(f"--weights {weights}: holds {entry.arch} weights, not {model}")
        [file] = fetch(entry.name, quiet=quiet)
        network = build_model(entry.arch, **entry.config)
        report = load_foreign_weights(network, file)
        if report.missing or report.mismatched:
            raise PoseCliError(f"--weights {weights}: does not fill {entry.arch} ({report.summary()})")
        return network.to(device)
    network = load_checkpoint(Path(weights), device=device)
    if model is not None:
        wanted, held = model_config(model), network.config
        if (held.arch, held.width) != (wanted.arch, wanted.width):
            raise PoseCliError(
                f"--weights {weights}: holds a {held.arch} model of width {held.width} ({held.name}), not {model}"
            )
    return network
