"""Small PoseTrack files in the real 2017 and 2018 formats, built from plain Python descriptions.

Tests and ``benchmarks/bench_eval.py`` describe a sequence as a list of :class:`SynthFrame`s and write
it as GT or as predictions in either format, so that both formats carry exactly the same data.
Joints are given by poseval id (``posecli.keypoints.POSEVAL_JOINT_NAMES``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from posecli.export.posetrack import (
    annolist_frame,
    annolist_head,
    annolist_person,
    annolist_point,
    annotation_entry,
    image_entry,
    sequence_document,
    write_posetrack_document,
)
from posecli.keypoints import POSEVAL_ID_OF_SLOT


@dataclass
class SynthPerson:
    """One person: ``joints`` maps poseval id → ``(x, y, score)``; ``head`` is ``x1, y1, x2, y2``."""

    track_id: int
    joints: dict[int, tuple[float, float, float]]
    head: tuple[float, float, float, float] | None = None
    score: float | None = None


@dataclass
class SynthFrame:
    """One frame: its people, whether it is labeled, and ignore polygons (lists of ``(x, y)``)."""

    people: list[SynthPerson] = field(default_factory=list)
    labeled: bool = True
    ignore: list[list[tuple[float, float]]] = field(default_factory=list)


def image_name(sequence: str, index: int) -> str:
    """``images/val/<sequence>/<index:06d>.jpg``, the PoseTrack 2018 layout."""
    return f"images/val/{sequence}/{index:06d}.jpg"


def _image_id(sequence: str, index: int) -> int:
    digits = "".join(ch for ch in sequence.split("_")[0] if ch.isdigit()) or "0"
    return 10_000_000_000 + int(digits) * 10_000 + index


def to_posetrack18(sequence: str, frames: list[SynthFrame], gt: bool) -> dict[str, Any]:
    """A 2018 file: ``categories`` with the 17 names, every frame in ``images``, people in ``annotations``.

    GT files get ``bbox_head``, ``scores: []`` and ``v = 1``; prediction files get ``scores`` (17) and
    ``v`` = the joint score, as ``posecli estimate`` writes them.
    """
    images: list[dict[str, Any]] = []
    annotations: list[dict[str, Any]] = []
    for k, frame in enumerate(frames):
        image_id = _image_id(sequence, k)
        images.append(image_entry(
            image_id, image_name(sequence, k), sequence[:6], len(frames), frame.labeled,
            has_no_densepose=True,
            ignore_regions_x=[[p[0] for p in poly] for poly in frame.ignore] if gt else [],
            ignore_regions_y=[[p[1] for p in poly] for poly in frame.ignore] if gt else [],
        ))  # fmt: skip
        for person in frame.people:
            kps = np.zeros((17, 3))
            scores = np.zeros(17)
            for slot, joint in POSEVAL_ID_OF_SLOT.items():
                if joint in person.joints:
                    x, y, s = person.joints[joint]
                    kps[slot] = (x, y, 1.0 if gt else s)
                    scores[slot] = s
            present = kps[kps[:, 2] > 0] if gt else kps[(kps != 0).any(axis=1)]
            lo = present[:, :2].min(axis=0) if len(present) else np.zeros(2)
            hi = present[:, :2].max(axis=0) if len(present) else np.zeros(2)
            extra: dict[str, Any] = {}
            if person.head is not None:
                x1, y1, x2, y2 = person.head
                extra["bbox_head"] = [x1, y1, x2 - x1, y2 - y1]
            if person.score is not None:
                extra["score"] = person.score
            annotations.append(annotation_entry(
                len(annotations), image_id, person.track_id, kps.reshape(-1).tolist(),
                scores=[] if gt else scores.tolist(),
                bbox=[float(lo[0]), float(lo[1]), float(hi[0] - lo[0]), float(hi[1] - lo[1])],
                iscrowd=0, num_keypoints=len(present), **extra,
            ))  # fmt: skip
    return sequence_document(images, annotations, released_key_order=True)


def to_annolist(sequence: str, frames: list[SynthFrame], gt: bool) -> dict[str, Any]:
    """A 2017 ``annolist`` file with the same content (points listed by poseval id)."""
    annolist = []
    for k, frame in enumerate(frames):
        rects = []
        for person in frame.people:
            points = [
                annolist_point(j, x, y, None if gt else s) for j, (x, y, s) in sorted(person.joints.items())
            ]
            rect = annolist_person(person.track_id, points)
            if person.head is not None:
                rect.update(annolist_head(*person.head))
            if person.score is not None:
                rect["score"] = [person.score]
            rects.append(rect)
        ignore = frame.ignore if gt and frame.ignore else None
        annolist.append(annolist_frame(image_name(sequence, k), k + 1, frame.labeled, rects, ignore))
    return {"annolist": annolist}


def write_sequence(
    path: Path, sequence: str, frames: list[SynthFrame], *, gt: bool, fmt: str = "2018"
) -> Path:
    """Write one sequence file (``fmt`` "2018" or "2017") and return its path."""
    data = to_posetrack18(sequence, frames, gt) if fmt == "2018" else to_annolist(sequence, frames, gt)
    write_posetrack_document(path, data, final_newline=False)
    return path


def random_sequence(
    rng: np.random.Generator, num_frames: int, max_people: int, labeled_every: int = 1
) -> tuple[list[SynthFrame], list[SynthFrame]]:
    """A random (GT, prediction) pair: people drift across frames; predictions are noisy copies with
    tie-free scores, some joints and people dropped and a few false positives added."""
    num_people = int(rng.integers(1, max_people + 1))
    start = rng.uniform(50, 1200, size=(num_people, 2))
    offsets = rng.uniform(-60, 60, size=(num_people, 15, 2))
    gt_frames, pr_frames = [], []
    for k in range(num_frames):
        labeled = k % labeled_every == 0
        gt_people, pr_people = [], []
        for n in range(num_people):
            centre = start[n] + k * 2.0
            joints = {j: (float(centre[0] + offsets[n, j, 0]), float(centre[1] + offsets[n, j, 1]), 1.0)
                      for j in range(15) if rng.random() > 0.1}  # fmt: skip
            head = (
                float(centre[0] - 20),
                float(centre[1] - 100),
                float(centre[0] + 20),
                float(centre[1] - 60),
            )
            if labeled:
                gt_people.append(SynthPerson(n, joints, head))
            if rng.random() < 0.9:
                noisy = {j: (x + float(rng.normal(0, 8)), y + float(rng.normal(0, 8)), float(rng.random()))
                         for j, (x, y, _) in joints.items() if rng.random() > 0.05}  # fmt: skip
                pr_people.append(SynthPerson(n, noisy))
        if rng.random() < 0.3:
            pos = rng.uniform(0, 1280, size=2)
            fp = {j: (float(pos[0] + 5 * j), float(pos[1] + 3 * j), float(rng.random())) for j in range(15)}
            pr_people.append(SynthPerson(num_people + 1, fp))
        gt_frames.append(SynthFrame(gt_people, labeled))
        pr_frames.append(SynthFrame(pr_people, labeled))
    return gt_frames, pr_frames
