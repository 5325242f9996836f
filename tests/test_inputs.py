"""posecli/inputs.py and URL reading: files, folders of videos, frame folders, globs and http:// URLs."""

from __future__ import annotations

import shutil
import socket
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from posecli import video as video_module
from posecli.cli import app
from posecli.errors import PoseCliError
from posecli.inputs import expand_inputs, is_url, source_name, source_stem, video_source
from posecli.video import VideoReader, probe_video

runner = CliRunner()


def _videos(folder: Path, names: list[str], clip: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = [folder / name for name in names]
    for path in paths:
        shutil.copy(clip, path)
    return paths


def test_a_folder_of_videos_gives_every_video_sorted(tmp_path: Path, h264_clip: Path) -> None:
    b, a, c = _videos(tmp_path / "videos", ["b.mp4", "a.MOV", "c.mkv"], h264_clip)
    (tmp_path / "videos" / "notes.txt").write_text("not a video")
    (tmp_path / "videos" / ".a.mp4.x1y2z3w4.tmp.mp4").write_bytes(b"")  # a temporary file is no input
    assert expand_inputs([str(tmp_path / "videos")]) == [a, b, c]


def test_a_frame_folder_stays_one_video(tmp_path: Path, h264_clip: Path) -> None:
    frames = tmp_path / "000342_mpii_test"
    frames.mkdir()
    for i in range(3):
        cv2.imwrite(str(frames / f"{i:06d}.jpg"), np.zeros((32, 48, 3), np.uint8))
    shutil.copy(h264_clip, frames / "preview.mp4")  # frame images decide: still one frame folder
    assert expand_inputs([frames]) == [frames]
    assert source_stem(frames) == "000342_mpii_test"


def test_files_and_globs_keep_command_line_order(tmp_path: Path, h264_clip: Path) -> None:
    x, y = _videos(tmp_path / "clips", ["x.mp4", "y.mp4"], h264_clip)
    (z,) = _videos(tmp_path / "more", ["z.webm"], h264_clip)
    assert expand_inputs([z, str(tmp_path / "clips" / "*.mp4")]) == [z, x, y]
    assert expand_inputs([str(tmp_path / "**" / "*.webm")]) == [z]


def test_empty_folder_and_unmatched_pattern_are_one_line(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(PoseCliError, match="holds no video files"):
        expand_inputs([tmp_path / "empty"])
    with pytest.raises(PoseCliError, match="matches no video file"):
        expand_inputs([str(tmp_path / "*.mp4")])
    missing = tmp_path / "missing.mp4"
    assert expand_inputs([missing]) == [missing]  # left to the reader, which names it


def test_urls_stay_text_and_are_named_by_their_file() -> None:
    url = "http://127.0.0.1:8000/videos/My%20Clip.mp4?token=1"
    assert is_url(url) and not is_url(Path("http:/x"))
    assert expand_inputs([url]) == [url] and video_source(url) == url
    assert source_name(url) == "My Clip.mp4" and source_stem(url) == "My Clip"
    assert source_stem("rtsp://camera.local/live") == "live"
    assert video_source("clips/a.mp4") == Path("clips/a.mp4")


def test_a_served_clip_reads_like_the_file(served_dir: tuple[Path, str], h264_clip: Path) -> None:
    root, base = served_dir
    shutil.copy(h264_clip, root / "clip.mp4")
    url = f"{base}/clip.mp4"
    info = probe_video(url)
    assert info.path == url and (info.width, info.height, info.backend) == (96, 64, "pyav")
    from_url = [f.image for f in VideoReader(url)]
    from_file = [f.image for f in VideoReader(h264_clip, backend="pyav")]
    assert len(from_url) == 6 and all((a == b).all() for a, b in zip(from_url, from_file))


def test_estimate_names_a_url_s_outputs_by_its_file(served_dir: tuple[Path, str], h264_clip: Path, tmp_path: Path) -> None:
    root, base = served_dir
    shutil.copy(h264_clip, root / "walk.mp4")
    out = tmp_path / "out"
    result = runner.invoke(app, ["estimate", f"{base}/walk.mp4", "-o", str(out), "-q", "--min-track-len", "1"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["walk.overlay.mp4", "walk.posetrack.json"]
    clash = runner.invoke(app, ["estimate", f"{base}/walk.mp4", str(h264_clip.with_name("walk.mp4")), "-o", str(out)])
    assert clash.exit_code == 1


def test_estimate_takes_a_folder_of_videos(tmp_path: Path, h264_clip: Path) -> None:
    _videos(tmp_path / "videos", ["one.mp4", "two.mp4"], h264_clip)
    out = tmp_path / "out"
    result = runner.invoke(app, ["estimate", str(tmp_path / "videos"), "-o", str(out), "-q", "--no-overlay", "--min-track-len", "1"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["one.posetrack.json", "two.posetrack.json"]


def test_a_url_that_does_not_answer_fails_in_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """A server that accepts the connection and never replies: refused after the timeout, no hang."""
    monkeypatch.setattr(video_module, "NETWORK_TIMEOUT_S", 1.0)
    with socket.socket() as silent:
        silent.bind(("127.0.0.1", 0))
        silent.listen(4)
        url = f"http://127.0.0.1:{silent.getsockname()[1]}/clip.mp4"
        result = runner.invoke(app, ["estimate", url, "-o", str(tmp_path / "out")])
        with pytest.raises(PoseCliError, match="cannot open the URL"):
            probe_video(url)
    assert result.exit_code == 1 and "cannot open the URL" in result.output and "Traceback" not in result.output


def test_a_closed_port_fails_in_one_line(tmp_path: Path) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]  # closed again when the block ends: nothing listens there
    result = runner.invoke(app, ["estimate", f"http://127.0.0.1:{port}/clip.mp4", "-o", str(tmp_path / "out")])
    assert result.exit_code == 1
    assert f"http://127.0.0.1:{port}/clip.mp4: cannot open the URL" in result.output
    assert len(result.output.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()


def test_detect_takes_a_glob_of_videos(tmp_path: Path, h264_clip: Path) -> None:
    _videos(tmp_path / "videos", ["one.mp4", "two.mp4", "three.mkv"], h264_clip)
    out = tmp_path / "out"
    result = runner.invoke(app, ["detect", str(tmp_path / "videos" / "*.mp4"), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in out.iterdir()) == ["one.boxes.json", "two.boxes.json"]
