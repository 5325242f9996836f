"""Pairing predictions with ground truth: sequences by name (then image folder), frames by image identity.

``shared/spec/posetrack.md`` §12: every place where this differs from poseval's positional pairing is
recorded in the sequence's :class:`~posecli.evaluation.result.SequencePairing`.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from posecli.errors import PoseCliError
from posecli.evaluation.formats import FrameData, SequenceData, empty_frame, list_json_files, read_sequences
from posecli.evaluation.result import SequencePairing

TRACK_ID_LIMIT = 10000  # poseval asserts every track id is below this


def check_unique_track_ids(sequence: SequenceData) -> None:
    """Raise ``PoseCliError`` naming the file and frame if a frame repeats a track id."""
    for frame in sequence.frames:
        ids = frame.track_ids
        if ids.size > 1 and ids.size != np.unique(ids).size:
            values, counts = np.unique(ids, return_counts=True)
            raise PoseCliError(
                f"{sequence.path}: {frame.field_path} ({frame.key}): "
                f"duplicate track id {int(values[counts > 1][0])} in one frame "
                "(poseval: 'Non-unique tracklet IDs found in frame')"
            )


def pair_frames(gt: SequenceData, pred: SequenceData | None, pairing: SequencePairing) -> list[FrameData]:
    """The prediction frame for every GT frame, by image identity (frame number as a fallback).

    Checks predicted track ids (unique per frame), and records every way this pairing differs from
    poseval's positional one.
    """
    if pred is None:
        pairing.problems.append("no prediction file or sequence for it: every frame counts as empty")
        return [empty_frame(f.image_name, f.index) for f in gt.frames]
    by_key: dict[str, int] = {}
    by_number: dict[int, list[int]] = {}
    check_unique_track_ids(pred)
    large_ids = any(bool((f.track_ids >= TRACK_ID_LIMIT).any()) for f in [*pred.frames, *gt.frames])
    for position, frame in enumerate(pred.frames):
        by_key.setdefault(frame.key, position)
        if frame.frame_number is not None:
            by_number.setdefault(frame.frame_number, []).append(position)
    paired: list[FrameData] = []
    used = np.zeros(len(pred.frames), dtype=bool)
    positions: list[int] = []
    missing = 0
    for gt_frame in gt.frames:
        k: int | None = by_key.get(gt_frame.key)
        if (
            k is None
            and gt_frame.frame_number is not None
            and len(by_number.get(gt_frame.frame_number, [])) == 1
        ):
            k = by_number[gt_frame.frame_number][0]
        if k is None or used[k]:
            missing += 1
            positions.append(-1)
            paired.append(empty_frame(gt_frame.image_name, gt_frame.index))
            continue
        used[k] = True
        positions.append(k)
        paired.append(pred.frames[k])
    extra = int((~used).sum())
    if len(pred.frames) != len(gt.frames):
        pairing.problems.append(
            f"{len(pred.frames)} prediction frames but {len(gt.frames)} GT frames "
            "(poseval refuses: '# prediction frames <> # GT frames')"
        )
    if missing:
        pairing.problems.append(f"{missing} GT frame(s) have no prediction frame and count as empty")
    if extra:
        pairing.problems.append(f"{extra} prediction frame(s) match no GT frame and are ignored")
    if any(k >= 0 and k != i for i, k in enumerate(positions)):
        pairing.problems.append(
            "prediction frames are in a different order than GT frames (paired by image name here; "
            "poseval pairs by position and would give other numbers)"
        )
    if large_ids:
        pairing.problems.append(f"track ids of {TRACK_ID_LIMIT} or more (poseval refuses them)")
    if pred.multi_video_file:
        pairing.problems.append(f"{pred.path.name} holds several videos (poseval keeps only the first)")
    if pred.missing_scores:
        pairing.notes.append("some predicted joints have no score and rank at -9999 (ties)")
    return paired


class PredictionSource:
    """Finds the prediction sequence of a GT sequence: by name, then by image folder.

    fixed_slots: read 2018 keypoints in the 17 fixed slots, ignoring ``categories`` (the PT21 kit).
    """

    def __init__(
        self,
        path: Path | None,
        memory: dict[str, SequenceData] | None,
        require_categories: bool,
        fixed_slots: bool = False,
    ) -> None:
        self.path = path
        self.require_categories = require_categories
        self.fixed_slots = fixed_slots
        self.memory = memory
        self.used: set[str] = set()
        self._cache: tuple[Path, list[SequenceData]] | None = None
        self._single: list[SequenceData] | None = None
        if path is not None and not path.exists():
            raise PoseCliError(f"{path}: prediction path does not exist")
        if path is not None and not (path.is_file() or path.is_dir()):
            raise PoseCliError(f"{path}: prediction path is not a regular file or folder")
        if path is not None and path.is_file():
            self._single = read_sequences(
                path,
                role="pred",
                require_categories=require_categories,
                name_from_stem=False,
                fixed_slots=fixed_slots,
            )

    def _read(self, file: Path) -> list[SequenceData]:
        if self._cache is None or self._cache[0] != file:
            self._cache = (
                file,
                read_sequences(
                    file,
                    role="pred",
                    require_categories=self.require_categories,
                    fixed_slots=self.fixed_slots,
                ),
            )
        return self._cache[1]

    def find(self, gt: SequenceData) -> SequenceData | None:
        if self.memory is not None:
            pred = self.memory.get(gt.name) or self.memory.get(gt.folder)
            if pred is not None:
                self.used.add(pred.name)
            return pred
        if self._single is not None:
            for seq in self._single:
                if seq.folder in (gt.name, gt.folder) or seq.name == gt.name:
                    self.used.add(seq.folder)
                    return seq
            return None
        assert self.path is not None
        # posecli estimate writes <stem>.posetrack.json: its output folder pairs with the GT as it is
        names = (gt.name, gt.folder)
        for candidate in (
            f"{gt.name}.json",
            gt.path.name,
            f"{gt.folder}.json",
            *(f"{n}.posetrack.json" for n in names),
        ):
            file = self.path / candidate
            if not file.is_file():
                continue
            sequences = self._read(file)
            chosen = next((s for s in sequences if s.folder == gt.folder), None)
            if chosen is None and len(sequences) == 1:
                chosen = sequences[0]
            if chosen is not None:
                self.used.add(file.name)
                return chosen
        return None

    def unused(self) -> list[str]:
        if self.memory is not None:
            return sorted(set(self.memory) - self.used)
        if self._single is not None:
            return sorted(s.folder for s in self._single if s.folder not in self.used)
        assert self.path is not None
        return sorted(p.name for p in list_json_files(self.path) if p.name not in self.used)
