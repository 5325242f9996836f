"""The embedded offline pose model: MediaPipe BlazePose (detector + full landmark model) on TFLite.

Upstream: Google MediaPipe 0.10.14, ``mediapipe/modules/pose_detection/pose_detection.tflite`` and
``mediapipe/modules/pose_landmark/pose_landmark_full.tflite`` (Apache-2.0). posecli ships the two model
files unchanged in ``weights/`` and re-implements the pre- and post-processing around them from the
published model cards and graph settings (SSD anchors, letterboxing, ROI rules); no MediaPipe code is
used and MediaPipe itself is not a dependency.
"""

from posecli.blazepose.detector import BlazePoseDetector
from posecli.blazepose.estimator import BlazePoseEstimator
from posecli.blazepose.landmarks import BlazePoseLandmarker

__all__ = ["BlazePoseDetector", "BlazePoseEstimator", "BlazePoseLandmarker"]
