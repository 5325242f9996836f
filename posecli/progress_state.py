"""Resumable runs: progress checkpoints kept beside the outputs while a video is processed.

A run of ``estimate`` on ``<stem>`` keeps a folder ``.<stem>.progress/`` in the output folder:

- ``results.pkl``: every finished ``FrameResult``, appended (one record per frame) and flushed as the
  run goes, so exact floats survive (no JSON rounding);
- ``state.pkl``: a snapshot, replaced atomically every ``every`` frames, of how many frames are done,
  how many were fed to the frame processor (a temporal model holds a few back), how many bytes of
  ``results.pkl`` hold the done ones, and the processor state (tracker, followed regions, cached
  features of the current window).

``--resume`` loads the snapshot, keeps the first ``done`` results, restores the processor and feeds it
from frame ``fed`` on; earlier frames are only decoded again to re-draw the overlay, never re-estimated.
Because the stages are deterministic and restored exactly, the outputs are byte-identical to those of
an uninterrupted run. The folder is removed once the outputs are written.

Safety: a progress folder is a file like any other that someone may hand over or plant, so reading
it must never run code. Both files use the pickle *format*, but they are read with an unpickler that
can only build the exact posecli record and tracker classes listed in ``ALLOWED_CLASSES`` (plain data
classes whose constructors only store fields) and never looks up a function. Arrays and tensors do
not go through pickle's reduce protocol at all: they are written as ``(dtype, shape, raw bytes)``
records and rebuilt with ``numpy.frombuffer`` (numeric dtypes only).
"""

from __future__ import annotations

import io
import pickle
import re
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import numpy as np

from posecli.atomic import atomic_write_bytes, naming_path
from posecli.errors import PoseCliError
from posecli.structures import FrameResult

STATE_VERSION = 2  # 1: plain pickle (no longer read: it could run code)

# Every class a progress file may hold, by (module, name). Each is a data holder: creating one and
# setting its fields runs no code beyond storing values. Nothing callable besides these is reachable.
ALLOWED_CLASSES: frozenset[tuple[str, str]] = frozenset({
    ("posecli.structures", "PoseInstance"),
    ("posecli.structures", "FrameResult"),
    ("posecli.pipeline", "_Person"),
    ("posecli.pipeline", "_Frame"),
    ("posecli.tracking.bytetrack", "ByteTracker"),
    ("posecli.tracking.bytetrack", "_Track"),
    ("posecli.tracking.iou", "IoUTracker"),
    ("posecli.tracking.iou", "_IoUTrack"),
    ("posecli.tracking.kalman", "BoxKalmanFilter"),
    ("posecli.smoothing", "OneEuroSmoother"),
    ("posecli.smoothing", "_JointState"),
    ("posecli.blazepose.geometry", "Roi"),
})
# types pickle writes with its own opcodes (no class lookup when read back)
_NATIVE_TYPES = frozenset({type(None), bool, int, float, str, bytes, bytearray, list, tuple, dict, set, frozenset})
# numeric dtypes only: an object array would unpickle its items
_DTYPE = re.compile(r"[<>|=]?[biufc]\d{1,2}|\|b1")
_TENSOR_DTYPES = frozenset({"float16", "bfloat16", "float32", "float64", "int8", "int16", "int32", "int64",
                            "uint8", "bool"})


class _StatePickler(pickle.Pickler):
    """Pickles arrays, numpy scalars and tensors as plain ``(dtype, shape, bytes)`` records, and
    refuses any other object that ``_StateUnpickler`` would refuse (so a run never writes a state
    that its resume could not read)."""

    def persistent_id(self, obj: Any) -> Any:
        kind = type(obj)
        if kind in _NATIVE_TYPES:
            return None
        if (kind.__module__, kind.__qualname__) in ALLOWED_CLASSES:
            return None
        if kind is type and (obj.__module__, obj.__qualname__) in ALLOWED_CLASSES:
            return None  # the class reference an allowed object is rebuilt from
        if isinstance(obj, np.ndarray):
            if obj.dtype.hasobject or not _DTYPE.fullmatch(obj.dtype.str):
                raise pickle.PicklingError(f"progress state: cannot store a {obj.dtype} array")
            order = "F" if obj.flags.f_contiguous and not obj.flags.c_contiguous else "C"
            return ("ndarray", obj.dtype.str, obj.shape, order, obj.tobytes(order=order))
        if isinstance(obj, np.generic):
            return ("scalar", obj.dtype.str, obj.tobytes())
        torch = sys.modules.get("torch")  # only a network run holds tensors, and it has torch loaded
        if torch is not None and isinstance(obj, torch.Tensor):
            tensor = obj.detach().cpu().contiguous()
            dtype = str(tensor.dtype).removeprefix("torch.")
            if dtype not in _TENSOR_DTYPES:
                raise pickle.PicklingError(f"progress state: cannot store a {dtype} tensor")
            raw = tensor.view(torch.int16) if dtype == "bfloat16" else tensor  # numpy has no bfloat16
            return ("tensor", dtype, tuple(tensor.shape), str(obj.device), raw.numpy().tobytes())
        raise pickle.PicklingError(f"progress state: {kind.__module__}.{kind.__qualname__} is not in ALLOWED_CLASSES")


class _StateUnpickler(pickle.Unpickler):
    """Reads what ``_StatePickler`` wrote; refuses every class outside ``ALLOWED_CLASSES``."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in ALLOWED_CLASSES:
            raise pickle.UnpicklingError(f"{module}.{name} is not allowed in a progress file")
        return super().find_class(module, name)

    def persistent_load(self, pid: Any) -> Any:
        if not isinstance(pid, tuple) or not pid or not isinstance(pid[0], str):
            raise pickle.UnpicklingError("malformed array record")
        kind = pid[0]
        if kind == "ndarray" and len(pid) == 5:
            _, dtype, shape, order, data = pid
            return _array(dtype, shape, data, order)
        if kind == "scalar" and len(pid) == 3:
            return _array(pid[1], (), pid[2], "C")[()]
        if kind == "tensor" and len(pid) == 5:
            _, dtype, shape, device, data = pid
            return _tensor(dtype, shape, device, data)
        raise pickle.UnpicklingError(f"unknown record {kind!r}")


def _array(dtype: Any, shape: Any, data: Any, order: Any) -> np.ndarray:
    if not (isinstance(dtype, str) and _DTYPE.fullmatch(dtype)):
        raise pickle.UnpicklingError(f"dtype {dtype!r} is not allowed in a progress file")
    if not (isinstance(shape, tuple) and all(isinstance(n, int) and n >= 0 for n in shape)):
        raise pickle.UnpicklingError(f"bad array shape {shape!r}")
    if order not in ("C", "F") or not isinstance(data, bytes):
        raise pickle.UnpicklingError("malformed array record")
    flat = np.frombuffer(data, dtype=np.dtype(dtype))  # raises if the byte count does not fit the dtype
    return flat.reshape(shape, order=order).copy(order=order)  # writable, like the array that was saved


def _tensor(dtype: Any, shape: Any, device: Any, data: Any) -> Any:
    import torch

    if dtype not in _TENSOR_DTYPES or not isinstance(device, str):
        raise pickle.UnpicklingError(f"tensor dtype {dtype!r} is not allowed in a progress file")
    array = _array(np.dtype("int16" if dtype == "bfloat16" else dtype).str, shape, data, "C")
    tensor = torch.from_numpy(array)
    if dtype == "bfloat16":
        tensor = tensor.view(torch.bfloat16)
    return tensor.to(torch.device(device))


def dump_record(obj: Any, stream: IO[bytes]) -> None:
    """Append ``obj`` to ``stream`` in the progress format."""
    _StatePickler(stream, protocol=pickle.HIGHEST_PROTOCOL).dump(obj)


def load_record(stream: IO[bytes]) -> Any:
    """Read one record written by ``dump_record``; refuses anything that could run code."""
    return _StateUnpickler(stream).load()


@dataclass
class Snapshot:
    """What a resumed run starts from."""

    done: int  # frames finished (indices 0 .. done-1)
    fed: int  # frames already given to the processor (≥ done: a temporal model holds a few back)
    results: list[FrameResult]
    stages: Any  # the per-frame stage state, as saved
    fingerprint: dict[str, Any]  # the run settings; a resume with other settings is refused


class ProgressLog:
    """Writes the progress folder of one video (see the module docstring)."""

    def __init__(
        self, folder: Path, fingerprint: dict[str, Any], every: int, done: int = 0, offset: int | None = None
    ) -> None:
        """Start a new log, or (``offset`` given) continue one after its first ``done`` frames, whose
        results end at byte ``offset`` of ``results.pkl``; anything after it is dropped."""
        self.folder = folder
        self.fingerprint = fingerprint
        self.every = max(1, every)
        results_path = folder / "results.pkl"
        with naming_path(results_path):
            folder.mkdir(parents=True, exist_ok=True)
            self._stream: IO[bytes] = open(results_path, "wb" if offset is None else "r+b")  # noqa: SIM115
            if offset is not None:
                self._stream.seek(offset)
                self._stream.truncate()
        self._done = done

    @property
    def has_snapshot(self) -> bool:
        """Whether a run could resume from this folder (a snapshot has been written)."""
        return (self.folder / "state.pkl").is_file()

    def record(self, results: list[FrameResult], fed: int, stages: Any) -> None:
        """Append the results finished since the last call; every ``every`` fed frames also snapshot
        ``stages`` (the processor's state after ``fed`` frames)."""
        with naming_path(self.folder / "results.pkl"):
            for result in results[self._done :]:
                dump_record(result, self._stream)
            self._stream.flush()
        self._done = len(results)
        if fed % self.every == 0:
            self._snapshot(fed, stages)

    def _snapshot(self, fed: int, stages: Any) -> None:
        state = {
            "version": STATE_VERSION,
            "done": self._done,
            "fed": fed,
            "offset": self._stream.tell(),
            "stages": stages,
            "fingerprint": self.fingerprint,
        }
        buffer = io.BytesIO()
        dump_record(state, buffer)
        atomic_write_bytes(self.folder / "state.pkl", buffer.getvalue())

    def close(self) -> None:
        self._stream.close()

    def remove(self) -> None:
        """Delete the progress folder (after the outputs are safely written)."""
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def load_snapshot(folder: Path, fingerprint: dict[str, Any]) -> tuple[Snapshot, int] | None:
    """The last snapshot in ``folder`` and the byte offset its results end at, or ``None`` if there
    is none. A snapshot written with other settings, or a file that is not a posecli progress file
    (including one that tries to run code), is refused with a ``PoseCliError``."""
    state_path = folder / "state.pkl"
    if not state_path.is_file():
        return None
    try:
        with open(state_path, "rb") as stream:
            state = load_record(stream)
        if not isinstance(state, dict) or state.get("version") != STATE_VERSION:
            version = state.get("version") if isinstance(state, dict) else None
            raise ValueError(f"format version {version} is not {STATE_VERSION}")
        done, fed, offset = state["done"], state["fed"], state["offset"]
        if not all(isinstance(v, int) and v >= 0 for v in (done, fed, offset)) or not isinstance(
            state["fingerprint"], dict
        ):
            raise ValueError("malformed snapshot")
    except Exception as error:  # noqa: BLE001 - any damage to the file is reported the same way
        raise PoseCliError(
            f"{state_path}: not a usable progress checkpoint ({_reason(error)}); delete {folder} to start over"
        ) from None
    if state["fingerprint"] != fingerprint:
        changed = sorted(k for k in set(state["fingerprint"]) | set(fingerprint)
                         if state["fingerprint"].get(k) != fingerprint.get(k))
        raise PoseCliError(
            f"{folder}: the interrupted run used other settings ({', '.join(map(str, changed))}); "
            f"rerun with the same options or delete {folder} to start over"
        )
    results_path = folder / "results.pkl"
    results: list[FrameResult] = []
    try:
        with open(results_path, "rb") as stream:
            while len(results) < done:
                result = load_record(stream)
                if not isinstance(result, FrameResult):
                    raise TypeError(f"record {len(results)} is a {type(result).__name__}, not a frame result")
                results.append(result)
    except Exception as error:  # noqa: BLE001 - see above
        raise PoseCliError(
            f"{results_path}: not usable up to frame {done} ({_reason(error)}); delete {folder} to start over"
        ) from None
    snapshot = Snapshot(done, fed, results, state["stages"], fingerprint)
    return snapshot, offset


def _reason(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return text[0] if text else type(error).__name__

