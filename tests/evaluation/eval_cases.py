"""Hand-made PoseTrack people for the evaluation tests.

Every GT person gets the head box :data:`HEAD` (diagonal 50 px, head size 0.6 x 50 = 30 px), so a
predicted joint matches iff it lies within 15 px of the GT joint: numbers are easy to derive by hand.
"""

from __future__ import annotations

from collections.abc import Iterable

from posecli.evaluation.synthetic import SynthPerson

HEAD = (0.0, 0.0, 30.0, 40.0)  # head size 30 px -> PCKh@0.5 radius 15 px
SEQ = "000001_mpii_test"


def joints_at(
    origin: tuple[float, float],
    joints: Iterable[int] = range(15),
    score: float = 0.9,
    dx: float = 0.0,
    dy: float = 0.0,
) -> dict[int, tuple[float, float, float]]:
    """Joint j at ``origin + (20 j, 10 j)`` shifted by ``(dx, dy)``; all with ``score``."""
    return {j: (origin[0] + 20.0 * j + dx, origin[1] + 10.0 * j + dy, score) for j in joints}


def gt_person(track_id: int, origin: tuple[float, float], joints: Iterable[int] = range(15)) -> SynthPerson:
    return SynthPerson(track_id, joints_at(origin, joints, score=1.0), HEAD)


def pr_person(
    track_id: int,
    origin: tuple[float, float],
    score: float,
    joints: Iterable[int] = range(15),
    dx: float = 0.0,
    dy: float = 0.0,
) -> SynthPerson:
    return SynthPerson(track_id, joints_at(origin, joints, score=score, dx=dx, dy=dy))


A = (100.0, 100.0)  # person origins far apart (> 15 px everywhere)
B = (700.0, 150.0)
