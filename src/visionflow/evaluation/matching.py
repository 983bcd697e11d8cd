"""Greedy COCO matching of every (image, class) group at once.

pycocotools matches one image and class at a time in Python loops (evaluateImg). The rule is
sequential only inside a group: detections, best score first, each take the best still-free
ground truth. So the loop here runs over a detection's rank inside its group (at most maxDets
steps), and each step handles that rank's detection of every group, every IoU threshold and
every area range in whole-array operations. Only pairs that can match (IoU >= the lowest
threshold) are ever held, so memory follows the overlaps, not images x detections x objects.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..core.annotations import ranges  # concatenated aranges, shared with the polygon code


@dataclass(frozen=True)
class Pairs:
    """Candidate (detection, ground truth) pairs inside one (image, class) group.

    d, g index the sorted detection and ground-truth tables; iou is their overlap (IoU, mask IoU
    or OKS). Only pairs with iou at or above the lowest threshold need to be present.
    """

    d: np.ndarray
    g: np.ndarray
    iou: np.ndarray


def group_ranges(sorted_keys: np.ndarray, n_groups: int) -> tuple[np.ndarray, np.ndarray]:
    """Start and count of each group id 0..n_groups-1 in an array sorted by group id."""
    starts = np.searchsorted(sorted_keys, np.arange(n_groups), side="left")
    ends = np.searchsorted(sorted_keys, np.arange(n_groups), side="right")
    return starts, ends - starts


def all_pairs(d_group: np.ndarray, g_start: np.ndarray, g_count: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    """Every (detection, ground truth) pair of the same group (ground truths sorted by group)."""
    counts = g_count[d_group]
    d = np.repeat(np.arange(len(d_group), dtype=np.int64), counts)
    return d, ranges(g_start[d_group], counts)


def greedy_match(pairs: Pairs, d_rank: np.ndarray, thresholds: np.ndarray,
                 g_ignore: np.ndarray, g_crowd: np.ndarray) -> np.ndarray:
    """COCOeval.evaluateImg's matching for every column at once.

    thresholds: (C,) IoU threshold per column (already capped at 1 - 1e-10 as COCOeval does);
    g_ignore: (C, n_gt) ignore flag of each ground truth in that column (crowd, out of the area
    range); g_crowd: (n_gt,) crowd regions, which any number of detections may match.
    Returns (C, n_dt) the matched ground-truth index, -1 where none.

    Per detection, in rank order: among free ground truths with iou >= threshold, the
    non-ignored ones win over ignored ones; then the highest IoU; on equal IoU the later ground
    truth (COCOeval's `<` comparison keeps replacing). Detections in the same rank of different
    groups never compete, so a rank is one vectorised step.
    """
    n_cols = len(thresholds)
    n_dt = len(d_rank)
    n_gt = g_ignore.shape[1]
    match = np.full((n_cols, n_dt), -1, np.int64)
    if not len(pairs.d):
        return match
    rank = d_rank[pairs.d]
    # rank, then detection, then IoU, then ground-truth position: the last candidate of a
    # detection's run is the one COCOeval keeps.
    order = np.lexsort((pairs.g, pairs.iou, pairs.d, rank))
    pd, pg, piou, prank = pairs.d[order], pairs.g[order], pairs.iou[order], rank[order]
    taken = np.zeros((n_cols, n_gt), bool)
    bounds = np.flatnonzero(np.diff(prank)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(pd)]])
    for s, e in zip(starts.tolist(), ends.tolist()):
        d, g, iou = pd[s:e], pg[s:e], piou[s:e]
        free = ~taken[:, g] | g_crowd[g]                      # (C, P)
        cand = free & (iou[None, :] >= thresholds[:, None])
        ign = g_ignore[:, g]
        pos = np.arange(e - s)
        seg = np.concatenate([[0], np.flatnonzero(np.diff(d)) + 1])
        best_real = np.maximum.reduceat(np.where(cand & ~ign, pos, -1), seg, axis=1)
        best_ign = np.maximum.reduceat(np.where(cand & ign, pos, -1), seg, axis=1)
        best = np.where(best_real >= 0, best_real, best_ign)  # (C, groups in this rank)
        c_idx, s_idx = np.nonzero(best >= 0)
        chosen = best[c_idx, s_idx]
        match[c_idx, d[seg[s_idx]]] = g[chosen]
        taken[c_idx, g[chosen]] = True
    return match


def take(values: np.ndarray, index: np.ndarray, fill=-1) -> np.ndarray:
    """values[index] where index >= 0, `fill` elsewhere (safe when values is empty)."""
    index = np.asarray(index)
    out = np.full(index.shape, fill, dtype=np.result_type(values.dtype, np.min_scalar_type(fill))
                  if values.dtype != object else object)
    ok = index >= 0
    out[ok] = values[index[ok]]
    return out
