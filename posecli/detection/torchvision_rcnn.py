"""Person detection with torchvision's COCO Faster R-CNN, weights read from a local file.

The network is built without any download (``weights=None, weights_backbone=None``) and its state
dict is loaded from ``weights`` (a torchvision ``.pth`` such as ``fasterrcnn_resnet50_fpn_v2_coco-
dd69338a.pth``, or a ``.safetensors`` file). ``posecli.weights`` finds, downloads and verifies that
file; this module never touches the network. Only COCO's person class (label 1) is kept, above a
score threshold, after a person-only NMS.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torchvision.models import detection as tv_detection
from torchvision.ops import nms

from posecli.detection.base import BaseDetector
from posecli.errors import PoseCliError
from posecli.structures import Detection
from posecli.weights import load_torch_file

PERSON_LABEL = 1  # "person" in torchvision's 91-slot COCO category list

# The detector architectures a weights file may hold, by torchvision builder name.
ARCHITECTURES: dict[str, Callable[..., nn.Module]] = {
    "fasterrcnn_resnet50_fpn_v2": tv_detection.fasterrcnn_resnet50_fpn_v2,
    "fasterrcnn_resnet50_fpn": tv_detection.fasterrcnn_resnet50_fpn,
    "fasterrcnn_mobilenet_v3_large_fpn": tv_detection.fasterrcnn_mobilenet_v3_large_fpn,
}


def build_detector_network(arch: str, *, min_size: int = 800, max_size: int = 1333) -> nn.Module:
    """An untrained torchvision detector for the 91 COCO slots; no download.

    min_size / max_size: the network's internal resize of the shorter / longer image side.
    """
    if arch not in ARCHITECTURES:
        raise ValueError(f"unknown detector architecture '{arch}'; choose one of {sorted(ARCHITECTURES)}")
    return ARCHITECTURES[arch](
        weights=None, weights_backbone=None, num_classes=91, min_size=min_size, max_size=max_size
    )


def load_state_dict(path: Path) -> dict[str, torch.Tensor]:
    """Read a detector state dict from ``.pth``/``.pt`` (optionally under ``model``/``state_dict``) or ``.safetensors``."""
    if not path.is_file():
        raise PoseCliError(f"{path}: detector weights file not found")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        try:
            state: Any = load_file(str(path))
        except Exception as exc:  # noqa: BLE001 - any decoding failure means "not a weights file"
            kind = type(exc).__name__
            raise PoseCliError(f"{path}: cannot read detector weights ({kind}: {exc})") from None
    else:
        # weights_only: a pickle naming anything but tensors and plain values is refused unrun
        state = load_torch_file(path, "detector weights")
    for key in ("model", "state_dict"):
        if isinstance(state, dict) and isinstance(state.get(key), dict):
            state = state[key]
    if not isinstance(state, dict) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise PoseCliError(f"{path}: not a state dict of tensors")
    return state


def _check_state_dict(path: Path, arch: str, model: nn.Module, state: dict[str, torch.Tensor]) -> None:
    """Raise a one-line PoseCliError when ``state`` does not fit ``model`` (keys or shapes)."""
    expected = model.state_dict()
    missing = [k for k in expected if k not in state]
    unexpected = [k for k in state if k not in expected]
    wrong = [k for k in expected if k in state and state[k].shape != expected[k].shape]
    if missing or unexpected or wrong:
        raise PoseCliError(
            f"{path}: not a {arch} state dict ({len(missing)} missing keys, {len(unexpected)} unexpected, "
            f"{len(wrong)} of another shape; e.g. {(missing + unexpected + wrong)[:2]})"
        )


class TorchvisionPersonDetector(BaseDetector):
    """A ``Detector`` running torchvision's Faster R-CNN and keeping people.

    weights: path of the state dict for ``arch`` (one of ``ARCHITECTURES``). score_threshold: least
    person score kept. nms_iou: IoU above which the lower-scored of two person boxes is dropped.
    device: torch device string. batch_size: frames per forward pass in ``detect_batch``.
    min_size / max_size: the network's internal resize (torchvision's defaults 800 / 1333).
    """

    def __init__(
        self,
        weights: str | os.PathLike[str],
        *,
        arch: str = "fasterrcnn_resnet50_fpn_v2",
        score_threshold: float = 0.5,
        nms_iou: float = 0.5,
        device: str = "cpu",
        batch_size: int = 4,
        min_size: int = 800,
        max_size: int = 1333,
    ) -> None:
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        path = Path(weights)
        self.model = build_detector_network(arch, min_size=min_size, max_size=max_size)
        state = load_state_dict(path)
        _check_state_dict(path, arch, self.model, state)
        self.model.load_state_dict(state)
        # The network's own score gate must not hide people we would keep, and its per-class NMS
        # uses our IoU (the person-only NMS in _people then changes nothing on real outputs).
        roi_heads: Any = self.model.roi_heads
        roi_heads.score_thresh = min(float(roi_heads.score_thresh), score_threshold)
        roi_heads.nms_thresh = nms_iou
        self.device = torch.device(device)
        self.model.eval().to(self.device)
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.batch_size = batch_size

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        """People in one ``(H, W, 3)`` uint8 RGB frame, highest score first."""
        return self.detect_batch([frame])[0]

    @torch.inference_mode()
    def detect_batch(self, frames: Sequence[np.ndarray]) -> list[list[Detection]]:
        """People in each of ``frames`` (each ``(H, W, 3)`` uint8 RGB; sizes may differ), ``batch_size`` at a time."""
        out: list[list[Detection]] = []
        for start in range(0, len(frames), self.batch_size):
            chunk = frames[start : start + self.batch_size]
            # (3, H, W) float in [0, 1]: the network normalises and resizes internally.
            images = [
                torch.from_numpy(np.ascontiguousarray(f)).to(self.device).permute(2, 0, 1).float() / 255.0
                for f in chunk
            ]
            raw = self.model(images)
            out.extend(self._people(r) for r in raw)
        return out

    def _people(self, raw: dict[str, torch.Tensor]) -> list[Detection]:
        """Filter one image's raw output ``{boxes (N, 4) xyxy, labels (N,), scores (N,)}`` to people."""
        keep = (raw["labels"] == PERSON_LABEL) & (raw["scores"] >= self.score_threshold)
        boxes, scores = raw["boxes"][keep].float(), raw["scores"][keep].float()
        order = nms(boxes, scores, self.nms_iou)  # indices, by descending score
        boxes_np = boxes[order].cpu().numpy().astype(np.float64)  # (P, 4)
        scores_np = scores[order].cpu().numpy()
        return [Detection(box=b, score=float(s)) for b, s in zip(boxes_np, scores_np, strict=True)]
