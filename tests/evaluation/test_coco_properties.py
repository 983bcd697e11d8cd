"""Properties any correct AP must have, over random scenes (Hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import visionflow as vf
from visionflow.evaluation import evaluate_coco

N_IMG, N_CLS = 3, 3
SETTINGS = settings(max_examples=40, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@st.composite
def boxes(draw, max_n: int = 12):
    n = draw(st.integers(0, max_n))
    out = []
    for _ in range(n):
        x = draw(st.integers(0, 80))
        y = draw(st.integers(0, 80))
        w = draw(st.integers(1, 60))
        h = draw(st.integers(1, 60))
        out.append((draw(st.integers(0, N_IMG - 1)), draw(st.integers(1, N_CLS)),
                    (x, y, x + w, y + h)))
    return out


@st.composite
def scenes(draw):
    """Ground truth (some crowd) and predictions: jittered copies plus spurious boxes."""
    gt = draw(boxes())
    crowd = [draw(st.booleans()) and draw(st.booleans()) for _ in gt]
    pred = []
    for img, cls, (x1, y1, x2, y2) in gt:
        if draw(st.booleans()):
            j = draw(st.lists(st.integers(-6, 6), min_size=4, max_size=4))
            pred.append((img, cls, (x1 + j[0], y1 + j[1], max(x1 + j[0] + 1, x2 + j[2]),
                                    max(y1 + j[1] + 1, y2 + j[3]))))
    pred += draw(boxes(6))
    scores = draw(st.lists(st.floats(0.01, 1), min_size=len(pred), max_size=len(pred),
                           unique=True))
    return gt, crowd, pred, scores


def dataset(objs, crowd=None, scores=None, categories=None) -> vf.Dataset:
    images = vf.Images.build([f"{i}.jpg" for i in range(N_IMG)], [200] * N_IMG, [200] * N_IMG)
    cols = {}
    if crowd is not None:
        cols["iscrowd"] = np.array(crowd, bool)
    if scores is not None:
        cols["score"] = np.array(scores, float)
    ann = vf.Annotations.build([o[0] for o in objs], [o[1] for o in objs],
                               np.array([o[2] for o in objs], float).reshape(-1, 4), **cols)
    return vf.Dataset(images, ann, categories or vf.Categories.from_names(
        [f"c{i}" for i in range(1, N_CLS + 1)]))


@SETTINGS
@given(scenes())
def test_perfect_predictions_give_ap_1(scene):
    gt, crowd, _, _ = scene
    real = [o for o, c in zip(gt, crowd) if not c]
    g = dataset(gt, crowd)
    p = dataset(gt, scores=np.linspace(1, 0.5, len(gt)))
    r = evaluate_coco(g, p)
    if real:
        # 1 up to COCOeval's eps in tp / (tp + fp + eps)
        assert abs(r.stats["AP"] - 1) < 1e-12 and r.stats["AR100"] == 1.0
        for name, v in r.per_class.items():
            assert v["AP"] == -1.0 or abs(v["AP"] - 1) < 1e-12, name
    else:
        assert r.stats["AP"] == -1.0


@SETTINGS
@given(scenes(), st.randoms(use_true_random=False))
def test_shuffling_predictions_changes_nothing(scene, rnd):
    gt, crowd, pred, scores = scene
    order = list(range(len(pred)))
    rnd.shuffle(order)
    a = evaluate_coco(dataset(gt, crowd), dataset(pred, scores=scores))
    b = evaluate_coco(dataset(gt, crowd), dataset([pred[i] for i in order],
                                                  scores=[scores[i] for i in order]))
    np.testing.assert_array_equal(a.precision, b.precision)
    np.testing.assert_array_equal(a.recall, b.recall)
    assert a.stats == b.stats


@SETTINGS
@given(scenes(), st.data())
def test_removing_a_prediction_never_raises_recall(scene, data):
    gt, crowd, pred, scores = scene
    if not pred:
        return
    drop = data.draw(st.integers(0, len(pred) - 1))
    a = evaluate_coco(dataset(gt, crowd), dataset(pred, scores=scores))
    b = evaluate_coco(dataset(gt, crowd), dataset(pred[:drop] + pred[drop + 1:],
                                                  scores=scores[:drop] + scores[drop + 1:]))
    # max 100 detections: no image and class here has more, so none is cut (with a cut,
    # removing one lets the 101st in, which may rightly raise recall)
    assert np.all(b.recall[..., -1] <= a.recall[..., -1])


@SETTINGS
@given(scenes(), st.integers(1, N_CLS))
def test_per_class_results_do_not_depend_on_other_classes(scene, keep):
    gt, crowd, pred, scores = scene
    full = evaluate_coco(dataset(gt, crowd), dataset(pred, scores=scores))
    gi = [i for i, o in enumerate(gt) if o[1] == keep]
    pi = [i for i, o in enumerate(pred) if o[1] == keep]
    cats = vf.Categories([vf.Category(keep, f"c{keep}")])
    alone = evaluate_coco(dataset([gt[i] for i in gi], [crowd[i] for i in gi], categories=cats),
                          dataset([pred[i] for i in pi], scores=[scores[i] for i in pi],
                                  categories=cats))
    assert alone.per_class[f"c{keep}"] == full.per_class[f"c{keep}"]
    k = sorted(c.id for c in dataset([]).categories).index(keep)
    np.testing.assert_array_equal(alone.precision[:, :, 0], full.precision[:, :, k])
