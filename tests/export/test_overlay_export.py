"""Tests for posecli/export/overlay.py: colours per track, limbs on the right joints, overlay video."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from posecli.export.overlay import PALETTE, OverlayVideo, draw_frame, track_colour
from posecli.keypoints import POSETRACK_KEYPOINTS
from posecli.structures import FrameResult, PoseInstance
from posecli.video import VideoReader

SLOT = POSETRACK_KEYPOINTS.index


def standing_person(track_id: int | None, dx: float = 0.0) -> PoseInstance:
    """A simple upright skeleton in a 320x240 frame; the left wrist is uncertain (score 0.1)."""
    points = {
        "nose": (80, 40),
        "head_bottom": (80, 55),
        "head_top": (80, 25),
        "left_shoulder": (100, 65),
        "right_shoulder": (60, 65),
        "left_elbow": (110, 100),
        "right_elbow": (50, 100),
        "left_wrist": (115, 135),
        "right_wrist": (45, 135),
        "left_hip": (95, 140),
        "right_hip": (65, 140),
        "left_knee": (97, 180),
        "right_knee": (63, 180),
        "left_ankle": (99, 220),
        "right_ankle": (61, 220),
    }
    keypoints = np.zeros((17, 3))
    for name, (x, y) in points.items():
        keypoints[SLOT(name)] = (x + dx, y, 0.9)
    keypoints[SLOT("left_wrist"), 2] = 0.1
    return PoseInstance(
        keypoints=keypoints, box=np.array([40 + dx, 20, 120 + dx, 230]), score=0.9, track_id=track_id
    )


def colour_mask(image: np.ndarray, colour: tuple[int, int, int], tolerance: int = 40) -> np.ndarray:
    return (np.abs(image.astype(int) - np.array(colour)) <= tolerance).all(axis=-1)


def test_limbs_are_drawn_in_the_track_colour(tmp_path: Path) -> None:
    image = np.full((240, 320, 3), 30, np.uint8)
    result = FrameResult(0, 0.0, (standing_person(track_id=3), standing_person(track_id=4, dx=150)))
    drawn = draw_frame(image, result)
    assert drawn is not image and (image == 30).all()  # the input frame is left untouched
    png = tmp_path / "overlay.png"
    cv2.imwrite(str(png), cv2.cvtColor(drawn, cv2.COLOR_RGB2BGR))
    saved = cv2.cvtColor(cv2.imread(str(png)), cv2.COLOR_BGR2RGB)
    colour = track_colour(3)
    assert colour == PALETTE[3] and track_colour(4) != colour
    mask = colour_mask(saved, colour)

    def along(a: str, b: str, person_dx: float = 0.0) -> float:
        """Fraction of points on the segment a-b (away from the joints) that carry ``colour``."""
        pa, pb = (
            np.array(standing_person(0).keypoints[SLOT(a), :2]),
            np.array(standing_person(0).keypoints[SLOT(b), :2]),
        )
        hits = []
        for t in np.linspace(0.25, 0.75, 11):
            x, y = (pa + t * (pb - pa)).round().astype(int)
            hits.append(mask[y - 1 : y + 2, x + int(person_dx) - 1 : x + int(person_dx) + 2].any())
        return float(np.mean(hits))

    assert along("left_shoulder", "left_elbow") == 1.0
    assert along("right_hip", "right_knee") == 1.0
    assert along("left_knee", "left_ankle") == 1.0
    assert along("left_elbow", "left_wrist") == 0.0  # the wrist is below the score threshold
    assert along("left_shoulder", "left_elbow", person_dx=150) == 0.0  # the other person has another colour
    assert colour_mask(saved, track_colour(4))[90:110, 255:265].any()
    # The id label sits above the box, in a filled box of the track colour.
    assert mask[:20, 40:80].sum() > 100


def test_lower_threshold_draws_the_uncertain_limb() -> None:
    image = np.zeros((240, 320, 3), np.uint8)
    drawn = draw_frame(image, FrameResult(0, 0.0, (standing_person(track_id=0),)), min_score=0.05)
    x, y = (110 + 115) // 2, (100 + 135) // 2
    assert colour_mask(drawn, track_colour(0))[y - 1 : y + 2, x - 1 : x + 2].any()


def test_untracked_people_are_grey_and_colours_are_stable() -> None:
    assert track_colour(None) == (160, 160, 160)
    assert track_colour(7) == track_colour(7 + len(PALETTE))
    drawn = draw_frame(np.zeros((240, 320, 3), np.uint8), FrameResult(0, 0.0, (standing_person(None),)))
    assert colour_mask(drawn, (160, 160, 160), tolerance=10).sum() > 200


def test_overlay_video(tmp_path: Path, video_info) -> None:
    path = tmp_path / "clip.overlay.mp4"
    frames = [np.full((240, 320, 3), 30, np.uint8) for _ in range(4)]
    with OverlayVideo(path, video_info) as video:
        for i, image in enumerate(frames):
            video.write(image, FrameResult(i, i / 25, (standing_person(track_id=3, dx=10 * i),)))
    decoded = [f.image for f in VideoReader(path, backend="pyav")]
    assert len(decoded) == 4 and decoded[0].shape == (240, 320, 3)
    assert colour_mask(decoded[2], track_colour(3), tolerance=60)[75:95, 120:130].any()
