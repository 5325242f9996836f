"""Video-level jobs behind ``detect``, ``track`` and ``estimate``: read, run, write every output atomically.

``estimate`` writes per video ``<stem>`` into the output folder: ``<stem>.posetrack.json`` (always),
``<stem>.coco.json`` (``coco``), ``<stem>.jsonl`` (``jsonl``, one line per frame, streamed to a
``.partial`` file while running) and ``<stem>.overlay.mp4`` (``overlay``, on by default). While a video
runs, ``.<stem>.progress/`` holds resumable progress (``posecli.progress_state``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from posecli.background import BackgroundCalls, Prefetcher
from posecli.detection.base import Detector
from posecli.detection.precomputed import PrecomputedDetector
from posecli.detection.torchvision_rcnn import TorchvisionPersonDetector
from posecli.errors import PoseCliError
from posecli.export.boxes import FrameDetections, read_boxes_json, write_boxes_json, write_tracks_json
from posecli.export.coco import write_coco_json
from posecli.export.jsonl import JsonlWriter
from posecli.export.overlay import OverlayVideo
from posecli.export.posetrack import read_posetrack_json, write_posetrack_json
from posecli.keypoints import NUM_KEYPOINTS
from posecli.pipeline import (
    EMBEDDED_MODEL,
    EmbeddedPersonDetector,
    EmbeddedProcessor,
    FrameProcessor,
    StageTimes,
    TopDownProcessor,
    build_embedded_stage,
    load_network,
)
from posecli.progress import progress_bar
from posecli.progress_state import ProgressLog, load_snapshot
from posecli.smoothing import OneEuroSmoother
from posecli.structures import Detection, FrameResult, PoseInstance
from posecli.tracking.base import Tracker
from posecli.tracking.bytetrack import ByteTracker
from posecli.tracking.iou import IoUTracker
from posecli.tracking.stitch import stitch_tracklets
from posecli.video import VideoFrame, VideoInfo, VideoReader, probe_video
from posecli.weights import fetch

TRACKERS = ("bytetrack", "iou")
DETECTORS = ("embedded", "rcnn")
RCNN_WEIGHTS = "fasterrcnn_resnet50_fpn_coco"  # manifest name of the torchvision detector


@dataclass(frozen=True)
class EstimateOptions:
    """How ``estimate`` runs. Every field but the output switches is part of the resume fingerprint:
    a run can only be resumed with the same settings."""

    model: str = EMBEDDED_MODEL  # blazepose_full, or a posecli network (hrnet_w32, fami_hrnet_w48, ...)
    # a network checkpoint or manifest name (alone: run whatever network it holds), or, for the
    # embedded model, a folder of its .tflite files
    weights: Path | None = None
    device: str = "cpu"
    mode: str = "reuse"  # networks: reuse (features shared across key frames) or exact (reference)
    detector: str = "embedded"  # networks: embedded (BlazePose boxes) or rcnn (torchvision Faster R-CNN)
    detector_weights: Path | None = None  # rcnn weights file (default: the manifest's, downloaded once)
    boxes: Path | None = None  # networks: precomputed person boxes instead of a detector
    det_every: int = 1  # networks: detect every K frames, tracker-predicted boxes in between
    half: bool = False  # networks: fp16 autocast on CUDA, bf16 on the CPU
    pose_batch_size: int = 32  # networks: person crops per backbone / temporal forward pass
    flip_test: bool = False  # networks: also run mirrored crops and average (the reference flip test)
    tracker: str = "bytetrack"  # bytetrack | iou
    # offline pass merging tracklets broken by gaps (a person hidden, or lost in a jump) and numbering
    # ids 0, 1, …; the overlay and JSON lines are then written afterwards from the final ids
    stitch: bool = True
    smooth: bool = False  # One-Euro smoothing of keypoints per track (meant for single-frame models)
    overlay: bool = True
    coco: bool = False
    jsonl: bool = False
    checkpoint_every: int = 50  # frames between progress snapshots

    def fingerprint(self) -> dict[str, object]:
        values = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
        for key in ("overlay", "coco", "jsonl", "checkpoint_every"):
            values.pop(key)
        return values


@dataclass(frozen=True)
class VideoSummary:
    """What one video's run produced, for the results table."""

    video: Path
    frames: int
    people_per_frame: float
    tracks: int
    seconds: float
    outputs: tuple[Path, ...]
    times: dict[str, float] = field(default_factory=dict)
    truncated: bool = False
    resumed_from: int = 0
    skipped: bool = False

    @property
    def fps(self) -> float:
        return (self.frames - self.resumed_from) / self.seconds if self.seconds > 0 else 0.0


def make_tracker(name: str) -> Tracker:
    """A fresh tracker by name (``bytetrack`` or ``iou``)."""
    if name == "bytetrack":
        return ByteTracker()
    if name == "iou":
        return IoUTracker()
    raise PoseCliError(f"--tracker: '{name}' is not one of {', '.join(TRACKERS)}")


def build_processor(options: EstimateOptions, video: Path | None = None, quiet: bool = False) -> FrameProcessor:
    """The frame processor ``options`` describe (see ``posecli.pipeline``); ``quiet`` silences the
    progress bar of a first-use weights download."""
    tracker = make_tracker(options.tracker)
    # --weights without --model: the network the checkpoint (or manifest entry) holds
    network_from_weights = options.weights is not None and not Path(options.weights).is_dir()
    if options.model == EMBEDDED_MODEL and not network_from_weights:
        if options.boxes is not None or options.detector != "embedded":
            flag = "--boxes" if options.boxes is not None else "--detector"
            raise PoseCliError(f"{flag} works with the network models; {EMBEDDED_MODEL} finds people itself")
        if options.flip_test:
            raise PoseCliError(f"--flip-test works with the network models, not {EMBEDDED_MODEL}")
        return EmbeddedProcessor(build_embedded_stage(options.weights), tracker, _smoother(options))
    wanted = None if options.model == EMBEDDED_MODEL else options.model
    network = load_network(wanted, options.weights, options.device, quiet=quiet)
    detector: Detector
    if options.boxes is not None:
        detector = PrecomputedDetector(options.boxes, sequence=_stem(video) if video else None)
    elif options.detector == "rcnn":
        weights = options.detector_weights or fetch(RCNN_WEIGHTS, quiet=quiet)[0]
        detector = TorchvisionPersonDetector(weights, arch="fasterrcnn_resnet50_fpn", device=options.device)
    elif options.detector == "embedded":
        detector = EmbeddedPersonDetector(build_embedded_stage())
    else:
        raise PoseCliError(f"--detector: '{options.detector}' is not one of {', '.join(DETECTORS)}")
    return TopDownProcessor(
        network, detector, tracker, mode=options.mode, device=options.device, det_every=options.det_every,
        batch_size=options.pose_batch_size, half=options.half, flip_test=options.flip_test,
        smoother=_smoother(options),
    )


def _smoother(options: EstimateOptions) -> OneEuroSmoother | None:
    return OneEuroSmoother() if options.smooth else None


def _stem(video: Path) -> str:
    return video.stem if video.suffix else video.name


def output_paths(out_dir: Path, video: Path, options: EstimateOptions) -> dict[str, Path]:
    """The files ``estimate`` writes for ``video``, by kind."""
    stem = _stem(video)
    paths = {"posetrack": out_dir / f"{stem}.posetrack.json"}
    if options.coco:
        paths["coco"] = out_dir / f"{stem}.coco.json"
    if options.jsonl:
        paths["jsonl"] = out_dir / f"{stem}.jsonl"
    if options.overlay:
        paths["overlay"] = out_dir / f"{stem}.overlay.mp4"
    return paths


def progress_folder(out_dir: Path, video: Path) -> Path:
    return out_dir / f".{_stem(video)}.progress"


def estimate_videos(
    videos: list[Path],
    out_dir: Path,
    options: EstimateOptions = EstimateOptions(),
    *,
    exist_ok: bool = False,
    resume: bool = False,
    quiet: bool = False,
    overlap: bool = True,
) -> list[VideoSummary]:
    """Estimate and track poses in every video (file or frame folder); one summary per video.

    Every input is probed and every output name checked before any work starts, so a bad argument
    fails fast. With ``resume``, a video whose progress folder exists continues where it stopped and a
    video whose outputs are all present is skipped; without it, existing outputs need ``exist_ok``.
    """
    if not videos:
        raise PoseCliError("no input video given")
    if options.tracker not in TRACKERS:
        raise PoseCliError(f"--tracker: '{options.tracker}' is not one of {', '.join(TRACKERS)}")
    infos = [probe_video(video) for video in videos]
    plans = [output_paths(out_dir, video, options) for video in videos]
    owner: dict[Path, Path] = {}
    for video, paths in zip(videos, plans):
        for path in paths.values():
            if path in owner:
                raise PoseCliError(f"{video} and {owner[path]} would both write {path.name}; rename one of them")
            owner[path] = video
            if path.exists() and not (exist_ok or resume):
                raise PoseCliError(f"{path} already exists (pass --exist-ok to overwrite, --resume to skip finished videos)")
    summaries = []
    for video, info, paths in zip(videos, infos, plans):
        folder = progress_folder(out_dir, video)
        if resume and not folder.exists() and all(p.exists() for p in paths.values()):
            summaries.append(VideoSummary(video, info.num_frames, 0.0, 0, 0.0, tuple(paths.values()), skipped=True))
            continue
        processor = build_processor(options, video, quiet=quiet)
        summaries.append(
            estimate_video(video, info, paths, folder, processor, options, resume=resume, quiet=quiet, overlap=overlap)
        )
    return summaries


def estimate_video(
    video: Path,
    info: VideoInfo,
    paths: dict[str, Path],
    progress_dir: Path,
    processor: FrameProcessor,
    options: EstimateOptions,
    *,
    resume: bool = False,
    quiet: bool = False,
    overlap: bool = True,
) -> VideoSummary:
    """Run ``processor`` over one video and write its outputs (see the module docstring).

    overlap: decode ahead and draw/encode the overlay in background threads (``posecli.background``);
    False runs every stage in this thread (the benchmarks compare the two).
    """
    fingerprint = {**options.fingerprint(), "video": str(video), "num_frames": info.num_frames}
    processor.reset()
    loaded = load_snapshot(progress_dir, fingerprint) if resume else None
    results: list[FrameResult] = []
    fed = 0  # frames already inside the processor
    if loaded is not None:
        snapshot, offset = loaded
        results, fed = snapshot.results, snapshot.fed
        processor.restore(snapshot.stages)
        log = ProgressLog(progress_dir, fingerprint, options.checkpoint_every, done=snapshot.done, offset=offset)
    else:
        log = ProgressLog(progress_dir, fingerprint, options.checkpoint_every)
    resumed_from = len(results)

    times = processor.times
    start = time.perf_counter()
    overlay = _open_overlay(paths["overlay"], info, overlap) if options.overlay and not options.stitch else None
    jsonl = JsonlWriter(paths["jsonl"]) if options.jsonl and not options.stitch else None
    pending: dict[int, np.ndarray] = {}  # images whose results are still inside the processor

    def emit(result: FrameResult, new: bool) -> None:
        t0 = time.perf_counter()
        image = pending.pop(result.frame_index)
        if new:
            results.append(result)
        if overlay is not None:
            overlay.write(image, result)
        if jsonl is not None:
            jsonl.write(result)
        times.write += time.perf_counter() - t0

    truncated = False
    try:
        with (
            VideoReader(video) as reader,
            progress_bar(video.name, info.num_frames or None, "frames", quiet) as advance,
            _frames(reader, overlap) as frames,
        ):
            for frame in _timed(frames, times):
                pending[frame.index] = frame.image
                if frame.index < resumed_from:  # finished before the interruption: redraw only
                    emit(results[frame.index], new=False)
                elif frame.index >= fed:
                    for result in processor.push(frame):
                        emit(result, new=True)
                    log.record(results, frame.index + 1, processor.state())
                advance(1)
            truncated = reader.truncated
            for result in processor.finish():
                emit(result, new=True)
        if not results:
            raise PoseCliError(f"{video}: no frame could be decoded")
        if options.stitch:
            results = stitch_tracklets(results)
            overlay, jsonl = _write_streams_after(video, info, paths, options, results, quiet, overlap)
        t0 = time.perf_counter()
        write_posetrack_json(paths["posetrack"], results, info, video_name=_stem(video))
        if "coco" in paths:
            write_coco_json(paths["coco"], results, info, video_name=_stem(video))
        for stream in (jsonl, overlay):
            if stream is not None:
                stream.close()
        jsonl = overlay = None
        times.write += time.perf_counter() - t0
    finally:
        # After an error the partial streams are discarded; the progress folder stays for --resume.
        for stream in (jsonl, overlay):
            if stream is not None:
                stream.abort()
        log.close()
    log.remove()
    track_ids = {p.track_id for r in results for p in r.instances}
    return VideoSummary(
        video=video,
        frames=len(results),
        people_per_frame=sum(len(r.instances) for r in results) / len(results),
        tracks=len(track_ids),
        seconds=time.perf_counter() - start,
        outputs=tuple(paths.values()),
        times=times.as_dict(),
        truncated=truncated,
        resumed_from=resumed_from,
    )


def _write_streams_after(
    video: Path, info: VideoInfo, paths: dict[str, Path], options: EstimateOptions, results: list[FrameResult],
    quiet: bool, overlap: bool,
) -> tuple[_Overlay | None, JsonlWriter | None]:
    """Second pass for stitched runs: the track ids change after the whole video is seen, so the
    overlay and the JSON lines are written from the final results (the video is decoded again)."""
    jsonl = JsonlWriter(paths["jsonl"]) if options.jsonl else None
    if jsonl is not None:
        for result in results:
            jsonl.write(result)
    if not options.overlay:
        return None, jsonl
    overlay = _open_overlay(paths["overlay"], info, overlap)
    by_index = {r.frame_index: r for r in results}
    with (
        VideoReader(video) as reader,
        progress_bar(f"{video.name} overlay", len(results), "frames", quiet) as advance,
        _frames(reader, overlap) as frames,
    ):
        for frame in frames:
            if frame.index in by_index:
                overlay.write(frame.image, by_index[frame.index])
                advance(1)
    return overlay, jsonl


class _Overlay(Protocol):
    def write(self, image: np.ndarray, result: FrameResult) -> None: ...

    def close(self) -> None: ...

    def abort(self) -> None: ...


class _BackgroundOverlay:
    """An ``OverlayVideo`` whose drawing and encoding run in a background thread (``posecli.background``)."""

    def __init__(self, overlay: OverlayVideo) -> None:
        self._overlay = overlay
        self._calls = BackgroundCalls(overlay.write)

    def write(self, image: np.ndarray, result: FrameResult) -> None:
        self._calls.put(image, result)

    def close(self) -> None:
        self._calls.close()
        self._overlay.close()

    def abort(self) -> None:
        try:
            self._calls.close()
        except Exception:  # noqa: BLE001 - the run failed already; discarding the file is all that is left
            pass
        self._overlay.abort()


def _open_overlay(path: Path, info: VideoInfo, overlap: bool) -> _Overlay:
    overlay = OverlayVideo(path, info)
    return _BackgroundOverlay(overlay) if overlap else overlay


def _frames(reader: VideoReader, overlap: bool) -> contextlib.AbstractContextManager[Iterable[VideoFrame]]:
    """The reader's frames, decoded ahead in a background thread with ``overlap``."""
    return Prefetcher(reader, depth=4) if overlap else contextlib.nullcontext(reader)


def _timed(reader: Iterable[VideoFrame], times: StageTimes) -> Iterator[VideoFrame]:
    """Frames of ``reader``, adding the decode time of each to ``times.decode``."""
    iterator = iter(reader)
    while True:
        t0 = time.perf_counter()
        frame = next(iterator, None)
        times.decode += time.perf_counter() - t0
        if frame is None:
            return
        yield frame


# --- detect / track ---------------------------------------------------------------------------


@dataclass(frozen=True)
class BoxesSummary:
    """One file written by ``detect`` or ``track``."""

    source: Path
    output: Path
    frames: int
    boxes: int
    tracks: int


def detect_videos(
    videos: list[Path], out_dir: Path, *, model: str = EMBEDDED_MODEL, weights: Path | None = None,
    exist_ok: bool = False, quiet: bool = False,
) -> list[BoxesSummary]:
    """Write ``<stem>.boxes.json`` (person boxes per frame) for every video.

    With the embedded model a person's box is the box around its landmarks (tighter and steadier than
    the detector's body circle); the box score is the pose-presence probability.
    """
    if not videos:
        raise PoseCliError("no input video given")
    infos = [probe_video(video) for video in videos]
    outputs = [out_dir / f"{_stem(v)}.boxes.json" for v in videos]
    for path in outputs:
        if path.exists() and not exist_ok:
            raise PoseCliError(f"{path} already exists (pass --exist-ok to overwrite, or choose another --out-dir)")
    if model != EMBEDDED_MODEL:
        raise PoseCliError(f"--model {model}: detect runs the embedded {EMBEDDED_MODEL} model")
    pose_stage = build_embedded_stage(weights)
    summaries = []
    for video, info, output in zip(videos, infos, outputs):
        pose_stage.reset()
        frames: list[FrameDetections] = []
        with VideoReader(video) as reader, progress_bar(video.name, info.num_frames or None, "frames", quiet) as advance:
            for frame in reader:
                people = pose_stage(frame.image)
                detections = tuple(Detection(box=p.box, score=p.score) for p in people)
                frames.append(FrameDetections(frame.index, frame.timestamp, detections))
                advance(1)
        if not frames:
            raise PoseCliError(f"{video}: no frame could be decoded")
        write_boxes_json(output, frames, info)
        summaries.append(BoxesSummary(video, output, len(frames), sum(len(f.detections) for f in frames), 0))
    return summaries


def track_boxes(
    files: list[Path], out_dir: Path, *, tracker: str = "bytetrack", stitch: bool = False,
    exist_ok: bool = False, quiet: bool = False,
) -> list[BoxesSummary]:
    """Track saved frames again, without running any network, e.g. to compare trackers or stitching.

    ``<stem>.boxes.json`` / ``<stem>.tracks.json`` (boxes only) → ``<stem>.tracks.json``; a PoseTrack
    2018 file such as ``estimate``'s ``<stem>.posetrack.json`` → ``<stem>.tracks.posetrack.json``, its
    people re-tracked with their keypoints (so the tracker's OKS cost and pose re-id apply) and the
    old ``track_id``s ignored.
    """
    if not files:
        raise PoseCliError("no boxes or PoseTrack file given")
    poses = [_is_posetrack_file(path) for path in files]
    outputs = [
        out_dir / (f"{path.name.removesuffix('.json').removesuffix('.posetrack')}.tracks.posetrack.json" if is_pose
                   else f"{path.name.removesuffix('.json').removesuffix('.boxes')}.tracks.json")
        for path, is_pose in zip(files, poses)
    ]
    for path in outputs:
        if path.exists() and not exist_ok:
            raise PoseCliError(f"{path} already exists (pass --exist-ok to overwrite, or choose another --out-dir)")
    loaded = [_load_for_tracking(path) if is_pose else None for path, is_pose in zip(files, poses)]
    documents = [None if is_pose else read_boxes_json(path) for path, is_pose in zip(files, poses)]
    summaries = []
    for source, output, pose_input, document in zip(files, outputs, loaded, documents):
        if pose_input is not None:
            frames, info, video_name = pose_input
        else:
            assert document is not None
            frames = [
                FrameResult(f.frame_index, f.timestamp, tuple(
                    PoseInstance(keypoints=_no_keypoints(), box=d.box, score=d.score) for d in f.detections
                ))
                for f in document.frames
            ]
            info = VideoInfo(
                path=Path(document.video.path), fps=document.video.fps, num_frames=document.video.num_frames,
                width=document.video.width, height=document.video.height, rotation=0, backend="boxes",
            )
        state = make_tracker(tracker)
        state.reset()
        results = []
        with progress_bar(source.name, len(frames), "frames", quiet) as advance:
            for frame in frames:
                people = [p.with_track_id(None) for p in frame.instances]
                results.append(FrameResult(frame.frame_index, frame.timestamp, tuple(state.update(people))))
                advance(1)
        if stitch:
            results = stitch_tracklets(results)
        if pose_input is not None:
            write_posetrack_json(output, results, info, video_name=video_name)
        else:
            write_tracks_json(output, results, info)
        ids = {p.track_id for r in results for p in r.instances}
        summaries.append(BoxesSummary(source, output, len(results), sum(len(r.instances) for r in results), len(ids)))
    return summaries


def _is_posetrack_file(path: Path) -> bool:
    """A PoseTrack 2018 document (``images`` + ``annotations``) rather than a posecli boxes file."""
    from posecli.export._json import load_json

    document = load_json(path)
    return isinstance(document, dict) and "images" in document and "annotations" in document


def _load_for_tracking(path: Path) -> tuple[list[FrameResult], VideoInfo, str]:
    """Frames of a PoseTrack file, a ``VideoInfo`` from its images (size, frame rate from the
    timestamps) and its video name (the folder of its image files)."""
    from posecli.export._json import load_json

    frames = read_posetrack_json(path)
    images = load_json(path)["images"]
    first = images[0] if images and isinstance(images[0], dict) else {}
    width, height = int(first.get("width") or 0), int(first.get("height") or 0)
    steps = [b.timestamp - a.timestamp for a, b in zip(frames, frames[1:]) if b.timestamp > a.timestamp]
    fps = 1.0 / float(np.median(steps)) if steps else 25.0
    name = Path(str(first.get("file_name", ""))).parent.name or path.name.removesuffix(".json").removesuffix(".posetrack")
    info = VideoInfo(path=path, fps=fps, num_frames=len(frames), width=width, height=height, rotation=0, backend="posetrack")
    return frames, info, name


def _no_keypoints() -> np.ndarray:
    """``(17, 3)`` zeros: a boxes-only person has no located joint."""
    return np.zeros((NUM_KEYPOINTS, 3))
