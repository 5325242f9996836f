"""PoseTrack evaluation: poseval's frame selection and cleanup, AP and MOTA per sequence.

Pairing predictions with GT is ``posecli.evaluation.pairing``'s; the result is
``posecli.evaluation.result``'s :class:`~posecli.evaluation.result.EvalResult`.

:func:`evaluate_posetrack` is the library entry point (the CLI and the training loop call it);
:class:`PoseTrackEvaluator` is the same computation behind the :class:`~posecli.evaluation.base.Evaluator`
protocol for predictions held in memory.

Sequences are matched by name and frames by image identity (``shared/spec/posetrack.md`` §12), and
every place where that differs from poseval's positional pairing is reported. GT sequences are
streamed one file at a time; only per-joint (score, label) samples and MOT counters are kept.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import shapely

from posecli.errors import PoseCliError
from posecli.evaluation.formats import (
    NUM_JOINTS,
    FrameData,
    SequenceData,
    empty_frame,
    list_json_files,
    read_sequences,
)
from posecli.evaluation.mota import MOTAccumulator, MOTCounts, mot_metrics
from posecli.evaluation.pairing import PredictionSource, check_unique_track_ids, pair_frames
from posecli.evaluation.posetrack_ap import APAccumulator, match_frame
from posecli.evaluation.result import EvalResult, SequencePairing
from posecli.keypoints import POSEVAL_JOINT_NAMES, SLOT_OF_POSEVAL_ID
from posecli.progress import progress_bar
from posecli.structures import FrameResult

MODES = ("poseval", "posetrack21")
METRICS = ("ap", "mota", "oks")


# ---------------------------------------------------------------------------------------------------------
# cleanup (§4 poseval, §9 PT21)


@dataclass
class CleanPeople:
    """One side of a frame after cleanup: arrays over the N kept people (see ``FrameData``)."""

    xy: np.ndarray  # (N, 15, 2)
    present: np.ndarray  # (N, 15)
    scores: np.ndarray  # (N, 15)
    track_ids: np.ndarray  # (N,)
    heads: np.ndarray  # (N, 4)
    source: np.ndarray  # (N,) index into the frame's people, for error messages

    @property
    def count(self) -> int:
        return int(self.track_ids.shape[0])


def _inside_any(polygons: list[shapely.Polygon], xy: np.ndarray) -> np.ndarray:
    """``(...,)`` bool: point strictly inside any polygon (shapely ``contains``; boundary points stay out).

    xy: ``(..., 2)``.
    """
    inside = np.zeros(xy.shape[:-1], dtype=bool)
    for polygon in polygons:
        inside |= shapely.contains_xy(polygon, xy[..., 0], xy[..., 1])
    return inside


def cleanup_frame(frame: FrameData, polygons: list[shapely.Polygon], mode: str) -> CleanPeople:
    """Drop what poseval (or the PT21 kit) drops before matching; see the spec's §4.2–4.3 and §9."""
    xy = frame.xy.copy()
    present = frame.present.copy()
    if mode == "poseval":
        keep = frame.has_points.copy()  # persons without annopoints[0].point go first
        if polygons:
            present &= ~_inside_any(polygons, xy)
            keep &= present.any(axis=1)  # a person left with no points goes, even one that had none
    else:
        present &= (xy[..., 0] > 0) & (xy[..., 1] > 0)  # the kit's presence rule: x > 0 and y > 0
        keep = np.ones(frame.num_people, dtype=bool)
        if polygons:
            inside = _inside_any(polygons, xy)  # (N, 15), zero joints included
            keep &= ~inside.all(axis=1)
            xy[inside] = 0.0
            present &= ~inside
            keep &= ((xy[..., 0] > 0) | (xy[..., 1] > 0)).any(axis=1)
    index = np.nonzero(keep)[0]
    return CleanPeople(
        xy[index], present[index], frame.scores[index], frame.track_ids[index], frame.heads[index], index
    )


# ---------------------------------------------------------------------------------------------------------
# one sequence


@dataclass
class _SequenceOutcome:
    ap: APAccumulator
    mot: list[MOTCounts] | None
    num_evaluated: int


def _evaluate_sequence(
    gt: SequenceData, preds: list[FrameData], mode: str, metrics: Sequence[str], pairing: SequencePairing
) -> _SequenceOutcome:
    """AP samples and MOT counts of one GT sequence; ``preds[k]`` is the prediction frame of GT frame k."""
    accumulator = APAccumulator(recall_floor=1 if mode == "posetrack21" else 0)
    mot_frames: list[list[tuple[np.ndarray, np.ndarray, np.ndarray]]] = []
    num_evaluated = 0
    crashes_kit = False
    for gt_frame, pr_frame in zip(gt.frames, preds, strict=True):
        if mode == "poseval":
            evaluated = gt_frame.num_people > 0  # counted before cleanup; is_labeled is never read
        else:
            if gt_frame.is_labeled is None:
                raise PoseCliError(
                    f"{gt.path}: {gt_frame.field_path}.is_labeled: missing "
                    "(--mode posetrack21 selects frames by it)"
                )
            evaluated = gt_frame.is_labeled
        if not evaluated:
            continue
        num_evaluated += 1
        polygons = [shapely.Polygon(region) for region in gt_frame.ignore_regions]
        g = cleanup_frame(gt_frame, polygons, mode)
        p = cleanup_frame(pr_frame, polygons, mode)
        missing_head = np.isnan(g.heads).any(axis=1)
        if missing_head.any():
            person = int(g.source[np.argmax(missing_head)])
            raise PoseCliError(
                f"{gt.path}: {gt_frame.field_path} ({gt_frame.key}) person {person}: no head box "
                f"(bbox_head or x1/y1/x2/y2), which PCKh needs in every evaluated frame"
            )
        matched = match_frame(g.xy, g.present, g.heads, p.xy, p.present)
        accumulator.add_frame(p.scores, matched.labels, p.present, g.present)
        if mode == "posetrack21" and g.count == 0 and p.count > 0:
            crashes_kit = True
        if "mota" in metrics:
            mot_frames.append(_mot_inputs(g, p, matched.dist, matched.match))
    pairing.num_evaluated = num_evaluated
    if crashes_kit:
        pairing.problems.append(
            "a labeled frame has predictions but no GT people (the PT21 kit crashes on it)"
        )
    counts: list[MOTCounts] | None = None
    if "mota" in metrics:
        if num_evaluated == 1:
            pairing.problems.append(
                "only one evaluated frame: poseval's tracking evaluation crashes (IndexError)"
            )
        accumulators = [MOTAccumulator() for _ in range(NUM_JOINTS)]
        for frame_inputs in mot_frames[:-1]:  # poseval skips the last evaluated frame of every sequence
            for j, (oids, hids, dists) in enumerate(frame_inputs):
                accumulators[j].update(oids, hids, dists)
        counts = [a.counts for a in accumulators]
    return _SequenceOutcome(accumulator, counts, num_evaluated)


_DUMMY = (np.zeros(1, dtype=np.int64), np.zeros(1, dtype=np.int64), np.full((1, 1), np.nan))


def _mot_inputs(
    g: CleanPeople, p: CleanPeople, dist: np.ndarray, match: np.ndarray
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Per joint: (GT track ids, predicted track ids, ``(n_gt, n_pr)`` distances with NaN = no pair).

    dist/match: ``(P, G, 15)``. A frame without GT or predicted people gets poseval's dummy update.
    """
    if g.count == 0 or p.count == 0:
        return [_DUMMY] * NUM_JOINTS
    out = []
    for j in range(NUM_JOINTS):
        gi = np.nonzero(g.present[:, j])[0]
        pi = np.nonzero(p.present[:, j])[0]
        d = dist[np.ix_(pi, gi)][:, :, j].T if gi.size and pi.size else np.zeros((gi.size, pi.size))
        m = match[np.ix_(pi, gi)][:, :, j].T if gi.size and pi.size else np.zeros((gi.size, pi.size), bool)
        out.append((g.track_ids[gi], p.track_ids[pi], np.where(m, d, np.nan)))
    return out


# ---------------------------------------------------------------------------------------------------------
# entry points


def gt_fingerprint(files: Iterable[tuple[str, Path]]) -> str:
    """SHA-256 over the sorted lines ``"<relative name> <sha256 of the bytes>"`` of the GT files used."""
    lines = sorted(f"{name} {hashlib.sha256(path.read_bytes()).hexdigest()}" for name, path in files)
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def _check_options(mode: str, metrics: Sequence[str]) -> tuple[str, ...]:
    if mode not in MODES:
        raise PoseCliError(f"--mode: '{mode}' is not one of {', '.join(MODES)}")
    chosen = tuple(dict.fromkeys(m.strip().lower() for m in metrics if m.strip()))
    for metric in chosen:
        if metric not in METRICS:
            raise PoseCliError(f"--metrics: '{metric}' is not one of {', '.join(METRICS)}")
    if mode == "posetrack21" and "mota" in chosen:
        raise PoseCliError(
            "--metrics: mota is not part of --mode posetrack21 (the PT21 kit scores tracking with HOTA)"
        )
    if not chosen:
        raise PoseCliError("--metrics: nothing to compute")
    return chosen


def _run(
    gt: Path,
    source: PredictionSource,
    mode: str,
    metrics: tuple[str, ...],
    per_sequence: bool,
    quiet: bool,
) -> EvalResult:
    gt_files = list_json_files(gt)
    if not gt_files:
        raise PoseCliError(f"{gt}: no *.json GT files in this folder")
    total_ap = APAccumulator(recall_floor=1 if mode == "posetrack21" else 0)
    total_mot = [MOTCounts() for _ in range(NUM_JOINTS)]
    pairings: list[SequencePairing] = []
    results: dict[str, EvalResult] = {}
    num_frames = 0
    num_sequences = 0
    fingerprint_files = [(p.name, p) for p in gt_files]
    with progress_bar("eval", total=len(gt_files), unit="files", quiet=quiet) as advance:
        for gt_file in gt_files:
            sequences = read_sequences(
                gt_file,
                role="gt",
                require_categories=mode == "poseval",
                name_from_stem=gt.is_dir(),
                fixed_slots=mode == "posetrack21",  # the PT21 kit reads no categories, GT or predictions
            )
            for gt_seq in sorted(sequences, key=lambda s: s.name):
                pred = source.find(gt_seq)
                pairing = SequencePairing(
                    gt_seq.name, str(gt_file), None if pred is None else str(pred.path), len(gt_seq.frames), 0
                )
                if mode == "posetrack21":
                    check_unique_track_ids(gt_seq)  # the PT21 kit requires unique ids in GT frames too
                if gt_seq.multi_video_file:
                    pairing.problems.append(
                        f"{gt_file.name} holds several videos (poseval keeps only the first)"
                    )
                preds = pair_frames(gt_seq, pred, pairing)
                outcome = _evaluate_sequence(gt_seq, preds, mode, metrics, pairing)
                pairings.append(pairing)
                num_frames += outcome.num_evaluated
                num_sequences += 1
                if per_sequence:
                    results[gt_seq.name] = EvalResult(
                        mode=mode,
                        ap=outcome.ap.compute() if "ap" in metrics else None,
                        mot=mot_metrics(outcome.mot) if outcome.mot is not None else None,
                        num_gt_frames=outcome.num_evaluated,
                        num_sequences=1,
                        gt_fingerprint=gt_fingerprint([(gt_file.name, gt_file)]),
                        pairing=[pairing],
                    )
                total_ap.extend(outcome.ap)
                if outcome.mot is not None:
                    total_mot = [a + b for a, b in zip(total_mot, outcome.mot, strict=True)]
            advance()
    ap = total_ap.compute() if "ap" in metrics else None
    notes: list[str] = []
    if ap is not None and ap.ties.any():
        tied = ", ".join(POSEVAL_JOINT_NAMES[j] for j in np.nonzero(ap.ties)[0])
        notes.append(
            f"tied joint scores ({tied}): their ranking follows numpy's sort, "
            "so poseval may order them differently"
        )
    return EvalResult(
        mode=mode,
        ap=ap,
        mot=mot_metrics(total_mot) if "mota" in metrics else None,
        num_gt_frames=num_frames,
        num_sequences=num_sequences,
        gt_fingerprint=gt_fingerprint(fingerprint_files),
        pairing=pairings,
        unused_predictions=source.unused(),
        notes=notes,
        per_sequence=results,
    )


def evaluate_posetrack(
    pred: Path,
    gt: Path,
    *,
    mode: str = "poseval",
    metrics: Sequence[str] = ("ap", "mota"),
    per_sequence: bool = False,
    quiet: bool = True,
) -> EvalResult:
    """Score PoseTrack predictions against GT as poseval (or, with ``mode="posetrack21"``, the PT21 kit).

    pred, gt: a folder of per-sequence ``*.json`` files or one file, each in the 2017 or 2018 format.
    metrics: any of ``"ap"``, ``"mota"`` (poseval mode only) and ``"oks"`` (COCO OKS AP through
    pycocotools, see :mod:`posecli.evaluation.coco_oks`). per_sequence: also score each sequence
    alone (``EvalResult.per_sequence``). quiet: no progress bar.
    Raises ``PoseCliError`` (``<file>: <field path>: <problem>``) on malformed input.
    """
    chosen = _check_options(mode, metrics)
    source = PredictionSource(
        Path(pred), None, require_categories=mode == "poseval", fixed_slots=mode == "posetrack21"
    )
    result = _run(Path(gt), source, mode, tuple(m for m in chosen if m != "oks"), per_sequence, quiet)
    if "oks" in chosen:
        from posecli.evaluation.coco_oks import evaluate_oks

        result.oks = evaluate_oks(Path(pred), Path(gt))
    return result


def sequence_from_results(
    name: str, image_names: Sequence[str], frames: Sequence[FrameResult], path: Path | None = None
) -> SequenceData:
    """Predictions held in memory as a :class:`SequenceData` (keypoints ``(17, 3)`` ``x, y, score``).

    A joint is absent only when ``x == y == score == 0`` (the 2018 drop rule with the score as ``v``);
    an untracked person gets its index within the frame as track id (the reference writer's rule).
    """
    if len(image_names) != len(frames):
        raise PoseCliError(f"{name}: {len(image_names)} image names for {len(frames)} frame results")
    slots = np.asarray([SLOT_OF_POSEVAL_ID[j] for j in range(NUM_JOINTS)])
    out: list[FrameData] = []
    for index, (image_name, result) in enumerate(zip(image_names, frames, strict=True)):
        frame = empty_frame(image_name, index)
        if result.instances:
            kps = np.stack([np.asarray(inst.keypoints, dtype=np.float64)[slots] for inst in result.instances])
            n = kps.shape[0]
            frame.xy = kps[..., :2].copy()
            frame.scores = kps[..., 2].copy()
            frame.present = ~((kps[..., 0] == 0) & (kps[..., 1] == 0) & (kps[..., 2] == 0))
            frame.track_ids = np.asarray(
                [k if inst.track_id is None else inst.track_id for k, inst in enumerate(result.instances)],
                dtype=np.int64,
            )
            frame.heads = np.full((n, 4), np.nan)
            frame.boxes = np.stack([np.asarray(inst.box, dtype=np.float64) for inst in result.instances])
            frame.boxes[:, 2:] -= frame.boxes[:, :2]  # xyxy -> xywh
            frame.person_scores = np.asarray([inst.score for inst in result.instances], dtype=np.float64)
            frame.has_points = np.ones(n, dtype=bool)
        frame.field_path = f"frame {index}"
        out.append(frame)
    folder = out[0].key.split("/")[0] if out and "/" in out[0].key else name
    return SequenceData(name, folder, path or Path(f"<{name}>"), "memory", out)


class PoseTrackEvaluator:
    """The :class:`~posecli.evaluation.base.Evaluator` for in-memory predictions (training validation).

    ``process(sequence, image_names, frames)`` stores one sequence's ``FrameResult``s (keypoints
    ``(17, 3)`` ``x, y, score``, ``track_id`` set); ``evaluate()`` scores everything stored against
    ``gt`` and returns :meth:`EvalResult.metrics`; ``last_result`` keeps the full :class:`EvalResult`.
    """

    def __init__(self, gt: Path, *, mode: str = "poseval", metrics: Sequence[str] = ("ap", "mota")) -> None:
        self.gt = Path(gt)
        self.mode = mode
        self.metrics = _check_options(mode, metrics)
        if "oks" in self.metrics:
            raise PoseCliError(
                "--metrics: oks needs prediction files (use evaluate_posetrack or evaluate_oks)"
            )
        self._sequences: dict[str, SequenceData] = {}
        self.last_result: EvalResult | None = None

    def reset(self) -> None:
        self._sequences = {}

    def process(self, sequence: str, image_names: Sequence[str], frames: Sequence[FrameResult]) -> None:
        self._sequences[sequence] = sequence_from_results(sequence, image_names, frames)

    def evaluate(self) -> dict[str, float]:
        source = PredictionSource(None, dict(self._sequences), require_categories=False)
        self.last_result = _run(self.gt, source, self.mode, self.metrics, per_sequence=False, quiet=True)
        return self.last_result.metrics()
