"""Every third-party import of the package, its tests and benchmarks is a declared dependency.

A fresh virtualenv once failed on an undeclared ``click`` while the developers' machines had it;
deptry reads the imports and pyproject.toml and reports any import that pip would not install.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_deptry_finds_no_undeclared_or_unused_dependency() -> None:
    # deptry is in the test extra: without it this fails rather than skips
    run = subprocess.run(
        [sys.executable, "-m", "deptry", "."], cwd=ROOT, capture_output=True, text=True, timeout=120,
        env={**os.environ, "NO_COLOR": "1"},
    )
    findings = [line for line in (run.stdout + run.stderr).splitlines() if "DEP0" in line]
    assert run.returncode == 0 and not findings, "\n".join(findings) or run.stdout + run.stderr

