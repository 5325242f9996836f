"""Label Studio exports: the latest kept annotation wins, unannotated tasks stay unlabelled, points the
annotator added join the nearest person that lacks that joint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from posecli.annotation.label_studio import read_label_studio, results_of
from posecli.annotation.poses import OCCLUDED, VISIBLE, person


def task(frame: int, annotations: list[Any], predictions: list[Any]) -> dict[str, Any]:
    return {"data": {"image": f"/data/local-files/?d=frames/frame_{frame:06d}.jpg"}, "annotations": annotations,
            "predictions": predictions}  # fmt: skip


def two_people() -> list[dict[str, Any]]:
    xy = np.array([[10.0 + k, 20.0] for k in range(17)])
    visibility = np.full(17, VISIBLE)
    visibility[5] = 0  # track 1 lacks its left shoulder
    a = person(0, 1, xy, visibility)
    b = person(0, 2, xy + (50, 0), np.full(17, VISIBLE))
    return results_of([a, b], 100, 80)


def test_label_studio_export_reading(tmp_path: Path) -> None:
    results = two_people()
    added = {
        "id": "Zq3_xk", "type": "keypointlabels", "from_name": "kp", "to_name": "image", "original_width": 100,
        "original_height": 80, "value": {"x": 15.0, "y": 25.0, "width": 0.6, "keypointlabels": ["left_shoulder"]},
    }  # fmt: skip
    occluded = {"id": "Zq3_xk", "type": "choices", "from_name": "visibility", "to_name": "image",
                "value": {"x": 15.0, "y": 25.0, "width": 0.6, "choices": ["occluded"]}}  # fmt: skip
    tasks = [
        task(
            3, [{"result": [*results, added, occluded]}, {"result": results[:2], "was_cancelled": True}], [11]
        ),
        task(4, [], [12]),  # Label Studio's export: predictions by id, nobody annotated it
    ]
    path = tmp_path / "export.json"
    path.write_text(json.dumps(tasks))
    clip = read_label_studio(path)
    assert clip.labeled == (3,)  # frame 4 was never annotated: unlabelled, not the proposal
    assert (clip.width, clip.height) == (100, 80)
    people = {p.track_id: p for p in clip.people}
    assert sorted(people) == [1, 2]
    # the added shoulder went to track 1 (nearest that lacks it), occluded by its per-region choice
    assert people[1].visibility[5] == OCCLUDED
    np.testing.assert_allclose(people[1].xy[5], (15.0, 20.0))
    np.testing.assert_allclose(people[2].xy[0], (60.0, 20.0))
