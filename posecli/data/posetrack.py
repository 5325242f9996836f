"""PoseTrack 2017 / 2018 / 2021 annotation readers and clip sampling.

The three on-disk layouts (``posetrack.md`` §11) are told apart by what the dataset root holds:

- **posetrack17**: merged COCO-style ``posetrack17_json_files/posetrack_{train,val}.json`` (the
  reference DCPose/FAMI-Pose files; ``posetrack_{split}.json`` at the root is accepted too), frames
  ``%08d.jpg`` numbered from 1. ``file_name`` values may say ``images/…`` while the frames live in
  ``images_renamed/…`` (DetectAndTrack's renaming); both are tried.
- **posetrack18**: per-video 2018-format JSONs in ``annotations/{train,val}/``, frames
  ``images/{split}/<seq>/%06d.jpg`` numbered from 0.
- **posetrack21**: per-video JSONs in ``posetrack_data/{train,val}/`` (2018 format plus
  ``person_id``, ``has_labeled_person``), frames as in 2018.

A reader returns every frame of every video (labelled or not) as ``FrameRecord``s; the sampling
functions turn them into ``ClipSample``s, one per person box, and ``supporting_frames`` picks the
four neighbours of a key frame with the reference rule (§7 of ``models.md``).
"""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np

from posecli.errors import PoseCliError
from posecli.export._json import load_json
from posecli.keypoints import NUM_KEYPOINTS

Layout = Literal["posetrack17", "posetrack18", "posetrack21"]

# Where each layout keeps its per-split annotations, relative to the dataset root.
_PT18_DIR = "annotations"
_PT21_DIR = "posetrack_data"
_PT17_CANDIDATES = ("posetrack17_json_files/posetrack_{split}.json", "posetrack_{split}.json")
# Ground truth that `posecli eval` reads for the PT17 val split (per-video annolist files).
_PT17_GT_DIR = "posetrack17_annotation_dirs/jsons/{split}"


@dataclass(frozen=True)
class PersonAnnotation:
    """One annotated person. box: ``(4,)`` float ``x, y, w, h`` clipped to the image; keypoints:
    ``(17, 3)`` float ``x, y, v`` with v ∈ {0, 1}; track_id: int or -1 when absent."""

    box: np.ndarray
    keypoints: np.ndarray
    track_id: int


@dataclass(frozen=True)
class FrameRecord:
    """One video frame.

    image_path: absolute path of the frame. video: sequence name. frame_number: the number in the
    file name; first_number: 1 (PT17) or 0 (PT18/21); nframes: frames in the video, so valid
    numbers are ``first_number … first_number + nframes - 1``. digits: width of the zero-padded
    file name. image_name: the path as written in the annotations (detection-box files refer to it).
    """

    image_path: Path
    image_name: str
    video: str
    frame_number: int
    first_number: int
    nframes: int
    digits: int
    width: int
    height: int
    image_id: int
    is_labeled: bool
    persons: tuple[PersonAnnotation, ...] = field(default_factory=tuple)

    def neighbour_path(self, number: int) -> Path:
        """Path of frame ``number`` of the same video (same folder, same zero padding)."""
        return self.image_path.with_name(f"{number:0{self.digits}d}{self.image_path.suffix}")


@dataclass(frozen=True)
class PoseTrackSplit:
    """All frames of one split. gt_path: the folder of per-video GT files ``posecli eval`` reads."""

    layout: str
    split: str
    root: Path
    frames: tuple[FrameRecord, ...]
    gt_path: Path
    # video → name of its GT file in gt_path (PT17 annolist files are ``<seq>_relpath_5sec_testsub.json``)
    gt_files: dict[str, str] = field(default_factory=dict)

    def prediction_file_name(self, video: str) -> str:
        """The file name a prediction for ``video`` gets: its GT file's name (as poseval requires),
        else ``<video>.json``."""
        return self.gt_files.get(video, f"{video}.json")

    def videos(self) -> dict[str, list[FrameRecord]]:
        """Frames grouped by video, in frame order."""
        out: dict[str, list[FrameRecord]] = defaultdict(list)
        for frame in self.frames:
            out[frame.video].append(frame)
        return {v: sorted(fs, key=lambda f: f.frame_number) for v, fs in sorted(out.items())}


@dataclass(frozen=True)
class ClipSample:
    """One person box on one key frame. box: ``(4,)`` ``x, y, w, h``; keypoints: ``(17, 3)`` (all
    zero when unknown, e.g. detection boxes); score: box score (1 for GT boxes)."""

    frame: FrameRecord
    box: np.ndarray
    keypoints: np.ndarray
    score: float
    track_id: int


def detect_layout(root: str | Path) -> Layout:
    """Which PoseTrack layout ``root`` holds; ``PoseCliError`` names what is missing when none fits."""
    base = Path(root)
    if not base.is_dir():
        raise PoseCliError(f"--data-root: {base} is not a folder")
    if (base / _PT21_DIR).is_dir():
        return "posetrack21"
    if (base / _PT18_DIR).is_dir():
        return "posetrack18"
    if any((base / c.format(split=s)).is_file() for c in _PT17_CANDIDATES for s in ("train", "val")):
        return "posetrack17"
    raise PoseCliError(
        f"--data-root: {base} holds no PoseTrack annotations: expected {_PT21_DIR}/<split>/*.json "
        f"(PoseTrack21), {_PT18_DIR}/<split>/*.json (PoseTrack18) or "
        "posetrack17_json_files/posetrack_<split>.json (PoseTrack17)"
    )


def read_posetrack(root: str | Path, split: str, layout: str = "auto") -> PoseTrackSplit:
    """Read one split (``train`` or ``val``) of a PoseTrack dataset at ``root``.

    layout: ``auto`` (``detect_layout``) or one of ``posetrack17|18|21``. Frames are checked to
    exist only for the first image of each video (a full scan of PoseTrack is slow); a missing
    frame later raises when it is loaded.
    """
    base = Path(root)
    chosen = detect_layout(base) if layout == "auto" else layout
    if chosen == "posetrack17":
        return _read_pt17(base, split)
    if chosen in ("posetrack18", "posetrack21"):
        folder = base / (_PT18_DIR if chosen == "posetrack18" else _PT21_DIR) / split
        if not folder.is_dir():
            raise PoseCliError(f"--data-root: {folder} is missing ({chosen} keeps the {split} split there)")
        files = sorted(folder.glob("*.json"))
        if not files:
            raise PoseCliError(f"--data-root: {folder} holds no per-video *.json files")
        frames: list[FrameRecord] = []
        for path in files:
            frames.extend(_read_video_file(path, base))
        gt_files = {path.stem: path.name for path in files}  # the video is named after its file
        return PoseTrackSplit(chosen, split, base, tuple(frames), folder, gt_files)
    raise PoseCliError(f"layout: '{layout}' is not one of auto, posetrack17, posetrack18, posetrack21")


def _load_json(path: Path) -> dict[str, Any]:
    doc = load_json(path, finite=False)  # NaN/Infinity are refused field by field, naming the field
    if not isinstance(doc, dict) or "images" not in doc or "annotations" not in doc:
        raise PoseCliError(f"{path}: expected a COCO-style object with 'images' and 'annotations'")
    return doc


def _frame_number(name: str, source: Path) -> tuple[int, int]:
    """``(number, digits)`` from a frame file name such as ``…/000012.jpg``."""
    stem = Path(name).stem
    if not re.fullmatch(r"\d+", stem):
        raise PoseCliError(f"{source}: images[].file_name '{name}' does not end in a numbered frame")
    return int(stem), len(stem)


def _persons(
    annotations: list[dict[str, Any]], width: int, height: int, source: Path
) -> tuple[PersonAnnotation, ...]:
    """Person annotations of one image: boxes clipped to the image, v > 1 clipped to 1."""
    out = []
    for i, ann in enumerate(annotations):
        if ann.get("category_id", 1) != 1:
            continue
        raw_kp = ann.get("keypoints") or [0.0] * (3 * NUM_KEYPOINTS)
        # numbers only: numpy would quietly turn "12.5" into 12.5 and a NaN would poison training
        _finite_numbers(raw_kp, source, f"annotations[{i}].keypoints")
        kp = np.asarray(raw_kp, dtype=np.float64)
        if kp.size != 3 * NUM_KEYPOINTS:
            raise PoseCliError(f"{source}: annotations[{i}].keypoints has {kp.size} numbers, expected 51")
        kp = kp.reshape(NUM_KEYPOINTS, 3)
        kp[:, 2] = np.minimum(kp[:, 2], 1.0)
        if "bbox" in ann and isinstance(ann["bbox"], list) and len(ann["bbox"]) == 4:
            _finite_numbers(ann["bbox"], source, f"annotations[{i}].bbox")
            x, y, w, h = (float(v) for v in ann["bbox"])
        else:
            # Some PoseTrack files omit boxes; the keypoint extent is the reference fallback.
            vis = kp[kp[:, 2] > 0]
            if len(vis) == 0:
                continue
            x, y = vis[:, 0].min(), vis[:, 1].min()
            w, h = vis[:, 0].max() - x, vis[:, 1].max() - y
        x1, y1 = max(0.0, x), max(0.0, y)
        x2, y2 = min(width - 1.0, x1 + max(0.0, w - 1)), min(height - 1.0, y1 + max(0.0, h - 1))
        box = np.array([x1, y1, x2 - x1, y2 - y1])
        out.append(PersonAnnotation(box=box, keypoints=kp, track_id=int(ann.get("track_id", -1))))
    return tuple(out)


def _finite_numbers(values: Any, source: Path, where: str) -> None:
    """``PoseCliError`` naming ``where`` unless ``values`` is a list of finite JSON numbers."""
    if not isinstance(values, list):
        raise PoseCliError(f"{source}: {where}: expected a list of numbers, got {type(values).__name__}")
    for j, value in enumerate(values):
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise PoseCliError(f"{source}: {where}[{j}]: expected a finite number, got {value!r}")


def _image_size(image: dict[str, Any], path: Path, cache: dict[Path, tuple[int, int]]) -> tuple[int, int]:
    """``(width, height)`` from the JSON, or read from the frame when the JSON lacks them.

    cache: sizes already read, keyed by the frame's folder: the frames of one video share a size, so
    a file without sizes costs one decode per video rather than one per frame.
    """
    if "width" in image and "height" in image:
        return int(image["width"]), int(image["height"])
    if path.parent not in cache:
        cache[path.parent] = _read_image_size(path)
    return cache[path.parent]


def _read_image_size(path: Path) -> tuple[int, int]:
    """``(width, height)`` of one frame file (decoded at half resolution, grey: the cheapest read)."""
    import cv2

    frame = cv2.imread(str(path), cv2.IMREAD_REDUCED_GRAYSCALE_2)
    if frame is None:
        raise PoseCliError(f"{path}: frame is missing or unreadable")
    return frame.shape[1] * 2, frame.shape[0] * 2


def _resolve_image(base: Path, name: str, source: Path) -> Path:
    """The frame file for ``name``: as written, or under ``images_renamed/`` (PT17)."""
    direct = base / name
    if direct.is_file():
        return direct
    parts = Path(name).parts
    if parts and parts[0] == "images":
        renamed = base.joinpath("images_renamed", *parts[1:])
        if renamed.is_file():
            return renamed
    raise PoseCliError(f"{source}: frame '{name}' not found under {base} (nor under images_renamed/)")


def _read_video_file(path: Path, base: Path) -> list[FrameRecord]:
    """Frames of one 2018/2021 per-video JSON."""
    doc = _load_json(path)
    by_image: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for ann in doc["annotations"]:
        by_image[ann.get("image_id")].append(ann)
    images = doc["images"]
    if not images:
        raise PoseCliError(f"{path}: images is empty")
    return _frames_of_images(images, by_image, base, path, path.stem, default_first=0)


def _frames_of_images(
    images: list[dict[str, Any]],
    by_image: dict[Any, list[dict[str, Any]]],
    base: Path,
    source: Path,
    video: str | None,
    default_first: int,
) -> list[FrameRecord]:
    """``FrameRecord``s of a COCO-style image list. video: the sequence name of every image (a
    per-video file), or None to group by image folder (a merged PT17 file): frames are grouped by
    their relative folder and the video is named after its last component, or after the whole
    relative folder (``/`` → ``_``) where two folders share that last component."""
    frames = []
    checked: dict[str, Path] = {}
    sizes: dict[Path, tuple[int, int]] = {}
    # frames per video folder, for files that lack `nframes`
    per_folder: dict[str, int] = defaultdict(int)
    for image in images:
        per_folder[str(Path(str(image.get("file_name", ""))).parent)] += 1
    basenames: dict[str, int] = defaultdict(int)
    for folder in per_folder:
        basenames[Path(folder).name] += 1
    names = {
        folder: Path(folder).name if basenames[Path(folder).name] == 1 else folder.replace("/", "_")
        for folder in per_folder
    }
    for i, image in enumerate(images):
        for key in ("file_name", "id"):
            if key not in image:
                raise PoseCliError(f"{source}: images[{i}] has no '{key}'")
        name = str(image["file_name"])
        number, digits = _frame_number(name, source)
        folder = str(Path(name).parent)
        if folder not in checked:
            checked[folder] = _resolve_image(base, name, source).parent
        image_path = checked[folder] / Path(name).name
        # PT17 frames are numbered from 1 (8 digits), PT18/21 from 0 (6 digits).
        first = 1 if digits == 8 else default_first
        width, height = _image_size(image, image_path, sizes)
        nframes = int(image.get("nframes", 0)) or per_folder[folder]
        persons = _persons(by_image.get(image["id"], []), width, height, source)
        labeled = bool(image.get("is_labeled", bool(persons)))
        frames.append(
            FrameRecord(
                image_path=image_path,
                image_name=name,
                video=video or names[folder],
                frame_number=number,
                first_number=first,
                nframes=nframes,
                digits=digits,
                width=width,
                height=height,
                image_id=int(image["id"]),
                is_labeled=labeled,
                persons=persons,
            )
        )
    return frames


def _read_pt17(base: Path, split: str) -> PoseTrackSplit:
    candidates = [base / c.format(split=split) for c in _PT17_CANDIDATES]
    path = next((c for c in candidates if c.is_file()), None)
    if path is None:
        raise PoseCliError(
            f"--data-root: {candidates[0]} is missing (PoseTrack17 keeps the {split} split there)"
        )
    doc = _load_json(path)
    by_image: dict[Any, list[dict[str, Any]]] = defaultdict(list)
    for ann in doc["annotations"]:
        by_image[ann.get("image_id")].append(ann)
    frames = _frames_of_images(doc["images"], by_image, base, path, None, default_first=1)
    gt = base / _PT17_GT_DIR.format(split=split)
    return PoseTrackSplit("posetrack17", split, base, tuple(frames), gt, _pt17_gt_files(gt, frames))


def _pt17_gt_files(gt: Path, frames: list[FrameRecord]) -> dict[str, str]:
    """Video → GT file name for PT17 annolist files, which are named ``<seq>_relpath_5sec_<sub>.json``
    (e.g. ``000342_mpii_relpath_5sec_testsub.json`` for the frames in ``…/000342_mpii/``); a file
    named exactly ``<seq>.json`` matches too. Videos without a unique match get none."""
    if not gt.is_dir():
        return {}
    stems = [p.stem for p in sorted(gt.glob("*.json"))]
    out = {}
    for video in {f.video for f in frames}:
        found = [s for s in stems if s == video or s.startswith(f"{video}_relpath_")]
        if len(found) == 1:
            out[video] = f"{found[0]}.json"
    return out


def supporting_frames(frame_number: int, first_number: int, nframes: int, distance: int = 3) -> list[int]:
    """Frame numbers of the 5-frame clip around a key frame, in model order (t-2, t-1, t, t+1, t+2).

    The reference rule with ``DISTANCE: 3``: with p frames before and n after the key frame, the
    two previous slots are (t-2, t-1) if p ≥ 2, (t-1, t) if p = 1, (t, t) if p = 0; the two next
    slots are (t+1, t+2) if n ≥ 2, (t+1, t+1) if n = 1, (t, t) if n = 0. Note the asymmetry at
    the boundaries, kept because the released models were trained with it.
    """
    t = frame_number
    before = t - first_number
    after = first_number + nframes - 1 - t
    reach = distance - 1  # 2 neighbours on each side for distance 3
    if before >= reach:
        previous = [t - reach + i for i in range(reach)]
    else:
        # fewer than `reach` earlier frames: the available ones, then the key frame fills in
        previous = [t - before + i for i in range(before)] + [t] * (reach - before)
    if after >= reach:
        following = [t + 1 + i for i in range(reach)]
    elif after >= 1:
        following = [t + 1 + i for i in range(after)] + [t + after] * (reach - after)
    else:
        following = [t] * reach
    return previous + [t] + following


def training_samples(split: PoseTrackSplit) -> list[ClipSample]:
    """One sample per annotated person of every labelled frame.

    GT boxes with positive area; persons with all-zero keypoints (e.g. PT21 box-only persons) are
    skipped, as in the reference.
    """
    samples = []
    for frame in split.frames:
        for person in frame.persons:
            if person.box[2] <= 0 or person.box[3] <= 0:
                continue
            if not np.any(person.keypoints[:, 2] > 0):
                continue
            samples.append(ClipSample(frame, person.box, person.keypoints, 1.0, person.track_id))
    return samples


def validation_samples(
    split: PoseTrackSplit, boxes_file: str | Path | None = None, score_threshold: float = 0.2
) -> list[ClipSample]:
    """Samples for validation: GT boxes (as ``training_samples``), or the boxes of a detection file.

    boxes_file: a JSON list of ``{image_name, bbox [x,y,w,h], score, category_id, …}`` (the
    literature's ``val_boxes.json``); boxes below ``score_threshold`` (reference: 0.2) are dropped,
    and frames are matched by the image path's last two components (video folder and file name).
    """
    if boxes_file is None:
        return training_samples(split)
    path = Path(boxes_file)
    try:
        entries = load_json(path)
    except PoseCliError as error:
        raise PoseCliError(f"data.val_boxes: {error}") from None
    if not isinstance(entries, list):
        raise PoseCliError(f"data.val_boxes: {path}: expected a JSON list of boxes")
    frames = {_image_key(f.image_name): f for f in split.frames}
    samples = []
    for i, entry in enumerate(entries):
        try:
            name, bbox, score = entry["image_name"], entry["bbox"], float(entry["score"])
        except (KeyError, TypeError, ValueError):
            raise PoseCliError(
                f"data.val_boxes: {path}: entry {i} needs image_name, bbox and score"
            ) from None
        if entry.get("category_id", 1) != 1 or score < score_threshold:
            continue
        frame = frames.get(_image_key(name))
        if frame is None:
            continue
        box = np.asarray(bbox, dtype=np.float64)
        if box.shape != (4,) or box[2] <= 0 or box[3] <= 0:
            continue
        samples.append(ClipSample(frame, box, np.zeros((NUM_KEYPOINTS, 3)), score, -1))
    return samples


def _image_key(name: str) -> tuple[str, int]:
    """Video folder and frame number of an image path, robust to 'images' vs 'images_renamed'."""
    p = Path(name)
    return p.parent.name, int(p.stem) if p.stem.isdigit() else -1


def summarize_split(split: PoseTrackSplit) -> dict[str, int | str]:
    """Counts that tell whether a split was read as intended: videos, frames, labelled frames,
    annotated persons and training clips."""
    return {
        "layout": split.layout,
        "split": split.split,
        "videos": len({f.video for f in split.frames}),
        "frames": len(split.frames),
        "labeled_frames": sum(1 for f in split.frames if f.is_labeled),
        "persons": sum(len(f.persons) for f in split.frames),
        "training_clips": len(training_samples(split)),
    }
