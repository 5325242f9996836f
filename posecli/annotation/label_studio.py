"""Label Studio: tasks JSON with keypoints on frame images, the labelling config, and its JSON export.

Label Studio has no keypoints on video, so each labelled frame is an image task:
``{"data": {"image": URL, "frame": n, "video": name}, "predictions": [{"model_version": "posecli",
"result": [...]}]}``. A result per placed joint: ``{"id": "t<track>-<joint slot>", "type":
"keypointlabels", "from_name": "kp", "to_name": "image", "original_width", "original_height",
"image_rotation": 0, "value": {"x", "y" (percent of the frame), "width" (the point's drawn size),
"keypointlabels": [joint name]}}``; an occluded joint also gets the per-region choice ``{"id": same,
"type": "choices", "from_name": "visibility", "value": {"x", "y", "width", "choices": ["occluded"]}}``.
The region id carries the person, because Label Studio keeps a region's id while it is moved.

The labelling config (``LABEL_CONFIG``): an ``Image`` named ``image``, ``KeyPointLabels`` named ``kp``
with the 17 joint names, and a per-region ``Choices`` named ``visibility`` with ``occluded``.

Reading a Label Studio JSON export (a list of tasks) takes each task's latest annotation that was not
skipped. Label Studio's export lists predictions by id only, so a task nobody annotated there stays an
unlabelled frame (its proposal was never checked); posecli's own tasks file, whose predictions are
whole, reads back as exported. A point the
annotator added (its id is not ``t<track>-<slot>``) joins the person of that frame nearest to it who
lacks that joint, or starts a new person.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from posecli.annotation.poses import (
    JOINT_COLOURS,
    OCCLUDED,
    OUTSIDE,
    VISIBLE,
    Clip,
    PersonPose,
    frame_file_name,
    frame_index_of_name,
    make_clip,
    person,
)
from posecli.atomic import atomic_write_json, atomic_write_text
from posecli.export._json import expect_dict, expect_list, fail, integer, load_json, number, require, short
from posecli.keypoints import NUM_KEYPOINTS, POSETRACK_KEYPOINTS

KEYPOINTS_CONTROL = "kp"
VISIBILITY_CONTROL = "visibility"
IMAGE_OBJECT = "image"
MODEL_VERSION = "posecli"
POINT_SIZE = 0.6  # percent of the frame width: the drawn size of a keypoint in Label Studio
_REGION_ID = re.compile(r"^t(\d{1,12})-(\d{1,2})$")


def label_config() -> str:
    """The labelling-config XML of a posecli project (module docstring)."""
    labels = "\n".join(
        f'    <Label value="{name}" background="{color}"/>'
        for name, color in zip(POSETRACK_KEYPOINTS, JOINT_COLOURS)
    )
    return (
        "<View>\n"
        f'  <KeyPointLabels name="{KEYPOINTS_CONTROL}" toName="{IMAGE_OBJECT}" strokeWidth="2">\n'
        f"{labels}\n"
        "  </KeyPointLabels>\n"
        f'  <Image name="{IMAGE_OBJECT}" value="$image" zoom="true" zoomControl="true"/>\n'
        f'  <Choices name="{VISIBILITY_CONTROL}" toName="{IMAGE_OBJECT}" perRegion="true" choice="single">\n'
        '    <Choice value="occluded"/>\n'
        "  </Choices>\n"
        "</View>\n"
    )


def results_of(people: list[PersonPose], width: int, height: int) -> list[dict[str, Any]]:
    """The Label Studio results of one frame's people."""
    results: list[dict[str, Any]] = []
    for pose in people:
        for slot in range(NUM_KEYPOINTS):
            if pose.visibility[slot] == OUTSIDE:
                continue
            region = f"t{pose.track_id}-{slot}"
            where = {
                "x": float(pose.xy[slot, 0]) / width * 100.0,
                "y": float(pose.xy[slot, 1]) / height * 100.0,
                "width": POINT_SIZE,
            }
            common = {
                "id": region,
                "from_name": KEYPOINTS_CONTROL,
                "to_name": IMAGE_OBJECT,
                "original_width": width,
                "original_height": height,
                "image_rotation": 0,
            }
            value = {**where, "keypointlabels": [POSETRACK_KEYPOINTS[slot]]}
            results.append({**common, "type": "keypointlabels", "value": value})
            if pose.visibility[slot] == OCCLUDED:
                choice = {**where, "choices": ["occluded"]}
                results.append(
                    {**common, "from_name": VISIBILITY_CONTROL, "type": "choices", "value": choice}
                )
    return results


def label_studio_tasks(clip: Clip, image_url: str) -> list[dict[str, Any]]:
    """One task per labelled frame; ``image_url`` is formatted with ``name`` (the frame file name)."""
    if clip.width <= 0 or clip.height <= 0:
        raise ValueError("Label Studio needs the frame size")
    return [
        {
            "data": {
                "image": image_url.format(name=frame_file_name(frame)),
                "frame": frame,
                "video": clip.name,
            },
            "predictions": [
                {"model_version": MODEL_VERSION, "result": results_of(people, clip.width, clip.height)}
            ],
        }
        for frame, people in clip.by_frame().items()
    ]


def write_label_studio(path: Path, clip: Clip, image_url: str) -> list[Path]:
    """Write the tasks at ``path`` and the labelling config at ``<stem>.label-config.xml`` beside it."""
    atomic_write_json(path, label_studio_tasks(clip, image_url))
    config = path.with_name(f"{path.name.rsplit('.', 1)[0]}.label-config.xml")
    atomic_write_text(config, label_config())
    return [path, config]


# ----------------------------------------------------------------------------------------------------
# Reading


def read_label_studio(path: Path) -> Clip:
    """Read a Label Studio JSON export (or posecli's own tasks file) of a posecli project.

    Raises ``PoseCliError("<file>: <field path>: <problem>")``, e.g. for the export of a project whose
    labelling config is not posecli's.
    """
    tasks = expect_list(path, "(top level)", load_json(path))
    width = height = 0
    labeled: list[int] = []
    people = []
    for n, raw in enumerate(tasks):
        field = f"[{n}]"
        task = expect_dict(path, field, raw)
        data = expect_dict(path, f"{field}.data", require(path, field, task, "data"))
        frame = _frame(path, f"{field}.data", data)
        if frame in labeled:
            fail(path, f"{field}.data", f"frame {frame} has two tasks")
        results, where = _chosen_results(path, field, task)
        if results is None:
            continue  # not annotated: the frame stays unlabelled rather than taking unchecked poses
        labeled.append(frame)
        size, poses = _people(path, where, frame, results)
        if size is not None:
            width, height = size
        people.extend(poses)
    if not labeled:
        fail(path, "(top level)", "no annotated tasks")
    return make_clip(path.name.split(".")[0], width, height, max(labeled) + 1, labeled, people)


def _frame(path: Path, field: str, data: dict[str, Any]) -> int:
    if "frame" in data:
        return integer(path, f"{field}.frame", data["frame"], minimum=0)
    image = data.get("image")
    if not isinstance(image, str):
        fail(path, f"{field}.image", "missing (not a task of a posecli project: its data has no image)")
    frame = frame_index_of_name(image)
    if frame is None:
        fail(path, f"{field}.image", f"{short(image)} names no frame number")
    return frame


def _chosen_results(path: Path, field: str, task: dict[str, Any]) -> tuple[list[Any] | None, str]:
    """The latest annotation that was not cancelled, else the posecli prediction; None when the task
    has neither (a task nobody annotated, in Label Studio's export)."""
    annotations = expect_list(path, f"{field}.annotations", task.get("annotations", []))
    kept = []
    for k, raw in enumerate(annotations):
        annotation = expect_dict(path, f"{field}.annotations[{k}]", raw)
        if not annotation.get("was_cancelled", False):
            kept.append((k, annotation))
    if kept:
        # the latest: by update time where Label Studio gives it, else by position
        k, annotation = max(kept, key=lambda item: (str(item[1].get("updated_at", "")), item[0]))
        where = f"{field}.annotations[{k}]"
        return expect_list(path, f"{where}.result", require(path, where, annotation, "result")), where
    predictions = expect_list(path, f"{field}.predictions", task.get("predictions", []))
    for k, raw in enumerate(predictions):
        if isinstance(raw, int) and not isinstance(raw, bool):
            continue  # Label Studio's export lists predictions by id only: nothing to read
        prediction = expect_dict(path, f"{field}.predictions[{k}]", raw)
        where = f"{field}.predictions[{k}]"
        if "result" in prediction:
            return expect_list(path, f"{where}.result", prediction["result"]), where
    return None, field


def _people(
    path: Path, field: str, frame: int, results: list[Any]
) -> tuple[tuple[int, int] | None, list[PersonPose]]:
    """Frame size (from the results) and the people of one frame."""
    points: dict[str, tuple[int, float, float]] = {}  # region id -> slot, x, y (pixels)
    occluded: set[str] = set()
    size: tuple[int, int] | None = None
    for r, raw in enumerate(results):
        where = f"{field}.result[{r}]"
        result = expect_dict(path, where, raw)
        kind = result.get("type")
        source = result.get("from_name")
        if kind == "choices" and source == VISIBILITY_CONTROL:
            value = expect_dict(path, f"{where}.value", require(path, where, result, "value"))
            if "occluded" in expect_list(
                path, f"{where}.value.choices", require(path, f"{where}.value", value, "choices")
            ):
                occluded.add(str(require(path, where, result, "id")))
            continue
        if kind != "keypointlabels" or source != KEYPOINTS_CONTROL:
            fail(
                path,
                f"{where}.from_name",
                f"{short(kind)} from {short(source)} is not posecli's keypoints control '{KEYPOINTS_CONTROL}' "
                "(an export of another project?)",
            )
        width = integer(
            path, f"{where}.original_width", require(path, where, result, "original_width"), minimum=1
        )
        height = integer(
            path, f"{where}.original_height", require(path, where, result, "original_height"), minimum=1
        )
        if size is not None and size != (width, height):
            fail(
                path,
                f"{where}.original_width",
                f"{width}x{height} differs from {size[0]}x{size[1]} in the same task",
            )
        size = (width, height)
        value = expect_dict(path, f"{where}.value", require(path, where, result, "value"))
        labels = expect_list(
            path, f"{where}.value.keypointlabels", require(path, f"{where}.value", value, "keypointlabels")
        )
        if len(labels) != 1 or labels[0] not in POSETRACK_KEYPOINTS:
            fail(path, f"{where}.value.keypointlabels", f"{short(labels)} is not one PoseTrack joint name")
        x = number(path, f"{where}.value.x", require(path, f"{where}.value", value, "x")) * width / 100.0
        y = number(path, f"{where}.value.y", require(path, f"{where}.value", value, "y")) * height / 100.0
        region = str(result.get("id", f"added-{r}"))
        if region in points:
            fail(path, f"{where}.id", f"region {short(region)} is listed twice")
        points[region] = (POSETRACK_KEYPOINTS.index(labels[0]), x, y)
    return size, _group(path, field, frame, points, occluded)


def _group(
    path: Path, field: str, frame: int, points: dict[str, tuple[int, float, float]], occluded: set[str]
) -> list[PersonPose]:
    """Points → people: by the ``t<track>-<slot>`` region id, added points by proximity (module docstring)."""
    xy: dict[int, np.ndarray] = {}
    visibility: dict[int, np.ndarray] = {}
    added = []
    for region, (slot, x, y) in points.items():
        match = _REGION_ID.match(region)
        if match is None or int(match.group(2)) != slot:
            added.append((region, slot, x, y))
            continue
        track = int(match.group(1))
        xy.setdefault(track, np.zeros((NUM_KEYPOINTS, 2)))[slot] = (x, y)
        visibility.setdefault(track, np.full(NUM_KEYPOINTS, OUTSIDE, dtype=np.int8))[slot] = (
            OCCLUDED if region in occluded else VISIBLE
        )
    for region, slot, x, y in added:
        candidates = [
            (float(np.linalg.norm(xy[t][visibility[t] != OUTSIDE].mean(0) - (x, y))), t)
            for t in xy
            if visibility[t][slot] == OUTSIDE
        ]
        track = min(candidates)[1] if candidates else max(xy, default=-1) + 1
        xy.setdefault(track, np.zeros((NUM_KEYPOINTS, 2)))[slot] = (x, y)
        visibility.setdefault(track, np.full(NUM_KEYPOINTS, OUTSIDE, dtype=np.int8))[slot] = (
            OCCLUDED if region in occluded else VISIBLE
        )
    return [person(frame, t, xy[t], visibility[t]) for t in sorted(xy)]
