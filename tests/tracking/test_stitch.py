"""Offline stitching: broken tracklets merge, different people do not, ids end up compact."""

from __future__ import annotations

import numpy as np

from posecli.structures import FrameResult, PoseInstance
from posecli.tracking.bytetrack import ByteTracker
from posecli.tracking.stitch import stitch_tracklets


def _ids(results: list[FrameResult]) -> set[int]:
    return {p.track_id for r in results for p in r.instances if p.track_id is not None}


def test_merges_tracklet_broken_by_gap_and_renumbers(kit) -> None:
    # The online tracker keeps no lost tracks (track_buffer=0), so the 8-frame gap breaks person 1.
    walkers = [
        kit.Walker(0, lambda t: (100 + 4 * t, 220.0)),
        kit.Walker(1, lambda t: (300 + 5 * t, 450.0), frames=[*range(20), *range(28, 50)], arms=-0.3),
        kit.Walker(2, lambda t: (900.0, 200 + 2 * t), frames=range(30, 50), arms=0.3),
    ]
    frames = kit.render(walkers, 50, box_noise=1.0, keypoint_noise=1.0, seed=11)
    assignments = kit.run_tracker(ByteTracker(track_buffer=0), frames)
    assert kit.id_switches(assignments) == 1  # the break

    results = kit.results_from(frames, assignments)
    stitched = stitch_tracklets(results)
    after = []  # per frame {gt id: stitched id}, matched back through the box objects
    for people, frame in zip(frames, stitched, strict=True):
        gt_of_box = {id(p.box): g for g, p in people}
        after.append({gt_of_box[id(p.box)]: p.track_id for p in frame.instances})
    assert kit.id_switches(after) == 0
    assert kit.ids_never_reused(after)
    assert _ids(stitched) == {0, 1, 2}  # compact, in order of first appearance
    assert after[0][0] in (0, 1) and after[40][2] == 2
    # Frames, timestamps and instance order are unchanged.
    for old, new in zip(results, stitched, strict=True):
        assert (old.frame_index, old.timestamp) == (new.frame_index, new.timestamp)
        assert all(p.box is q.box for p, q in zip(old.instances, new.instances, strict=True))


def _person(cx: float, cy: float, track_id: int, unit_pose: np.ndarray | None = None) -> PoseInstance:
    """A 60×150 person at ``(cx, cy)``; ``unit_pose`` ``(17, 2)`` joints in box units, or no pose."""
    box = np.array([cx - 30, cy - 75, cx + 30, cy + 75])
    kp = np.zeros((17, 3))
    if unit_pose is not None:
        kp[:, :2] = box[:2] + unit_pose * (box[2:] - box[:2])
        kp[:, 2] = 0.9
    return PoseInstance(keypoints=kp, box=box, score=0.9, track_id=track_id)


def _two_tracklets(second_start: tuple[float, float], gap: int, poses=(None, None)) -> list[FrameResult]:
    """Track 5 walks right 4 px/frame for 10 frames; after ``gap`` empty frames track 9 starts."""
    results = []
    for t in range(10):
        results.append(FrameResult(t, t / 25, (_person(100 + 4 * t, 200, 5, poses[0]),)))
    for t in range(10, 10 + gap):
        results.append(FrameResult(t, t / 25, ()))
    for k, t in enumerate(range(10 + gap, 20 + gap)):
        cx, cy = second_start
        results.append(FrameResult(t, t / 25, (_person(cx + 4 * k, cy, 9, poses[1]),)))
    return results


def test_links_along_the_extrapolated_motion_only() -> None:
    # Predicted centre at frame 16 (gap 6): 100 + 4*16 = 164.
    assert _ids(stitch_tracklets(_two_tracklets((166, 200), gap=6))) == {0}
    # Far from the extrapolated path: kept apart (ids still compacted to 0, 1).
    assert _ids(stitch_tracklets(_two_tracklets((600, 200), gap=6))) == {0, 1}
    # Too long a gap.
    assert _ids(stitch_tracklets(_two_tracklets((100 + 4 * 50, 200), gap=40), max_gap=30)) == {0, 1}


def test_pose_ranks_competing_links_and_can_veto() -> None:
    rng = np.random.default_rng(0)
    one, another = rng.uniform(0, 1, (17, 2)), rng.uniform(0, 1, (17, 2))
    same = _two_tracklets((166, 200), gap=6, poses=(one, one + rng.normal(0, 0.01, (17, 2))))
    different = _two_tracklets((166, 200), gap=6, poses=(one, another))
    assert _ids(stitch_tracklets(same)) == {0}
    # A pose change alone does not block a link (a flip, a fall) unless a veto is asked for.
    assert _ids(stitch_tracklets(different)) == {0}
    assert _ids(stitch_tracklets(same, min_pose_similarity=0.5)) == {0}
    assert _ids(stitch_tracklets(different, min_pose_similarity=0.5)) == {0, 1}

    # Two people start after track 5 ends: 9 with a different pose right on the extrapolated
    # path, 11 with the same pose 20 px off it. The pose decides: 5 continues as 11.
    results = _two_tracklets((164, 200), gap=6, poses=(one, another))
    for k, frame in enumerate(results[16:]):
        person = _person(164 + 20 + 4 * k, 200, 11, one)
        results[16 + k] = FrameResult(frame.frame_index, frame.timestamp, (*frame.instances, person))
    stitched = stitch_tracklets(results)
    first = stitched[0].instances[0].track_id
    later = {p.track_id: p.box[0] for p in stitched[20].instances}
    assert len(later) == 2 and later[first] == max(later.values())  # the same-pose person (to the right)


def test_size_gate() -> None:
    results = _two_tracklets((166, 200), gap=6)
    grown = []
    for frame in results:
        people = []
        for p in frame.instances:
            if p.track_id == 9:  # four times the size: not the same person
                c = (p.box[:2] + p.box[2:]) / 2
                p = PoseInstance(
                    p.keypoints, np.array([c[0] - 120, c[1] - 300, c[0] + 120, c[1] + 300]), 0.9, 9
                )
            people.append(p)
        grown.append(FrameResult(frame.frame_index, frame.timestamp, tuple(people)))
    assert _ids(stitch_tracklets(grown)) == {0, 1}
    assert _ids(stitch_tracklets(grown, max_scale_change=5.0, max_distance=3.0)) == {0}


def test_overlapping_tracklets_never_merge_and_untracked_people_stay() -> None:
    results = []
    for t in range(20):
        people = [_person(100 + 4 * t, 200, 3), _person(104 + 4 * t, 200, 7)]
        people.append(PoseInstance(np.zeros((17, 3)), np.array([0, 0, 10, 10]), 0.9, track_id=None))
        results.append(FrameResult(t, t / 25, tuple(people)))
    stitched = stitch_tracklets(results)
    assert _ids(stitched) == {0, 1}
    assert all(r.instances[2].track_id is None for r in stitched)
    assert stitch_tracklets([]) == []
