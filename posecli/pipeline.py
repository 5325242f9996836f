"""The streaming core of ``estimate``: frames in, tracked ``FrameResult``s out, in frame order.

A *frame processor* takes frames one at a time (``push``) and returns the results that are ready,
delayed by its ``lookahead`` (the temporal networks need frames t+1, t+2 before frame t is done);
``finish`` returns the rest at the end of the stream. Two processors exist:

- ``EmbeddedProcessor``: the embedded BlazePose model detects and measures people in one go, then a
  tracker gives ids (lookahead 0);
- ``TopDownProcessor``: detector → tracker → per-person crops → the model stage (``posecli.runner``:
  a posecli network, HRNet, FAMI-Pose or TDMI, in ``exact`` or ``reuse`` mode) → decode into frame
  pixels (lookahead ``num_frames // 2``). Only the frames and features of the current window are held.

Both save and restore what carries over between frames (``state``/``restore``) for resumable runs.
"""

from __future__ import annotations

import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from posecli.detection.base import Detector
from posecli.errors import PoseCliError
from posecli.keypoints import NUM_KEYPOINTS
from posecli.structures import Detection, FrameResult, PoseInstance
from posecli.tracking.base import Tracker
from posecli.video import VideoFrame

if TYPE_CHECKING:  # torch is imported where a network runs: the embedded model and the CLI never need it
    from posecli.models.pose_model import PoseOutput, VideoPoseModel
    from posecli.runner import EncodedCrops


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


def select_people(items: list[Any], bbox_thr: float, max_people: int | None) -> list[Any]:
    """The ``Detection``s or ``PoseInstance``s (anything with ``score``) scoring at least ``bbox_thr``,
    best first, at most ``max_people`` of them (None: no cap)."""
    kept = sorted((item for item in items if item.score >= bbox_thr), key=lambda item: -item.score)
    return kept if max_people is None else kept[:max_people]


class EmbeddedProcessor:
    """BlazePose (detection + landmarks per frame) followed by a tracker; no delay.

    ``bbox_thr``: people whose score (pose presence) is below it are dropped before tracking;
    ``max_people``: at most this many people per frame, best first (None: no cap).
    """

    lookahead = 0

    def __init__(
        self, pose_stage: FramePoseStage, tracker: Tracker, smoother: Any | None = None, *,
        bbox_thr: float = 0.0, max_people: int | None = None,
    ) -> None:
        self.pose_stage = pose_stage
        self.tracker = tracker
        self.smoother = smoother
        self.bbox_thr = bbox_thr
        self.max_people = max_people
        self.times = StageTimes()

    def push(self, frame: VideoFrame) -> list[FrameResult]:
        t0 = time.perf_counter()
        people = select_people(self.pose_stage(frame.image), self.bbox_thr, self.max_people)
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
    """One frame inside the look-ahead window: what its results are made of once its key frame is ready
    (the crops' features and, in ``exact`` mode, the image stay in the ``PoseRunner``)."""

    index: int
    timestamp: float
    people: list[_Person]


class TopDownProcessor:
    """detector → tracker → crops → runner → decode, for HRNet, FAMI-Pose, TDMI.

    Per frame: every detected person is cropped with its own box (box ×1.25, unbiased affine) and
    the HRNet backbone runs once on all crops of the frame, batched (``posecli.runner.PoseRunner``).
    HRNet's own heatmap layer on those features gives each person a pose *before* tracking, so the
    tracker's IoU + OKS cost and its re-identification by pose see real keypoints; the runner keeps the
    same features for the temporal model. ``mode``: ``reuse`` (the cached features of each person's
    own crops feed up to five key frames) or ``exact`` (the reference: the key frame's box crops all
    five frames). ``det_every``: detect every K frames, the tracker's predicted boxes carry people in
    between. ``bbox_thr``/``max_people``: detections scoring below ``bbox_thr`` are dropped and at most
    ``max_people`` kept per frame, best first, before any crop is made. ``flip_test``: also run every
    crop mirrored and average (spec §9). ``smoother``:
    One-Euro smoothing of the final keypoints. Per-joint score = network confidence × box score, as
    the reference writes it.
    """

    def __init__(
        self,
        model: VideoPoseModel,
        detector: Detector,
        tracker: Tracker,
        *,
        mode: str = "reuse",
        device: str = "cpu",
        det_every: int = 1,
        batch_size: int = 32,
        half: bool = False,
        flip_test: bool = False,
        smoother: Any | None = None,
        bbox_thr: float = 0.0,
        max_people: int | None = None,
    ) -> None:
        import torch

        from posecli.runner import MODES, PoseRunner

        if mode not in MODES:
            raise PoseCliError(f"--mode: '{mode}' is not one of {', '.join(MODES)}")
        if det_every > 1 and not tracker.predicts_boxes:
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
        self.det_every = max(1, det_every)
        self.smoother = smoother
        self.bbox_thr = bbox_thr
        self.max_people = max_people
        # --half: fp16 on CUDA; bf16 on the CPU (much faster where the CPU has bf16 instructions;
        # benchmarks/bench_fastpaths.py and bench_modes.py measure speed and AP)
        self.runner = PoseRunner(self.model, mode=mode, batch_size=batch_size, flip_test=flip_test, half=half)
        self.lookahead = self.runner.lookahead
        self.input_size: tuple[int, int] = tuple(self.config.input_size)  # (H, W)
        self.times = StageTimes()
        self.reset()

    # -- per frame --------------------------------------------------------------------------------
    def reset(self) -> None:
        self.tracker.reset()
        if self.smoother is not None:
            self.smoother.reset()
        self.runner.reset()
        self._window: deque[_Frame] = deque()
        self._pushed = 0

    def push(self, frame: VideoFrame) -> list[FrameResult]:
        """Add one frame; return the key frame ``frame.index − lookahead`` once it can be computed."""
        people, encoded, rows = self._detect_and_track(frame)
        self._window.append(_Frame(frame.index, frame.timestamp, people))
        self._pushed += 1
        ready = self.runner.add_frame(frame.index, frame.image, encoded, rows, [p.track_id for p in people])
        return [self._predict(key) for key in ready]

    def finish(self) -> list[FrameResult]:
        """Results of the last ``lookahead`` frames, now that the stream's end is known."""
        return [self._predict(key) for key in self.runner.finish()]

    def state(self) -> dict[str, Any]:
        return {
            "tracker": self.tracker,
            "smoother": self.smoother,
            "window": list(self._window),
            "runner": self.runner.state(),
            "pushed": self._pushed,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self.tracker = state["tracker"]
        self.smoother = state["smoother"]
        self._window = deque(state["window"])
        self.runner.restore(state["runner"])
        self._pushed = state["pushed"]

    # -- stages -----------------------------------------------------------------------------------
    def _detect_and_track(self, frame: VideoFrame) -> tuple[list[_Person], EncodedCrops | None, list[int]]:
        """People of ``frame`` with track ids, the runner's encoding of every detection's crop, and
        for each person the crop row it came from."""
        import torch

        from posecli.codecs.decode import decode_poses
        from posecli.data.transforms import box_to_center_scale

        t0 = time.perf_counter()
        if self._pushed % self.det_every == 0:
            if self.detector.seeks_frames:
                self.detector.seek(frame.index)  # box files are looked up by frame, whatever ran before
            detections: list[Detection] = select_people(self.detector(frame.image), self.bbox_thr, self.max_people)
        else:  # carry people on the tracker's predicted boxes between detections
            detections = [Detection(box=box, score=1.0) for _, box in self.tracker.predict()]
        t1 = time.perf_counter()
        self.times.detect += t1 - t0
        height, width = self.input_size
        geometry = []
        for d in detections:
            x1, y1, x2, y2 = (float(v) for v in d.box)
            geometry.append(box_to_center_scale(np.array([x1, y1, x2 - x1, y2 - y1]), width / height))
        encoded = None
        poses = np.zeros((len(detections), NUM_KEYPOINTS, 3))
        if detections:
            crops = torch.stack([self.runner.crop(frame.image, c, s) for c, s in geometry])  # (N, 3, H, W)
            encoded = self.runner.encode(crops)
            # A pose per person for the tracker: HRNet's own heatmaps on the stage-4 feature (plain
            # argmax whatever the model's final decode, which only the key frame's output gets).
            centers, scales = np.stack([c for c, _ in geometry]), np.stack([s for _, s in geometry])
            box_scores = np.array([d.score for d in detections])  # float64: the product is widened
            poses = decode_poses(self.config, centers, scales, box_scores, heatmaps=encoded.pose, method="argmax")
        t2 = time.perf_counter()
        self.times.pose += t2 - t1
        instances = [PoseInstance(keypoints=poses[i], box=d.box, score=d.score) for i, d in enumerate(detections)]
        people, rows = [], []
        for row, track_id in self.tracker.assign(instances):
            center, scale = geometry[row]
            box, score = instances[row].box, instances[row].score
            people.append(_Person(track_id, np.asarray(box, float), float(score), center, scale))
            rows.append(row)
        self.times.track += time.perf_counter() - t2
        return people, encoded, rows

    def _predict(self, key: int) -> FrameResult:
        record = next(f for f in self._window if f.index == key)
        t0 = time.perf_counter()
        output = self.runner.predict(key, record.people)
        instances = self._to_instances(output, record.people) if output is not None else []
        self.times.pose += time.perf_counter() - t0
        # frames older than the window the next key frame needs are dropped
        while self._window and self._window[0].index < key + 1 - self.lookahead:
            self._window.popleft()
        result = FrameResult(key, record.timestamp, tuple(instances))
        if self.smoother is not None:
            result = self.smoother.smooth(result, record.timestamp)
        return result

    def _to_instances(self, output: PoseOutput, people: list[_Person]) -> list[PoseInstance]:
        from posecli.codecs.decode import decode_poses

        simcc = (output.simcc_x.float().cpu(), output.simcc_y.float().cpu()) if output.simcc_x is not None else (None, None)
        keypoints = decode_poses(
            self.config, np.stack([p.center for p in people]), np.stack([p.scale for p in people]),
            # float32 box scores: the joint score is the float32 product the reference writes
            np.array([p.score for p in people], dtype=np.float32),
            heatmaps=output.heatmaps.float().cpu(), simcc_x=simcc[0], simcc_y=simcc[1],
        )  # (P, K, 3)
        return [
            PoseInstance(keypoints=keypoints[i], box=p.box, score=p.score, track_id=p.track_id)
            for i, p in enumerate(people)
        ]
