"""Printing evaluation results: poseval's two tables (Rich) and its plain LaTeX-style rows.

The row format is poseval's: each cell ``%1.1f`` right-aligned in 5 characters, cells joined by
``" &"``, the row ending in ``" \\\\"``; NaN prints ``nan`` (``shared/spec/posetrack.md`` §6–§7).
In ``posetrack21`` mode the AP table has the PT21 kit's three rows: mAP, precision and recall (§9).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from rich import box
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from posecli.evaluation.posetrack_ap import nanmean_or_nan
from posecli.evaluation.result import EvalResult, group_means

AP_HEADER = "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total\\\\"
MOT_HEADER = (
    "& MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTA & MOTP & Prec & Rec  \\\\\n"
    "& Head & Shou & Elb  & Wri  & Hip  & Knee & Ankl & Total& Total& Total& Total\\\\"
)
GROUP_TITLES = ("Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle")


def poseval_row(values: Sequence[float]) -> str:
    """One poseval table row: ``'%5.1f'`` cells (``nan`` for NaN) joined by ``' &'``, ending ``' \\\\'``."""
    cells = ["  nan" if math.isnan(v) else f"{v:5.1f}" for v in values]
    return "&" + " &".join(cells) + " \\\\"


def ap_row_values(result: EvalResult) -> list[float]:
    """The 8 AP cells: the 7 group means, then Total (mean of the 15 joints, NaN skipped)."""
    assert result.ap is not None
    return [*group_means(result.ap.ap).values(), result.total_ap]


def pt21_rows(result: EvalResult) -> dict[str, list[float]]:
    """The PT21 kit's rows, 8 cells each (7 groups, then Total): ``mAP``, ``Precision``, ``Recall``.

    Groups are plain means of the per-joint values and Total the NaN-skipping mean of the 15 joints,
    as for AP; precision and recall are each joint's last curve point (TP/N, TP/max(nGT, 1)).
    """
    assert result.ap is not None
    ap = result.ap
    return {
        "mAP": ap_row_values(result),
        "Precision": [*group_means(ap.precision).values(), nanmean_or_nan(ap.precision)],
        "Recall": [*group_means(ap.recall).values(), nanmean_or_nan(ap.recall)],
    }


def mot_row_values(result: EvalResult) -> list[float]:
    """The 11 MOT cells: 7 MOTA groups, then MOTA, MOTP, precision and recall totals."""
    assert result.mot is not None
    mot = result.mot
    return [
        *group_means(mot.mota).values(),
        nanmean_or_nan(mot.mota),
        nanmean_or_nan(mot.motp),
        nanmean_or_nan(mot.precision),
        nanmean_or_nan(mot.recall),
    ]


def poseval_text(result: EvalResult) -> str:
    """The tables exactly as poseval prints them (headers and rows)."""
    lines = []
    if result.ap is not None:
        lines += ["Average Precision (AP) metric:", AP_HEADER, poseval_row(ap_row_values(result))]
    if result.mot is not None:
        lines += ["Multiple Object Tracking (MOT) metrics:", MOT_HEADER, poseval_row(mot_row_values(result))]
    return "\n".join(lines)


def _cell(value: float) -> str:
    return "nan" if math.isnan(value) else f"{value:.1f}"


def summary_line(result: EvalResult) -> str:
    """``# gt frames N · sequences S · mode M · GT sha256 …``: what every printed result carries."""
    return (
        f"# gt frames {result.num_gt_frames} · sequences {result.num_sequences} · mode {result.mode} · "
        f"GT sha256 {result.gt_fingerprint}"
    )


def _print_fitted(table: Table, console: Console) -> None:
    """Print ``table``, narrowing its padding, then dropping its vertical borders, if it would not fit.

    Rich shrinks an over-wide table by truncating cells (``100…``), which would hide the numbers; one
    space of padding per cell instead of two makes the 11-column MOT table fit 80 columns, and without
    vertical borders it still fits when MOTA is negative (``-100.0``: every prediction a false positive).
    """
    wide = console.options.update_width(10_000)
    if console.measure(table, options=wide).maximum > console.width:
        table.padding = (0, 0, 0, 1)
    if console.measure(table, options=wide).maximum > console.width:
        table.box = box.SIMPLE_HEAD
        table.show_edge = False
    console.print(table)


def print_tables(result: EvalResult, console: Console, title: str = "") -> None:
    """Rich tables of the AP row (in posetrack21 mode: mAP, precision and recall rows) and the MOT row,
    then the frame count, sequence count and GT fingerprint."""
    short = ("Head", "Shou", "Elb", "Wri", "Hip", "Knee", "Ankl")
    if result.ap is not None:
        if result.mode == "posetrack21":
            table = Table(title=f"{title}Average Precision (mAP, PCKh@0.5), precision and recall")
            table.add_column("", justify="left")
            for name in (*GROUP_TITLES, "Total"):
                table.add_column(name, justify="right")
            for label, values in pt21_rows(result).items():
                table.add_row(label, *(_cell(v) for v in values))
        else:
            table = Table(title=f"{title}Average Precision (AP, PCKh@0.5)")
            for name in (*GROUP_TITLES, "Total"):
                table.add_column(name, justify="right")
            table.add_row(*(_cell(v) for v in ap_row_values(result)))
        _print_fitted(table, console)
    if result.mot is not None:
        table = Table(title=f"{title}Multiple Object Tracking: MOTA per group, then totals")
        for name in (*short, "MOTA", "MOTP", "Prec", "Rec"):
            table.add_column(name, justify="right")
        table.add_row(*(_cell(v) for v in mot_row_values(result)))
        _print_fitted(table, console)
    console.print(summary_line(result), highlight=False, soft_wrap=True)


def print_report(
    result: EvalResult, console: Console, warn: Console, per_sequence: bool = False, quiet: bool = False
) -> None:
    """Everything ``posecli eval`` shows: one warning per sequence whose pairing differs from poseval's,
    notes (not with ``quiet``), the tables, per-sequence totals when asked for, and COCO OKS numbers."""
    for pairing in result.pairing:
        if pairing.problems:
            text = f"warning: {pairing.gt_file} ({pairing.name}): {'; '.join(pairing.problems)}"
            official = "the PT21 kit" if result.mode == "posetrack21" else "poseval"
            text += f" — {official} would refuse this input or give other numbers"
            warn.print(f"[yellow]{escape(text)}[/yellow]", highlight=False, soft_wrap=True)
        for note in pairing.notes:  # e.g. missing scores: a warning, as poseval gives one
            warn.print(
                f"[yellow]{escape(f'warning: {pairing.name}: {note}')}[/yellow]",
                highlight=False,
                soft_wrap=True,
            )
    if result.unused_predictions:
        text = (
            f"warning: prediction files/sequences without GT, ignored: {', '.join(result.unused_predictions)}"
        )
        warn.print(f"[yellow]{escape(text)}[/yellow]", highlight=False, soft_wrap=True)
    for note in [] if quiet else result.notes:
        warn.print(f"[dim]{escape(f'note: {note}')}[/dim]", highlight=False, soft_wrap=True)
    print_tables(result, console)
    if per_sequence and result.per_sequence:
        table = Table(title="Per sequence")
        for name in ("Sequence", "# gt frames", "AP Total", "MOTA Total", "MOTP Total"):
            table.add_column(name, justify="left" if name == "Sequence" else "right")
        for name, seq in result.per_sequence.items():
            mot = seq.mot
            table.add_row(
                name,
                str(seq.num_gt_frames),
                _cell(seq.total_ap),
                _cell(seq.total_mota),
                _cell(nanmean_or_nan(mot.motp)) if mot is not None else "nan",
            )
        console.print(table)
    if result.oks is not None:
        table = Table(title="COCO OKS (not comparable with PoseTrack mAP)")
        for name in result.oks:
            table.add_column(name, justify="right")
        table.add_row(*(_cell(v) for v in result.oks.values()))
        console.print(table)
