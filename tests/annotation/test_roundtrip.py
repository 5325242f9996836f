"""Export → import returns the same people: keypoints (to 1/100 pixel), track ids, visibility and
frames, for every format; with CVAT keyframes every K frames the in-between frames are CVAT's
interpolation of the keyframes."""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import pytest

from posecli.annotation.exchange import EXPORT_FORMATS, export_annotations, read_annotations
from posecli.annotation.poses import OCCLUDED, OUTSIDE, VISIBLE, Clip, clip_from_predictions
from posecli.export.predictions import read_predictions

from .conftest import FRAMES, HEIGHT, WIDTH


def expected(prediction: Path) -> Clip:
    return clip_from_predictions(
        read_predictions(prediction), kpt_thr=0.3, width=WIDTH, height=HEIGHT, num_frames=FRAMES
    )


def assert_same_people(got: Clip, want: Clip) -> None:
    assert [(p.frame, p.track_id) for p in got.people] == [(p.frame, p.track_id) for p in want.people]
    for a, b in zip(got.people, want.people):
        np.testing.assert_array_equal(
            a.visibility, b.visibility, err_msg=f"frame {a.frame} track {a.track_id}"
        )
        np.testing.assert_allclose(a.xy, b.xy, atol=0.0051, err_msg=f"frame {a.frame} track {a.track_id}")


def export(prediction: Path, h264_clip: Path, tmp_path: Path, to: str, **options: object) -> Path:
    out = tmp_path / f"out.{to}.{'zip' if to.startswith('cvat') else 'json'}"
    frames = tmp_path / "frames" if to == "label-studio" else None
    export_annotations(prediction, to, video=h264_clip, output=out, frames_dir=frames, **options)  # type: ignore[arg-type]
    return out


def test_the_prediction_has_every_visibility(prediction: Path) -> None:
    """The fixture exercises outside (ears), occluded (a low wrist score) and a track with a gap."""
    clip = expected(prediction)
    codes = np.concatenate([p.visibility for p in clip.people])
    assert {OUTSIDE, OCCLUDED, VISIBLE} <= set(codes.tolist())
    assert [p.frame for p in clip.tracks()[7]] == [0, 1, 4, 5]


@pytest.mark.parametrize("to", EXPORT_FORMATS)
def test_round_trip_keeps_people(to: str, prediction: Path, h264_clip: Path, tmp_path: Path) -> None:
    out = export(prediction, h264_clip, tmp_path, to)
    got = read_annotations(out, to)
    want = expected(prediction)
    assert_same_people(got, want)
    assert set(got.labeled) == set(range(FRAMES))
    assert (got.width, got.height) == (WIDTH, HEIGHT)


@pytest.mark.parametrize("every", [2, 3, 5])
def test_cvat_keyframes_every_k_interpolate_back(
    every: int, prediction: Path, h264_clip: Path, tmp_path: Path
) -> None:
    out = export(prediction, h264_clip, tmp_path, "cvat-video", keyframes_every=every)
    with zipfile.ZipFile(out) as archive:
        xml = archive.read("annotations.xml").decode()
    # track 3: frames 0 and 5, the wrist's change on 2, every K-th; track 7: frames 0, 1, 4, 5 and the
    # outside keyframe on 2 that ends its first run
    assert xml.count("<skeleton ") == {2: 4 + 5, 3: 4 + 5, 5: 3 + 5}[every]
    assert_same_people(read_annotations(out, "cvat-video"), expected(prediction))


def test_keyframes_every_one_writes_every_frame(prediction: Path, h264_clip: Path, tmp_path: Path) -> None:
    out = export(prediction, h264_clip, tmp_path, "cvat-video")
    with zipfile.ZipFile(out) as archive:
        assert archive.namelist() == ["annotations.xml"]
        xml = archive.read("annotations.xml").decode()
    # 6 frames of track 3, 4 of track 7, plus the outside keyframe that ends track 7's first run
    assert xml.count("<skeleton ") == 11
    assert 'keyframe="0"' not in xml
