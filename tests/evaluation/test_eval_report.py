"""poseval's printed rows and the Rich report."""

from __future__ import annotations

import io
import math
import re

import numpy as np
import pytest
from eval_cases import SEQ, A, gt_person, pr_person
from rich.console import Console

from posecli.evaluation import evaluate_posetrack
from posecli.evaluation.report import (
    AP_HEADER,
    GROUP_TITLES,
    poseval_row,
    poseval_text,
    print_report,
    print_tables,
    pt21_rows,
)
from posecli.evaluation.synthetic import SynthFrame


def test_poseval_row_format() -> None:
    # '%1.1f' right-aligned in 5, joined by ' &', ending ' \\'; NaN prints 'nan'.
    assert poseval_row([100.0, 5.25, math.nan]) == "&100.0 &  5.2 &  nan \\\\"


def test_poseval_text_has_header_and_eight_ap_cells(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A)]) for _ in range(2)]
    pred = [SynthFrame([pr_person(1, A, 0.9 - 0.1 * k)]) for k in range(2)]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}))
    lines = poseval_text(result).splitlines()
    assert lines[1] == AP_HEADER
    assert lines[2] == "&" + " &".join(["100.0"] * 8) + " \\\\"
    assert len(lines[-1].split("&")) == 12  # 11 MOT cells


def test_print_report_warns_once_per_sequence_and_prints_counts(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A)]) for _ in range(3)]
    pred = [SynthFrame([pr_person(1, A, 0.9)])]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}), per_sequence=True)
    out, err = io.StringIO(), io.StringIO()
    print_report(result, Console(file=out, width=200), Console(file=err, width=400), per_sequence=True)
    warnings = [line for line in err.getvalue().splitlines() if line.startswith("warning")]
    assert len(warnings) == 1 and SEQ in warnings[0] and "poseval would refuse" in warnings[0]
    assert "# gt frames 3 · sequences 1" in out.getvalue()
    assert result.gt_fingerprint in out.getvalue()
    assert np.isfinite(result.total_ap)


def _row(text: str, label: str) -> list[float]:
    """The numbers of the printed table row that starts with ``label`` (box characters ignored)."""
    (line,) = [line for line in text.splitlines() if re.match(rf"\W*{label} ", line)]
    return [float(cell) for cell in re.findall(r"nan|-?\d+\.\d", line)]


def test_pt21_report_prints_and_saves_precision_and_recall_rows(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A)]) for _ in range(2)]
    head_off = pr_person(1, A, 0.9)
    for j in (12, 13, 14):  # head joints 30 px off: false positives
        x, y, s = head_off.joints[j]
        head_off.joints[j] = (x + 30.0, y, s)
    pred = [SynthFrame([head_off]), SynthFrame([])]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}), mode="posetrack21", metrics=["ap"])
    # Body joints: one TP over 2 GT -> AP 50, precision 100, recall 50. Head joints: one FP -> all 0.
    # Totals over 15 joints: AP 12 x 50 / 15 = 40, precision 12 x 100 / 15 = 80, recall 40.
    expected = {
        "mAP": [0.0, *[50.0] * 6, 40.0],
        "Precision": [0.0, *[100.0] * 6, 80.0],
        "Recall": [0.0, *[50.0] * 6, 40.0],
    }
    rows = pt21_rows(result)
    for label, values in expected.items():
        np.testing.assert_allclose(rows[label], values)
    out = io.StringIO()
    print_tables(result, Console(file=out, width=80))
    for label, values in expected.items():
        np.testing.assert_allclose(_row(out.getvalue(), label), values)
    groups = result.to_dict()["ap"]
    assert groups["precision_groups"] == dict(zip(GROUP_TITLES, expected["Precision"][:7], strict=True))
    assert groups["recall_groups"] == dict(zip(GROUP_TITLES, expected["Recall"][:7], strict=True))
    assert groups["precision_total"] == pytest.approx(80.0) and groups["recall_total"] == pytest.approx(40.0)
    # poseval prints and saves no such rows.
    poseval = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}), metrics=["ap"])
    plain = io.StringIO()
    print_tables(poseval, Console(file=plain, width=80))
    assert not re.search(r"^\W*(Precision|Recall) ", plain.getvalue(), re.MULTILINE)
    assert "precision_groups" not in poseval.to_dict()["ap"]


def test_tables_fit_80_columns_without_truncating_numbers(write_case) -> None:
    gt = [SynthFrame([gt_person(1, A)]) for _ in range(3)]
    pred = [SynthFrame([pr_person(1, A, 0.9 - 0.1 * k)]) for k in range(3)]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}))
    out = io.StringIO()
    print_tables(result, Console(file=out, width=80))
    text = out.getvalue()
    # Rich would shrink the 11-column MOT table by cutting cells to '100…'; every value stays whole.
    assert "…" not in text
    assert text.count("100.0") == 8 + 11
    assert max(len(line) for line in text.splitlines() if "#" not in line) <= 80


def test_negative_mota_fits_80_columns_without_truncating(write_case) -> None:
    """Predictions that are all false positives give MOTA -100.0 in every column: 6 characters per cell."""
    gt = [SynthFrame([gt_person(1, A)]) for _ in range(3)]
    pred = [SynthFrame([pr_person(1, (600.0, 600.0), 0.9 - 0.1 * k)]) for k in range(3)]
    result = evaluate_posetrack(*write_case({SEQ: gt}, {SEQ: pred}))
    out = io.StringIO()
    print_tables(result, Console(file=out, width=80))
    text = out.getvalue()
    assert "…" not in text, text
    assert text.count("-100.0") == 8, text  # 7 MOTA groups and the MOTA total
    assert max(len(line) for line in text.splitlines() if "#" not in line) <= 80
