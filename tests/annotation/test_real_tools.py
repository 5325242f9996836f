"""The exports against the real tools: datumaro (the library CVAT uses for import/export) reads and
re-writes the COCO keypoints file, and a real Label Studio server round-trips the tasks.

The tools are heavy (Label Studio is ~1 GB with Django and pins numpy/pandas below what posecli
uses), so they live in their own environment: the tests use them when importable here, or through
``POSECLI_ANNOTATION_PYTHON`` (an interpreter of an environment with ``pip install datumaro
label-studio label-studio-sdk``), and skip otherwise.

datumaro 1.13's CVAT plugin has no skeletons (CVAT reads them with its own extended copy), so the
CVAT files are checked against CVAT's published 1.1 format description instead
(``test_cvat_files_follow_the_published_format``).
"""

from __future__ import annotations

import contextlib
import importlib.util
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from xml.etree import ElementTree as ET

import numpy as np
import pytest
from typer.testing import CliRunner

from posecli.annotation.coco_keypoints import read_coco_keypoints
from posecli.annotation.exchange import export_annotations
from posecli.annotation.poses import clip_from_predictions
from posecli.cli import app
from posecli.export.predictions import read_predictions

from .conftest import FRAMES, HEIGHT, WIDTH
from .test_roundtrip import assert_same_people

runner = CliRunner()
TOOLS_PYTHON = "POSECLI_ANNOTATION_PYTHON"
SERVER_START_S = 240  # a first start migrates a fresh SQLite database (~45 s on 2 shared cores)


def tools_python(module: str) -> str:
    """An interpreter that can import ``module``: this one, else ``$POSECLI_ANNOTATION_PYTHON``."""
    if importlib.util.find_spec(module) is not None:
        return sys.executable
    other = os.environ.get(TOOLS_PYTHON)
    if (
        other
        and subprocess.run([other, "-c", f"import {module}"], capture_output=True, check=False).returncode
        == 0
    ):
        return other
    pytest.skip(f"{module} is not installed here and {TOOLS_PYTHON} names no environment that has it")


DATUMARO_SCRIPT = """
import json, sys
import datumaro as dm
dataset = dm.Dataset.import_from(sys.argv[1], "coco_person_keypoints")
people = []
for item in dataset:
    for ann in item.annotations:
        if ann.type == dm.AnnotationType.points:
            people.append({"item": item.id, "track_id": ann.attributes["track_id"], "points": list(ann.points),
                           "visibility": [int(v) for v in ann.visibility]})
labels = dataset.categories()[dm.AnnotationType.points].items[0].labels
dataset.export(sys.argv[2], "coco_person_keypoints", save_media=False)
print(json.dumps({"people": people, "labels": labels}))
"""


def test_datumaro_reads_and_rewrites_the_coco_export(
    prediction: Path, h264_clip: Path, tmp_path: Path
) -> None:
    python = tools_python("datumaro")
    root = tmp_path / "coco"
    out = root / "annotations" / "person_keypoints_default.json"
    out.parent.mkdir(parents=True)
    export_annotations(prediction, "coco", video=h264_clip, output=out, frames_dir=root / "images")
    done = subprocess.run(
        [python, "-c", DATUMARO_SCRIPT, str(root), str(tmp_path / "again")],
        capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    seen = json.loads(done.stdout.strip().splitlines()[-1])
    want = clip_from_predictions(
        read_predictions(prediction), kpt_thr=0.3, width=WIDTH, height=HEIGHT, num_frames=FRAMES
    )
    assert len(seen["people"]) == len(want.people)
    assert seen["labels"][:3] == ["nose", "head_bottom", "head_top"]
    by_key = {(p.frame, p.track_id): p for p in want.people}
    for person in seen["people"]:
        expected = by_key[(int(person["item"].rsplit("_", 1)[1]), person["track_id"])]
        assert person["visibility"] == expected.visibility.tolist()  # datumaro: 0 absent, 1 hidden, 2 visible
        placed = expected.visibility > 0
        got = np.reshape(person["points"], (17, 2))
        np.testing.assert_allclose(got[placed], expected.xy[placed], atol=0.005)
    # and what datumaro writes back reads as the same people
    rewritten = read_coco_keypoints(tmp_path / "again" / "annotations" / "person_keypoints_default.json")
    assert_same_people(rewritten, want)


# CVAT's published 1.1 format (docs.cvat.ai "XML annotation format"): the attributes each element may
# carry, per task mode. Our files must use only these and always give the ones CVAT's reader requires.
CVAT_VIDEO = {
    "track": ({"id", "label", "source", "group_id", "task_id", "subset"}, {"id", "label"}),
    "skeleton": ({"frame", "keyframe", "z_order"}, {"frame"}),
    "points": ({"label", "outside", "occluded", "keyframe", "points"}, {"label", "points", "keyframe"}),
}
CVAT_IMAGES = {
    "image": ({"id", "name", "width", "height", "subset", "task_id"}, {"id", "name"}),
    "skeleton": ({"label", "source", "z_order", "group_id"}, {"label"}),
    "points": ({"label", "source", "outside", "occluded", "points"}, {"label", "points"}),
}


@pytest.mark.parametrize(("to", "schema"), [("cvat-video", CVAT_VIDEO), ("cvat-images", CVAT_IMAGES)])
def test_cvat_files_follow_the_published_format(
    to: str, schema: dict[str, Any], prediction: Path, h264_clip: Path, tmp_path: Path
) -> None:
    out = tmp_path / "task.zip"
    export_annotations(prediction, to, video=h264_clip, output=out)
    with zipfile.ZipFile(out) as archive:
        root = ET.fromstring(archive.read("annotations.xml"))
    assert root.tag == "annotations" and root.findtext("version") == "1.1"
    task = root.find("meta/task")
    assert task is not None
    assert task.findtext("mode") == ("interpolation" if to == "cvat-video" else "annotation")
    labels = task.findall("labels/label")
    assert [label.findtext("type") for label in labels] == ["skeleton"] + ["points"] * 17
    assert {label.findtext("parent") for label in labels[1:]} == {"person"}
    svg = labels[0].findtext("svg") or ""
    assert svg.count('data-type="element node"') == 17 and svg.count('data-type="edge"') == 17
    if to == "cvat-video":
        assert (task.findtext("original_size/width"), task.findtext("original_size/height")) == ("96", "64")
    checked = 0
    for element in root.iter():
        if element.tag in schema:
            allowed, required = schema[element.tag]
            assert set(element.attrib) <= allowed, (element.tag, element.attrib)
            assert required <= set(element.attrib), (element.tag, element.attrib)
            for flag in ("outside", "occluded", "keyframe"):
                assert element.get(flag, "0") in ("0", "1")
            checked += 1
    assert checked > 100


# ----------------------------------------------------------------------------------------------------
# Label Studio


def label_studio_command() -> list[str]:
    """The ``label-studio`` launcher of this environment or of ``$POSECLI_ANNOTATION_PYTHON``'s."""
    python = tools_python("label_studio")
    launcher = Path(python).with_name("label-studio")
    if launcher.is_file():
        return [str(launcher)]
    found = shutil.which("label-studio")
    if found is None:
        pytest.skip("label_studio is importable but its label-studio launcher is not on PATH")
    return [found]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextlib.contextmanager
def label_studio_server(data: Path, files: Path, token: str) -> Iterator[str]:
    """A Label Studio server on a free localhost port with SQLite under ``data``, serving ``files``
    as local files; stopped (its whole process group) when the block ends."""
    port = free_port()
    env = {
        **os.environ,
        "LABEL_STUDIO_BASE_DATA_DIR": str(data),
        "LOCAL_FILES_SERVING_ENABLED": "true",
        "LOCAL_FILES_DOCUMENT_ROOT": str(files),
        "SENTRY_DSN": "",
        "FRONTEND_SENTRY_DSN": "",
    }
    command = [
        *label_studio_command(), "start", "--no-browser", "--port", str(port), "--internal-host", "127.0.0.1",
        "--username", "annotator@example.com", "--password", "posecli-test-1", "--user-token", token,
        "--enable-legacy-api-token",
    ]  # fmt: skip
    log = (data / "server.log").open("wb")
    server = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + SERVER_START_S
        while True:
            if server.poll() is not None:
                pytest.fail(
                    f"label-studio exited with {server.returncode}: {(data / 'server.log').read_text()[-2000:]}"
                )
            with contextlib.suppress(OSError), urllib.request.urlopen(f"{url}/health", timeout=5) as reply:
                if reply.status == 200:
                    break
            if time.monotonic() > deadline:
                pytest.fail(f"label-studio did not answer within {SERVER_START_S} s")
            time.sleep(0.5)
        yield url
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(server.pid, signal.SIGTERM)
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(server.pid, signal.SIGKILL)
            server.wait(timeout=30)
        log.close()


def api(url: str, token: str, method: str, path: str, body: Any = None) -> Any:
    data = None if body is None else json.dumps(body).encode()
    headers = {"Authorization": f"Token {token}", "Content-Type": "application/json"}
    request = urllib.request.Request(url + path, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=120) as reply:
        payload = reply.read()
    if reply.headers.get_content_type() == "application/json":
        return json.loads(payload) if payload else None
    return payload


@pytest.mark.slow
def test_label_studio_server_round_trip(prediction: Path, h264_clip: Path, tmp_path: Path) -> None:
    """Project with posecli's config, tasks imported, frames served as local files, every frame
    reviewed by an annotator who moves one keypoint, JSON export, ``posecli import``: exactly that
    keypoint differs from the proposal."""
    files = tmp_path / "files"
    tasks_file = tmp_path / "tasks.json"
    export_annotations(
        prediction, "label-studio", video=h264_clip, output=tasks_file, frames_dir=files / "frames"
    )
    token = "0f1e2d3c4b5a69788796a5b4c3d2e1f001234567"
    data = tmp_path / "ls-data"
    data.mkdir()
    with label_studio_server(data, files, token) as url:
        config = (tmp_path / "tasks.label-config.xml").read_text()
        project = api(url, token, "POST", "/api/projects/", {"title": "posecli", "label_config": config})[
            "id"
        ]
        api(url, token, "POST", "/api/storages/localfiles/",
            {"project": project, "path": str(files / "frames"), "title": "frames", "use_blob_urls": False})  # fmt: skip
        imported = api(
            url, token, "POST", f"/api/projects/{project}/import", json.loads(tasks_file.read_text())
        )
        assert imported["task_count"] == FRAMES and imported["prediction_count"] == FRAMES
        image = api(url, token, "GET", "/data/local-files/?d=frames/frame_000004.jpg")
        assert image[:3] == b"\xff\xd8\xff"  # the frame the annotator sees is served
        tasks = api(url, token, "GET", f"/api/tasks/?project={project}&fields=all")["tasks"]
        assert len(tasks) == FRAMES
        for task in tasks:
            result = task["predictions"][0]["result"]
            if task["data"]["frame"] == 4:  # the annotator drags track 3's nose to (30, 40)
                nose = next(r for r in result if r["id"] == "t3-0" and r["type"] == "keypointlabels")
                nose["value"]["x"], nose["value"]["y"] = 30.0 / WIDTH * 100, 40.0 / HEIGHT * 100
            api(url, token, "POST", f"/api/tasks/{task['id']}/annotations/", {"result": result})
        exported = api(
            url, token, "GET", f"/api/projects/{project}/export?exportType=JSON&download_all_tasks=true"
        )
    export_file = tmp_path / "export.json"
    export_file.write_bytes(exported)
    root = tmp_path / "ds"
    result = runner.invoke(
        app,
        ["import", str(export_file), "--from", "label-studio", "--video", str(h264_clip), "-o", str(root)],
    )
    assert result.exit_code == 0, result.output
    got = json.loads((root / "annotations" / "train" / "clip.json").read_text())["annotations"]
    was = json.loads(prediction.read_text())["annotations"]
    changed = []
    for a, b in zip(got, was, strict=True):
        assert (a["image_id"], a["track_id"]) == (b["image_id"], b["track_id"])
        ka, kb = np.reshape(a["keypoints"], (17, 3)), np.reshape(b["keypoints"], (17, 3))
        for k in np.flatnonzero(np.abs(ka[:, :2] - kb[:, :2]).max(1) > 0.005):
            changed.append((a["image_id"], a["track_id"], int(k), tuple(ka[k, :2])))
    assert changed == [(4, 3, 0, (30.0, 40.0))]
