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
from typing import Any, Protocol

import cv2
import numpy as np
import torch

from posecli.errors import PoseCliError
from posecli.keypoints import NUM_KEYPOINTS
from posecli.structures import Detection, FrameResult, PoseInstance
from posecli.tracking.base import Tracker
from posecli.video import VideoFrame

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
    index: int
    timestamp: float
    people: list[_Person]
    image: np.ndarray | None  # kept only in exact mode (supporting frames are re-cropped)


class TopDownProcessor:
    """detector → tracker → crops → network → keypoints, for HRNet, FAMI-Pose and TDMI models.

    ``mode``: ``reuse`` (each person cropped once per frame with its own box, backbone features cached
    and shared by up to five key frames) or ``exact`` (the reference: the key frame's box crops all
    five frames). ``det_every``: run the detector every K frames and let the tracker's predicted boxes
    carry people in between (needs a tracker with ``predict()``). Per-joint score = heatmap (or SimCC)
    confidence × box score, as the reference writes it.
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
    ) -> None:
        from posecli.codecs.heatmap import HeatmapCodec
        from posecli.codecs.simcc import SimCCCodec
        from posecli.models.inference import ReuseRunner

        if mode not in MODES:
            raise PoseCliError(f"--mode: '{mode}' is not one of {', '.join(MODES)}")
        if det_every > 1 and not hasattr(tracker, "predict"):
            raise PoseCliError("--det-every > 1 needs a tracker that predicts boxes (--tracker bytetrack)")
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
        self.half = half and self.device.type == "cuda"
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
        self._runner = self._runner_class(self.model, batch_size=self.batch_size)
        self._window: deque[_Frame] = deque()
        self._pushed = 0
        self._first: int | None = None

    def push(self, frame: VideoFrame) -> list[FrameResult]:
        """Add one frame; return the key frame ``frame.index − lookahead`` once it can be computed."""
        if self._first is None:
            self._first = frame.index
        people = self._track(frame)
        record = _Frame(frame.index, frame.timestamp, people, frame.image if self.mode == "exact" else None)
        self._window.append(record)
        if self.mode == "reuse":
            t0 = time.perf_counter()
            self._runner.add_frame(frame.index, {p.track_id: self._crop(frame.image, p) for p in people})
            self.times.pose += time.perf_counter() - t0
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
            "window": list(self._window),
            "cache": self._runner._cache,
            "runner_first": self._runner.first_frame,
            "first": self._first,
            "pushed": self._pushed,
            "detector_frame": getattr(self.detector, "frame_index", None),
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.tracker = state["tracker"]
        self._window = deque(state["window"])
        self._runner._cache = state["cache"]
        self._runner.first_frame = state["runner_first"]
        self._first = state["first"]
        self._pushed = state["pushed"]
        if state["detector_frame"] is not None and hasattr(self.detector, "seek"):
            self.detector.seek(state["detector_frame"])

    # -- stages -----------------------------------------------------------------------------------
    def _track(self, frame: VideoFrame) -> list[_Person]:
        from posecli.data.transforms import box_to_center_scale

        t0 = time.perf_counter()
        if self._pushed % self.det_every == 0:
            detections: list[Detection] = self.detector(frame.image)
        else:  # carry people on the tracker's predicted boxes between detections
            detections = [Detection(box=box, score=1.0) for _, box in self.tracker.predict()]  # type: ignore[attr-defined]
        t1 = time.perf_counter()
        empty = np.zeros((NUM_KEYPOINTS, 3))
        tracked = self.tracker.update([PoseInstance(keypoints=empty, box=d.box, score=d.score) for d in detections])
        self.times.detect += t1 - t0
        self.times.track += time.perf_counter() - t1
        height, width = self.input_size
        people = []
        for person in tracked:
            x1, y1, x2, y2 = (float(v) for v in person.box)
            center, scale = box_to_center_scale(np.array([x1, y1, x2 - x1, y2 - y1]), width / height)
            people.append(_Person(int(person.track_id), np.asarray(person.box, float), float(person.score), center, scale))
        return people

    def _crop(self, image: np.ndarray, person: _Person) -> torch.Tensor:
        """``(3, H, W)`` normalised crop of ``person`` from ``image`` (unbiased affine, bilinear)."""
        from posecli.data.transforms import affine_matrix, normalize_frames

        height, width = self.input_size
        matrix = affine_matrix(person.center, person.scale, 0.0, (height, width))
        crop = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR)
        return normalize_frames(torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))))

    def _predict(self, key: int, last: int | None) -> FrameResult:
        from posecli.models.inference import predict_exact, support_frames

        record = next(f for f in self._window if f.index == key)
        t0 = time.perf_counter()
        instances: list[PoseInstance] = []
        if record.people:
            with torch.autocast("cuda", enabled=self.half):
                if self.mode == "reuse":
                    output, ids = self._runner.predict(key, last_frame=last, track_ids=[p.track_id for p in record.people])
                else:
                    slots = support_frames(key, self._first or 0, last, self.model.num_frames)
                    images = {f.index: f.image for f in self._window}
                    clips = torch.stack([
                        torch.stack([self._crop(images[s], person) for s in slots]) for person in record.people
                    ])  # (P, T, 3, H, W)
                    output = predict_exact(self.model, clips.to(self.device), batch_size=self.batch_size)
            instances = self._to_instances(output, record.people)
        self.times.pose += time.perf_counter() - t0
        # frames older than the window the next key frame needs are dropped (features and images)
        while self._window and self._window[0].index < key + 1 - self.lookahead:
            self._window.popleft()
        self._runner.evict(key + 1 - self.lookahead)
        return FrameResult(key, record.timestamp, tuple(instances))

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


def load_network(model: str, weights: Path | None, device: str) -> Any:
    """A trained posecli network for ``model`` from the checkpoint ``weights``.

    No FAMI-Pose/TDMI/HRNet posecli checkpoint is published, so ``weights`` is required; the message
    says how to obtain one.
    """
    from posecli.models import list_models

    if model not in list_models():
        raise PoseCliError(f"--model {model}: unknown (choose {EMBEDDED_MODEL} or one of {', '.join(list_models())})")
    if weights is None:
        raise PoseCliError(
            f"--model {model} needs trained weights (--weights PATH): no trained {model} checkpoint is published; "
            f"train one with `posecli train --config configs/...` or convert one with "
            f"`posecli weights import FILE --arch {model}`"
        )
    from posecli.checkpoints import load_checkpoint

    network = load_checkpoint(Path(weights), device=device)
    arch = model.split("_", 1)[0]
    if network.config.arch != arch:
        raise PoseCliError(f"--weights {weights}: holds a {network.config.arch} model ({network.config.name}), not {model}")
    return network
