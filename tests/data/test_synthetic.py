"""The synthetic generator: PoseTrack18 conventions, determinism, and the synthetic video with tracks."""

from __future__ import annotations

import json
from pathlib import Path

import av
import cv2
import numpy as np
import pytest

from posecli.data.synthetic import EFFECTS_FILE, make_synthetic_video, write_synthetic_dataset
from posecli.errors import PoseCliError
from posecli.keypoints import POSETRACK_KEYPOINTS


def _tree(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def test_same_seed_gives_identical_files_and_other_seed_differs(tmp_path: Path) -> None:
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        write_synthetic_dataset(tmp_path / name, videos=1, frames=4, people=2, seed=seed, size=(128, 96))
    a, b, c = (_tree(tmp_path / n) for n in "abc")
    assert a == b
    json_a = {k: v for k, v in a.items() if k.endswith(".json")}
    json_c = {k: v for k, v in c.items() if k.endswith(".json")}
    assert json_a.keys() == json_c.keys() and json_a != json_c


def test_posetrack18_layout_and_fields(synthetic_roots: dict[str, Path]) -> None:
    root = synthetic_roots["posetrack18"]
    files = sorted((root / "annotations" / "train").glob("*.json"))
    assert [f.stem for f in files] == ["000001_mpii_train", "000002_mpii_train"]
    doc = json.loads(files[0].read_text())
    assert doc["categories"][0]["keypoints"] == list(POSETRACK_KEYPOINTS)
    images = doc["images"]
    assert [im["file_name"] for im in images[:2]] == [
        "images/train/000001_mpii_train/000000.jpg",
        "images/train/000001_mpii_train/000001.jpg",
    ]
    # PoseTrack image ids: T·1e10 + S·1e4 + F with T = 1 (mpii), S = the video number, F = the frame
    assert [im["id"] for im in images[:2]] == [10_000_010_000, 10_000_010_001]
    assert all(im["nframes"] == 6 and im["vid_id"] == "000001" for im in images)
    labeled = [im["is_labeled"] for im in images]
    assert labeled == [True, False, True, False, True, False]
    assert all(len(im["ignore_regions_x"]) == (1 if im["is_labeled"] else 0) for im in images)
    for im in images:
        assert (root / im["file_name"]).is_file()
    by_image = {}
    for ann in doc["annotations"]:
        by_image.setdefault(ann["image_id"], []).append(ann)
        assert len(ann["keypoints"]) == 51 and len(ann["bbox_head"]) == 4 and ann["bbox_head"][2] > 0
        kp = np.asarray(ann["keypoints"]).reshape(17, 3)
        assert np.all(kp[3:5] == 0)  # ears are never annotated
        assert set(np.unique(kp[:, 2])) <= {0.0, 1.0}
    # unlabelled frames carry no annotations, labelled ones one per person
    assert sorted(by_image) == [im["id"] for im in images if im["is_labeled"]]
    assert all(len(v) == 2 for v in by_image.values())
    assert {a["track_id"] for a in doc["annotations"]} == {0, 1}


def test_val_videos_and_pt17_pt21_extras(synthetic_roots: dict[str, Path]) -> None:
    assert [p.stem for p in (synthetic_roots["posetrack18"] / "annotations" / "val").glob("*.json")] == [
        "100001_mpii_test"
    ]
    pt21 = json.loads(
        next((synthetic_roots["posetrack21"] / "posetrack_data" / "train").glob("*.json")).read_text()
    )
    assert all("has_labeled_person" in im for im in pt21["images"])
    box_only = [a for a in pt21["annotations"] if not any(a["keypoints"])]
    assert box_only and all("person_id" in a for a in pt21["annotations"])
    pt17 = synthetic_roots["posetrack17"]
    merged = json.loads((pt17 / "posetrack17_json_files" / "posetrack_train.json").read_text())
    assert merged["images"][0]["file_name"] == "images/000001_mpii_train/00000001.jpg"
    assert (pt17 / "images_renamed" / "000001_mpii_train" / "00000001.jpg").is_file()
    # annolist GT named as the real PT17 files: <seq>_relpath_5sec_testsub.json, frames in images/<seq>/
    gt_files = sorted((pt17 / "posetrack17_annotation_dirs" / "jsons" / "val").glob("*.json"))
    assert [p.name for p in gt_files] == ["100001_mpii_test_relpath_5sec_testsub.json"]
    annolist = json.loads(gt_files[0].read_text())
    assert len(annolist["annolist"]) == 6 and "x1" in annolist["annolist"][0]["annorect"][0]
    assert annolist["annolist"][0]["image"][0]["name"] == "images/100001_mpii_test/00000001.jpg"


def test_bad_arguments_are_one_line_errors(tmp_path: Path) -> None:
    with pytest.raises(PoseCliError, match="size"):
        write_synthetic_dataset(tmp_path, size=(10, 10))
    with pytest.raises(PoseCliError, match="layout"):
        write_synthetic_dataset(tmp_path, layout="posetrack99")  # type: ignore[arg-type]


def test_synthetic_video_has_crossing_and_occluded_tracks(tmp_path: Path) -> None:
    path = tmp_path / "clip.mp4"
    tracks = make_synthetic_video(path, frames=24, people=2, size=(320, 240), seed=1)
    assert [t.track_id for t in tracks] == [0, 1]
    for track in tracks:
        assert (
            track.boxes.shape == (24, 4)
            and track.keypoints.shape == (24, 17, 3)
            and track.visible.shape == (24,)
        )
    centre0 = (tracks[0].boxes[:, 0] + tracks[0].boxes[:, 2]) / 2
    centre1 = (tracks[1].boxes[:, 0] + tracks[1].boxes[:, 2]) / 2
    # they start on opposite sides and swap sides: the paths cross
    assert centre0[0] < centre1[0] and centre0[-1] > centre1[-1]
    hidden = np.flatnonzero(~tracks[0].visible)
    assert 2 <= len(hidden) < 24 and np.all(np.diff(hidden) == 1) and tracks[1].visible.all()
    with av.open(str(path)) as container:
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    assert len(decoded) == 24 and decoded[0].shape == (240, 320, 3)
    # the occluder is a flat grey block over person 0's box on a hidden frame
    x1, y1, x2, y2 = tracks[0].boxes[hidden[0]].astype(int)
    block = decoded[hidden[0]][y1 + 4 : y2 - 4, x1 + 4 : x2 - 4].astype(float)
    assert abs(block.mean() - 128) < 12 and block.std() < 10


def test_blurred_and_occluded_frames_are_reported_and_measurable(tmp_path: Path) -> None:
    """The effects file names the blurred frames and the occluder blocks, and the pixels agree: a
    blurred person region has a much lower Laplacian variance than the same person's sharp frames,
    and an occluder block is flat grey."""
    root = tmp_path / "d"
    write_synthetic_dataset(
        root, videos=2, frames=12, people=2, seed=0, size=(160, 128), val_videos=0, label_every=1
    )
    effects = json.loads((root / EFFECTS_FILE).read_text())["videos"]
    assert sorted(effects) == ["000001_mpii_train", "000002_mpii_train"]
    assert sum(len(e["blurred_frames"]) for e in effects.values()) >= 2
    assert sum(len(e["occluders"]) for e in effects.values()) >= 2
    for seq, effect in effects.items():
        doc = json.loads((root / "annotations" / "train" / f"{seq}.json").read_text())
        images = {int(Path(im["file_name"]).stem): im for im in doc["images"]}
        grey = {n: cv2.imread(str(root / im["file_name"]), cv2.IMREAD_GRAYSCALE) for n, im in images.items()}
        blurred = set(effect["blurred_frames"])
        assert blurred < set(images) and len(blurred) < len(images)
        for track in (0, 1):
            sharpness = {}
            for ann in doc["annotations"]:
                if ann["track_id"] != track:
                    continue
                number = int(ann["image_id"]) % 10_000
                x, y, w, h = (int(v) for v in ann["bbox"])
                sharpness[number] = cv2.Laplacian(grey[number][y : y + h, x : x + w], cv2.CV_64F).var()
            sharp = np.median([v for n, v in sharpness.items() if n not in blurred])
            assert all(sharpness[n] < 0.5 * sharp for n in blurred), (seq, track, sharpness, blurred)
        for block in effect["occluders"]:
            x1, y1, x2, y2 = block["box"]
            assert 0 <= x1 < x2 and 0 <= y1 < y2 and block["track_id"] in (0, 1)
            if block["frame"] in blurred:
                continue  # blurred after the block was drawn: its edges are smeared
            image = cv2.imread(str(root / images[block["frame"]]["file_name"]))
            inside = image[y1 + 2 : y2 - 1, x1 + 2 : x2 - 1]
            assert abs(inside.mean() - 128) < 6 and inside.std() < 8, block
