"""``posecli export`` and ``posecli import``: predictions out to an annotation tool, corrections back in.

Nothing here imports torch: both commands read and write files, and decode the video only for frames.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from posecli.annotation.poses import Clip, clip_from_predictions, frame_file_name
from posecli.errors import PoseCliError
from posecli.export.predictions import read_predictions
from posecli.progress import progress_bar

EXPORT_FORMATS = ("cvat-video", "cvat-images", "coco", "label-studio")
IMPORT_FORMATS = EXPORT_FORMATS
# The default output name of each format: <video>.<suffix>
SUFFIXES = {
    "cvat-video": "cvat-video.zip",
    "cvat-images": "cvat-images.zip",
    "coco": "coco-keypoints.json",
    "label-studio": "label-studio.json",
}
DEFAULT_IMAGE_URL = "/data/local-files/?d={folder}/{{name}}"  # Label Studio's local-files route


@dataclass(frozen=True)
class ExportSummary:
    """What ``export_annotations`` wrote: the files, and how many frames, people and tracks."""

    outputs: list[Path]
    frames: int
    people: int
    tracks: int


def export_annotations(
    predictions: Path,
    to: str,
    *,
    video: Path | None = None,
    output: Path | None = None,
    keyframes_every: int = 1,
    kpt_thr: float = 0.3,
    frames_dir: Path | None = None,
    image_url: str | None = None,
    exist_ok: bool = False,
) -> ExportSummary:
    """Write the poses of a posecli prediction (PoseTrack 2017/2018, COCO, JSON lines) for an
    annotation tool: ``to`` is one of ``EXPORT_FORMATS``.

    ``video``: the source video (frame size and count when the prediction lacks them; the frames
    for ``frames_dir``). ``output``: default ``runs/export/<video>.<suffix>``. ``keyframes_every``:
    CVAT video keyframe spacing. ``kpt_thr``: joints scored below it are marked occluded for review.
    ``frames_dir``: extract the labelled frames there as ``frame_%06d.jpg`` (needed for Label Studio).
    ``image_url``: Label Studio task image URL with ``{name}`` for the file name (default: its
    local-files route under the frames folder's name).
    """
    if to not in EXPORT_FORMATS:
        raise PoseCliError(f"--to: '{to}' is not one of {', '.join(EXPORT_FORMATS)}")
    if keyframes_every < 1:
        raise PoseCliError(f"--keyframes-every: must be >= 1, got {keyframes_every}")
    if not 0.0 <= kpt_thr <= 1.0:
        raise PoseCliError(f"--kpt-thr: must be in [0, 1], got {kpt_thr:g}")
    if to == "label-studio" and frames_dir is None:
        raise PoseCliError("--frames: Label Studio shows frame images; name a folder to extract them to")
    if frames_dir is not None and video is None:
        raise PoseCliError("--frames: needs --video to read the frames from")
    read = read_predictions(predictions)
    width, height, num_frames = read.width, read.height, 0
    if video is not None:
        from posecli.video import probe_video

        info = probe_video(video)
        if width and (width, height) != (info.width, info.height):
            raise PoseCliError(
                f"{predictions}: frames are {width}x{height}, the video {video} is {info.width}x{info.height}"
            )
        width, height, num_frames = info.width, info.height, info.num_frames
    if not width or not height:
        raise PoseCliError(f"{predictions}: the file does not give the frame size; pass --video")
    name = video.stem if video is not None else read.name
    clip = clip_from_predictions(
        read, kpt_thr=kpt_thr, width=width, height=height, num_frames=num_frames, name=name
    )
    target = output if output is not None else Path("runs") / "export" / f"{name}.{SUFFIXES[to]}"
    if not exist_ok and target.exists():
        raise PoseCliError(f"{target} already exists (pass --exist-ok to overwrite, or choose another -o)")
    target.parent.mkdir(parents=True, exist_ok=True)
    written = _write(to, target, clip, keyframes_every, frames_dir, image_url)
    if frames_dir is not None:
        assert video is not None
        written.append(_extract_frames(video, frames_dir, set(clip.labeled)))
    return ExportSummary(written, len(clip.labeled), len(clip.people), len(clip.tracks()))


def _write(
    to: str, target: Path, clip: Clip, keyframes_every: int, frames_dir: Path | None, image_url: str | None
) -> list[Path]:
    if to == "cvat-video":
        from posecli.annotation.cvat_video import write_cvat_video

        return write_cvat_video(target, clip, keyframes_every)
    if to == "cvat-images":
        from posecli.annotation.cvat_images import write_cvat_images

        return write_cvat_images(target, clip)
    if to == "coco":
        from posecli.annotation.coco_keypoints import write_coco_keypoints

        return write_coco_keypoints(target, clip)
    from posecli.annotation.label_studio import write_label_studio

    assert frames_dir is not None
    url = image_url if image_url is not None else DEFAULT_IMAGE_URL.format(folder=frames_dir.name)
    if "{name}" not in url:
        raise PoseCliError(f"--image-url: '{url}' has no {{name}} for the frame file name")
    return write_label_studio(target, clip, url)


def _extract_frames(video: Path, folder: Path, wanted: set[int]) -> Path:
    """Write the ``wanted`` frames of ``video`` as ``folder/frame_%06d.jpg``; returns ``folder``."""
    from posecli.annotation.training_set import write_frame
    from posecli.video import VideoReader

    folder.mkdir(parents=True, exist_ok=True)
    found = set()
    with VideoReader(video, fill_gaps=True) as reader:
        for frame in reader:
            if frame.index in wanted:
                write_frame(folder / frame_file_name(frame.index), frame.image)
                found.add(frame.index)
            if len(found) == len(wanted):
                break
    missing = sorted(wanted - found)
    if missing:
        raise PoseCliError(f"{video}: has no frame {missing[0]} (the prediction has people there)")
    return folder


# ----------------------------------------------------------------------------------------------------
# Import


@dataclass(frozen=True)
class ImportSummary:
    """What ``import_annotations`` wrote: the PoseTrack file, the frame folder and the counts."""

    annotation_file: Path
    images: Path
    frames: int
    labeled: int
    people: int
    tracks: int


def _reader(source: str) -> Callable[[Path], Clip]:
    if source == "cvat-video":
        from posecli.annotation.cvat_video import read_cvat_video

        return read_cvat_video
    if source == "cvat-images":
        from posecli.annotation.cvat_images import read_cvat_images

        return read_cvat_images
    if source == "coco":
        from posecli.annotation.coco_keypoints import read_coco_keypoints

        return read_coco_keypoints
    if source == "label-studio":
        from posecli.annotation.label_studio import read_label_studio

        return read_label_studio
    raise PoseCliError(f"--from: '{source}' is not one of {', '.join(IMPORT_FORMATS)}")


def read_annotations(path: Path, source: str) -> Clip:
    """Read an annotation file of format ``source`` (one of ``IMPORT_FORMATS``) into a :class:`Clip`."""
    return _reader(source)(path)


def import_annotations(
    annotations: Path,
    source: str,
    *,
    video: Path,
    out_dir: Path,
    split: str = "train",
    exist_ok: bool = False,
    quiet: bool = False,
) -> ImportSummary:
    """Turn a corrected annotation file into a PoseTrack 2018 dataset folder (``training_set.py``):
    ``out_dir/annotations/<split>/<video>.json`` and the frames under ``out_dir/images/<split>/<video>/``
    (with a progress bar unless ``quiet``).
    """
    from posecli.annotation.training_set import training_document, write_frame
    from posecli.export.posetrack import write_posetrack_document
    from posecli.video import VideoReader, probe_video

    if split not in ("train", "val"):
        raise PoseCliError(f"--split: '{split}' is not train or val")
    reader = _reader(source)
    info = probe_video(video)  # checks the video before the annotations are read
    clip = reader(annotations)
    if clip.width and (clip.width, clip.height) != (info.width, info.height):
        raise PoseCliError(
            f"{annotations}: annotated frames are {clip.width}x{clip.height}, the video {video} is "
            f"{info.width}x{info.height}"
        )
    last = max((p.frame for p in clip.people), default=-1)
    if info.frame_count_exact and last >= info.num_frames:  # before any frame is written
        raise PoseCliError(
            f"{annotations}: a person on frame {last}, but {video} has {info.num_frames} frames"
        )
    name = video.stem
    target = out_dir / "annotations" / split / f"{name}.json"
    if not exist_ok and target.exists():
        raise PoseCliError(
            f"{target} already exists (pass --exist-ok to overwrite, or choose another --out-dir)"
        )
    images = out_dir / "images" / split / name
    images.mkdir(parents=True, exist_ok=True)
    count = 0
    with (
        VideoReader(video, fill_gaps=True) as frames,
        progress_bar(video.name, len(frames), "frames", quiet) as advance,
    ):
        for frame in frames:
            write_frame(images / f"{frame.index:06d}.jpg", frame.image)
            count = frame.index + 1
            advance(1)
    beyond = [p.frame for p in clip.people if p.frame >= count]
    if beyond:
        raise PoseCliError(f"{annotations}: a person on frame {beyond[0]}, but {video} has {count} frames")
    document = training_document(clip, name, split, count, info.width, info.height)
    target.parent.mkdir(parents=True, exist_ok=True)
    write_posetrack_document(target, document)
    labeled = sum(1 for f in clip.labeled if f < count)
    return ImportSummary(target, images, count, labeled, len(clip.people), len(clip.tracks()))
