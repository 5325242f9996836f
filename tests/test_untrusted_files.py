"""Nothing posecli reads runs code: booby-trapped pickles through every loader, refused unrun.

Each trap is a pickle whose ``__reduce__`` calls ``os.system("touch <marker>")`` (or ``open`` of the
marker, with no shell), hidden where a real file keeps its tensors. The loaders must refuse it with one
line naming the file and exit code 1, and the marker must never appear. Files in torch's zip format
and raw pickles (the legacy format ``torch.load`` also reads) are both tried.
"""

from __future__ import annotations

import json
import os
import pickle
import shlex
from collections.abc import Callable
from pathlib import Path
from typing import Any

import av
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from posecli.checkpoints import import_model, read_foreign_state_dict
from posecli.cli import app
from posecli.config import load_config
from posecli.detection.precomputed import load_boxes
from posecli.detection.torchvision_rcnn import load_state_dict as load_detector_state
from posecli.errors import PoseCliError
from posecli.train import fit

CONFIGS = Path(__file__).resolve().parents[1] / "configs"
TINY_SETS = ["model.input_size=[64, 64]", "train.batch_size=4", "eval.every=0", "train.deterministic=true"]
runner = CliRunner()


class ShellTrap:
    """Unpickles as ``os.system("touch <marker>")``."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return (os.system, (f"touch {shlex.quote(str(self.marker))}",))


class OpenTrap:
    """Unpickles as ``open(<marker>, "w")``: a builtin, no shell."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[Callable[..., Any], tuple[Any, ...]]:
        return (open, (str(self.marker), "w"))


@pytest.fixture
def marker(tmp_path: Path) -> Path:
    return tmp_path / "CODE-RAN"


def write_trap(path: Path, payload: Any, raw: bool) -> Path:
    """``payload`` saved by ``torch.save`` (zip format) or as a raw protocol-2 pickle."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if raw:
        path.write_bytes(pickle.dumps(payload, protocol=2))
    else:
        torch.save(payload, path)
    return path


def one_line_naming(output: str, path: Path) -> str:
    lines = output.strip().splitlines()
    assert len(lines) == 1, output
    assert str(path) in lines[0] or path.name in lines[0], output
    assert "Traceback" not in output
    return lines[0]


def test_the_traps_do_run_code_when_unpickled_unsafely(tmp_path: Path, marker: Path) -> None:
    """The traps are live: loading them the unsafe way creates the marker (so its absence means something)."""
    for trap, raw in ((ShellTrap(marker), False), (OpenTrap(marker), True)):
        path = write_trap(tmp_path / "t.pth", {"conv1.weight": trap}, raw)
        try:  # a raw pickle runs while torch looks for its magic number, then fails
            torch.load(path, weights_only=False)  # noqa: S614 - demonstrating the hazard on our own file
        except RuntimeError:
            assert raw
        assert marker.exists()
        marker.unlink()


LAYOUTS: dict[str, Callable[[Any], Any]] = {
    "official-hrnet": lambda trap: {"conv1.weight": torch.zeros(64, 3, 3, 3), "bn1.weight": trap},
    "mmpose": lambda trap: {"meta": {"mmpose": "1.x"}, "state_dict": {"backbone.conv1.weight": trap}},
    "dcpose": lambda trap: {"state_dict": {"rough_pose_estimation_net.conv1.weight": trap}},
    "reference": lambda trap: {"begin_epoch": 3, "state_dict": {"module.hrnet.conv1.weight": trap}},
    "model-wrapper": lambda trap: {"model": {"hrnet.conv1.weight": torch.zeros(1)}, "optimizer": trap},
    "model_state_dict": lambda trap: {"model_state_dict": {"preact.hrnet.conv1.weight": trap}},
    "top-level": lambda trap: trap,
}


@pytest.mark.parametrize("raw", [False, True], ids=["zip", "raw-pickle"])
@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_weights_import_refuses_every_layout_unrun(tmp_path: Path, marker: Path, layout: str, raw: bool) -> None:
    for suffix, trap in ((".pth", ShellTrap(marker)), (".pt", OpenTrap(marker)), (".pkl", ShellTrap(marker))):
        src = write_trap(tmp_path / f"{layout}{suffix}", LAYOUTS[layout](trap), raw)
        out = tmp_path / "out.safetensors"
        result = runner.invoke(app, ["weights", "import", str(src), "--arch", "hrnet_w8", "--out", str(out)])
        assert result.exit_code == 1, result.output
        one_line_naming(result.output, src)
        assert not marker.exists() and not out.exists()
        with pytest.raises(PoseCliError, match="refused|cannot read"):
            import_model(src, "hrnet_w8")  # the Python API too
        assert not marker.exists()


def test_refusal_names_the_callable_for_torch_files(tmp_path: Path, marker: Path) -> None:
    src = write_trap(tmp_path / "w.pth", {"state_dict": {"conv1.weight": ShellTrap(marker)}}, raw=False)
    with pytest.raises(PoseCliError) as error:
        read_foreign_state_dict(src)
    assert str(error.value).startswith(f"{src}: refused:") and "posix.system" in str(error.value)
    assert "\n" not in str(error.value) and not marker.exists()


def train_args(data_root: Path, run: Path, *sets: str) -> list[str]:
    config = CONFIGS / "hrnet_hrnet-w8_synthetic_128x96.yaml"
    args = ["train", "--config", str(config), "--data", "synthetic", "--data-root", str(data_root)]
    args += ["--out-dir", str(run), "--device", "cpu", "-q"]
    for item in (*TINY_SETS, *sets):
        args += ["--set", item]
    return args


@pytest.mark.parametrize("raw", [False, True], ids=["zip", "raw-pickle"])
def test_train_resume_refuses_a_trapped_state_file(
    data_root: Path, tmp_path: Path, marker: Path, raw: bool
) -> None:
    run = tmp_path / "run"
    config = load_config(
        CONFIGS / "hrnet_hrnet-w8_synthetic_128x96.yaml",
        [f"data.root={data_root}", "data.dataset=synthetic", *TINY_SETS, "train.max_steps=1"],
    )
    torch.set_num_threads(1)
    fit(config, run, quiet=True)
    pointer = json.loads((run / "last.json").read_text())
    state = run / pointer["state"]
    saved = torch.load(state, weights_only=True)  # a real state file: plain values only
    saved["optimizer"]["state"][0] = ShellTrap(marker)  # the trap where tensors live
    saved["rng"]["python"] = OpenTrap(marker)
    write_trap(state, saved, raw)
    result = runner.invoke(app, train_args(data_root, run, "train.max_steps=2") + ["--resume", "auto"])
    assert not marker.exists()
    assert result.exit_code == 1, result.output
    line = one_line_naming(result.output, state)
    assert "refused" in line or "cannot read" in line
    assert json.loads((run / "last.json").read_text())["step"] == 1  # nothing trained on


def test_train_init_checkpoint_refuses_a_trap(data_root: Path, tmp_path: Path, marker: Path) -> None:
    for raw in (False, True):
        init = write_trap(tmp_path / "hrnet.pth", {"state_dict": {"conv1.weight": ShellTrap(marker)}}, raw)
        run = tmp_path / f"run-{raw}"
        result = runner.invoke(app, train_args(data_root, run, f"train.init_checkpoint={init}"))
        assert result.exit_code == 1, result.output
        line = one_line_naming(result.output, init)
        assert "train.init_checkpoint" in line
        assert not marker.exists() and not (run / "last.json").exists()


def write_tiny_video(path: Path, frames: int = 3) -> Path:
    with av.open(str(path), "w") as out:
        stream = out.add_stream("mpeg4", rate=10)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for i in range(frames):
            image = np.full((64, 64, 3), 40 * i, dtype=np.uint8)
            out.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="rgb24")))
        out.mux(stream.encode())
    return path


@pytest.mark.parametrize("raw", [False, True], ids=["zip", "raw-pickle"])
def test_detector_weights_refuse_a_trap(tmp_path: Path, marker: Path, raw: bool) -> None:
    for payload in ({"model": {"backbone.body.conv1.weight": ShellTrap(marker)}}, OpenTrap(marker)):
        path = write_trap(tmp_path / "rcnn.pth", payload, raw)
        with pytest.raises(PoseCliError, match="rcnn.pth: (refused|cannot read)"):
            load_detector_state(path)
        assert not marker.exists()


def test_detect_with_trapped_detector_weights_exits_1(tmp_path: Path, marker: Path) -> None:
    """Through the command: `posecli detect --detector rcnn --detector-weights TRAP`."""
    video = write_tiny_video(tmp_path / "clip.mp4")
    weights = write_trap(tmp_path / "rcnn.pth", {"model": {"x": ShellTrap(marker)}}, raw=False)
    args = ["detect", str(video), "--detector", "rcnn", "--detector-weights", str(weights)]
    result = runner.invoke(app, [*args, "--out-dir", str(tmp_path / "out"), "--device", "cpu", "-q"])
    assert result.exit_code == 1, result.output
    one_line_naming(result.output, weights)
    assert not marker.exists()


def test_box_files_are_only_parsed_as_json(tmp_path: Path, marker: Path) -> None:
    """A pickle (or YAML with a python tag) given as a box file is an error naming it, never run."""
    pickled = tmp_path / "val_boxes.json"
    pickled.write_bytes(pickle.dumps([ShellTrap(marker)], protocol=2))
    tagged = tmp_path / "clip.boxes.json"
    tagged.write_text(f'!!python/object/apply:os.system ["touch {marker}"]\n')
    listed = tmp_path / "list_boxes.json"
    listed.write_text(f'[{{"py/reduce": [{{"py/function": "os.system"}}, ["touch {marker}"]]}}]')
    for path in (pickled, tagged, listed):
        with pytest.raises(PoseCliError, match=str(path.name)):
            load_boxes(path)
        assert not marker.exists()
    result = runner.invoke(app, ["track", str(tagged), "--out-dir", str(tmp_path / "out"), "-q"])
    assert result.exit_code == 1
    one_line_naming(result.output, tagged)
    assert not marker.exists()


def test_a_recipe_with_a_python_tag_is_refused_unrun(tmp_path: Path, marker: Path, data_root: Path) -> None:
    recipe = tmp_path / "evil.yaml"
    recipe.write_text(f'name: !!python/object/apply:os.system ["touch {marker}"]\n')
    result = runner.invoke(
        app, ["train", "--config", str(recipe), "--data-root", str(data_root), "--device", "cpu", "-q"]
    )
    assert result.exit_code == 1
    one_line_naming(result.output, recipe)
    assert not marker.exists()
