"""Tests for posecli/export/overlay.py: colours per track, limbs on the right joints, the drawing style
(--kpt-thr, --radius, --thickness, --no-ids), label placement, and the overlay video with the audio
it carries over from its source."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from posecli.export.overlay import PALETTE, DrawStyle, OverlayVideo, draw_frame, place_labels, track_colour
from posecli.keypoints import POSETRACK_KEYPOINTS
from posecli.structures import FrameResult, PoseInstance
from posecli.video import VideoReader, probe_video

SLOT = POSETRACK_KEYPOINTS.index


def standing_person(track_id: int | None, dx: float = 0.0) -> PoseInstance:
    """A simple upright skeleton in a 320x240 frame; the left wrist is uncertain (score 0.1)."""
    points = {
        "nose": (80, 40),
        "head_bottom": (80, 55),
        "head_top": (80, 25),
        "left_shoulder": (100, 65),
        "right_shoulder": (60, 65),
        "left_elbow": (110, 100),
        "right_elbow": (50, 100),
        "left_wrist": (115, 135),
        "right_wrist": (45, 135),
        "left_hip": (95, 140),
        "right_hip": (65, 140),
        "left_knee": (97, 180),
        "right_knee": (63, 180),
        "left_ankle": (99, 220),
        "right_ankle": (61, 220),
    }
    keypoints = np.zeros((17, 3))
    for name, (x, y) in points.items():
        keypoints[SLOT(name)] = (x + dx, y, 0.9)
    keypoints[SLOT("left_wrist"), 2] = 0.1
    return PoseInstance(
        keypoints=keypoints, box=np.array([40 + dx, 20, 120 + dx, 230]), score=0.9, track_id=track_id
    )


def colour_mask(image: np.ndarray, colour: tuple[int, int, int], tolerance: int = 40) -> np.ndarray:
    return (np.abs(image.astype(int) - np.array(colour)) <= tolerance).all(axis=-1)


def test_limbs_are_drawn_in_the_track_colour(tmp_path: Path) -> None:
    image = np.full((240, 320, 3), 30, np.uint8)
    result = FrameResult(0, 0.0, (standing_person(track_id=3), standing_person(track_id=4, dx=150)))
    drawn = draw_frame(image, result)
    assert drawn is not image and (image == 30).all()  # the input frame is left untouched
    png = tmp_path / "overlay.png"
    cv2.imwrite(str(png), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
    saved = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
    colour = track_colour(3)
    assert colour == PALETTE[3] and track_colour(4) != colour
    mask = colour_mask(saved, colour)

    def along(a: str, b: str, person_dx: float = 0.0) -> float:
        """Fraction of points on the segment a-b (away from the joints) that carry ``colour``."""
        pa, pb = (
            np.array(standing_person(0).keypoints[SLOT(a), :2]),
            np.array(standing_person(0).keypoints[SLOT(b), :2]),
        )
        hits = []
        for t in np.linspace(0.25, 0.75, 11):
            x, y = (pa + t * (pb - pa)).round().astype(int)
            hits.append(mask[y - 1 : y + 2, x + int(person_dx) - 1 : x + int(person_dx) + 2].any())
        return float(np.mean(hits))

    assert along("left_shoulder", "left_elbow") == 1.0
    assert along("right_hip", "right_knee") == 1.0
    assert along("left_knee", "left_ankle") == 1.0
    assert along("left_elbow", "left_wrist") == 0.0  # the wrist is below the score threshold
    assert along("left_shoulder", "left_elbow", person_dx=150) == 0.0  # the other person has another colour
    assert colour_mask(saved, track_colour(4))[90:110, 255:265].any()
    # The id label sits above the box, in a filled box of the track colour.
    assert mask[:20, 40:80].sum() > 100


def test_lower_threshold_draws_the_uncertain_limb() -> None:
    image = np.zeros((240, 320, 3), np.uint8)
    drawn = draw_frame(image, FrameResult(0, 0.0, (standing_person(track_id=0),)), DrawStyle(kpt_thr=0.05))
    x, y = (110 + 115) // 2, (100 + 135) // 2
    assert colour_mask(drawn, track_colour(0))[y - 1 : y + 2, x - 1 : x + 2].any()


def test_untracked_people_are_grey_and_colours_are_stable() -> None:
    assert track_colour(None) == (160, 160, 160)
    assert track_colour(7) == track_colour(7 + len(PALETTE))
    drawn = draw_frame(np.zeros((240, 320, 3), np.uint8), FrameResult(0, 0.0, (standing_person(None),)))
    assert colour_mask(drawn, (160, 160, 160), tolerance=10).sum() > 200


def test_overlay_video(tmp_path: Path, video_info) -> None:
    path = tmp_path / "clip.overlay.mp4"
    frames = [np.full((240, 320, 3), 30, np.uint8) for _ in range(4)]
    with OverlayVideo(path, video_info) as video:
        for i, image in enumerate(frames):
            video.write(image, FrameResult(i, i / 25, (standing_person(track_id=3, dx=10 * i),)))
    decoded = [f.image for f in VideoReader(path, backend="pyav")]
    assert len(decoded) == 4 and decoded[0].shape == (240, 320, 3)
    assert colour_mask(decoded[2], track_colour(3), tolerance=60)[75:95, 120:130].any()


def _overlap(a: tuple[int, int, int, int], b: tuple[int, int, int, int]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_labels_of_people_with_the_same_box_do_not_intersect() -> None:
    rects = place_labels([(40, 20)] * 3, [(30, 14)] * 3, (320, 240))
    assert rects[0] == (40, 6, 70, 20)  # the first sits right above its box
    for i, a in enumerate(rects):
        assert 0 <= a[0] and 0 <= a[1] and a[2] <= 320 and a[3] <= 240
        assert all(not _overlap(a, b) for b in rects[i + 1 :])


def test_a_label_that_would_leave_the_frame_is_moved_inside() -> None:
    (rect,) = place_labels([(-15, 3)], [(30, 14)], (320, 240))
    assert rect == (0, 0, 30, 14)
    (rect,) = place_labels([(310, 100)], [(30, 14)], (320, 240))
    assert rect == (290, 86, 320, 100)


def test_drawn_labels_of_coinciding_people_stay_readable() -> None:
    """Two people with the same box: both labels are drawn, each in its own track colour, apart."""
    image = np.zeros((240, 320, 3), np.uint8)
    drawn = draw_frame(image, FrameResult(0, 0.0, (standing_person(3), standing_person(4))))
    first, second = colour_mask(drawn, track_colour(3), 5), colour_mask(drawn, track_colour(4), 5)
    # Rows across the labels' columns that are mostly one colour: the filled label backgrounds (the box
    # and limbs cross these columns in a few pixels only).
    rows3 = set(np.flatnonzero(first[:, 40:70].sum(axis=1) >= 8))
    rows4 = set(np.flatnonzero(second[:, 40:70].sum(axis=1) >= 8))
    assert len(rows3) >= 10 and len(rows4) >= 10
    assert not rows3 & rows4


def test_no_ids_draws_no_label() -> None:
    image = np.zeros((240, 320, 3), np.uint8)
    result = FrameResult(0, 0.0, (standing_person(3),))
    with_ids = colour_mask(draw_frame(image, result), track_colour(3))[:19, 40:80].sum()
    without = colour_mask(draw_frame(image, result, DrawStyle(show_ids=False)), track_colour(3))[:19, 40:80].sum()
    assert with_ids > 100 and without == 0


def test_kpt_thr_hides_joints_below_it() -> None:
    image = np.zeros((240, 320, 3), np.uint8)
    result = FrameResult(0, 0.0, (standing_person(0),))  # every joint 0.9 but the left wrist (0.1)
    shown = colour_mask(draw_frame(image, result, DrawStyle(kpt_thr=0.5)), track_colour(0))
    hidden = colour_mask(draw_frame(image, result, DrawStyle(kpt_thr=0.95)), track_colour(0))
    assert shown[95:105, 105:115].any()  # the left elbow (110, 100)
    assert not hidden[95:105, 105:115].any()


def test_radius_and_thickness_set_the_sizes() -> None:
    image = np.zeros((240, 320, 3), np.uint8)
    result = FrameResult(0, 0.0, (standing_person(0),))
    thin = colour_mask(draw_frame(image, result, DrawStyle(radius=1, thickness=1, show_ids=False)), track_colour(0)).sum()
    thick = colour_mask(draw_frame(image, result, DrawStyle(radius=6, thickness=5, show_ids=False)), track_colour(0)).sum()
    assert thick > 2.5 * thin
    with pytest.raises(ValueError, match="thickness"):
        DrawStyle(thickness=0)


def _clip_with_audio(path: Path, codec: str, seconds: float = 2.0, fps: int = 25) -> None:
    """A 64x48 clip of ``seconds`` with a 440 Hz tone in ``codec`` (generated, not a fixture file)."""
    rate = 44100
    with av.open(str(path), "w") as out:
        video = out.add_stream("libx264" if "libx264" in av.codecs_available else "h264", rate=fps)
        video.width, video.height, video.pix_fmt = 64, 48, "yuv420p"
        audio = out.add_stream(codec, rate=rate)
        audio.layout = "mono"
        samples = np.sin(2 * np.pi * 440 * np.arange(int(seconds * rate)) / rate)
        fmt = "s16" if codec.startswith("pcm") else "fltp"
        data = (samples * 8000).astype(np.int16) if fmt == "s16" else samples.astype(np.float32)
        step = 1024
        for start in range(0, len(data), step):
            frame = av.AudioFrame.from_ndarray(data[None, start : start + step], format=fmt, layout="mono")
            frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
            out.mux(audio.encode(frame))
        out.mux(audio.encode())
        for i in range(int(seconds * fps)):
            out.mux(video.encode(av.VideoFrame.from_ndarray(np.full((48, 64, 3), i * 5 % 255, np.uint8), format="rgb24")))
        out.mux(video.encode())


def _durations(path: Path) -> dict[str, float]:
    with av.open(str(path)) as container:
        out = {}
        for stream in container.streams:
            if stream.type in ("audio", "video"):
                ends = [float((p.pts + p.duration) * p.time_base) for p in container.demux(stream) if p.pts is not None]
                container.seek(0)
                out[stream.type] = max(ends)
        return out


@pytest.mark.parametrize(("container", "codec"), [("mp4", "aac"), ("mkv", "pcm_s16le")])
def test_overlay_keeps_the_source_audio(tmp_path: Path, container: str, codec: str) -> None:
    """AAC is copied; PCM (which MP4 does not take) is re-encoded to AAC. Same duration ±0.1 s."""
    source = tmp_path / f"tone.{container}"
    _clip_with_audio(source, codec)
    info = probe_video(source)
    with OverlayVideo(tmp_path / "out.mp4", info, audio_from=source) as overlay:
        for i in range(info.num_frames or 50):
            overlay.write(np.zeros((48, 64, 3), np.uint8), FrameResult(i, i / 25, ()))
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert [s.codec_context.name for s in out.streams.audio] == ["aac"]
    durations = _durations(tmp_path / "out.mp4")
    assert abs(durations["audio"] - _durations(source)["audio"]) <= 0.1
    assert abs(durations["audio"] - durations["video"]) <= 0.1


def test_a_source_without_audio_gives_a_silent_overlay(h264_clip: Path, tmp_path: Path) -> None:
    info = probe_video(h264_clip)
    with OverlayVideo(tmp_path / "out.mp4", info, audio_from=h264_clip) as overlay:
        for i in range(6):
            overlay.write(np.zeros((64, 96, 3), np.uint8), FrameResult(i, i / 25, ()))
    with av.open(str(tmp_path / "out.mp4")) as out:
        assert len(out.streams.audio) == 0 and out.streams.video[0].frames == 6
