"""``posecli eval``: options reach the library, output files, one-line errors with exit code 1."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from posecli.cli import app
from posecli.evaluation.posetrack import EvalResult
from posecli.evaluation.synthetic import SynthFrame, SynthPerson, write_sequence

runner = CliRunner()
SEQ = "000001_mpii_test"
HEAD = (0.0, 0.0, 30.0, 40.0)


def _case(tmp_path: Path, duplicate_ids: bool = False) -> tuple[Path, Path]:
    joints = {j: (100.0 + 20 * j, 100.0 + 10 * j, 1.0) for j in range(15)}
    gt = [SynthFrame([SynthPerson(1, joints, HEAD)]) for _ in range(3)]
    pred = [
        SynthFrame([SynthPerson(1, {j: (x, y, 0.9 - 0.1 * k) for j, (x, y, _) in joints.items()})])
        for k in range(3)
    ]
    if duplicate_ids:
        pred[1].people.append(SynthPerson(1, {0: (5.0, 5.0, 0.5)}))
    write_sequence(tmp_path / "gt" / f"{SEQ}.json", SEQ, gt, gt=True)
    write_sequence(tmp_path / "pred" / f"{SEQ}.json", SEQ, pred, gt=False, fmt="2017")
    return tmp_path / "pred", tmp_path / "gt"


def test_help() -> None:
    result = runner.invoke(app, ["eval", "--help"])
    assert result.exit_code == 0
    for option in ("--gt", "--mode", "--metrics", "--json", "--per-sequence"):
        assert option in result.output


def test_options_reach_the_library_as_keywords(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict[str, Any] = {}

    def fake(**kwargs: Any) -> EvalResult:
        seen.update(kwargs)
        return EvalResult(
            mode=kwargs["mode"], ap=None, mot=None, num_gt_frames=0, num_sequences=0, gt_fingerprint="0" * 64
        )

    monkeypatch.setattr("posecli.cli.evaluate.evaluate_posetrack", fake)
    args = ["eval", "p", "--gt", "g", "--mode", "posetrack21", "--metrics", "ap,oks", "--per-sequence", "-q"]
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert seen == {
        "pred": Path("p"), "gt": Path("g"), "mode": "posetrack21", "metrics": ["ap", "oks"],
        "per_sequence": True, "quiet": True,
    }  # fmt: skip
    runner.invoke(app, ["eval", "p", "--gt", "g", "--mode", "posetrack21"])
    assert seen["metrics"] == ["ap"]  # the PT21 default has no MOTA
    runner.invoke(app, ["eval", "p", "--gt", "g"])
    assert seen["metrics"] == ["ap", "mota"]


def test_real_run_writes_the_metrics_json(tmp_path: Path) -> None:
    pred, gt = _case(tmp_path)
    out = tmp_path / "metrics.json"
    result = runner.invoke(app, ["eval", str(pred), "--gt", str(gt), "--json", str(out), "-q"])
    assert result.exit_code == 0, result.output
    data = json.loads(out.read_text())
    assert data["ap"]["total"] == pytest.approx(100.0)
    assert data["mot"]["mota_total"] == pytest.approx(100.0)
    assert data["num_gt_frames"] == 3 and data["poseval_compatible"] is True
    again = runner.invoke(app, ["eval", str(pred), "--gt", str(gt), "--json", str(out), "-q"])
    assert again.exit_code == 1 and "--exist-ok" in again.output


def test_bad_input_is_one_line_and_exit_code_1(tmp_path: Path) -> None:
    pred, gt = _case(tmp_path, duplicate_ids=True)
    result = runner.invoke(app, ["eval", str(pred), "--gt", str(gt), "-q"])
    assert result.exit_code == 1
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1
    assert lines[0].startswith("posecli eval: error: ") and "duplicate track id 1" in lines[0]
    assert f"{SEQ}.json: annolist[1]" in lines[0]


def test_missing_gt_path_is_an_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["eval", str(tmp_path), "--gt", str(tmp_path / "nope"), "-q"])
    assert result.exit_code == 1 and "does not exist" in result.output


def test_tables_show_every_column_header_and_whole_numbers(tmp_path: Path) -> None:
    pred, gt = _case(tmp_path)
    result = runner.invoke(app, ["eval", str(pred), "--gt", str(gt), "-q"])
    assert result.exit_code == 0, result.output
    words = set(re.findall(r"[A-Za-z]+", result.output))
    ap_headers = {"Head", "Shoulder", "Elbow", "Wrist", "Hip", "Knee", "Ankle", "Total"}
    mot_headers = {"Shou", "Elb", "Wri", "Ankl", "MOTA", "MOTP", "Prec", "Rec"}
    assert ap_headers | mot_headers <= words
    # Perfect predictions: 8 AP cells and 11 MOT cells print 100.0, none cut to '100…'.
    assert result.output.count("100.0") == 19 and "…" not in result.output


def test_broken_prediction_json_is_one_line_naming_the_file(tmp_path: Path) -> None:
    pred, gt = _case(tmp_path)
    (pred / f"{SEQ}.json").write_text('{"annolist": [')
    result = runner.invoke(app, ["eval", str(pred), "--gt", str(gt), "-q"])
    assert result.exit_code == 1
    assert isinstance(result.exception, SystemExit)  # handled, not an escaped exception
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith(f"posecli eval: error: {pred / SEQ}.json: not valid JSON (")
    assert "Traceback" not in result.output


def test_reordered_prediction_frames_print_a_warning(tmp_path: Path) -> None:
    pred, gt = _case(tmp_path)
    file = pred / f"{SEQ}.json"
    data = json.loads(file.read_text())
    data["annolist"].reverse()
    file.write_text(json.dumps(data))
    out = tmp_path / "metrics.json"
    result = runner.invoke(app, ["eval", str(pred), "--gt", str(gt), "--json", str(out), "-q"])
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.output.splitlines() if line.startswith("warning:")]
    assert len(warnings) == 1
    assert SEQ in warnings[0] and "different order" in warnings[0] and "poseval would refuse" in warnings[0]
    data = json.loads(out.read_text())
    # Paired by image name, the numbers are those of the ordered file; the JSON says why poseval differs.
    assert data["ap"]["total"] == pytest.approx(100.0)
    assert data["poseval_compatible"] is False and any("different order" in r for r in data["reasons"])


def test_eval_never_imports_torch(tmp_path: Path) -> None:
    """``posecli eval`` (AP, MOTA and COCO OKS) runs without importing torch: a fresh interpreter imports
    the CLI root, scores a tiny GT/prediction pair and then looks at ``sys.modules``."""
    pred, gt = _case(tmp_path)
    script = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from posecli.cli import app\n"
        f"args = ['eval', {str(pred)!r}, '--gt', {str(gt)!r}, '-q', '--metrics', 'ap,mota,oks']\n"
        "result = CliRunner().invoke(app, args)\n"
        "assert result.exit_code == 0, result.output\n"
        "print(sorted(m for m in sys.modules if m == 'torch' or m.startswith('torch.')))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], check=False, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]", done.stdout
