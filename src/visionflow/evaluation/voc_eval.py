"""Pascal VOC average precision at any IoU, all-point (VOC2010+) or 11-point (VOC2007).

The devkit's rule (voc_eval.py): per class, detections by descending score (stable here; the
devkit's quicksort leaves ties in any order); each takes the ground truth of its image and class
with the highest IoU (the first on a tie), whether or not already taken; IoU strictly above the
threshold on a "difficult" object is neither TP nor FP, on a free one a TP, on a taken one an FP;
anything else an FP. Recall is over non-difficult objects. One difference, on purpose: IoU is
computed on visionflow's continuous coordinates, where the devkit adds 1 to widths because VOC
files hold inclusive integer pixels -- the VOC reader already turned those into continuous
coordinates, so adding 1 again would count a pixel twice. Crowd regions count as difficult.

Every (image, class) is independent, so there is no loop over detections: each detection's best
ground truth is one sorted pass, and "first free" is the first eligible detection per object.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.dataset import Dataset
from ..core.errors import ValidationError
from .matching import all_pairs, group_ranges, take


@dataclass(frozen=True)
class VocEval:
    """mAP over classes with ground truth; per class AP (None: no ground truth), the PR points
    (precision, recall, score per detection in rank order), and per detection its outcome."""

    iou: float
    interpolation: str
    mAP: float
    per_class: dict[str, float | None]
    curves: dict[str, dict[str, np.ndarray]]
    dt_rows: np.ndarray        # prediction rows, descending score
    dt_outcome: np.ndarray     # 1 TP, 0 FP, -1 ignored (difficult)
    dt_gt: np.ndarray          # best-overlap ground-truth row (-1 none)
    dt_iou: np.ndarray


def voc_ap(rec: np.ndarray, prec: np.ndarray, interpolation: str = "all") -> float:
    """The devkit's voc_ap: area under the monotone PR envelope, or the 11-point mean."""
    if interpolation == "11":
        ap = 0.0
        for t in np.arange(0.0, 1.1, 0.1):
            p = np.max(prec[rec >= t]) if np.sum(rec >= t) else 0.0
            ap += p / 11.0
        return float(ap)
    mrec = np.concatenate(([0.0], rec, [1.0]))
    mpre = np.concatenate(([0.0], prec, [0.0]))
    mpre = np.maximum.accumulate(mpre[::-1])[::-1]
    i = np.where(mrec[1:] != mrec[:-1])[0]
    return float(np.sum((mrec[i + 1] - mrec[i]) * mpre[i + 1]))


def difficult_of(ds: Dataset) -> np.ndarray:
    """VOC's difficult flag (any reader's "difficult" attribute) or COCO's crowd, per row."""
    ann = ds.annotations
    out = np.zeros(len(ann), bool)
    for key in ("difficult", "voc.difficult"):
        col = ann.attrs.get(key)
        if col is not None:
            out |= np.array([bool(int(v)) if v not in (None, "") else False for v in col], bool)
    if ann.iscrowd is not None:
        out |= ann.iscrowd.astype(bool)
    return out


def pair_iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """IoU of box pairs (row i of a with row i of b), continuous coordinates."""
    w = np.minimum(a[:, 2], b[:, 2]) - np.maximum(a[:, 0], b[:, 0])
    h = np.minimum(a[:, 3], b[:, 3]) - np.maximum(a[:, 1], b[:, 1])
    inter = np.clip(w, 0, None) * np.clip(h, 0, None)
    union = ((a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1]) + (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
             - inter)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


def evaluate_voc(gt: Dataset, pred: Dataset, iou: float = 0.5, interpolation: str = "all"
                 ) -> VocEval:
    """VOC AP of `pred` (aligned to `gt`, see `align`) per class and their mean."""
    if interpolation not in ("all", "11"):
        raise ValidationError("evaluate", f"--interpolation must be 'all' or '11', got "
                              f"{interpolation!r}")
    if not 0 < iou <= 1:
        raise ValidationError("evaluate", f"IoU threshold must be in (0, 1], got {iou}")
    ga, da = gt.annotations, pred.annotations
    g_rows = np.flatnonzero(~ga.is_label) if len(ga) else np.zeros(0, np.int64)
    d_rows = np.flatnonzero(~da.is_label) if len(da) else np.zeros(0, np.int64)
    if len(d_rows) and (da.score is None or np.isnan(da.score[d_rows]).any()):
        raise ValidationError("predictions", "every detection needs a score to rank it")
    difficult = difficult_of(gt)
    cat_ids = list(gt.categories.ids)
    n_cat = len(cat_ids)
    lookup = {c: k for k, c in enumerate(cat_ids)}
    g_cat = np.array([lookup[c] for c in ga.category_id[g_rows].tolist()], np.int64)
    d_cat = np.array([lookup.get(c, -1) for c in da.category_id[d_rows].tolist()], np.int64)
    if (d_cat < 0).any():
        bad = int(da.category_id[d_rows][d_cat < 0][0])
        raise ValidationError("predictions", f"category id {bad} is not a ground-truth category")
    score = da.score[d_rows] if len(d_rows) else np.zeros(0)
    d_order = np.lexsort((np.arange(len(d_rows)), -score, d_cat))       # class, then score
    d_rows, d_cat, score = d_rows[d_order], d_cat[d_order], score[d_order]
    g_key = ga.image_index[g_rows] * n_cat + g_cat
    g_order = np.argsort(g_key, kind="stable")
    g_rows, g_cat, g_key = g_rows[g_order], g_cat[g_order], g_key[g_order]
    d_key = da.image_index[d_rows] * n_cat + d_cat
    keys = np.unique(np.concatenate([g_key, d_key]))
    g_start, g_count = group_ranges(np.searchsorted(keys, g_key), len(keys))
    pd, pg = all_pairs(np.searchsorted(keys, d_key), g_start, g_count)
    ov = pair_iou_xyxy(da.xyxy[d_rows[pd]], ga.xyxy[g_rows[pg]])
    best_g = np.full(len(d_rows), -1, np.int64)
    best_iou = np.full(len(d_rows), -np.inf)
    if len(pd):
        o = np.lexsort((pg, -ov, pd))                   # per detection: highest IoU, first gt
        first = o[np.concatenate([[True], np.diff(pd[o]) != 0])]
        best_g[pd[first]], best_iou[pd[first]] = pg[first], ov[first]
    hit = best_iou > iou
    diff = np.zeros(len(d_rows), bool)
    diff[hit] = difficult[g_rows[best_g[hit]]]
    eligible = np.flatnonzero(hit & ~diff)              # already in rank order per class
    outcome = np.zeros(len(d_rows), np.int64)
    if len(eligible):
        _, first_of_gt = np.unique(best_g[eligible], return_index=True)
        outcome[eligible[first_of_gt]] = 1
    outcome[hit & diff] = -1
    npos = np.bincount(g_cat[~difficult[g_rows]], minlength=n_cat)
    names = gt.categories.names
    labels = [n if names.count(n) == 1 else f"{n}#{i}" for n, i in zip(names, cat_ids)]
    starts, counts = group_ranges(d_cat, n_cat)
    per_class: dict[str, float | None] = {}
    curves: dict[str, dict[str, np.ndarray]] = {}
    for k in range(n_cat):
        sl = slice(starts[k], starts[k] + counts[k])
        out = outcome[sl]
        tp = np.cumsum(out == 1).astype(float)
        fp = np.cumsum(out == 0).astype(float)
        if npos[k] == 0:
            per_class[labels[k]] = None
            continue
        rec = tp / npos[k]
        prec = tp / np.maximum(tp + fp, np.finfo(np.float64).eps)
        per_class[labels[k]] = voc_ap(rec, prec, interpolation)
        curves[labels[k]] = {"precision": prec, "recall": rec, "score": score[sl]}
    aps = [v for v in per_class.values() if v is not None]
    return VocEval(iou, interpolation, float(np.mean(aps)) if aps else float("nan"), per_class,
                   curves, d_rows, outcome, take(g_rows, best_g),
                   np.where(best_g >= 0, best_iou, np.nan))
