"""The README's Python API snippet runs as written (it once raised NameError: Path)."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from posecli.evaluation.synthetic import random_sequence, write_sequence

ROOT = Path(__file__).resolve().parents[1]


def _python_api_snippet() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme.split("## Python API", 1)[1].split("\n## ", 1)[0]
    blocks = re.findall(r"```python\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 1, "the Python API section holds one python block"
    return blocks[0]


@pytest.mark.slow
def test_readme_python_api_snippet_runs(tmp_path: Path) -> None:
    (tmp_path / "examples").mkdir()
    (tmp_path / "examples" / "demo.mp4").symlink_to(ROOT / "examples" / "demo.mp4")
    gt, pred = random_sequence(np.random.default_rng(0), num_frames=6, max_people=2)
    write_sequence(tmp_path / "gt" / "seq.json", "seq", gt, gt=True)
    write_sequence(tmp_path / "preds" / "seq.json", "seq", pred, gt=False)
    script = tmp_path / "snippet.py"
    script.write_text(_python_api_snippet(), encoding="utf-8")
    run = subprocess.run(
        [sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].split()[1] == "230"  # the example clip's frame count
    assert "fami_hrnet_w32" in lines[1]
    assert lines[2] == "torch.Size([1, 17, 64, 48])"
    ap, mota = (float(value) for value in lines[3].split())
    assert 0 < ap <= 100 and mota <= 100
