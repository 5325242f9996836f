"""TorchvisionPersonDetector: weights from a file, person-only filtering, batching. No network."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from posecli.detection.base import Detector
from posecli.detection.torchvision_rcnn import TorchvisionPersonDetector, build_detector_network
from posecli.errors import PoseCliError
from posecli.structures import Detection

FAST_ARCH = "fasterrcnn_mobilenet_v3_large_fpn"  # the smallest architecture, for quick tests


@pytest.fixture(scope="module")
def weights_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised detector's state dict, saved like torchvision's released files."""
    torch.manual_seed(0)
    path = tmp_path_factory.mktemp("weights") / "detector.pth"
    torch.save(build_detector_network(FAST_ARCH).state_dict(), path)
    return path


def _frames(n: int, h: int = 96, w: int = 128) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (h, w, 3), dtype=np.uint8) for _ in range(n)]


def test_loads_weights_and_runs_real_forward(weights_file: Path) -> None:
    detector = TorchvisionPersonDetector(
        weights_file, arch=FAST_ARCH, score_threshold=0.0, min_size=96, max_size=128
    )
    assert isinstance(detector, Detector)
    people = detector(_frames(1)[0])
    assert isinstance(people, list) and all(isinstance(d, Detection) for d in people)
    for d in people:
        assert d.box.shape == (4,) and d.box.dtype == np.float64 and 0.0 <= d.score <= 1.0
    assert [d.score for d in people] == sorted((d.score for d in people), reverse=True)


def test_person_filter_threshold_nms_and_batching(weights_file: Path) -> None:
    detector = TorchvisionPersonDetector(
        weights_file, arch=FAST_ARCH, score_threshold=0.5, nms_iou=0.5, batch_size=2
    )
    seen: list[list[torch.Tensor]] = []

    def fake_model(images: list[torch.Tensor]) -> list[dict[str, torch.Tensor]]:
        seen.append(images)
        raw = {
            "boxes": torch.tensor(
                [[0, 0, 10, 20], [1, 0, 11, 20], [50, 50, 60, 80], [5, 5, 9, 9], [70, 0, 80, 30.0]]
            ),
            "labels": torch.tensor([1, 1, 1, 3, 1]),  # label 3 = car
            "scores": torch.tensor([0.9, 0.8, 0.7, 0.99, 0.3]),  # 0.8 overlaps 0.9 (IoU .82); 0.3 too low
        }
        return [raw for _ in images]

    detector.model = fake_model  # type: ignore[assignment]
    results = detector.detect_batch(_frames(5, 40, 50))
    assert [len(batch) for batch in seen] == [2, 2, 1]
    image = seen[0][0]
    assert image.shape == (3, 40, 50) and image.dtype == torch.float32 and float(image.max()) <= 1.0
    assert len(results) == 5
    for people in results:
        assert [round(d.score, 2) for d in people] == [0.9, 0.7]
        np.testing.assert_allclose(people[1].box, [50, 50, 60, 80])


def test_bad_weights_files(tmp_path: Path, weights_file: Path) -> None:
    with pytest.raises(PoseCliError, match="not found"):
        TorchvisionPersonDetector(tmp_path / "missing.pth", arch=FAST_ARCH)
    garbage = tmp_path / "garbage.pth"
    garbage.write_bytes(b"not a checkpoint")
    with pytest.raises(PoseCliError, match="cannot read detector weights"):
        TorchvisionPersonDetector(garbage, arch=FAST_ARCH)
    with pytest.raises(PoseCliError, match="not a fasterrcnn_resnet50_fpn state dict"):
        TorchvisionPersonDetector(weights_file, arch="fasterrcnn_resnet50_fpn")
    with pytest.raises(ValueError, match="unknown detector architecture"):
        TorchvisionPersonDetector(weights_file, arch="yolo")


def test_wrapped_state_dict_and_safetensors(tmp_path: Path, weights_file: Path) -> None:
    from safetensors.torch import save_file

    state = torch.load(weights_file, weights_only=True)
    wrapped = tmp_path / "wrapped.pt"
    torch.save({"model": state, "epoch": 3}, wrapped)
    TorchvisionPersonDetector(wrapped, arch=FAST_ARCH)
    flat = tmp_path / "detector.safetensors"
    save_file({k: v.contiguous() for k, v in state.items()}, str(flat))
    TorchvisionPersonDetector(flat, arch=FAST_ARCH)


@pytest.mark.slow
def test_default_architecture_end_to_end(tmp_path: Path) -> None:
    path = tmp_path / "v2.pth"
    torch.save(build_detector_network("fasterrcnn_resnet50_fpn_v2").state_dict(), path)
    detector = TorchvisionPersonDetector(path, score_threshold=0.0, min_size=96, max_size=128)
    people = detector.detect_batch(_frames(2))
    assert len(people) == 2 and all(isinstance(d, Detection) for p in people for d in p)


@pytest.mark.gpu
def test_runs_on_cuda(weights_file: Path) -> None:
    detector = TorchvisionPersonDetector(
        weights_file, arch=FAST_ARCH, score_threshold=0.0, device="cuda", min_size=96, max_size=128
    )
    people = detector.detect_batch(_frames(3))
    assert len(people) == 3
    assert all(isinstance(d.box, np.ndarray) and d.box.dtype == np.float64 for p in people for d in p)
