"""Hypothesis strategies for canonical datasets, shaped by what a format can hold.

`datasets(fmt)` draws a dataset a format should carry losslessly (up to `canonical`); the
contract test writes it, reads it back and compares.
"""

from __future__ import annotations

import numpy as np
from hypothesis import strategies as st

import visionflow as vf
from visionflow.formats.base import (ANNOTATION_IDS, CLASS_ORDER, ATTRIBUTES, BOXES, CATEGORY_IDS,
                                     CATEGORY_META, IMAGE_IDS, ISCROWD, KEYPOINTS, LABELS, MASKS,
                                     OBB, POLYGONS, POLYLINES, SCORES, Format)

_NAME = st.from_regex(r"[a-z][a-z0-9_]{0,7}( [a-z0-9]{1,5})?", fullmatch=True)


def tasks(fmt: Format) -> list[str]:
    """The kinds of dataset a format is meant for."""
    out = []
    if BOXES in fmt.supports:
        out.append("detect")
    if POLYGONS in fmt.supports:
        out.append("segment")
    if KEYPOINTS in fmt.supports:
        out.append("pose")
    if OBB in fmt.supports:
        out.append("obb")
    if LABELS in fmt.supports:
        out.append("classify")
    if MASKS in fmt.supports:
        out.append("mask")
    if POLYLINES in fmt.supports:
        out.append("polyline")
    return out


def _coord(lo: float, hi: float) -> st.SearchStrategy[float]:
    # Two decimals: what annotation tools produce, and exact through every text format.
    return st.integers(int(np.ceil(lo * 100)), int(np.floor(hi * 100))).map(lambda v: v / 100)


@st.composite
def _box(draw, w: int, h: int) -> list[float]:
    x1 = draw(_coord(0, w - 2))
    y1 = draw(_coord(0, h - 2))
    x2 = draw(_coord(x1 + 1, w))
    y2 = draw(_coord(y1 + 1, h))
    return [x1, y1, x2, y2]


@st.composite
def datasets(draw, fmt: Format, image_dir=None) -> vf.Dataset:
    task = draw(st.sampled_from(tasks(fmt)))
    s = fmt.supports
    n_cat = draw(st.integers(1, 4))
    names = draw(st.lists(_NAME, min_size=n_cat, max_size=n_cat, unique=True))
    if CLASS_ORDER not in s:
        names.sort()  # the format orders classes itself (yolo-cls: sorted folder names)
    if CATEGORY_IDS in s:
        ids = sorted(draw(st.lists(st.integers(1, 95), min_size=n_cat, max_size=n_cat,
                                   unique=True)))
    else:
        ids = list(range(1, n_cat + 1))
    k = 3
    meta = CATEGORY_META in s
    cats = vf.Categories(vf.Category(
        i, n, supercategory=draw(st.sampled_from([None, "thing"])) if meta else None,
        keypoints=tuple(f"kp{j}" for j in range(k)) if task == "pose" and meta else (),
        skeleton=((1, 2), (2, 3)) if task == "pose" and meta else ()) for i, n in zip(ids, names))

    n_img = draw(st.integers(1, 5))
    split_mode = draw(st.sampled_from(["unsplit", "split"]))
    splits = ([""] * n_img if split_mode == "unsplit"
              else draw(st.lists(st.sampled_from(["train", "val", "test"]), min_size=n_img,
                                 max_size=n_img)))
    sizes = [(draw(st.integers(16, 1200)), draw(st.integers(16, 900))) for _ in range(n_img)]
    image_ids = (sorted(draw(st.lists(st.integers(0, 10_000), min_size=n_img, max_size=n_img,
                                      unique=True)))
                 if IMAGE_IDS in s else list(range(1, n_img + 1)))
    file_names = [f"img_{i:03d}.png" for i in range(n_img)]
    if fmt.name == "mot":  # MOT knows a frame by its number in its sequence (split) only
        file_names = [f"{splits[:i + 1].count(s):06d}.png" for i, s in enumerate(splits)]
    paths = None
    if image_dir is not None:
        from PIL import Image
        paths = []
        for name, (w, h) in zip(file_names, sizes):
            p = image_dir / (f"{len(paths)}_{name}" if fmt.name == "mot" else name)
            if not p.exists():
                Image.new("RGB", (w, h), (90, 120, 150)).save(p)
            paths.append(str(p))
    images = vf.Images.build(file_names, [w for w, _ in sizes], [h for _, h in sizes],
                             id=image_ids, split=splits, path=paths)

    rows, cat_ids, boxes, rings, kps, obbs, rles, paths = [], [], [], [], [], [], [], []
    for r, (w, h) in enumerate(sizes):
        n_ann = 1 if task == "classify" else draw(st.integers(0, 4))
        taken = np.zeros((h, w), bool) if task == "mask" else None
        for _ in range(n_ann):
            rows.append(r)
            cat_ids.append(draw(st.sampled_from(ids)))
            if task == "classify":
                boxes.append([np.nan] * 4)
                continue
            box = draw(_box(w, h))
            x1, y1, x2, y2 = box
            if task == "segment":
                xm = draw(_coord(x1, x2))
                ring = np.array([[x1, y1], [x2, y1], [x2, y2], [xm, y2]])
                rings.append([ring])
            elif task == "polyline":  # an open path; its box: the bounds, 1 px where flat
                path = np.array([[draw(_coord(x1, x2)), draw(_coord(y1, y2))]
                                 for _ in range(draw(st.integers(2, 4)))])
                paths.append([path])
                box = vf.core.geometry.pad_degenerate(
                    vf.core.geometry.points_bounds(path))[0].tolist()
            elif task == "obb":
                obbs.append(np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]]))
            elif task == "pose":
                pts = []
                for _ in range(k):
                    v = draw(st.sampled_from([0, 1, 2]))
                    pts.append([0, 0, 0] if v == 0 else [draw(_coord(x1, x2)),
                                                         draw(_coord(y1, y2)), v])
                kps.append(pts)
            elif task == "mask":
                # Masks of one image never overlap, so that label-map formats (one class and
                # instance index per pixel: VOC, Cityscapes PNGs) can hold them: a rectangle
                # minus the pixels of earlier masks; an object left with no pixel is not drawn.
                mask = np.zeros((h, w), bool)
                mask[int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))] = True
                mask &= ~taken
                if not mask.any():
                    rows.pop()
                    cat_ids.pop()
                    continue
                taken |= mask
                rles.append(vf.core.geometry.mask_to_rle(mask))
                ys, xs = np.nonzero(mask)
                box = [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)]
            boxes.append(box)
    n = len(rows)
    extra: dict = {}
    if task == "segment":
        extra["polygons"] = vf.Polygons.from_lists(rings)
    if task == "obb":
        extra["obb"] = np.array(obbs).reshape(n, 4, 2)
    if task == "polyline":
        extra["polylines"] = vf.core.annotations.Polylines.from_lists(paths)
    if task == "pose":
        extra["keypoints"] = np.array(kps, np.float64).reshape(n, k, 3)
    if task == "mask":
        col = np.empty(n, object)
        col[:] = rles
        extra["rle"] = col
    if ISCROWD in s and task != "classify":
        extra["iscrowd"] = np.zeros(n, bool)
    if SCORES in s and draw(st.booleans()):
        extra["score"] = np.array([draw(_coord(0, 1)) for _ in range(n)])
    if ATTRIBUTES in s and task != "classify":
        keys = sorted(fmt.attributes) if fmt.attributes is not None else ["occluded", "note"]
        keys = [key for key in keys if "." not in key][:2]
        attrs = {}
        for key in keys:
            col = np.empty(n, object)
            col[:] = [draw(st.integers(0, 1)) for _ in range(n)]
            attrs[key] = col
        extra["attrs"] = attrs
    ann_ids = (draw(st.lists(st.integers(0, 10_000), min_size=n, max_size=n, unique=True))
               if ANNOTATION_IDS in s else None)
    ann = vf.Annotations.build(rows, cat_ids, np.array(boxes, np.float64).reshape(n, 4),
                               id=ann_ids, **extra)
    return vf.Dataset(images, ann, cats)


def canonical(ds: vf.Dataset, fmt: Format) -> vf.Dataset:
    """`ds` reduced to what `fmt` holds, in a fixed order: images by (split, file name),
    annotations by image then original order; ids renumbered where the format has none."""
    s = fmt.supports
    order = sorted(range(len(ds.images)), key=lambda r: (ds.images.split[r], ds.images.file_name[r]))
    ds = ds.select_images(np.array(order, np.int64))
    ann = ds.annotations
    ann = ann[np.argsort(ann.image_index, kind="stable")]
    if LABELS not in s:
        ann = ann[~ann.is_label]
    if BOXES not in s:
        # Only bare boxes are lost: an object whose mask, polygon or oriented box the format
        # holds keeps its box as that geometry's bounds (mask formats rasterize polygons).
        held = ann.is_label.copy()
        for flag, has in ((POLYGONS, ann.has_polygon), (MASKS, ann.has_rle), (OBB, ann.has_obb)):
            if flag in s or (flag == POLYGONS and MASKS in s):
                held |= has()
        ann = ann[held]
    drop = {}
    for flag, column in ((POLYGONS, "polygons"), (MASKS, "rle"), (KEYPOINTS, "keypoints"),
                         (OBB, "obb"), (SCORES, "score"), (ISCROWD, "iscrowd"),
                         (POLYLINES, "polylines")):
        if flag not in s:
            drop[column] = None
    if drop:
        ann = ann.replace(**drop)
    # Format leftovers ("coco.area") are the format's own bookkeeping, not the user's data.
    keep_attr = (lambda key: ATTRIBUTES in s and not key.startswith(f"{fmt.name}.")
                 and (fmt.attributes is None or key in fmt.attributes))
    ann = ann.replace(attrs={k: v for k, v in ann.attrs.items() if keep_attr(k)},
                      track_id=ann.track_id if "track_ids" in s else None)
    if ANNOTATION_IDS not in s:
        ann = ann.replace(id=np.arange(1, len(ann) + 1, dtype=np.int64))
    images = ds.images.replace(path=np.full(len(ds.images), None, dtype=object), attrs={})
    if IMAGE_IDS not in s:
        images = images.replace(id=np.arange(1, len(images) + 1, dtype=np.int64))
    cats = ds.categories
    if CLASS_ORDER not in s:
        by_name = sorted(cats, key=lambda c: c.name)
        cats = vf.Categories(by_name)
    if CATEGORY_META not in s:
        cats = vf.Categories(vf.Category(c.id, c.name) for c in cats)
    if CATEGORY_IDS not in s:
        remap = {c.id: i + 1 for i, c in enumerate(cats)}
        cats = vf.Categories(vf.Category(i + 1, c.name, c.supercategory, c.keypoints, c.skeleton)
                             for i, c in enumerate(cats))
        ann = ann.replace(category_id=np.array([remap[c] for c in ann.category_id], np.int64))
    return vf.Dataset(images, ann, cats)
