"""``posecli data synth`` stopped by a signal mid-run leaves no dataset behind, and the next run works."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

# Python keeps SIGINT ignored when its parent ignored it (a background job): restore Ctrl-C first.
_RUN = (
    "import signal, sys\n"
    "signal.signal(signal.SIGINT, signal.default_int_handler)\n"
    "from posecli.cli import main\n"
    "sys.argv = ['posecli', 'data', 'synth', *sys.argv[1:]]\n"
    "main()\n"
)


def _synth(folder: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", _RUN, "-o", "d", "-q", *args],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".d.tmp-*"))


def _stop_mid_run(folder: Path, signum: int) -> subprocess.CompletedProcess[str]:
    """Start a long synth run, send ``signum`` once it has written a few frames, and wait for it."""
    # 2,000 videos: minutes of work, so the signal always lands in the middle.
    process = _synth(folder, "--videos", "2000", "--frames", "20", "--size", "160x128")
    deadline = time.monotonic() + 120
    while not list(folder.glob(".d.tmp-*/images/train/*/*.jpg")):
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            out, err = process.communicate()
            pytest.fail(f"synth never started writing frames: {err}")
        time.sleep(0.05)
    process.send_signal(signum)
    out, err = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, out, err)


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_ctrl_c_and_sigterm_leave_nothing(tmp_path: Path, signum: int) -> None:
    result = _stop_mid_run(tmp_path, signum)
    # 130 for Ctrl-C, 143 for SIGTERM: both are handled (cleanup ran), neither killed the process.
    assert result.returncode == 128 + signum and "Traceback" not in result.stderr, result.stderr
    assert not (tmp_path / "d").exists()
    assert _temporaries(tmp_path) == []


def test_kill_9_leaves_no_dataset_and_the_next_run_needs_no_exist_ok(tmp_path: Path) -> None:
    result = _stop_mid_run(tmp_path, signal.SIGKILL)
    assert result.returncode == -signal.SIGKILL
    assert not (tmp_path / "d").exists()
    assert len(_temporaries(tmp_path)) == 1  # the dead run's work, which nothing could clean up then
    again = _synth(tmp_path, "--videos", "1", "--frames", "2", "--size", "64x64")
    out, err = again.communicate(timeout=120)
    assert again.returncode == 0, err
    assert (tmp_path / "d" / "annotations" / "train" / "000001_mpii_train.json").is_file()
    assert _temporaries(tmp_path) == []
