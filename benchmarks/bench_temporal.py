"""Does the temporal module help? Single-frame HRNet against FAMI-Pose and TDMI under one budget.

A controlled study on synthetic video where the answer is known (issue 15): a share of the key frames
is made hard (motion blur, defocus, two limbs hidden, a whole person hidden; ``posecli data synth
--hard-share``), every other frame is clean, and the hard (frame, person) pairs are flagged in
``synthetic_effects.json``. Every row trains with the same budget (same steps, batch, Adam and learning
rate, crops, augmentation, backbone initialisation: from scratch, the whole network trained) through
``posecli.train.fit`` and is scored with ``posecli eval``'s AP (``evaluate_posetrack``) on all
validation people and on the hard ones only (GT and predictions both cut to the flagged pairs).

Rows: HRNet, FAMI-Pose and TDMI with the heatmap head and with the SimCC head; ablations FAMI-Pose
without GTM (supporting features unwarped), with the paper's affine GTM, without LCM (the aggregated
supporting feature used unaligned), MI off, MI ``kl`` (against ``reference``, the FAMI-Pose row), and
TDMI without its MI terms. The two architectural ablations are made here, on the built model (see
``ABLATIONS``), because posecli's models have no switch for them. Each seed s generates its own data
(seed s) and trains every row with seed s, so rows are compared paired by seed: the difference to
HRNet with the same head is reported as mean and a 95 % t-interval over seeds.

Results are kept per (row, seed) in ``--work-dir/results.jsonl``, so an interrupted study continues
where it stopped; the ``## bench_temporal`` section of ``benchmarks/RESULTS.md`` (``--quick``: its own
``## bench_temporal (quick)``) is rewritten after every run with the rows so far, and at the end with
the invocation's wall time (kept in the work folder for ``--report-only``).

Usage: ``python benchmarks/bench_temporal.py [--quick] [--seeds 3] [--steps N] [--rows a,b] [--no-write]``
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ProcessPoolExecutor, as_completed
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch
from _report import write_section
from torch import Tensor, nn

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "benchmarks" / "RESULTS.md"
SECTION = "## bench_temporal"


@dataclass(frozen=True)
class RunInfo:
    """The invocation that trained the rows: its command, UTC date, 1-minute load average at its start
    and end, and wall time (None: unknown)."""

    command: str
    date: str
    loads: tuple[float, float]
    wall_seconds: float | None

    @classmethod
    def now(cls, command: str, load_at_start: float, wall_seconds: float | None) -> RunInfo:
        date = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
        return cls(command, date, (load_at_start, os.getloadavg()[0]), wall_seconds)


def section_for(quick: bool) -> str:
    """The RESULTS.md heading a run writes: the study's, or its own for the ``--quick`` smoke run."""
    return SECTION + (" (quick)" if quick else "")


class _PassThrough(nn.Module):
    """Stands in for a deformable conv: returns its input unchanged (the LCM ablation)."""

    def forward(self, x: Tensor, offset: Tensor, mask: Tensor | None = None) -> Tensor:
        return x


def _without_gtm(model: nn.Module) -> None:
    """FAMI-Pose without GTM: the supporting features go to the aggregation unwarped."""
    temporal = model.temporal
    identity = torch.eye(2, 3)

    def unwarped(key: Tensor, support: Tensor) -> tuple[Tensor, Tensor]:
        b, s = support.shape[:2]
        return support, identity.expand(b, s, 2, 3)

    temporal.align = unwarped  # instance attribute: shadows FamiTemporal.align
    for p in temporal.feat_global_offset_layers.parameters():
        p.requires_grad_(False)  # unused, kept out of the optimizer


def _without_lcm(model: nn.Module) -> None:
    """FAMI-Pose without LCM: dcn_3 and dcn_4 pass the aggregated supporting feature through, so the
    fusion reads it uncalibrated (dcn_1/dcn_2 only fed dcn_3's offsets and drop out with it)."""
    temporal = model.temporal
    temporal.dcn_3, temporal.dcn_4 = _PassThrough(), _PassThrough()
    for name in (
        "dcn_1",
        "dcn_2",
        "combined_feat_layers",
        *(f"dcn_{k}_{i}" for k in ("offset", "mask") for i in (1, 2, 3, 4)),
    ):
        for p in getattr(temporal, name).parameters():
            p.requires_grad_(False)


ABLATIONS: dict[str, Callable[[nn.Module], None]] = {"no-gtm": _without_gtm, "no-lcm": _without_lcm}


@dataclass(frozen=True)
class Row:
    """One model of the study: its recipe (``configs/<arch>_hrnet-w8_synthetic_128x96.yaml``), head,
    extra overrides and an optional edit of the built model (a key of ``ABLATIONS``)."""

    key: str
    label: str
    arch: str
    head: str = "heatmap"
    overrides: tuple[str, ...] = ()
    ablation: str | None = None

    @property
    def baseline(self) -> str:
        return "hrnet" if self.head == "heatmap" else "hrnet-simcc"


ROWS = (
    Row("hrnet", "HRNet (single frame)", "hrnet"),
    Row("fami", "FAMI-Pose (MI reference)", "fami"),
    Row("tdmi", "TDMI", "tdmi"),
    Row("hrnet-simcc", "HRNet, SimCC head", "hrnet", "simcc"),
    Row("fami-simcc", "FAMI-Pose, SimCC head", "fami", "simcc"),
    Row("tdmi-simcc", "TDMI, SimCC head", "tdmi", "simcc"),
    Row("fami-no-gtm", "FAMI-Pose without GTM", "fami", ablation="no-gtm"),
    Row("fami-gtm-affine", "FAMI-Pose, affine GTM", "fami", overrides=("model.gtm=affine",)),
    Row("fami-no-lcm", "FAMI-Pose without LCM", "fami", ablation="no-lcm"),
    Row("fami-mi-off", "FAMI-Pose, MI off", "fami", overrides=("model.fami_alpha=0",)),
    Row("fami-mi-kl", "FAMI-Pose, MI kl", "fami", overrides=("model.mi_estimator=kl",)),
    Row(
        "tdmi-no-mi",
        "TDMI without MI",
        "tdmi",
        overrides=("model.tdmi_alpha=0", "model.tdmi_beta=0", "model.tdmi_gamma=0"),
    ),
)
QUICK_ROWS = ("hrnet", "fami", "tdmi")
_COST = {"tdmi": 3, "fami": 2, "hrnet": 1}  # relative cost of a run, for ordering the parallel ones
HARD_KIND_LABELS = {
    "blur": "motion blur",
    "defocus": "defocus",
    "joints": "two limbs hidden",
    "person": "person hidden",
}

# two-sided 95 % Student t quantiles by degrees of freedom (seeds - 1)
_T975 = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262, 10: 2.228}


@dataclass
class Study:
    """The settings every row shares (one budget)."""

    steps: int
    batch: int
    lr: float
    width: int
    crop: tuple[int, int]  # (H, W)
    frame_size: tuple[int, int]  # (W, H)
    videos: int
    val_videos: int
    frames: int
    people: int
    hard_share: float
    sigma: float
    pretrain_steps: int = 0  # single-frame HRNet steps every row starts from (0: all from scratch)
    pretrain_lr: float = 3e-3  # Adam learning rate of that pretraining (from scratch)
    extra: tuple[str, ...] = field(default_factory=tuple)

    def overrides(self, row: Row, seed: int, data: Path, init: Path | None) -> list[str]:
        """The recipe overrides of ``row``; ``init``: the pretrained HRNet its backbone starts from.
        With one, FAMI-Pose freezes it as the released recipe does; TDMI and HRNet fine-tune it."""
        start = [f"train.init_checkpoint={init}"] if init is not None else []
        if init is not None and row.arch == "fami":
            start.append("model.freeze_backbone=true")
        return [
            *start,
            f"data.root={data}",
            f"model.width={self.width}",
            f"model.input_size=[{self.crop[0]}, {self.crop[1]}]",
            f"model.head={row.head}",
            "model.decode=argmax",
            "eval.decode=argmax",
            f"data.sigma={self.sigma}",
            f"train.lr={self.lr}",
            f"train.batch_size={self.batch}",
            f"train.max_steps={self.steps}",
            "train.epochs=1000000",
            "train.lr_steps=[1000000]",
            f"train.seed={seed}",
            "train.log_every=1000000",
            "eval.every=1000000",  # validate once, when max_steps ends the run
            *row.overrides,
            *self.extra,
        ]


def make_data(study: Study, seed: int, work: Path) -> Path:
    """The synthetic dataset of ``seed`` (generated once per work folder), every frame labelled."""
    from posecli.data.synthetic import write_synthetic_dataset

    data = work / f"data-seed{seed}"
    if not (data / "annotations").is_dir():
        write_synthetic_dataset(
            data,
            videos=study.videos,
            val_videos=study.val_videos,
            frames=study.frames,
            people=study.people,
            seed=seed,
            size=study.frame_size,
            label_every=1,
            hard_share=study.hard_share,
        )
    return data


def hard_pairs(data: Path, kind: str | None = None) -> set[tuple[str, int, int]]:
    """``(sequence, frame number, track id)`` of every flagged hard person in the validation videos
    (of one kind of hard frame, or of all)."""
    from posecli.data.synthetic import EFFECTS_FILE

    effects = json.loads((data / EFFECTS_FILE).read_text())["videos"]
    return {
        (seq, h["frame"], track)
        for seq, video in effects.items()
        if video["split"] == "val"
        for h in video["hard"]
        if kind is None or h["kind"] == kind
        for track in h["track_ids"]
    }


def cut_to_hard(data: Path, pred_dir: Path, out: Path, kind: str | None = None) -> tuple[Path, Path, int]:
    """GT and prediction folders holding only the hard people (other frames unlabelled); returns them
    and the number of hard people. Predictions are matched to GT people through the validation
    samples' order (``validate`` writes person k of a frame as ``track_id`` k)."""
    from posecli.data.posetrack import read_posetrack, training_samples

    split = read_posetrack(data, "val")
    pairs = hard_pairs(data, kind)
    tracks: dict[int, list[int]] = {}
    frame_of: dict[int, tuple[str, int]] = {}
    for sample in training_samples(split):  # validation with GT boxes uses these, in this order
        tracks.setdefault(sample.frame.image_id, []).append(sample.track_id)
    for frame in split.frames:
        frame_of[frame.image_id] = (frame.video, frame.frame_number)
    gt_out, pred_out = out / "gt", out / "pred"
    shutil.rmtree(out, ignore_errors=True)
    gt_out.mkdir(parents=True)
    pred_out.mkdir()
    kept = 0
    for gt_file in sorted(split.gt_path.glob("*.json")):
        gt = json.loads(gt_file.read_text())
        gt["annotations"] = [
            a for a in gt["annotations"] if (*frame_of[a["image_id"]], a["track_id"]) in pairs
        ]
        kept += len(gt["annotations"])
        hard_images = {a["image_id"] for a in gt["annotations"]}
        for image in gt["images"]:
            image["is_labeled"] = image["is_labeled"] and image["id"] in hard_images
            if not image["is_labeled"]:
                image.pop("ignore_regions_x", None)
                image.pop("ignore_regions_y", None)
        (gt_out / gt_file.name).write_text(json.dumps(gt))
        pred = json.loads((pred_dir / gt_file.name).read_text())
        pred["annotations"] = [
            a
            for a in pred["annotations"]
            if (*frame_of[a["image_id"]], tracks[a["image_id"]][a["track_id"]]) in pairs
        ]
        (pred_out / gt_file.name).write_text(json.dumps(pred))
    return gt_out, pred_out, kept


@contextmanager
def _edited_models(ablation: str | None) -> Iterator[None]:
    """While active, ``fit`` builds its model and then applies the ablation's edit to it."""
    if ablation is None:
        yield
        return
    from posecli.train import fitting

    build = fitting.build_training_model

    def build_and_edit(config: Any) -> nn.Module:
        model = build(config)
        ABLATIONS[ablation](model)
        return model

    fitting.build_training_model = build_and_edit
    try:
        yield
    finally:
        fitting.build_training_model = build


def _init_worker(threads: int | None) -> None:
    """Worker start: torch's thread count (one thread each is fastest on a shared, busy machine)."""
    if threads:
        torch.set_num_threads(threads)


PRETRAIN = Row("pretrain", "HRNet pretraining", "hrnet")


def pretrain(study: Study, seed: int, work: Path) -> tuple[Path, float]:
    """The single-frame HRNet (heatmap head) of ``seed`` every row's backbone starts from, trained
    ``pretrain_steps`` steps (kept in the work folder); returns its checkpoint and validation AP."""
    from posecli.config import load_config
    from posecli.train import fit

    out = work / f"pretrain-seed{seed}"
    done = out / "ap.json"
    if done.is_file():
        return out / "last.safetensors", float(json.loads(done.read_text())["ap"])
    shutil.rmtree(out, ignore_errors=True)
    data = make_data(study, seed, work)
    overrides = study.overrides(PRETRAIN, seed, data, None)
    # the last value of a key wins
    overrides += [f"train.max_steps={study.pretrain_steps}", f"train.lr={study.pretrain_lr}"]
    config = load_config(ROOT / "configs" / "hrnet_hrnet-w8_synthetic_128x96.yaml", overrides)
    result = fit(config, out, device="cpu", quiet=True)
    ap = float(result.metrics["ap/total"])
    done.write_text(json.dumps({"ap": ap}))
    return result.last_checkpoint, ap


def run_one(study: Study, row: Row, seed: int, work: Path) -> dict[str, Any]:
    """Train ``row`` with ``seed`` and score it; returns the result record."""
    from posecli.config import load_config
    from posecli.data.synthetic import HARD_KINDS
    from posecli.evaluation.posetrack import evaluate_posetrack
    from posecli.train import fit

    data = make_data(study, seed, work)
    init = pretrain(study, seed, work)[0] if study.pretrain_steps else None
    config = load_config(
        ROOT / "configs" / f"{row.arch}_hrnet-w8_synthetic_128x96.yaml",
        study.overrides(row, seed, data, init),
    )
    out = work / "runs" / f"{row.key}-seed{seed}"
    shutil.rmtree(out, ignore_errors=True)
    start = time.perf_counter()
    with _edited_models(row.ablation):
        result = fit(config, out, device="cpu", quiet=True)
    seconds = time.perf_counter() - start
    (pred_dir,) = sorted((out / "predictions").iterdir())
    gt_hard, pred_hard, hard_people = cut_to_hard(data, pred_dir, out / "hard")
    hard = evaluate_posetrack(pred_hard, gt_hard, metrics=("ap",), quiet=True)
    by_kind = {}
    for kind in HARD_KINDS:
        gt_kind, pred_kind, count = cut_to_hard(data, pred_dir, out / "hard", kind)
        if count:
            by_kind[kind] = evaluate_posetrack(pred_kind, gt_kind, metrics=("ap",), quiet=True).total_ap
    record = {
        "row": row.key,
        "seed": seed,
        "steps": result.state.step,
        "ap": result.metrics["ap/total"],
        "ap_hard": hard.total_ap,
        "hard_people": hard_people,
        "ap_by_kind": by_kind,
        "train_seconds": seconds,
    }
    shutil.rmtree(out / "hard", ignore_errors=True)
    return record


def _mean_sd(values: list[float]) -> str:
    if not values:
        return "–"
    sd = statistics.stdev(values) if len(values) > 1 else float("nan")
    return f"{statistics.fmean(values):.1f} ± {sd:.1f}" if math.isfinite(sd) else f"{values[0]:.1f}"


def paired_interval(diffs: list[float]) -> tuple[float, float, float] | None:
    """Mean of paired differences and its 95 % t-interval ``(mean, low, high)``; None below 2 pairs."""
    n = len(diffs)
    if n < 2:
        return None
    mean = statistics.fmean(diffs)
    half = _T975.get(n - 1, 1.96) * statistics.stdev(diffs) / math.sqrt(n)
    return mean, mean - half, mean + half


def _hard_gain(record: dict[str, Any]) -> float:
    """AP on the hard people minus AP on all: how much less a model loses on the hard frames."""
    return float(record["ap_hard"] - record["ap"])


def _diff_cell(
    row: Row, metric: Callable[[dict[str, Any]], float], by_key: dict[tuple[str, int], dict[str, Any]]
) -> str:
    if row.key == row.baseline:
        return "(baseline)"
    seeds = sorted(s for k, s in by_key if k == row.key and (row.baseline, s) in by_key)
    interval = paired_interval([metric(by_key[row.key, s]) - metric(by_key[row.baseline, s]) for s in seeds])
    if interval is None:
        return "–"
    mean, low, high = interval
    mark = " *" if low > 0 or high < 0 else ""
    return f"{mean:+.1f} [{low:+.1f}, {high:+.1f}]{mark}"


def report(
    study: Study,
    records: list[dict[str, Any]],
    run: RunInfo,
    rows: tuple[Row, ...],
    args: argparse.Namespace,
    pretrained: dict[int, float],
) -> str:
    """The RESULTS.md section for the records so far, trained by the invocation ``run`` describes."""
    by_key = {(r["row"], r["seed"]): r for r in records}
    if study.pretrain_steps:
        start = (
            f"every backbone starts from the seed's single-frame HRNet trained {study.pretrain_steps} steps "
            f"(lr {study.pretrain_lr:g}) "
            f"to AP {_mean_sd(list(pretrained.values()))}, frozen in FAMI-Pose as the released recipe has it, "
            "fine-tuned in TDMI and HRNet; then"
        )
    else:
        start = "trained from scratch (whole network)"
    seeds_all = sorted({r["seed"] for r in records})
    hard_people = {r["seed"]: r["hard_people"] for r in records}
    lines = [
        section_for(args.quick),
        "",
        (
            "Does the temporal module help where the key frame alone is not enough? Synthetic PoseTrack18 data "
            f"(`posecli data synth --hard-share {study.hard_share}`): per seed {study.videos} training and "
            f"{study.val_videos} validation videos × {study.frames} frames × {study.people} people at "
            f"{study.frame_size[0]}×{study.frame_size[1]}, every frame labelled; {round(100 * study.hard_share)} % "
            "of the frames are hard key frames between clean neighbours (motion blur, defocus, two limbs or a whole "
            "person behind a grey block; hidden joints stay annotated), every other frame is clean."
        ),
        (
            f"One budget for every row: HRNet width {study.width} (FAMI/TDMI on top), {study.crop[0]}×{study.crop[1]} "
            f"crops, {start}, {study.steps} steps of batch {study.batch}, Adam lr "
            f"{study.lr:g} constant, flips only, σ {study.sigma:g}; the tiny recipes' MI weights "
            "(FAMI α 0.5 β 0.1, TDMI 0.1/0.1/0.1). Validation with the GT boxes, argmax decoding, no flip test."
        ),
        "AP: `posecli eval` (poseval AP, `evaluate_posetrack`) on all validation people (`all`) and on the "
        "flagged hard people only (`hard`; GT and predictions cut to them, "
        + ", ".join(f"{hard_people[s]}" for s in seeds_all)
        + " hard people for seeds "
        + ", ".join(str(s) for s in seeds_all)
        + "). Seed s = data seed and training "
        "seed. Δ: difference to HRNet with the same head, paired by seed, mean [95 % t-interval]; * = the interval "
        "excludes 0. Δ (hard − all): the same for AP hard − AP all, i.e. how much less than HRNet a model loses "
        "on the hard frames (positive: the temporal model gains on exactly the frames the key frame cannot solve).",
        (
            f"Machine: {platform.machine()}, {os.cpu_count()} cores, {args.jobs} run(s) at a time with "
            f"{args.threads or torch.get_num_threads()} torch thread(s) each, CPU only. Python "
            f"{sys.version.split()[0]}, torch {torch.__version__}. Date: {run.date}. "
            f"1-minute load average at the start / end: {run.loads[0]:.1f} / {run.loads[-1]:.1f} (above 2: "
            "other work shared the machine and times are only indicative)."
        ),
        f"Command: `{run.command}`"
        + (
            ""
            if run.wall_seconds is None
            else f"; wall time of that invocation {run.wall_seconds / 60:.1f} min (data, pretraining, "
            f"{len(records)} runs, evaluation, report)."
        ),
        "",
        (
            "| model | seeds | AP all | AP hard | Δ all vs HRNet | Δ hard vs HRNet | Δ (hard − all) vs HRNet "
            "| train s/run |"
        ),
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for row in rows:
        runs = [by_key[row.key, s] for s in seeds_all if (row.key, s) in by_key]
        if not runs:
            lines.append(f"| {row.label} | 0 | not run | | | | | |")
            continue
        lines.append(
            f"| {row.label} | {len(runs)} | {_mean_sd([r['ap'] for r in runs])} | "
            f"{_mean_sd([r['ap_hard'] for r in runs])} | {_diff_cell(row, lambda r: r['ap'], by_key)} | "
            f"{_diff_cell(row, lambda r: r['ap_hard'], by_key)} | {_diff_cell(row, _hard_gain, by_key)} | "
            f"{statistics.fmean(r['train_seconds'] for r in runs):.0f} |"
        )
    lines += [
        "",
        "AP on the hard people by kind of hard frame, mean over seeds (Δ: mean paired difference to HRNet):",
        "",
        "| model | " + " | ".join(HARD_KIND_LABELS.values()) + " |",
        "|---|" + "---:|" * len(HARD_KIND_LABELS),
    ]
    for row in rows:
        runs = [by_key[row.key, s] for s in seeds_all if (row.key, s) in by_key]
        if not runs:
            continue
        cells = []
        for kind in HARD_KIND_LABELS:
            values = [r["ap_by_kind"][kind] for r in runs if kind in r.get("ap_by_kind", {})]
            if not values:
                cells.append("–")
                continue
            cell = f"{statistics.fmean(values):.1f}"
            pairs = [
                (by_key[row.key, s]["ap_by_kind"][kind], by_key[row.baseline, s]["ap_by_kind"][kind])
                for s in seeds_all
                if (row.key, s) in by_key
                and (row.baseline, s) in by_key
                and kind in by_key[row.key, s].get("ap_by_kind", {})
                and kind in by_key[row.baseline, s].get("ap_by_kind", {})
            ]
            if row.key != row.baseline and pairs:
                cell += f" ({statistics.fmean(a - b for a, b in pairs):+.1f})"
            cells.append(cell)
        lines.append(f"| {row.label} | " + " | ".join(cells) + " |")
    lines.append("")
    if args.quick:
        lines += [
            (
                "A smoke run: it checks that data, pretraining, every row's training and the scoring work end "
                f"to end; {study.steps} steps are far too few for the numbers to mean anything (the study is "
                "`## bench_temporal`)."
            ),
            "",
        ]
    if args.notes is not None:
        lines += [args.notes.read_text().strip(), ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smoke run: HRNet/FAMI/TDMI, 2 seeds, short")
    parser.add_argument("--seeds", type=int, default=None, help="seeds per row (default 3; quick 2)")
    parser.add_argument(
        "--steps", type=int, default=None, help="training steps per row (default 300; quick 30)"
    )
    parser.add_argument(
        "--pretrain-steps",
        type=int,
        default=None,
        help="single-frame HRNet steps every row starts from, per seed (default 300; quick 60; 0: from scratch)",
    )
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument(
        "--lr", type=float, default=1e-3, help="Adam learning rate of every row (the papers' 1e-3)"
    )
    parser.add_argument(
        "--pretrain-lr", type=float, default=3e-3, help="Adam learning rate of the HRNet pretraining"
    )
    parser.add_argument("--width", type=int, default=8, help="HRNet width")
    parser.add_argument("--crop", default="96x64", help="crop HxW (multiples of 32)")
    parser.add_argument("--frame-size", default="160x120", help="synthetic frame WxH")
    parser.add_argument("--videos", type=int, default=None, help="training videos (default 8; quick 4)")
    parser.add_argument("--val-videos", type=int, default=None, help="validation videos (default 3; quick 2)")
    parser.add_argument("--frames", type=int, default=24)
    parser.add_argument("--people", type=int, default=2)
    parser.add_argument("--hard-share", type=float, default=0.3)
    parser.add_argument("--sigma", type=float, default=2.0, help="heatmap σ in heatmap pixels")
    parser.add_argument(
        "--rows",
        default=None,
        help="comma-separated row keys (default all; quick: "
        + ",".join(QUICK_ROWS)
        + "); known: "
        + ",".join(r.key for r in ROWS),
    )
    parser.add_argument(
        "--set", dest="extra", action="append", default=[], help="extra config override for every row"
    )
    parser.add_argument(
        "--work-dir",
        type=Path,
        default=None,
        help="keeps data, runs and results.jsonl; a rerun skips finished (row, seed) pairs "
        "(default: a temporary folder)",
    )
    parser.add_argument("--jobs", type=int, default=1, help="runs trained at once, each in its own process")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="torch threads per run (default torch's; 1 is much faster when the cores are busy)",
    )
    parser.add_argument(
        "--notes", type=Path, default=None, help="markdown file appended to the section (findings)"
    )
    parser.add_argument(
        "--report-only",
        action="store_true",
        help="train nothing: write the section from --work-dir's results",
    )
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md alone")
    args = parser.parse_args()

    quick = args.quick
    keys = args.rows.split(",") if args.rows else (list(QUICK_ROWS) if quick else [r.key for r in ROWS])
    known = {r.key: r for r in ROWS}
    unknown = [k for k in keys if k not in known]
    if unknown:
        parser.error(f"unknown row(s) {', '.join(unknown)}; known: {', '.join(known)}")
    rows = tuple(known[k] for k in keys)
    crop = tuple(int(v) for v in args.crop.lower().split("x"))
    frame_size = tuple(int(v) for v in args.frame_size.lower().split("x"))
    study = Study(
        steps=args.steps or (30 if quick else 300),
        pretrain_steps=args.pretrain_steps if args.pretrain_steps is not None else (60 if quick else 300),
        pretrain_lr=args.pretrain_lr,
        batch=args.batch,
        lr=args.lr,
        width=args.width,
        crop=(crop[0], crop[1]),
        frame_size=(frame_size[0], frame_size[1]),
        videos=args.videos or (4 if quick else 8),
        val_videos=args.val_videos or (2 if quick else 3),
        frames=args.frames,
        people=args.people,
        hard_share=args.hard_share,
        sigma=args.sigma,
        extra=tuple(args.extra),
    )
    seeds = list(range(args.seeds or (2 if quick else 3)))
    command = "python benchmarks/bench_temporal.py " + " ".join(sys.argv[1:])
    load_at_start = os.getloadavg()[0]
    started = time.perf_counter()
    section = section_for(quick)
    with tempfile.TemporaryDirectory() as tmp_name:
        work = args.work_dir or Path(tmp_name)
        work.mkdir(parents=True, exist_ok=True)
        log = work / "results.jsonl"
        settings = json.dumps(study.__dict__, default=list, sort_keys=True)
        records = []
        if log.exists():
            lines = log.read_text().splitlines()
            # a results file of other settings is not continued
            if lines and lines[0] == settings:
                records = [json.loads(line) for line in lines[1:]]
        if not records:
            log.write_text(settings + "\n")
        done = {(r["row"], r["seed"]) for r in records}
        for seed in seeds:
            make_data(study, seed, work)  # before any worker starts: the workers only read it
        pretrained: dict[int, float] = {}  # seed → validation AP of the pretrained HRNet
        # row-major (the HRNet baselines first): a finished row has all its seeds, so a study cut
        # short still compares every finished row with its baseline seed by seed
        tasks = [(row, seed) for row in rows for seed in seeds if (row.key, seed) not in done]
        if args.report_only:
            tasks = []  # the rows not run yet are listed as such
        if args.jobs > 1:
            # longest first (TDMI ≈ 2-4× FAMI ≈ 1.5× HRNet per step), so that the workers end together
            tasks.sort(key=lambda task: -_COST[task[0].arch])
        context = multiprocessing.get_context("spawn")
        with ProcessPoolExecutor(
            args.jobs, context, initializer=_init_worker, initargs=(args.threads,)
        ) as pool:
            if study.pretrain_steps:
                futures = {seed: pool.submit(pretrain, study, seed, work) for seed in seeds}
                pretrained.update({seed: future.result()[1] for seed, future in futures.items()})
            pending = [pool.submit(run_one, study, row, seed, work) for row, seed in tasks]
            for future in as_completed(pending):
                record = future.result()
                records.append(record)
                with log.open("a") as handle:
                    handle.write(json.dumps(record) + "\n")
                print(
                    f"{record['row']} seed {record['seed']}: AP {record['ap']:.1f}, hard {record['ap_hard']:.1f}, "
                    f"{record['train_seconds']:.0f} s",
                    flush=True,
                )
                if not args.no_write:
                    run = RunInfo.now(command, load_at_start, time.perf_counter() - started)
                    write_section(section, report(study, records, run, rows, args, pretrained))
        last_run = work / "last_run.json"  # what --report-only says about the invocation that trained
        if not args.report_only:
            run = RunInfo.now(command, load_at_start, time.perf_counter() - started)
            last_run.write_text(json.dumps(asdict(run)))
        elif last_run.exists():
            run = RunInfo(**json.loads(last_run.read_text()))
        else:
            run = RunInfo.now(command, load_at_start, None)
    text = report(study, records, run, rows, args, pretrained)
    print(text)
    if not args.no_write:
        write_section(section, text)
        print(f"wrote {section} in {RESULTS}")


if __name__ == "__main__":
    main()
