"""Validation: predict a split, write its PoseTrack 2018 prediction files and score them (poseval AP)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from posecli.atomic import writing
from posecli.codecs.decode import decode_poses
from posecli.config import ExperimentConfig
from posecli.data.dataset import ClipDataset
from posecli.data.posetrack import PoseTrackSplit
from posecli.data.transforms import normalize_frames
from posecli.export.posetrack import PERSON_CATEGORY_ID, sequence_document, write_posetrack_document
from posecli.keypoints import NUM_KEYPOINTS
from posecli.models import VideoPoseModel
from posecli.models.inference import average_with_flipped
from posecli.progress import progress_bar
from posecli.train.data import make_loader


@torch.no_grad()
def predict(
    model: VideoPoseModel,
    dataset: ClipDataset,
    device: torch.device,
    batch_size: int = 32,
    decode: str | None = None,
    flip_test: bool = False,
    workers: int = 0,
    quiet: bool = True,
) -> tuple[np.ndarray, float]:
    """Keypoints of every dataset item in frame pixels, and the mean heatmap MSE against its targets.

    Returns ``(N, 17, 3)`` float64 ``x, y, score`` (score = decoded confidence × box score) and the
    target-weighted heatmap MSE averaged over items (the reference ``JointMSELoss`` form).
    decode: heatmap decoding (``argmax``/``dark``); None → the model config's own (``ModelConfig.decode``).
    """
    model.eval()
    cfg = model.config
    out = np.zeros((len(dataset), NUM_KEYPOINTS, 3))
    mse_sum, count = 0.0, 0
    loader = make_loader(dataset, batch_size, workers, device.type == "cuda", None)
    with progress_bar("validate", len(dataset), "clips", quiet) as advance:
        for batch in loader:
            frames = normalize_frames(batch["frames"].to(device))
            output = model(frames)
            if flip_test:
                output = average_with_flipped(output, model(frames.flip(-1)))
            heatmaps, simcc_x, simcc_y = output.heatmaps.float(), output.simcc_x, output.simcc_y
            weight = batch["target_weight"].to(device)[:, :, None, None]
            per_joint = ((heatmaps - batch["heatmaps"].to(device)) * weight).pow(2).mean(dim=(2, 3))  # (B, K)
            mse_sum += float(per_joint.mean(dim=1).sum())
            count += frames.shape[0]
            out[batch["index"].numpy()] = decode_poses(
                cfg,
                batch["center"].numpy(),
                batch["scale"].numpy(),
                batch["score"].numpy(),
                heatmaps=heatmaps,
                simcc_x=simcc_x,
                simcc_y=simcc_y,
                method=decode,
            )
            advance(frames.shape[0])
    return out, mse_sum / max(count, 1)


def write_predictions(
    split: PoseTrackSplit, dataset: ClipDataset, keypoints: np.ndarray, out_dir: Path
) -> Path:
    """Write PoseTrack 2018 prediction files, one per video of ``split``, named like its GT files
    (``PoseTrackSplit.prediction_file_name``: poseval looks predictions up by the GT file name).

    Every frame of every video is listed (poseval pairs frames by position); each predicted person
    gets ``keypoints`` (51 numbers), ``scores`` (17) and ``track_id`` = its index within the frame.
    keypoints: ``(N, 17, 3)`` from ``predict`` in dataset order. Returns the folder.
    """
    by_frame: dict[tuple[str, int], list[int]] = {}
    for i, sample in enumerate(dataset.samples):
        by_frame.setdefault((sample.frame.video, sample.frame.frame_number), []).append(i)
    for video, frames in split.videos().items():
        images, annotations = [], []
        for frame in frames:
            images.append(
                {
                    "id": frame.image_id,
                    "file_name": frame.image_name,
                    "frame_id": frame.image_id,
                    "nframes": frame.nframes,
                }
            )
            for track, i in enumerate(by_frame.get((video, frame.frame_number), [])):
                kp = keypoints[i]
                annotations.append(
                    {
                        "image_id": frame.image_id,
                        "category_id": PERSON_CATEGORY_ID,
                        "track_id": track,
                        # x, y and the joint score in the third column (poseval drops only x = y = v = 0)
                        "keypoints": [round(float(v), 3) for v in kp.reshape(-1)],
                        "scores": [round(float(s), 5) for s in kp[:, 2]],
                    }
                )
        document = sequence_document(images, annotations, released_key_order=True)
        write_posetrack_document(out_dir / split.prediction_file_name(video), document)
    return out_dir


def validate(
    model: VideoPoseModel,
    dataset: ClipDataset,
    split: PoseTrackSplit,
    config: ExperimentConfig,
    out_dir: Path,
    device: torch.device,
    quiet: bool = True,
) -> dict[str, float]:
    """Predict the split, write the prediction files to ``out_dir`` and score them with poseval's AP.

    Returns ``{"val/mse": ..., "ap/total": ..., "ap/Head": ..., ...}`` (AP keys only when the split
    has GT files ``posecli eval`` can read).
    """
    from posecli.evaluation.posetrack import evaluate_posetrack

    keypoints, mse = predict(
        model,
        dataset,
        device,
        config.eval.batch_size,
        config.eval.decode,
        config.eval.flip_test,
        workers=min(config.data.workers, 4),
        quiet=quiet,
    )
    metrics = {"val/mse": mse}
    with writing(out_dir, "validation predictions"):
        write_predictions(split, dataset, keypoints, out_dir)
    if split.gt_path.exists():
        result = evaluate_posetrack(
            out_dir, split.gt_path, mode=config.eval.mode, metrics=("ap",), quiet=True
        )
        metrics.update(result.metrics())
    return metrics
