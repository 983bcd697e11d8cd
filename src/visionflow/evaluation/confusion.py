"""Confusion matrix with background, and precision / recall / F1 at a confidence.

The matrix follows supervision's ConfusionMatrix (rows: true class, columns: predicted class,
last row and column: background): per image, detections at or above the confidence are
matched to ground truth regardless of class, pairs with IoU strictly above the threshold taken
greedily -- same-class pairs first, then by IoU, then ground truth and detection order -- each
object and detection at most once. A match of two classes is a confusion, an unmatched object a
miss (background column), an unmatched detection a spurious box (background row).

The greedy pass over a sorted edge list is done without a per-image loop: an edge that ranks
first among all edges of both its ends is exactly one the sequential pass takes, so rounds of
"take every such edge, drop the edges of taken ends" reach the same matching.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.dataset import Dataset
from .matching import all_pairs, group_ranges, take
from .voc_eval import pair_iou_xyxy


@dataclass(frozen=True)
class Confusion:
    """matrix (K+1, K+1): [true, predicted], index K = background. labels: K class names."""

    labels: list[str]
    matrix: np.ndarray
    confidence: float
    iou: float
    gt_rows: np.ndarray        # ground-truth rows and their matched detection row (-1 none)
    gt_partner: np.ndarray
    dt_rows: np.ndarray        # detection rows (at or above the confidence) and their partner
    dt_partner: np.ndarray
    dt_iou: np.ndarray


def greedy_edges(a: np.ndarray, b: np.ndarray, rank: np.ndarray) -> np.ndarray:
    """Edges (a[i], b[i]) a sequential greedy pass in `rank` order would keep (a mask)."""
    keep = np.zeros(len(a), bool)
    alive = np.arange(len(a))
    while len(alive):
        ea, eb, er = a[alive], b[alive], rank[alive]
        best_a = np.full(int(ea.max()) + 1, np.iinfo(np.int64).max)
        best_b = np.full(int(eb.max()) + 1, np.iinfo(np.int64).max)
        np.minimum.at(best_a, ea, er)
        np.minimum.at(best_b, eb, er)
        take = (best_a[ea] == er) & (best_b[eb] == er)
        keep[alive[take]] = True
        used_a = np.zeros(len(best_a), bool)
        used_b = np.zeros(len(best_b), bool)
        used_a[ea[take]] = True
        used_b[eb[take]] = True
        alive = alive[~(used_a[ea] | used_b[eb])]
    return keep


def confusion_matrix(gt: Dataset, pred: Dataset, *, confidence: float = 0.25,
                     iou: float = 0.5) -> Confusion:
    """The confusion matrix of `pred` (aligned to `gt`) at a confidence and IoU threshold."""
    ga, da = gt.annotations, pred.annotations
    cat_ids = list(gt.categories.ids)
    k = len(cat_ids)
    pos = {c: i for i, c in enumerate(cat_ids)}
    g_rows = np.flatnonzero(~ga.is_label) if len(ga) else np.zeros(0, np.int64)
    d_rows = np.flatnonzero(~da.is_label) if len(da) else np.zeros(0, np.int64)
    if len(d_rows) and da.score is not None:
        d_rows = d_rows[da.score[d_rows] >= confidence]
    g_rows = g_rows[np.argsort(ga.image_index[g_rows], kind="stable")]
    d_rows = d_rows[np.argsort(da.image_index[d_rows], kind="stable")]
    g_cls = np.array([pos[c] for c in ga.category_id[g_rows].tolist()], np.int64)
    d_cls = np.array([pos[c] for c in da.category_id[d_rows].tolist()], np.int64)
    g_img, d_img = ga.image_index[g_rows], da.image_index[d_rows]
    g_start, g_count = group_ranges(g_img, len(gt.images))
    pd, pg = all_pairs(d_img, g_start, g_count)
    ov = pair_iou_xyxy(ga.xyxy[g_rows[pg]], da.xyxy[d_rows[pd]])
    ok = ov > iou
    pd, pg, ov = pd[ok], pg[ok], ov[ok]
    same = g_cls[pg] == d_cls[pd]
    rank = np.empty(len(pd), np.int64)
    rank[np.lexsort((pd, pg, -ov, ~same, g_img[pg]))] = np.arange(len(pd))
    kept = greedy_edges(pg, pd, rank) if len(pd) else np.zeros(0, bool)
    gt_partner = np.full(len(g_rows), -1, np.int64)
    dt_partner = np.full(len(d_rows), -1, np.int64)
    dt_iou = np.full(len(d_rows), np.nan)
    gt_partner[pg[kept]] = pd[kept]
    dt_partner[pd[kept]] = pg[kept]
    dt_iou[pd[kept]] = ov[kept]
    m = np.zeros((k + 1, k + 1), np.int64)
    np.add.at(m, (g_cls[pg[kept]], d_cls[pd[kept]]), 1)
    np.add.at(m, (g_cls[gt_partner < 0], k), 1)
    np.add.at(m, (k, d_cls[dt_partner < 0]), 1)
    names = gt.categories.names
    labels = [n if names.count(n) == 1 else f"{n}#{i}" for n, i in zip(names, cat_ids)]
    return Confusion(labels, m, confidence, iou, g_rows, take(d_rows, gt_partner), d_rows,
                     take(g_rows, dt_partner), dt_iou)


def prf_at(tp: np.ndarray, score: np.ndarray, n_gt: int, confidence: float
           ) -> tuple[float, float, float]:
    """Precision, recall, F1 of detections at or above `confidence` (tp: 1/0 in score order)."""
    sel = score >= confidence
    t = float(tp[sel].sum())
    f = float(sel.sum()) - t
    p = t / (t + f) if t + f else 0.0
    r = t / n_gt if n_gt else 0.0
    return p, r, (2 * p * r / (p + r) if p + r else 0.0)


def best_f1(tp: np.ndarray, score: np.ndarray, n_gt: int) -> tuple[float, float]:
    """(confidence, F1): the threshold among the detections' scores that maximises F1."""
    if not len(score) or not n_gt:
        return float("nan"), 0.0
    ctp = np.cumsum(tp)
    cfp = np.cumsum(1 - tp)
    # a threshold keeps every detection with an equal score: evaluate at the last of each tie
    last = np.concatenate([score[1:] != score[:-1], [True]])
    p = ctp / (ctp + cfp)
    r = ctp / n_gt
    with np.errstate(invalid="ignore", divide="ignore"):
        f1 = np.where(p + r > 0, 2 * p * r / (p + r), 0.0)
    f1 = np.where(last, f1, -1)
    i = int(np.argmax(f1))
    return float(score[i]), float(f1[i])
