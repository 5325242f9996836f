"""``posecli render``: redraw saved poses (PoseTrack, COCO, JSON lines) on their video, with a style."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from typer.testing import CliRunner

from posecli.cli import app
from posecli.export.coco import write_coco_json
from posecli.export.jsonl import JsonlWriter
from posecli.export.overlay import DEFAULT_KPT_THR, track_colour
from posecli.export.posetrack import write_posetrack_json
from posecli.structures import FrameResult, PoseInstance
from posecli.video import VideoReader, probe_video

runner = CliRunner()
WIDTH, HEIGHT, FRAMES = 160, 120, 8


def _clip(path: Path, audio: bool = False) -> Path:
    """A grey 160x120 clip of 8 frames at 25 fps, with a 440 Hz AAC tone when ``audio``."""
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264" if "libx264" in av.codecs_available else "h264", rate=25)
        video.width, video.height, video.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        if audio:
            sound = out.add_stream("aac", rate=44100)
            sound.layout = "mono"
            tone = np.sin(2 * np.pi * 440 * np.arange(int(44100 * FRAMES / 25)) / 44100).astype(np.float32)
            for start in range(0, len(tone), 1024):
                frame = av.AudioFrame.from_ndarray(tone[None, start : start + 1024], format="fltp", layout="mono")
                frame.sample_rate, frame.pts, frame.time_base = 44100, start, Fraction(1, 44100)
                out.mux(sound.encode(frame))
            out.mux(sound.encode())
        for _ in range(FRAMES):
            out.mux(video.encode(av.VideoFrame.from_ndarray(np.full((HEIGHT, WIDTH, 3), 40, np.uint8), format="rgb24")))
        out.mux(video.encode())
    return path


def _person(track_id: int, x: float, score: float = 0.9) -> PoseInstance:
    """A standing person centred on column ``x`` (head at row 20, ankles at 105), joints scored ``score``.

    Its thighs run straight down from (x ± 8, 60) to (x ± 8, 85): a limb to look for.
    """
    layout = {0: (0, 25), 1: (0, 32), 2: (0, 18), 5: (12, 38), 6: (-12, 38), 7: (16, 50), 8: (-16, 50),
              9: (18, 60), 10: (-18, 60), 11: (8, 60), 12: (-8, 60), 13: (8, 85), 14: (-8, 85),
              15: (8, 105), 16: (-8, 105)}  # fmt: skip
    keypoints = np.zeros((17, 3))  # ears (3, 4) unlocated
    for slot, (dx, y) in layout.items():
        keypoints[slot] = (x + dx, y, score)
    return PoseInstance(keypoints=keypoints, box=np.array([x - 20, 15, x + 20, 108]), score=0.9, track_id=track_id)


def _results(score: float = 0.9) -> list[FrameResult]:
    return [FrameResult(i, i / 25, (_person(2, 40 + 2 * i, score), _person(5, 120, score))) for i in range(FRAMES)]


def _write(kind: str, folder: Path, results: list[FrameResult], source: Path) -> Path:
    info = probe_video(source)
    if kind == "posetrack":
        path = folder / "clip.posetrack.json"
        write_posetrack_json(path, results, info, video_name="clip")
    elif kind == "coco":
        path = folder / "clip.coco.json"
        write_coco_json(path, results, info, video_name="clip")
    else:
        path = folder / "clip.jsonl"
        with JsonlWriter(path) as lines:
            for result in results:
                lines.write(result)
    return path


def _frames(path: Path) -> list[np.ndarray]:
    return [frame.image for frame in VideoReader(path, backend="pyav")]


def _near(image: np.ndarray, colour: tuple[int, int, int], tolerance: int = 60) -> np.ndarray:
    return (np.abs(image.astype(int) - np.array(colour)) <= tolerance).all(axis=-1)


@pytest.mark.parametrize("kind", ["posetrack", "coco", "jsonl"])
def test_render_redraws_every_format(tmp_path: Path, kind: str) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    predictions = _write(kind, tmp_path, _results(), clip)
    out = tmp_path / "out" / "redrawn.mp4"
    result = runner.invoke(app, ["render", str(predictions), "--video", str(clip), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output
    frames = _frames(out)
    assert len(frames) == FRAMES and frames[0].shape == (HEIGHT, WIDTH, 3)
    # person 5 stands at x = 120 in every frame, person 2 moves right by 2 px a frame
    assert _near(frames[3], track_colour(5))[68:78, 126:131].sum() > 5  # right thigh at x = 128
    assert _near(frames[7], track_colour(2))[68:78, 60:65].sum() > 5  # person 2's thigh at x = 54 + 8
    assert _near(frames[7], track_colour(2))[68:78, 46:51].sum() > 5  # its other thigh, x = 54 - 8
    # where its right thigh was at frame 0 (x = 40 - 8); its box's left edge is now at x = 34, not in the window
    assert _near(frames[7], track_colour(2))[68:78, 28:34].sum() == 0
    assert sorted(p.name for p in out.parent.iterdir()) == ["redrawn.mp4"]  # nothing temporary left


def test_style_options_reach_the_drawing(tmp_path: Path) -> None:
    """Joints scored 0.5: drawn at the default --kpt-thr, hidden at --kpt-thr 0.6; --no-ids drops labels."""
    clip = _clip(tmp_path / "clip.mp4")
    predictions = _write("posetrack", tmp_path, _results(score=0.5), clip)
    assert DEFAULT_KPT_THR < 0.5
    runs = {
        "default": [],
        "high": ["--kpt-thr", "0.6"],
        "thick": ["--thickness", "4", "--radius", "6", "--no-ids"],
        "no-ids": ["--no-ids"],
    }
    frames = {}
    for name, extra in runs.items():
        out = tmp_path / f"{name}.mp4"
        result = runner.invoke(app, ["render", str(predictions), "--video", str(clip), "-o", str(out), "-q", *extra])
        assert result.exit_code == 0, result.output
        frames[name] = _frames(out)[0]
    limb = (slice(66, 80), slice(125, 132))  # person 5's right thigh
    assert _near(frames["default"], track_colour(5))[limb].sum() > 10
    assert _near(frames["high"], track_colour(5))[limb].sum() == 0
    wide = (slice(66, 80), slice(110, 135))
    assert _near(frames["thick"], track_colour(5))[wide].sum() > 1.5 * _near(frames["no-ids"], track_colour(5))[wide].sum()
    label = (slice(0, 14), slice(100, 130))  # above person 5's box (top left 100, 15)
    assert _near(frames["default"], track_colour(5))[label].sum() > 50
    assert _near(frames["no-ids"], track_colour(5))[label].sum() == 0


@pytest.mark.parametrize("image_format", ["png", "jpg"])
def test_frames_folder_holds_one_image_per_frame(tmp_path: Path, image_format: str) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    predictions = _write("jsonl", tmp_path, _results(), clip)
    folder = tmp_path / "frames"
    result = runner.invoke(
        app, ["render", str(predictions), "--video", str(clip), "--frames", str(folder), "--frame-format", image_format, "-q"]
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in folder.iterdir()) == [f"{i:06d}.{image_format}" for i in range(FRAMES)]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["clip.jsonl", "clip.mp4", "frames"]  # no partial folder
    import cv2

    image = cv2.cvtColor(cv2.imread(str(folder / f"000003.{image_format}")), cv2.COLOR_BGR2RGB)
    assert _near(image, track_colour(5))[68:78, 126:131].sum() > 5
    again = runner.invoke(app, ["render", str(predictions), "--video", str(clip), "--frames", str(folder), "-q"])
    assert again.exit_code == 1 and "already exists" in again.output


def test_render_keeps_the_audio(tmp_path: Path) -> None:
    clip = _clip(tmp_path / "clip.mp4", audio=True)
    predictions = _write("posetrack", tmp_path, _results(), clip)
    out = tmp_path / "redrawn.mp4"
    result = runner.invoke(app, ["render", str(predictions), "--video", str(clip), "-o", str(out), "-q"])
    assert result.exit_code == 0, result.output

    def audio_seconds(path: Path) -> float:
        with av.open(str(path)) as container:
            stream = container.streams.audio[0]
            return max(float((p.pts + p.duration) * p.time_base) for p in container.demux(stream) if p.pts is not None)

    assert abs(audio_seconds(out) - audio_seconds(clip)) <= 0.1


def _one_line_error(args: list[str], expected: str) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 1, result.output
    assert expected in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1


def test_predictions_of_another_video_are_refused(tmp_path: Path) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    small = tmp_path / "small.mp4"
    with av.open(str(small), "w") as out:  # 64x48: another size, 3 frames
        stream = out.add_stream("libx264" if "libx264" in av.codecs_available else "h264", rate=25)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(3):
            out.mux(stream.encode(av.VideoFrame.from_ndarray(np.zeros((48, 64, 3), np.uint8), format="rgb24")))
        out.mux(stream.encode())
    out = tmp_path / "o.mp4"
    posetrack = _write("posetrack", tmp_path, _results(), clip)
    _one_line_error(["render", str(posetrack), "--video", str(small), "-o", str(out)], "made for a 160x120 video")
    coco = _write("coco", tmp_path, _results(), clip)
    _one_line_error(["render", str(coco), "--video", str(small), "-o", str(out)], "outside the 64x48 frames")
    # same size, fewer frames than the predictions
    short = tmp_path / "short.mp4"
    _clip(short)
    many = [FrameResult(i, i / 25, (_person(1, 50),)) for i in range(FRAMES + 4)]
    lines = tmp_path / "many.jsonl"
    with JsonlWriter(lines) as writer:
        for result in many:
            writer.write(result)
    _one_line_error(["render", str(lines), "--video", str(short), "-o", str(out)], f"has {FRAMES} frames")
    assert not out.exists()


def test_bad_inputs_are_one_line(tmp_path: Path) -> None:
    clip = _clip(tmp_path / "clip.mp4")
    predictions = _write("posetrack", tmp_path, _results(), clip)
    out = str(tmp_path / "o.mp4")
    _one_line_error(["render", str(predictions), "--video", str(tmp_path / "missing.mp4"), "-o", out], "missing.mp4")
    _one_line_error(["render", str(tmp_path / "none.json"), "--video", str(clip), "-o", out], "none.json")
    unknown = tmp_path / "unknown.json"
    unknown.write_text('{"people": []}')
    _one_line_error(["render", str(unknown), "--video", str(clip), "-o", out], "not a posecli prediction")
    broken = tmp_path / "broken.json"
    broken.write_text('{"images": [{"id": 0}], "annotations": [{"image_id": 7, "track_id": 0, "keypoints": []}]}')
    _one_line_error(["render", str(broken), "--video", str(clip), "-o", out], "broken.json")
    assert not Path(out).exists()


def test_render_reads_the_video_from_a_url(tmp_path: Path, served_dir: tuple[Path, str], monkeypatch: pytest.MonkeyPatch) -> None:
    """--video URL: read through PyAV (audio included); without -o the overlay is named by the URL's file."""
    root, base = served_dir
    clip = _clip(root / "walk.mp4", audio=True)
    predictions = _write("posetrack", tmp_path, _results(), clip)
    monkeypatch.chdir(tmp_path)
    result = runner.invoke(app, ["render", str(predictions), "--video", f"{base}/walk.mp4?session=1", "-q"])
    assert result.exit_code == 0, result.output
    out = tmp_path / "runs" / "render" / "walk.overlay.mp4"
    assert len(_frames(out)) == FRAMES
    with av.open(str(out)) as container:
        assert len(container.streams.audio) == 1


def test_render_reads_a_posetrack_2017_file(tmp_path: Path) -> None:
    """A hand-corrected 2017 annolist (no scores): every listed joint is drawn; frame = list position."""
    import json

    from posecli.export.posetrack import annolist_frame, annolist_person, annolist_point
    from posecli.keypoints import POSEVAL_ID_OF_SLOT

    clip = _clip(tmp_path / "clip.mp4")
    frames = []
    for i, result in enumerate(_results()):
        rects = []
        for person in result.instances:
            points = [
                annolist_point(POSEVAL_ID_OF_SLOT[slot], float(x), float(y))
                for slot, (x, y, s) in enumerate(person.keypoints) if slot in POSEVAL_ID_OF_SLOT and s > 0
            ]
            rects.append(annolist_person(person.track_id, points))
        frames.append(annolist_frame(f"images/clip/{i + 1:06d}.jpg", i + 1, True, rects))
    predictions = tmp_path / "clip.json"
    predictions.write_text(json.dumps({"annolist": frames}))
    out = tmp_path / "redrawn.mp4"
    result = runner.invoke(app, ["render", str(predictions), "--video", str(clip), "-o", str(out), "--kpt-thr", "0.99"])
    assert result.exit_code == 0, result.output
    assert "PoseTrack 2017" in result.output
    drawn = _frames(out)
    assert _near(drawn[7], track_colour(2))[68:78, 60:65].sum() > 5
    assert _near(drawn[3], track_colour(5))[68:78, 126:131].sum() > 5


def test_a_render_that_fails_part_way_leaves_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from posecli import render as render_job
    from posecli.errors import PoseCliError

    clip = _clip(tmp_path / "clip.mp4")
    predictions = _write("jsonl", tmp_path, _results(), clip)
    drawn = []

    def failing_draw(image, result, style):
        drawn.append(result.frame_index)
        if len(drawn) == 4:
            raise PoseCliError("disk full (simulated)")
        return image

    monkeypatch.setattr(render_job, "draw_frame", failing_draw)
    out = tmp_path / "out"
    result = runner.invoke(
        app, ["render", str(predictions), "--video", str(clip), "-o", str(out / "o.mp4"), "--frames", str(out / "frames")]
    )
    assert result.exit_code == 1 and "disk full" in result.output
    assert list(out.iterdir()) == []  # no overlay, no frames folder, no temporary file or folder
