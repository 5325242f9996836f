"""The resume state of ``estimate`` (``.<stem>.progress/``): exact round trips, and files that try to
run code (or hold anything but posecli's own records) are refused without running anything."""

from __future__ import annotations

import io
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from posecli.errors import PoseCliError
from posecli.progress_state import ProgressLog, dump_record, load_record, load_snapshot
from posecli.structures import FrameResult, PoseInstance
from posecli.tracking.bytetrack import ByteTracker

FINGERPRINT = {"model": "blazepose_full", "video": "clip.mp4", "num_frames": 10}


class _RunsCode:
    """Pickles as a call of ``exec``: loading it with plain pickle writes the marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (exec, (f"open({str(self.marker)!r}, 'w').write('ran')",))


def _result(index: int) -> FrameResult:
    rng = np.random.default_rng(index)
    person = PoseInstance(keypoints=rng.normal(size=(17, 3)), box=rng.normal(size=4), score=np.float64(0.75),
                          track_id=index % 3)
    return FrameResult(index, index / 25.0, (person,))


def _write_progress(folder: Path, frames: int = 6) -> None:
    log = ProgressLog(folder, FINGERPRINT, every=3)
    results = [_result(i) for i in range(frames)]
    for fed in range(1, frames + 1):
        log.record(results[:fed], fed, {"tracker": ByteTracker(), "frame": fed})
    log.close()


def test_records_round_trip_bit_exact() -> None:
    tracker = ByteTracker()
    state = {
        "result": _result(4),
        "tracker": tracker,
        "array_f": np.asfortranarray(np.arange(12.0).reshape(3, 4)),
        "scalar": np.float32(1.1),
        "tensor": torch.randn(2, 3, 4),
        "bf16": torch.randn(5).to(torch.bfloat16),
        "nested": [(1, 2.5, None, "x", b"y"), {3: {4: [torch.arange(3)]}}],
    }
    buffer = io.BytesIO()
    dump_record(state, buffer)
    back = load_record(io.BytesIO(buffer.getvalue()))
    assert np.array_equal(back["result"].instances[0].keypoints, state["result"].instances[0].keypoints)
    assert type(back["result"].instances[0].score) is np.float64
    assert isinstance(back["tracker"], ByteTracker)
    assert back["array_f"].flags.f_contiguous and np.array_equal(back["array_f"], state["array_f"])
    assert back["scalar"] == state["scalar"] and back["scalar"].dtype == np.float32
    assert torch.equal(back["tensor"], state["tensor"])
    assert back["bf16"].dtype == torch.bfloat16 and torch.equal(back["bf16"], state["bf16"])
    assert back["nested"][0] == state["nested"][0]
    assert torch.equal(back["nested"][1][3][4][0], torch.arange(3))


def test_snapshot_loads_what_the_log_wrote(tmp_path: Path) -> None:
    _write_progress(tmp_path / "p")
    snapshot, offset = load_snapshot(tmp_path / "p", FINGERPRINT)
    assert (snapshot.done, snapshot.fed) == (6, 6) and offset > 0
    assert np.array_equal(snapshot.results[5].instances[0].keypoints, _result(5).instances[0].keypoints)
    assert isinstance(snapshot.stages["tracker"], ByteTracker)


def test_state_file_that_runs_code_is_refused_without_running_it(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    _write_progress(folder)
    marker = tmp_path / "marker"
    (folder / "state.pkl").write_bytes(pickle.dumps({"version": 2, "stages": _RunsCode(marker)}))
    with pytest.raises(PoseCliError, match="state.pkl"):
        load_snapshot(folder, FINGERPRINT)
    assert not marker.exists()


def test_results_file_that_runs_code_is_refused_without_running_it(tmp_path: Path) -> None:
    folder = tmp_path / "p"
    _write_progress(folder)
    marker = tmp_path / "marker"
    (folder / "results.pkl").write_bytes(pickle.dumps(_RunsCode(marker)) * 6)
    with pytest.raises(PoseCliError, match="results.pkl"):
        load_snapshot(folder, FINGERPRINT)
    assert not marker.exists()


@pytest.mark.parametrize(
    "payload",
    [
        pickle.dumps(np.zeros(3, dtype=object)),  # numpy's own reconstruction functions are not allowed
        pickle.dumps(Path("/etc/passwd")),  # nor any class outside posecli's records
        b"\x80\x05garbage",
        b"",
    ],
)
def test_anything_else_in_a_progress_file_is_one_clear_error(tmp_path: Path, payload: bytes) -> None:
    folder = tmp_path / "p"
    _write_progress(folder)
    (folder / "state.pkl").write_bytes(payload)
    with pytest.raises(PoseCliError, match=r"state\.pkl: not a usable progress checkpoint.*delete"):
        load_snapshot(folder, FINGERPRINT)


def test_object_arrays_in_a_persistent_record_are_refused() -> None:
    """The array records themselves only take numeric dtypes (an object array would unpickle items)."""

    class Forged(pickle.Pickler):
        def persistent_id(self, obj):
            return ("ndarray", "|O", (1,), "C", b"\0" * 8) if obj == "forged" else None

    buffer = io.BytesIO()
    Forged(buffer, protocol=5).dump(["forged"])
    with pytest.raises(pickle.UnpicklingError, match="dtype"):
        load_record(io.BytesIO(buffer.getvalue()))


def test_writing_refuses_what_reading_would_refuse() -> None:
    """A run must never write a state its --resume could not read."""
    with pytest.raises(pickle.PicklingError, match="ALLOWED_CLASSES"):
        dump_record({"path": Path("x")}, io.BytesIO())


def test_resume_with_a_booby_trapped_progress_folder_runs_nothing(tmp_path: Path, h264_clip: Path) -> None:
    """Through the CLI: `estimate --resume` on a planted progress folder refuses in one line."""
    from typer.testing import CliRunner

    from posecli.cli import app

    out = tmp_path / "out"
    folder = out / f".{h264_clip.stem}.progress"
    folder.mkdir(parents=True)
    marker = tmp_path / "marker"
    (folder / "state.pkl").write_bytes(pickle.dumps(_RunsCode(marker)))
    (folder / "results.pkl").write_bytes(b"")
    result = CliRunner().invoke(app, ["estimate", str(h264_clip), "-o", str(out), "--resume", "-q"])
    assert result.exit_code == 1
    assert not marker.exists()
    assert "state.pkl" in result.output and "Traceback" not in result.output
    assert len(result.output.strip().splitlines()) == 1
