"""Synthetic PoseTrack-format datasets: moving stick figures written in the real PoseTrack layouts.

The generator writes small datasets in the real PoseTrack layouts (2018 by default, also 2017 and
2021) so that the readers, the training loop and the evaluator can be tested end to end without the
licensed MPII frames. The figures are drawn by ``posecli.data.figures``; where each layout keeps its
frames and annotations, and the annotation files themselves, are ``posecli.data.synthetic_layouts``'s.
This module checks the options and writes the dataset whole or not at all.

Everything is a pure function of the seed: the same arguments give byte-identical JSON (and, with the
same OpenCV build, identical JPEG bytes).

Public API: ``write_synthetic_dataset`` (a dataset folder) and ``make_synthetic_video`` (one video
file plus its ground-truth tracks, from ``posecli.data.synthetic_video``).
"""

from __future__ import annotations

import errno
import functools
import json
import os
import shutil
from pathlib import Path

import cv2
import numpy as np

from posecli.atomic import atomic_write_bytes, atomic_write_text
from posecli.data.figures import HARD_KINDS, HardFrames, render_video
from posecli.data.synthetic_layouts import (
    LAYOUTS,
    PT17_GT_SUFFIX,
    Layout,
    VideoAnnotations,
    first_frame_number,
    image_names,
    sequence_name,
)
from posecli.data.synthetic_video import SyntheticTrack, make_synthetic_video
from posecli.errors import PoseCliError
from posecli.progress import progress_bar

__all__ = [
    "EFFECTS_FILE",
    "HARD_KINDS",
    "LAYOUTS",
    "MAX_SIDE",
    "MIN_SIDE",
    "OPTION_RANGES",
    "PT17_GT_SUFFIX",
    "Layout",
    "SyntheticTrack",
    "estimated_bytes",
    "hard_problem",
    "make_synthetic_video",
    "option_problem",
    "size_problem",
    "write_synthetic_dataset",
]


def _encode_jpeg(image: np.ndarray, path: Path) -> None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise PoseCliError(f"{path}: OpenCV could not encode the frame as JPEG")
    atomic_write_bytes(path, data.tobytes())


def _dump(obj: object) -> str:
    """Deterministic compact JSON (key order as built, no NaN)."""
    return json.dumps(obj, allow_nan=False, separators=(",", ":")) + "\n"


# Where the generator records which frames carry motion blur or an occluder (not a PoseTrack file).
EFFECTS_FILE = "synthetic_effects.json"

# Caps that keep the PoseTrack id scheme unambiguous: image ids are T·1e10 + S·1e4 + F, so a frame
# index stays below 10,000 (PT17 counts from 1) and a sequence number below 1e6 (train videos are
# numbered from 1, val videos from 100001); PT21 person ids are S·100 + p, and the box-only person
# takes index ``people``, so at most 99 people. ``(minimum, maximum or None)`` per count.
OPTION_RANGES: dict[str, tuple[int, int | None]] = {
    "videos": (1, 100_000),
    "val_videos": (0, 100_000),
    "frames": (1, 9_999),
    "people": (0, 99),
    "label_every": (1, None),
    "seed": (0, None),  # numpy's generators take non-negative seeds only
}
MIN_SIDE = 64  # smaller frames leave the figures too few pixels to draw
MAX_SIDE = 4096  # larger frames are not what a synthetic test set is for

# The top-level entries a dataset of any layout consists of. New entries are moved into place in
# this order and old ones moved out in reverse, so the annotations (what readers look for) are the
# last to appear and the first to go.
_DATASET_ENTRIES = (
    "images",
    "images_renamed",
    EFFECTS_FILE,
    "posetrack17_annotation_dirs",
    "posetrack17_json_files",
    "posetrack_data",
    "annotations",
)


def option_problem(name: str, value: int) -> str | None:
    """Why ``value`` is not allowed for the count ``name`` (a key of ``OPTION_RANGES``), or None."""
    low, high = OPTION_RANGES[name]
    if value < low:
        return f"{value} is below the minimum {low}"
    if high is not None and value > high:
        return f"{value} is above the maximum {high:,} (the PoseTrack id scheme has no room for more)"
    return None


def hard_problem(share: float | None, kinds: tuple[str, ...] | list[str]) -> str | None:
    """Why a hard-frame share (0 to 1, or None for the legacy random effects) and kind list are not
    allowed, or None. kinds: a non-empty subset of ``HARD_KINDS`` without repeats."""
    if share is not None and not 0.0 <= share <= 1.0:  # also refuses NaN
        return f"share {share} is not between 0 and 1"
    unknown = [k for k in kinds if k not in HARD_KINDS]
    if unknown:
        return f"kind '{unknown[0]}' is not one of {', '.join(HARD_KINDS)}"
    if not kinds or len(set(kinds)) != len(kinds):
        return f"kinds must name each of {', '.join(HARD_KINDS)} at most once, and at least one"
    return None


def size_problem(size: tuple[int, int]) -> str | None:
    """Why a frame size ``(W, H)`` is not allowed, or None."""
    width, height = size
    if width < MIN_SIDE or height < MIN_SIDE:
        return f"{width}x{height} is too small (at least {MIN_SIDE}x{MIN_SIDE})"
    if width > MAX_SIDE or height > MAX_SIDE:
        return f"{width}x{height} is too large (at most {MAX_SIDE}x{MAX_SIDE})"
    return None


def estimated_bytes(
    videos: int,
    val_videos: int,
    frames: int,
    people: int,
    size: tuple[int, int],
    label_every: int,
    layout: str = "posetrack18",
) -> int:
    """A low estimate of the dataset's size on disk in bytes.

    Measured on generated data: JPEGs take 0.18-0.5 bytes per pixel (more for small frames), a frame
    entry about 400 bytes of JSON and a labelled person about 900. The estimate takes the low end, so
    it only refuses datasets that certainly do not fit.
    """
    total_frames = (videos + val_videos) * frames
    labelled = (videos + val_videos) * -(-frames // label_every)
    jpeg = total_frames * (1000 + size[0] * size[1] * 3 // 20)
    json_bytes = total_frames * 400 + labelled * people * 900
    if layout == "posetrack17":
        json_bytes *= 2  # merged COCO-style files plus the per-video annolist GT
    return jpeg + json_bytes


def _gigabytes(count: int) -> str:
    return f"{count / 1e9:.1f} GB" if count >= 1e8 else f"{count / 1e6:.1f} MB"


def _refuse_existing(root: Path, target: Path) -> None:
    """Raise ``PoseCliError`` naming the first dataset entry already in ``target``."""
    for name in reversed(_DATASET_ENTRIES):
        if os.path.lexists(target / name):
            raise PoseCliError(
                f"{root / name} already exists "
                "(pass --exist-ok to replace the dataset, or choose another folder)"
            )


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` still exists (a process of another user counts as alive)."""
    if os.name != "posix":
        return True  # os.kill(pid, 0) would terminate it on Windows: keep the folder
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


def _sweep_stale_temporaries(target: Path) -> None:
    """Remove ``.<name>.tmp-<pid>`` siblings of ``target`` whose process is gone (killed runs)."""
    prefix = f".{target.name}.tmp-"
    for path in target.parent.iterdir():
        pid = path.name[len(prefix) :]
        if path.name.startswith(prefix) and pid.isdigit() and not _pid_alive(int(pid)):
            shutil.rmtree(path, ignore_errors=True)


def _move_into_place(tmp: Path, target: Path, root: Path, exist_ok: bool) -> None:
    """Make the complete dataset in ``tmp`` appear at ``target``.

    A missing or empty ``target`` is replaced in one rename. Otherwise the old dataset's entries are
    moved into ``tmp/.replaced`` (deleted with ``tmp``) and the new ones moved in; other files in
    ``target`` are left alone. If that is interrupted, the old entries are put back.
    """
    try:
        os.rename(tmp, target)
        return
    except OSError as error:
        if error.errno not in (errno.ENOTEMPTY, errno.EEXIST):
            raise
    if not exist_ok:
        _refuse_existing(root, target)  # another run finished first
    aside = tmp / ".replaced"
    aside.mkdir()
    new = [name for name in _DATASET_ENTRIES if os.path.lexists(tmp / name)]
    old = [name for name in reversed(_DATASET_ENTRIES) if os.path.lexists(target / name)]
    moved_out: list[str] = []
    moved_in: list[str] = []
    try:
        for name in old:
            os.rename(target / name, aside / name)
            moved_out.append(name)
        for name in new:
            os.rename(tmp / name, target / name)
            moved_in.append(name)
    except BaseException:
        for name in reversed(moved_in):
            os.rename(target / name, tmp / name)
        for name in reversed(moved_out):
            os.rename(aside / name, target / name)
        raise


def write_synthetic_dataset(
    out_dir: str | Path,
    videos: int = 4,
    frames: int = 12,
    people: int = 2,
    seed: int = 0,
    size: tuple[int, int] = (320, 240),
    val_videos: int = 1,
    layout: Layout = "posetrack18",
    label_every: int = 2,
    quiet: bool = True,
    exist_ok: bool = True,
    hard_share: float | None = None,
    hard_kinds: tuple[str, ...] = HARD_KINDS,
) -> dict[str, list[str]]:
    """Write a synthetic dataset in a PoseTrack layout and return ``{split: [sequence names]}``.

    out_dir: dataset root. videos / val_videos: number of train / val sequences. frames: frames per
    video. people: figures per video. size: ``(W, H)`` pixels. label_every: every n-th frame is
    labelled (``is_labeled``); the others have no annotations, as in PoseTrack. quiet: no progress bar.
    exist_ok: replace a dataset already in ``out_dir``; when False, an existing one is an error.
    hard_share: None keeps the random effects (about one frame in four with a grey block over part of
    a person, one in five motion-blurred); a number from 0 to 1 instead makes exactly
    ``round(hard_share · frames)`` frames of every video hard key frames, with clean neighbours, and
    every other frame clean (``posecli.data.figures.HardFrames``). hard_kinds: the effects a hard
    frame draws from: ``blur`` (motion blur), ``defocus`` (whole frame), ``joints`` (two limbs of one
    person under grey blocks), ``person`` (one person hidden whole). Hidden joints stay annotated.
    With hard frames the annotated person boxes are fixed-size boxes around the body centre
    (``posecli.data.figures.body_box``), not tight around the limbs, so that a hidden person's box
    says where it is but not what pose it is in.

    The dataset is written whole into a hidden sibling folder ``.<name>.tmp-<pid>`` and renamed into
    place at the end, so an interrupted run (Ctrl-C, SIGTERM, kill -9) never leaves a partial dataset
    under ``out_dir``, and a replaced dataset stays intact until the new one is complete. Temporary
    siblings of runs that died are removed by the next run. Counts are capped by the PoseTrack id
    scheme (``OPTION_RANGES``), frame sides by ``MAX_SIDE``, and a dataset that clearly will not fit
    the free disk space is refused before anything is written.

    Layouts (see ``posetrack.md`` §11):

    - ``posetrack18``: ``images/{train,val}/<seq>/%06d.jpg`` (0-indexed),
      ``annotations/{train,val}/<seq>.json``.
    - ``posetrack21``: same frames, ``posetrack_data/{train,val}/<seq>.json`` with ``person_id`` and
      ``has_labeled_person``, plus one box-only person (all-zero keypoints) per labelled frame.
    - ``posetrack17``: ``images_renamed/<seq>/%08d.jpg`` (1-indexed; the JSONs name them ``images/…``
      as before DetectAndTrack's renaming), merged COCO-style
      ``posetrack17_json_files/posetrack_{train,val}.json`` and per-video annolist GT
      ``posetrack17_annotation_dirs/jsons/val/<seq>_relpath_5sec_testsub.json`` (named as the real
      files: the GT file name is not the image folder's, so readers and writers must map the two).

    Every layout also gets ``synthetic_effects.json`` (``EFFECTS_FILE``): per sequence, the frame
    numbers that are motion-blurred and the grey occluder blocks ``{"frame", "track_id", "box":
    [x1, y1, x2, y2]}``, so tests and experiments can find the frames a key frame alone cannot solve;
    with ``hard_share`` also ``"hard"``: one record per hard frame ``{"frame", "kind", "track_ids",
    "hidden_joints"}`` (frame numbers as in the image names; ``hidden_joints`` lists, per track id,
    the PoseTrack slots under a grey block, empty for blur and defocus).
    """
    if layout not in LAYOUTS:
        raise PoseCliError(f"layout: '{layout}' is not one of {', '.join(LAYOUTS)}")
    counts = {
        "videos": videos,
        "val_videos": val_videos,
        "frames": frames,
        "people": people,
        "label_every": label_every,
        "seed": seed,
    }
    for name, value in counts.items():
        problem = option_problem(name, value)
        if problem:
            raise PoseCliError(f"{name}: {problem}")
    problem = size_problem(size)
    if problem:
        raise PoseCliError(f"size: {problem}")
    problem = hard_problem(hard_share, hard_kinds)
    if problem:
        raise PoseCliError(f"hard frames: {problem}")
    hard = HardFrames(float(hard_share), tuple(hard_kinds)) if hard_share is not None else None
    root = Path(out_dir)
    # Work on the resolved path so that the temporary sibling sits on the target's own file system.
    target = root.resolve()
    if not target.name:
        raise PoseCliError(f"{root}: not a usable dataset folder (choose a named folder)")
    if target.exists() and not target.is_dir():
        raise PoseCliError(f"{root}: exists and is not a folder")
    if not exist_ok:
        _refuse_existing(root, target)
    tmp = target.parent / f".{target.name}.tmp-{os.getpid()}"
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        _sweep_stale_temporaries(target)
        needed = estimated_bytes(videos, val_videos, frames, people, size, label_every, layout)
        free = shutil.disk_usage(target.parent).free
        if needed > free:
            raise PoseCliError(
                f"{root}: the dataset needs about {_gigabytes(needed)} but only {_gigabytes(free)} is free "
                "there (use fewer videos or frames, or a smaller size)"
            )
        shutil.rmtree(tmp, ignore_errors=True)  # left by an earlier failed call in this same process
        tmp.mkdir()
        names = _write_dataset(
            tmp, videos, frames, people, seed, size, val_videos, layout, label_every, quiet, hard
        )
        _move_into_place(tmp, target, root, exist_ok)
    except OSError as error:
        # A full disk or a read-only folder: name the dataset folder, not the temporary file.
        raise PoseCliError(f"{root}: could not write the dataset ({error.strerror or error})") from error
    finally:
        # Also on Ctrl-C and on the exception the CLI raises for SIGTERM: nothing half-written stays.
        shutil.rmtree(tmp, ignore_errors=True)
    return names


def _write_dataset(
    root: Path,
    videos: int,
    frames: int,
    people: int,
    seed: int,
    size: tuple[int, int],
    val_videos: int,
    layout: str,
    label_every: int,
    quiet: bool,
    hard: HardFrames | None = None,
) -> dict[str, list[str]]:
    """Write every file of the dataset under ``root`` (a fresh folder); see ``write_synthetic_dataset``."""
    width, height = size
    rng = np.random.default_rng(seed)
    names: dict[str, list[str]] = {"train": [], "val": []}
    effects: dict[str, dict[str, object]] = {}
    annotations = VideoAnnotations(root, layout, people, size, label_every)
    first = first_frame_number(layout)
    with progress_bar("synthesising", videos + val_videos, "videos", quiet) as advance:
        for split, count in (("train", videos), ("val", val_videos)):
            for v in range(count):
                number = (1 if split == "train" else 100001) + v
                seq = sequence_name(number, split)
                names[split].append(seq)
                # Frames go to disk as they are drawn, so a long or large video never sits in memory whole.
                video = render_video(
                    np.random.default_rng(rng.integers(0, 2**63)),
                    frames,
                    people,
                    width,
                    height,
                    on_frame=functools.partial(_write_frame, root, layout, split, seq),
                    hard=hard,
                )
                effects[seq] = {
                    "split": split,
                    "blurred_frames": [int(t) + first for t in np.flatnonzero(video.blurred)],
                    "occluders": [
                        {"frame": t + first, "track_id": p, "box": box} for t, p, box in video.occluders
                    ],
                }
                if hard is not None:
                    effects[seq]["hard"] = [
                        {
                            "frame": h.frame + first,
                            "kind": h.kind,
                            "track_ids": list(h.people),
                            "hidden_joints": [list(slots) for slots in h.hidden_joints],
                        }
                        for h in video.hard
                    ]
                annotations.add_video(split, number, seq, frames, video)
                advance(1)
    header: dict[str, object] = {"layout": layout, "seed": seed}
    if hard is not None:
        header["hard_share"], header["hard_kinds"] = hard.share, list(hard.kinds)
    atomic_write_text(root / EFFECTS_FILE, _dump({**header, "videos": effects}))
    annotations.finish(has_val=bool(names["val"]))
    return names


def _write_frame(root: Path, layout: str, split: str, seq: str, t: int, image: np.ndarray) -> None:
    """Write frame ``t`` (0-based) of ``seq`` as JPEG where the layout keeps it."""
    index = t + first_frame_number(layout)
    _encode_jpeg(image, root / image_names(layout, split, seq, index)[0])
