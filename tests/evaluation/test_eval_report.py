"""poseval's printed rows and the Rich report."""

from __future__ import annotations

import io
import math

import numpy as np
from eval_cases import SEQ, A, gt_person, pr_person
from rich.console import Console

from posecli.evaluation import evaluate_posetrack
from posecli.evaluation.report import AP_HEADER, poseval_row, poseval_text, print_report
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
