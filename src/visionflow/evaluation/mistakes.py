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
    tagged: list[dict[str, Any]] | None = None  # vf.find_mistakes(tag=): each source revised
    report: Any = None                # vf.find_mistakes(out=): the write's Report

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


def tag_in_workspace(ws: Any, gt: Any, rows: np.ndarray, tag: str, *, ref: str | None = None,
                     folder: Any = None) -> list[dict[str, Any]]:
    """Tag `gt`'s images at `rows` in a NEW revision of each workspace source they come from
    (versions and revisions are immutable; `ws.add_revision`), adding `tag` to the image
    attribute "tags" that `Dataset.filter(tag=...)` reads; tags already there are kept.

    gt is version `ref`, source revision `ref` ('name@N'), or the dataset folder `folder` a
    source was imported from. Images are matched by file name (by content hash too where a
    name is in several splits); one the sources' latest revisions lack is an error, not a skip.
    """
    from pathlib import Path

    from ..core.errors import Error
    if not tag.strip() or tag != tag.strip():
        raise Error(f"--tag {tag!r}: a tag must be a non-empty name without surrounding spaces")
    if ref is not None and "@" in ref:
        names = [ref.partition("@")[0]]
    elif ref is not None:
        names = [s["name"] for s in ws.version(ref)["lineage"]["sources"]]
    else:
        where = str(Path(folder).absolute())
        names = [s["name"] for s in ws.sources()
                 if any(r["origin"].get("path") == where for r in s["revisions"])]
        if not names:
            raise Error(f"{folder}: not a source of workspace {ws.root} (its sources: "
                        f"{', '.join(s['name'] for s in ws.sources()) or 'none'}); pass a "
                        "version or SOURCE@N as GT with -w, or 'visionflow add' the folder")
    wanted = [(str(gt.images.file_name[i]), ws.store.sha_of_path(gt.images.path[i])
               if gt.images.path[i] is not None else None) for i in rows.tolist()]
    found = [False] * len(wanted)
    plans = []
    for name in names:
        src = ws.load(f"{name}@latest")
        by_name: dict[str, list[int]] = {}
        for r, fn in enumerate(src.images.file_name.tolist()):
            by_name.setdefault(str(fn), []).append(r)
        hit: set[int] = set()
        for k, (fn, sha) in enumerate(wanted):
            cand = by_name.get(fn, [])
            if len(cand) > 1 and sha is not None:
                cand = [r for r in cand if ws.store.sha_of_path(src.images.path[r]) == sha]
            if cand:
                found[k] = True
                hit.update(cand)
        plans.append((name, src, sorted(hit)))
    missing = [fn for (fn, _), f in zip(wanted, found) if not f]
    if missing:
        raise Error(f"{len(missing)} of {len(wanted)} images to tag are not in the latest "
                    f"revision of {', '.join(names)} (e.g. {missing[0]!r}); nothing was tagged")
    out = []
    for name, src, hit in plans:
        if not hit:
            continue
        old = src.images.attrs.get("tags")
        col = np.empty(len(src.images), object)
        for r in range(len(src.images)):
            v = None if old is None else old[r]
            tags = [] if v is None else [v] if isinstance(v, str) else list(v)
            if r in hit and tag not in tags:
                tags.append(tag)
            col[r] = tags or (None if v is None else v)
        images = src.images.replace(attrs={**src.images.attrs, "tags": col})
        result = ws.add_revision(name, src.replace(images=images), origin={
            "mistakes": {"tag": tag, "images": len(hit), "from": ref or str(folder)}})
        out.append({"source": name, "revision": result.revision, "tagged": len(hit),
                    "unchanged": result.unchanged})
    return out
