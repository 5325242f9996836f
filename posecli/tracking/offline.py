"""Re-running a tracker over saved frames (``posecli track``), without the detector or pose networks."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from posecli.structures import FrameResult
from posecli.tracking.base import Tracker


def retrack(results: Iterable[FrameResult], tracker: Tracker) -> list[FrameResult]:
    """Track saved frames again from scratch: old ``track_id``s are ignored and replaced.

    results: one video's frames in order. tracker: any ``Tracker``; it is ``reset`` first. People the
    tracker does not report (low scores, tentative tracks) are left out of the returned frames, as
    in the live pipeline. Pass the result to ``stitch.stitch_tracklets`` for the offline merge.
    """
    tracker.reset()
    out = []
    for frame in results:
        people = [p.with_track_id(None) for p in frame.instances]
        out.append(replace(frame, instances=tuple(tracker.update(people))))
    return out
