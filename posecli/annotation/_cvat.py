"""What CVAT's two XML formats ("CVAT for video 1.1" and "CVAT for images 1.1") share: the skeleton
label, the zip CVAT's "Upload annotations" takes, safe XML parsing and the ``<points>`` elements.

Target: CVAT 2.x with skeletons (2.3 and later), format version 1.1. The layout follows CVAT's own
reader and writer (``cvat/apps/dataset_manager/formats/cvat.py``) and its track interpolation
(``cvat/apps/dataset_manager/annotation.py``, ``TrackManager.get_interpolated_shapes``); nothing is
copied from them.

The skeleton label is ``person`` with 17 ``points`` sublabels named as PoseTrack's joints; its
``<svg>`` holds the node layout and the edges the way CVAT's skeleton editor stores them (circles with
``data-element-id``/``data-node-id``/``data-label-name``, lines with ``data-node-from``/``data-node-to``,
1-based, in a 100 × 100 box). CVAT renumbers tracks 0, 1, … on export, so the person's posecli track id
also travels as the skeleton attribute ``posecli_id`` (declared in the label, immutable).
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from xml.etree import ElementTree as ET

import numpy as np

from posecli.annotation.poses import JOINT_COLOURS, OCCLUDED, OUTSIDE, VISIBLE
from posecli.atomic import atomic_write_bytes, atomic_write_text
from posecli.errors import PoseCliError
from posecli.keypoints import POSETRACK_KEYPOINTS, POSETRACK_SKELETON

SKELETON_LABEL = "person"
ID_ATTRIBUTE = "posecli_id"
ANNOTATIONS_XML = "annotations.xml"  # the name CVAT looks for at the root of an uploaded zip
MAX_XML_BYTES = 512 * 1024 * 1024  # an annotations.xml beyond this is refused (a zip bomb guard)
CVAT_VERSION = "1.1"

# Where each joint sits in the skeleton editor's 100 x 100 box (a person facing the viewer).
_LAYOUT: tuple[tuple[float, float], ...] = (
    (50, 14), (50, 22), (50, 4), (56, 12), (44, 12),
    (60, 28), (40, 28), (66, 42), (34, 42), (70, 56), (30, 56),
    (57, 58), (43, 58), (58, 76), (42, 76), (59, 94), (41, 94),
)  # fmt: skip


def skeleton_svg() -> str:
    """The skeleton label's ``<svg>`` content: 17 nodes and PoseTrack's edges (1-based node ids)."""
    lines = [
        f'<line x1="{_LAYOUT[a][0]}" y1="{_LAYOUT[a][1]}" x2="{_LAYOUT[b][0]}" y2="{_LAYOUT[b][1]}" '
        f'stroke="black" data-type="edge" data-node-from="{a + 1}" stroke-width="0.5" data-node-to="{b + 1}"></line>'
        for a, b in POSETRACK_SKELETON
    ]
    circles = [
        f'<circle r="1.5" stroke="black" fill="{JOINT_COLOURS[k]}" cx="{x}" cy="{y}" stroke-width="0.1" '
        f'data-type="element node" data-element-id="{k + 1}" data-node-id="{k + 1}" '
        f'data-label-name="{name}"></circle>'
        for k, (name, (x, y)) in enumerate(zip(POSETRACK_KEYPOINTS, _LAYOUT))
    ]
    return "".join(lines + circles)


def add_labels(parent: ET.Element) -> None:
    """Append ``<labels>`` (the skeleton, its ``posecli_id`` attribute and its 17 point sublabels)."""
    labels = ET.SubElement(parent, "labels")
    label = ET.SubElement(labels, "label")
    _text(label, "name", SKELETON_LABEL)
    _text(label, "color", "#fa3253")
    _text(label, "type", "skeleton")
    attributes = ET.SubElement(label, "attributes")
    attribute = ET.SubElement(attributes, "attribute")
    _text(attribute, "name", ID_ATTRIBUTE)
    _text(attribute, "mutable", "False")
    _text(attribute, "input_type", "number")
    _text(attribute, "default_value", "0")
    _text(attribute, "values", "0\n1000000\n1")  # min, max, step of a number attribute
    _text(label, "svg", skeleton_svg())
    for name, color in zip(POSETRACK_KEYPOINTS, JOINT_COLOURS):
        sublabel = ET.SubElement(labels, "label")
        _text(sublabel, "name", name)
        _text(sublabel, "color", color)
        _text(sublabel, "type", "points")
        ET.SubElement(sublabel, "attributes")
        _text(sublabel, "parent", SKELETON_LABEL)


def raw_labels() -> list[dict[str, object]]:
    """The same label as JSON for the "Raw" tab of CVAT's label editor (paste it when creating the task)."""
    return [
        {
            "name": SKELETON_LABEL,
            "color": "#fa3253",
            "type": "skeleton",
            "attributes": [
                {
                    "name": ID_ATTRIBUTE,
                    "mutable": False,
                    "input_type": "number",
                    "default_value": "0",
                    "values": ["0", "1000000", "1"],
                }
            ],
            "svg": skeleton_svg(),
            "sublabels": [
                {"name": name, "color": color, "type": "points", "attributes": []}
                for name, color in zip(POSETRACK_KEYPOINTS, JOINT_COLOURS)
            ],
        }
    ]


def _text(parent: ET.Element, tag: str, text: str) -> ET.Element:
    element = ET.SubElement(parent, tag)
    element.text = text
    return element


def task_meta(root: ET.Element, *, name: str, size: int, mode: str, width: int, height: int) -> ET.Element:
    """Append ``<version>`` and ``<meta><task>…</task></meta>`` as CVAT writes them for a task of
    ``size`` frames; ``mode`` is ``interpolation`` (video) or ``annotation`` (images)."""
    _text(root, "version", CVAT_VERSION)
    meta = ET.SubElement(root, "meta")
    task = ET.SubElement(meta, "task")
    _text(task, "id", "0")
    _text(task, "name", name)
    _text(task, "size", str(size))
    _text(task, "mode", mode)
    _text(task, "overlap", "0")
    _text(task, "bugtracker", "")
    _text(task, "flipped", "False")
    _text(task, "start_frame", "0")
    _text(task, "stop_frame", str(max(size - 1, 0)))
    _text(task, "frame_filter", "")
    add_labels(task)
    if mode == "interpolation":
        size_element = ET.SubElement(task, "original_size")
        _text(size_element, "width", str(width))
        _text(size_element, "height", str(height))
    return meta


def xml_bytes(root: ET.Element) -> bytes:
    """The document with CVAT's declaration and two-space indentation."""
    ET.indent(root, space="  ")
    return b'<?xml version="1.0" encoding="utf-8"?>\n' + ET.tostring(root, encoding="utf-8") + b"\n"


def write_zip(path: Path, document: bytes) -> None:
    """``path``: a zip holding ``annotations.xml`` at its root (what CVAT's upload takes), atomically."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(ANNOTATIONS_XML, document)
    atomic_write_bytes(path, buffer.getvalue())


def write_output(path: Path, document: bytes) -> list[Path]:
    """Write ``document`` as a zip (``.zip``) or plain XML, plus ``<stem>.cvat-labels.json`` beside it
    (the label for CVAT's task form); returns both paths."""
    if path.suffix.lower() == ".zip":
        write_zip(path, document)
    else:
        atomic_write_bytes(path, document)
    labels = path.with_name(f"{path.name.rsplit('.', 1)[0]}.cvat-labels.json")
    atomic_write_text(labels, json.dumps(raw_labels(), indent=2) + "\n")
    return [path, labels]


# ----------------------------------------------------------------------------------------------------
# Reading


def read_root(path: Path) -> tuple[ET.Element, str]:
    """The ``<annotations>`` root of a CVAT XML file or of the ``annotations.xml`` in a CVAT zip, and
    the name to use in errors (``file.zip:annotations.xml``). Document type declarations are refused:
    entities are the one way an XML file can make its reader expand or fetch things."""
    if not path.exists():
        raise PoseCliError(f"{path}: no such file")
    if not path.is_file():
        raise PoseCliError(f"{path}: not a regular file")
    shown = str(path)
    if zipfile.is_zipfile(path):
        data, shown = _xml_from_zip(path)
    else:
        data = path.read_bytes()
    if re.search(rb"<!DOCTYPE|<!ENTITY", data[:65536], re.IGNORECASE):
        raise PoseCliError(f"{shown}: a document type declaration (<!DOCTYPE/<!ENTITY) is not accepted")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as error:
        line, column = error.position
        raise PoseCliError(f"{shown}: not well-formed XML (line {line}, column {column})") from None
    except LookupError as error:  # the declaration names an encoding Python does not know
        raise PoseCliError(f"{shown}: not readable XML ({error})") from None
    if root.tag != "annotations":
        raise PoseCliError(f"{shown}: <{root.tag}>: expected CVAT's root element <annotations>")
    return root, shown


def _xml_from_zip(path: Path) -> tuple[bytes, str]:
    try:
        with zipfile.ZipFile(path) as archive:
            names = [n for n in archive.namelist() if n.lower().endswith(".xml")]
            name = ANNOTATIONS_XML if ANNOTATIONS_XML in names else (names[0] if len(names) == 1 else None)
            if name is None:
                raise PoseCliError(f"{path}: the zip holds no {ANNOTATIONS_XML} at its root")
            if archive.getinfo(name).file_size > MAX_XML_BYTES:
                raise PoseCliError(f"{path}:{name}: larger than {MAX_XML_BYTES >> 20} MiB")
            return archive.read(name), f"{path}:{name}"
    except (zipfile.BadZipFile, OSError, EOFError) as error:
        raise PoseCliError(f"{path}: damaged zip ({error})") from None


def meta_size(root: ET.Element, shown: str) -> tuple[int, int, int]:
    """``(width, height, frames)`` of a video task: ``original_size`` and ``stop_frame`` (or ``size``)
    from ``<meta><task>`` or ``<meta><job>`` (0 where absent)."""
    task = root.find("meta/task")
    if task is None:
        task = root.find("meta/job")
    if task is None:
        return 0, 0, 0
    # CVAT numbers a task's frames from its start frame in steps of its frame filter: only a task of
    # the whole video keeps the video's frame numbers, and guessing the mapping would shift every pose
    start = _meta_int(task, "start_frame", shown)
    step = (task.findtext("frame_filter") or "").strip()
    if start != 0 or step not in ("", "step=1"):
        raise PoseCliError(
            f"{shown}: <meta>: the task starts at frame {start}{f' with {step}' if step else ''}; "
            "posecli imports tasks made from the whole video (start frame 0, every frame)"
        )
    width = _meta_int(task, "original_size/width", shown)
    height = _meta_int(task, "original_size/height", shown)
    stop = task.find("stop_frame")
    frames = _meta_int(task, "stop_frame", shown) + 1 if stop is not None else _meta_int(task, "size", shown)
    return width, height, frames


def _meta_int(task: ET.Element, where: str, shown: str) -> int:
    element = task.find(where)
    if element is None:
        return 0
    text = (element.text or "").strip()
    if not text.isdigit():
        raise PoseCliError(f"{shown}: <meta>/{where}: expected a whole number, got {text[:20]!r}")
    return int(text)


def flag(element: ET.Element, name: str, shown: str, where: str, default: str = "0") -> bool:
    """A CVAT 0/1 attribute."""
    value = element.get(name, default)
    if value not in ("0", "1"):
        raise PoseCliError(f"{shown}: {where}: {name}={value[:20]!r}, expected 0 or 1")
    return value == "1"


def whole(element: ET.Element, name: str, shown: str, where: str) -> int:
    """A required non-negative whole-number attribute (``frame``, ``id``)."""
    value = element.get(name)
    if value is None:
        raise PoseCliError(f"{shown}: {where}: missing attribute '{name}'")
    if not (value.isascii() and value.isdigit()) or len(value) > 12:
        raise PoseCliError(f"{shown}: {where}: {name}={value[:20]!r}, expected a whole number")
    return int(value)


def skeleton_id(skeleton: ET.Element, shown: str, where: str) -> int | None:
    """The ``posecli_id`` attribute of a skeleton shape, if it has one."""
    for attribute in skeleton.findall("attribute"):
        if attribute.get("name") == ID_ATTRIBUTE:
            text = (attribute.text or "").strip()
            try:
                value = float(text)
            except ValueError:
                value = -1.0
            if not np.isfinite(value) or value < 0 or value != int(value) or value > 2**62:
                raise PoseCliError(
                    f"{shown}: {where}/attribute[{ID_ATTRIBUTE}]: {text[:20]!r} is not a track id"
                )
            return int(value)
    return None


def read_points(
    skeleton: ET.Element, shown: str, where: str, *, keyframes_only: bool
) -> dict[int, tuple[float, float, int]]:
    """The ``<points>`` children of one ``<skeleton>``: slot → ``(x, y, visibility)``.

    Each must name one of the 17 joints once and hold exactly one ``x,y`` pair. With
    ``keyframes_only`` (a video track), points without ``keyframe="1"`` are skipped: CVAT recomputes
    them from the keyframes, and so does the importer.
    """
    out: dict[int, tuple[float, float, int]] = {}
    for n, element in enumerate(skeleton):
        if element.tag == "attribute":
            continue
        here = f"{where}/{element.tag}[{n}]"
        if element.tag != "points":
            raise PoseCliError(f"{shown}: {here}: a person skeleton holds only <points>, not <{element.tag}>")
        label = element.get("label")
        if label not in POSETRACK_KEYPOINTS:
            raise PoseCliError(
                f"{shown}: {here}: label {str(label)[:40]!r} is not one of the 17 PoseTrack joints"
            )
        here = f"{where}/points[{label}]"
        slot = POSETRACK_KEYPOINTS.index(label)
        if slot in out:
            raise PoseCliError(f"{shown}: {here}: the joint is listed twice")
        if keyframes_only and not flag(element, "keyframe", shown, here):
            continue
        outside = flag(element, "outside", shown, here)
        occluded = flag(element, "occluded", shown, here)
        out[slot] = (*_point(element, shown, here), OUTSIDE if outside else OCCLUDED if occluded else VISIBLE)
    return out


def _point(element: ET.Element, shown: str, where: str) -> tuple[float, float]:
    text = element.get("points")
    if text is None:
        raise PoseCliError(f"{shown}: {where}: missing attribute 'points'")
    pairs = [p for p in text.split(";") if p.strip()]
    if len(pairs) != 1:
        raise PoseCliError(
            f"{shown}: {where}: points holds {len(pairs)} points, a skeleton joint has exactly 1"
        )
    try:
        x, y = (float(v) for v in pairs[0].split(","))
    except ValueError:
        raise PoseCliError(f"{shown}: {where}: points={text[:40]!r} is not 'x,y'") from None
    if not (np.isfinite(x) and np.isfinite(y)) or max(abs(x), abs(y)) > 1e7:
        raise PoseCliError(f"{shown}: {where}: points={text[:40]!r} is not a pixel position")
    return x, y


def points_text(x: float, y: float) -> str:
    """A ``points`` attribute: CVAT's two decimals."""
    return f"{x:.2f},{y:.2f}"


def placed(xy: np.ndarray, visibility: np.ndarray) -> np.ndarray:
    """``(17, 2)`` positions to write: an outside joint at the centre of the located ones, where an
    annotator who brings it back expects it."""
    located = xy[visibility != OUTSIDE]
    out = np.array(xy, dtype=np.float64)
    if len(located):  # a pose with every joint outside (a track's end) keeps the positions given
        out[visibility == OUTSIDE] = located.mean(0)
    return out


def joint_rows(xy: np.ndarray, visibility: np.ndarray) -> list[tuple[str, str, str, str]]:
    """``(label, outside, occluded, points)`` of the 17 joints of one pose (positions: ``placed``)."""
    rows = []
    for k, (x, y) in enumerate(placed(xy, visibility)):
        rows.append(
            (
                POSETRACK_KEYPOINTS[k],
                "1" if visibility[k] == OUTSIDE else "0",
                "1" if visibility[k] == OCCLUDED else "0",
                points_text(x, y),
            )
        )
    return rows
