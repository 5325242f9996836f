"""Synthetic PoseTrack-format video data: articulated stick figures that move smoothly.

The generator writes small datasets in the real PoseTrack layouts (2018 by default, also 2017 and
2021) so that the readers, the training loop and the evaluator can be tested end to end without the
licensed MPII frames. Each person is a 2-D kinematic figure (torso, head, two-segment arms and legs)
whose joint angles follow sinusoids; every limb is drawn as a thick line in its own colour, left and
right sides in different colours, so that every joint is locatable and a horizontal flip is visible.
Some frames get motion blur or a grey occluder, so that the neighbouring frames carry information
the key frame lacks, which is what the temporal models exploit.

Everything is a pure function of the seed: the same arguments give byte-identical JSON (and, with the
same OpenCV build, identical JPEG bytes).

Public API: ``write_synthetic_dataset`` (a dataset folder) and ``make_synthetic_video`` (one video
file plus its ground-truth tracks, for pipeline and tracking tests).
"""

from __future__ import annotations

import errno
import functools
import json
import math
import os
import shutil
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import cv2
import numpy as np

from posecli.atomic import atomic_path, atomic_write_bytes, atomic_write_text
from posecli.errors import PoseCliError
from posecli.keypoints import (
    NUM_KEYPOINTS,
    POSETRACK_CATEGORY_SKELETON,
    POSETRACK_KEYPOINTS,
    SLOT_OF_POSEVAL_ID,
)
from posecli.progress import progress_bar

Layout = Literal["posetrack17", "posetrack18", "posetrack21"]
LAYOUTS: tuple[str, ...] = ("posetrack17", "posetrack18", "posetrack21")

# Slots that PoseTrack never annotates (the ears): always written as [0, 0, 0].
_UNANNOTATED_SLOTS = (3, 4)

# Limbs drawn as thick lines: (slot a, slot b, BGR colour, thickness relative to the body unit).
# Left limbs are warm, right limbs cool, so the two sides (and a flip) can be told apart.
_LIMBS: tuple[tuple[int, int, tuple[int, int, int], float], ...] = (
    (5, 7, (0, 140, 255), 0.55),  # left upper arm: orange
    (7, 9, (0, 220, 255), 0.45),  # left forearm: yellow
    (6, 8, (255, 120, 0), 0.55),  # right upper arm: blue
    (8, 10, (255, 230, 0), 0.45),  # right forearm: cyan
    (11, 13, (40, 40, 220), 0.65),  # left thigh: red
    (13, 15, (150, 60, 230), 0.55),  # left shin: pink
    (12, 14, (60, 180, 40), 0.65),  # right thigh: green
    (14, 16, (150, 230, 120), 0.55),  # right shin: light green
    (5, 6, (200, 200, 200), 0.5),  # shoulder line: light grey
    (11, 12, (120, 120, 120), 0.5),  # hip line: grey
)
_TORSO_COLOUR = (90, 60, 160)
_HEAD_COLOUR = (170, 200, 240)
_NOSE_COLOUR = (30, 30, 30)


@dataclass(frozen=True)
class _Figure:
    """Fixed parameters of one synthetic person (pixel units, radians, frames)."""

    unit: float  # body unit in pixels (a person is about 8 units tall)
    start: tuple[float, float]  # hip centre at frame 0
    velocity: tuple[float, float]  # pixels per frame
    sway: float  # amplitude of the side-to-side hip sway in pixels
    phase: float  # gait phase at frame 0
    speed: float  # gait angular speed per frame
    lean: float  # torso lean amplitude
    arm_swing: float
    leg_swing: float


@dataclass(frozen=True)
class SyntheticTrack:
    """Ground truth of one person in a synthetic video.

    track_id: int id, stable over the video. boxes: ``(F, 4)`` float ``x1, y1, x2, y2`` of the
    keypoints (enlarged by a margin). keypoints: ``(F, 17, 3)`` ``x, y, v`` in the PoseTrack slot
    layout, ``v = 1`` for joints inside the frame (ears always 0). visible: ``(F,)`` bool, False on
    frames where the person is fully hidden by an occluder.
    """

    track_id: int
    boxes: np.ndarray
    keypoints: np.ndarray
    visible: np.ndarray


def _random_figure(rng: np.random.Generator, width: int, height: int, frames: int) -> _Figure:
    """Draw one figure that starts inside the frame and drifts slowly."""
    unit = float(rng.uniform(0.075, 0.11) * height)
    margin_x = 2.0 * unit
    start = (float(rng.uniform(margin_x, width - margin_x)), float(rng.uniform(0.45, 0.62) * height))
    drift = float(rng.uniform(0.1, 0.35) * width / max(frames, 1))
    velocity = (drift * float(rng.choice([-1.0, 1.0])), float(rng.uniform(-0.3, 0.3)))
    return _Figure(
        unit=unit,
        start=start,
        velocity=velocity,
        sway=float(rng.uniform(0.0, 0.6) * unit),
        phase=float(rng.uniform(0, 2 * math.pi)),
        speed=float(rng.uniform(0.25, 0.55)),
        lean=float(rng.uniform(0.05, 0.2)),
        arm_swing=float(rng.uniform(0.5, 1.1)),
        leg_swing=float(rng.uniform(0.3, 0.6)),
    )


def _pose(fig: _Figure, t: float) -> np.ndarray:
    """Joint positions of ``fig`` at frame ``t``: ``(17, 2)`` float pixels (ears included)."""
    u = fig.unit
    g = fig.phase + fig.speed * t
    hip = np.array(
        [
            fig.start[0] + fig.velocity[0] * t + fig.sway * math.sin(0.5 * g),
            fig.start[1] + fig.velocity[1] * t,
        ]
    )
    lean = fig.lean * math.sin(0.7 * g + 1.0)
    up = np.array([math.sin(lean), -math.cos(lean)])  # unit vector hip -> neck (image y points down)
    side = np.array([-up[1], up[0]])  # points to the image right when upright
    # The figure faces the camera: its left side is on the image right.
    neck = hip + 3.0 * u * up
    out = np.zeros((NUM_KEYPOINTS, 2))
    out[1] = neck  # head_bottom
    out[2] = neck + 1.6 * u * up  # head_top
    out[0] = neck + 0.75 * u * up + 0.25 * u * side * math.sin(0.3 * g)  # nose, turns a little
    out[3] = neck + 0.8 * u * up + 0.45 * u * side  # left ear (drawn only as part of the head)
    out[4] = neck + 0.8 * u * up - 0.45 * u * side
    out[5] = neck - 0.15 * u * up + 0.95 * u * side  # left shoulder
    out[6] = neck - 0.15 * u * up - 0.95 * u * side
    out[11] = hip + 0.6 * u * side  # left hip
    out[12] = hip - 0.6 * u * side

    def limb(root: np.ndarray, angle: float, length: float) -> np.ndarray:
        # angle 0 hangs straight down along -up; positive swings towards the image right
        direction = -up * math.cos(angle) + side * math.sin(angle)
        return root + length * direction

    swing = math.sin(g)
    out[7] = limb(out[5], 0.35 + fig.arm_swing * swing, 1.5 * u)  # left elbow
    out[9] = limb(out[7], 0.35 + fig.arm_swing * swing + 0.6 + 0.5 * math.sin(g + 1.2), 1.4 * u)
    out[8] = limb(out[6], -0.35 + fig.arm_swing * swing * -1.0, 1.5 * u)
    out[10] = limb(out[8], -0.35 - fig.arm_swing * swing - 0.6 - 0.5 * math.sin(g + 2.4), 1.4 * u)
    out[13] = limb(out[11], 0.1 + fig.leg_swing * swing, 1.9 * u)  # left knee
    out[15] = limb(out[13], 0.1 + fig.leg_swing * swing - 0.3 * max(0.0, math.sin(g + 0.8)), 1.8 * u)
    out[14] = limb(out[12], -0.1 - fig.leg_swing * swing, 1.9 * u)
    out[16] = limb(out[14], -0.1 - fig.leg_swing * swing + 0.3 * max(0.0, math.sin(g + 3.9)), 1.8 * u)
    return out


def _background(rng: np.random.Generator, width: int, height: int) -> np.ndarray:
    """A smooth textured background: ``(H, W, 3)`` uint8 BGR."""
    coarse = rng.uniform(60, 200, size=(6, 8, 3)).astype(np.float32)
    image = cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC)
    grain = rng.normal(0, 6, size=(height, width, 3)).astype(np.float32)
    return np.clip(image + grain, 0, 255).astype(np.uint8)


def _draw_figure(image: np.ndarray, joints: np.ndarray, unit: float) -> None:
    """Draw one figure in place: torso polygon, limbs, head ellipse and nose."""
    torso = np.round(joints[[5, 6, 12, 11]] * 16).astype(np.int32)
    cv2.fillPoly(image, [torso], _TORSO_COLOUR, lineType=cv2.LINE_AA, shift=4)
    for a, b, colour, thickness in _LIMBS:
        pa = tuple(int(v) for v in np.round(joints[a] * 16))
        pb = tuple(int(v) for v in np.round(joints[b] * 16))
        cv2.line(image, pa, pb, colour, max(1, round(thickness * unit)), cv2.LINE_AA, shift=4)
    centre = (joints[1] + joints[2]) / 2
    axis_major = np.linalg.norm(joints[2] - joints[1]) / 2
    angle = math.degrees(math.atan2(joints[2][1] - joints[1][1], joints[2][0] - joints[1][0]))
    cv2.ellipse(
        image,
        (round(centre[0] * 16), round(centre[1] * 16)),
        (round(axis_major * 16), round(0.42 * unit * 16)),
        angle,
        0,
        360,
        _HEAD_COLOUR,
        -1,
        cv2.LINE_AA,
        shift=4,
    )
    nose = tuple(int(v) for v in np.round(joints[0] * 16))
    cv2.circle(image, nose, round(0.16 * unit * 16), _NOSE_COLOUR, -1, cv2.LINE_AA, shift=4)


def _motion_blur(image: np.ndarray, length: int, angle: float) -> np.ndarray:
    """Blur along a line of ``length`` pixels at ``angle`` radians."""
    kernel = np.zeros((length, length), np.float32)
    c = (length - 1) / 2
    dx, dy = math.cos(angle) * c, math.sin(angle) * c
    cv2.line(kernel, (round(c - dx), round(c - dy)), (round(c + dx), round(c + dy)), 1.0, 1)
    kernel /= kernel.sum()
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)


def _keypoint_array(joints: np.ndarray, width: int, height: int) -> np.ndarray:
    """``(17, 2)`` joints → ``(17, 3)`` PoseTrack GT: rounded to 0.1 px, v = 1 inside, ears unset."""
    out = np.zeros((NUM_KEYPOINTS, 3))
    inside = (
        (joints[:, 0] >= 0) & (joints[:, 0] <= width - 1) & (joints[:, 1] >= 0) & (joints[:, 1] <= height - 1)
    )
    for slot in range(NUM_KEYPOINTS):
        if slot in _UNANNOTATED_SLOTS or not inside[slot]:
            continue
        out[slot] = (round(float(joints[slot, 0]), 1), round(float(joints[slot, 1]), 1), 1.0)
    return out


def _person_box(joints: np.ndarray, unit: float, width: int, height: int) -> np.ndarray:
    """Box ``x1, y1, x2, y2`` around the drawn figure (limb thickness included), clipped to the frame."""
    pad = 0.6 * unit
    x1, y1 = joints[:, 0].min() - pad, joints[:, 1].min() - pad
    x2, y2 = joints[:, 0].max() + pad, joints[:, 1].max() + pad
    return np.array([max(0.0, x1), max(0.0, y1), min(width - 1.0, x2), min(height - 1.0, y2)])


def _head_box(joints: np.ndarray, unit: float) -> list[float]:
    """Head box ``[x, y, w, h]`` spanning head_bottom..head_top, as PoseTrack's ``bbox_head``."""
    top, bottom = joints[2], joints[1]
    half = 0.55 * unit
    x1 = min(top[0], bottom[0]) - half
    x2 = max(top[0], bottom[0]) + half
    y1, y2 = min(top[1], bottom[1]), max(top[1], bottom[1])
    return [round(float(x1), 1), round(float(y1), 1), round(float(x2 - x1), 1), round(float(y2 - y1), 1)]


@dataclass(frozen=True)
class _RenderedVideo:
    """One rendered video: BGR frames and per-frame, per-person ground truth."""

    frames: list[np.ndarray]  # F × (H, W, 3) uint8 BGR
    joints: np.ndarray  # (F, P, 17, 2)
    units: np.ndarray  # (P,)
    visible: np.ndarray  # (F, P) bool: False when an occluder hides the whole person
    ignore_region: list[tuple[float, float]]  # polygon vertices in pixels
    blurred: np.ndarray  # (F,) bool: the frame is motion-blurred
    occluders: list[tuple[int, int, list[int]]]  # (frame index, person, [x1, y1, x2, y2]) grey blocks


def _render_video(
    rng: np.random.Generator,
    frames: int,
    people: int,
    width: int,
    height: int,
    figures: list[_Figure] | None = None,
    occlude: dict[int, tuple[int, int]] | None = None,
    effects: bool = True,
    on_frame: Callable[[int, np.ndarray], None] | None = None,
) -> _RenderedVideo:
    """Render ``frames`` frames with ``people`` figures.

    ``occlude`` maps a person index to a frame range ``[a, b)`` during which an occluder covers it
    entirely; otherwise, with ``effects``, about one frame in four gets a random occluder and one in
    five motion blur. With ``on_frame``, each frame is handed to it as ``(t, image)`` and not kept
    (``frames`` of the result is then empty), so memory does not grow with the video's length.
    """
    if figures is None:
        figures = [_random_figure(rng, width, height, frames) for _ in range(people)]
    background = _background(rng, width, height)
    joints = (
        np.stack([np.stack([_pose(f, t) for f in figures]) for t in range(frames)])
        if figures
        else np.zeros((frames, 0, NUM_KEYPOINTS, 2))
    )
    units = np.array([f.unit for f in figures])
    visible = np.ones((frames, len(figures)), bool)
    blurred = np.zeros(frames, bool)
    occluders: list[tuple[int, int, list[int]]] = []
    # A small ignore region in a top corner (a "crowd" area); its side alternates per video.
    corner_w, corner_h = 0.18 * width, 0.2 * height
    left = bool(rng.integers(0, 2))
    x0 = 0.0 if left else width - 1 - corner_w
    ignore = [(x0, 0.0), (x0 + corner_w, 0.0), (x0 + corner_w, corner_h), (x0, corner_h)]
    rendered = []
    for t in range(frames):
        image = background.copy()
        cv2.fillPoly(image, [np.round(np.array(ignore)).astype(np.int32)], (75, 75, 75))
        # Larger (closer) figures are drawn last so that they overlap smaller ones.
        for p in np.argsort(units, kind="stable"):
            _draw_figure(image, joints[t, p], figures[p].unit)
        if occlude:
            for p, (a, b) in occlude.items():
                if a <= t < b:
                    x1, y1, x2, y2 = _person_box(joints[t, p], figures[p].unit, width, height)
                    cv2.rectangle(
                        image, (int(x1) - 2, int(y1) - 2), (int(x2) + 2, int(y2) + 2), (128, 128, 128), -1
                    )
                    visible[t, p] = False
        elif effects and len(figures) and rng.random() < 0.25:
            # A grey block over part of one person: the joints under it stay annotated.
            p = int(rng.integers(0, len(figures)))
            x1, y1, x2, y2 = _person_box(joints[t, p], figures[p].unit, width, height)
            bw, bh = (x2 - x1) * rng.uniform(0.4, 0.7), (y2 - y1) * rng.uniform(0.25, 0.45)
            bx, by = rng.uniform(x1, max(x1 + 1, x2 - bw)), rng.uniform(y1, max(y1 + 1, y2 - bh))
            block = [int(bx), int(by), int(bx + bw), int(by + bh)]
            cv2.rectangle(image, (block[0], block[1]), (block[2], block[3]), (128, 128, 128), -1)
            occluders.append((t, p, block))
        if effects and rng.random() < 0.2:
            image = _motion_blur(image, int(rng.integers(5, 10)), float(rng.uniform(0, math.pi)))
            blurred[t] = True
        if on_frame is not None:
            on_frame(t, image)
        else:
            rendered.append(image)
    return _RenderedVideo(rendered, joints, units, visible, ignore, blurred, occluders)


def _encode_jpeg(image: np.ndarray, path: Path) -> None:
    ok, data = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, 90])
    if not ok:
        raise PoseCliError(f"{path}: OpenCV could not encode the frame as JPEG")
    atomic_write_bytes(path, data.tobytes())


def _dump(obj: object) -> str:
    """Deterministic compact JSON (key order as built, no NaN)."""
    return json.dumps(obj, allow_nan=False, separators=(",", ":")) + "\n"


def _categories() -> list[dict[str, object]]:
    return [
        {
            "supercategory": "person",
            "id": 1,
            "name": "person",
            "keypoints": list(POSETRACK_KEYPOINTS),
            "skeleton": [list(e) for e in POSETRACK_CATEGORY_SKELETON],
        }
    ]


# Where the generator records which frames carry motion blur or an occluder (not a PoseTrack file).
EFFECTS_FILE = "synthetic_effects.json"
# PoseTrack17 names its per-video annolist GT files after the sequence plus this suffix
# (e.g. ``000342_mpii_relpath_5sec_testsub.json`` for the frames in ``…/000342_mpii/``).
PT17_GT_SUFFIX = {"train": "_relpath_5sec_trainsub", "val": "_relpath_5sec_testsub"}


def _sequence_name(video_number: int, split: str) -> str:
    # poseval needs `<digits>_<mpii|bonn|mpiinew>…` folder names; "test" marks validation videos as in PT18.
    return f"{video_number:06d}_mpii_{'train' if split == 'train' else 'test'}"


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
) -> dict[str, list[str]]:
    """Write a synthetic dataset in a PoseTrack layout and return ``{split: [sequence names]}``.

    out_dir: dataset root. videos / val_videos: number of train / val sequences. frames: frames per
    video. people: figures per video. size: ``(W, H)`` pixels. label_every: every n-th frame is
    labelled (``is_labeled``); the others have no annotations, as in PoseTrack. quiet: no progress bar.
    exist_ok: replace a dataset already in ``out_dir``; when False, an existing one is an error.

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
    [x1, y1, x2, y2]}``, so tests and experiments can find the frames a key frame alone cannot solve.
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
            tmp, videos, frames, people, seed, size, val_videos, layout, label_every, quiet
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
) -> dict[str, list[str]]:
    """Write every file of the dataset under ``root`` (a fresh folder); see ``write_synthetic_dataset``."""
    width, height = size
    rng = np.random.default_rng(seed)
    names: dict[str, list[str]] = {"train": [], "val": []}
    merged: dict[str, dict[str, list[dict[str, object]]]] = {}
    effects: dict[str, dict[str, object]] = {}
    annotation_id = 0
    with progress_bar("synthesising", videos + val_videos, "videos", quiet) as advance:
        for split, count in (("train", videos), ("val", val_videos)):
            merged[split] = {"images": [], "annotations": []}
            annotation_id = _write_split(
                root,
                split,
                count,
                frames,
                people,
                width,
                height,
                layout,
                label_every,
                rng,
                names,
                merged,
                effects,
                annotation_id,
                advance,
            )
    atomic_write_text(root / EFFECTS_FILE, _dump({"layout": layout, "seed": seed, "videos": effects}))
    if layout == "posetrack17":
        for split, doc in merged.items():
            if split == "val" and not names["val"]:
                continue
            full = {**doc, "categories": _categories()}
            atomic_write_text(root / "posetrack17_json_files" / f"posetrack_{split}.json", _dump(full))
    return names


def _image_names(layout: str, split: str, seq: str, index: int) -> tuple[str, str]:
    """(path under the root, name listed in the JSON) of frame ``index``: PT17 lists the old folder."""
    if layout == "posetrack17":
        return f"images_renamed/{seq}/{index:08d}.jpg", f"images/{seq}/{index:08d}.jpg"
    return f"images/{split}/{seq}/{index:06d}.jpg", f"images/{split}/{seq}/{index:06d}.jpg"


def _write_frame(root: Path, layout: str, split: str, seq: str, t: int, image: np.ndarray) -> None:
    """Write frame ``t`` (0-based) of ``seq`` as JPEG where the layout keeps it."""
    index = t + (1 if layout == "posetrack17" else 0)
    _encode_jpeg(image, root / _image_names(layout, split, seq, index)[0])


def _write_split(
    root: Path,
    split: str,
    count: int,
    frames: int,
    people: int,
    width: int,
    height: int,
    layout: str,
    label_every: int,
    rng: np.random.Generator,
    names: dict[str, list[str]],
    merged: dict[str, dict[str, list[dict[str, object]]]],
    effects: dict[str, dict[str, object]],
    annotation_id: int,
    advance: Callable[[int], None],
) -> int:
    """Render and write the ``count`` videos of one split; returns the next free annotation id.

    Fills ``effects[seq]`` with the blurred frame numbers and the occluder blocks of each video."""
    for v in range(count):
        number = (1 if split == "train" else 100001) + v
        seq = _sequence_name(number, split)
        names[split].append(seq)
        first = 1 if layout == "posetrack17" else 0
        # Frames go to disk as they are drawn, so a long or large video never sits in memory whole.
        video = _render_video(
            np.random.default_rng(rng.integers(0, 2**63)),
            frames,
            people,
            width,
            height,
            on_frame=functools.partial(_write_frame, root, layout, split, seq),
        )
        effects[seq] = {
            "split": split,
            "blurred_frames": [int(t) + first for t in np.flatnonzero(video.blurred)],
            "occluders": [{"frame": t + first, "track_id": p, "box": box} for t, p, box in video.occluders],
        }
        images, annotations, annolist = [], [], []
        for t in range(frames):
            index = t + first
            listed_name = _image_names(layout, split, seq, index)[1]
            image_id = 10_000_000_000 + number * 10_000 + index
            labeled = t % label_every == 0
            region = video.ignore_region
            image: dict[str, object] = {
                "id": image_id,
                "frame_id": image_id,
                "file_name": listed_name,
                "vid_id": f"{number:06d}",
                "nframes": frames,
                "is_labeled": labeled,
                "has_no_densepose": True,
                "ignore_regions_x": [[round(x, 1) for x, _ in region]] if labeled else [],
                "ignore_regions_y": [[round(y, 1) for _, y in region]] if labeled else [],
                "width": width,
                "height": height,
            }
            if layout == "posetrack21":
                image["has_labeled_person"] = labeled and people > 0
            images.append(image)
            rects = []
            for p in range(people if labeled else 0):
                kp = _keypoint_array(video.joints[t, p], width, height)
                box = _person_box(video.joints[t, p], float(video.units[p]), width, height)
                xywh = [round(float(box[0]), 1), round(float(box[1]), 1)]
                xywh += [round(float(box[2] - box[0]), 1), round(float(box[3] - box[1]), 1)]
                head = _head_box(video.joints[t, p], float(video.units[p]))
                annotation_id += 1
                annotation: dict[str, object] = {
                    "id": annotation_id,
                    "image_id": image_id,
                    "category_id": 1,
                    "track_id": p,
                    "keypoints": [float(x) for x in kp.reshape(-1)],
                    "bbox": xywh,
                    "bbox_head": head,
                    "scores": [],
                    "iscrowd": 0,
                    "num_keypoints": int((kp[:, 2] > 0).sum()),
                    "area": round(xywh[2] * xywh[3], 1),
                }
                if layout == "posetrack21":
                    annotation["person_id"] = number * 100 + p
                annotations.append(annotation)
                rects.append((kp, head, p))
            if layout == "posetrack21" and labeled:
                # A box-only person (PT21 annotates boxes of people without keypoints).
                annotation_id += 1
                annotations.append(
                    {
                        "id": annotation_id,
                        "image_id": image_id,
                        "category_id": 1,
                        "track_id": people,
                        "person_id": number * 100 + people,
                        "keypoints": [0.0] * (3 * NUM_KEYPOINTS),
                        "bbox": [2.0, round(height * 0.6, 1), round(width * 0.08, 1), round(height * 0.3, 1)],
                        "bbox_head": [
                            2.0,
                            round(height * 0.6, 1),
                            round(width * 0.05, 1),
                            round(height * 0.05, 1),
                        ],
                        "scores": [],
                        "iscrowd": 0,
                        "num_keypoints": 0,
                    }
                )
            annolist.append(_annolist_frame(listed_name, index, labeled, rects, region))
        doc = {"images": images, "annotations": annotations, "categories": _categories()}
        if layout == "posetrack18":
            atomic_write_text(root / "annotations" / split / f"{seq}.json", _dump(doc))
        elif layout == "posetrack21":
            atomic_write_text(root / "posetrack_data" / split / f"{seq}.json", _dump(doc))
        else:
            merged[split]["images"].extend(images)
            merged[split]["annotations"].extend(annotations)
            if split == "val":
                gt = root / "posetrack17_annotation_dirs" / "jsons" / "val"
                atomic_write_text(gt / f"{seq}{PT17_GT_SUFFIX[split]}.json", _dump({"annolist": annolist}))
        advance(1)
    return annotation_id


def _annolist_frame(
    name: str,
    index: int,
    labeled: bool,
    rects: list[tuple[np.ndarray, list[float], int]],
    region: list[tuple[float, float]],
) -> dict[str, object]:
    """One PoseTrack 2017 ``annolist`` frame with poseval joint ids and head-box corners."""
    annorect = []
    for kp, (hx, hy, hw, hh), track in rects:
        points = [
            {"id": [j], "x": [float(kp[s, 0])], "y": [float(kp[s, 1])], "is_visible": [1]}
            for j, s in sorted(SLOT_OF_POSEVAL_ID.items())
            if kp[s, 2] > 0
        ]
        annorect.append(
            {
                "x1": [hx],
                "y1": [hy],
                "x2": [round(hx + hw, 1)],
                "y2": [round(hy + hh, 1)],
                "track_id": [track],
                "annopoints": [{"point": points}],
            }
        )
    frame: dict[str, object] = {
        "image": [{"name": name}],
        "imgnum": [index],
        "is_labeled": [1 if labeled else 0],
        "annorect": annorect,
    }
    if labeled:
        frame["ignore_regions"] = [{"point": [{"x": [round(x, 1)], "y": [round(y, 1)]} for x, y in region]}]
    return frame


def make_synthetic_video(
    path: str | Path,
    frames: int = 24,
    people: int = 2,
    size: tuple[int, int] = (320, 240),
    seed: int = 0,
    fps: float = 25.0,
) -> list[SyntheticTrack]:
    """Write a short video file of moving figures and return its ground-truth tracks.

    path: output video (``.mp4`` → H.264, else the container PyAV picks for the suffix). With
    ``people ≥ 2`` the first two people walk towards each other and cross near the middle of the
    clip, and person 0 is hidden behind a grey occluder for a few frames (``frames // 6``, at least
    2) after the crossing; further people wander at random. Returns one ``SyntheticTrack`` per
    person, ``track_id`` = person index, boxes and keypoints per frame in pixels. No motion blur or
    random occluders are drawn, so the ground truth describes exactly what is visible.
    """
    import av
    from av.video.stream import VideoStream

    width, height = size
    if frames < 2 or people < 0 or width < 64 or height < 64 or width % 2 or height % 2:
        raise PoseCliError("make_synthetic_video: frames ≥ 2, people ≥ 0 and an even size ≥ 64x64 are needed")
    rng = np.random.default_rng(seed)
    figures = [_random_figure(rng, width, height, frames) for _ in range(people)]
    occlude: dict[int, tuple[int, int]] = {}
    if people >= 2:
        # Two figures of similar size on one horizontal line, walking towards each other.
        unit = 0.09 * height
        travel = (width - 5.0 * unit) / max(frames - 1, 1)
        base = {"sway": 0.0, "lean": 0.08, "arm_swing": 0.8, "leg_swing": 0.45, "speed": 0.4}
        figures[0] = _Figure(
            unit=unit, start=(2.5 * unit, 0.55 * height), velocity=(travel, 0.0), phase=0.0, **base
        )
        figures[1] = _Figure(
            unit=unit * 0.95,
            start=(width - 2.5 * unit, 0.55 * height),
            velocity=(-travel, 0.0),
            phase=1.5,
            **base,
        )
        hidden = max(2, frames // 6)
        start = min(frames - hidden, frames // 2 + max(1, frames // 8))
        occlude[0] = (start, start + hidden)
    video = _render_video(rng, frames, people, width, height, figures, occlude, effects=False)
    target = Path(path)
    with atomic_path(target) as tmp, av.open(str(tmp), mode="w") as container:
        codec = "libx264" if target.suffix.lower() in (".mp4", ".mkv", ".mov") else "mpeg4"
        stream = container.add_stream(codec, rate=round(fps))
        assert isinstance(stream, VideoStream)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if codec == "libx264":
            stream.options = {"crf": "16", "preset": "veryfast"}
        for image in video.frames:
            frame = av.VideoFrame.from_ndarray(image, format="bgr24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    tracks = []
    for p in range(people):
        kps = np.stack([_keypoint_array(video.joints[t, p], width, height) for t in range(frames)])
        boxes = np.stack(
            [_person_box(video.joints[t, p], float(video.units[p]), width, height) for t in range(frames)]
        )
        tracks.append(
            SyntheticTrack(track_id=p, boxes=boxes, keypoints=kps, visible=video.visible[:, p].copy())
        )
    return tracks
