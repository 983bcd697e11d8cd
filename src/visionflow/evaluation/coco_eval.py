"""COCO detection metrics, number for number as pycocotools' COCOeval computes them.

Same rules, same quirks, so a model's AP here is the AP its paper reports:
- images in ascending id order, classes in ascending id order; detections per image and class
  sorted by score (stable: file order breaks ties) and cut at the largest maxDets;
- a ground truth is ignored when it is a crowd region (keypoints: also when it has no visible
  keypoint) or its `area` (COCO's stored value, not the box's) is outside the area range; crowd
  regions may be matched by any number of detections and are measured against the
  detection's own area;
- precision is made monotone from the right and read at 101 recall points; an entry is -1 when
  the class has no (non-ignored) ground truth, and means skip -1;
- a detection matched to a ground truth whose annotation id is 0 counts as unmatched, as in
  COCOeval (which stores the id and tests it for zero) -- Roboflow exports number from 0.

Box IoU is pycocotools' own formula in numpy; mask IoU uses pycocotools.mask (the `eval`
extra) because only its rasteriser gives the same pixels; keypoints use OKS.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.dataset import Dataset
from ..core.errors import ValidationError
from .matching import Pairs, all_pairs, greedy_match, group_ranges

COCO_SIGMAS = np.array([.26, .25, .25, .35, .35, .79, .79, .72, .72, .62, .62, 1.07, 1.07, .87,
                        .87, .89, .89]) / 10.0
IOU_TYPES = ("bbox", "segm", "keypoints")
_BOX_KEYS = ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100", "ARs", "ARm",
             "ARl")
_KP_KEYS = ("AP", "AP50", "AP75", "APm", "APl", "AR", "AR50", "AR75", "ARm", "ARl")


def coco_iou_thresholds() -> np.ndarray:
    """[.5:.05:.95] exactly as COCOeval builds it (linspace, so 0.55 is linspace's 0.55)."""
    return np.linspace(.5, 0.95, int(np.round((0.95 - .5) / .05)) + 1, endpoint=True)


@dataclass(frozen=True)
class Params:
    """COCOeval.Params: thresholds, recall points, max detections and area ranges."""

    iou_type: str = "bbox"
    iou_thrs: np.ndarray = field(default_factory=coco_iou_thresholds)
    rec_thrs: np.ndarray = field(default_factory=lambda: np.linspace(
        .0, 1.00, int(np.round((1.00 - .0) / .01)) + 1, endpoint=True))
    max_dets: tuple[int, ...] = (1, 10, 100)
    area_rng: tuple[tuple[float, float], ...] = ((0, 1e5 ** 2), (0, 32 ** 2), (32 ** 2, 96 ** 2),
                                                 (96 ** 2, 1e5 ** 2))
    area_lbl: tuple[str, ...] = ("all", "small", "medium", "large")
    sigmas: np.ndarray | None = None

    @classmethod
    def for_type(cls, iou_type: str = "bbox", iou_thrs: Any = None,
                 sigmas: Any = None) -> Params:
        if iou_type not in IOU_TYPES:
            raise ValidationError("evaluate", f"unknown IoU type {iou_type!r} "
                                  f"(known: {', '.join(IOU_TYPES)})")
        thrs = (coco_iou_thresholds() if iou_thrs is None
                else np.asarray(iou_thrs, float).reshape(-1))
        if not len(thrs) or not np.all((thrs > 0) & (thrs <= 1)):
            raise ValidationError("evaluate",
                                  f"IoU thresholds must be in (0, 1], got {thrs.tolist()}")
        if iou_type == "keypoints":
            return cls(iou_type, thrs, max_dets=(20,),
                       area_rng=((0, 1e5 ** 2), (32 ** 2, 96 ** 2), (96 ** 2, 1e5 ** 2)),
                       area_lbl=("all", "medium", "large"),
                       sigmas=None if sigmas is None else np.asarray(sigmas, float))
        return cls(iou_type, thrs)


@dataclass(frozen=True)
class _Side:
    """One side's objects sorted by (image, class[, -score]), as COCOeval visits them."""

    rows: np.ndarray     # row in the dataset's annotations table
    group: np.ndarray    # dense (image, class) group number
    img: np.ndarray      # image position (ascending id)
    cat: np.ndarray      # class position (ascending id)
    area: np.ndarray
    xywh: np.ndarray


@dataclass(frozen=True)
class CocoEval:
    """The result: COCOeval's eval arrays, its summary numbers, and every object's match.

    precision (T, R, K, A, M) and recall (T, K, A, M) are COCOeval.eval['precision'/'recall'];
    stats the summary (AP, AP50, ... in pycocotools' order); per_class the same keys per class.
    dt_rows / gt_rows are rows of the prediction / ground-truth annotations in evaluation order;
    dt_match (T, n_dt) and gt_match (T, n_gt) hold the partner's position in the other table
    (-1 = none) for area range "all" at each IoU threshold; dt_iou the IoU with that partner;
    dt_ignored / gt_ignored mark objects COCO does not count (crowd regions and their matches).
    """

    params: Params
    category_ids: list[int]
    category_names: list[str]
    precision: np.ndarray
    recall: np.ndarray
    scores: np.ndarray
    stats: dict[str, float]
    per_class: dict[str, dict[str, float]]
    dt_rows: np.ndarray
    gt_rows: np.ndarray
    dt_match: np.ndarray
    gt_match: np.ndarray
    dt_iou: np.ndarray
    dt_ignored: np.ndarray
    gt_ignored: np.ndarray

    def stats_list(self) -> list[float]:
        """COCOeval.stats, in its order."""
        return list(self.stats.values())


def evaluate_coco(gt: Dataset, pred: Dataset, iou_type: str = "bbox", *,
                  params: Params | None = None) -> CocoEval:
    """COCO metrics of `pred` against `gt`.

    pred must already be aligned to gt (same image rows, gt's category ids): see
    `visionflow.evaluation.align`, which `visionflow.evaluate` calls for you.
    """
    p = params or Params.for_type(iou_type)
    if len(pred.images) != len(gt.images):
        raise ValidationError("evaluate", "predictions are not aligned to the ground truth's images"
                              " (use visionflow.evaluation.align)")
    cat_ids = sorted(gt.categories.ids)
    n_cat = len(cat_ids)
    img_pos = np.empty(len(gt.images), np.int64)
    img_pos[np.argsort(gt.images.id, kind="stable")] = np.arange(len(gt.images))
    cat_lookup = {c: k for k, c in enumerate(cat_ids)}

    g_keep = _objects_of(gt, p.iou_type, "ground truth")
    d_keep = _objects_of(pred, p.iou_type, "predictions")
    ga, da = gt.annotations, pred.annotations
    if da.score is None and len(d_keep):
        raise ValidationError("predictions", "no detection has a score; COCO AP ranks detections "
                              "by confidence")
    g_img = img_pos[ga.image_index[g_keep]]
    g_cat = _cat_pos(ga.category_id[g_keep], cat_lookup, "ground truth")
    d_img = img_pos[da.image_index[d_keep]]
    d_cat = _cat_pos(da.category_id[d_keep], cat_lookup, "predictions")
    d_score = da.score[d_keep] if len(d_keep) else np.zeros(0)
    if np.isnan(d_score).any():
        j = int(d_keep[np.flatnonzero(np.isnan(d_score))[0]])
        raise ValidationError("predictions", f"detection {int(da.id[j])} has no score")

    g_order = np.lexsort((g_keep, g_cat, g_img))
    d_order = np.lexsort((d_keep, -d_score, d_cat, d_img))
    g_rows, d_rows = g_keep[g_order], d_keep[d_order]
    g_img, g_cat = g_img[g_order], g_cat[g_order]
    d_img, d_cat, d_score = d_img[d_order], d_cat[d_order], d_score[d_order]
    g_key = g_img * n_cat + g_cat
    d_key = d_img * n_cat + d_cat
    keys = np.unique(np.concatenate([g_key, d_key]))
    g_group = np.searchsorted(keys, g_key)
    d_group = np.searchsorted(keys, d_key)
    d_start, _ = group_ranges(d_group, len(keys))
    d_rank = np.arange(len(d_group)) - d_start[d_group]
    cut = d_rank < p.max_dets[-1]
    d_rows, d_img, d_cat, d_score, d_group, d_rank = (
        a[cut] for a in (d_rows, d_img, d_cat, d_score, d_group, d_rank))

    g_crowd = (ga.iscrowd[g_rows].astype(bool) if ga.iscrowd is not None
               else np.zeros(len(g_rows), bool))
    g_ign_base = g_crowd.copy()
    g_xywh = _xywh(ga.xyxy[g_rows])
    d_xywh = _xywh(da.xyxy[d_rows])
    g_start, g_count = group_ranges(g_group, len(keys))
    pd, pg = all_pairs(d_group, g_start, g_count)
    if p.iou_type == "bbox":
        g_box_area = g_xywh[:, 2] * g_xywh[:, 3]
        d_box_area = _stored_area(pred, d_rows, d_xywh[:, 2] * d_xywh[:, 3]) \
            if pred.meta.get("coco.det_area") == "bbox" else d_xywh[:, 2] * d_xywh[:, 3]
        g_area, d_area = _stored_area(gt, g_rows, g_box_area), d_box_area
        iou = box_iou_pairs(da.xyxy[d_rows[pd]], ga.xyxy[g_rows[pg]], d_box_area[pd],
                            g_box_area[pg], g_crowd[pg])
    elif p.iou_type == "segm":
        g_rle, d_rle = _rles(gt, g_rows), _rles(pred, d_rows)
        g_area = _stored_area(gt, g_rows, _mask_area(g_rle))
        d_area = _mask_area(d_rle)
        iou = _mask_iou_pairs(pd, pg, d_group, g_start, g_count, d_rle, g_rle, g_crowd)
    else:
        g_kp, d_kp = _keypoints(ga, g_rows), _keypoints(da, d_rows)
        sigmas = p.sigmas if p.sigmas is not None else (
            COCO_SIGMAS if g_kp.shape[1] == 17 else None)
        if sigmas is None or len(sigmas) != g_kp.shape[1]:
            raise ValidationError("evaluate", f"keypoints have {g_kp.shape[1]} points per object; "
                                  "OKS needs one sigma per keypoint (COCO's are for 17)")
        if d_kp.shape[1] != g_kp.shape[1] and len(d_rows):
            raise ValidationError("predictions", f"detections have {d_kp.shape[1]} keypoints, "
                                  f"the ground truth {g_kp.shape[1]}")
        n_vis = _num_keypoints(ga, g_rows, g_kp)
        g_ign_base = g_ign_base | (n_vis == 0)
        g_area = _stored_area(gt, g_rows, g_xywh[:, 2] * g_xywh[:, 3])
        xs, ys = d_kp[:, :, 0], d_kp[:, :, 1]
        d_area = ((xs.max(axis=1) - xs.min(axis=1)) * (ys.max(axis=1) - ys.min(axis=1))
                  if len(d_rows) else np.zeros(0))
        iou = oks_pairs(d_kp[pd], g_kp[pg], g_xywh[pg], g_area[pg], sigmas)

    if pred.meta.get("coco.det_area", "bbox") == "bbox":
        d_area = d_xywh[:, 2] * d_xywh[:, 3]      # COCO.loadRes: a box's w*h whatever the type
    d_area = _stored_area(pred, d_rows, d_area)  # the results file's own w*h where it had one
    thr = np.minimum(p.iou_thrs, 1 - 1e-10)
    keep = iou >= thr.min()
    pairs = Pairs(pd[keep], pg[keep], iou[keep])
    n_t, n_a = len(thr), len(p.area_rng)
    lo = np.array([a[0] for a in p.area_rng], float)
    hi = np.array([a[1] for a in p.area_rng], float)
    g_out = (g_area[None, :] < lo[:, None]) | (g_area[None, :] > hi[:, None])     # (A, n_gt)
    d_out = (d_area[None, :] < lo[:, None]) | (d_area[None, :] > hi[:, None])     # (A, n_dt)
    g_ign = g_ign_base[None, :] | g_out                                             # (A, n_gt)
    cols_ign = np.repeat(g_ign, n_t, axis=0)                                        # (A*T, n_gt)
    match = greedy_match(pairs, d_rank, np.tile(thr, n_a), cols_ign, g_crowd)
    match = match.reshape(n_a, n_t, len(d_rows))

    g_id = ga.id[g_rows]
    has = match >= 0
    safe = np.where(has, match, 0)
    counted = has & (g_id[safe] != 0) if len(g_rows) else has        # COCOeval's id-0 quirk
    d_ign = np.where(has, np.take_along_axis(np.repeat(g_ign[:, None, :], n_t, 1), safe, 2)
                     if len(g_rows) else False, False)
    d_ign = d_ign | (~counted & d_out[:, None, :])
    tps = counted & ~d_ign
    fps = ~counted & ~d_ign

    precision, recall, scores = _accumulate(p, n_cat, d_cat, d_img, d_rank, d_score, tps, fps,
                                            g_cat, g_ign)
    names = [gt.categories.by_id(c).name for c in cat_ids]
    stats = _summarize(p, precision, recall)
    labels = _class_labels(names, cat_ids)
    per_class = {labels[k]: _summarize(p, precision[:, :, k:k + 1], recall[:, k:k + 1])
                 for k in range(n_cat)}

    dt_match_all = match[0]                                                         # area "all"
    gt_match_all = np.full((n_t, len(g_rows)), -1, np.int64)
    t_idx, d_idx = np.nonzero(dt_match_all >= 0)
    gt_match_all[t_idx, dt_match_all[t_idx, d_idx]] = d_idx
    # the partner's IoU, from the candidate pairs (a match always is one)
    dt_iou = np.full((n_t, len(d_rows)), np.nan)
    if len(pairs.d):
        pair_key = pairs.d * max(len(g_rows), 1) + pairs.g
        order = np.argsort(pair_key)
        want = d_idx * max(len(g_rows), 1) + dt_match_all[t_idx, d_idx]
        dt_iou[t_idx, d_idx] = pairs.iou[order[np.searchsorted(pair_key[order], want)]]
    return CocoEval(p, cat_ids, names, precision, recall, scores, stats, per_class, d_rows, g_rows,
                    dt_match_all, gt_match_all, dt_iou, d_ign[0], np.repeat(g_ign[:1], n_t, 0))


def _class_labels(names: list[str], ids: list[int]) -> list[str]:
    """Class names as keys; a name used by several ids (real exports do this) gets its id."""
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    return [n if seen[n] == 1 else f"{n}#{i}" for n, i in zip(names, ids)]


def _objects_of(ds: Dataset, iou_type: str, side: str) -> np.ndarray:
    """Rows that take part: objects, not image-level labels; for masks, every one has a mask."""
    ann = ds.annotations
    rows = np.flatnonzero(~ann.is_label) if len(ann) else np.zeros(0, np.int64)
    if iou_type == "segm" and len(rows):
        masked = ann.has_polygon() | ann.has_rle()
        missing = rows[~masked[rows]]
        if len(missing):
            raise ValidationError(side, f"annotation {int(ann.id[missing[0]])} has no polygon or "
                                  f"mask ({len(missing)} such); mask AP needs masks on both sides "
                                  "(evaluate boxes with --iou-type bbox)")
    if iou_type == "keypoints" and ann.keypoints is None and len(rows):
        raise ValidationError(side, "no keypoints; keypoint AP (OKS) needs keypoints on both sides")
    bad = rows[~np.isfinite(ann.xyxy[rows]).all(axis=1) |
               (ann.xyxy[rows, 2] < ann.xyxy[rows, 0]) | (ann.xyxy[rows, 3] < ann.xyxy[rows, 1])]
    if len(bad):
        raise ValidationError(side, f"annotation {int(ann.id[bad[0]])} has an invalid box "
                              f"{ann.xyxy[bad[0]].tolist()} (NaN or negative size)")
    return rows


def _cat_pos(cat_id: np.ndarray, lookup: dict[int, int], side: str) -> np.ndarray:
    ids = np.array(sorted(lookup), np.int64)
    pos = np.searchsorted(ids, cat_id)
    ok = (pos < len(ids)) & (ids[np.minimum(pos, len(ids) - 1)] == cat_id) if len(ids) else \
        np.zeros(len(cat_id), bool)
    if not ok.all():
        raise ValidationError(side, f"category id {int(cat_id[~ok][0])} is not a ground-truth "
                              f"category (known: {ids.tolist()[:20]})")
    return pos


def _xywh(xyxy: np.ndarray) -> np.ndarray:
    out = xyxy.copy()
    out[:, 2:] -= xyxy[:, :2]
    return out


def _stored_area(ds: Dataset, rows: np.ndarray, computed: np.ndarray) -> np.ndarray:
    """COCO's stored `area` where the source had one (COCOeval uses it), else the computed."""
    col = ds.annotations.attrs.get("coco.area")
    if col is None or not len(rows):
        return np.asarray(computed, float)
    out = col[rows].astype(float)                       # None becomes NaN
    missing = np.isnan(out)
    out[missing] = np.asarray(computed, float)[missing]
    return out


def box_iou_pairs(d: np.ndarray, g: np.ndarray, d_area: np.ndarray, g_area: np.ndarray,
                  crowd: np.ndarray) -> np.ndarray:
    """IoU of box pairs, pycocotools' bbIou operation for operation (crowd: over d's area).

    d, g: xyxy, whose right/bottom edges are COCO's x + w exactly as bbIou forms them; d_area,
    g_area: w * h (the file's own numbers where known).
    """
    w = np.minimum(d[:, 2], g[:, 2]) - np.maximum(d[:, 0], g[:, 0])
    h = np.minimum(d[:, 3], g[:, 3]) - np.maximum(d[:, 1], g[:, 1])
    inter = w * h
    union = np.where(crowd, d_area, d_area + g_area - inter)
    ok = (w > 0) & (h > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(ok, inter / np.where(ok, union, 1.0), 0.0)


def oks_pairs(d_kp: np.ndarray, g_kp: np.ndarray, g_xywh: np.ndarray, g_area: np.ndarray,
              sigmas: np.ndarray) -> np.ndarray:
    """COCOeval.computeOks for (detection, ground truth) pairs."""
    if not len(d_kp):
        return np.zeros(0)
    var = (sigmas * 2) ** 2
    xg, yg, vg = g_kp[:, :, 0], g_kp[:, :, 1], g_kp[:, :, 2]
    xd, yd = d_kp[:, :, 0], d_kp[:, :, 1]
    vis = vg > 0
    k1 = vis.sum(axis=1)
    x0 = (g_xywh[:, 0] - g_xywh[:, 2])[:, None]
    x1 = (g_xywh[:, 0] + g_xywh[:, 2] * 2)[:, None]
    y0 = (g_xywh[:, 1] - g_xywh[:, 3])[:, None]
    y1 = (g_xywh[:, 1] + g_xywh[:, 3] * 2)[:, None]
    some = (k1 > 0)[:, None]
    z = np.zeros_like(xd)
    dx = np.where(some, xd - xg, np.maximum(z, x0 - xd) + np.maximum(z, xd - x1))
    dy = np.where(some, yd - yg, np.maximum(z, y0 - yd) + np.maximum(z, yd - y1))
    e = (dx ** 2 + dy ** 2) / var / (g_area[:, None] + np.spacing(1)) / 2
    ex = np.exp(-e)
    out = np.empty(len(d_kp))
    for k in np.unique(k1).tolist():   # np.sum over exactly COCOeval's elements, in its order
        sel = k1 == k
        out[sel] = (np.sum(ex[sel], axis=1) / ex.shape[1] if k == 0 else
                    np.array([np.sum(r[m]) for r, m in zip(ex[sel], vis[sel])]) / k)
    return out


def _keypoints(ann, rows: np.ndarray) -> np.ndarray:
    if ann.keypoints is None:
        return np.zeros((len(rows), 0, 3))
    kp = ann.keypoints[rows]
    return np.where(np.isnan(kp), 0.0, kp)   # no keypoints = COCO's all-zero list


def _num_keypoints(ann, rows: np.ndarray, kp: np.ndarray) -> np.ndarray:
    col = ann.attrs.get("coco.num_keypoints")
    counted = (kp[:, :, 2] > 0).sum(axis=1)
    if col is None:
        return counted
    stored = col[rows]
    return np.array([int(s) if s is not None else int(c) for s, c in zip(stored, counted)],
                    np.int64)


def _rles(ds: Dataset, rows: np.ndarray) -> list:
    """pycocotools RLEs of each object, as COCO.annToRLE builds them (polygons merged)."""
    try:
        from pycocotools import mask as mask_utils
    except ImportError as e:  # pragma: no cover - depends on the installation
        from ..core.errors import Error
        raise Error("mask AP needs pycocotools: pip install 'visionflow[eval]'") from e
    ann, imgs = ds.annotations, ds.images
    out = []
    polys = ann.polygons
    for r in rows.tolist():
        h, w = int(imgs.height[ann.image_index[r]]), int(imgs.width[ann.image_index[r]])
        rle = ann.rle[r] if ann.rle is not None else None
        if rle is not None:
            if isinstance(rle.get("counts"), list):
                rle = mask_utils.frPyObjects(rle, *rle.get("size", (h, w)))
            elif isinstance(rle.get("counts"), str):
                rle = {"size": rle["size"], "counts": rle["counts"].encode()}
            out.append(rle)
            continue
        # as COCO.annToRLE: the rings as they are (its quirks included), merged
        rings = [ring.reshape(-1).tolist() for ring in polys.rings(r)]
        out.append(mask_utils.merge(mask_utils.frPyObjects(rings, h, w)))
    return out


def _mask_area(rles: list) -> np.ndarray:
    """pycocotools.mask.area, 255 at a time (with numpy 2 it overflows a uint8 beyond that)."""
    from pycocotools import mask as mask_utils
    return np.concatenate([np.zeros(0)] + [np.asarray(mask_utils.area(rles[i:i + 255]), float)
                                           for i in range(0, len(rles), 255)])


def _mask_iou_pairs(pd, pg, d_group, g_start, g_count, d_rle, g_rle, g_crowd) -> np.ndarray:
    """Mask IoU per (image, class) group with pycocotools.mask.iou, scattered to the pairs."""
    from pycocotools import mask as mask_utils
    iou = np.zeros(len(pd))
    if not len(pd):
        return iou
    bounds = np.flatnonzero(np.diff(pd) != 0) + 1
    d_first = np.concatenate([[0], bounds])                 # pairs of one detection are adjacent
    det_of_seg = pd[d_first]
    groups = d_group[det_of_seg]
    gb = np.concatenate([[0], np.flatnonzero(np.diff(groups)) + 1, [len(groups)]])
    for a, b in zip(gb[:-1].tolist(), gb[1:].tolist()):
        dets = det_of_seg[a:b]
        grp = groups[a]
        g0, gn = int(g_start[grp]), int(g_count[grp])
        m = np.asarray(mask_utils.iou([d_rle[i] for i in dets.tolist()], g_rle[g0:g0 + gn],
                                      [int(c) for c in g_crowd[g0:g0 + gn]]), float)
        m = m.reshape(len(dets), gn)
        p0 = d_first[a]
        p1 = d_first[b] if b < len(d_first) else len(pd)
        iou[p0:p1] = m.reshape(-1)
    return iou


def _accumulate(p: Params, n_cat: int, d_cat, d_img, d_rank, d_score, tps, fps, g_cat, g_ign):
    """COCOeval.accumulate: per class, area range and max detections, PR at 101 recall points."""
    n_t, n_r, n_a, n_m = len(p.iou_thrs), len(p.rec_thrs), len(p.area_rng), len(p.max_dets)
    precision = -np.ones((n_t, n_r, n_cat, n_a, n_m))
    recall = -np.ones((n_t, n_cat, n_a, n_m))
    scores = -np.ones((n_t, n_r, n_cat, n_a, n_m))
    # across images: score, then image order, then rank in the image (COCOeval's mergesort of
    # the per-image lists concatenated in image order)
    order = np.lexsort((d_rank, d_img, -d_score, d_cat))
    d_cat_s = d_cat[order]
    starts, counts = group_ranges(d_cat_s, n_cat)
    npig = np.zeros((n_a, n_cat), np.int64)
    for a in range(n_a):
        npig[a] = np.bincount(g_cat[~g_ign[a]], minlength=n_cat)
    rank_s, score_s = d_rank[order], d_score[order]
    for k in range(n_cat):
        sl = order[starts[k]:starts[k] + counts[k]]
        rk, sc = rank_s[starts[k]:starts[k] + counts[k]], score_s[starts[k]:starts[k] + counts[k]]
        for a in range(n_a):
            if npig[a, k] == 0:
                continue
            tp_a, fp_a = tps[a][:, sl], fps[a][:, sl]
            for m, max_det in enumerate(p.max_dets):
                sel = rk < max_det
                tp_sum = np.cumsum(tp_a[:, sel], axis=1).astype(float)
                fp_sum = np.cumsum(fp_a[:, sel], axis=1).astype(float)
                sc_m = sc[sel]
                nd = tp_sum.shape[1]
                for t in range(n_t):
                    tp, fp = tp_sum[t], fp_sum[t]
                    rc = tp / npig[a, k]
                    pr = tp / (fp + tp + np.spacing(1))
                    recall[t, k, a, m] = rc[-1] if nd else 0
                    q = np.zeros(n_r)
                    ss = np.zeros(n_r)
                    if nd:
                        pr = np.maximum.accumulate(pr[::-1])[::-1]
                        inds = np.searchsorted(rc, p.rec_thrs, side="left")
                        ok = inds < nd
                        q[ok] = pr[inds[ok]]
                        ss[ok] = sc_m[inds[ok]]
                    precision[t, :, k, a, m] = q
                    scores[t, :, k, a, m] = ss
    return precision, recall, scores


def _summarize(p: Params, precision: np.ndarray, recall: np.ndarray) -> dict[str, float]:
    """COCOeval.summarize's numbers (mean of entries > -1; -1 when there are none)."""

    def one(ap: bool, iou: float | None = None, area: str = "all", max_det: int | None = None):
        max_det = p.max_dets[-1] if max_det is None else max_det
        a = [i for i, lbl in enumerate(p.area_lbl) if lbl == area]
        m = [i for i, d in enumerate(p.max_dets) if d == max_det]
        if ap:
            s = precision
            if iou is not None:
                s = s[np.where(iou == p.iou_thrs)[0]]
            s = s[:, :, :, a, m]
        else:
            s = recall
            if iou is not None:
                s = s[np.where(iou == p.iou_thrs)[0]]
            s = s[:, :, a, m]
        return -1.0 if len(s[s > -1]) == 0 else float(np.mean(s[s > -1]))

    if p.iou_type == "keypoints":
        vals = (one(True), one(True, .5), one(True, .75), one(True, area="medium"),
                one(True, area="large"), one(False), one(False, .5), one(False, .75),
                one(False, area="medium"), one(False, area="large"))
        return dict(zip(_KP_KEYS, vals))
    md = p.max_dets
    vals = (one(True), one(True, .5, max_det=md[-1]), one(True, .75, max_det=md[-1]),
            one(True, area="small", max_det=md[-1]), one(True, area="medium", max_det=md[-1]),
            one(True, area="large", max_det=md[-1]), one(False, max_det=md[0]),
            one(False, max_det=md[1] if len(md) > 1 else md[0]), one(False, max_det=md[-1]),
            one(False, area="small", max_det=md[-1]), one(False, area="medium", max_det=md[-1]),
            one(False, area="large", max_det=md[-1]))
    return dict(zip(_BOX_KEYS, vals))
