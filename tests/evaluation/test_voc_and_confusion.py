"""VOC AP against an independent implementation of the devkit rule (written here, loop by
loop, as the devkit's voc_eval.py reads), and the confusion matrix against supervision's."""

from __future__ import annotations

import numpy as np
import pytest

import visionflow as vf
from tests.evaluation import cocogen
from visionflow.evaluation.confusion import confusion_matrix, greedy_edges
from visionflow.evaluation.predictions import load_predictions
from visionflow.evaluation.voc_eval import evaluate_voc


def devkit_ap(gt_boxes, gt_difficult, dets, thr, use_07):
    """The VOC devkit's voc_eval for one class; gt_boxes: {image: (n, 4)}, dets: [(image,
    score, box)]. Continuous coordinates (no +1: visionflow's readers removed it)."""
    R = {k: {"bbox": v, "difficult": gt_difficult[k], "det": [False] * len(v)}
         for k, v in gt_boxes.items()}
    npos = sum(int((~d).sum()) for d in gt_difficult.values())
    order = sorted(range(len(dets)), key=lambda i: -dets[i][1])   # stable on ties
    tp, fp = np.zeros(len(dets)), np.zeros(len(dets))
    for n, i in enumerate(order):
        img, _, bb = dets[i]
        r = R.get(img, {"bbox": np.zeros((0, 4)), "difficult": np.zeros(0, bool), "det": []})
        ovmax, jmax = -np.inf, -1
        BBGT = r["bbox"]
        if len(BBGT):
            ixmin = np.maximum(BBGT[:, 0], bb[0])
            iymin = np.maximum(BBGT[:, 1], bb[1])
            ixmax = np.minimum(BBGT[:, 2], bb[2])
            iymax = np.minimum(BBGT[:, 3], bb[3])
            iw = np.maximum(ixmax - ixmin, 0.0)
            ih = np.maximum(iymax - iymin, 0.0)
            inters = iw * ih
            uni = ((bb[2] - bb[0]) * (bb[3] - bb[1]) + (BBGT[:, 2] - BBGT[:, 0]) *
                   (BBGT[:, 3] - BBGT[:, 1]) - inters)
            overlaps = inters / uni
            ovmax, jmax = np.max(overlaps), int(np.argmax(overlaps))
        if ovmax > thr:
            if not r["difficult"][jmax]:
                if not r["det"][jmax]:
                    tp[n] = 1.0
                    r["det"][jmax] = True
                else:
                    fp[n] = 1.0
        else:
            fp[n] = 1.0
    fp, tp = np.cumsum(fp), np.cumsum(tp)
    rec = tp / float(npos)
    prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
    if use_07:
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = 0 if np.sum(rec >= t) == 0 else np.max(prec[rec >= t])
            ap = ap + p / 11.0
        return ap
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    for i in range(mpre.size - 1, 0, -1):
        mpre[i - 1] = np.maximum(mpre[i - 1], mpre[i])
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1])


def _generated(tmp_path, seed):
    gt, res = cocogen.generate(seed)
    gp, rp = cocogen.write(tmp_path, gt, res)
    g = vf.load(gp, format="coco")
    return g, load_predictions(rp, g)


@pytest.mark.parametrize("interp", ["all", "11"])
@pytest.mark.parametrize("thr", [0.3, 0.5, 0.75])
@pytest.mark.parametrize("seed", [0, 1])
def test_voc_ap_equals_devkit_rule(tmp_path, seed, thr, interp):
    g, p = _generated(tmp_path, seed)
    r = evaluate_voc(g, p, thr, interp)
    ga, pa = g.annotations, p.annotations
    crowd = ga.iscrowd.astype(bool)
    for c in g.categories:
        gsel = ga.category_id == c.id
        boxes = {i: ga.xyxy[gsel & (ga.image_index == i)] for i in np.unique(ga.image_index)}
        diff = {i: crowd[gsel & (ga.image_index == i)] for i in boxes}
        psel = np.flatnonzero(pa.category_id == c.id)
        dets = [(int(pa.image_index[j]), float(pa.score[j]), pa.xyxy[j]) for j in psel]
        assert r.per_class[c.name] == pytest.approx(devkit_ap(boxes, diff, dets, thr,
                                                              interp == "11"), abs=1e-12)
    assert r.mAP == pytest.approx(np.mean(list(r.per_class.values())), abs=1e-12)


def test_confusion_matrix_equals_supervision(tmp_path):
    sv = pytest.importorskip("supervision")
    from supervision.metrics.detection import ConfusionMatrix
    for seed in range(4):
        g, p = _generated(tmp_path / str(seed), seed)
        ga, pa = g.annotations, p.annotations
        pos = {c: i for i, c in enumerate(g.categories.ids)}
        preds, targets = [], []
        for i in range(len(g.images)):
            gs, ps = ga.image_index == i, pa.image_index == i
            targets.append(np.column_stack([ga.xyxy[gs], [pos[c] for c in ga.category_id[gs]]])
                           .reshape(-1, 5))
            preds.append(np.column_stack([pa.xyxy[ps], [pos[c] for c in pa.category_id[ps]],
                                          pa.score[ps]]).reshape(-1, 6))
        for conf, iou in ((0.25, 0.5), (0.0, 0.3), (0.6, 0.7)):
            want = ConfusionMatrix.from_tensors(preds, targets, list(g.categories.names),
                                                conf_threshold=conf, iou_threshold=iou).matrix
            got = confusion_matrix(g, p, confidence=conf, iou=iou).matrix
            np.testing.assert_array_equal(got, want)
    assert sv is not None


def test_greedy_edges_equal_the_sequential_pass():
    rng = np.random.default_rng(0)
    for _ in range(200):
        n = int(rng.integers(1, 40))
        a, b = rng.integers(0, 8, n), rng.integers(0, 8, n)
        rank = rng.permutation(n)
        used_a, used_b, want = set(), set(), np.zeros(n, bool)
        for i in np.argsort(rank):
            if a[i] not in used_a and b[i] not in used_b:
                want[i] = True
                used_a.add(a[i])
                used_b.add(b[i])
        np.testing.assert_array_equal(greedy_edges(a, b, rank), want)
