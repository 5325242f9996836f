"""Training: one readable loop for FAMI-Pose, TDMI and HRNet on PoseTrack or synthetic data.

The package, by responsibility:

* ``loop``: ``train_one_epoch``, the same phases for every batch (fetch, forward, a named loss
  dict, a finite-loss check, backward, clip, step, log);
* ``fitting``: ``fit`` wraps it with data and model construction, resume, per-epoch validation and
  checkpoints; ``run_training`` is what ``posecli train`` calls;
* ``distributed``: the ``torchrun`` process group (rank 0 logs, validates and writes files);
* ``data``: the dataset root, the ``ClipDataset`` of a split and the resumable epoch sampler;
* ``checkpointing``: crash-safe checkpoints and resume (atomic writes from ``posecli.atomic``);
* ``run_log``: ``log.jsonl`` (and TensorBoard), cut back to the resumed step on a resume;
* ``validation``: prediction, PoseTrack 2018 prediction files (``posecli.export.posetrack``'s
  writer) and poseval AP;
* ``init_weights``: the training model, with its HRNet part loaded from a checkpoint.

Multi-GPU: run the same command under ``torchrun --nproc-per-node N``.
"""

from posecli.train.checkpointing import TrainState, find_resume, restore_scaler, sweep_temporary_files
from posecli.train.data import EpochSampler, build_dataset, prepare_data_root
from posecli.train.distributed import Dist, init_distributed
from posecli.train.fitting import EpochSummary, FitResult, fit, format_epoch, run_training, summary_lines
from posecli.train.init_weights import build_training_model, check_init_checkpoint, load_init_weights
from posecli.train.loop import StepContext, train_one_epoch
from posecli.train.run_log import JsonlLogger, truncate_log
from posecli.train.validation import predict, validate, write_predictions

__all__ = [
    "Dist",
    "EpochSampler",
    "EpochSummary",
    "FitResult",
    "JsonlLogger",
    "StepContext",
    "TrainState",
    "build_dataset",
    "build_training_model",
    "check_init_checkpoint",
    "find_resume",
    "fit",
    "format_epoch",
    "init_distributed",
    "load_init_weights",
    "predict",
    "prepare_data_root",
    "restore_scaler",
    "run_training",
    "summary_lines",
    "sweep_temporary_files",
    "train_one_epoch",
    "truncate_log",
    "validate",
    "write_predictions",
]
