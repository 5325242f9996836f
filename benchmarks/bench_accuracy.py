"""Accuracy of ``estimate`` on real labelled people: recall, false people, PCK and COCO OKS AP.

Runs the frame processor ``posecli estimate`` builds (embedded BlazePose by default, or the network
given with ``--weights``; same tracker, same thresholds) on every labelled picture in
``../shared/real`` (COCO, CrowdPose, OCHuman, MPII; see its README: measured there, never copied into
the repository), each picture as a one-frame video and as a short 1920×1080 pan clip (the picture
at its own size moving across a dark canvas: its people become small people in a 1080p frame, and
the clip goes through stitching and ``--min-track-len`` as ``estimate`` does), and reports per set:

- **recall**: labelled people with at least 8 labelled joints that a prediction was matched to;
- **false people / image**: predictions matched to no labelled person at all (any joint count). MPII
  labels one person per picture and OCHuman only the occluded people, although more may be visible,
  so they have no false-people figure. An unmatched prediction whose box overlaps a labelled
  person's box (IoU ≥ 0.3) is a real person badly posed and counted apart;
- **PCK@0.5** of matched people over the 12 body joints every layout shares (shoulders, elbows,
  wrists, hips, knees, ankles), **torso-normalised**: a joint is correct within 0.5 × the torso
  diameter (mean of left-shoulder→right-hip and right-shoulder→left-hip); people without those four
  joints labelled are left out of PCK;
- **OKS AP** (pycocotools, COCO-17 sets: COCO and OCHuman).

Matching: predictions and labelled people are paired one-to-one (Hungarian) on an OKS over the shared
body joints (COCO sigmas, the labelled box area); a pair counts from OKS 0.1 up, i.e. "this is that
person", how well it fits is what PCK measures.

Writes (with ``--label NAME``) one row per set into the ``## bench_accuracy`` section of
``benchmarks/RESULTS.md``, keeping the rows already there so each change adds a before/after row.
Command: ``python benchmarks/bench_accuracy.py --label "what changed" [--weights W] [--real DIR]``.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import io
import json
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

import cv2
import numpy as np
from _report import RESULTS, write_section
from scipy.optimize import linear_sum_assignment

ROOT = Path(__file__).resolve().parents[1]
SECTION = "## bench_accuracy"
MIN_JOINTS = 8  # a labelled person counts for recall from this many labelled joints
MATCH_OKS = 0.1
CLIP_SIZE = (1920, 1080)  # pan clips: the pictures' people at their own size in a 1080p frame

# Each set's joint index for the 12 shared body joints, in COCO order 5..16:
# l/r shoulder, l/r elbow, l/r wrist, l/r hip, l/r knee, l/r ankle.
BODY_COCO = list(range(5, 17))
BODY_CROWDPOSE = list(range(12))
BODY_MPII = [13, 12, 14, 11, 15, 10, 3, 2, 4, 1, 5, 0]
COCO_SIGMAS = np.array([.79, .79, .72, .72, .62, .62, 1.07, 1.07, .87, .87, .89, .89]) / 10.0  # body joints


@dataclass
class Person:
    """One labelled person: the 12 shared body joints ``(12, 3)`` (x, y, labelled) and a box area."""

    body: np.ndarray
    area: float
    joints: int  # labelled joints in the set's own layout
    coco: np.ndarray | None = None  # (17, 3) for COCO-17 sets
    bbox: list[float] | None = None


@dataclass
class Picture:
    path: Path
    people: list[Person]
    image_id: int = 0


@dataclass
class SetResult:
    labelled: int = 0
    found: int = 0
    false_people: int = 0
    badly_posed: int = 0  # unmatched predictions on a labelled person's box
    pictures: int = 0
    pck_correct: int = 0
    pck_total: int = 0
    seconds: float = 0.0
    coco_gt: dict = field(default_factory=dict)
    coco_dt: list = field(default_factory=list)


def _load_cocolike(folder: Path, name: str, body: list[int], coco17: bool) -> list[Picture]:
    data = json.loads((folder / name).read_text())
    pictures = {im["id"]: Picture(folder / im["file_name"], [], im["id"]) for im in data["images"]}
    for ann in data["annotations"]:
        k = np.asarray(ann["keypoints"], dtype=np.float64).reshape(-1, 3)
        labelled = k[:, 2] > 0
        x, y, w, h = ann["bbox"]
        pictures[ann["image_id"]].people.append(Person(
            body=np.column_stack([k[body, :2], labelled[body]]), area=float(ann.get("area") or w * h),
            joints=int(labelled.sum()), coco=k if coco17 else None, bbox=[x, y, w, h],
        ))
    return [pictures[i] for i in sorted(pictures)]


def _load_mpii(folder: Path) -> list[Picture]:
    pictures = []
    for i, entry in enumerate(json.loads((folder / "test_mpii.json").read_text())):
        joints = np.asarray(entry["joints"], dtype=np.float64)
        vis = np.asarray(entry["joints_vis"], dtype=bool) & (joints[:, 0] > 0)
        side = 200.0 * entry["scale"]  # MPII person scale: the box side is 200 px × scale
        person = Person(np.column_stack([joints[BODY_MPII], vis[BODY_MPII]]), side * side * 0.5, int(vis.sum()))
        pictures.append(Picture(folder / entry["image"], [person], i))
    return pictures


def load_sets(real: Path) -> dict[str, tuple[list[Picture], bool]]:
    """``name → (pictures, has_all_people_labelled)``."""
    return {
        "COCO": (_load_cocolike(real / "coco", "test_coco.json", BODY_COCO, True), True),
        "CrowdPose": (_load_cocolike(real / "crowdpose", "test_crowdpose.json", BODY_CROWDPOSE, False), True),
        # OCHuman labels the occluded people of a picture, not everyone in it
        "OCHuman": (_load_cocolike(real / "ochuman", "test_ochuman.json", BODY_COCO, True), False),
        "MPII": (_load_mpii(real / "mpii"), False),
    }


def _torso(body: np.ndarray) -> float | None:
    """Torso diameter of ``(12, 3)`` body joints, or None when a shoulder or hip is unlabelled."""
    if not body[[0, 1, 6, 7], 2].all():
        return None
    return float((np.linalg.norm(body[0, :2] - body[7, :2]) + np.linalg.norm(body[1, :2] - body[6, :2])) / 2)


def _oks(pred: np.ndarray, person: Person) -> float:
    """OKS of predicted body joints ``(12, 3)`` against a labelled person, over its labelled joints."""
    labelled = person.body[:, 2] > 0
    if not labelled.any():
        return 0.0
    d2 = ((pred[:, :2] - person.body[:, :2]) ** 2).sum(1)
    e = d2 / (2 * max(person.area, 1.0) * (2 * COCO_SIGMAS) ** 2)
    return float(np.exp(-e)[labelled].mean())


def _predicted_coco(instance) -> np.ndarray:
    """``(17, 3)`` COCO keypoints of a prediction (PoseTrack layout for networks: eyes unset)."""
    if instance.coco_keypoints is not None:
        return np.asarray(instance.coco_keypoints, dtype=np.float64)
    out = np.asarray(instance.keypoints, dtype=np.float64).copy()
    out[1:3] = 0.0
    return out


def _box_iou(a: np.ndarray, b: np.ndarray) -> float:
    lt, rb = np.maximum(a[:2], b[:2]), np.minimum(a[2:], b[2:])
    inter = float(np.prod(np.clip(rb - lt, 0, None)))
    union = float(np.prod(a[2:] - a[:2]) + np.prod(b[2:] - b[:2])) - inter
    return inter / union if union > 0 else 0.0


def _score_frame(
    result: SetResult, preds: list[np.ndarray], people: list[Person], all_labelled: bool,
    boxes: list[np.ndarray] | None = None,
) -> None:
    """Match one frame's predicted COCO-17 poses (and their xyxy ``boxes``) to its labelled people and
    add up the counts. An unmatched prediction whose box overlaps a labelled person's box (IoU ≥ 0.3)
    is a real person badly posed, not a false person."""
    oks = np.array([[_oks(p[5:17], person) for person in people] for p in preds]).reshape(len(preds), len(people))
    rows, cols = linear_sum_assignment(-oks) if oks.size else ([], [])
    matched = {c: r for r, c in zip(rows, cols) if oks[r, c] >= MATCH_OKS}
    for j, person in enumerate(people):
        if person.joints < MIN_JOINTS:
            continue
        result.labelled += 1
        if j in matched:
            result.found += 1
            torso = _torso(person.body)
            if torso is not None:
                pred = preds[matched[j]][5:17]
                labelled = person.body[:, 2] > 0
                ok = np.linalg.norm(pred[:, :2] - person.body[:, :2], axis=1) <= 0.5 * torso
                result.pck_correct += int(ok[labelled].sum())
                result.pck_total += int(labelled.sum())
    if all_labelled:
        taken = set(matched.values())
        labelled_boxes = [np.array([x, y, x + w, y + h]) for x, y, w, h in (p.bbox for p in people if p.bbox)]
        for i in range(len(preds)):
            if i in taken:
                continue
            if boxes is not None and any(_box_iou(boxes[i], b) >= 0.3 for b in labelled_boxes):
                result.badly_posed += 1
            else:
                result.false_people += 1


def _read_rgb(path: Path) -> np.ndarray:
    return np.ascontiguousarray(cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB))


def evaluate_set(processor, pictures: list[Picture], all_labelled: bool, coco17: bool) -> SetResult:
    """Every picture as a one-frame video through ``processor``."""
    from posecli.video import VideoFrame

    result = SetResult(pictures=len(pictures))
    images, annotations = [], []
    for picture in pictures:
        image = _read_rgb(picture.path)
        processor.reset()
        t0 = time.perf_counter()
        frames = processor.push(VideoFrame(0, 0.0, image)) + processor.finish()
        result.seconds += time.perf_counter() - t0
        instances = [i for f in frames for i in f.instances]
        preds = [_predicted_coco(i) for i in instances]
        _score_frame(result, preds, picture.people, all_labelled, [i.box for i in instances])
        if coco17:
            h, w = image.shape[:2]
            images.append({"id": picture.image_id, "width": w, "height": h, "file_name": picture.path.name})
            for person in picture.people:
                annotations.append({
                    "id": len(annotations) + 1, "image_id": picture.image_id, "category_id": 1, "iscrowd": 0,
                    "keypoints": person.coco.reshape(-1).tolist(), "num_keypoints": person.joints,
                    "area": person.area, "bbox": person.bbox,
                })
            for inst, pred in zip(instances, preds):
                result.coco_dt.append({
                    "image_id": picture.image_id, "category_id": 1, "keypoints": pred.reshape(-1).tolist(),
                    "score": float(inst.score),
                })
    if coco17:
        result.coco_gt = {"images": images, "annotations": annotations, "categories": [{"id": 1, "name": "person"}]}
    return result


def pan_clip(
    image: np.ndarray, frames: int, size: tuple[int, int] = CLIP_SIZE
) -> list[tuple[np.ndarray, np.ndarray, float]]:
    """A slow pan: ``image`` at its own size on a dark ``size`` (w, h) canvas, moving left to right over
    ``frames`` frames. Returns (frame ``(h, w, 3)``, offset ``(2,)``, scale): picture → frame pixels
    is ``xy * scale + offset``."""
    width, height = size
    h, w = image.shape[:2]
    scale = min(1.0, 0.9 * width / w, 0.9 * height / h)  # large pictures shrink to fit
    if scale < 1.0:
        image = cv2.resize(image, (round(w * scale), round(h * scale)), interpolation=cv2.INTER_AREA)
        h, w = image.shape[:2]
    y0 = (height - h) // 2
    out = []
    for f in range(frames):
        x0 = round((width - w) * (0.2 + 0.6 * f / max(frames - 1, 1)))
        canvas = np.full((height, width, 3), 40, dtype=np.uint8)
        canvas[y0 : y0 + h, x0 : x0 + w] = image
        out.append((canvas, np.array([x0, y0], dtype=np.float64), scale))
    return out


def _moved(person: Person, offset: np.ndarray, scale: float) -> Person:
    body = person.body.copy()
    body[:, :2] = body[:, :2] * scale + offset
    bbox = None if person.bbox is None else [*(np.asarray(person.bbox[:2]) * scale + offset), *(np.asarray(person.bbox[2:]) * scale)]
    return Person(body, person.area * scale * scale, person.joints, bbox=bbox)


def evaluate_clips(processor, pictures: list[Picture], all_labelled: bool, frames: int, min_track_len: int) -> SetResult:
    """Every picture as a ``frames``-frame 1920×1080 pan clip, through ``processor`` and the same
    stitching and track-length filter ``estimate`` applies; counts are per frame."""
    from posecli.tracking.stitch import stitch_tracklets
    from posecli.video import VideoFrame

    result = SetResult()
    for picture in pictures:
        clip = pan_clip(_read_rgb(picture.path), frames)
        processor.reset()
        t0 = time.perf_counter()
        outputs = []
        for index, (canvas, _, _) in enumerate(clip):
            outputs += processor.push(VideoFrame(index, index / 25.0, canvas))
        outputs += processor.finish()
        outputs = stitch_tracklets(outputs)
        if min_track_len > 1:  # (imported here: a baseline revision from before the filter has none)
            from posecli.tracking.track_filter import drop_weak_tracks

            outputs = drop_weak_tracks(outputs, min_length=min_track_len)
        result.seconds += time.perf_counter() - t0
        for output, (_, offset, scale) in zip(outputs, clip):
            preds = [_predicted_coco(i) for i in output.instances]
            people = [_moved(p, offset, scale) for p in picture.people]
            _score_frame(result, preds, people, all_labelled, [np.asarray(i.box) for i in output.instances])
            result.pictures += 1
    return result


def oks_ap(result: SetResult) -> float:
    """COCO keypoint AP (OKS, pycocotools) in %; 0 without predictions."""
    if not result.coco_dt:
        return 0.0
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO()
        gt.dataset = result.coco_gt
        gt.createIndex()
        dt = gt.loadRes(result.coco_dt)
        ev = COCOeval(gt, dt, "keypoints")
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return 100.0 * float(ev.stats[0])


def _existing_rows(results: Path) -> list[str]:
    if not results.exists():
        return []
    text = results.read_text()
    start = text.find(SECTION + "\n")
    if start < 0:
        return []
    end = text.find("\n## ", start + len(SECTION))
    block = text[start : end if end >= 0 else len(text)]
    return [line for line in block.splitlines() if line.startswith("| ") and not line.startswith("| label ")]


def _row(label: str, model: str, name: str, r: SetResult, all_labelled: bool, ap: float | None) -> str:
    recall = 100.0 * r.found / max(r.labelled, 1)
    fp = f"{r.false_people / r.pictures:.2f} ({r.badly_posed / r.pictures:.2f})" if all_labelled else "n/a"
    pck = f"{100.0 * r.pck_correct / r.pck_total:.1f}" if r.pck_total else "n/a"
    ap_text = f"{ap:.1f}" if ap is not None else "n/a"
    ms = 1000.0 * r.seconds / max(r.pictures, 1)
    return f"| {label} | {model} | {name} | {r.found}/{r.labelled} ({recall:.0f} %) | {fp} | {pck} | {ap_text} | {ms:.0f} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--label", required=True, help="what this row measures (e.g. the change made)")
    parser.add_argument("--weights", type=Path, help="a network checkpoint to measure instead of the embedded model")
    parser.add_argument("--real", type=Path, default=ROOT.parent / "shared" / "real")
    parser.add_argument("--sets", default="COCO,CrowdPose,OCHuman,MPII")
    parser.add_argument("--clip-frames", type=int, default=30, help="frames per 1080p pan clip (0: no clips)")
    parser.add_argument("--min-track-len", type=int, help="estimate's --min-track-len for the clips (default: its default)")
    parser.add_argument("--bbox-thr", type=float, help="estimate's --bbox-thr (default: its default)")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args()

    from posecli import jobs

    options = jobs.EstimateOptions(weights=args.weights, stitch=False, overlay=False)
    if args.bbox_thr is not None:
        options = replace(options, bbox_thr=args.bbox_thr)
    options = jobs.with_resolved_device(options, quiet=True)
    processor = jobs.build_processor(options, quiet=True)
    min_track_len = args.min_track_len or jobs.DEFAULT_MIN_TRACK_LEN
    model = "embedded" if args.weights is None else args.weights.name
    sets = load_sets(args.real)
    rows = []
    for name in args.sets.split(","):
        pictures, all_labelled = sets[name]
        coco17 = name in ("COCO", "OCHuman")
        r = evaluate_set(processor, pictures, all_labelled, coco17)
        rows.append(_row(args.label, model, name, r, all_labelled, oks_ap(r) if coco17 else None))
    for name in args.sets.split(",") if args.clip_frames > 0 else []:
        pictures, all_labelled = sets[name]
        r = evaluate_clips(processor, pictures, all_labelled, args.clip_frames, min_track_len)
        rows.append(_row(args.label, model, f"{name} 1080p pan clips", r, all_labelled, None))
    date = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC")
    old = [row for row in _existing_rows(RESULTS) if not re.match(rf"\| {re.escape(args.label)} \| {re.escape(model)} \|", row)]
    body = "\n".join([
        SECTION,
        "",
        ("`estimate`'s frame processor on the labelled real pictures of `../shared/real` (4 COCO, 2 CrowdPose, "
        "3 OCHuman, 5 MPII), each picture as a one-frame video, then as a 1920×1080 pan clip "
        f"({args.clip_frames} frames, the picture at its own size on a dark canvas moving left to right, so its "
        "people are 50–400 px tall in 1080p; stitching and `--min-track-len` applied as `estimate` does; counts "
        "per frame). Recall: labelled people with ≥ 8 labelled joints "
        "matched (one-to-one, OKS ≥ 0.1 over the 12 shared body joints). False people: unmatched predictions "
        "per picture or frame that overlap no labelled person's box (in brackets: unmatched ones on a labelled "
        "person, i.e. real people badly posed; MPII labels one person per picture and OCHuman only the occluded "
        "ones, so n/a). "
        "PCK@0.5: matched people's 12 body joints within 0.5 × the torso diameter (**torso-normalised**). "
        "OKS AP: pycocotools keypoint AP, COCO-17 sets, pictures only. ms: processor time per picture or frame "
        "(shared, busy machine: compare rows of one run). One row per change (`--label`), oldest first."),
        f"Command: `python benchmarks/bench_accuracy.py --label LABEL [--weights W]`. Last run: {date}.",
        "",
        "| label | model | set | recall | false people / image (badly posed) | PCK@0.5 (torso) | OKS AP | ms |",
        "|---|---|---|---|---:|---:|---:|---:|",
        *old,
        *rows,
        "",
        "",
    ])
    print("\n".join(rows))
    if not args.no_write:
        write_section(SECTION, body)


if __name__ == "__main__":
    main()
