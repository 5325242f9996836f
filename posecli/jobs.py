"""Video-level jobs behind ``detect``, ``track`` and ``estimate``: read, run, write every output atomically.

``estimate`` writes per video ``<stem>`` into the output folder: ``<stem>.posetrack.json`` (always),
``<stem>.coco.json`` (``coco``), ``<stem>.jsonl`` (``jsonl``, one line per frame, streamed to a
``.partial`` file while running) and ``<stem>.overlay.mp4`` (``overlay``, on by default). While a video
runs, ``.<stem>.progress/`` holds resumable progress (``posecli.progress_state``) and ``.<stem>.lock``
keeps a second run from writing the same outputs (``posecli.output_lock``). ``track`` lives in
``posecli.track_job``.

Importing this module does not import torch (``posecli.pipeline`` imports it where a network runs), so
bad input is refused in a fraction of a second and the embedded model never loads it.
"""

from __future__ import annotations

import contextlib
import shutil
import time
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

import numpy as np

from posecli.atomic import naming_path
from posecli.background import Prefetcher
from posecli.detection.base import Detector
from posecli.detection.embedded import (
    DETECTORS,
    EMBEDDED_MODEL,
    EmbeddedPersonDetector,
    build_embedded_stage,
    person_detector,
)
from posecli.detection.precomputed import PrecomputedDetector
from posecli.device import resolve_device
from posecli.errors import PoseCliError
from posecli.export.boxes import FrameDetections, write_boxes_json
from posecli.export.coco import write_coco_json
from posecli.export.jsonl import JsonlWriter
from posecli.export.overlay import DEFAULT_KPT_THR, DrawStyle, OverlayStream, open_overlay
from posecli.export.posetrack import write_posetrack_json
from posecli.inputs import VideoSource, expand_inputs, source_name, source_stem
from posecli.network_loading import load_network
from posecli.output_lock import claim_outputs, refuse_clashing_outputs
from posecli.pipeline import EmbeddedProcessor, FrameProcessor, StageTimes, TopDownProcessor
from posecli.progress import progress_bar
from posecli.progress_state import ProgressLog, load_snapshot
from posecli.smoothing import OneEuroSmoother
from posecli.structures import FrameResult
from posecli.track_job import TRACKERS, BoxesSummary, make_tracker
from posecli.tracking.stitch import stitch_tracklets
from posecli.tracking.track_filter import drop_weak_tracks
from posecli.video import VideoFrame, VideoInfo, VideoReader, probe_video


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
    # people (embedded: pose presence) or detections (networks) scoring below this are dropped per
    # frame; None: 0.5 for the embedded model, 0 (every box the detector or box file gives) for networks
    bbox_thr: float | None = None
    max_people: int = 20  # at most this many people per frame, best first (0: no cap)
    # tracks seen in fewer frames than this after stitching are dropped (ghosts rarely last; capped at
    # the video's length, so a short clip keeps its people); None: DEFAULT_MIN_TRACK_LEN when
    # stitching, off with --no-stitch (which streams its outputs before tracks are complete)
    min_track_len: int | None = None
    overlay: bool = True
    coco: bool = False
    jsonl: bool = False
    checkpoint_every: int = 50  # frames between progress snapshots
    # joints scored below it: PoseTrack visibility 0 / COCO v=1 (scores kept) and not drawn
    kpt_thr: float = DEFAULT_KPT_THR
    radius: int | None = None  # overlay joint radius in pixels (None: scaled with the frame)
    thickness: int | None = None  # overlay line width in pixels (None: scaled with the frame)

    def fingerprint(self) -> dict[str, object]:
        values = {k: (str(v) if isinstance(v, Path) else v) for k, v in asdict(self).items()}
        for key in ("overlay", "coco", "jsonl", "checkpoint_every", "kpt_thr", "radius", "thickness"):  # output only
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


def build_processor(options: EstimateOptions, video: Path | None = None, quiet: bool = False) -> FrameProcessor:
    """The frame processor ``options`` describe (see ``posecli.pipeline``); ``quiet`` silences the
    progress bar of a first-use weights download."""
    # --weights without --model: the network the checkpoint (or manifest entry) holds
    network_from_weights = options.weights is not None and not Path(options.weights).is_dir()
    if options.model == EMBEDDED_MODEL and not network_from_weights:
        if options.boxes is not None or options.detector != "embedded":
            flag = "--boxes" if options.boxes is not None else "--detector"
            raise PoseCliError(f"{flag} works with the network models; {EMBEDDED_MODEL} finds people itself")
        if options.flip_test:
            raise PoseCliError(f"--flip-test works with the network models, not {EMBEDDED_MODEL}")
        bbox_thr = EMBEDDED_BBOX_THR if options.bbox_thr is None else options.bbox_thr
        # The embedded model's people passed its plausibility rules: whoever --bbox-thr keeps may start
        # a track (ByteTrack's own 0.6 dropped CrowdPose 103319's man at pose presence 0.51).
        return EmbeddedProcessor(
            build_embedded_stage(options.weights), make_tracker(options.tracker, birth_score=bbox_thr),
            _smoother(options), bbox_thr=bbox_thr, max_people=options.max_people or None,
        )
    tracker = make_tracker(options.tracker)
    wanted = None if options.model == EMBEDDED_MODEL else options.model
    network = load_network(wanted, options.weights, options.device, quiet=quiet)
    detector: Detector
    if options.boxes is not None:
        detector = PrecomputedDetector(options.boxes, sequence=_stem(video) if video else None)
    else:
        detector = person_detector(options.detector, options.detector_weights, options.device, quiet=quiet)
    return TopDownProcessor(
        network, detector, tracker, mode=options.mode, device=options.device, det_every=options.det_every,
        batch_size=options.pose_batch_size, half=options.half, flip_test=options.flip_test,
        smoother=_smoother(options), bbox_thr=options.bbox_thr or 0.0, max_people=options.max_people or None,
    )


EMBEDDED_BBOX_THR = 0.5  # the embedded model's default --bbox-thr (its pose-presence cut)
DEFAULT_MIN_TRACK_LEN = 5  # --min-track-len when stitching (bench_accuracy's pan clips)


def uses_network(options: EstimateOptions) -> bool:
    """Whether ``options`` run a posecli network (``--model`` or a ``--weights`` checkpoint alone)."""
    network_from_weights = options.weights is not None and not Path(options.weights).is_dir()
    return options.model != EMBEDDED_MODEL or network_from_weights


def with_resolved_device(options: EstimateOptions, quiet: bool) -> EstimateOptions:
    """``options`` with ``device`` resolved for a network run (this is where the CPU note appears),
    and ``cpu`` for the embedded model, which never runs anywhere else."""
    if not uses_network(options):
        return replace(options, device="cpu")
    return replace(options, device=resolve_device(options.device, quiet=quiet))


def _smoother(options: EstimateOptions) -> OneEuroSmoother | None:
    return OneEuroSmoother() if options.smooth else None


def _stem(video: VideoSource) -> str:
    return source_stem(video)


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
    videos: list[VideoSource],
    out_dir: Path,
    options: EstimateOptions = EstimateOptions(),
    *,
    exist_ok: bool = False,
    resume: bool = False,
    quiet: bool = False,
    overlap: bool = True,
) -> list[VideoSummary]:
    """Estimate and track poses in every video (file, frame folder, folder of videos, glob pattern or URL:
    ``posecli.inputs``); one summary per video.

    Every input is probed and every output name checked before any work starts, so a bad argument
    fails fast. With ``resume``, a video whose progress folder exists continues where it stopped and a
    video whose outputs are all present is skipped; without it, existing outputs need ``exist_ok``.
    """
    videos = expand_inputs(videos)
    if not videos:
        raise PoseCliError("no input video given")
    if options.tracker not in TRACKERS:
        raise PoseCliError(f"--tracker: '{options.tracker}' is not one of {', '.join(TRACKERS)}")
    if options.min_track_len is not None and options.min_track_len > 1 and not options.stitch:
        raise PoseCliError("--min-track-len judges whole tracks after stitching; with --no-stitch give --min-track-len 1")
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
    options = with_resolved_device(options, quiet)
    # One lock per stem covers every file estimate may write for it, so the temporary files of all of
    # them (also of outputs this run does not write) can only be orphans of a killed run.
    every_output = replace(options, overlay=True, coco=True, jsonl=True)
    groups = {
        _stem(video): [
            *output_paths(out_dir, video, every_output).values(), progress_folder(out_dir, video) / "state.pkl"
        ]
        for video in videos
    }
    summaries = []
    with claim_outputs(out_dir, groups):
        for video, info, paths in zip(videos, infos, plans):
            folder = progress_folder(out_dir, video)
            if resume and not folder.exists() and all(p.exists() for p in paths.values()):
                summaries.append(VideoSummary(video, info.num_frames, 0.0, 0, 0.0, tuple(paths.values()), skipped=True))
                continue
            if not resume:  # progress of an earlier interrupted run: this run starts over
                shutil.rmtree(folder, ignore_errors=True)
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
    overlay = open_overlay(paths["overlay"], info, _style(options), background=overlap) if options.overlay and not options.stitch else None
    jsonl = JsonlWriter(paths["jsonl"]) if options.jsonl and not options.stitch else None
    pending: dict[int, np.ndarray] = {}  # images whose results are still inside the processor

    def emit(result: FrameResult, new: bool) -> None:
        t0 = time.perf_counter()
        image = pending.pop(result.frame_index)
        if new:
            results.append(result)
        if overlay is not None:
            with naming_path(paths["overlay"]):
                overlay.write(image, result)
        if jsonl is not None:
            with naming_path(paths["jsonl"]):
                jsonl.write(result)
        times.write += time.perf_counter() - t0

    truncated = False
    finished = False
    try:
        with (
            VideoReader(video, fill_gaps=True) as reader,  # temporal models need every index
            progress_bar(source_name(video), info.num_frames or None, "frames", quiet) as advance,
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
            min_length = DEFAULT_MIN_TRACK_LEN if options.min_track_len is None else options.min_track_len
            results = drop_weak_tracks(stitch_tracklets(results), min_length=min_length)
            overlay, jsonl = _write_streams_after(video, info, paths, options, results, quiet, overlap)
        t0 = time.perf_counter()
        write_posetrack_json(paths["posetrack"], results, info, video_name=_stem(video), kpt_thr=options.kpt_thr)
        if "coco" in paths:
            write_coco_json(paths["coco"], results, info, video_name=_stem(video), kpt_thr=options.kpt_thr)
        for kind, stream in (("jsonl", jsonl), ("overlay", overlay)):
            if stream is not None:
                with naming_path(paths[kind]):
                    stream.close()
        jsonl = overlay = None
        times.write += time.perf_counter() - t0
        finished = True
    finally:
        # After an error the partial streams are discarded; the progress folder stays for --resume,
        # unless it holds no snapshot yet (a run that failed before one has nothing to resume).
        for stream in (jsonl, overlay):
            if stream is not None:
                stream.abort()
        log.close()
        if not finished and not log.has_snapshot:
            log.remove()
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
) -> tuple[OverlayStream | None, JsonlWriter | None]:
    """Second pass for stitched runs: the track ids change after the whole video is seen, so the
    overlay and the JSON lines are written from the final results (the video is decoded again)."""
    jsonl: JsonlWriter | None = None
    overlay: OverlayStream | None = None
    try:  # on any failure (Ctrl-C in the overlay pass included) the streams opened here are discarded
        if options.jsonl:
            jsonl = JsonlWriter(paths["jsonl"])
            with naming_path(paths["jsonl"]):
                for result in results:
                    jsonl.write(result)
        if not options.overlay:
            return None, jsonl
        overlay = open_overlay(paths["overlay"], info, _style(options), background=overlap)
        by_index = {r.frame_index: r for r in results}
        with (
            VideoReader(video, fill_gaps=True) as reader,
            progress_bar(f"{source_name(video)} overlay", len(results), "frames", quiet) as advance,
            _frames(reader, overlap) as frames,
            naming_path(paths["overlay"]),
        ):
            for frame in frames:
                if frame.index in by_index:
                    overlay.write(frame.image, by_index[frame.index])
                    advance(1)
        return overlay, jsonl
    except BaseException:
        for stream in (jsonl, overlay):
            if stream is not None:
                stream.abort()
        raise


def _style(options: EstimateOptions) -> DrawStyle:
    """The overlay's drawing style (the same as ``posecli render``'s for the same options)."""
    return DrawStyle(kpt_thr=options.kpt_thr, radius=options.radius, thickness=options.thickness)


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


def detect_videos(
    videos: list[VideoSource], out_dir: Path, *, model: str = EMBEDDED_MODEL, weights: Path | None = None,
    detector: str = "embedded", detector_weights: Path | None = None, device: str = "auto",
    exist_ok: bool = False, quiet: bool = False,
) -> list[BoxesSummary]:
    """Write ``<stem>.boxes.json`` (person boxes per frame) for every video.

    ``embedded`` (default): a person's box is the box around its BlazePose landmarks (tighter and
    steadier than the detector's body circle) and its score the pose-presence probability; ``weights``
    may name a folder of its .tflite files. ``rcnn``: torchvision's Faster R-CNN on ``device``.
    """
    videos = expand_inputs(videos)
    if not videos:
        raise PoseCliError("no input video given")
    if model != EMBEDDED_MODEL:
        raise PoseCliError(f"--model {model}: detect runs the embedded {EMBEDDED_MODEL} model")
    if detector not in DETECTORS:
        raise PoseCliError(f"--detector: '{detector}' is not one of {', '.join(DETECTORS)}")
    if detector != "embedded" and weights is not None:
        raise PoseCliError("--weights is the embedded detector's .tflite folder; give --detector-weights for rcnn")
    infos = [probe_video(video) for video in videos]
    outputs = [out_dir / f"{_stem(v)}.boxes.json" for v in videos]
    refuse_clashing_outputs(videos, outputs, exist_ok)
    device = resolve_device(device, quiet=quiet) if detector == "rcnn" else "cpu"
    find_people = person_detector(detector, detector_weights, device, embedded_weights=weights, quiet=quiet)
    summaries = []
    with claim_outputs(out_dir, {path.name: [path] for path in outputs}):
        for video, info, output in zip(videos, infos, outputs):
            summaries.append(_detect_video(video, info, output, find_people, quiet))
    return summaries


def _detect_video(video: Path, info: VideoInfo, output: Path, find_people: Detector, quiet: bool) -> BoxesSummary:
    if isinstance(find_people, EmbeddedPersonDetector):
        find_people.reset()  # regions followed in the previous video
    frames: list[FrameDetections] = []
    with VideoReader(video) as reader, progress_bar(source_name(video), info.num_frames or None, "frames", quiet) as advance:
        for frame in reader:
            detections = tuple(find_people(frame.image))
            frames.append(FrameDetections(frame.index, frame.timestamp, detections))
            advance(1)
    if not frames:
        raise PoseCliError(f"{video}: no frame could be decoded")
    write_boxes_json(output, frames, info)
    return BoxesSummary(video, output, len(frames), sum(len(f.detections) for f in frames), 0)
