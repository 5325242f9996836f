"""A constant-velocity Kalman filter on person boxes, in numpy.

State ``(8,)``: box centre ``cx, cy``, width ``w``, height ``h`` and their per-frame velocities
``vcx, vcy, vw, vh``. Measurements are boxes ``(4,)``. The process and measurement noise scale with
the box size (a small far person moves fewer pixels per frame than a large near one), so one set of
weights fits people of every size.
"""

from __future__ import annotations

import numpy as np


def xyxy_to_cxcywh(box: np.ndarray) -> np.ndarray:
    """``(4,)`` ``x1, y1, x2, y2`` → ``(4,)`` ``cx, cy, w, h``."""
    b = np.asarray(box, dtype=np.float64)
    return np.array([(b[0] + b[2]) / 2, (b[1] + b[3]) / 2, b[2] - b[0], b[3] - b[1]])


def cxcywh_to_xyxy(state: np.ndarray) -> np.ndarray:
    """The first four entries ``cx, cy, w, h`` of ``state`` → ``(4,)`` ``x1, y1, x2, y2``."""
    cx, cy, w, h = (float(v) for v in state[:4])
    return np.array([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2])


class BoxKalmanFilter:
    """Constant-velocity Kalman filter over ``cx, cy, w, h``; stateless, works on ``(mean, cov)``.

    ``position_std`` and ``velocity_std`` are noise standard deviations as fractions of the box
    width (for x and w) or height (for y and h) per frame. The defaults are those commonly used by
    SORT-family trackers at 25-30 frames/s (1/20 and 1/160).
    """

    def __init__(self, *, position_std: float = 1.0 / 20, velocity_std: float = 1.0 / 160) -> None:
        self.position_std = position_std
        self.velocity_std = velocity_std
        self._motion = np.eye(8)
        self._motion[:4, 4:] = np.eye(4)  # x_{t+1} = x_t + v_t
        self._observe = np.eye(4, 8)  # we measure the box, not its velocity

    def _size_scale(self, mean: np.ndarray) -> np.ndarray:
        """``(4,)`` ``w, h, w, h`` of the state, floored at 1 px so noise never vanishes."""
        w, h = max(float(mean[2]), 1.0), max(float(mean[3]), 1.0)
        return np.array([w, h, w, h])

    def initiate(self, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Start a track at a box ``(4,)`` xyxy: mean ``(8,)`` with zero velocity, covariance ``(8, 8)``."""
        z = xyxy_to_cxcywh(box)
        mean = np.concatenate([z, np.zeros(4)])
        scale = self._size_scale(mean)
        # Velocity is unknown at birth: give it a wide prior so the first matches set it quickly.
        std = np.concatenate([2 * self.position_std * scale, 10 * self.velocity_std * scale])
        return mean, np.diag(std**2)

    def predict(self, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One frame ahead: ``(8,)``, ``(8, 8)`` → ``(8,)``, ``(8, 8)`` (inputs are not modified)."""
        scale = self._size_scale(mean)
        q = np.diag(np.concatenate([self.position_std * scale, self.velocity_std * scale]) ** 2)
        new_mean = self._motion @ mean
        new_mean[2:4] = np.maximum(new_mean[2:4], 1.0)  # a box never shrinks below 1 px
        return new_mean, self._motion @ cov @ self._motion.T + q

    def update(self, mean: np.ndarray, cov: np.ndarray, box: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Correct a predicted ``(mean, cov)`` with a measured box ``(4,)`` xyxy; returns the posterior."""
        r = np.diag((self.position_std * self._size_scale(mean)) ** 2)
        h = self._observe
        s = h @ cov @ h.T + r  # (4, 4) innovation covariance
        gain = np.linalg.solve(s, h @ cov).T  # (8, 4); solve instead of inverting s explicitly
        innovation = xyxy_to_cxcywh(box) - h @ mean
        new_mean = mean + gain @ innovation
        new_cov = (np.eye(8) - gain @ h) @ cov
        return new_mean, (new_cov + new_cov.T) / 2  # keep it symmetric against round-off
