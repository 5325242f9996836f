"""Malformed or foreign annotation files: one line naming the file and the element, exit code 1."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from typer.testing import CliRunner

from posecli.cli import app

runner = CliRunner()

SKELETON = '<track id="0" label="person"><skeleton frame="0" keyframe="1">{}</skeleton></track>'
GOOD_POINT = '<points label="nose" keyframe="1" outside="0" occluded="0" points="1,2"/>'


def xml(body: str) -> str:
    return f'<?xml version="1.0"?><annotations><version>1.1</version>{body}</annotations>'


CASES = {
    "bad xml": ("cvat-video", "a.xml", "<annotations><track", "not well-formed XML (line 1"),
    "unknown encoding": (
        "cvat-video",
        "a.xml",
        '<?xml version="1.0" encoding="utf-1e9"?><annotations/>',
        "not readable XML (unknown encoding",
    ),
    "task too long": (
        "cvat-video",
        "a.xml",
        xml(
            "<meta><task><start_frame>0</start_frame><stop_frame>999999999999</stop_frame></task></meta>"
            f'<track id="0" label="person"><skeleton frame="0">{GOOD_POINT}</skeleton></track>'
        ),
        "<meta>: 1000000000000 frames is beyond the 2000000 posecli reads",
    ),
    "wrong root": ("cvat-video", "a.xml", "<project><track/></project>", "<project>: expected CVAT's root"),
    "no person track": (
        "cvat-video",
        "a.xml",
        xml('<track id="0" label="car"/>'),
        'no <track label="person">',
    ),
    "missing points attribute": (
        "cvat-video",
        "a.xml",
        xml(SKELETON.format('<points label="nose" keyframe="1" outside="0" occluded="0"/>')),
        "track[0]/skeleton[frame=0]/points[nose]: missing attribute 'points'",
    ),
    "points count mismatch": (
        "cvat-video",
        "a.xml",
        xml(SKELETON.format('<points label="nose" keyframe="1" points="1,2;3,4"/>')),
        "points[nose]: points holds 2 points, a skeleton joint has exactly 1",
    ),
    "foreign joint": (
        "cvat-video",
        "a.xml",
        xml(SKELETON.format('<points label="left_eye" keyframe="1" points="1,2"/>')),
        "track[0]/skeleton[frame=0]/points[0]: label 'left_eye' is not one of the 17 PoseTrack joints",
    ),
    "missing frame": (
        "cvat-video",
        "a.xml",
        xml(f'<track id="0" label="person"><skeleton keyframe="1">{GOOD_POINT}</skeleton></track>'),
        "track[0]/skeleton[0]: missing attribute 'frame'",
    ),
    "task of part of the video": (
        "cvat-video",
        "a.xml",
        xml("<meta><task><start_frame>100</start_frame><stop_frame>200</stop_frame></task></meta>"),
        "<meta>: the task starts at frame 100; posecli imports tasks made from the whole video",
    ),
    "entities": (
        "cvat-video",
        "a.xml",
        '<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><annotations/>',
        "document type declaration",
    ),
    "images file as video": (
        "cvat-video",
        "a.xml",
        xml('<image id="0" name="frame_000000.jpg"/>'),
        "<image>: this is CVAT for images; use --from cvat-images",
    ),
    "image without skeleton points": (
        "cvat-images",
        "a.xml",
        xml(
            '<image id="0" name="frame_000000.jpg"><skeleton label="person"><box label="nose"/></skeleton></image>'
        ),
        "image[name=frame_000000.jpg]/skeleton[0]/box[0]: a person skeleton holds only <points>",
    ),
    "coco of another skeleton": (
        "coco",
        "a.json",
        json.dumps(
            {
                "categories": [{"id": 1, "name": "person", "keypoints": ["nose", "left_eye"]}],
                "images": [],
                "annotations": [],
            }
        ),
        "categories[0].keypoints[1]: 'left_eye' is not a PoseTrack joint",
    ),
    "coco keypoint count": (
        "coco",
        "a.json",
        json.dumps(
            {
                "categories": [{"id": 1, "keypoints": ["nose", "head_top"]}],
                "images": [{"id": 1, "file_name": "frame_000000.jpg"}],
                "annotations": [{"image_id": 1, "category_id": 1, "keypoints": [1, 2, 2]}],
            }
        ),
        "annotations[0].keypoints: expected 6 numbers (3 per category keypoint), got 3",
    ),
    "label studio of another project": (
        "label-studio",
        "a.json",
        json.dumps(
            [
                {
                    "data": {"image": "/data/upload/1/cat.jpg", "frame": 0},
                    "annotations": [
                        {
                            "result": [
                                {
                                    "id": "x",
                                    "type": "rectanglelabels",
                                    "from_name": "label",
                                    "to_name": "image",
                                    "value": {
                                        "x": 1,
                                        "y": 1,
                                        "width": 5,
                                        "height": 5,
                                        "rectanglelabels": ["Cat"],
                                    },
                                }
                            ]
                        }
                    ],
                }
            ]
        ),
        "[0].annotations[0].result[0].from_name: 'rectanglelabels' from 'label' is not posecli's keypoints",
    ),
    "label studio without image": (
        "label-studio",
        "a.json",
        json.dumps([{"data": {"text": "hello"}}]),
        "[0].data.image: missing (not a task of a posecli project",
    ),
}


@pytest.mark.parametrize("case", list(CASES))
def test_bad_annotation_file_is_one_line_naming_the_element(
    case: str, h264_clip: Path, tmp_path: Path
) -> None:
    source, name, text, message = CASES[case]
    path = tmp_path / name
    path.write_text(text)
    result = runner.invoke(
        app, ["import", str(path), "--from", source, "--video", str(h264_clip), "-o", str(tmp_path / "out")]
    )
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"posecli import: error: {path}"), lines[0]
    assert message in lines[0], lines[0]
    assert not (tmp_path / "out" / "annotations").exists()  # bad input writes no dataset


def test_zip_without_annotations_xml(h264_clip: Path, tmp_path: Path) -> None:
    path = tmp_path / "task.zip"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("images/frame_000000.png", b"")
    result = runner.invoke(
        app, ["import", str(path), "--from", "cvat-video", "--video", str(h264_clip), "-o", str(tmp_path)]
    )
    assert result.exit_code == 1
    assert f"{path}: the zip holds no annotations.xml at its root" in result.output


def test_export_refuses_a_non_prediction(h264_clip: Path, tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_text('{"hello": 1}')
    result = runner.invoke(
        app, ["export", str(path), "--to", "coco", "--video", str(h264_clip), "-o", str(tmp_path / "o.json")]
    )
    assert result.exit_code == 1
    assert f"{path}: (top level): not a posecli prediction" in result.output
    assert not (tmp_path / "o.json").exists()
