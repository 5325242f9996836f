"""Resumable runs: progress checkpoints kept beside the outputs while a video is processed.

A run of ``estimate`` on ``<stem>`` keeps a folder ``.<stem>.progress/`` in the output folder:

- ``results.pkl``: every finished ``FrameResult``, appended (one pickle record per frame) and flushed
  as the run goes, so exact floats survive (no JSON rounding);
- ``state.pkl``: a snapshot, replaced atomically every ``every`` frames, of how many frames are done,
  how many were fed to the frame processor (a temporal model holds a few back), how many bytes of
  ``results.pkl`` hold the done ones, and the pickled processor state (tracker, followed regions,
  cached features of the current window).

``--resume`` loads the snapshot, keeps the first ``done`` results, restores the processor and feeds it
from frame ``fed`` on; earlier frames are only decoded again to re-draw the overlay, never re-estimated.
Because the stages are deterministic and restored exactly, the outputs are byte-identical to those of
an uninterrupted run. The folder is removed once the outputs are written.
"""

from __future__ import annotations

import pickle
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from posecli.atomic import atomic_write_bytes
from posecli.errors import PoseCliError
from posecli.structures import FrameResult

STATE_VERSION = 1


@dataclass
class Snapshot:
    """What a resumed run starts from."""

    done: int  # frames finished (indices 0 .. done-1)
    fed: int  # frames already given to the processor (≥ done: a temporal model holds a few back)
    results: list[FrameResult]
    stages: Any  # the pickled per-frame stage state, as saved
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
        folder.mkdir(parents=True, exist_ok=True)
        results_path = folder / "results.pkl"
        self._stream: IO[bytes] = open(results_path, "wb" if offset is None else "r+b")  # noqa: SIM115
        if offset is not None:
            self._stream.seek(offset)
            self._stream.truncate()
        self._done = done

    def record(self, results: list[FrameResult], fed: int, stages: Any) -> None:
        """Append the results finished since the last call; every ``every`` fed frames also snapshot
        ``stages`` (the processor's state after ``fed`` frames)."""
        for result in results[self._done :]:
            pickle.dump(result, self._stream, protocol=pickle.HIGHEST_PROTOCOL)
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
        atomic_write_bytes(self.folder / "state.pkl", pickle.dumps(state, protocol=pickle.HIGHEST_PROTOCOL))

    def close(self) -> None:
        self._stream.close()

    def remove(self) -> None:
        """Delete the progress folder (after the outputs are safely written)."""
        self.close()
        shutil.rmtree(self.folder, ignore_errors=True)


def load_snapshot(folder: Path, fingerprint: dict[str, Any]) -> tuple[Snapshot, int] | None:
    """The last snapshot in ``folder`` and the byte offset its results end at, or ``None`` if there
    is none. A snapshot written with other settings is refused with a ``PoseCliError``."""
    state_path = folder / "state.pkl"
    if not state_path.is_file():
        return None
    try:
        state = pickle.loads(state_path.read_bytes())  # noqa: S301 - a file this program wrote itself
        if state.get("version") != STATE_VERSION:
            raise ValueError(f"version {state.get('version')} is not {STATE_VERSION}")
    except (OSError, pickle.UnpicklingError, ValueError, EOFError, AttributeError) as error:
        raise PoseCliError(f"{state_path}: unreadable progress checkpoint ({error}); delete {folder} to start over") from error
    if state["fingerprint"] != fingerprint:
        changed = sorted(k for k in set(state["fingerprint"]) | set(fingerprint)
                         if state["fingerprint"].get(k) != fingerprint.get(k))
        raise PoseCliError(
            f"{folder}: the interrupted run used other settings ({', '.join(changed)}); "
            f"rerun with the same options or delete {folder} to start over"
        )
    results: list[FrameResult] = []
    with open(folder / "results.pkl", "rb") as stream:
        while len(results) < state["done"]:
            try:
                results.append(pickle.load(stream))  # noqa: S301
            except (EOFError, pickle.UnpicklingError) as error:
                raise PoseCliError(f"{folder / 'results.pkl'}: ends before frame {state['done']} ({error})") from error
    snapshot = Snapshot(state["done"], state["fed"], results, state["stages"], fingerprint)
    return snapshot, state["offset"]
