"""CVAT for images 1.1: one ``<image>`` per labelled frame with a ``<skeleton>`` per person; writer and
reader.

Written (CVAT 2.x, see ``_cvat.py``): ``<meta><task>`` in ``annotation`` mode with the skeleton label,
then ``<image id name width height>`` per labelled frame (``name`` = ``frame_%06d.jpg``, the names
``--frames`` extracts, which are also CVAT's names for the frames of a video task) holding
``<skeleton label="person" source="manual" z_order="0">`` with 17 ``<points label source outside
occluded points>`` and the ``posecli_id`` attribute.

Reading takes the frame number from the image name (``…000012.jpg``), else the ``id``; the person id
from ``posecli_id``, else the skeleton's position in its image (CVAT for images has no track ids).
"""

from __future__ import annotations

from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np

from posecli.annotation import _cvat
from posecli.annotation.poses import OUTSIDE, Clip, frame_file_name, frame_index_of_name, make_clip, person
from posecli.errors import PoseCliError
from posecli.keypoints import NUM_KEYPOINTS


def cvat_images_document(clip: Clip) -> bytes:
    """The ``annotations.xml`` of ``clip`` as an image task of its labelled frames."""
    root = ET.Element("annotations")
    frames = clip.by_frame()
    _cvat.task_meta(
        root, name=clip.name, size=len(frames), mode="annotation", width=clip.width, height=clip.height
    )
    for position, (frame, people) in enumerate(frames.items()):
        image = ET.SubElement(
            root,
            "image",
            {
                "id": str(position),
                "name": frame_file_name(frame),
                "width": str(clip.width),
                "height": str(clip.height),
            },
        )
        for pose in people:
            skeleton = ET.SubElement(
                image, "skeleton", {"label": _cvat.SKELETON_LABEL, "source": "manual", "z_order": "0"}
            )
            for label, outside, occluded, points in _cvat.joint_rows(pose.xy, pose.visibility):
                attributes = {
                    "label": label,
                    "source": "manual",
                    "outside": outside,
                    "occluded": occluded,
                    "points": points,
                }
                ET.SubElement(skeleton, "points", attributes)
            ET.SubElement(skeleton, "attribute", {"name": _cvat.ID_ATTRIBUTE}).text = str(pose.track_id)
    return _cvat.xml_bytes(root)


def write_cvat_images(path: Path, clip: Clip) -> list[Path]:
    """Write ``clip`` at ``path`` (``.zip`` or ``.xml``) and the label JSON beside it."""
    return _cvat.write_output(path, cvat_images_document(clip))


def read_cvat_images(path: Path) -> Clip:
    """Read CVAT for images 1.1 (XML or zip): every ``<image>`` is a labelled frame.

    Raises ``PoseCliError("<file>: <element path>: <problem>")``.
    """
    root, shown = _cvat.read_root(path)
    if root.find("track") is not None and root.find("image") is None:
        raise PoseCliError(f"{shown}: <track>: this is CVAT for video; use --from cvat-video")
    width = height = 0
    labeled: list[int] = []
    people = []
    for n, image in enumerate(root.findall("image")):
        where = f"image[{n}]"
        frame = frame_index_of_name(image.get("name", ""))
        if frame is None:
            frame = _cvat.whole(image, "id", shown, where)
        where = f"image[name={image.get('name', '')[:60]}]"
        if frame in labeled:
            raise PoseCliError(f"{shown}: {where}: frame {frame} is listed twice")
        labeled.append(frame)
        if image.get("width") is not None:
            width = _cvat.whole(image, "width", shown, where)
            height = _cvat.whole(image, "height", shown, where)
        ids: set[int] = set()
        for s, skeleton in enumerate(e for e in image if e.tag == "skeleton"):
            here = f"{where}/skeleton[{s}]"
            if skeleton.get("label") != _cvat.SKELETON_LABEL:
                continue
            track_id = _cvat.skeleton_id(skeleton, shown, here)
            track_id = s if track_id is None else track_id
            if track_id in ids:
                raise PoseCliError(f"{shown}: {here}: person id {track_id} twice in one image")
            ids.add(track_id)
            points = _cvat.read_points(skeleton, shown, here, keyframes_only=False)
            xy = np.zeros((NUM_KEYPOINTS, 2))
            visibility = np.full(NUM_KEYPOINTS, OUTSIDE, dtype=np.int8)
            for slot, (x, y, v) in points.items():
                xy[slot], visibility[slot] = (x, y), v
            pose = person(frame, track_id, xy, visibility)
            if pose.present:
                people.append(pose)
    if not labeled:
        raise PoseCliError(f"{shown}: <annotations>: no <image> elements (not a CVAT for images file)")
    return make_clip(path.name.split(".")[0], width, height, max(labeled) + 1, labeled, people)
