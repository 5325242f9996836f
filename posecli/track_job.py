"""``posecli track``: track ids for saved boxes or poses, without running any network.

``<stem>.boxes.json`` / ``<stem>.tracks.json`` → ``<stem>.tracks.json``; a PoseTrack 2018 file (such
as ``estimate``'s ``<stem>.posetrack.json``) → ``<stem>.tracks.posetrack.json``, re-tracked with its
keypoints. Nothing here imports torch: the command starts in a fraction of a second.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posecli.errors import PoseCliError
from posecli.export.boxes import BoxesFile, read_boxes_json, write_tracks_json
from posecli.export.posetrack import read_posetrack_json, write_posetrack_json
from posecli.keypoints import NUM_KEYPOINTS
from posecli.output_lock import claim_outputs, refuse_clashing_outputs
from posecli.progress import progress_bar
from posecli.structures import FrameResult, PoseInstance
from posecli.tracking.base import Tracker
from posecli.tracking.bytetrack import ByteTracker
from posecli.tracking.iou import IoUTracker
from posecli.tracking.offline import retrack
from posecli.tracking.stitch import stitch_tracklets
from posecli.video import VideoInfo

TRACKERS = ("bytetrack", "iou")


@dataclass(frozen=True)
class BoxesSummary:
    """One file written by ``detect`` or ``track``."""

    source: Path
    output: Path
    frames: int
    boxes: int
    tracks: int


def make_tracker(name: str, birth_score: float | None = None) -> Tracker:
    """A fresh tracker by name (``bytetrack`` or ``iou``); ``birth_score``: the least person score that
    starts a ByteTrack track (None: its own default, 0.6); below 0.5 it is also where ByteTrack's
    confident people begin."""
    if name == "bytetrack":
        if birth_score is None:
            return ByteTracker()
        return ByteTracker(
            high_score=min(0.5, birth_score), low_score=min(0.1, birth_score), new_track_score=birth_score
        )
    if name == "iou":
        return IoUTracker()
    raise PoseCliError(f"--tracker: '{name}' is not one of {', '.join(TRACKERS)}")


def track_boxes(
    files: list[Path], out_dir: Path, *, tracker: str = "bytetrack", stitch: bool = False,
    kpt_thr: float = 0.3, exist_ok: bool = False, quiet: bool = False,
) -> list[BoxesSummary]:
    """Track saved frames again, without running any network, e.g. to compare trackers or stitching.

    ``<stem>.boxes.json`` / ``<stem>.tracks.json`` (boxes only) → ``<stem>.tracks.json``; a PoseTrack
    2018 file such as ``estimate``'s ``<stem>.posetrack.json`` → ``<stem>.tracks.posetrack.json``, its
    people re-tracked with their keypoints (so the tracker's OKS cost and pose re-id apply) and the
    old ``track_id``s ignored. Its joints scored below ``kpt_thr`` are written with visibility 0, as
    ``estimate --kpt-thr`` wrote them (the file keeps scores, not the threshold it was written with).
    """
    if not files:
        raise PoseCliError("no boxes or PoseTrack file given")
    if tracker not in TRACKERS:
        raise PoseCliError(f"--tracker: '{tracker}' is not one of {', '.join(TRACKERS)}")
    poses = [_is_posetrack_file(path) for path in files]
    outputs = [
        out_dir / (f"{path.name.removesuffix('.json').removesuffix('.posetrack')}.tracks.posetrack.json" if is_pose
                   else f"{path.name.removesuffix('.json').removesuffix('.boxes')}.tracks.json")
        for path, is_pose in zip(files, poses)
    ]
    refuse_clashing_outputs(files, outputs, exist_ok)
    loaded = [_load_for_tracking(path) if is_pose else None for path, is_pose in zip(files, poses)]
    documents = [None if is_pose else read_boxes_json(path) for path, is_pose in zip(files, poses)]
    with claim_outputs(out_dir, {path.name: [path] for path in outputs}):
        return _track_all(files, outputs, loaded, documents, tracker, stitch, kpt_thr, quiet)


def _track_all(
    files: list[Path], outputs: list[Path], loaded: list[tuple[list[FrameResult], VideoInfo, str] | None],
    documents: list[BoxesFile | None], tracker: str, stitch: bool, kpt_thr: float, quiet: bool,
) -> list[BoxesSummary]:
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
        with progress_bar(source.name, len(frames), "frames", quiet) as advance:
            results = retrack(_counted(frames, advance), make_tracker(tracker))
        if stitch:
            results = stitch_tracklets(results)
        if pose_input is not None:
            write_posetrack_json(output, results, info, video_name=video_name, kpt_thr=kpt_thr)
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
    steps = [b.timestamp - a.timestamp for a, b in itertools.pairwise(frames) if b.timestamp > a.timestamp]
    fps = 1.0 / float(np.median(steps)) if steps else 25.0
    name = Path(str(first.get("file_name", ""))).parent.name or path.name.removesuffix(".json").removesuffix(".posetrack")
    info = VideoInfo(path=path, fps=fps, num_frames=len(frames), width=width, height=height, rotation=0, backend="posetrack")
    return frames, info, name


def _counted(frames: list[FrameResult], advance: Callable[[int], None]) -> Iterator[FrameResult]:
    """``frames``, moving the progress bar as each one is taken."""
    for frame in frames:
        yield frame
        advance(1)


def _no_keypoints() -> np.ndarray:
    """``(17, 3)`` zeros: a boxes-only person has no located joint."""
    return np.zeros((NUM_KEYPOINTS, 3))
