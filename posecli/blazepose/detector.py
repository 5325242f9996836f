"""BlazePose person detector (``pose_detection.tflite``) as a multi-person, tiled detector.

The network is an SSD over a 224×224 letterboxed RGB input in [-1, 1] with 2254 anchors (strides 8,
16, 32, 32, 32; two anchors per cell and layer; fixed unit anchor size). Each anchor regresses a box
(centre x, centre y, w, h) and four key points (0: hip centre, 1: a point on the circle around the
whole body, above the head, that fixes the body's size and rotation, 2, 3: face points), all in input
pixels relative to the anchor centre. The regressed box has a near-constant size on this model (it is
not used by BlazePose either), so posecli's detection box is the body circle's bounding square:
centred on key point 0 with half-side |kp1 − kp0|.
posecli decodes **every** anchor above the score threshold (not just the best one) and merges them by
weighted non-maximum suppression, so several people are found in one pass.

Small people in a wide frame shrink to a few pixels in a 224×224 letterbox, so the detector also runs
on overlapping square tiles at several scales (``tile_levels``: tile sides as fractions of the frame's
short side); all candidates are merged by the same suppression. A caller that cannot afford every
tile on every frame passes its own ``regions`` (``detect_regions``), e.g. a few tiles per frame in turn.

Every region is shrunk to the network input from an image pyramid built once per call (exact halvings
with area averaging, then one bilinear step of less than 2×), which costs a fraction of one direct
area resize of a large frame and keeps the anti-aliasing.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

from posecli.blazepose.geometry import box_iou
from posecli.blazepose.runtime import load_interpreter
from posecli.structures import Detection

INPUT_SIZE = 224
_STRIDES = (8, 16, 32, 32, 32)
_ANCHORS_PER_LAYER = 2  # aspect ratio 1 plus one interpolated scale


def ssd_anchor_centers(input_size: int = INPUT_SIZE) -> np.ndarray:
    """``(2254, 2)`` anchor centres ``(x, y)`` in [0, 1], in the network's output order.

    Layers that share a stride share a feature map; their anchors are interleaved per cell.
    """
    centers: list[tuple[float, float]] = []
    layer = 0
    while layer < len(_STRIDES):
        same = layer
        while same < len(_STRIDES) and _STRIDES[same] == _STRIDES[layer]:
            same += 1
        per_cell = _ANCHORS_PER_LAYER * (same - layer)
        cells = math.ceil(input_size / _STRIDES[layer])
        for y in range(cells):
            for x in range(cells):
                centers.extend([((x + 0.5) / cells, (y + 0.5) / cells)] * per_cell)
        layer = same
    return np.asarray(centers, dtype=np.float32)


@dataclass(frozen=True)
class _Letterbox:
    """How an image region was fitted into the square network input."""

    x0: float  # region origin in the full image
    y0: float
    scale: float  # network pixels per image pixel
    pad_x: float  # network pixels of padding on the left
    pad_y: float


class ImagePyramid:
    """A frame and its exact halvings (area-averaged), built on first use; ``region`` returns a region of
    the frame already shrunk from the smallest level that still has at least the wanted resolution."""

    def __init__(self, frame: np.ndarray) -> None:
        self._levels = [frame]

    def _level(self, k: int) -> np.ndarray:
        while len(self._levels) <= k:
            prev = self._levels[-1]
            h, w = prev.shape[:2]
            self._levels.append(cv2.resize(prev, (max(1, w // 2), max(1, h // 2)), interpolation=cv2.INTER_AREA))
        return self._levels[k]

    def region(self, x0: int, y0: int, x1: int, y1: int, scale: float) -> np.ndarray:
        """Frame pixels ``[y0:y1, x0:x1]`` resized by ``scale`` (≤ 1 shrinks), ``(h', w', 3)``."""
        k = max(0, int(np.floor(np.log2(1.0 / scale)))) if scale < 1.0 else 0
        k = min(k, 6)
        image = self._level(k)
        f = 2**k
        # the region in level-k pixels (rounded outwards), then the rest of the scale bilinearly
        patch = image[y0 // f : -(-y1 // f), x0 // f : -(-x1 // f)]
        w, h = max(1, round((x1 - x0) * scale)), max(1, round((y1 - y0) * scale))
        return cv2.resize(patch, (w, h), interpolation=cv2.INTER_LINEAR)


def _letterbox(
    region: np.ndarray, x0: float, y0: float, pyramid: ImagePyramid | None = None,
    bounds: tuple[int, int, int, int] | None = None,
) -> tuple[np.ndarray, _Letterbox]:
    """Fit ``region`` ``(h, w, 3)`` uint8 RGB centred into 224×224 → float input in [-1, 1]; with a
    ``pyramid`` and the region's ``bounds`` in it, the shrunk pixels come from the pyramid."""
    h, w = region.shape[:2]
    scale = INPUT_SIZE / max(h, w)
    nw, nh = max(1, round(w * scale)), max(1, round(h * scale))
    if pyramid is not None and bounds is not None:
        resized = pyramid.region(*bounds, scale)
        nh, nw = resized.shape[:2]
    else:
        resized = cv2.resize(region, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
    pad_x, pad_y = (INPUT_SIZE - nw) // 2, (INPUT_SIZE - nh) // 2
    canvas = np.zeros((INPUT_SIZE, INPUT_SIZE, 3), dtype=np.float32)
    canvas[pad_y : pad_y + nh, pad_x : pad_x + nw] = resized
    canvas = canvas / 127.5 - 1.0
    # Padding must be -1 (black) like the rest of the normalised image would be for zeros.
    canvas[:pad_y] = -1.0
    canvas[pad_y + nh :] = -1.0
    canvas[:, :pad_x] = -1.0
    canvas[:, pad_x + nw :] = -1.0
    return canvas, _Letterbox(x0, y0, nw / w, pad_x, pad_y)


def tile_regions(width: int, height: int, tile_fraction: float, overlap: float) -> list[tuple[int, int, int, int]]:
    """Overlapping square tiles ``(x0, y0, x1, y1)`` covering a ``width × height`` frame.

    The tile side is ``tile_fraction × min(width, height)``; neighbours overlap by ``overlap`` of it.
    """
    side = max(32, round(tile_fraction * min(width, height)))
    step = max(1, int(side * (1.0 - overlap)))

    def starts(extent: int) -> list[int]:
        if extent <= side:
            return [0]
        n = math.ceil((extent - side) / step) + 1
        return [round(i * (extent - side) / (n - 1)) for i in range(n)]

    return [(x, y, min(width, x + side), min(height, y + side)) for y in starts(height) for x in starts(width)]


class BlazePoseDetector:
    """Multi-person BlazePose detector implementing the ``Detector`` protocol.

    ``Detection.landmarks`` holds the four detector key points ``(4, 2)`` in image pixels: hip centre,
    the above-head scale point and two face points.
    """

    def __init__(
        self,
        model_path: str | Path,
        score_threshold: float = 0.5,
        nms_iou: float = 0.3,
        tiles: bool = True,
        tile_levels: tuple[float, ...] = (0.6, 0.35),
        tile_overlap: float = 0.25,
        num_threads: int | None = None,
    ) -> None:
        self._interpreter = load_interpreter(model_path, num_threads)
        self._input = self._interpreter.get_input_details()[0]["index"]
        outputs = sorted(self._interpreter.get_output_details(), key=lambda d: int(d["shape"][-1]))
        self._scores_out, self._boxes_out = outputs[0]["index"], outputs[1]["index"]  # (.., 1), (.., 12)
        self._anchors = ssd_anchor_centers()
        self.score_threshold = score_threshold
        self.nms_iou = nms_iou
        self.tiles = tiles
        self.tile_levels = tile_levels
        self.tile_overlap = tile_overlap

    def tile_schedule(self, width: int, height: int) -> list[tuple[int, int, int, int]]:
        """Every tile ``(x0, y0, x1, y1)`` of every level for a ``width × height`` frame, coarse levels
        first; tiles nearly as large as the frame are left out (the full-frame pass covers them)."""
        return [
            r
            for fraction in self.tile_levels
            for r in tile_regions(width, height, fraction, self.tile_overlap)
            if (r[2] - r[0]) * (r[3] - r[1]) < 0.8 * width * height
        ]

    def __call__(self, frame: np.ndarray, use_tiles: bool | None = None) -> list[Detection]:
        """Detect people in ``frame`` ``(H, W, 3)`` uint8 RGB over the full frame and (``tiles``) every
        tile; sorted by score, descending. ``use_tiles`` overrides the constructor's ``tiles``."""
        height, width = frame.shape[:2]
        regions = [(0, 0, width, height)]
        if self.tiles if use_tiles is None else use_tiles:
            regions += self.tile_schedule(width, height)
        return self.detect_regions(frame, regions)

    def detect_regions(self, frame: np.ndarray, regions: list[tuple[int, int, int, int]]) -> list[Detection]:
        """Detect people inside each ``(x0, y0, x1, y1)`` region of ``frame``; candidates of all regions
        are merged by one weighted suppression; sorted by score, descending."""
        pyramid = ImagePyramid(frame)
        boxes, keypoints, scores = [np.zeros((0, 4))], [np.zeros((0, 4, 2))], [np.zeros((0,))]
        for x0, y0, x1, y1 in regions:
            b, k, s = self._detect_region(frame[y0:y1, x0:x1], x0, y0, pyramid, (x0, y0, x1, y1))
            boxes.append(b)
            keypoints.append(k)
            scores.append(s)
        return weighted_nms(np.concatenate(boxes), np.concatenate(keypoints), np.concatenate(scores), self.nms_iou)

    def _detect_region(
        self, region: np.ndarray, x0: float, y0: float, pyramid: ImagePyramid | None = None,
        bounds: tuple[int, int, int, int] | None = None,
    ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Candidates above threshold in one region: boxes ``(N, 4)``, key points ``(N, 4, 2)``, scores ``(N,)``."""
        tensor, lb = _letterbox(region, x0, y0, pyramid, bounds)
        self._interpreter.set_tensor(self._input, tensor[None])
        self._interpreter.invoke()
        raw = self._interpreter.get_tensor(self._boxes_out)[0]  # (2254, 12)
        logits = self._interpreter.get_tensor(self._scores_out)[0, :, 0]  # (2254,)
        scores = 1.0 / (1.0 + np.exp(-np.clip(logits.astype(np.float64), -100.0, 100.0)))
        keep = scores >= self.score_threshold
        if not keep.any():
            return np.zeros((0, 4)), np.zeros((0, 4, 2)), np.zeros((0,))
        raw, scores, anchors = raw[keep], scores[keep], self._anchors[keep] * INPUT_SIZE
        kps_net = raw[:, 4:12].reshape(-1, 4, 2) + anchors[:, None, :]  # (N, 4, 2) network pixels
        kps = (kps_net - np.array([lb.pad_x, lb.pad_y])) / lb.scale + np.array([lb.x0, lb.y0])
        radius = np.linalg.norm(kps[:, 1] - kps[:, 0], axis=1, keepdims=True)  # (N, 1)
        boxes = np.concatenate([kps[:, 0] - radius, kps[:, 0] + radius], axis=1)
        return boxes, kps, scores


def weighted_nms(
    boxes: np.ndarray, keypoints: np.ndarray, scores: np.ndarray, iou_threshold: float, same_centre: float = 0.5
) -> list[Detection]:
    """Weighted non-maximum suppression: each cluster of overlapping candidates becomes one detection
    whose box and key points are the score-weighted mean of the cluster and whose score is its best.

    A candidate joins the best one's cluster when their boxes overlap (IoU > ``iou_threshold``) *and*
    its key point 0 (hip centre) lies within ``same_centre`` × the best one's box half side of the
    best one's: two people standing close have overlapping body circles but distinct hip centres, and
    averaging them would aim the landmark model between the two (a "person" made of both).

    boxes ``(N, 4)``, keypoints ``(N, L, 2)``, scores ``(N,)``.
    """
    order = np.argsort(-scores, kind="stable")
    boxes, keypoints, scores = boxes[order], keypoints[order], scores[order]
    remaining = np.ones(len(scores), dtype=bool)
    detections: list[Detection] = []
    ious = box_iou(boxes, boxes) if len(scores) else np.zeros((0, 0))
    for i in range(len(scores)):
        if not remaining[i]:
            continue
        half_side = max(float(boxes[i, 2] - boxes[i, 0]) / 2, 1e-6)
        near = np.linalg.norm(keypoints[:, 0] - keypoints[i, 0], axis=1) <= same_centre * half_side
        cluster = remaining & (ious[i] > iou_threshold) & near
        cluster[i] = True
        w = scores[cluster][:, None]
        box = (boxes[cluster] * w).sum(0) / w.sum()
        kps = (keypoints[cluster] * w[:, :, None]).sum(0) / w.sum()
        detections.append(Detection(box=box, score=float(scores[i]), landmarks=kps))
        remaining &= ~cluster
    return detections
