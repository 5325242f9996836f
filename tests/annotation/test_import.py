"""``posecli import`` writes a PoseTrack 2018 folder that the training loader reads as it is."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from posecli.cli import app
from posecli.data.posetrack import read_posetrack, training_samples

from .conftest import FRAMES, HEIGHT, WIDTH

runner = CliRunner()


def run(*args: str) -> Any:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result


@pytest.fixture()
def dataset(prediction: Path, h264_clip: Path, tmp_path: Path) -> Path:
    zipped = tmp_path / "clip.zip"
    run("export", str(prediction), "--to", "cvat-video", "--video", str(h264_clip), "-o", str(zipped))
    root = tmp_path / "ds"
    run("import", str(zipped), "--from", "cvat-video", "--video", str(h264_clip), "-o", str(root))
    return root


def test_import_writes_what_train_reads(dataset: Path) -> None:
    split = read_posetrack(dataset, "train")
    assert split.layout == "posetrack18"
    assert [f.frame_number for f in split.frames] == list(range(FRAMES))
    assert all(f.image_path.is_file() for f in split.frames)  # every frame, for the supporting frames
    assert {(f.width, f.height) for f in split.frames} == {(WIDTH, HEIGHT)}
    assert [sorted(p.track_id for p in f.persons) for f in split.frames] == [
        [3, 7],
        [3, 7],
        [3],
        [3],
        [3, 7],
        [3, 7],
    ]
    assert len(training_samples(split)) == 10


def test_visibility_head_boxes_and_frame_ids(dataset: Path) -> None:
    document = json.loads((dataset / "annotations" / "train" / "clip.json").read_text())
    assert [image["file_name"] for image in document["images"]][:2] == [
        "images/train/clip/000000.jpg",
        "images/train/clip/000001.jpg",
    ]
    assert all(image["is_labeled"] for image in document["images"])
    first = document["annotations"][0]
    v = np.array(first["keypoints"]).reshape(17, 3)
    assert first["track_id"] == 3 and first["image_id"] == 0
    assert v[3].tolist() == v[4].tolist() == [0, 0, 0]  # ears were never located: outside
    assert set(v[[0, 1, 2, 5, 9], 2]) == {2}  # visible
    late = np.array(document["annotations"][-1]["keypoints"]).reshape(17, 3)
    assert late[9, 2] == 1  # the wrist scored under --kpt-thr on frames 2+: occluded
    # head box: a square between head_bottom and head_top, their distance as its side
    x, y, w, h = first["bbox_head"]
    assert w == h == pytest.approx(np.linalg.norm(v[2, :2] - v[1, :2]))
    assert (x + w / 2, y + h / 2) == pytest.approx(tuple((v[1, :2] + v[2, :2]) / 2), abs=0.01)  # 1/100 px
    assert first["scores"] == []


def test_import_into_an_existing_dataset_needs_exist_ok(
    dataset: Path, h264_clip: Path, tmp_path: Path
) -> None:
    result = runner.invoke(
        app,
        [
            "import",
            str(tmp_path / "clip.zip"),
            "--from",
            "cvat-video",
            "--video",
            str(h264_clip),
            "-o",
            str(dataset),
        ],
    )
    assert result.exit_code == 1 and "--exist-ok" in result.output


def test_frame_size_must_match_the_video(prediction: Path, h264_clip: Path, tmp_path: Path) -> None:
    zipped = tmp_path / "clip.zip"
    run("export", str(prediction), "--to", "cvat-video", "--video", str(h264_clip), "-o", str(zipped))
    import zipfile

    with zipfile.ZipFile(zipped) as archive:
        text = archive.read("annotations.xml").decode().replace("<width>96</width>", "<width>640</width>")
    (tmp_path / "other.xml").write_text(text)
    result = runner.invoke(
        app,
        [
            "import",
            str(tmp_path / "other.xml"),
            "--from",
            "cvat-video",
            "--video",
            str(h264_clip),
            "-o",
            str(tmp_path / "x"),
        ],
    )
    assert result.exit_code == 1
    assert "annotated frames are 640x64, the video" in result.output


def test_export_cli_writes_the_zip_and_the_label(prediction: Path, h264_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "clip.zip"
    result = run("export", str(prediction), "--to", "cvat-video", "--video", str(h264_clip), "-o", str(out))
    assert "6 frames, 10 people, 2 tracks" in result.output
    labels = json.loads((tmp_path / "clip.cvat-labels.json").read_text())
    assert labels[0]["type"] == "skeleton" and len(labels[0]["sublabels"]) == 17
    again = runner.invoke(app, ["export", str(prediction), "--to", "cvat-video", "-o", str(out)])
    assert again.exit_code == 1 and "--exist-ok" in again.output


def test_label_studio_export_needs_frames(prediction: Path, h264_clip: Path, tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["export", str(prediction), "--to", "label-studio", "--video", str(h264_clip)]
    )
    assert result.exit_code == 1 and "--frames:" in result.output
    run(
        "export",
        str(prediction),
        "--to",
        "label-studio",
        "--video",
        str(h264_clip),
        "-o",
        str(tmp_path / "tasks.json"),
        "--frames",
        str(tmp_path / "frames"),
    )
    assert sorted(p.name for p in (tmp_path / "frames").iterdir())[:2] == [
        "frame_000000.jpg",
        "frame_000001.jpg",
    ]
    tasks = json.loads((tmp_path / "tasks.json").read_text())
    assert tasks[0]["data"]["image"] == "/data/local-files/?d=frames/frame_000000.jpg"
    assert "<KeyPointLabels" in (tmp_path / "tasks.label-config.xml").read_text()
