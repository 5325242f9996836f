"""Is this set of 33 BlazePose landmarks a person? Rules that reject what the landmark model returns
for clutter, and for a region that straddles two people.

The landmark model always answers with a full skeleton; its pose-presence probability is the first
filter, but presence stays high on person-like clutter (a post, a railing, a shadow) and on crops
holding parts of two people. Three more signals separate those from people:

- **evidence**: a real person shows several body joints the model is sure it sees (visibility
  ≥ 0.5); a ghost's joints are mostly guessed;
- **proportions**: a visible limb segment (upper arm, forearm, thigh, shin) is never much longer than
  the body's scale (the larger of the torso length and the shoulder width); a skeleton whose legs are
  another person's, or stretched onto clutter, breaks this;
- **lying along the floor**: a horizontal torso is legal (people lie down) but it is also the typical
  ghost along a floor, a table or a platform edge, so it must be seen clearly (high visibility of the
  shoulders and hips) and, for a person not followed yet, come from a confident detection. (Measured:
  a cake on a table in CrowdPose 106848 gives a lying skeleton with presence 0.97 and shoulder and
  hip visibility 1.0; only its detector score, 0.64 in the picture and 0.77 in a 1080p pan clip of it,
  is low, and its torso lies 54° from vertical, hence "lying" from 45°.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

BODY_JOINTS = (0, 11, 12, 13, 14, 15, 16, 23, 24, 25, 26, 27, 28)  # nose, then arms, hips, legs
_TORSO = (11, 12, 23, 24)  # shoulders, hips
# limb segments (parent, child): upper arms, forearms, thighs, shins
SEGMENTS = ((11, 13), (13, 15), (12, 14), (14, 16), (23, 25), (25, 27), (24, 26), (26, 28))


@dataclass(frozen=True)
class PlausibilityRules:
    """Thresholds of ``rejection``; defaults measured on the labelled real pictures (bench_accuracy)."""

    seen: float = 0.5  # visibility from which a joint counts as seen
    min_seen_joints: int = 4  # of the 13 body joints (nose, arms, hips, legs)
    max_segment_ratio: float = 2.0  # longest seen limb segment / body scale
    lying_angle_deg: float = 45.0  # torso this far from vertical (degrees) counts as lying
    lying_min_visibility: float = 0.8  # mean visibility of shoulders and hips a lying person needs
    lying_min_detection: float = 0.8  # detector score a lying person needs to be started


def rejection(
    points: np.ndarray, visibility: np.ndarray, rules: PlausibilityRules, detection_score: float | None = None
) -> str | None:
    """Why the landmarks are not a person, or None if they may be one.

    points: ``(33, 2)`` image pixels; visibility: ``(33,)`` in [0, 1] (the model's per-landmark
    visibility, before multiplying by the pose presence); detection_score: the detector's score when
    the landmarks would start a new person, None for a person already followed.
    """
    seen = visibility >= rules.seen
    if int(seen[list(BODY_JOINTS)].sum()) < rules.min_seen_joints:
        return "too few joints seen"
    shoulders, hips = points[[11, 12]].mean(0), points[[23, 24]].mean(0)
    torso = float(np.linalg.norm(shoulders - hips))
    scale = max(torso, float(np.linalg.norm(points[11] - points[12])), 1e-6)
    for a, b in SEGMENTS:
        if seen[a] and seen[b] and np.linalg.norm(points[a] - points[b]) > rules.max_segment_ratio * scale:
            return "limb out of proportion"
    axis = shoulders - hips
    angle = np.degrees(np.arctan2(abs(axis[0]), abs(axis[1]) + 1e-9))  # 0 = upright or upside down
    if angle > rules.lying_angle_deg:
        if float(visibility[list(_TORSO)].mean()) < rules.lying_min_visibility:
            return "lying torso not seen clearly"
        if detection_score is not None and detection_score < rules.lying_min_detection:
            return "lying pose from a weak detection"
    return None
