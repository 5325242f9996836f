"""Any posecli prediction file read back as frames: the one reader ``render`` and ``export`` share.

Formats, told by the content (a ``.jsonl`` file by its name): PoseTrack 2018 (``images`` +
``annotations``: ``estimate``'s and ``track``'s files, hand-corrected ones), PoseTrack 2017
(``annolist``, one video), COCO keypoint results (a JSON list) and JSON lines. Each is read by its
existing reader (``posecli.export`` and, for 2017, ``posecli.evaluation.formats``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from posecli.errors import PoseCliError
from posecli.keypoints import NUM_KEYPOINTS, SLOT_OF_POSEVAL_ID
from posecli.structures import FrameResult, PoseInstance
from posecli.video import shown_path

FORMAT_TITLES = {"posetrack18": "PoseTrack 2018", "posetrack17": "PoseTrack 2017", "coco": "COCO", "jsonl": "JSON lines"}


@dataclass(frozen=True, eq=False)
class Predictions:
    """A prediction file read back: its frames, and what the file says of its video (0 / "" if nothing).

    file_format: ``posetrack18``, ``posetrack17``, ``coco`` or ``jsonl`` (``FORMAT_TITLES`` names them).
    name: the video's name (the PoseTrack folder, else the file name without posecli's suffixes).
    """

    path: Path
    frames: list[FrameResult]
    file_format: str
    width: int = 0
    height: int = 0
    name: str = ""

    @property
    def format_title(self) -> str:
        """The format as people name it (``PoseTrack 2018``)."""
        return FORMAT_TITLES[self.file_format]


def read_predictions(path: Path) -> Predictions:
    """Read any posecli prediction file (see the module docstring).

    Raises one ``PoseCliError`` line naming the file (and the field) for a missing, unreadable or
    malformed file, or a JSON document of no known format.
    """
    from posecli.export._json import load_json

    if path.suffix.lower() == ".jsonl":
        from posecli.export.jsonl import read_jsonl

        return Predictions(path, read_jsonl(path), "jsonl", name=video_name_of(path))
    document = load_json(path, finite=False)  # only the shape is looked at here; each reader checks values
    if isinstance(document, list):
        from posecli.export.coco import read_coco_json

        return Predictions(path, read_coco_json(path), "coco", name=video_name_of(path))
    if isinstance(document, dict) and "annolist" in document:
        return _read_annolist(path)
    if isinstance(document, dict) and "images" in document and "annotations" in document:
        from posecli.export.posetrack import read_posetrack_file

        read = read_posetrack_file(path)
        return Predictions(
            path, read.frames, "posetrack18", read.width, read.height, read.video_name or video_name_of(path)
        )
    raise PoseCliError(
        f"{shown_path(path)}: (top level): not a posecli prediction (expected PoseTrack 2018 'images' + 'annotations', "
        "PoseTrack 2017 'annolist', a COCO results list or JSON lines)"
    )


def video_name_of(path: Path) -> str:
    """The video a prediction file stands for: ``clip.tracks.posetrack.json`` → ``clip``."""
    name = path.name
    for suffix in (".jsonl", ".json", ".posetrack", ".coco", ".tracks"):
        name = name.removesuffix(suffix)
    return name or path.stem


def _read_annolist(path: Path) -> Predictions:
    """PoseTrack 2017 (one video) through ``posecli eval``'s reader; poseval joint ids mapped back to the
    17 slots; frame index = position in ``annolist``. A joint listed without a score (ground truth, a
    hand correction) counts as certain; one listed with score 0 stays located (score 1e-6)."""
    from posecli.evaluation.formats import MISSING_SCORE, read_sequences

    sequences = read_sequences(path, role="pred", require_categories=False)
    if len(sequences) != 1:
        raise PoseCliError(f"{shown_path(path)}: annolist: holds {len(sequences)} videos; give one video per file")
    sequence = sequences[0]
    frames = []
    for frame in sequence.frames:
        people = []
        for n in range(frame.num_people):
            keypoints = np.zeros((NUM_KEYPOINTS, 3))
            for joint in np.flatnonzero(frame.present[n]):
                score = frame.scores[n, joint]
                certain = 1.0 if score == MISSING_SCORE else max(float(score), 1e-6)
                keypoints[SLOT_OF_POSEVAL_ID[int(joint)]] = (*frame.xy[n, joint], certain)
            located = keypoints[keypoints[:, 2] > 0, :2]
            box = np.concatenate([located.min(0), located.max(0)]) if len(located) else np.zeros(4)
            person_score = frame.person_scores[n]
            people.append(PoseInstance(
                keypoints=keypoints, box=box, score=1.0 if np.isnan(person_score) else float(person_score),
                track_id=int(frame.track_ids[n]),
            ))
        frames.append(FrameResult(frame.index, 0.0, tuple(people)))
    name = sequence.folder.rsplit("/", 1)[-1] or video_name_of(path)
    return Predictions(path, frames, "posetrack17", name=name)
