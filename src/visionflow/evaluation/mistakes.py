"""Where to look next: the objects and images most likely to hold a labelling or model mistake.

Kinds, from each prediction's outcome at the evaluation IoU (see `run.object_table`), counting
only predictions at or above the confidence:
- missing_label: a confident prediction that overlaps no ground truth of any class (IoU below
  the evaluation IoU): the object is there and nobody labelled it, or the model hallucinates;
- wrong_class: a confident unmatched prediction that overlaps a ground truth of another class
  at the evaluation IoU or more: one of the two labels is wrong;
- loose_box: a match whose IoU is below `loose_iou`: the box is sloppy (or the model is);
- missed: a ground truth no confident prediction matched.
Weights: score for missing labels, score x IoU for wrong classes, score x (1 - IoU) for loose
boxes, 0.5 for a miss. An image's rank is the sum of its weights; `errors` is its FP + FN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .matching import take
from .run import Evaluation

KINDS = ("missing_label", "wrong_class", "loose_box", "missed")


@dataclass(frozen=True)
class Mistakes:
    objects: list[dict[str, Any]]     # heaviest first
    images: list[dict[str, Any]]      # highest rank first
    image_rows: np.ndarray            # ground-truth image rows in rank order (with any mistake)

    def to_json(self, top: int | None = None) -> dict[str, Any]:
        return {"images": self.images[:top], "objects": self.objects[:top]}


def find_mistakes(ev: Evaluation, *, confidence: float = 0.5, loose_iou: float = 0.75
                  ) -> Mistakes:
    gt, pred, o = ev.gt, ev.pred, ev.objects
    ga, da = gt.annotations, pred.annotations
    name = {c.id: c.name for c in gt.categories}
    score = da.score if da.score is not None else np.zeros(len(da))
    confident = score >= confidence
    out = o["pred_outcome"]
    rows: list[dict[str, Any]] = []

    def add(kind, img, weight, cls, *, p=-1, g=-1, iou=None, other=None):
        rows.append({"kind": kind, "image": str(gt.images.file_name[img]),
                     "image_id": int(gt.images.id[img]), "class": name.get(int(cls), str(cls)),
                     "weight": float(weight),
                     "score": None if p < 0 else float(score[p]),
                     "iou": None if iou is None or iou != iou else float(iou),
                     "ground_truth_class": other, "prediction_row": int(p),
                     "ground_truth_row": int(g), "_img": int(img)})

    fp = np.flatnonzero(confident & (out == "FP"))
    for p in fp.tolist():
        g, iou = int(o["best_gt_any"][p]), float(o["best_gt_any_iou"][p])
        if g >= 0 and iou >= ev.iou and ga.category_id[g] != da.category_id[p]:
            add("wrong_class", da.image_index[p], score[p] * iou, da.category_id[p], p=p, g=g,
                iou=iou, other=name.get(int(ga.category_id[g])))
        elif g < 0 or iou < ev.iou:
            add("missing_label", da.image_index[p], score[p], da.category_id[p], p=p, g=g,
                iou=iou if g >= 0 else None)
    tp = np.flatnonzero(confident & (out == "TP") & (o["pred_iou"] < loose_iou))
    for p in tp.tolist():
        add("loose_box", da.image_index[p], score[p] * (1 - o["pred_iou"][p]), da.category_id[p],
            p=p, g=int(o["pred_partner"][p]), iou=o["pred_iou"][p])
    partner = o["gt_partner"]
    missed = (o["gt_outcome"] == "FN") | ((o["gt_outcome"] == "TP") &
                                          ~take(confident, partner, False).astype(bool))
    for g in np.flatnonzero(missed).tolist():
        add("missed", ga.image_index[g], 0.5, ga.category_id[g], g=g)
    rows.sort(key=lambda r: (-r["weight"], r["_img"], r["prediction_row"], r["ground_truth_row"]))

    n_img = len(gt.images)
    rank = np.zeros(n_img)
    counts = {k: np.zeros(n_img, np.int64) for k in KINDS}
    for r in rows:
        rank[r["_img"]] += r["weight"]
        counts[r["kind"]][r["_img"]] += 1
    fp_img = np.bincount(da.image_index[confident & (out == "FP")], minlength=n_img)
    fn_img = np.bincount(ga.image_index[missed], minlength=n_img)
    order = np.lexsort((np.arange(n_img), -rank))
    order = order[rank[order] > 0]
    images = [{"image": str(gt.images.file_name[i]), "image_id": int(gt.images.id[i]),
               "rank": float(rank[i]), "errors": int(fp_img[i] + fn_img[i]),
               "false_positives": int(fp_img[i]), "false_negatives": int(fn_img[i]),
               **{k: int(counts[k][i]) for k in KINDS}} for i in order.tolist()]
    for r in rows:
        del r["_img"]
    return Mistakes(rows, images, order)
