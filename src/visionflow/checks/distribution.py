"""Distribution: class imbalance and unused classes, classes missing from a split, images
without annotations, objects too small for the model's input size, extreme aspect ratios,
location bias; and `statistics(ds)`: the numbers behind the report's charts (counts per class
and split, objects per image, image and object sizes, aspect ratios, per-class heatmaps).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.dataset import Dataset
from .config import CheckConfig
from .findings import Builder, CheckFinding, fmt_box
from .geometry import box_validity

_EVAL_SPLITS = ("val", "test")
_LOCATION_MIN_BOXES = 30  # fewer boxes than this say nothing about a location bias


def check_distribution(ds: Dataset, config: CheckConfig) -> list[CheckFinding]:
    return (class_balance(ds, config) + unused_classes(ds, config)
            + classes_missing_from_split(ds, config) + images_without_annotations(ds, config)
            + tiny_objects(ds, config) + extreme_aspect_ratios(ds, config)
            + location_bias(ds, config))


def _class_counts(ds: Dataset) -> dict[int, int]:
    ann = ds.annotations
    ids, counts = np.unique(ann.category_id, return_counts=True)
    have = dict(zip(ids.tolist(), counts.tolist()))
    return {cid: have.get(cid, 0) for cid in ds.categories.ids}


def class_balance(ds: Dataset, config: CheckConfig) -> list[CheckFinding]:
    """Most / fewest annotations per used class; the classes under most / ratio are named."""
    counts = {cid: n for cid, n in _class_counts(ds).items() if n > 0}
    if len(counts) < 2:
        return []
    most, fewest = max(counts.values()), min(counts.values())
    ratio = most / fewest
    if ratio < config.imbalance_ratio:
        return []
    names = {c.id: c.name for c in ds.categories}
    top = max(counts, key=counts.get)
    under = sorted((cid for cid, n in counts.items() if n * config.imbalance_ratio <= most),
                   key=counts.get)
    listed = ", ".join(f"{names[c]!r} ({counts[c]})" for c in under[:10])
    more = f" and {len(under) - 10} more" if len(under) > 10 else ""
    return [Builder(ds).dataset(
        "warning", "class.imbalance",
        f"classes are imbalanced: {names[top]!r} has {most} annotations, {ratio:.1f}x the "
        f"rarest; under-represented (under 1/{config.imbalance_ratio:g} of {names[top]!r}): "
        f"{listed}{more}",
        details={"ratio": round(ratio, 3), "most": {"class": names[top], "count": most},
                 "under_represented": [{"class": names[c], "id": c, "count": counts[c]}
                                       for c in under]})]


def unused_classes(ds: Dataset, config: CheckConfig) -> list[CheckFinding]:
    """Classes defined but never used. A Roboflow-style parent class (its name is the
    supercategory of other classes) is expected to be empty: info, not warning."""
    counts = _class_counts(ds)
    parents = {c.supercategory for c in ds.categories if c.supercategory}
    b = Builder(ds)
    out: list[CheckFinding] = []
    for c in ds.categories:
        if counts.get(c.id, 0):
            continue
        if c.name in parents and any(o.supercategory == c.name and o.id != c.id
                                     for o in ds.categories):
            out.append(b.dataset("info", "class.unused",
                                 f"class {c.name!r} (id {c.id}) has no annotations; it is the "
                                 "parent (supercategory) of other classes",
                                 details={"class": c.name, "id": c.id}))
        else:
            out.append(b.dataset("warning", "class.unused",
                                 f"class {c.name!r} (id {c.id}) is defined but has no "
                                 "annotations", details={"class": c.name, "id": c.id}))
    return out


def classes_missing_from_split(ds: Dataset, config: CheckConfig) -> list[CheckFinding]:
    """A class trained on but never evaluated: present in train, absent from val or test."""
    splits = ds.images.splits()
    if "train" not in splits:
        return []
    counts = _split_class_counts(ds, splits)
    ids = ds.categories.ids
    names = {c.id: c.name for c in ds.categories}
    in_train = {ids[k] for k in np.flatnonzero(counts[splits.index("train")])}
    b = Builder(ds)
    out: list[CheckFinding] = []
    for split in (s for s in splits if s in _EVAL_SPLITS):
        present = {ids[k] for k in np.flatnonzero(counts[splits.index(split)])}
        for cid in [c for c in ids if c in in_train and c not in present]:
            out.append(b.dataset("warning", "split.class_missing",
                                 f"class {names[cid]!r} has annotations in train but none in "
                                 f"{split}", details={"class": names[cid], "split": split}))
    return out


def images_without_annotations(ds: Dataset, config: CheckConfig) -> list[CheckFinding]:
    """One info per split: negatives are often intended, but should be known."""
    annotated = np.zeros(len(ds.images), bool)
    annotated[ds.annotations.image_index] = True
    b = Builder(ds)
    out: list[CheckFinding] = []
    for split in ds.images.splits():
        rows = np.flatnonzero((ds.images.split == split) & ~annotated)
        if not len(rows):
            continue
        total = int((ds.images.split == split).sum())
        where = f" in {split}" if split else ""
        examples = [b.file_name(r) for r in rows[:10]]
        out.append(b.dataset("info", "image.no_annotations",
                             f"{len(rows)} of {total} images{where} have no annotations "
                             f"(e.g. {', '.join(repr(e) for e in examples[:3])})",
                             count=len(rows),
                             details={"split": split, "examples": examples}))
    return out


def resized_sides(ds: Dataset, input_size: int) -> tuple[np.ndarray, np.ndarray]:
    """(w, h) of every box after resizing its image so its longer side is input_size."""
    ann = ds.annotations
    iw = ds.images.width[ann.image_index].astype(np.float64)
    ih = ds.images.height[ann.image_index].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        scale = input_size / np.maximum(iw, ih)
    return ((ann.xyxy[:, 2] - ann.xyxy[:, 0]) * scale, (ann.xyxy[:, 3] - ann.xyxy[:, 1]) * scale)


def tiny_objects(ds: Dataset, config: CheckConfig) -> list[CheckFinding]:
    valid = box_validity(ds, config)["valid"]
    if config.min_size <= 0:
        return []
    sw, sh = resized_sides(ds, config.input_size)
    with np.errstate(invalid="ignore"):
        side = np.minimum(sw, sh)
        rows = np.flatnonzero(valid & (side < config.min_size))
    b = ds.annotations.xyxy
    return Builder(ds).annotations("warning", "box.tiny", rows, (
        f"box {fmt_box(b[r])} is {sw[r]:.1f}x{sh[r]:.1f} px at input size "
        f"{config.input_size} (under {config.min_size:g} px)" for r in rows),
        ({"resized_wh": [round(float(sw[r]), 2), round(float(sh[r]), 2)]} for r in rows))


def extreme_aspect_ratios(ds: Dataset, config: CheckConfig) -> list[CheckFinding]:
    valid = box_validity(ds, config)["valid"]
    b = ds.annotations.xyxy
    w, h = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.maximum(w / h, h / w)
    rows = np.flatnonzero(valid & (ratio > config.max_aspect_ratio))
    return Builder(ds).annotations("warning", "box.extreme_aspect_ratio", rows, (
        f"box {fmt_box(b[r])} is {ratio[r]:.1f} times longer than wide "
        f"(over {config.max_aspect_ratio:g})" for r in rows),
        ({"aspect_ratio": round(float(ratio[r]), 2)} for r in rows))


def location_bias(ds: Dataset, config: CheckConfig) -> list[CheckFinding]:
    """Classes whose box centers gather in one cell of a 3x3 grid over the image (info: a
    detector may learn the place instead of the object)."""
    cx, cy, ok = _centers_norm(ds, config)
    cell = np.clip((cx * 3).astype(np.int64), 0, 2) * 3 + np.clip((cy * 3).astype(np.int64), 0, 2)
    pos = category_positions(ds)
    ok = ok & (pos >= 0)
    names = {c.id: c.name for c in ds.categories}
    where = ["left-top", "left-middle", "left-bottom", "center-top", "center",
             "center-bottom", "right-top", "right-middle", "right-bottom"]
    out: list[CheckFinding] = []
    b = Builder(ds)
    n_cat = len(ds.categories)
    hists = np.bincount(pos[ok] * 9 + cell[ok], minlength=n_cat * 9).reshape(n_cat, 9)
    for k, cid in enumerate(ds.categories.ids):
        hist = hists[k]
        n = int(hist.sum())
        if n < _LOCATION_MIN_BOXES:
            continue
        top = int(hist.argmax())
        share = hist[top] / n
        if share >= config.location_bias:
            out.append(b.dataset("info", "class.location_bias",
                                 f"{100 * share:.0f}% of the {n} {names[cid]!r} boxes are "
                                 f"centered in the {where[top]} ninth of the image",
                                 details={"class": names[cid], "cell": where[top],
                                          "share": round(float(share), 3)}))
    return out


def _centers_norm(ds: Dataset, config: CheckConfig) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    ann = ds.annotations
    iw = ds.images.width[ann.image_index].astype(np.float64)
    ih = ds.images.height[ann.image_index].astype(np.float64)
    valid = box_validity(ds, config)["valid"] & (iw > 0) & (ih > 0)
    with np.errstate(divide="ignore", invalid="ignore"):
        cx = np.nan_to_num((ann.xyxy[:, 0] + ann.xyxy[:, 2]) / 2 / iw)
        cy = np.nan_to_num((ann.xyxy[:, 1] + ann.xyxy[:, 3]) / 2 / ih)
    return np.clip(cx, 0, 1), np.clip(cy, 0, 1), valid


# --- statistics ------------------------------------------------------------------------------

def statistics(ds: Dataset, config: CheckConfig | None = None) -> dict[str, Any]:
    """JSON-able numbers about the dataset: what the report's charts show."""
    config = config or CheckConfig()
    ann, imgs = ds.annotations, ds.images
    names = {c.id: c.name for c in ds.categories}
    splits = imgs.splits()
    n_split, n_cat = len(splits), len(ds.categories)
    split_index = {s: i for i, s in enumerate(splits)}
    split_of_image = np.fromiter((split_index[s] for s in imgs.split.tolist()), np.int64,
                                 len(imgs))
    pos = category_positions(ds)
    known = pos >= 0
    key = split_of_image[ann.image_index[known]] * n_cat + pos[known]
    ann_counts = np.bincount(key, minlength=n_split * n_cat)
    pairs = np.sort(pos[known] * max(1, len(imgs)) + ann.image_index[known])
    pairs = pairs[np.concatenate([[True], pairs[1:] != pairs[:-1]])] if len(pairs) else pairs
    img_key = split_of_image[pairs % max(1, len(imgs))] * n_cat + pairs // max(1, len(imgs))
    img_counts = np.bincount(img_key, minlength=n_split * n_cat)
    ann_per_split = np.bincount(split_of_image[ann.image_index], minlength=n_split)
    img_per_split = np.bincount(split_of_image, minlength=n_split)
    per_class = {s: [{"id": c.id, "class": c.name,
                      "annotations": int(ann_counts[i * n_cat + k]),
                      "images": int(img_counts[i * n_cat + k])}
                     for k, c in enumerate(ds.categories)]
                 for i, s in enumerate(splits)}
    objects_per_image = np.bincount(ann.image_index, minlength=len(imgs)) if len(imgs) else \
        np.zeros(0, np.int64)
    valid = box_validity(ds, config)["valid"]
    b = ann.xyxy[valid]
    bw, bh = b[:, 2] - b[:, 0], b[:, 3] - b[:, 1]
    iw = imgs.width[ann.image_index[valid]].astype(np.float64)
    ih = imgs.height[ann.image_index[valid]].astype(np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        rel = np.sqrt(bw * bh / (iw * ih))
        log_ar = np.log2(bw / bh)
        resized = np.minimum(bw, bh) * config.input_size / np.maximum(iw, ih)
    rel, log_ar, resized = (x[np.isfinite(x)] for x in (rel, log_ar, resized))
    size_key, size_counts = np.unique(imgs.width * (1 << 32) + imgs.height,
                                      return_counts=True)
    sizes = np.stack([size_key >> 32, size_key & ((1 << 32) - 1)], axis=1)
    top_sizes = np.argsort(-size_counts, kind="stable")[:10]
    with np.errstate(divide="ignore", invalid="ignore"):
        img_ar = np.log2(imgs.width / imgs.height)
    img_ar = img_ar[np.isfinite(img_ar)]
    return {
        "images": len(imgs),
        "annotations": len(ann),
        "classes": len(ds.categories),
        "splits": {s: {"images": int(img_per_split[i]),
                       "annotations": int(ann_per_split[i]),
                       "images_without_annotations": int(((split_of_image == i)
                                                          & (objects_per_image == 0)).sum())}
                   for i, s in enumerate(splits)},
        "per_class": per_class,
        "objects_per_image": _hist_int(objects_per_image),
        "image_sizes": [{"width": int(sizes[i, 0]), "height": int(sizes[i, 1]),
                         "images": int(size_counts[i])} for i in top_sizes],
        "image_aspect_log2": _hist(img_ar, -3, 3, 24),
        "object_size_relative": _hist(rel, 0, 1, 20),
        "object_size_at_input": _hist(resized, 0, config.input_size / 4, 32),
        "object_aspect_log2": _hist(log_ar, -5, 5, 40),
        "input_size": config.input_size,
        "heatmaps": heatmaps(ds, config, names),
    }


def heatmaps(ds: Dataset, config: CheckConfig, names: dict[int, str] | None = None
             ) -> dict[str, list[list[int]]]:
    """Per class: counts of box centers on a size x size grid over the normalized image."""
    names = names or {c.id: c.name for c in ds.categories}
    n = config.heatmap_size
    cx, cy, ok = _centers_norm(ds, config)
    gx = np.clip((cx * n).astype(np.int64), 0, n - 1)
    gy = np.clip((cy * n).astype(np.int64), 0, n - 1)
    pos = category_positions(ds)
    ok = ok & (pos >= 0)
    n_cat = len(ds.categories)
    grids = np.bincount((pos[ok] * n + gy[ok]) * n + gx[ok],
                        minlength=n_cat * n * n).reshape(n_cat, n, n)
    out: dict[str, list[list[int]]] = {}
    for k, cid in enumerate(ds.categories.ids):
        if not grids[k].any():
            continue
        key = names[cid] if names[cid] not in out else f"{names[cid]} (id {cid})"
        out[key] = grids[k].tolist()
    return out


def category_positions(ds: Dataset) -> np.ndarray:
    """Position of each annotation's category in ds.categories (-1: unknown id)."""
    ids = np.asarray(ds.categories.ids, np.int64)
    cat = ds.annotations.category_id
    if not len(ids):
        return np.full(len(cat), -1, np.int64)
    order = np.argsort(ids)
    at = np.clip(np.searchsorted(ids[order], cat), 0, len(ids) - 1)
    pos = order[at]
    return np.where(ids[pos] == cat, pos, -1)


def _split_class_counts(ds: Dataset, splits: list[str]) -> np.ndarray:
    """(splits, classes) annotation counts."""
    ann = ds.annotations
    index = {s: i for i, s in enumerate(splits)}
    split_of_image = np.fromiter((index[s] for s in ds.images.split.tolist()), np.int64,
                                 len(ds.images))
    pos = category_positions(ds)
    ok = pos >= 0
    n_cat = len(ds.categories)
    key = split_of_image[ann.image_index[ok]] * n_cat + pos[ok]
    return np.bincount(key, minlength=len(splits) * n_cat).reshape(len(splits), n_cat)


def _hist(values: np.ndarray, lo: float, hi: float, bins: int) -> dict[str, list]:
    counts, edges = np.histogram(np.clip(values, lo, hi), bins=bins, range=(lo, hi))
    return {"edges": [round(float(e), 4) for e in edges], "counts": counts.tolist()}


def _hist_int(values: np.ndarray, cap: int = 30) -> dict[str, list]:
    counts = np.bincount(np.minimum(values, cap), minlength=cap + 1) if len(values) else \
        np.zeros(cap + 1, np.int64)
    return {"values": list(range(cap + 1)), "counts": counts.tolist(), "capped_at": cap}
