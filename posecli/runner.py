"""The model stage of ``estimate``: person crops in, network outputs out (spec models.md §12f).

``PoseRunner`` owns the temporal window of both modes: which key frame is ready (the key frame waits
for ``lookahead = num_frames // 2`` later frames), the supporting frames of each key frame (the
reference boundary rule, ``support_frames``), the per-person backbone features, and the clips:

- ``reuse``: each person is cropped once per frame with its own (tracked) box; those features are
  computed once and read by up to five key frames. A supporting frame where the person was not
  cropped (missed detection, new track) takes the key frame's own features, the same padding the
  reference uses at clip boundaries.
- ``exact`` (the reference protocol): the key frame's box crops all five frames and the whole network
  runs on that clip. The key slot reuses the person's own crop, so this costs five backbone passes per
  person-key-frame, not six.

Per frame the caller hands over the crops of every detected person (``encode``: backbone features,
plus HRNet's own pose on them for the tracker), then the tracked people (``add_frame``, which says
which key frames became ready), and asks for each ready key frame's output (``predict``); ``finish``
names the key frames left at the end of the stream. Only the frames the next key frame can still
need are kept.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import cv2
import numpy as np
import torch
from torch import Tensor

from posecli.data.posetrack import supporting_frames
from posecli.data.transforms import affine_matrix, normalize_frames
from posecli.models.inference import average_with_flipped
from posecli.models.pose_model import PoseOutput, VideoPoseModel

MODES = ("reuse", "exact")


class CroppedPerson(Protocol):
    """A tracked person of one frame as the runner reads it: its id and its crop centre and scale."""

    track_id: int
    center: np.ndarray  # (2,) crop centre, frame pixels
    scale: np.ndarray  # (2,) crop size / 200 (reference pixel_std)


@dataclass
class EncodedCrops:
    """The backbone's view of one frame's crops, in crop order.

    taps: ``num_taps`` tensors ``(N, C, h, w)`` on the model's device; flipped: the same for the
    mirrored crops (flip test only); pose: HRNet's own heatmaps ``(N, K, h, w)``, float32 on the CPU.
    """

    taps: list[Tensor]
    flipped: list[Tensor] | None
    pose: Tensor


def support_frames(key: int, first: int, last: int | None, num_frames: int = 5) -> tuple[int, ...]:
    """Frame indices of the ``num_frames`` slots (t-2, t-1, t, t+1, t+2) around ``key``.

    first / last: the first and last frame that exist (``last=None``: later frames may still come, so
    two are assumed). The rule is the dataset's (``data.posetrack.supporting_frames``), the reference
    one; ``num_frames`` 1 gives ``(key,)``.
    """
    if num_frames == 1:
        return (key,)
    if num_frames != 5:
        raise ValueError(f"the boundary rule is defined for 5 frames, got {num_frames}")
    if key < first or (last is not None and key > last):
        raise ValueError(f"key frame {key} lies outside frames {first}..{last}")
    count = key - first + 3 if last is None else last - first + 1  # unbounded: two frames after the key
    return tuple(supporting_frames(key, first, count))


def crop_person(image: np.ndarray, center: np.ndarray, scale: np.ndarray, input_size: tuple[int, int]) -> Tensor:
    """``(3, H, W)`` normalised crop of ``image`` ``(h, w, 3)`` uint8 RGB around ``center``/``scale``
    (unbiased affine, bilinear); ``input_size`` is ``(H, W)``."""
    height, width = input_size
    matrix = affine_matrix(center, scale, 0.0, (height, width))
    crop = cv2.warpAffine(image, matrix, (width, height), flags=cv2.INTER_LINEAR)
    return normalize_frames(torch.from_numpy(np.ascontiguousarray(crop.transpose(2, 0, 1))))


@torch.no_grad()
def encode_in_batches(model: VideoPoseModel, crops: Tensor, batch_size: int = 32) -> list[Tensor]:
    """``model.encode_frames`` over crops ``(N, 3, H, W)`` in chunks of ``batch_size``, on the model's
    device → ``num_taps`` tensors ``(N, C, h, w)``."""
    device = next(model.parameters()).device
    parts = [model.encode_frames(crops[i : i + batch_size].to(device)) for i in range(0, crops.shape[0], batch_size)]
    return [torch.cat([part[tap] for part in parts]) for tap in range(len(parts[0]))]


class PoseRunner:
    """Streams one video's people through ``model`` in ``mode`` (see the module docstring).

    batch_size: crops per backbone pass; flip_test: also run mirrored crops and average (spec §9);
    half: autocast (fp16 on CUDA, bf16 on the CPU). The model must already be on its device.
    """

    def __init__(
        self, model: VideoPoseModel, *, mode: str = "reuse", batch_size: int = 32, flip_test: bool = False,
        half: bool = False,
    ) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
        self.model = model.eval()
        self.mode = mode
        self.batch_size = batch_size
        self.flip_test = flip_test
        self.half = half
        self.lookahead = model.num_frames // 2
        self.input_size: tuple[int, int] = tuple(model.config.input_size)  # (H, W)
        device = next(model.parameters()).device
        low = torch.float16 if device.type == "cuda" else torch.bfloat16
        self._autocast: dict[str, Any] = {"device_type": device.type, "dtype": low}
        self.reset()

    def reset(self) -> None:
        """Forget every frame (call between videos)."""
        self._taps: dict[int, dict[int, list[Tensor]]] = {}  # frame → {track_id: own-crop taps}
        self._flipped: dict[int, dict[int, list[Tensor]]] = {}  # the same for the mirrored crops
        self._images: dict[int, np.ndarray] = {}  # exact mode: frames still to be cropped with key boxes
        self._first: int | None = None
        self._newest: int | None = None
        self._last: int | None = None  # the stream's last frame, once ``finish`` knows it

    # -- per frame --------------------------------------------------------------------------------
    def crop(self, image: np.ndarray, center: np.ndarray, scale: np.ndarray) -> Tensor:
        """``crop_person`` at this model's input size."""
        return crop_person(image, center, scale, self.input_size)

    def encode(self, crops: Tensor) -> EncodedCrops:
        """Backbone features of one frame's crops ``(N, 3, H, W)`` (N ≥ 1) and HRNet's own pose on them,
        which a tracker can use before the temporal model has the frames it waits for."""
        taps = self._encode(crops)
        flipped = self._encode(crops.flip(-1)) if self.flip_test else None
        with torch.no_grad(), torch.autocast(**self._autocast, enabled=self.half):
            pose = self.model.backbone_pose(taps)  # (N, K, h, w)
        return EncodedCrops(taps, flipped, pose.float().cpu())

    def add_frame(
        self, frame_index: int, image: np.ndarray, encoded: EncodedCrops | None, rows: Sequence[int],
        track_ids: Sequence[int],
    ) -> list[int]:
        """Keep frame ``frame_index``'s tracked people: ``track_ids[i]`` is crop ``rows[i]`` of ``encoded``
        (None: nobody was cropped). Frames come in order. Returns the key frames now ready to predict."""
        own: dict[int, list[Tensor]] = {}
        flipped: dict[int, list[Tensor]] = {}
        if encoded is not None:
            for row, track_id in zip(rows, track_ids, strict=True):
                own[track_id] = [tap[row] for tap in encoded.taps]
                if encoded.flipped is not None:
                    flipped[track_id] = [tap[row] for tap in encoded.flipped]
        if self._first is None:
            self._first = frame_index
        self._newest = frame_index
        self._taps[frame_index] = own
        if self.flip_test:
            self._flipped[frame_index] = flipped
        if self.mode == "exact":
            self._images[frame_index] = image
        key = frame_index - self.lookahead
        return [key] if key >= self._first else []

    def finish(self) -> list[int]:
        """The stream ended: the key frames not yet ready (the last ``lookahead`` ones), in order."""
        if self._newest is None or self._first is None:
            return []
        self._last = self._newest
        return list(range(max(self._first, self._last - self.lookahead + 1), self._last + 1))

    @torch.no_grad()
    def predict(self, key: int, people: Sequence[CroppedPerson]) -> PoseOutput | None:
        """Output for ``people`` of ready key frame ``key`` (``(P, …)`` tensors in their order; None for
        nobody), then forget the frames no later key frame needs."""
        output = None
        if people:
            if self._first is None or key not in self._taps:
                raise KeyError(f"frame {key} was not added")
            slots = support_frames(key, self._first, self._last, self.model.num_frames)
            with torch.autocast(**self._autocast, enabled=self.half):
                output = self._output(key, slots, people, flipped=False)
                if self.flip_test:
                    output = average_with_flipped(output, self._output(key, slots, people, flipped=True))
        self._evict(key + 1 - self.lookahead)
        return output

    # -- resumable runs ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """What carries over between frames (plain dicts of tensors and arrays, for progress files)."""
        return {
            "taps": self._taps, "flipped": self._flipped, "images": self._images,
            "first": self._first, "newest": self._newest, "last": self._last,
        }

    def restore(self, state: dict[str, Any]) -> None:
        self._taps, self._flipped, self._images = state["taps"], state["flipped"], state["images"]
        self._first, self._newest, self._last = state["first"], state["newest"], state["last"]

    # -- inside -----------------------------------------------------------------------------------
    def _encode(self, crops: Tensor) -> list[Tensor]:
        with torch.autocast(**self._autocast, enabled=self.half):
            return encode_in_batches(self.model, crops, self.batch_size)

    def _evict(self, before: int) -> None:
        for cache in (self._taps, self._flipped, self._images):
            for frame in [f for f in cache if f < before]:
                del cache[frame]

    def _output(self, key: int, slots: tuple[int, ...], people: Sequence[CroppedPerson], flipped: bool) -> PoseOutput:
        cache = self._flipped if flipped else self._taps
        if self.mode == "reuse":
            return self._reuse_output(cache, key, slots, [p.track_id for p in people])
        return self._exact_output(cache[key], key, slots, people, flipped)

    def _reuse_output(
        self, cache: dict[int, dict[int, list[Tensor]]], key: int, slots: tuple[int, ...], ids: list[int]
    ) -> PoseOutput:
        """The temporal half on each person's own cached features of the frames ``slots``."""
        missing = [f for f in set(slots) if f not in cache]
        if missing:
            raise KeyError(f"frames {sorted(missing)} needed by key frame {key} are no longer kept")
        key_entry = cache[key]
        stacked: list[Tensor] = []
        for tap in range(self.model.num_taps):
            gathered = []
            for track_id in ids:
                own = key_entry[track_id][tap]
                # a slot without this person (missed detection, new track) takes the key frame's taps
                gathered += [cache[f][track_id][tap] if track_id in cache[f] else own for f in slots]
            stacked.append(torch.stack(gathered).unflatten(0, (len(ids), len(slots))))  # (P, T, C, h, w), one copy
        return self.model.decode(stacked)

    def _exact_output(
        self, own: dict[int, list[Tensor]], key: int, slots: tuple[int, ...], people: Sequence[CroppedPerson],
        flipped: bool,
    ) -> PoseOutput:
        """The reference protocol: each person's key box crops the supporting frames ``slots`` (the key
        slot reuses the taps of its own crop)."""
        others = [s for s in slots if s != key]
        crops = [self.crop(self._images[s], p.center, p.scale) for p in people for s in others]
        extra: list[Tensor] = []
        if crops:
            batch = torch.stack(crops)  # (P·S', 3, H, W), person-major
            extra = encode_in_batches(self.model, batch.flip(-1) if flipped else batch, self.batch_size)
        stacked = []
        for tap in range(self.model.num_taps):
            per_person = []
            for i, person in enumerate(people):
                row = iter(range(i * len(others), (i + 1) * len(others)))
                frames = [own[person.track_id][tap] if s == key else extra[tap][next(row)] for s in slots]
                per_person.append(torch.stack(frames))  # (T, C, h, w)
            stacked.append(torch.stack(per_person))  # (P, T, C, h, w)
        return self.model.decode(stacked)
