"""Temporal smoothing of keypoints per track with the One-Euro filter (Casiez, Roussel & Vogel, CHI 2012).

The One-Euro filter is a first-order low-pass filter whose cutoff frequency rises with the signal's
speed: a still joint is smoothed strongly (jitter removed), a fast joint hardly at all (little lag).
For each coordinate, with ``dt`` the time since the joint's previous observation:

    alpha(fc) = 1 / (1 + 1 / (2π · fc · dt))
    speed     = |(x − x̂_prev) / dt|, itself low-passed with cutoff ``d_cutoff``
    fc        = min_cutoff + beta · speed
    x̂         = x̂_prev + alpha(fc) · (x − x̂_prev)

posecli filters the ``x, y`` of every joint of every track separately, using the 2-D speed of the
joint so that x and y share one cutoff. It is meant for the single-frame models (embedded, HRNet);
the pipeline leaves it off by default.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from posecli.structures import FrameResult, PoseInstance


def _alpha(cutoff: np.ndarray, dt: np.ndarray) -> np.ndarray:
    """Smoothing factor of a first-order low-pass filter with cutoff ``cutoff`` Hz over ``dt`` s."""
    tau = 1.0 / (2.0 * math.pi * cutoff)
    return 1.0 / (1.0 + tau / dt)


@dataclass
class _JointState:
    """Filter state of one pose layout of one track; ``(K, ...)`` arrays, NaN time = joint never seen."""

    value: np.ndarray  # (K, 2) filtered positions x̂
    speed: np.ndarray  # (K, 2) filtered velocity, pixels/s
    time: np.ndarray  # (K,) timestamp of each joint's last observation (NaN before the first)
    last_seen: float  # timestamp of the track's last frame, to forget old tracks


class OneEuroSmoother:
    """Per-track One-Euro smoothing of ``PoseInstance.keypoints`` (and ``coco_keypoints`` when set).

    min_cutoff: cutoff (Hz) for a still joint; lower = smoother, more lag at low speed.
    beta: cutoff increase per pixel/s of joint speed; higher = less lag on fast motion.
    d_cutoff: cutoff (Hz) of the speed estimate.
    forget_after: seconds after which a track that has not been seen is dropped (bounds memory on
    long videos; a track that comes back later starts afresh).

    Joints with score 0 (not located) pass through unchanged and leave their state untouched, and
    people without a ``track_id`` pass through unchanged. Box, scores and ids are never modified.
    A timestamp that does not increase (broken video timestamps) is treated as one frame at 30
    frames/s after the previous one.
    """

    def __init__(
        self,
        min_cutoff: float = 1.0,
        beta: float = 0.01,
        d_cutoff: float = 1.0,
        *,
        forget_after: float = 5.0,
    ) -> None:
        if min_cutoff <= 0 or d_cutoff <= 0 or beta < 0:
            raise ValueError(
                f"need min_cutoff > 0, d_cutoff > 0, beta >= 0; got {min_cutoff}, {d_cutoff}, {beta}"
            )
        self.min_cutoff = min_cutoff
        self.beta = beta
        self.d_cutoff = d_cutoff
        self.forget_after = forget_after
        self._states: dict[tuple[int, str], _JointState] = {}

    def reset(self) -> None:
        """Forget every track (call between videos)."""
        self._states = {}

    def smooth(self, frame: FrameResult, timestamp: float | None = None) -> FrameResult:
        """The same frame with each tracked person's keypoints filtered.

        frame: one frame's people, frames passed in time order. timestamp: seconds (default
        ``frame.timestamp``). Returns a new ``FrameResult``; keypoints stay ``(K, 3)``.
        """
        now = float(frame.timestamp if timestamp is None else timestamp)
        people = tuple(self._smooth_person(p, now) for p in frame.instances)
        # Drop tracks unseen for long, so the state stays small over a long video.
        self._states = {k: s for k, s in self._states.items() if now - s.last_seen <= self.forget_after}
        return replace(frame, instances=people)

    def _smooth_person(self, person: PoseInstance, now: float) -> PoseInstance:
        if person.track_id is None:
            return person
        keypoints = self._filter((person.track_id, "posetrack"), person.keypoints, now)
        coco = person.coco_keypoints
        if coco is not None:
            coco = self._filter((person.track_id, "coco"), coco, now)
        return replace(person, keypoints=keypoints, coco_keypoints=coco)

    def _filter(self, key: tuple[int, str], keypoints: np.ndarray, now: float) -> np.ndarray:
        """Filter one pose ``(K, 3)`` of one track at time ``now``; returns a new ``(K, 3)`` array."""
        raw = np.asarray(keypoints, dtype=np.float64)
        out = raw.copy()
        located = raw[:, 2] > 0  # (K,)
        state = self._states.get(key)
        if state is None or state.value.shape[0] != raw.shape[0]:
            k = raw.shape[0]
            state = _JointState(np.zeros((k, 2)), np.zeros((k, 2)), np.full(k, np.nan), now)
            self._states[key] = state
        seen_before = located & ~np.isnan(state.time)
        first = located & np.isnan(state.time)

        # A joint's first observation starts its filter as is.
        state.value[first] = raw[first, :2]
        state.speed[first] = 0.0
        state.time[first] = now

        if seen_before.any():
            dt = now - state.time[seen_before]  # (J,)
            dt = np.where(dt > 0, dt, 1.0 / 30.0)
            x = raw[seen_before, :2]  # (J, 2)
            prev = state.value[seen_before]
            speed = (x - prev) / dt[:, None]
            a_d = _alpha(np.full_like(dt, self.d_cutoff), dt)[:, None]
            speed_hat = state.speed[seen_before] + a_d * (speed - state.speed[seen_before])
            cutoff = self.min_cutoff + self.beta * np.linalg.norm(speed_hat, axis=1)  # (J,)
            a = _alpha(cutoff, dt)[:, None]
            value = prev + a * (x - prev)
            state.value[seen_before] = value
            state.speed[seen_before] = speed_hat
            state.time[seen_before] = now
            out[seen_before, :2] = value
        state.last_seen = now
        return out
