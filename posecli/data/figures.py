"""The synthetic figure renderer: articulated stick figures that move smoothly, drawn into frames.

Each person is a 2-D kinematic figure (torso, head, two-segment arms and legs) whose joint angles
follow sinusoids; every limb is drawn as a thick line in its own colour, left and right sides in
different colours, so that every joint is locatable and a horizontal flip is visible. Some frames get
motion blur or a grey occluder, so that the neighbouring frames carry information the key frame
lacks, which is what the temporal models exploit. ``HardFrames`` replaces those random effects by a
controlled share of hard key frames (motion blur, defocus, hidden joints, a hidden person) between
clean neighbours, each recorded as a ``HardFrame`` so that it can be scored apart.

Everything is a pure function of the random generator passed in. Nothing here writes files: the
dataset layouts (``posecli.data.synthetic``) and the single video (``posecli.data.synthetic_video``)
do that with what ``render_video`` returns.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

import cv2
import numpy as np

from posecli.keypoints import NUM_KEYPOINTS

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
class Figure:
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


def random_figure(rng: np.random.Generator, width: int, height: int, frames: int) -> Figure:
    """Draw one figure that starts inside the frame and drifts slowly."""
    unit = float(rng.uniform(0.075, 0.11) * height)
    margin_x = 2.0 * unit
    start = (float(rng.uniform(margin_x, width - margin_x)), float(rng.uniform(0.45, 0.62) * height))
    drift = float(rng.uniform(0.1, 0.35) * width / max(frames, 1))
    velocity = (drift * float(rng.choice([-1.0, 1.0])), float(rng.uniform(-0.3, 0.3)))
    return Figure(
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


def _pose(fig: Figure, t: float) -> np.ndarray:
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


def keypoint_array(joints: np.ndarray, width: int, height: int) -> np.ndarray:
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


def person_box(joints: np.ndarray, unit: float, width: int, height: int) -> np.ndarray:
    """Box ``x1, y1, x2, y2`` around the drawn figure (limb thickness included), clipped to the frame."""
    pad = 0.6 * unit
    x1, y1 = joints[:, 0].min() - pad, joints[:, 1].min() - pad
    x2, y2 = joints[:, 0].max() + pad, joints[:, 1].max() + pad
    return np.array([max(0.0, x1), max(0.0, y1), min(width - 1.0, x2), min(height - 1.0, y2)])


def body_box(joints: np.ndarray, unit: float, width: int, height: int) -> np.ndarray:
    """Box ``x1, y1, x2, y2`` of a fixed size (7.2 × 9.5 body units) around the body centre, clipped.

    Unlike ``person_box`` it does not follow the limbs: a person hidden on a hard key frame keeps a
    box that says where the person is, not where its hands and feet are (as a detector box would).
    """
    hip = (joints[11] + joints[12]) / 2
    up = joints[1] - hip
    up = up / max(float(np.linalg.norm(up)), 1e-6)  # hip → neck direction
    centre = hip + 0.45 * unit * up  # half way between the head top and the feet
    half_w, half_h = 3.6 * unit, 4.75 * unit
    x1, y1 = centre[0] - half_w, centre[1] - half_h
    x2, y2 = centre[0] + half_w, centre[1] + half_h
    return np.array([max(0.0, x1), max(0.0, y1), min(width - 1.0, x2), min(height - 1.0, y2)])


def head_box(joints: np.ndarray, unit: float) -> list[float]:
    """Head box ``[x, y, w, h]`` spanning head_bottom..head_top, as PoseTrack's ``bbox_head``."""
    top, bottom = joints[2], joints[1]
    half = 0.55 * unit
    x1 = min(top[0], bottom[0]) - half
    x2 = max(top[0], bottom[0]) + half
    y1, y2 = min(top[1], bottom[1]), max(top[1], bottom[1])
    return [round(float(x1), 1), round(float(y1), 1), round(float(x2 - x1), 1), round(float(y2 - y1), 1)]


# What can make a key frame hard. "blur" and "defocus" act on the whole frame (every person is flagged);
# "joints" hides some limbs of one person behind grey blocks, "person" hides one person entirely.
HARD_KINDS = ("blur", "defocus", "joints", "person")

# Limb groups a "joints" occlusion can hide: slots (elbow, wrist) or (knee, ankle) and the joint above.
_LIMB_GROUPS = ((5, 7, 9), (6, 8, 10), (11, 13, 15), (12, 14, 16))


@dataclass(frozen=True)
class HardFrames:
    """A controlled share of hard key frames per video (``render_video``'s ``hard``).

    share: fraction of each video's frames made hard, ``round(share · frames)`` of them, drawn so that
    no two are adjacent while the share allows it (≤ 1/2), so that a hard key frame's neighbours are
    clean. kinds: the effects drawn from (a subset of ``HARD_KINDS``), one per hard frame, uniformly.
    """

    share: float
    kinds: tuple[str, ...] = HARD_KINDS


@dataclass(frozen=True)
class HardFrame:
    """One hard key frame: its 0-based index, the effect, the people it affects (person indices) and,
    aligned with ``people``, the PoseTrack slots each has under the grey block(s) (empty for the
    whole-frame kinds). A block over one person also flags anyone else whose joints it hides."""

    frame: int
    kind: str
    people: tuple[int, ...]
    hidden_joints: tuple[tuple[int, ...], ...]


@dataclass(frozen=True)
class RenderedVideo:
    """One rendered video: BGR frames and per-frame, per-person ground truth."""

    frames: list[np.ndarray]  # F × (H, W, 3) uint8 BGR
    joints: np.ndarray  # (F, P, 17, 2)
    units: np.ndarray  # (P,)
    visible: np.ndarray  # (F, P) bool: False when an occluder hides the whole person
    ignore_region: list[tuple[float, float]]  # polygon vertices in pixels
    blurred: np.ndarray  # (F,) bool: the frame is motion-blurred
    occluders: list[tuple[int, int, list[int]]]  # (frame index, person, [x1, y1, x2, y2]) grey blocks
    hard: list[HardFrame] = field(default_factory=list)  # the planned hard key frames (``HardFrames``)
    body_boxes: bool = False  # the annotated boxes are ``body_box``es (rendered with ``hard``)

    def box(self, t: int, p: int, width: int, height: int) -> np.ndarray:
        """The annotated box of person ``p`` on frame ``t``: ``body_box`` with hard frames, else
        ``person_box`` (tight around the drawn limbs)."""
        make = body_box if self.body_boxes else person_box
        return make(self.joints[t, p], float(self.units[p]), width, height)


def _plan_hard_frames(
    rng: np.random.Generator, frames: int, people: int, hard: HardFrames
) -> dict[int, tuple[str, int]]:
    """``{frame: (kind, person)}`` for ``round(share · frames)`` frames; person -1 for whole-frame kinds.

    Frames are taken in a random order, skipping neighbours of frames already taken, then (only when
    the share is above 1/2) the skipped ones in the same order.
    """
    count = min(frames, round(hard.share * frames)) if people else 0
    order = [int(t) for t in rng.permutation(frames)]
    chosen: list[int] = []
    for t in order:
        if len(chosen) < count and t - 1 not in chosen and t + 1 not in chosen:
            chosen.append(t)
    chosen += [t for t in order if t not in chosen][: count - len(chosen)]
    plan = {}
    for t in sorted(chosen):
        kind = hard.kinds[int(rng.integers(len(hard.kinds)))]
        plan[t] = (kind, int(rng.integers(people)) if kind in ("joints", "person") else -1)
    return plan


def _defocus(image: np.ndarray, radius: int) -> np.ndarray:
    """Out-of-focus blur: a uniform disc kernel of ``radius`` pixels."""
    size = 2 * radius + 1
    kernel = np.zeros((size, size), np.float32)
    cv2.circle(kernel, (radius, radius), radius, 1.0, -1)
    kernel /= kernel.sum()
    return cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_REFLECT)


def _hidden_slots(joints: np.ndarray, blocks: list[list[int]]) -> tuple[int, ...]:
    """Annotated slots (ears excluded) whose pixel lies under one of the ``[x1, y1, x2, y2]`` blocks."""
    hidden = []
    for slot, (x, y) in enumerate(joints):
        if slot not in _UNANNOTATED_SLOTS and any(b[0] <= x <= b[2] and b[1] <= y <= b[3] for b in blocks):
            hidden.append(slot)
    return tuple(hidden)


def _apply_hard_effect(
    rng: np.random.Generator,
    image: np.ndarray,
    t: int,
    kind: str,
    person: int,
    joints: np.ndarray,
    figures: list[Figure],
    size: tuple[int, int],
) -> tuple[np.ndarray, HardFrame, list[list[int]]]:
    """Draw one planned hard effect on frame ``t``; returns the image, its record and the grey blocks.

    The strengths scale with the figures' body unit, so that the key frame alone is ambiguous at any
    frame size: motion blur 1.2-1.8 units long, defocus radius 0.5-0.8 units, occluders opaque.
    """
    width, height = size
    unit = float(np.mean([f.unit for f in figures]))
    everyone = tuple(range(len(figures)))
    if kind == "blur":
        length = max(5, round(unit * rng.uniform(1.2, 1.8)))
        image = _motion_blur(image, length, float(rng.uniform(0, math.pi)))
        return image, HardFrame(t, kind, everyone, tuple(() for _ in everyone)), []
    if kind == "defocus":
        image = _defocus(image, max(2, round(unit * rng.uniform(0.5, 0.8))))
        return image, HardFrame(t, kind, everyone, tuple(() for _ in everyone)), []
    pose, pad = joints[t, person], 0.45 * figures[person].unit
    if kind == "person":
        # the block covers the fixed-size body box: its outline must not trace the limbs either
        x1, y1, x2, y2 = body_box(pose, figures[person].unit, width, height)
        blocks = [[int(x1), int(y1), math.ceil(x2), math.ceil(y2)]]
    else:
        # two of the four limbs (elbow-wrist or knee-ankle with the joint above), each under its own block
        groups = rng.choice(len(_LIMB_GROUPS), size=2, replace=False)
        blocks = []
        for g in sorted(int(i) for i in groups):
            limb = pose[list(_LIMB_GROUPS[g][1:])]  # the two lower joints; the root stays visible
            lo, hi = limb.min(axis=0) - pad, limb.max(axis=0) + pad
            blocks.append([int(lo[0]), int(lo[1]), math.ceil(hi[0]), math.ceil(hi[1])])
    for x1, y1, x2, y2 in blocks:
        cv2.rectangle(image, (x1, y1), (x2, y2), (128, 128, 128), -1)
    hidden = {p: _hidden_slots(joints[t, p], blocks) for p in everyone}
    people = tuple(p for p in everyone if p == person or hidden[p])
    return image, HardFrame(t, kind, people, tuple(hidden[p] for p in people)), blocks


def render_video(
    rng: np.random.Generator,
    frames: int,
    people: int,
    width: int,
    height: int,
    figures: list[Figure] | None = None,
    occlude: dict[int, tuple[int, int]] | None = None,
    effects: bool = True,
    on_frame: Callable[[int, np.ndarray], None] | None = None,
    hard: HardFrames | None = None,
) -> RenderedVideo:
    """Render ``frames`` frames with ``people`` figures.

    ``occlude`` maps a person index to a frame range ``[a, b)`` during which an occluder covers it
    entirely; otherwise, with ``effects``, about one frame in four gets a random occluder and one in
    five motion blur. ``hard`` replaces those random effects: exactly the planned hard key frames get
    an effect (``HardFrames``), every other frame is clean, and the annotated boxes become
    ``body_box``es, so that the box of a hidden person does not give its pose away. With ``on_frame``, each frame is handed to
    it as ``(t, image)`` and not kept (``frames`` of the result is then empty), so memory does not
    grow with the video's length.
    """
    if figures is None:
        figures = [random_figure(rng, width, height, frames) for _ in range(people)]
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
    # drawn after the figures and the ignore corner, so that hard=None leaves the legacy draws unchanged
    plan = _plan_hard_frames(rng, frames, len(figures), hard) if hard is not None else {}
    records: list[HardFrame] = []
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
                    x1, y1, x2, y2 = person_box(joints[t, p], figures[p].unit, width, height)
                    cv2.rectangle(
                        image, (int(x1) - 2, int(y1) - 2), (int(x2) + 2, int(y2) + 2), (128, 128, 128), -1
                    )
                    visible[t, p] = False
        elif t in plan:
            kind, person = plan[t]
            image, record, blocks = _apply_hard_effect(
                rng, image, t, kind, person, joints, figures, (width, height)
            )
            records.append(record)
            occluders.extend((t, person, block) for block in blocks)
            blurred[t] = kind == "blur"
            if kind == "person":
                visible[t, person] = False
        elif effects and hard is None and len(figures) and rng.random() < 0.25:
            # A grey block over part of one person: the joints under it stay annotated.
            p = int(rng.integers(0, len(figures)))
            x1, y1, x2, y2 = person_box(joints[t, p], figures[p].unit, width, height)
            bw, bh = (x2 - x1) * rng.uniform(0.4, 0.7), (y2 - y1) * rng.uniform(0.25, 0.45)
            bx, by = rng.uniform(x1, max(x1 + 1, x2 - bw)), rng.uniform(y1, max(y1 + 1, y2 - bh))
            block = [int(bx), int(by), int(bx + bw), int(by + bh)]
            cv2.rectangle(image, (block[0], block[1]), (block[2], block[3]), (128, 128, 128), -1)
            occluders.append((t, p, block))
        if effects and hard is None and rng.random() < 0.2:
            image = _motion_blur(image, int(rng.integers(5, 10)), float(rng.uniform(0, math.pi)))
            blurred[t] = True
        if on_frame is not None:
            on_frame(t, image)
        else:
            rendered.append(image)
    return RenderedVideo(
        rendered, joints, units, visible, ignore, blurred, occluders, records, body_boxes=hard is not None
    )
