"""End-to-end ``estimate``/``detect``/``track`` on a real clip: outputs, ids, resume, bad input."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from posecli.cli import app
from posecli.export.boxes import read_boxes_json, read_tracks_json
from posecli.export.coco import read_coco_json
from posecli.export.jsonl import read_jsonl
from posecli.export.posetrack import read_posetrack_json

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "demo.mp4"
runner = CliRunner()


def write_half_size_clip(path: Path, frames: int) -> None:
    """The first ``frames`` frames of the example clip at half size (884×498), H.264 in an MP4 whose
    index is at the front ("faststart"), so a cut file still opens and shows where it was cut."""
    with av.open(str(path), "w", options={"movflags": "faststart"}) as out:
        stream = out.add_stream("libx264" if "libx264" in av.codecs_available else "h264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 884, 498, "yuv420p"
        with av.open(str(EXAMPLE)) as container:
            for index, frame in enumerate(container.decode(video=0)):
                image = np.ascontiguousarray(frame.to_ndarray(format="rgb24")[:996:2, ::2])
                out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
                if index == frames - 1:
                    break
        out.mux(stream.encode())


@pytest.fixture(scope="module")
def short_clip(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """30 frames of the example clip (only the man on the roof is in them)."""
    path = tmp_path_factory.mktemp("clip") / "roof.mp4"
    write_half_size_clip(path, 30)
    return path


@pytest.mark.slow
def test_estimate_writes_every_output_and_keeps_one_track(short_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["estimate", str(short_clip), "--out-dir", str(out), "--coco", "--jsonl", "--device", "cpu", "-q"]
    )
    assert result.exit_code == 0, result.output
    frames = read_posetrack_json(out / "roof.posetrack.json")
    assert [f.frame_index for f in frames] == list(range(30))
    assert all(len(f.instances) == 1 for f in frames)
    assert len({f.instances[0].track_id for f in frames}) == 1
    # the JSON lines and the COCO file hold the same people
    lines = read_jsonl(out / "roof.jsonl")
    assert len(lines) == 30
    assert np.allclose(lines[7].instances[0].keypoints, frames[7].instances[0].keypoints, atol=1e-2)
    coco = read_coco_json(out / "roof.coco.json")
    assert sum(len(f.instances) for f in coco) == 30
    with av.open(str(out / "roof.overlay.mp4")) as overlay:
        stream = overlay.streams.video[0]
        assert (stream.codec_context.name, stream.width, stream.height) == ("h264", 884, 498)
        assert sum(1 for _ in overlay.decode(video=0)) == 30
    # no temporary or progress files are left behind
    assert sorted(p.name for p in out.iterdir()) == [
        "roof.coco.json", "roof.jsonl", "roof.overlay.mp4", "roof.posetrack.json"
    ]


@pytest.mark.slow
def test_existing_outputs_are_refused_without_exist_ok(short_clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "out"
    out.mkdir()
    (out / "roof.posetrack.json").write_text("precious")
    result = runner.invoke(app, ["estimate", str(short_clip), "--out-dir", str(out), "--device", "cpu", "-q"])
    assert result.exit_code == 1
    assert "already exists" in result.output
    assert (out / "roof.posetrack.json").read_text() == "precious"


def _run_cli(args: list[str]) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "posecli", *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )


@pytest.mark.slow
def test_resume_after_kill_gives_byte_identical_outputs(short_clip: Path, tmp_path: Path) -> None:
    common = ["estimate", str(short_clip), "--coco", "--jsonl", "--device", "cpu", "-q", "--checkpoint-every", "5"]
    whole = _run_cli([*common, "--out-dir", str(tmp_path / "whole")])
    assert whole.wait(timeout=300) == 0, whole.stderr.read().decode()

    out = tmp_path / "killed"
    killed = _run_cli([*common, "--out-dir", str(out)])
    state = out / ".roof.progress" / "state.pkl"
    deadline = time.time() + 240
    while not state.exists() and killed.poll() is None and time.time() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert state.exists(), "the run finished before a checkpoint was seen"
    assert not (out / "roof.posetrack.json").exists()

    resumed = runner.invoke(app, [*common, "--out-dir", str(out), "--resume"])
    assert resumed.exit_code == 0, resumed.output
    assert "resumed at" in resumed.output
    for name in ["roof.posetrack.json", "roof.coco.json", "roof.jsonl", "roof.overlay.mp4"]:
        assert (out / name).read_bytes() == (tmp_path / "whole" / name).read_bytes(), name
    assert not (out / ".roof.progress").exists()
    # resuming a finished video skips it
    again = runner.invoke(app, [*common, "--out-dir", str(out), "--resume"])
    assert again.exit_code == 0 and "already done" in again.output


@pytest.mark.slow
def test_detect_then_track_round_trip(short_clip: Path, tmp_path: Path) -> None:
    result = runner.invoke(app, ["detect", str(short_clip), "--out-dir", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    boxes = read_boxes_json(tmp_path / "roof.boxes.json")
    assert len(boxes.frames) == 30 and all(len(f.detections) == 1 for f in boxes.frames)
    result = runner.invoke(app, ["track", str(tmp_path / "roof.boxes.json"), "--out-dir", str(tmp_path), "-q"])
    assert result.exit_code == 0, result.output
    tracks = read_tracks_json(tmp_path / "roof.tracks.json")
    assert {p.track_id for f in tracks.frames for p in f.instances} == {0}
    assert np.allclose(tracks.frames[3].instances[0].box, boxes.frames[3].detections[0].box, atol=0.01)


def test_non_video_file_is_one_line_exit_1(tmp_path: Path) -> None:
    fake = tmp_path / "notes.mp4"
    fake.write_text("this is not a video\n" * 10)
    result = runner.invoke(app, ["estimate", str(fake), "--out-dir", str(tmp_path / "o"), "--device", "cpu", "-q"])
    assert result.exit_code == 1
    assert "notes.mp4" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_missing_file_is_one_line_exit_1(tmp_path: Path) -> None:
    result = runner.invoke(app, ["estimate", str(tmp_path / "nope.mp4"), "--out-dir", str(tmp_path), "-q"])
    assert result.exit_code == 1
    assert "nope.mp4" in result.output


def test_unreadable_boxes_json_is_one_line_exit_1(tmp_path: Path) -> None:
    bad = tmp_path / "clip.boxes.json"
    bad.write_text("{not json")
    result = runner.invoke(app, ["track", str(bad), "--out-dir", str(tmp_path), "-q"])
    assert result.exit_code == 1
    assert "clip.boxes.json" in result.output and "Traceback" not in result.output


@pytest.mark.slow
def test_truncated_video_keeps_the_decoded_frames(short_clip: Path, tmp_path: Path) -> None:
    data = short_clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: int(len(data) * 0.8)])
    result = runner.invoke(app, ["estimate", str(cut), "--out-dir", str(tmp_path / "o"), "--no-overlay", "-q", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert "truncated" in result.output
    frames = read_posetrack_json(tmp_path / "o" / "cut.posetrack.json")
    assert 0 < sum(1 for f in frames if f.instances) < 30


def test_video_cut_before_its_index_is_one_line_exit_1(tmp_path: Path) -> None:
    clip = tmp_path / "indexless.mp4"
    write_half_size_clip(clip, 3)
    data = clip.read_bytes()
    # without "faststart" the index would be at the end; cutting the front-loaded index away is the
    # same failure: the container cannot be opened
    (tmp_path / "cut.mp4").write_bytes(data[len(data) // 2 :])
    result = runner.invoke(app, ["estimate", str(tmp_path / "cut.mp4"), "--out-dir", str(tmp_path / "o"), "-q"])
    assert result.exit_code == 1
    assert "cut.mp4" in result.output and "Traceback" not in result.output


def test_track_retracks_saved_poses_with_their_keypoints(tmp_path: Path) -> None:
    """`posecli track` on a PoseTrack file re-runs the association with the people's keypoints. On this
    clip (seed 2: a crossing, an occlusion, a third person) box IoU alone swaps two people; with the
    poses the ids hold."""
    from posecli.data.synthetic import make_synthetic_video
    from posecli.export.posetrack import write_posetrack_json
    from posecli.structures import FrameResult, PoseInstance
    from posecli.video import probe_video

    video = tmp_path / "cross.mp4"
    tracks = make_synthetic_video(video, frames=48, people=3, size=(320, 240), seed=2)
    rng = np.random.default_rng(2)
    frames, truth = [], []
    for t in range(48):
        people, owners = [], []
        for track in tracks:
            if not track.visible[t]:
                continue
            kp = track.keypoints[t].astype(np.float64).copy()
            located = kp[:, 2] > 0
            kp[located, :2] += rng.normal(0.0, 1.0, (int(located.sum()), 2))
            kp[:, 2] = np.where(located, 0.9, 0.0)
            # saved ids are deliberately useless (position in the frame): tracking must redo them
            people.append(PoseInstance(keypoints=kp, box=track.boxes[t] + rng.normal(0, 1.0, 4), score=0.9,
                                       track_id=len(people)))
            owners.append(track.track_id)
        frames.append(FrameResult(t, t / 25.0, tuple(people)))
        truth.append(owners)
    source = tmp_path / "cross.posetrack.json"
    write_posetrack_json(source, frames, probe_video(video), video_name="cross")
    blind = tmp_path / "blind.posetrack.json"
    write_posetrack_json(blind, [
        FrameResult(f.frame_index, f.timestamp, tuple(
            PoseInstance(keypoints=np.zeros((17, 3)), box=p.box, score=p.score, track_id=p.track_id)
            for p in f.instances
        )) for f in frames
    ], probe_video(video), video_name="blind")

    def switches(path: Path) -> int:
        result = runner.invoke(app, ["track", str(path), "--out-dir", str(tmp_path / "out"), "-q", "--exist-ok"])
        assert result.exit_code == 0, result.output
        out = read_posetrack_json(tmp_path / "out" / f"{path.name.removesuffix('.posetrack.json')}.tracks.posetrack.json")
        count, last = 0, {}
        for frame, owners, original in zip(out, truth, frames, strict=True):
            assert len(frame.instances) == len(owners)
            for person in frame.instances:
                gt = owners[[np.allclose(person.box, p.box, atol=0.01) for p in original.instances].index(True)]
                count += gt in last and last[gt] != person.track_id
                last[gt] = person.track_id
        return count

    assert switches(source) == 0
    assert switches(blind) > 0  # the same boxes without keypoints: the poses are what kept the ids


@pytest.mark.slow
def test_example_clip_gives_two_people_with_one_id_each(tmp_path: Path) -> None:
    """The README's first command, as a user sees it: the man on the roof (who back-flips down, upside
    down and against the sun for half a second) and the walker who enters at about frame 40 and leaves
    at about frame 200 keep one track id each."""
    result = runner.invoke(app, ["estimate", str(EXAMPLE), "--out-dir", str(tmp_path), "--no-overlay", "-q"])
    assert result.exit_code == 0, result.output
    frames = read_posetrack_json(tmp_path / "demo.posetrack.json")
    assert len(frames) == 230
    assert {p.track_id for f in frames for p in f.instances} == {0, 1}
    both = [f for f in frames if 45 <= f.frame_index < 195]
    assert sum(len(f.instances) == 2 for f in both) >= 0.85 * len(both)
    assert sum(len(f.instances) >= 1 for f in frames) >= 0.95 * len(frames)
    # the roof man is id 0 from the first frame to the landing (frames 200+), never the walker's id; the
    # walker's last half (frame 200, at the left edge) is still in view and still found, so from 201
    first, landing = frames[0].instances, [f for f in frames if f.frame_index in range(201, 225)]
    assert [p.track_id for p in first] == [0]
    assert all([p.track_id for p in f.instances] == [0] for f in landing if f.instances)
