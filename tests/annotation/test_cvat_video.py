"""CVAT for video: the importer reproduces CVAT's track interpolation for skeleton elements."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from posecli.annotation.cvat_video import read_cvat_video
from posecli.annotation.poses import OCCLUDED, OUTSIDE, VISIBLE
from posecli.errors import PoseCliError

NOSE, HEAD_TOP = 0, 2


def task(tracks: str, stop_frame: int = 7) -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version><meta><task><id>4</id>'
        f"<size>{stop_frame + 1}</size><mode>interpolation</mode><start_frame>0</start_frame>"
        f"<stop_frame>{stop_frame}</stop_frame><original_size><width>100</width><height>80</height>"
        f"</original_size></task></meta>{tracks}</annotations>"
    )


def point(label: str, xy: str, keyframe: int = 1, outside: int = 0, occluded: int = 0) -> str:
    return (
        f'<points label="{label}" keyframe="{keyframe}" outside="{outside}" occluded="{occluded}" '
        f'points="{xy}"/>'
    )


def test_points_are_linear_between_their_keyframes_and_carried_after_the_last(tmp_path: Path) -> None:
    """As CVAT's TrackManager: each joint interpolates on its own keyframes (non-keyframe points are
    ignored), takes outside/occluded from the earlier keyframe, and keeps its last state to the end."""
    track = (
        '<track id="0" label="person" source="manual">'
        f'<skeleton frame="1" keyframe="1" z_order="0">{point("nose", "10,10", occluded=1)}</skeleton>'
        f'<skeleton frame="2" keyframe="1" z_order="0">{point("head_top", "5,5")}</skeleton>'
        f'<skeleton frame="3" keyframe="0" z_order="0">{point("nose", "99,99", keyframe=0)}</skeleton>'
        f'<skeleton frame="4" keyframe="1" z_order="0">{point("head_top", "9,13", outside=1)}</skeleton>'
        f'<skeleton frame="5" keyframe="1" z_order="0">{point("nose", "20,30")}</skeleton>'
        "</track>"
    )
    path = tmp_path / "annotations.xml"
    path.write_text(task(track))
    clip = read_cvat_video(path)
    assert (clip.width, clip.height, clip.num_frames) == (100, 80, 8)
    poses = {p.frame: p for p in clip.people}
    assert sorted(poses) == [1, 2, 3, 4, 5, 6, 7]  # nothing before the first keyframe
    nose = {f: (tuple(p.xy[NOSE]), int(p.visibility[NOSE])) for f, p in poses.items()}
    assert nose == {
        1: ((10.0, 10.0), OCCLUDED),
        2: ((12.5, 15.0), OCCLUDED),
        3: ((15.0, 20.0), OCCLUDED),  # the keyframe="0" point at 99,99 does not count
        4: ((17.5, 25.0), OCCLUDED),
        5: ((20.0, 30.0), VISIBLE),
        6: ((20.0, 30.0), VISIBLE),
        7: ((20.0, 30.0), VISIBLE),
    }
    top = {f: int(p.visibility[HEAD_TOP]) for f, p in poses.items()}
    assert top == {1: OUTSIDE, 2: VISIBLE, 3: VISIBLE, 4: OUTSIDE, 5: OUTSIDE, 6: OUTSIDE, 7: OUTSIDE}
    np.testing.assert_allclose(poses[3].xy[HEAD_TOP], (7.0, 9.0))  # halfway to the outside keyframe


def test_an_all_outside_keyframe_ends_the_person_until_the_next(tmp_path: Path) -> None:
    track = (
        '<track id="5" label="person" source="manual">'
        f'<skeleton frame="0" keyframe="1" z_order="0">{point("nose", "10,10")}</skeleton>'
        f'<skeleton frame="2" keyframe="1" z_order="0">{point("nose", "10,10", outside=1)}</skeleton>'
        f'<skeleton frame="5" keyframe="1" z_order="0">{point("nose", "40,10")}</skeleton>'
        "</track>"
    )
    path = tmp_path / "annotations.xml"
    path.write_text(task(track, stop_frame=6))
    clip = read_cvat_video(path)
    assert [(p.frame, p.track_id) for p in clip.people] == [(0, 5), (1, 5), (5, 5), (6, 5)]


def test_posecli_id_attribute_wins_over_cvats_renumbered_track_id(tmp_path: Path) -> None:
    track = (
        '<track id="0" label="person" source="manual"><skeleton frame="0" keyframe="1" z_order="0">'
        f'{point("nose", "1,2")}<attribute name="posecli_id">42</attribute></skeleton></track>'
    )
    path = tmp_path / "annotations.xml"
    path.write_text(task(track, stop_frame=0))
    assert [p.track_id for p in read_cvat_video(path).people] == [42]


def test_a_keyframe_beyond_the_task_is_refused(tmp_path: Path) -> None:
    track = (
        '<track id="0" label="person" source="manual">'
        f'<skeleton frame="9" keyframe="1" z_order="0">{point("nose", "1,2")}</skeleton></track>'
    )
    path = tmp_path / "annotations.xml"
    path.write_text(task(track, stop_frame=3))
    with pytest.raises(PoseCliError, match=r"annotations\.xml: track: a keyframe on frame 9"):
        read_cvat_video(path)
