"""The whole loop as a user runs it: prediction → export cvat-video → one point corrected in the XML →
import → ``posecli train`` (2 steps) → ``posecli eval`` against the corrections."""

from __future__ import annotations

import json
import re
import zipfile
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from posecli.cli import app

runner = CliRunner()
CONFIGS = Path(__file__).resolve().parents[2] / "configs"


def run(*args: str) -> str:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.slow
def test_export_correct_import_train_eval(prediction: Path, h264_clip: Path, tmp_path: Path) -> None:
    import torch

    zipped = tmp_path / "clip.zip"
    run("export", str(prediction), "--to", "cvat-video", "--video", str(h264_clip), "-o", str(zipped))
    with zipfile.ZipFile(zipped) as archive:
        xml = archive.read("annotations.xml").decode()
    # the annotator drags track 3's nose on frame 4 to (30, 40)
    track = xml[xml.index('<track id="3"') :]
    frame4 = track.index('<skeleton frame="4"')
    nose = re.compile(r'(<points label="nose"[^>]*points=")[^"]*(")')
    edited_track = track[:frame4] + nose.sub(r"\g<1>30.00,40.00\g<2>", track[frame4:], count=1)
    corrected = tmp_path / "corrected.xml"
    corrected.write_text(xml[: xml.index('<track id="3"')] + edited_track)

    root = tmp_path / "ds"
    run("import", str(corrected), "--from", "cvat-video", "--video", str(h264_clip), "-o", str(root))
    document = json.loads((root / "annotations" / "train" / "clip.json").read_text())
    original = json.loads(prediction.read_text())
    changed = []
    for got, was in zip(document["annotations"], original["annotations"], strict=True):
        assert (got["image_id"], got["track_id"]) == (was["image_id"], was["track_id"])
        a, b = np.reshape(got["keypoints"], (17, 3)), np.reshape(was["keypoints"], (17, 3))
        for k in np.flatnonzero(np.abs(a[:, :2] - b[:, :2]).max(1) > 0.005):
            changed.append((got["image_id"], got["track_id"], int(k), tuple(a[k, :2])))
    assert changed == [(4, 3, 0, (30.0, 40.0))]  # exactly the corrected point

    torch.set_num_threads(1)
    run(
        "train", "--data", "posetrack", "--data-root", str(root),
        "--config", str(CONFIGS / "hrnet_hrnet-w8_synthetic_128x96.yaml"),
        "--set", "model.input_size=[64, 64]", "--set", "train.batch_size=2", "--set", "train.max_steps=2",
        "--set", "eval.every=0", "--set", "train.deterministic=true",
        "--out-dir", str(tmp_path / "run"), "--device", "cpu", "--quiet",
    )  # fmt: skip
    assert (tmp_path / "run" / "last.safetensors").is_file()

    metrics = tmp_path / "metrics.json"
    gt = root / "annotations" / "train"
    run("eval", str(prediction), "--gt", str(gt), "--json", str(metrics), "-q")
    joints = {j["name"]: j for j in json.loads(metrics.read_text())["joints"]}
    # the prediction is the uncorrected proposal: every joint matches its correction except one nose
    assert joints["nose"]["ap"] < 100.0
    assert joints["head_top"]["ap"] == joints["right_ankle"]["ap"] == 100.0
