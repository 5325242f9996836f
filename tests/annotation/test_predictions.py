"""``export`` reads every posecli output through its own reader: PoseTrack 2018 and 2017, COCO results
and JSON lines give the same people (COCO has no head_bottom/head_top, so those slots are outside)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posecli.annotation.poses import OUTSIDE, Clip, clip_from_predictions
from posecli.errors import PoseCliError
from posecli.export.coco import write_coco_json
from posecli.export.jsonl import JsonlWriter
from posecli.export.posetrack import (
    annolist_frame,
    annolist_person,
    annolist_point,
    write_posetrack_document,
)
from posecli.export.predictions import read_predictions
from posecli.keypoints import POSEVAL_ID_OF_SLOT
from posecli.video import probe_video

from .conftest import FRAMES, HEIGHT, WIDTH, tracked_frames


def clip_of(path: Path) -> Clip:
    return clip_from_predictions(
        read_predictions(path), kpt_thr=0.3, width=WIDTH, height=HEIGHT, num_frames=FRAMES
    )


def write_annolist(path: Path) -> None:
    frames = []
    for result in tracked_frames():
        people = []
        for person in result.instances:
            points = [
                annolist_point(joint, float(person.keypoints[slot, 0]), float(person.keypoints[slot, 1]),
                               float(person.keypoints[slot, 2]))
                for slot, joint in POSEVAL_ID_OF_SLOT.items()
                if person.keypoints[slot, 2] > 0
            ]  # fmt: skip
            people.append(annolist_person(int(person.track_id or 0), points))
        frames.append(
            annolist_frame(f"images/clip/{result.frame_index:06d}.jpg", result.frame_index, True, people)
        )
    write_posetrack_document(path, {"annolist": frames})


@pytest.mark.parametrize("kind", ["jsonl", "coco", "posetrack17"])
def test_every_prediction_format_gives_the_same_people(
    kind: str, prediction: Path, h264_clip: Path, tmp_path: Path
) -> None:
    path = tmp_path / f"clip.{kind}.{'jsonl' if kind == 'jsonl' else 'json'}"
    if kind == "jsonl":
        with JsonlWriter(path) as writer:
            for result in tracked_frames():
                writer.write(result)
    elif kind == "coco":
        write_coco_json(path, tracked_frames(), probe_video(h264_clip), "clip")
    else:
        write_annolist(path)
    assert read_predictions(path).file_format == kind
    got, want = clip_of(path), clip_of(prediction)
    assert [(p.frame, p.track_id) for p in got.people] == [(p.frame, p.track_id) for p in want.people]
    for a, b in zip(got.people, want.people):
        expected = b.visibility.copy()
        if kind == "coco":
            expected[[1, 2]] = OUTSIDE
        np.testing.assert_array_equal(a.visibility, expected)
        placed = expected != OUTSIDE
        np.testing.assert_allclose(a.xy[placed], b.xy[placed], atol=0.005)


def test_a_track_id_twice_in_a_frame_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dup.jsonl"
    frame = tracked_frames()[0]
    twice = type(frame)(frame.frame_index, frame.timestamp, (frame.instances[0], frame.instances[0]))
    with JsonlWriter(path) as writer:
        writer.write(twice)
    with pytest.raises(PoseCliError, match=r"dup\.jsonl: frame 0: track id 3 is used twice"):
        clip_of(path)
