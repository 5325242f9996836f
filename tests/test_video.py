"""Tests for posecli/video.py: both decoding backends, fallback, rotation, bad input, folders, writer."""

from __future__ import annotations

import gc
import warnings
import weakref
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from posecli.errors import PoseCliError
from posecli.video import VideoReader, VideoWarning, probe_video
from posecli.video_writer import VideoWriter

EXAMPLE = Path(__file__).resolve().parents[1] / "examples" / "demo.mp4"
BITS = 8  # frame number drawn as 8 black/white blocks along the bottom edge
BLOCK = 8

try:
    import decord

    HAVE_DECORD = True
except ImportError:
    HAVE_DECORD = False
needs_decord = pytest.mark.skipif(not HAVE_DECORD, reason="decord is not installed")


def synthetic_frame(index: int, width: int = 96, height: int = 64) -> np.ndarray:
    """``(height, width, 3)`` uint8 RGB: the frame number coded in blocks at the bottom, a red block at
    the top-left corner (to check rotation) and a noisy middle (so frames take bytes in the file)."""
    image = np.full((height, width, 3), 40, np.uint8)
    for bit in range(BITS):
        if (index >> bit) & 1:
            image[height - BLOCK :, bit * BLOCK : (bit + 1) * BLOCK] = 255
    image[:BLOCK, :BLOCK] = (255, 0, 0)
    rng = np.random.default_rng(index)
    image[12 : height - 12, 12 : width - 12] = rng.integers(
        0, 255, (height - 24, width - 24, 3), dtype=np.uint8
    )
    return image


def read_number(image: np.ndarray) -> int:
    """Decode the frame number drawn by ``synthetic_frame`` (upright image)."""
    height = image.shape[0]
    value = 0
    for bit in range(BITS):
        block = image[height - BLOCK + 2 : height - 2, bit * BLOCK + 2 : (bit + 1) * BLOCK - 2]
        if block.mean() > 128:
            value |= 1 << bit
    return value


def write_clip(
    path: Path,
    frames: int = 30,
    width: int = 96,
    height: int = 64,
    fps: int = 25,
    rotation: int | None = None,
    gop: int | None = None,
) -> Path:
    """An H.264 MP4 written with PyAV directly (moov first, so a cut file keeps its index).

    ``rotation``: counter-clockwise display-matrix angle (PyAV's convention), as phones record it.
    """
    with av.open(str(path), "w", options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if rotation is not None:
            stream.set_display_rotation(rotation)
        if gop is not None:
            stream.codec_context.gop_size = gop  # frequent keyframes: seeking lands mid-stream
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(synthetic_frame(i, width, height), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


@pytest.fixture()
def clip(tmp_path: Path) -> Path:
    return write_clip(tmp_path / "clip.mp4")


def decode_all(path: Path, backend: str, start: int = 0) -> list[tuple[int, float, np.ndarray]]:
    with VideoReader(path, backend=backend, start=start) as reader:
        return [(f.index, f.timestamp, f.image) for f in reader]


def test_probe_reports_stream_facts(clip: Path) -> None:
    info = probe_video(clip)
    assert (info.fps, info.num_frames, info.width, info.height, info.rotation) == (25.0, 30, 96, 64, 0)
    assert info.frame_count_exact
    assert info.backend == ("decord" if HAVE_DECORD else "pyav")


def test_pyav_frames_in_order_with_timestamps(clip: Path) -> None:
    frames = decode_all(clip, "pyav")
    assert [i for i, _, _ in frames] == list(range(30))
    assert [read_number(image) for _, _, image in frames] == list(range(30))
    assert np.allclose([t for _, t, _ in frames], np.arange(30) / 25.0, atol=1e-6)
    image = frames[0][2]
    assert image.shape == (64, 96, 3) and image.dtype == np.uint8 and image.flags.c_contiguous
    assert image[:BLOCK, :BLOCK, 0].mean() > 200 and image[:BLOCK, :BLOCK, 2].mean() < 60  # RGB order


@needs_decord
def test_decord_and_pyav_give_the_same_frames(clip: Path) -> None:
    by_decord = decode_all(clip, "decord")
    by_pyav = decode_all(clip, "pyav")
    assert [i for i, _, _ in by_decord] == [i for i, _, _ in by_pyav] == list(range(30))
    for (_, t_d, a), (_, t_p, b) in zip(by_decord, by_pyav):
        assert abs(t_d - t_p) < 1e-3
        # Same decoder output; only the YUV->RGB conversion may round differently.
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 2.0


@pytest.mark.parametrize("backend", ["pyav", pytest.param("decord", marks=needs_decord)])
def test_start_skips_frames_exactly(clip: Path, backend: str) -> None:
    full = decode_all(clip, "pyav")
    resumed = decode_all(clip, backend, start=17)
    assert [i for i, _, _ in resumed] == list(range(17, 30))
    assert [read_number(image) for _, _, image in resumed] == list(range(17, 30))
    for (_, _, a), (_, _, b) in zip(resumed, full[17:]):
        assert np.abs(a.astype(int) - b.astype(int)).mean() < 2.0
    assert decode_all(clip, backend, start=30) == []


@needs_decord
def test_decord_failure_mid_stream_falls_back_without_loss(
    clip: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import decord

    original = decord.VideoReader.next
    calls = {"n": 0}

    def failing_next(self: decord.VideoReader) -> decord.nd.NDArray:
        calls["n"] += 1
        if calls["n"] > 7:
            raise decord.DECORDError("simulated decoder failure")
        return original(self)

    monkeypatch.setattr(decord.VideoReader, "next", failing_next)
    reader = VideoReader(clip)
    numbers = [(f.index, read_number(f.image)) for f in reader]
    assert numbers == [(i, i) for i in range(30)]
    assert reader.backend_used == ["decord", "pyav"]
    assert not reader.truncated


@pytest.mark.slow
def test_example_vp9_clip_reads_all_230_frames_in_order() -> None:
    """decord 0.6.0 stops on this VP9 clip after a few frames: ``auto`` reads VP9 with PyAV from the
    start, and a forced decord run continues with PyAV where decord stopped; both give every frame."""
    thumbs_pyav = [f.image[::32, ::32].astype(int) for f in VideoReader(EXAMPLE, backend="pyav")]
    assert VideoReader(EXAMPLE).info.backend == "pyav" and VideoReader(EXAMPLE).info.codec == "vp9"
    reader = VideoReader(EXAMPLE, backend="decord" if HAVE_DECORD else "auto")
    indices, diffs = [], []
    for frame in reader:
        indices.append(frame.index)
        diffs.append(np.abs(frame.image[::32, ::32].astype(int) - thumbs_pyav[frame.index]).mean())
    assert reader.info.num_frames == 230
    assert indices == list(range(230))
    assert max(diffs) < 2.0
    assert not reader.truncated


def test_rotated_video_comes_out_upright(tmp_path: Path) -> None:
    # A phone held upright records landscape frames with "rotate 90" (clockwise), i.e. a display
    # matrix of -90 degrees counter-clockwise.
    path = write_clip(tmp_path / "phone.mp4", frames=6, rotation=-90)
    info = probe_video(path)
    assert (info.rotation, info.width, info.height) == (90, 64, 96)
    assert info.backend == "pyav"
    frames = list(VideoReader(path))
    assert len(frames) == 6
    for frame in frames:
        assert frame.image.shape == (96, 64, 3)
        # The stored top-left red block is at the top-right after a clockwise quarter turn.
        corner = frame.image[:BLOCK, -BLOCK:].reshape(-1, 3).mean(axis=0)
        assert corner[0] > 200 and corner[1] < 60
        upright_again = np.rot90(frame.image, k=1)  # undo: a counter-clockwise quarter turn
        assert read_number(upright_again) == frame.index


def test_rotation_180(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "flip.mp4", frames=3, rotation=180)
    info = probe_video(path)
    assert (info.rotation, info.width, info.height) == (180, 96, 64)
    frame = next(iter(VideoReader(path)))
    corner = frame.image[-BLOCK:, -BLOCK:].reshape(-1, 3).mean(axis=0)
    assert corner[0] > 200 and corner[1] < 60
    assert read_number(np.rot90(frame.image, k=2)) == 0


@needs_decord
def test_forcing_decord_on_a_rotated_video_is_refused(tmp_path: Path) -> None:
    path = write_clip(tmp_path / "phone.mp4", frames=3, rotation=90)
    with pytest.raises(PoseCliError, match="phone.mp4.*rotated"):
        VideoReader(path, backend="decord")


@pytest.mark.parametrize("backend", ["auto", "pyav"])
def test_truncated_file_yields_decodable_frames_and_warns(clip: Path, tmp_path: Path, backend: str) -> None:
    data = clip.read_bytes()
    cut = tmp_path / "cut.mp4"
    cut.write_bytes(data[: len(data) * 6 // 10])
    reader = VideoReader(cut, backend=backend)
    with pytest.warns(VideoWarning, match=r"cut\.mp4: frames \d+–29 of 30 could not be decoded \(truncated"):
        frames = list(reader)
    assert 0 < len(frames) < 30
    assert [f.index for f in frames] == list(range(len(frames)))
    assert [read_number(f.image) for f in frames] == list(range(len(frames)))
    assert reader.truncated and reader.lost == [(len(frames), 29)]


def test_complete_file_does_not_warn(clip: Path) -> None:
    reader = VideoReader(clip)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(reader)) == 30
    assert not reader.truncated


def test_bad_inputs_raise_one_line_errors(tmp_path: Path, clip: Path) -> None:
    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(PoseCliError, match="notes.mp4: not a readable video"):
        probe_video(text)
    with pytest.raises(PoseCliError, match="missing.mp4: no such file"):
        VideoReader(tmp_path / "missing.mp4")
    empty = tmp_path / "empty_dir"
    empty.mkdir()
    with pytest.raises(PoseCliError, match="empty_dir: folder holds no frame images"):
        VideoReader(empty)
    # Header and index survive, but no frame data: nothing decodes.
    header_only = tmp_path / "header_only.mp4"
    data = clip.read_bytes()
    mdat = data.index(b"mdat")
    header_only.write_bytes(data[: mdat + 40])
    with pytest.raises(PoseCliError, match="header_only.mp4: no decodable video frame"):
        probe_video(header_only)
    with pytest.raises(PoseCliError, match="unknown video backend"):
        probe_video(clip, backend="ffmpeg")
    with pytest.raises(PoseCliError, match=r"start frame must be >= 0"):
        VideoReader(clip, start=-1)


def test_audio_only_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "sound.m4a"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("aac", rate=44100)
        frame = av.AudioFrame.from_ndarray(np.zeros((1, 1024), np.float32), format="fltp", layout="mono")
        frame.sample_rate = 44100
        for packet in list(stream.encode(frame)) + list(stream.encode()):
            container.mux(packet)
    with pytest.raises(PoseCliError, match="sound.m4a: the file has no video stream"):
        probe_video(path)


def test_frame_folder_is_read_in_numeric_order(tmp_path: Path) -> None:
    folder = tmp_path / "000342_mpii_test"
    folder.mkdir()
    for i in range(12):
        # Unpadded names: "10.png" must come after "9.png", not after "1.png".
        cv2.imwrite(str(folder / f"{i}.png"), cv2.cvtColor(synthetic_frame(i), cv2.COLOR_RGB2BGR))
    (folder / "notes.txt").write_text("ignored")
    with pytest.warns(VideoWarning, match="assuming 25 fps"):
        reader = VideoReader(folder)
    assert reader.info.backend == "frames" and reader.info.num_frames == 12
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        probe_video(folder)  # said once per folder, not again
    frames = list(reader)
    assert [f.index for f in frames] == list(range(12))
    assert [read_number(f.image) for f in frames] == list(range(12))
    assert np.array_equal(frames[3].image, synthetic_frame(3))  # PNG is lossless, and RGB order kept
    resumed = list(VideoReader(folder, start=10, fps=10.0))
    assert [(f.index, f.timestamp) for f in resumed] == [(10, 1.0), (11, 1.1)]


def test_posetrack_jpg_folder(tmp_path: Path) -> None:
    folder = tmp_path / "seq"
    folder.mkdir()
    for i in range(5):
        cv2.imwrite(str(folder / f"{i:06d}.jpg"), cv2.cvtColor(synthetic_frame(i), cv2.COLOR_RGB2BGR))
    frames = list(VideoReader(folder, fps=30.0))
    assert [read_number(f.image) for f in frames] == list(range(5))
    assert frames[4].timestamp == pytest.approx(4 / 30)


@pytest.mark.parametrize("backend", ["pyav", pytest.param("decord", marks=needs_decord)])
def test_reader_keeps_only_a_few_frames_alive(tmp_path: Path, backend: str) -> None:
    """The reader streams: frames already handed out and dropped by the caller are not retained."""
    path = write_clip(tmp_path / "long.mp4", frames=200, width=64, height=48)
    alive: list[weakref.ref] = []
    most = 0
    for frame in VideoReader(path, backend=backend):
        alive.append(weakref.ref(frame.image))
        alive.append(weakref.ref(frame))
        del frame
        gc.collect(0)
        most = max(most, sum(ref() is not None for ref in alive))
    assert len(alive) == 400
    assert most <= 6


def test_writer_round_trip_with_odd_size(tmp_path: Path) -> None:
    out = tmp_path / "out" / "overlay.mp4"
    frames = [synthetic_frame(i, width=97, height=65) for i in range(12)]
    with VideoWriter(out, fps=29.97, width=97, height=65) as writer:
        for image in frames:
            writer.write(image)
            assert not out.exists()  # atomic: only the temporary file exists while writing
    assert writer.frames_written == 12
    info = probe_video(out, backend="pyav")
    assert (info.width, info.height, info.num_frames) == (98, 66, 12)
    assert info.fps == pytest.approx(29.97, abs=1e-3)
    decoded = [f.image for f in VideoReader(out, backend="pyav")]
    assert [read_number(image) for image in decoded] == list(range(12))
    # The flat top band (red corner block included) survives lossy coding; the noise in the middle does not.
    assert np.abs(decoded[5][:10, :97].astype(int) - frames[5][:10].astype(int)).mean() < 8
    assert [p.name for p in out.parent.iterdir()] == ["overlay.mp4"]


def test_writer_abort_and_error_leave_no_file(tmp_path: Path) -> None:
    writer = VideoWriter(tmp_path / "a.mp4", fps=25, width=32, height=32)
    writer.write(np.zeros((32, 32, 3), np.uint8))
    writer.abort()
    with (
        pytest.raises(RuntimeError, match="boom"),
        VideoWriter(tmp_path / "b.mp4", fps=25, width=32, height=32) as w,
    ):
        w.write(np.zeros((32, 32, 3), np.uint8))
        raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []
    with VideoWriter(tmp_path / "c.mp4", fps=25, width=32, height=32) as w:
        with pytest.raises(ValueError, match="expected a \\(32, 32, 3\\) uint8 frame"):
            w.write(np.zeros((32, 30, 3), np.uint8))
        w.write(np.zeros((32, 32, 3), np.uint8))
    assert [p.name for p in tmp_path.iterdir()] == ["c.mp4"]


def test_pyav_seeks_to_the_start_frame_exactly(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With B-frames and short GOPs the seek lands mid-stream; frames must equal a full decode."""
    from posecli import video

    path = write_clip(tmp_path / "gop.mp4", frames=80, gop=8)
    full = decode_all(path, "pyav")
    monkeypatch.setattr(video, "SEEK_MIN_FRAMES", 1)
    for start in (1, 8, 21, 60, 79):
        reader = VideoReader(path, backend="pyav", start=start)
        resumed = [(f.index, f.timestamp, f.image) for f in reader]
        assert reader._seeked_to is not None, start  # the fast path was taken
        assert [i for i, _, _ in resumed] == list(range(start, 80))
        for (_, t_r, a), (_, t_f, b) in zip(resumed, full[start:], strict=True):
            assert t_r == pytest.approx(t_f)
            assert np.array_equal(a, b)


def test_pyav_seek_falls_back_when_the_timestamp_is_not_found(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from posecli import video

    path = write_clip(tmp_path / "gop.mp4", frames=40, gop=8)
    monkeypatch.setattr(video, "SEEK_MIN_FRAMES", 1)
    monkeypatch.setattr(video, "_seek_target", lambda p, start: 10**9 + 1)  # a timestamp no frame has
    reader = VideoReader(path, backend="pyav", start=30)
    assert [(f.index, read_number(f.image)) for f in reader] == [(i, i) for i in range(30, 40)]
    assert reader._seeked_to is None and not reader.truncated
