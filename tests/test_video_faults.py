"""posecli/video.py (and video_writer.py) under damaged input: cut and corrupt containers of each kind, FIFOs and devices,
file names that are not UTF-8, corrupt frame images, library chatter, and writer clean-up.

Every input is generated here: short clips encoded with PyAV, then cut or overwritten byte-wise.
"""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import tempfile
import textwrap
import threading
import warnings
from collections.abc import Iterator
from pathlib import Path

import av
import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from posecli.errors import PoseCliError
from posecli.video import VideoReader, VideoWarning, check_input_path, probe_video, shown_path
from posecli.video_writer import VideoWriter

FRAMES = 40
FPS = 25
BITS = 6
BLOCK = 16  # the frame number, as 6 blocks of 16x16 along the bottom: survives JPEG and concealment

try:
    import decord  # noqa: F401

    HAVE_DECORD = True
except ImportError:
    HAVE_DECORD = False


def numbered_frame(index: int, width: int = 96, height: int = 64) -> np.ndarray:
    """``(height, width, 3)`` RGB: ``index`` in black/white blocks at the bottom, a moving bar above."""
    image = np.full((height, width, 3), 40, np.uint8)
    for bit in range(BITS):
        if (index >> bit) & 1:
            image[height - BLOCK :, bit * BLOCK : (bit + 1) * BLOCK] = 255
    left = (index * 3) % (width - 30)
    image[8:40, left : left + 30] = (200, 80, 30)
    rng = np.random.default_rng(index)
    image[40 : height - BLOCK - 2] = rng.integers(0, 255, (height - BLOCK - 42, width, 3), dtype=np.uint8)
    return image


def number_of(image: np.ndarray) -> int:
    height = image.shape[0]
    value = 0
    for bit in range(BITS):
        if image[height - BLOCK + 4 : height - 4, bit * BLOCK + 4 : (bit + 1) * BLOCK - 4].mean() > 128:
            value |= 1 << bit
    return value


# codec, container options, encoder options: one entry per kind of file the corpus covers
KINDS = {
    "h264.mp4": ("libx264", {"movflags": "faststart"}, {}),
    "h264-bframes.mp4": (
        "libx264", {"movflags": "faststart"}, {"x264-params": "bframes=2:b-adapt=0:keyint=10"}
    ),
    "h264-intra.mp4": ("libx264", {"movflags": "faststart"}, {"x264-params": "keyint=1"}),
    "h264.mkv": ("libx264", {}, {}),
    "vp9.webm": ("libvpx-vp9", {}, {}),
    "vp9.mkv": ("libvpx-vp9", {}, {}),
    "mjpeg.avi": ("mjpeg", {}, {}),
}


def encode(folder: Path, kind: str, frames: int = FRAMES) -> Path:
    codec, container_options, codec_options = KINDS[kind]
    path = folder / kind
    with av.open(str(path), "w", options=container_options) as container:
        stream = container.add_stream(codec, rate=FPS, options=codec_options)
        stream.width, stream.height = 96, 64
        stream.pix_fmt = "yuvj420p" if codec == "mjpeg" else "yuv420p"
        for index in range(frames):
            frame = av.VideoFrame.from_ndarray(numbered_frame(index), format="rgb24")
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
    return path


def packet_spans(path: Path) -> list[tuple[int, int]]:
    """``(file offset, size)`` of every video packet, in decode order."""
    with av.open(str(path)) as container:
        return [(p.pos, p.size) for p in container.demux(video=0) if p.size]


def damaged(path: Path, packets: list[int], name: str, zero_all: bool = False) -> Path:
    """A copy of ``path`` with the first 4 bytes (or all) of each packet, in decode order, set to 0xff (0).

    In MP4 and AVI the offset is the packet's payload (for H.264 its NAL length prefix, so the decoder
    refuses the packet); in Matroska it is the block header, so the demuxer loses the stream there.
    """
    data = bytearray(path.read_bytes())
    spans = packet_spans(path)
    for k in packets:
        pos, size = spans[k]
        data[pos : pos + (size if zero_all else 4)] = bytes(size) if zero_all else b"\xff" * 4
    out = path.with_name(name)
    out.write_bytes(bytes(data))
    return out


def read_all(path: Path, backend: str = "auto", **kwargs: object) -> tuple[VideoReader, list, list[str]]:
    """The reader, its frames and the VideoWarning messages of one full iteration."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        reader = VideoReader(path, backend=backend, **kwargs)  # type: ignore[arg-type]
        frames = list(reader)
    return reader, frames, [str(w.message) for w in caught if issubclass(w.category, VideoWarning)]


backends = pytest.mark.parametrize("backend", ["auto", "pyav"])


# -- 1. cut and damaged Matroska / WebM ----------------------------------------------------------------


@pytest.mark.parametrize("kind", ["h264.mkv", "vp9.webm", "vp9.mkv"])
def test_cut_matroska_keeps_the_frames_and_warns_with_the_lost_tail(tmp_path: Path, kind: str) -> None:
    whole = encode(tmp_path, kind)
    reader, frames, said = read_all(whole)
    assert len(frames) == FRAMES and said == [] and not reader.truncated  # the estimate is not a false alarm
    cut = tmp_path / f"cut-{kind}"
    data = whole.read_bytes()
    cut.write_bytes(data[: len(data) * 9 // 10])
    reader, frames, said = read_all(cut)
    indices = [f.index for f in frames]
    assert 20 < len(frames) < FRAMES and indices == sorted(indices)
    # True indices: a B-frame cut away just before the end leaves a hole, and the frame after it keeps
    # its number.
    assert [number_of(f.image) for f in frames] == indices
    missing = sorted(set(range(FRAMES)) - set(indices))
    assert reader.truncated and [i for a, b in reader.lost for i in range(a, b + 1)] == missing
    assert reader.lost[-1][1] == FRAMES - 1
    assert len(said) == 1 and said[0].startswith(f"{cut}: frames ")
    assert said[0].endswith(
        f" of about {FRAMES} could not be decoded (truncated or corrupt file); "
        f"continuing with the {len(frames)} frames decoded"
    )


@backends
def test_matroska_damaged_mid_file_warns(tmp_path: Path, backend: str) -> None:
    bad = damaged(encode(tmp_path, "h264.mkv"), [3], "corrupt_mid.mkv")
    reader, frames, said = read_all(bad, backend)
    assert 0 < len(frames) < FRAMES
    assert reader.truncated and reader.lost[-1][1] == FRAMES - 1
    assert len(said) == 1
    assert said[0].startswith(f"{bad}: frames {len(frames)}–39 of about 40 could not be decoded")


# -- 2. corrupt packets are skipped, later frames keep their index -------------------------------------


@backends
@pytest.mark.parametrize("kind", ["h264.mp4", "h264-bframes.mp4"])
def test_one_corrupt_packet_loses_one_frame_not_the_rest(tmp_path: Path, kind: str, backend: str) -> None:
    bad = damaged(encode(tmp_path, kind), [3], "bad.mp4")
    reader, frames, said = read_all(bad, backend)
    lost = reader.lost
    assert len(lost) == 1 and lost[0][0] == lost[0][1]  # one frame
    missing = lost[0][0]
    assert [f.index for f in frames] == [i for i in range(FRAMES) if i != missing]
    # Inter frames after the hole decode with concealed errors, so check positions by timestamp.
    assert [round(f.timestamp * FPS) for f in frames] == [f.index for f in frames]
    assert said == [
        (
            f"{bad}: frame {missing} of 40 could not be decoded (truncated or corrupt file); "
            "continuing with the 39 frames decoded"
        )
    ]
    if backend == "auto" and HAVE_DECORD:
        assert reader.backend_used == ["decord", "pyav"]  # decord stopped; PyAV went on past the damage


@backends
@pytest.mark.parametrize("kind", ["h264-intra.mp4", "mjpeg.avi"])
def test_frames_after_lost_ones_are_the_true_frames(tmp_path: Path, kind: str, backend: str) -> None:
    bad = damaged(encode(tmp_path, kind), [5, 6, 20], f"bad-{kind}", zero_all=kind.endswith("avi"))
    reader, frames, said = read_all(bad, backend)
    expected = [i for i in range(FRAMES) if i not in (5, 6, 20)]
    assert [f.index for f in frames] == expected
    assert [number_of(f.image) for f in frames] == expected  # the pixels are those frames'
    assert reader.lost == [(5, 6), (20, 20)]
    assert len(said) == 1 and f"{bad}: frames 5–6 and 20 of 40 could not be decoded" in said[0]


def test_fill_gaps_holds_the_previous_frame(tmp_path: Path) -> None:
    bad = damaged(encode(tmp_path, "h264-intra.mp4"), [0, 5, 6], "bad.mp4")
    reader, frames, said = read_all(bad, "pyav", fill_gaps=True)
    assert [f.index for f in frames] == list(range(FRAMES))
    held = {f.index: f for f in frames if f.held}
    assert sorted(held) == [0, 5, 6]
    assert held[0].image is frames[1].image  # nothing before frame 0: the next decoded one stands in
    assert held[5].image is frames[4].image and held[6].image is frames[4].image
    assert [f.timestamp for f in frames] == pytest.approx([i / FPS for i in range(FRAMES)])
    assert reader.lost == [(0, 0), (5, 6)] and "filled with the frame before them" in said[0]


def test_resumed_read_reports_only_losses_after_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from posecli import video

    bad = damaged(encode(tmp_path, "h264-intra.mp4"), [3, 30], "bad.mp4")
    monkeypatch.setattr(video, "SEEK_MIN_FRAMES", 1)
    reader, frames, said = read_all(bad, "pyav", start=10)
    assert reader._seeked_to is not None
    assert [f.index for f in frames] == [i for i in range(10, FRAMES) if i != 30]
    assert [number_of(f.image) for f in frames] == [f.index for f in frames]
    assert reader.lost == [(30, 30)] and "frame 30 of 40" in said[0]


def test_vp9_with_a_zeroed_packet_warns(tmp_path: Path) -> None:
    bad = damaged(encode(tmp_path, "vp9.webm"), [3], "bad.webm", zero_all=True)
    reader, frames, said = read_all(bad)
    assert [f.index for f in frames] == list(range(len(frames)))
    assert reader.truncated and len(said) == 1 and "could not be decoded" in said[0]


# -- 3. FIFOs, sockets and devices are refused before anything opens them --------------------------------


@pytest.fixture()
def fifo(tmp_path: Path) -> Iterator[Path]:
    """A named pipe; a watchdog opens its write end after 10 s, so old code that blocks on it fails
    instead of hanging the test run."""
    path = tmp_path / "camera.mp4"
    os.mkfifo(path)

    def unblock() -> None:
        try:
            os.close(os.open(path, os.O_WRONLY | os.O_NONBLOCK))
        except OSError:
            pass  # nobody is reading: nothing hangs

    timer = threading.Timer(10.0, unblock)
    timer.daemon = True
    timer.start()
    yield path
    timer.cancel()


def test_fifo_is_refused_without_opening_it(fifo: Path) -> None:
    with pytest.raises(PoseCliError, match=r"camera\.mp4: a FIFO \(named pipe\), not a video file"):
        probe_video(fifo)
    with pytest.raises(PoseCliError, match="FIFO"):
        VideoReader(fifo)


def test_devices_and_sockets_are_refused() -> None:
    with pytest.raises(PoseCliError, match=r"/dev/null: a device, not a video file"):
        probe_video("/dev/null")
    with tempfile.TemporaryDirectory(dir="/tmp") as folder:  # short path: AF_UNIX allows ~100 bytes
        path = Path(folder) / "s.mp4"
        server = socket.socket(socket.AF_UNIX)
        server.bind(str(path))
        try:
            with pytest.raises(PoseCliError, match=r"s\.mp4: a socket"):
                check_input_path(path)
        finally:
            server.close()


@pytest.mark.parametrize("command", ["detect", "estimate"])
def test_commands_refuse_a_fifo_with_one_line(fifo: Path, tmp_path: Path, command: str) -> None:
    from posecli.cli import app

    args = [command, str(fifo), "--out-dir", str(tmp_path / "out"), "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 1, result.output
    assert "camera.mp4: a FIFO (named pipe), not a video file or a frame folder" in result.output
    assert "Traceback" not in result.output


# -- 4. file names that are not valid UTF-8 -------------------------------------------------------------


@pytest.mark.parametrize("backend", ["auto", "decord"])
def test_non_utf8_file_name_is_read(tmp_path: Path, backend: str) -> None:
    if backend == "decord" and not HAVE_DECORD:
        pytest.skip("decord is not installed")
    clip = encode(tmp_path, "h264.mp4", frames=8)
    odd = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"clip\xff.mp4")))
    clip.rename(odd)
    reader, frames, said = read_all(odd, backend)
    assert [number_of(f.image) for f in frames] == list(range(8)) and said == []
    assert reader.backend_used == ["pyav"]


def test_errors_about_non_utf8_names_print(tmp_path: Path) -> None:
    odd = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"notes\xff.mp4")))
    odd.write_text("not a video\n" * 40)
    with pytest.raises(PoseCliError) as caught:
        probe_video(odd)
    message = str(caught.value)
    assert "notes\\xff.mp4: not a readable video file" in message
    message.encode("utf-8")  # strict: no lone surrogate left to break a terminal or a log file
    assert shown_path(odd).endswith("notes\\xff.mp4")


def test_command_error_about_a_non_utf8_name_is_one_line(tmp_path: Path) -> None:
    from posecli.cli import app

    odd = Path(os.fsdecode(os.path.join(os.fsencode(tmp_path), b"bad\xff.mp4")))
    odd.write_text("not a video\n" * 40)
    result = CliRunner().invoke(app, ["detect", str(odd), "--out-dir", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 1
    assert "bad\\xff.mp4: not a readable video file" in result.output and "Traceback" not in result.output


# -- 5. frame folders with damaged images ------------------------------------------------------------


def jpeg_folder(tmp_path: Path, frames: int = 6) -> Path:
    folder = tmp_path / "seq"
    folder.mkdir()
    for index in range(frames):
        image = cv2.cvtColor(numbered_frame(index, 320, 240), cv2.COLOR_RGB2BGR)
        cv2.imwrite(str(folder / f"{index:06d}.jpg"), image)
    return folder


def corrupt_jpeg(path: Path) -> None:
    """Zero 300 bytes in the middle of the entropy-coded data: libjpeg still returns a (wrong) picture."""
    data = path.read_bytes()
    middle = len(data) // 2
    path.write_bytes(data[:middle] + bytes(300) + data[middle + 300 :])


def test_damaged_frame_images_are_skipped_with_a_warning(
    tmp_path: Path, capfd: pytest.CaptureFixture
) -> None:
    folder = jpeg_folder(tmp_path)
    corrupt_jpeg(folder / "000000.jpg")
    corrupt_jpeg(folder / "000002.jpg")
    cut = (folder / "000004.jpg").read_bytes()
    (folder / "000004.jpg").write_bytes(cut[: len(cut) // 2])
    reader, frames, said = read_all(folder, fps=25.0)
    assert (reader.info.width, reader.info.height) == (320, 240)  # taken from the first readable image
    assert [f.index for f in frames] == [1, 3, 5]
    assert [number_of(f.image) for f in frames] == [1, 3, 5]
    assert reader.lost == [(0, 0), (2, 2), (4, 4)]
    assert said == [
        (
            f"{folder}: 3 frame images could not be read and were skipped: 000000.jpg (corrupt jpeg data), "
            "000002.jpg (corrupt jpeg data), 000004.jpg (not a readable image); "
            "the other frames keep their indices"
        )
    ]
    assert "Corrupt JPEG" not in capfd.readouterr().err  # libjpeg's own line is not shown


def test_folder_without_a_readable_image_is_refused(tmp_path: Path) -> None:
    folder = jpeg_folder(tmp_path, frames=2)
    for file in folder.iterdir():
        file.write_bytes(b"\xff\xd8 not really a jpeg")
    with pytest.raises(PoseCliError, match="seq: no frame image in the folder is readable"):
        probe_video(folder, fps=25.0)


# -- 6. library log lines stay out of stderr -----------------------------------------------------------


def test_library_lines_do_not_reach_stderr(tmp_path: Path) -> None:
    bad_mp4 = damaged(encode(tmp_path, "h264.mp4"), [3], "bad.mp4")
    whole = encode(tmp_path, "h264.mkv")
    data = whole.read_bytes()
    (tmp_path / "cut.mkv").write_bytes(data[: len(data) * 9 // 10])
    folder = jpeg_folder(tmp_path, frames=3)
    corrupt_jpeg(folder / "000001.jpg")
    script = textwrap.dedent(
        """
        import sys
        from posecli.video import VideoReader
        for path in sys.argv[1:]:
            print(path, len(list(VideoReader(path, fps=25.0))))
        """
    )
    inputs = [str(bad_mp4), str(tmp_path / "cut.mkv"), str(folder)]
    run = subprocess.run(
        [sys.executable, "-c", script, *inputs], check=False, capture_output=True, text=True, timeout=120
    )
    assert run.returncode == 0, run.stderr
    counts = dict(line.rsplit(" ", 1) for line in run.stdout.splitlines())
    assert counts[inputs[0]] == "39" and 20 < int(counts[inputs[1]]) < 40 and counts[inputs[2]] == "2"
    for chatter in ("[h264 @", "[matroska", "Corrupt JPEG", "error while decoding", "Invalid NAL"):
        assert chatter not in run.stderr, run.stderr
    assert f"VideoWarning: {bad_mp4}: frame " in run.stderr and " of 40 could not be decoded" in run.stderr
    assert "cut.mkv: frames" in run.stderr and "000001.jpg (corrupt jpeg data)" in run.stderr


# -- 7. a video track without frames -------------------------------------------------------------------


def test_zero_frame_mp4_is_called_empty_not_videoless(tmp_path: Path) -> None:
    path = tmp_path / "empty.mp4"
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = 96, 64, "yuv420p"
        container.start_encoding()
    with pytest.raises(PoseCliError) as caught:
        probe_video(path)
    assert str(caught.value) == f"{path}: no decodable video frame (the file holds no frames)"


# -- 8. the writer's temporary file never outlives a failure ---------------------------------------------


class _FailingStream:
    """Wraps a PyAV stream; ``encode`` raises ``error`` on call number ``at`` (0-based)."""

    def __init__(self, stream: object, error: BaseException, at: int) -> None:
        self._stream, self._error, self._at, self._calls = stream, error, at, 0

    def encode(self, frame: object = None) -> list:
        self._calls += 1
        if self._calls > self._at:
            raise self._error
        return self._stream.encode(frame)  # type: ignore[attr-defined]

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


@pytest.mark.parametrize("error", [KeyboardInterrupt(), av.error.InvalidDataError(1094995529, "bad")])
def test_writer_removes_its_temporary_file_when_writing_fails(tmp_path: Path, error: BaseException) -> None:
    writer = VideoWriter(tmp_path / "out.mp4", fps=25, width=32, height=32)
    writer._stream = _FailingStream(writer._stream, error, at=2)
    with pytest.raises(type(error)):
        for _ in range(5):  # no with-block and no abort(): the writer must clean up by itself
            writer.write(np.zeros((32, 32, 3), np.uint8))
    assert list(tmp_path.iterdir()) == []


class _UnclosableContainer:
    """Wraps a PyAV output container whose ``close`` (the trailer write) always fails, as on a full disk."""

    def __init__(self, container: object) -> None:
        self._container = container

    def close(self) -> None:
        raise OSError(28, "No space left on device")

    def __getattr__(self, name: str) -> object:
        return getattr(self._container, name)


def test_writer_removes_its_temporary_file_when_closing_fails(tmp_path: Path) -> None:
    writer = VideoWriter(tmp_path / "out.mp4", fps=25, width=32, height=32)
    writer.write(np.zeros((32, 32, 3), np.uint8))
    real = writer._container
    writer._container = _UnclosableContainer(real)
    with pytest.raises(OSError, match="No space left") as caught:
        writer.close()
    assert list(tmp_path.iterdir()) == [], caught  # while the traceback is still alive
    with contextlib.suppress(av.error.FFmpegError):  # release the real file handle (its file is gone)
        real.close()


def test_writer_removes_its_temporary_file_when_setup_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def no_codec(name: str, mode: str = "r") -> None:
        raise ValueError(f"no codec {name}")  # a PyAV build without any H.264 encoder

    monkeypatch.setattr(av.codec, "Codec", no_codec)
    with pytest.raises(PoseCliError, match="no H.264 encoder") as caught:
        VideoWriter(tmp_path / "out.mp4", fps=25, width=32, height=32)
    # Checked while the traceback (which keeps the half-built writer alive) still exists: the file
    # must be gone because the writer removed it, not because garbage collection happened to.
    assert list(tmp_path.iterdir()) == [], caught


# -- lost frames through `estimate` with a temporal network ---------------------------------------------


@pytest.mark.slow
def test_estimate_with_a_temporal_network_runs_over_lost_frames(tmp_path: Path) -> None:
    """A temporal network looks at neighbouring frames by index, so ``estimate`` reads with
    ``fill_gaps``: the lost frame is stood in for, the run succeeds and every frame has a result."""
    from posecli.checkpoints import save_checkpoint
    from posecli.cli import app
    from posecli.export.posetrack import read_posetrack_json
    from posecli.models import build_model

    weights = tmp_path / "fami_tiny.safetensors"
    save_checkpoint(weights, build_model("fami_hrnet_w32", width=8, input_size=(64, 64)))
    bad = damaged(encode(tmp_path, "h264-intra.mp4", frames=16), [6], "bad.mp4")
    out = tmp_path / "out"
    args = ["estimate", str(bad), "--weights", str(weights), "--out-dir", str(out), "--device", "cpu", "-q"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "frame 6 of 16 could not be decoded" in result.output
    frames = read_posetrack_json(out / "bad.posetrack.json")
    assert [f.frame_index for f in frames] == list(range(16))
