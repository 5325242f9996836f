"""PoseTrack data: annotation readers and clip sampling, crops and augmentation, synthetic data."""

from posecli.data.posetrack import (
    ClipSample,
    FrameRecord,
    PoseTrackSplit,
    detect_layout,
    read_posetrack,
    supporting_frames,
    training_samples,
    validation_samples,
)
from posecli.data.synthetic import SyntheticTrack, make_synthetic_video, write_synthetic_dataset

__all__ = [
    "ClipSample",
    "FrameRecord",
    "PoseTrackSplit",
    "SyntheticTrack",
    "detect_layout",
    "make_synthetic_video",
    "read_posetrack",
    "supporting_frames",
    "training_samples",
    "validation_samples",
    "write_synthetic_dataset",
]
