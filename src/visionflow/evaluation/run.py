"""One evaluation: COCO or VOC AP, the confusion matrix, per-class P/R/F1, per-object outcomes.

`evaluate(gt, pred)` takes datasets or paths; what it returns is data (nothing is printed) that
the CLI prints as JSON, the HTML report draws, and `mistakes` ranks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.dataset import Dataset
from ..core.errors import Error, ValidationError
from .coco_eval import CocoEval, Params, evaluate_coco
from .confusion import Confusion, best_f1, confusion_matrix, prf_at
from .matching import take
from .predictions import align, load_predictions
from .voc_eval import VocEval, evaluate_voc


@dataclass(frozen=True)
class Evaluation:
    """Everything one run computed. objects: the per-object table (see `object_table`)."""

    gt: Dataset
    pred: Dataset
    metric: str
    iou: float                    # the IoU of the confusion matrix, P/R/F1 and object outcomes
    confidence: float
    coco: CocoEval | None
    voc: VocEval | None
    confusion: Confusion
    classes: dict[str, dict[str, float]]
    objects: dict[str, np.ndarray]

    def to_json(self) -> dict[str, Any]:
        """The machine-readable summary (`visionflow evaluate --json`)."""
        if self.metric == "voc":
            v = self.voc
            return {"mAP": _num(v.mAP), "per_class": {k: _num(a) for k, a in v.per_class.items()},
                    "metric": "voc", "iou": v.iou, "interpolation": v.interpolation,
                    "images": len(self.gt.images)}
        c = self.coco
        return {**{k: _num(x) for k, x in c.stats.items()},
                "per_class": {name: {k: _num(x) for k, x in s.items()}
                              for name, s in c.per_class.items()},
                "metric": "coco", "iou_type": c.params.iou_type,
                "iou_thresholds": [float(t) for t in c.params.iou_thrs],
                "images": len(self.gt.images)}


    def object_records(self) -> list[dict[str, Any]]:
        """One record per prediction and per ground-truth object: its outcome (TP, FP, FN or
        ignored) at the evaluation IoU, its matched partner's annotation id and their IoU."""
        gt, pred, o = self.gt, self.pred, self.objects
        names = {c.id: c.name for c in gt.categories}
        out = []
        for side, ds, outcome, partner, other in (
                ("prediction", pred, o["pred_outcome"], o["pred_partner"], gt),
                ("ground_truth", gt, o["gt_outcome"], o["gt_partner"], pred)):
            ann = ds.annotations
            iou = o["pred_iou"] if side == "prediction" else take(
                o["pred_iou"], o["gt_partner"], np.nan)
            score = ann.score if ann.score is not None else np.full(len(ann), np.nan)
            for j in np.flatnonzero(outcome != "").tolist():
                p = int(partner[j])
                img = int(ann.image_index[j])
                out.append({"side": side, "id": int(ann.id[j]),
                            "image": str(gt.images.file_name[img]),
                            "image_id": int(gt.images.id[img]),
                            "class": names.get(int(ann.category_id[j]), str(ann.category_id[j])),
                            "bbox_xyxy": [float(v) for v in ann.xyxy[j]],
                            "score": _num(float(score[j])), "outcome": str(outcome[j]),
                            "partner_id": int(other.annotations.id[p]) if p >= 0 else None,
                            "iou": _num(float(iou[j])) if p >= 0 else None})
        return out


def _num(v: float | None) -> float | None:
    return None if v is None or (isinstance(v, float) and math.isnan(v)) else float(v)


def parse_iou(text: str | None) -> np.ndarray | None:
    """'0.5:0.95' (COCO's 10 thresholds, step 0.05), '0.5:0.95:0.1', '0.5' or '0.5,0.75'."""
    if text is None:
        return None
    try:
        if ":" in text:
            parts = [float(x) for x in text.split(":")]
            if len(parts) not in (2, 3):
                raise ValueError
            lo, hi = parts[0], parts[1]
            step = parts[2] if len(parts) == 3 else 0.05
            if step <= 0 or hi < lo:
                raise ValueError
            return np.linspace(lo, hi, int(np.round((hi - lo) / step)) + 1, endpoint=True)
        return np.array([float(x) for x in text.split(",")])
    except ValueError:
        raise Error(f"--iou expects LO:HI[:STEP], a number or a comma list, got {text!r}") from None


def load_pair(gt: Dataset | str | Path, pred: Dataset | str | Path, *, gt_format: str | None = None,
              pred_format: str | None = None, match: str = "auto",
              split: str | None = None, images_dir: str | Path | None = None,
              follow_links: bool = False,
              read_options: dict | None = None) -> tuple[Dataset, Dataset]:
    """The ground truth (one split if asked) and the predictions aligned to it; images_dir
    and follow_links hold for every read (as for `vf.load`); read_options: the ground
    truth reader's options (the predictions' reader is another format's)."""
    if not isinstance(gt, Dataset):
        from ..api import load
        gt = load(gt, gt_format, images_dir=images_dir, follow_links=follow_links,
                  **(read_options or {}))
    elif read_options:
        raise Error("read_options apply to a ground truth read from disk, not to a Dataset")
    if split is not None:
        from ..core.images import canonical_split
        names = gt.images.splits()
        want = canonical_split(split)
        if want not in names:
            raise Error(f"no split {split!r} in the ground truth (splits: {', '.join(names)})")
        gt = gt.split(want)
    if isinstance(pred, Dataset):
        pred = align(gt, pred, match=match)
    else:
        pred = load_predictions(pred, gt, pred_format, match=match, images_dir=images_dir,
                                follow_links=follow_links)
    return gt, pred


def evaluate(gt: Dataset | str | Path, pred: Dataset | str | Path, *, metric: str = "coco",
             iou: Any = None, iou_type: str = "bbox", interpolation: str = "all",
             confidence: float = 0.25, match: str = "auto", gt_format: str | None = None,
             pred_format: str | None = None, split: str | None = None,
             images_dir: str | Path | None = None, follow_links: bool = False,
             read_options: dict | None = None) -> Evaluation:
    """Evaluate predictions against ground truth.

    metric "coco" (AP@[.5:.95] and the rest, as pycocotools) or "voc" (AP at one IoU, all-point
    or 11-point). iou: thresholds (array, or text as `parse_iou` reads); the first of them, or
    0.5 when COCO's default range holds it, is the IoU of the confusion matrix and of each
    object's outcome. confidence: the score from which a detection counts in the confusion
    matrix and in P/R/F1.
    """
    if metric not in ("coco", "voc"):
        raise Error(f"--metric must be coco or voc, got {metric!r}")
    gt, pred = load_pair(gt, pred, gt_format=gt_format, pred_format=pred_format, match=match,
                         split=split, images_dir=images_dir, follow_links=follow_links,
                         read_options=read_options)
    thrs = parse_iou(iou) if isinstance(iou, str) else (None if iou is None else np.atleast_1d(
        np.asarray(iou, float)))
    if pred.annotations.score is None and len(pred.annotations):
        raise ValidationError("predictions", "no prediction has a score (a confidence column); "
                              "AP ranks predictions by score")
    coco = voc = None
    if metric == "coco":
        coco = evaluate_coco(gt, pred, iou_type, params=Params.for_type(iou_type, thrs))
        t_all = coco.params.iou_thrs
        half = np.flatnonzero(np.isclose(t_all, 0.5))
        t_idx = int(half[0]) if len(half) else 0
        at = float(t_all[t_idx])
    else:
        if thrs is not None and len(thrs) != 1:
            raise Error("--metric voc takes one IoU threshold (e.g. --iou 0.5)")
        at = float(thrs[0]) if thrs is not None else 0.5
        voc = evaluate_voc(gt, pred, at, interpolation)
    conf = confusion_matrix(gt, pred, confidence=confidence, iou=at)
    objects = object_table(gt, pred, coco, voc, conf, t_idx if coco else 0)
    classes = _class_table(gt, pred, objects, confidence)
    return Evaluation(gt, pred, metric, at, confidence, coco, voc, conf, classes, objects)


def object_table(gt: Dataset, pred: Dataset, coco: CocoEval | None, voc: VocEval | None,
                 conf: Confusion, t: int) -> dict[str, np.ndarray]:
    """Per object its outcome at the evaluation IoU, its partner and their IoU.

    pred_outcome: "TP", "FP" or "ignored" (matched to a crowd region / difficult object);
    gt_outcome: "TP", "FN" or "ignored". Partners are rows of the other side's annotations
    (-1: none); best_gt_any is the ground truth of any class a prediction overlaps most (-1 none)
    with its IoU -- what tells a wrong class from a missing label.
    """
    da, ga = pred.annotations, gt.annotations
    n_d, n_g = len(da), len(ga)
    p_out = np.full(n_d, "", object)
    p_partner = np.full(n_d, -1, np.int64)
    p_iou = np.full(n_d, np.nan)
    g_out = np.full(n_g, "", object)
    g_partner = np.full(n_g, -1, np.int64)
    if coco is not None:
        m, ign = coco.dt_match[t], coco.dt_ignored[t]
        g_id = ga.id[coco.gt_rows]
        counted = (m >= 0) & (take(g_id, m) != 0)
        p_out[coco.dt_rows] = np.where(ign, "ignored", np.where(counted, "TP", "FP"))
        p_partner[coco.dt_rows] = take(coco.gt_rows, m)
        p_iou[coco.dt_rows] = coco.dt_iou[t]
        gm = coco.gt_match[t]
        g_out[coco.gt_rows] = np.where(coco.gt_ignored[t], "ignored", np.where(gm >= 0, "TP", "FN"))
        g_partner[coco.gt_rows] = take(coco.dt_rows, gm)
    else:
        p_out[voc.dt_rows] = np.where(voc.dt_outcome == 1, "TP",
                                      np.where(voc.dt_outcome == 0, "FP", "ignored"))
        tp = voc.dt_outcome == 1
        p_partner[voc.dt_rows[tp]] = voc.dt_gt[tp]
        p_iou[voc.dt_rows] = voc.dt_iou
        from .voc_eval import difficult_of
        diff = difficult_of(gt)
        g_out[:] = np.where(diff, "ignored", "FN")
        g_out[voc.dt_gt[tp]] = "TP"
        g_partner[voc.dt_gt[tp]] = voc.dt_rows[tp]
    g_out[ga.is_label] = ""
    # the overlap with any class (same image), for telling wrong classes from missing labels
    from .matching import all_pairs, group_ranges
    from .voc_eval import pair_iou_xyxy
    g_rows = np.argsort(ga.image_index, kind="stable")
    g_start, g_count = group_ranges(ga.image_index[g_rows], len(gt.images))
    pd, pg = all_pairs(da.image_index, g_start, g_count)
    ov = pair_iou_xyxy(da.xyxy[pd], ga.xyxy[g_rows[pg]]) if len(pd) else np.zeros(0)
    best_any = np.full(n_d, -1, np.int64)
    best_any_iou = np.zeros(n_d)
    if len(pd):
        o = np.lexsort((-ov, pd))
        first = o[np.concatenate([[True], np.diff(pd[o]) != 0])]
        best_any[pd[first]] = g_rows[pg[first]]
        best_any_iou[pd[first]] = ov[first]
    return {"pred_outcome": p_out, "pred_partner": p_partner, "pred_iou": p_iou,
            "gt_outcome": g_out, "gt_partner": g_partner, "best_gt_any": best_any,
            "best_gt_any_iou": best_any_iou}


def _class_table(gt: Dataset, pred: Dataset, objects: dict, confidence: float
                 ) -> dict[str, dict[str, float]]:
    """Per class: objects, predictions, P/R/F1 at `confidence`, and the best-F1 confidence."""
    da, ga = pred.annotations, gt.annotations
    names = gt.categories.names
    out = {}
    score = da.score if da.score is not None else np.zeros(len(da))
    p_out = objects["pred_outcome"]
    counted = np.flatnonzero((p_out == "TP") | (p_out == "FP"))
    # one sort for every class: class, then descending score, then row
    counted = counted[np.lexsort((counted, -score[counted], da.category_id[counted]))]
    cls_sorted = da.category_id[counted]
    is_tp = (p_out[counted] == "TP").astype(float)
    g_counted = np.isin(objects["gt_outcome"], ("TP", "FN"))
    n_gt_of = dict(zip(*np.unique(ga.category_id[g_counted], return_counts=True)))
    for c in gt.categories:
        label = c.name if names.count(c.name) == 1 else f"{c.name}#{c.id}"
        lo, hi = np.searchsorted(cls_sorted, [c.id, c.id + 1])
        tp, sc = is_tp[lo:hi], score[counted[lo:hi]]
        n_gt = int(n_gt_of.get(c.id, 0))
        p, r, f1 = prf_at(tp, sc, n_gt, confidence)
        best_c, best = best_f1(tp, sc, n_gt)
        out[label] = {"objects": n_gt, "predictions": int(hi - lo), "precision": p,
                      "recall": r, "f1": f1, "best_f1": best, "best_f1_confidence": best_c}
    return out
