"""The tracker and detector contracts: input rows instead of object identity, declared capabilities."""

from __future__ import annotations

import numpy as np
import pytest

from posecli.detection.base import BaseDetector, Detector
from posecli.detection.precomputed import PrecomputedDetector
from posecli.errors import PoseCliError
from posecli.structures import PoseInstance
from posecli.tracking.base import BaseTracker, Tracker
from posecli.tracking.bytetrack import ByteTracker
from posecli.tracking.iou import IoUTracker


def _person(x: float, score: float) -> PoseInstance:
    return PoseInstance(keypoints=np.zeros((17, 3)), box=np.array([x, 0.0, x + 40.0, 100.0]), score=score)


@pytest.mark.parametrize("make", [ByteTracker, lambda: IoUTracker(min_hits=2)])
def test_assign_names_the_input_row_of_every_person_kept(make) -> None:
    """Each output carries the row it came from, so a caller never has to find its people again by
    object identity (the tracker may copy boxes). People the tracker drops leave gaps in the rows."""
    tracker = make()
    assert isinstance(tracker, Tracker) and tracker.predicts_boxes
    first = [_person(0, 0.9), _person(300, 0.05), _person(600, 0.9)]  # ByteTracker ignores row 1
    rows = tracker.assign(first)
    if isinstance(tracker, ByteTracker):
        assert [row for row, _ in rows] == [0, 2]
    else:
        assert rows == []  # tentative tracks are not reported before their second hit
    moved = [_person(x + 2, s) for x, s in ((600, 0.9), (300, 0.05), (0, 0.9))]  # the same people, reversed
    rows = tracker.assign(moved)
    kept = [row for row, _ in rows]
    assert kept == sorted(kept)  # input order
    by_row = dict(rows)
    assert by_row[0] != by_row[2]
    tracked = make()
    tracked.assign(first)
    assert [(p.track_id, p.box.tolist()) for p in tracked.update(moved)] == [
        (track_id, moved[row].box.tolist()) for row, track_id in rows
    ]


def test_capabilities_are_declared_not_probed(tmp_path) -> None:
    """A tracker that predicts no boxes says so, and ``--det-every`` refuses it without probing methods."""
    from posecli.models import build_model
    from posecli.pipeline import TopDownProcessor

    class Still(BaseTracker):
        def assign(self, instances: list[PoseInstance]) -> list[tuple[int, int]]:
            return [(row, row) for row in range(len(instances))]

        def reset(self) -> None:
            pass

    assert not Still.predicts_boxes
    with pytest.raises(NotImplementedError):
        Still().predict()
    assert [p.track_id for p in Still().update([_person(0, 0.9), _person(50, 0.9)])] == [0, 1]

    class Nobody(BaseDetector):
        def __call__(self, frame: np.ndarray) -> list:
            return []

    assert isinstance(Nobody(), Detector) and not Nobody.seeks_frames and PrecomputedDetector.seeks_frames
    model = build_model("hrnet_w32", width=8, input_size=(64, 64))
    with pytest.raises(PoseCliError, match="--det-every > 1 needs a tracker that predicts boxes"):
        TopDownProcessor(model, Nobody(), Still(), det_every=2)
    TopDownProcessor(model, Nobody(), ByteTracker(), det_every=2)
