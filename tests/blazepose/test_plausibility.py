"""Ghost rejection rules for the embedded model's landmarks (``blazepose.plausibility``)."""

from __future__ import annotations

import numpy as np

from posecli.blazepose.plausibility import PlausibilityRules, rejection

RULES = PlausibilityRules()


def _standing(x: float = 500.0, top: float = 100.0, height: float = 400.0) -> tuple[np.ndarray, np.ndarray]:
    """An upright person: ``(33, 2)`` points and ``(33,)`` visibilities, every joint seen."""
    u = height / 8
    pts = np.zeros((33, 2))
    pts[:, 0], pts[:, 1] = x, top + u  # face landmarks at the head
    for left, right, y, half in ((11, 12, 1.5, 0.8), (13, 14, 2.8, 0.9), (15, 16, 4.0, 0.9),
                                 (23, 24, 4.2, 0.5), (25, 26, 6.0, 0.5), (27, 28, 7.8, 0.5)):  # fmt: skip
        pts[left] = (x + half * u, top + y * u)
        pts[right] = (x - half * u, top + y * u)
    pts[0] = (x, top + 0.6 * u)
    return pts, np.ones(33)


def _lying_on_the_floor(degrees: float = 90.0) -> tuple[np.ndarray, np.ndarray]:
    """The standing person turned by ``degrees`` to lie along a floor line (or a table edge)."""
    pts, vis = _standing()
    centre = pts.mean(0)
    a = np.radians(degrees)
    turned = (pts - centre) @ np.array([[np.cos(a), np.sin(a)], [-np.sin(a), np.cos(a)]]) + centre
    return turned, vis


def test_an_upright_person_passes() -> None:
    pts, vis = _standing()
    assert rejection(pts, vis, RULES) is None
    assert rejection(pts, vis, RULES, detection_score=0.55) is None  # upright: a weak detection may start it


def test_floor_level_skeleton_from_a_weak_detection_is_rejected() -> None:
    pts, vis = _lying_on_the_floor()
    assert rejection(pts, vis, RULES, detection_score=0.64) == "lying pose from a weak detection"
    # a person who really lies down, seen clearly and detected confidently, is kept (and stays followed)
    assert rejection(pts, vis, RULES, detection_score=0.95) is None
    assert rejection(pts, vis, RULES) is None
    # the skeleton a cake on a table gave (CrowdPose 106848): turned 126°, detector score 0.77
    cake, cake_vis = _lying_on_the_floor(126.0)
    assert rejection(cake, cake_vis, RULES, detection_score=0.77) == "lying pose from a weak detection"
    # lying with the torso barely seen is a ghost even when already followed
    vis[[11, 12, 23, 24]] = 0.6
    assert rejection(pts, vis, RULES) == "lying torso not seen clearly"


def test_clutter_with_too_few_seen_joints_is_rejected() -> None:
    pts, vis = _standing()
    vis[:] = 0.2
    vis[[11, 12, 0]] = 0.9  # three joints seen, the rest guessed
    assert rejection(pts, vis, RULES) == "too few joints seen"


def test_a_person_made_of_two_peoples_parts_is_rejected() -> None:
    # upper body here, legs on someone standing 600 px to the right: the thighs span the gap
    pts, vis = _standing()
    pts[[25, 26, 27, 28], 0] += 600.0
    assert rejection(pts, vis, RULES) == "limb out of proportion"
