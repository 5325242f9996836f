"""The embedded BlazePose model (offline, CPU, no torch) as a pose stage and as a person ``Detector``,
and the choice of person detector behind ``--detector``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from posecli.detection.base import BaseDetector, Detector
from posecli.errors import PoseCliError
from posecli.structures import Detection

if TYPE_CHECKING:
    from posecli.blazepose import BlazePoseEstimator

EMBEDDED_MODEL = "blazepose_full"
DETECTORS = ("embedded", "rcnn")
RCNN_WEIGHTS = "fasterrcnn_resnet50_fpn_coco"  # manifest name of the torchvision detector


def build_embedded_stage(weights: Path | None = None) -> BlazePoseEstimator:
    """The embedded BlazePose stage; ``weights`` may name a folder holding its two ``.tflite`` files."""
    from posecli.blazepose import BlazePoseDetector, BlazePoseEstimator, BlazePoseLandmarker
    from posecli.weights import fetch

    if weights is not None:
        folder = Path(weights)
        if not folder.is_dir():
            raise PoseCliError(f"--weights {folder}: for {EMBEDDED_MODEL} give the folder holding its .tflite files")
        detector_path, landmark_path = folder / "pose_detection.tflite", folder / "pose_landmark_full.tflite"
    else:
        detector_path, landmark_path = fetch(EMBEDDED_MODEL, quiet=True)
    # One inference thread per model: the video is decoded ahead and the overlay encoded behind in
    # their own threads. With two or more cores a second landmark model measures the followed people
    # in parallel (the example clip: 1.2x the frames/s of one, measured side by side).
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    helpers = (BlazePoseLandmarker(landmark_path, num_threads=1),) if cores >= 2 else ()
    return BlazePoseEstimator(
        BlazePoseDetector(detector_path, num_threads=1), BlazePoseLandmarker(landmark_path, num_threads=1),
        helpers=helpers,
    )


class EmbeddedPersonDetector(BaseDetector):
    """A ``Detector`` from the embedded model: person boxes around BlazePose landmarks (tight and
    steady), score = pose presence. The default detector of the top-down networks offline."""

    def __init__(self, stage: BlazePoseEstimator) -> None:
        self.stage = stage

    def __call__(self, frame: np.ndarray) -> list[Detection]:
        return [Detection(box=p.box, score=p.score) for p in self.stage(frame)]

    def reset(self) -> None:
        """Forget the regions followed in the previous video."""
        self.stage.reset()


def person_detector(
    name: str, weights: Path | None = None, device: str = "cpu", embedded_weights: Path | None = None,
    quiet: bool = False,
) -> Detector:
    """The person detector ``name``: ``embedded`` (boxes around BlazePose landmarks; ``embedded_weights``
    a folder of its .tflite files) or ``rcnn`` (torchvision Faster R-CNN from ``weights`` or the
    manifest's file, on ``device``)."""
    from posecli.weights import fetch

    if name == "rcnn":
        from posecli.detection.torchvision_rcnn import TorchvisionPersonDetector

        file = weights or fetch(RCNN_WEIGHTS, quiet=quiet)[0]
        return TorchvisionPersonDetector(file, arch="fasterrcnn_resnet50_fpn", device=device)
    if name == "embedded":
        return EmbeddedPersonDetector(build_embedded_stage(embedded_weights))
    raise PoseCliError(f"--detector: '{name}' is not one of {', '.join(DETECTORS)}")
