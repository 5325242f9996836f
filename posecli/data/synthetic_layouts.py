"""Where the synthetic dataset's files go in each PoseTrack layout, and its annotation files.

``write_synthetic_dataset`` (``posecli.data.synthetic``) renders each video and hands its ground truth
to ``VideoAnnotations``, which builds the layout's entries through ``posecli.export.posetrack`` (the one
PoseTrack writer) and writes them where the layout keeps them (see ``posetrack.md`` §11):

- ``posetrack18``: ``annotations/{train,val}/<seq>.json``.
- ``posetrack21``: ``posetrack_data/{train,val}/<seq>.json`` with ``person_id`` and
  ``has_labeled_person``, plus one box-only person (all-zero keypoints) per labelled frame.
- ``posetrack17``: merged COCO-style ``posetrack17_json_files/posetrack_{train,val}.json`` and per-video
  annolist GT ``posetrack17_annotation_dirs/jsons/val/<seq>_relpath_5sec_testsub.json``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import numpy as np

from posecli.data.figures import RenderedVideo, head_box, keypoint_array
from posecli.export._json import posetrack_image_id_base
from posecli.export.posetrack import (
    PERSON_CATEGORY_ID,
    annolist_frame,
    annolist_head,
    annolist_person,
    annolist_point,
    annotation_entry,
    image_entry,
    sequence_document,
    write_posetrack_document,
)
from posecli.keypoints import NUM_KEYPOINTS, SLOT_OF_POSEVAL_ID

Layout = Literal["posetrack17", "posetrack18", "posetrack21"]
LAYOUTS: tuple[str, ...] = ("posetrack17", "posetrack18", "posetrack21")

# PoseTrack17 names its per-video annolist GT files after the sequence plus this suffix
# (e.g. ``000342_mpii_relpath_5sec_testsub.json`` for the frames in ``…/000342_mpii/``).
PT17_GT_SUFFIX = {"train": "_relpath_5sec_trainsub", "val": "_relpath_5sec_testsub"}


def sequence_name(video_number: int, split: str) -> str:
    """``<number:06d>_mpii_<train|test>``: poseval needs ``<digits>_<mpii|bonn|mpiinew>…`` folder
    names; "test" marks validation videos as in PT18."""
    return f"{video_number:06d}_mpii_{'train' if split == 'train' else 'test'}"


def first_frame_number(layout: str) -> int:
    """The number of a video's first frame: PT17 counts from 1, the later layouts from 0."""
    return 1 if layout == "posetrack17" else 0


def image_names(layout: str, split: str, seq: str, index: int) -> tuple[str, str]:
    """(path under the root, name listed in the JSON) of frame ``index``: PT17 lists the old folder."""
    if layout == "posetrack17":
        return f"images_renamed/{seq}/{index:08d}.jpg", f"images/{seq}/{index:08d}.jpg"
    return f"images/{split}/{seq}/{index:06d}.jpg", f"images/{split}/{seq}/{index:06d}.jpg"


def _write(path: Path, document: dict[str, Any]) -> None:
    # Compact separators keep generated datasets small; the bytes are fixed by the seed.
    write_posetrack_document(path, document, compact=True)


class VideoAnnotations:
    """The annotation files of one synthetic dataset, filled video by video.

    ``add_video`` writes a PT18/PT21 video's file at once; PT17's merged split files wait for
    ``finish``. Annotation ids run on across videos and splits, as in the released files.
    """

    def __init__(self, root: Path, layout: str, people: int, size: tuple[int, int], label_every: int):
        self.root, self.layout, self.people, self.label_every = root, layout, people, label_every
        self.width, self.height = size
        self.annotation_id = 0
        self.merged: dict[str, dict[str, list[dict[str, Any]]]] = {}

    def add_video(self, split: str, number: int, seq: str, frames: int, video: RenderedVideo) -> None:
        """Build and write (or, for PT17, keep for ``finish``) the ground truth of one rendered video."""
        merged = self.merged.setdefault(split, {"images": [], "annotations": []})
        first = first_frame_number(self.layout)
        base = posetrack_image_id_base(seq, frames)  # T·1e10 + S·1e4, as PoseTrack numbers images
        images, annotations, annolist = [], [], []
        for t in range(frames):
            index = t + first
            listed_name = image_names(self.layout, split, seq, index)[1]
            image_id = base + index
            labeled = t % self.label_every == 0
            images.append(self._image(image_id, listed_name, number, frames, labeled, video.ignore_region))
            rects = []
            for p in range(self.people if labeled else 0):
                joints, unit = video.joints[t, p], float(video.units[p])
                kp = keypoint_array(joints, self.width, self.height)
                head = head_box(joints, unit)
                annotations.append(
                    self._person(image_id, number, p, kp, video.box(t, p, self.width, self.height), head)
                )
                rects.append(_annolist_person(kp, head, p))
            if self.layout == "posetrack21" and labeled:
                annotations.append(self._box_only_person(image_id, number))
            ignore = [[(round(x, 1), round(y, 1)) for x, y in video.ignore_region]] if labeled else None
            annolist.append(annolist_frame(listed_name, index, labeled, rects, ignore))
        document = sequence_document(images, annotations, released_key_order=True)
        if self.layout == "posetrack18":
            _write(self.root / "annotations" / split / f"{seq}.json", document)
        elif self.layout == "posetrack21":
            _write(self.root / "posetrack_data" / split / f"{seq}.json", document)
        else:
            merged["images"].extend(images)
            merged["annotations"].extend(annotations)
            if split == "val":
                gt = self.root / "posetrack17_annotation_dirs" / "jsons" / "val"
                _write(gt / f"{seq}{PT17_GT_SUFFIX[split]}.json", {"annolist": annolist})

    def finish(self, has_val: bool) -> None:
        """Write PT17's merged per-split files (the val one only when there are val videos)."""
        if self.layout != "posetrack17":
            return
        for split, merged in self.merged.items():
            if split == "val" and not has_val:
                continue
            document = sequence_document(merged["images"], merged["annotations"], released_key_order=True)
            _write(self.root / "posetrack17_json_files" / f"posetrack_{split}.json", document)

    def _image(
        self,
        image_id: int,
        name: str,
        number: int,
        frames: int,
        labeled: bool,
        region: list[tuple[float, float]],
    ) -> dict[str, Any]:
        image = image_entry(
            image_id,
            name,
            f"{number:06d}",
            frames,
            labeled,
            has_no_densepose=True,
            ignore_regions_x=[[round(x, 1) for x, _ in region]] if labeled else [],
            ignore_regions_y=[[round(y, 1) for _, y in region]] if labeled else [],
            width=self.width,
            height=self.height,
        )
        if self.layout == "posetrack21":
            image["has_labeled_person"] = labeled and self.people > 0
        return image

    def _person(
        self, image_id: int, number: int, p: int, kp: np.ndarray, box: np.ndarray, head: list[float]
    ) -> dict[str, Any]:
        """Person ``p``: keypoints ``(17, 3)``, box ``x1, y1, x2, y2`` and head box ``[x, y, w, h]``."""
        xywh = [round(float(box[0]), 1), round(float(box[1]), 1)]
        xywh += [round(float(box[2] - box[0]), 1), round(float(box[3] - box[1]), 1)]
        self.annotation_id += 1
        annotation = annotation_entry(
            self.annotation_id,
            image_id,
            p,
            [float(x) for x in kp.reshape(-1)],
            bbox=xywh,
            bbox_head=head,
            scores=[],
            iscrowd=0,
            num_keypoints=int((kp[:, 2] > 0).sum()),
            area=round(xywh[2] * xywh[3], 1),
        )
        if self.layout == "posetrack21":
            annotation["person_id"] = number * 100 + p
        return annotation

    def _box_only_person(self, image_id: int, number: int) -> dict[str, Any]:
        """A box-only person (PT21 annotates boxes of people without keypoints)."""
        self.annotation_id += 1
        width, height = self.width, self.height
        # Written out in full: ``person_id`` precedes ``keypoints`` here, unlike in the other entries.
        return {
            "id": self.annotation_id,
            "image_id": image_id,
            "category_id": PERSON_CATEGORY_ID,
            "track_id": self.people,
            "person_id": number * 100 + self.people,
            "keypoints": [0.0] * (3 * NUM_KEYPOINTS),
            "bbox": [2.0, round(height * 0.6, 1), round(width * 0.08, 1), round(height * 0.3, 1)],
            "bbox_head": [2.0, round(height * 0.6, 1), round(width * 0.05, 1), round(height * 0.05, 1)],
            "scores": [],
            "iscrowd": 0,
            "num_keypoints": 0,
        }


def _annolist_person(kp: np.ndarray, head: list[float], track: int) -> dict[str, Any]:
    """One PoseTrack 2017 ``annorect``: head-box corners, then the annotated joints by poseval id."""
    hx, hy, hw, hh = head
    points = [
        annolist_point(j, float(kp[s, 0]), float(kp[s, 1]))
        for j, s in sorted(SLOT_OF_POSEVAL_ID.items())
        if kp[s, 2] > 0
    ]
    return {**annolist_head(hx, hy, round(hx + hw, 1), round(hy + hh, 1)), **annolist_person(track, points)}
