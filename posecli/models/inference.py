"""Video inference in the two modes of spec models.md §12f: ``exact`` and ``reuse``.

``exact`` (the reference protocol): for every person and key frame t, the key frame's box crops all
five frames t-2..t+2 and the whole network runs on that clip; five backbone passes per person-key-frame.
Call ``predict_exact(model, clips)`` with clips ``(B, T, 3, H, W)``.

``reuse``: each person is cropped once per frame with its own (tracked) box; the HRNet taps of that
crop are computed once (``ReuseRunner.add_frame``) and then read by up to five key frames
(``ReuseRunner.predict``), so the backbone cost per person-frame is one pass. The temporal module sees
supporting features from the supporting frames' own crops.

Streaming use (the pipeline's look-ahead is ``model.num_frames // 2`` frames)::

    runner = ReuseRunner(model)
    for f, crops in enumerate(stream):               # crops: {track_id: (3, H, W) normalised tensor}
        runner.add_frame(f, crops)
        key = f - runner.lookahead
        if key >= 0:
            out, ids = runner.predict(key, last_frame=None)   # None: later frames may still come
            runner.evict(key - runner.lookahead)
    # at the end of the stream: predict the remaining key frames with last_frame = f

Supporting frames follow the reference boundary rule (``support_frames``); when a supporting frame
exists but the person was not cropped there (missed detection, new track), that slot takes the key
frame's own features, the same padding the reference uses at clip boundaries.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor

from posecli.keypoints import FLIP_PAIRS
from posecli.models.pose_model import PoseOutput, VideoPoseModel

MODES = ("exact", "reuse")


def support_frames(key: int, first: int, last: int | None, num_frames: int = 5) -> tuple[int, ...]:
    """Frame indices of the ``num_frames`` slots (t-2, t-1, t, t+1, t+2) around ``key``.

    first / last: the first and last frame that exist (``last=None``: unbounded). The reference rule
    (spec §7): with p frames before and n after, previous slots are (t-2, t-1) if p ≥ 2, (t-1, t) if
    p = 1, (t, t) if p = 0; next slots are (t+1, t+2) if n ≥ 2, (t+1, t+1) if n = 1, (t, t) if n = 0.
    ``num_frames`` 1 gives ``(key,)``.
    """
    if num_frames == 1:
        return (key,)
    if num_frames != 5:
        raise ValueError(f"the boundary rule is defined for 5 frames, got {num_frames}")
    before = key - first
    after = 2 if last is None else last - key
    if before < 0 or after < 0:
        raise ValueError(f"key frame {key} lies outside frames {first}..{last}")
    prev = (key - 2, key - 1) if before >= 2 else (key - 1, key) if before == 1 else (key, key)
    nxt = (key + 1, key + 2) if after >= 2 else (key + 1, key + 1) if after == 1 else (key, key)
    return (*prev, key, *nxt)


@torch.no_grad()
def predict_exact(model: VideoPoseModel, clips: Tensor, batch_size: int = 16) -> PoseOutput:
    """``exact`` mode: clips ``(B, T, 3, H, W)`` (all frames cropped with the key box) → ``PoseOutput``
    with ``(B, …)`` tensors; runs in eval mode and in chunks of ``batch_size`` clips."""
    model.eval()
    parts = [model(clips[i : i + batch_size]) for i in range(0, clips.shape[0], batch_size)]
    return _concat_outputs(parts)


class ReuseRunner:
    """``reuse`` mode: cache per-(frame, track) backbone taps and assemble temporal inputs from them.

    The cache holds, for every frame added and not evicted, ``{track_id: [tap (C, h, w), …]}`` with
    ``model.num_taps`` taps (4 for TDMI, else 1), on the model's device.
    """

    def __init__(self, model: VideoPoseModel, batch_size: int = 32) -> None:
        self.model = model.eval()
        self.batch_size = batch_size
        self.lookahead = model.num_frames // 2
        self.first_frame: int | None = None
        self._cache: dict[int, dict[int, list[Tensor]]] = {}

    @property
    def frames(self) -> list[int]:
        """Frame indices currently cached, ascending."""
        return sorted(self._cache)

    @torch.no_grad()
    def add_frame(self, frame_index: int, crops: dict[int, Tensor]) -> None:
        """Run the backbone once on every person crop of one frame and cache the taps.

        crops: ``{track_id: (3, H, W)}`` normalised RGB crops made with that person's own box in this
        frame (an empty dict records a frame with nobody in it).
        """
        ids = list(crops)
        entry: dict[int, list[Tensor]] = {}
        if ids:
            taps = encode_in_batches(self.model, torch.stack([crops[i] for i in ids]), self.batch_size)
            entry = {track_id: [tap[row] for tap in taps] for row, track_id in enumerate(ids)}
        self.add_taps(frame_index, entry)

    def add_taps(self, frame_index: int, taps: dict[int, list[Tensor]]) -> None:
        """Cache taps computed elsewhere: ``{track_id: [tap (C, h, w), …]}`` (``model.num_taps`` each),
        e.g. by a pipeline that already ran the backbone on the crops to get poses for tracking."""
        if self.first_frame is None:
            self.first_frame = frame_index
        self._cache[frame_index] = taps

    def evict(self, before: int) -> None:
        """Forget the cached frames with index < ``before``."""
        for frame in [f for f in self._cache if f < before]:
            del self._cache[frame]

    @torch.no_grad()
    def predict(
        self, key_frame: int, last_frame: int | None = None, track_ids: Sequence[int] | None = None
    ) -> tuple[PoseOutput, list[int]]:
        """Temporal half for the people of one key frame from cached taps.

        key_frame: a cached frame; last_frame: the stream's last frame if known (boundary rule), else
        None while more frames may come; track_ids: whom to predict (default: everyone cropped in the
        key frame). Returns the ``PoseOutput`` (``(P, …)`` tensors, one row per person) and the track ids
        in row order. Supporting frames must be cached (those not yet evicted).
        """
        if key_frame not in self._cache or self.first_frame is None:
            raise KeyError(f"frame {key_frame} is not in the feature cache")
        key_entry = self._cache[key_frame]
        ids = list(key_entry) if track_ids is None else list(track_ids)
        if not ids:
            raise ValueError(f"nobody to predict in key frame {key_frame}")
        slots = support_frames(key_frame, self.first_frame, last_frame, self.model.num_frames)
        missing = [f for f in set(slots) if f not in self._cache]
        if missing:
            raise KeyError(f"frames {sorted(missing)} needed by key frame {key_frame} are not cached")
        stacked: list[Tensor] = []
        for tap in range(self.model.num_taps):
            gathered = []
            for track_id in ids:
                own = key_entry[track_id][tap]
                # a slot without this person (missed detection, new track) takes the key frame's taps
                gathered += [self._cache[f][track_id][tap] if track_id in self._cache[f] else own for f in slots]
            stacked.append(torch.stack(gathered).unflatten(0, (len(ids), len(slots))))  # (P, T, C, h, w), one copy
        return self.model.decode(stacked), ids


@torch.no_grad()
def encode_in_batches(model: VideoPoseModel, crops: Tensor, batch_size: int = 32) -> list[Tensor]:
    """``model.encode_frames`` over crops ``(N, 3, H, W)`` in chunks of ``batch_size``, on the model's
    device → ``num_taps`` tensors ``(N, C, h, w)``."""
    device = next(model.parameters()).device
    parts = [model.encode_frames(crops[i : i + batch_size].to(device)) for i in range(0, crops.shape[0], batch_size)]
    return [torch.cat([part[tap] for part in parts]) for tap in range(len(parts[0]))]


def swap_flip_pairs(values: Tensor) -> Tensor:
    """Swap the left/right joints (``keypoints.FLIP_PAIRS``) along dim 1 of ``(B, K, ...)``."""
    order = list(range(values.shape[1]))
    for a, b in FLIP_PAIRS:
        order[a], order[b] = b, a
    return values[:, order]


def unflip_heatmaps(heatmaps: Tensor) -> Tensor:
    """Heatmaps ``(B, K, h, w)`` of horizontally flipped crops back to the original orientation: mirror,
    swap left/right joints, and shift one pixel right as the reference flip test does (``SHIFT_HEATMAP``)."""
    back = swap_flip_pairs(heatmaps.flip(-1))
    shifted = back.clone()
    shifted[..., 1:] = back[..., :-1]
    return shifted


def average_with_flipped(output: PoseOutput, flipped: PoseOutput) -> PoseOutput:
    """The flip test (spec §9): the mean of ``output`` and the unflipped ``flipped`` output.

    Heatmaps as ``unflip_heatmaps``; SimCC logits: the x vector mirrored, joints swapped (y only
    swapped), then averaged, as the official SimCC flip test does for Gaussian labels.
    """
    heatmaps = (output.heatmaps.float() + unflip_heatmaps(flipped.heatmaps.float())) / 2
    simcc_x = simcc_y = None
    if output.simcc_x is not None and output.simcc_y is not None:
        assert flipped.simcc_x is not None and flipped.simcc_y is not None
        simcc_x = (output.simcc_x.float() + swap_flip_pairs(flipped.simcc_x.float().flip(-1))) / 2
        simcc_y = (output.simcc_y.float() + swap_flip_pairs(flipped.simcc_y.float())) / 2
    return PoseOutput(heatmaps, simcc_x, simcc_y, output.backbone_heatmaps)


def _concat_outputs(parts: list[PoseOutput]) -> PoseOutput:
    """Concatenate chunked outputs along the batch axis (features are empty in eval mode)."""

    def cat(values: list[Tensor | None]) -> Tensor | None:
        return None if values[0] is None else torch.cat([v for v in values if v is not None])

    heatmaps = torch.cat([p.heatmaps for p in parts])
    return PoseOutput(
        heatmaps, cat([p.simcc_x for p in parts]), cat([p.simcc_y for p in parts]),
        cat([p.backbone_heatmaps for p in parts]),
    )
