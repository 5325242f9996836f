"""CVAT for video 1.1: one ``<track>`` of ``<skeleton>`` shapes per person; writer and reader.

Written (CVAT 2.x, see ``_cvat.py``): ``<annotations>`` with ``<version>1.1``, ``<meta><task>`` in
``interpolation`` mode (``size``, ``start_frame`` 0, ``stop_frame``, the skeleton label,
``original_size``), then per person id ``<track id label="person" source="manual">`` holding
``<skeleton frame keyframe="1" z_order="0">`` shapes, each with 17 ``<points label keyframe outside
occluded points="x,y">`` and the ``posecli_id`` attribute.

Keyframes: with ``keyframes_every`` K, a track gets a keyframe on the first frame of each visible run,
every K-th frame after it, the run's last frame and any frame where a joint's visibility changes
(CVAT carries visibility over from the previous keyframe, so a change needs a keyframe of its own).
After a run, a keyframe with every joint outside ends it (as CVAT writes a finished track), unless the
run reaches the last frame.

Reading reproduces CVAT's ``TrackManager.get_interpolated_shapes`` for skeleton elements: only
``keyframe="1"`` points count (CVAT's own importer ignores the others); each joint is a track of its
own; between two of its keyframes the position is linear in the frame number and ``outside`` /
``occluded`` are the earlier keyframe's; after its last keyframe the joint keeps that keyframe's
state up to the task's last frame; before its first keyframe it does not exist. A person is present
on a frame when at least one joint is not outside there.
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np

from posecli.annotation import _cvat
from posecli.annotation.poses import OUTSIDE, Clip, PersonPose, make_clip, person
from posecli.errors import PoseCliError
from posecli.keypoints import NUM_KEYPOINTS


def keyframes(track: list[PersonPose], every: int) -> list[int]:
    """Indices into ``track`` (one person's poses in frame order) that become CVAT keyframes."""
    chosen = []
    run_start = 0
    for i, pose in enumerate(track):
        starts_run = i == 0 or pose.frame != track[i - 1].frame + 1
        if starts_run:
            run_start = i
        ends_run = i == len(track) - 1 or track[i + 1].frame != pose.frame + 1
        changed = not starts_run and not np.array_equal(pose.visibility, track[i - 1].visibility)
        if starts_run or ends_run or changed or (i - run_start) % every == 0:
            chosen.append(i)
    return chosen


def cvat_video_document(clip: Clip, keyframes_every: int = 1) -> bytes:
    """The ``annotations.xml`` of ``clip`` (see the module docstring)."""
    if keyframes_every < 1:
        raise ValueError(f"keyframes_every must be >= 1, got {keyframes_every}")
    root = ET.Element("annotations")
    _cvat.task_meta(
        root, name=clip.name, size=clip.num_frames, mode="interpolation", width=clip.width, height=clip.height
    )
    for track_id, track in clip.tracks().items():
        element = ET.SubElement(
            root, "track", {"id": str(track_id), "label": _cvat.SKELETON_LABEL, "source": "manual"}
        )
        for i in keyframes(track, keyframes_every):
            _skeleton(element, track_id, track[i].frame, track[i].xy, track[i].visibility)
            ends_run = i == len(track) - 1 or track[i + 1].frame != track[i].frame + 1
            if ends_run and track[i].frame + 1 < clip.num_frames:
                hidden = np.full(NUM_KEYPOINTS, OUTSIDE, dtype=np.int8)
                # CVAT's finishing shape keeps the last positions, all outside
                _skeleton(
                    element,
                    track_id,
                    track[i].frame + 1,
                    _cvat.placed(track[i].xy, track[i].visibility),
                    hidden,
                )
    return _cvat.xml_bytes(root)


def _skeleton(track: ET.Element, track_id: int, frame: int, xy: np.ndarray, visibility: np.ndarray) -> None:
    skeleton = ET.SubElement(track, "skeleton", {"frame": str(frame), "keyframe": "1", "z_order": "0"})
    for label, outside, occluded, points in _cvat.joint_rows(xy, visibility):
        attributes = {
            "label": label,
            "keyframe": "1",
            "outside": outside,
            "occluded": occluded,
            "points": points,
        }
        ET.SubElement(skeleton, "points", attributes)
    ET.SubElement(skeleton, "attribute", {"name": _cvat.ID_ATTRIBUTE}).text = str(track_id)


def write_cvat_video(path: Path, clip: Clip, keyframes_every: int = 1) -> list[Path]:
    """Write ``clip`` at ``path`` (a ``.zip`` for CVAT's upload, or ``.xml``) and the label JSON beside
    it; returns the paths written."""
    return _cvat.write_output(path, cvat_video_document(clip, keyframes_every))


# ----------------------------------------------------------------------------------------------------
# Reading

_Key = tuple[float, float, int]  # x, y, visibility of one joint keyframe
MAX_FRAMES = 2_000_000  # a task longer than this (18 h at 30 fps) is refused, not materialised


def read_cvat_video(path: Path) -> Clip:
    """Read CVAT for video 1.1 (XML or CVAT's zip): every frame of every person track, interpolated as
    CVAT does (module docstring). Tracks with other labels (boxes, other objects) are skipped.

    Raises ``PoseCliError("<file>: <element path>: <problem>")``.
    """
    root, shown = _cvat.read_root(path)
    width, height, num_frames = _cvat.meta_size(root, shown)
    if root.find("image") is not None and root.find("track") is None:
        raise PoseCliError(f"{shown}: <image>: this is CVAT for images; use --from cvat-images")
    tracks: dict[int, dict[int, dict[int, _Key]]] = {}  # track id -> slot -> frame -> key
    for n, element in enumerate(root.findall("track")):
        where = f"track[{n}]"
        if element.get("label") != _cvat.SKELETON_LABEL:
            continue
        track_id = _cvat.whole(element, "id", shown, where)
        joints: dict[int, dict[int, _Key]] = {}
        for s, skeleton in enumerate(element):
            if skeleton.tag != "skeleton":
                raise PoseCliError(
                    f"{shown}: {where}/{skeleton.tag}[{s}]: a person track holds <skeleton> shapes"
                )
            frame = _cvat.whole(skeleton, "frame", shown, f"{where}/skeleton[{s}]")
            here = f"{where}/skeleton[frame={frame}]"
            attribute_id = _cvat.skeleton_id(skeleton, shown, here)
            if attribute_id is not None:
                track_id = attribute_id
            for slot, key in _cvat.read_points(skeleton, shown, here, keyframes_only=True).items():
                if frame in joints.setdefault(slot, {}):
                    raise PoseCliError(f"{shown}: {here}: a second keyframe for frame {frame}")
                joints[slot][frame] = key
        if track_id in tracks:
            raise PoseCliError(f"{shown}: {where}: person id {track_id} has two tracks")
        tracks[track_id] = joints
    if not tracks:
        raise PoseCliError(
            f'{shown}: <annotations>: no <track label="{_cvat.SKELETON_LABEL}"> (not a posecli person track file)'
        )
    last = max((f for joints in tracks.values() for keys in joints.values() for f in keys), default=-1)
    if num_frames == 0:
        num_frames = last + 1
    if num_frames > MAX_FRAMES:  # every frame of a track is materialised: refuse an absurd length
        raise PoseCliError(f"{shown}: <meta>: {num_frames} frames is beyond the {MAX_FRAMES} posecli reads")
    if last >= num_frames:
        raise PoseCliError(
            f"{shown}: track: a keyframe on frame {last}, beyond the task's last frame {num_frames - 1}"
        )
    people = [
        pose for track_id, joints in tracks.items() for pose in _interpolate(track_id, joints, num_frames)
    ]
    return make_clip(path.name.split(".")[0], width, height, num_frames, range(num_frames), people)


def _interpolate(track_id: int, joints: dict[int, dict[int, _Key]], num_frames: int) -> list[PersonPose]:
    """Every frame of one person track from its joints' keyframes (CVAT's rule, module docstring)."""
    first = min((min(keys) for keys in joints.values() if keys), default=num_frames)
    length = num_frames - first  # the track exists from its first keyframe on
    xy = np.zeros((length, NUM_KEYPOINTS, 2))
    visibility = np.full((length, NUM_KEYPOINTS), OUTSIDE, dtype=np.int8)
    for slot, keys in joints.items():
        frames = sorted(keys)
        for a, b in zip(frames, [*frames[1:], num_frames]):
            x0, y0, v0 = keys[a]
            span = np.arange(a, b)
            if b < num_frames and b in keys:
                x1, y1, _ = keys[b]
                offset = (span - a) / (b - a)
                xy[span - first, slot, 0] = x0 + (x1 - x0) * offset
                xy[span - first, slot, 1] = y0 + (y1 - y0) * offset
            else:  # after the last keyframe: the state is carried to the end
                xy[span - first, slot] = (x0, y0)
            visibility[span - first, slot] = v0
    return [
        person(first + i, track_id, xy[i], visibility[i])
        for i in range(length)
        if (visibility[i] != OUTSIDE).any()
    ]
