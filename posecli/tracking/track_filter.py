"""Whole-track evidence after stitching: drop tracks too short or too weak to be a person.

A ghost (a pose fitted onto clutter, or one frame whose head is on one person and legs on another)
rarely survives many frames and rarely scores well over its whole life, while a real person, once
stitched, does both. Dropping is done on final tracks, so a person broken into short pieces and
rejoined by ``stitch.stitch_tracklets`` is judged on the whole track.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import replace

from posecli.structures import FrameResult


def drop_weak_tracks(
    results: Sequence[FrameResult], *, min_length: int = 1, min_mean_score: float = 0.0
) -> list[FrameResult]:
    """Remove every track seen in fewer than ``min_length`` frames or whose mean person score is below
    ``min_mean_score``; the kept ids are renumbered ``0, 1, …`` by first appearance.

    ``min_length`` is capped at the number of frames, so a clip shorter than it keeps its people.
    Instances without a ``track_id`` are kept unchanged. Returns new ``FrameResult``s, same frames.
    """
    if min_length < 1:
        raise ValueError(f"min_length must be at least 1, got {min_length}")
    needed = min(min_length, max(len(results), 1))
    frames: dict[int, int] = defaultdict(int)
    scores: dict[int, float] = defaultdict(float)
    for result in results:
        for person in result.instances:
            if person.track_id is not None:
                frames[person.track_id] += 1
                scores[person.track_id] += person.score
    kept = {tid for tid, n in frames.items() if n >= needed and scores[tid] / n >= min_mean_score}
    new_ids: dict[int, int] = {}
    out = []
    for result in results:
        people = []
        for person in result.instances:
            if person.track_id is None:
                people.append(person)
            elif person.track_id in kept:
                people.append(person.with_track_id(new_ids.setdefault(person.track_id, len(new_ids))))
        out.append(replace(result, instances=tuple(people)))
    return out
