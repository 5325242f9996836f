"""The vectorised evaluation against a plain-loop restatement of the spec (§4, §5, §7) on random,
crowded data: overlapping people, merged predictions, rectangular ignore regions, unlabeled frames."""

from __future__ import annotations

import math

import numpy as np
import pytest
from eval_cases import HEAD

from posecli.evaluation import evaluate_posetrack
from posecli.evaluation.synthetic import SynthFrame, SynthPerson


def _crowded_sequence(rng: np.random.Generator, num_frames: int) -> tuple[list[SynthFrame], list[SynthFrame]]:
    """People packed in a 200 px square so predictions often sit between two GT people."""
    num_people = int(rng.integers(2, 6))
    base = rng.uniform(0, 200, size=(num_people, 15, 2))
    gt_frames, pr_frames = [], []
    for k in range(num_frames):
        region = [] if rng.random() < 0.6 else [[(50.0, 50.0), (120.0, 50.0), (120.0, 120.0), (50.0, 120.0)]]
        gt_people, pr_people = [], []
        for n in range(num_people):
            if rng.random() < 0.15:
                continue
            pts = base[n] + k
            joints = {j: (float(pts[j, 0]), float(pts[j, 1]), 1.0) for j in range(15) if rng.random() > 0.2}
            gt_people.append(SynthPerson(n, joints, HEAD))
        if rng.random() < 0.15:
            gt_people = []
        for n in range(int(rng.integers(0, num_people + 2))):
            src = base[n % num_people] + k + rng.normal(0, 12, size=(15, 2))
            joints = {
                j: (float(src[j, 0]), float(src[j, 1]), float(rng.random()))
                for j in range(15)
                if rng.random() > 0.15
            }
            track = int(rng.permutation(num_people + 2)[0]) if rng.random() < 0.2 else n
            if any(p.track_id == track for p in pr_people):
                track = 100 + n
            pr_people.append(SynthPerson(track, joints))
        gt_frames.append(SynthFrame(gt_people, True, region))
        pr_frames.append(SynthFrame(pr_people, True))
    return gt_frames, pr_frames


def _strictly_inside(x: float, y: float, regions: list[list[tuple[float, float]]]) -> bool:
    return any(r[0][0] < x < r[1][0] and r[0][1] < y < r[2][1] for r in regions)


def _clean(people: list[SynthPerson], regions: list) -> list[SynthPerson]:
    out = []
    for person in people:
        joints = {j: v for j, v in person.joints.items() if not _strictly_inside(v[0], v[1], regions)}
        if regions and not joints:
            continue
        out.append(SynthPerson(person.track_id, joints, person.head))
    return out


def _loop_ap(scores: list[float], labels: list[int], n_gt: int) -> float:
    if not scores:
        return 0.0
    order = np.asarray(scores, dtype=np.float64).argsort()[::-1]
    tp, precision, recall = 0, [], []
    for k, idx in enumerate(order):
        tp += labels[idx]
        precision.append(tp / (k + 1))
        recall.append(tp / n_gt if n_gt else math.nan)
    mrec, mpre = [0.0, *recall, 1.0], [0.0, *precision, 0.0]
    for i in range(len(mpre) - 2, -1, -1):
        mpre[i] = max(mpre[i], mpre[i + 1])
    return 100.0 * sum(
        (mrec[i] - mrec[i - 1]) * mpre[i] for i in range(1, len(mrec)) if mrec[i] != mrec[i - 1]
    )


def _loop_evaluate(gt_seq: list[SynthFrame], pr_seq: list[SynthFrame], mm):
    samples = {j: ([], []) for j in range(15)}
    n_gt = [0] * 15
    accs = [mm.MOTAccumulator(auto_id=True) for _ in range(15)]
    evaluated = [k for k, f in enumerate(gt_seq) if f.people]
    for k in evaluated:
        gts = _clean(gt_seq[k].people, gt_seq[k].ignore)
        prs = _clean(pr_seq[k].people, gt_seq[k].ignore)
        size = 0.6 * math.hypot(HEAD[2] - HEAD[0], HEAD[3] - HEAD[1])
        match = [[[False] * 15 for _ in gts] for _ in prs]
        dist = [[[math.inf] * 15 for _ in gts] for _ in prs]
        pck = [[0.0] * len(gts) for _ in prs]
        for p, pr in enumerate(prs):
            for g, gt in enumerate(gts):
                for j in set(pr.joints) & set(gt.joints):
                    d = (
                        math.hypot(pr.joints[j][0] - gt.joints[j][0], pr.joints[j][1] - gt.joints[j][1])
                        / size
                    )
                    dist[p][g][j] = d
                    match[p][g][j] = d <= 0.5
                if gt.joints:
                    pck[p][g] = sum(match[p][g]) / len(gt.joints)
        for p in range(len(prs)):
            if gts:
                best = max(range(len(gts)), key=lambda g: (pck[p][g], -g))
                pck[p] = [v if g == best else 0.0 for g, v in enumerate(pck[p])]
        assigned = {}
        for g in range(len(gts)):
            if prs:
                best = max(range(len(prs)), key=lambda p: (pck[p][g], -p))
                if pck[best][g] > 0:
                    assigned[best] = g
        for p, pr in enumerate(prs):
            for j in sorted(pr.joints):
                samples[j][0].append(pr.joints[j][2])
                samples[j][1].append(int(match[p][assigned[p]][j]) if p in assigned else 0)
        for gt in gts:
            for j in gt.joints:
                n_gt[j] += 1
        if k == evaluated[-1]:
            continue
        for j in range(15):
            if gts and prs:
                gi = [g for g, gt in enumerate(gts) if j in gt.joints]
                pi = [p for p, pr in enumerate(prs) if j in pr.joints]
                d = [[dist[p][g][j] if match[p][g][j] else np.nan for p in pi] for g in gi]
                accs[j].update(
                    [gts[g].track_id for g in gi],
                    [prs[p].track_id for p in pi],
                    np.array(d).reshape(len(gi), len(pi)),
                )
            else:
                accs[j].update([0], [0], [[np.nan]])
    return samples, n_gt, accs


def test_vectorised_ap_and_mota_equal_the_loop_restatement(write_case) -> None:
    mm = pytest.importorskip("motmetrics")
    rng = np.random.default_rng(2024)
    gts, preds = {}, {}
    for s in range(4):
        gts[f"{s + 1:06d}_mpii_test"], preds[f"{s + 1:06d}_mpii_test"] = _crowded_sequence(rng, 6)
    result = evaluate_posetrack(*write_case(gts, preds, "2018", "2017"))

    all_scores = {j: ([], []) for j in range(15)}
    n_gt = np.zeros(15, dtype=int)
    totals = np.zeros((15, 6))
    for name in sorted(gts):
        samples, seq_gt, accs = _loop_evaluate(gts[name], preds[name], mm)
        for j in range(15):
            all_scores[j][0].extend(samples[j][0])
            all_scores[j][1].extend(samples[j][1])
            events = accs[j].events  # counted from motmetrics' event table (its compute() is slow)
            kinds = {kind: int((events.Type == kind).sum()) for kind in ("MATCH", "SWITCH", "MISS", "FP")}
            totals[j, :5] += [
                kinds["MISS"], kinds["SWITCH"], kinds["FP"],
                kinds["MATCH"] + kinds["SWITCH"] + kinds["MISS"], kinds["MATCH"] + kinds["SWITCH"],
            ]  # fmt: skip
            totals[j, 5] += float(events["D"].sum())
        n_gt += seq_gt
    expected_ap = [_loop_ap(all_scores[j][0], all_scores[j][1], int(n_gt[j])) for j in range(15)]
    np.testing.assert_allclose(result.ap.ap, expected_ap, rtol=1e-12, atol=1e-9)
    np.testing.assert_array_equal(result.ap.num_gt, n_gt)
    got = np.array(
        [
            [c.misses, c.switches, c.false_positives, c.objects, c.detections, c.sum_distance]
            for c in result.mot.counts
        ]
    )
    np.testing.assert_allclose(got, totals, rtol=1e-12, atol=1e-9)
    assert 5 < result.total_ap < 95 and totals[:, 1].sum() > 0  # the data exercises switches and misses
