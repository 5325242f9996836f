"""Controlled hard key frames in the synthetic generator: share, clean neighbours, flags that agree
with the pixels, determinism, and option checks (library and ``posecli data synth``)."""

from __future__ import annotations

import itertools
import json
from pathlib import Path

import cv2
import numpy as np
import pytest
from typer.testing import CliRunner

from posecli.cli import app
from posecli.data.figures import HARD_KINDS, HardFrames, render_video
from posecli.data.synthetic import EFFECTS_FILE, write_synthetic_dataset
from posecli.errors import PoseCliError

# limb joints drawn in saturated colours (the shoulder and hip lines are grey, like an occluder)
_COLOURED = (7, 8, 9, 10, 13, 14, 15, 16)


def _is_grey(pixel: np.ndarray) -> bool:
    return bool(np.all(np.abs(pixel.astype(int) - 128) <= 3))


def _render(share: float, kinds: tuple[str, ...] = HARD_KINDS, seed: int = 0, frames: int = 20):
    return render_video(np.random.default_rng(seed), frames, 2, 160, 128, hard=HardFrames(share, kinds))


@pytest.mark.parametrize(
    ("share", "frames"), [(0.0, 20), (0.2, 20), (0.25, 12), (0.5, 20), (0.8, 10), (1.0, 7)]
)
def test_share_is_exact_and_hard_frames_have_clean_neighbours(share: float, frames: int) -> None:
    video = _render(share, frames=frames)
    hard = [h.frame for h in video.hard]
    assert len(hard) == round(share * frames) and hard == sorted(set(hard))
    if share <= 0.5:
        assert all(b - a >= 2 for a, b in itertools.pairwise(hard)), hard


def test_flags_agree_with_the_pixels() -> None:
    """Hidden joints sit under flat grey, the same limbs on clean frames do not; blurred and defocused
    frames are much less sharp than clean ones; nothing but the planned frames carries an effect."""
    video = _render(0.3, seed=2, frames=40)
    by_frame = {h.frame: h for h in video.hard}
    assert {h.kind for h in video.hard} == set(HARD_KINDS)
    sharpness = [cv2.Laplacian(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), cv2.CV_64F).var() for f in video.frames]
    clean = [t for t in range(40) if t not in by_frame]
    sharp = float(np.median([sharpness[t] for t in clean]))
    assert min(sharpness[t] for t in clean) > 0.6 * sharp  # clean frames carry no blur
    assert {t for t, _, _ in video.occluders} == {
        h.frame for h in video.hard if h.kind in ("joints", "person")
    }
    for record in video.hard:
        t = record.frame
        if record.kind in ("blur", "defocus"):
            assert record.people == (0, 1) and sharpness[t] < 0.35 * sharp, (record, sharpness[t], sharp)
            assert bool(video.blurred[t]) == (record.kind == "blur")
            continue
        assert len(record.people) == len(record.hidden_joints) >= 1 and all(record.hidden_joints)
        for person, slots in zip(record.people, record.hidden_joints, strict=True):
            for slot in set(slots) & set(_COLOURED):
                x, y = np.round(video.joints[t, person, slot]).astype(int)
                if 0 <= x < 160 and 0 <= y < 128:
                    assert _is_grey(video.frames[t][y, x]), (record, slot)
        most = max(record.hidden_joints, key=len)  # the occluded person's (others may be partly covered)
        if record.kind == "person":
            assert not video.visible[t].all() and len(most) >= 12
        else:
            assert video.visible[t].all() and 4 <= len(set(most) & set(_COLOURED)) <= 6
    # on a clean frame the coloured limb joints are not grey (so the check above can fail)
    for t in clean[:5]:
        for person in (0, 1):
            x, y = np.round(video.joints[t, person, 15]).astype(int)
            if 0 <= x < 160 and 0 <= y < 128:
                assert not _is_grey(video.frames[t][y, x])


def test_kinds_are_respected() -> None:
    video = _render(0.5, kinds=("defocus",), frames=20)
    assert (
        [h.kind for h in video.hard] == ["defocus"] * 10 and not video.occluders and not video.blurred.any()
    )
    video = _render(0.5, kinds=("person",), frames=20)
    assert all(h.kind == "person" for h in video.hard) and len(video.occluders) == 10


def test_dataset_effects_file_same_seed_same_data(tmp_path: Path) -> None:
    for name, seed in (("a", 5), ("b", 5), ("c", 6)):
        write_synthetic_dataset(
            tmp_path / name,
            videos=1,
            val_videos=1,
            frames=10,
            people=2,
            seed=seed,
            size=(128, 96),
            label_every=1,
            hard_share=0.3,
            hard_kinds=("blur", "person"),
        )
    trees = [
        {
            str(p.relative_to(tmp_path / n)): p.read_bytes()
            for p in sorted((tmp_path / n).rglob("*"))
            if p.is_file()
        }
        for n in "abc"
    ]
    assert trees[0] == trees[1] and trees[0] != trees[2]
    effects = json.loads((tmp_path / "a" / EFFECTS_FILE).read_text())
    assert effects["hard_share"] == 0.3 and effects["hard_kinds"] == ["blur", "person"]
    for seq, video in effects["videos"].items():
        hard = video["hard"]
        assert len(hard) == 3 and all(h["kind"] in ("blur", "person") for h in hard)
        for h in hard:
            assert len(h["track_ids"]) == len(h["hidden_joints"]) and set(h["track_ids"]) <= {0, 1}
            assert (h["frame"] in video["blurred_frames"]) == (h["kind"] == "blur")
        # frame numbers are the image names' (PT18 counts from 0)
        split = video["split"]
        assert all(
            (tmp_path / "a" / "images" / split / seq / f"{h['frame']:06d}.jpg").is_file() for h in hard
        )


def test_legacy_effects_have_no_hard_records(tmp_path: Path) -> None:
    write_synthetic_dataset(tmp_path / "d", videos=1, val_videos=0, frames=6, size=(128, 96))
    effects = json.loads((tmp_path / "d" / EFFECTS_FILE).read_text())
    assert "hard_share" not in effects and all("hard" not in v for v in effects["videos"].values())


@pytest.mark.parametrize(
    ("share", "kinds", "message"),
    [
        (1.5, HARD_KINDS, "share 1.5 is not between 0 and 1"),
        (float("nan"), HARD_KINDS, "share nan is not between 0 and 1"),
        (0.2, ("blur", "fog"), "kind 'fog' is not one of"),
        (0.2, (), "at least one"),
        (0.2, ("blur", "blur"), "at most once"),
    ],
)
def test_bad_hard_options_are_refused(
    tmp_path: Path, share: float, kinds: tuple[str, ...], message: str
) -> None:
    with pytest.raises(PoseCliError, match=message):
        write_synthetic_dataset(tmp_path / "d", hard_share=share, hard_kinds=kinds)
    assert not (tmp_path / "d").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--hard-share", "-0.1"], "--hard-share: share -0.1 is not between 0 and 1"),
        (["--hard-share", "0.2", "--hard-kinds", "blur,fog"], "--hard-kinds: kind 'fog' is not one of"),
    ],
)
def test_cli_bad_hard_options_are_one_line(tmp_path: Path, args: list[str], message: str) -> None:
    result = CliRunner().invoke(app, ["data", "synth", "-o", str(tmp_path / "x"), *args, "-q"])
    assert result.exit_code == 1 and message in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1 and list(tmp_path.iterdir()) == []


def test_cli_writes_the_requested_share(tmp_path: Path) -> None:
    out = tmp_path / "d"
    result = CliRunner().invoke(
        app,
        [
            "data",
            "synth",
            "-o",
            str(out),
            "--videos",
            "1",
            "--val-videos",
            "0",
            "--frames",
            "8",
            "--size",
            "96x96",
            "--hard-share",
            "0.25",
            "--hard-kinds",
            "joints",
            "-q",
        ],
    )
    assert result.exit_code == 0, result.output
    hard = json.loads((out / EFFECTS_FILE).read_text())["videos"]["000001_mpii_train"]["hard"]
    assert len(hard) == 2 and {h["kind"] for h in hard} == {"joints"}


def test_boxes_do_not_trace_the_limbs_with_hard_frames(tmp_path: Path) -> None:
    """With hard frames the annotated boxes have one size per person (a hidden person's box must not
    give its pose away) and a hidden person's grey block covers its whole box; legacy boxes follow
    the limbs, so their sizes vary."""
    sizes: dict[str, set[tuple[float, float]]] = {}
    for name, share in (("hard", 0.5), ("legacy", None)):
        root = tmp_path / name
        write_synthetic_dataset(
            root,
            videos=1,
            val_videos=0,
            frames=12,
            people=1,
            seed=1,
            size=(320, 320),
            label_every=1,
            hard_share=share,
            hard_kinds=("person",),
        )
        doc = json.loads((root / "annotations" / "train" / "000001_mpii_train.json").read_text())
        unclipped = [
            a["bbox"]
            for a in doc["annotations"]
            if a["bbox"][0] > 0
            and a["bbox"][1] > 0
            and a["bbox"][0] + a["bbox"][2] < 479
            and a["bbox"][1] + a["bbox"][3] < 399
        ]
        assert len(unclipped) >= 4
        sizes[name] = {(round(b[2]), round(b[3])) for b in unclipped}
        if share is None:
            continue
        images = {im["id"]: im["file_name"] for im in doc["images"]}
        hard = json.loads((root / EFFECTS_FILE).read_text())["videos"]["000001_mpii_train"]["hard"]
        hidden = {h["frame"] for h in hard}
        assert len(hidden) == 6
        for a in doc["annotations"]:
            number = int(Path(images[a["image_id"]]).stem)
            x, y, w, h = (round(v) for v in a["bbox"])
            inside = cv2.imread(str(root / images[a["image_id"]]))[y + 1 : y + h - 1, x + 1 : x + w - 1]
            assert (inside.std() < 3) == (number in hidden), number
    assert len(sizes["hard"]) <= 2 < len(sizes["legacy"]), sizes
