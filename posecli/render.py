"""``posecli render``: draw saved poses on their video again, with any drawing style.

The predictions may be any file posecli writes or reads back: PoseTrack 2018 (``estimate``'s
``<stem>.posetrack.json``, ``track``'s ``<stem>.tracks.posetrack.json``, a hand-corrected file),
PoseTrack 2017 (``annolist``, one video), COCO keypoint results (``<stem>.coco.json``) or JSON lines
(``<stem>.jsonl``). Each format is read by its existing reader (``posecli.export``, and
``posecli.evaluation.formats`` for 2017); frames are drawn by ``posecli.export.overlay.draw_frame``,
the renderer of ``estimate``'s overlay, so a redrawn overlay looks like the original. The overlay
keeps the video's audio. ``frames_dir`` writes one PNG or JPEG per frame instead of (or besides) the
video. Every output appears whole or not at all.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from posecli.atomic import naming_path, writing
from posecli.errors import PoseCliError
from posecli.export.overlay import DrawStyle, OverlayVideo, draw_frame
from posecli.export.predictions import Predictions, read_predictions
from posecli.inputs import VideoSource, source_name, source_stem
from posecli.progress import progress_bar
from posecli.structures import FrameResult
from posecli.video import VideoInfo, VideoReader, probe_video, shown_path

FRAME_FORMATS = ("png", "jpg")
DEFAULT_STYLE = DrawStyle()  # estimate's overlay defaults
OUTSIDE_MARGIN = 1.25  # joints may be guessed a little beyond the frame edge, not a quarter of it


@dataclass(frozen=True)
class RenderSummary:
    """What ``render_overlay`` wrote."""

    predictions: Path
    file_format: str
    frames: int
    people: int
    outputs: tuple[Path, ...]


def check_match(predictions: Predictions, info: VideoInfo, pred_path: Path, video: VideoSource) -> None:
    """Refuse predictions that cannot belong to the video: another frame size, or more frames."""
    if predictions.width and predictions.height and (predictions.width, predictions.height) != (info.width, info.height):
        raise PoseCliError(
            f"{shown_path(pred_path)}: made for a {predictions.width}x{predictions.height} video, but "
            f"{shown_path(video)} is {info.width}x{info.height} (predictions of another video?)"
        )
    _check_joints_inside(predictions, info, pred_path, video)
    last = max((f.frame_index for f in predictions.frames), default=-1)
    if info.num_frames and info.frame_count_exact and last >= info.num_frames:
        raise PoseCliError(
            f"{shown_path(pred_path)}: has frame {last}, but {shown_path(video)} has {info.num_frames} frames "
            "(predictions of another video?)"
        )


def _check_joints_inside(predictions: Predictions, info: VideoInfo, pred_path: Path, video: VideoSource) -> None:
    """Files without a frame size (COCO, JSON lines): joints far outside the frame tell another video."""
    right = bottom = 0.0
    for frame in predictions.frames:
        for person in frame.instances:
            located = np.asarray(person.keypoints)[np.asarray(person.keypoints)[:, 2] > 0, :2]
            if len(located):
                right, bottom = max(right, float(located[:, 0].max())), max(bottom, float(located[:, 1].max()))
    if right > OUTSIDE_MARGIN * info.width or bottom > OUTSIDE_MARGIN * info.height:
        raise PoseCliError(
            f"{shown_path(pred_path)}: has joints up to ({right:.0f}, {bottom:.0f}), outside the "
            f"{info.width}x{info.height} frames of {shown_path(video)} (predictions of another video?)"
        )


def default_output(video: VideoSource, out_dir: Path) -> Path:
    """``<out_dir>/<video stem>.overlay.mp4``."""
    return out_dir / f"{source_stem(video)}.overlay.mp4"


def render_overlay(
    predictions: Path,
    video: VideoSource,
    output: Path | None,
    *,
    style: DrawStyle = DEFAULT_STYLE,
    frames_dir: Path | None = None,
    frame_format: str = "png",
    exist_ok: bool = False,
    quiet: bool = False,
) -> RenderSummary:
    """Draw the people of ``predictions`` on every frame of ``video``.

    output: the overlay video (MP4, with the video's audio); None writes no video (then
    ``frames_dir`` is needed). frames_dir: a new folder of ``000000.<frame_format>``… images, one per
    frame. Existing outputs are refused unless ``exist_ok``. Everything is checked before drawing:
    the files, the formats and that the predictions fit the video (frame size and count).
    """
    if output is None and frames_dir is None:
        raise PoseCliError("nothing to write: give -o OUT.mp4, --frames DIR or both")
    if frame_format not in FRAME_FORMATS:
        raise PoseCliError(f"--frame-format: '{frame_format}' is not one of {', '.join(FRAME_FORMATS)}")
    if output is not None and output.suffix.lower() != ".mp4":
        raise PoseCliError(f"{shown_path(output)}: the overlay is an MP4 video; name it <name>.mp4")
    for path in (output, frames_dir):
        if path is not None and path.exists() and not exist_ok:
            raise PoseCliError(f"{shown_path(path)} already exists (pass --exist-ok to overwrite)")
    if output is not None and output.is_dir():
        raise PoseCliError(f"{shown_path(output)}: is a folder; -o names the overlay video file")
    if frames_dir is not None and frames_dir.exists() and not frames_dir.is_dir():
        raise PoseCliError(f"{shown_path(frames_dir)}: exists and is not a folder")
    read = read_predictions(predictions)
    info = probe_video(video)
    check_match(read, info, predictions, video)
    by_index = {f.frame_index: f for f in read.frames}
    empty = FrameResult(0, 0.0, ())
    name = source_name(video)
    with contextlib.ExitStack() as stack:
        overlay = stack.enter_context(OverlayVideo(output, info, style, audio_from=_audio_source(info))) if output else None
        folder = stack.enter_context(_new_folder(frames_dir, exist_ok)) if frames_dir is not None else None
        reader = stack.enter_context(VideoReader(video, fill_gaps=True))
        advance = stack.enter_context(progress_bar(name, info.num_frames or None, "frames", quiet))
        for frame in reader:
            result = by_index.get(frame.index, empty)
            if overlay is not None:
                with naming_path(overlay.path):
                    overlay.write(frame.image, result)
            if folder is not None:
                _write_image(folder / f"{frame.index:06d}.{frame_format}", draw_frame(frame.image, result, style))
            advance(1)
    outputs = tuple(p for p in (output, frames_dir) if p is not None)
    return RenderSummary(predictions, read.format_title, len(read.frames), sum(len(f.instances) for f in read.frames), outputs)


def _audio_source(info: VideoInfo) -> str | Path | None:
    return None if info.backend == "frames" else info.path


def _write_image(path: Path, image: np.ndarray) -> None:
    """Encode ``image`` (RGB) as PNG or JPEG at ``path`` (inside the not yet published folder)."""
    ok, data = cv2.imencode(path.suffix, cv2.cvtColor(image, cv2.COLOR_RGB2BGR))
    if not ok:
        raise PoseCliError(f"{shown_path(path)}: the image could not be encoded")
    with writing(path, "frame image"):
        path.write_bytes(data.tobytes())


@contextlib.contextmanager
def _new_folder(target: Path, exist_ok: bool) -> Iterator[Path]:
    """A temporary folder beside ``target`` that becomes ``target`` when the block succeeds (an older
    ``target``, with ``exist_ok``, is replaced only then) and is removed when it fails."""
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield tmp
        if target.exists() and exist_ok:
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".old", dir=target.parent))
            os.replace(target, old / target.name)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
