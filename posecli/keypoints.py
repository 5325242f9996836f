"""Joint names, flip pairs and skeleton edges of the PoseTrack and COCO layouts.

Data loading, evaluation, export and drawing all read these tables from here.

PoseTrack uses COCO's 17-slot layout with the two eye slots reused for ``head_bottom`` (slot 1)
and ``head_top`` (slot 2); ears (slots 3, 4) are never annotated or evaluated. poseval scores
15 joints with its own ids (see ``POSEVAL_ID_OF_SLOT``).
"""

from __future__ import annotations

POSETRACK_KEYPOINTS: tuple[str, ...] = (
    "nose", "head_bottom", "head_top", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip

COCO_KEYPOINTS: tuple[str, ...] = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear",
    "left_shoulder", "right_shoulder", "left_elbow", "right_elbow", "left_wrist", "right_wrist",
    "left_hip", "right_hip", "left_knee", "right_knee", "left_ankle", "right_ankle",
)  # fmt: skip

NUM_KEYPOINTS = 17

# Left/right slot pairs swapped by a horizontal flip (identical for both layouts).
FLIP_PAIRS: tuple[tuple[int, int], ...] = ((3, 4), (5, 6), (7, 8), (9, 10), (11, 12), (13, 14), (15, 16))

# Skeleton edges between slots, 0-indexed, for drawing.
POSETRACK_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
    (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 5), (1, 6),
)  # fmt: skip
COCO_SKELETON: tuple[tuple[int, int], ...] = (
    (15, 13), (13, 11), (16, 14), (14, 12), (11, 12), (5, 11), (6, 12), (5, 6),
    (5, 7), (6, 8), (7, 9), (8, 10), (1, 2), (0, 1), (0, 2), (1, 3), (2, 4), (3, 5), (4, 6),
)  # fmt: skip

# The PoseTrack 2018 `categories[0].skeleton` field: 1-indexed slot pairs as in the released GT files.
POSETRACK_CATEGORY_SKELETON: tuple[tuple[int, int], ...] = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8),
    (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)  # fmt: skip

# poseval's 15 joint ids (also the PoseTrack 2017 `point.id`) and their names.
POSEVAL_JOINT_NAMES: tuple[str, ...] = (
    "right_ankle", "right_knee", "right_hip", "left_hip", "left_knee", "left_ankle",
    "right_wrist", "right_elbow", "right_shoulder", "left_shoulder", "left_elbow", "left_wrist",
    "head_bottom", "nose", "head_top",
)  # fmt: skip

# 17-slot index -> poseval id; ears (3, 4) have none.
POSEVAL_ID_OF_SLOT: dict[int, int] = {
    0: 13, 1: 12, 2: 14, 5: 9, 6: 8, 7: 10, 8: 7, 9: 11, 10: 6,
    11: 3, 12: 2, 13: 4, 14: 1, 15: 5, 16: 0,
}  # fmt: skip
SLOT_OF_POSEVAL_ID: dict[int, int] = {j: s for s, j in POSEVAL_ID_OF_SLOT.items()}

# poseval's printed groups, as poseval ids.
POSEVAL_GROUPS: dict[str, tuple[int, ...]] = {
    "Head": (14, 12, 13),
    "Shoulder": (8, 9),
    "Elbow": (7, 10),
    "Wrist": (6, 11),
    "Hip": (2, 3),
    "Knee": (1, 4),
    "Ankle": (0, 5),
}
