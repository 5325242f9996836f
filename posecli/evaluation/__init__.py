"""PoseTrack evaluation: poseval's per-joint AP and MOTA, the PoseTrack21 kit's mAP, COCO OKS AP.

Call :func:`evaluate_posetrack` with prediction and GT paths; it returns an :class:`EvalResult`
(``.total_ap``, ``.to_dict()``). :class:`PoseTrackEvaluator` is the in-memory ``Evaluator``.
"""

from posecli.evaluation.base import Evaluator
from posecli.evaluation.posetrack import EvalResult, PoseTrackEvaluator, evaluate_posetrack

__all__ = ["EvalResult", "Evaluator", "PoseTrackEvaluator", "evaluate_posetrack"]
