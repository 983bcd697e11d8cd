"""Dataset <-> supervision's `sv.DetectionDataset` (`pip install 'visionflow[supervision]'`).

To supervision: one DetectionDataset keyed by image path; `Detections.xyxy` are the boxes
(float64, absolute pixels), `class_id` the class index (position in ds.classes, which become
`classes`), `mask` (N, H, W) bool where any object of the dataset has a polygon or RLE mask
(polygons rasterized with Pillow at the image size, as the mask formats do; an object without
one gets an empty mask), and `data["annotation_id"]` the annotation ids. Image-level labels
(no box) are not detections and are left out.

From supervision: classes get ids 1..N in order, non-empty masks become COCO RLE (pixel-exact),
file names are the paths relative to the images' common folder, sizes come from the masks or
the image headers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from ..core.annotations import Annotations
from ..core.categories import Categories
from ..core.dataset import Dataset
from ..core.errors import Error, MissingImageError, ValidationError
from ..core.geometry import mask_to_rle
from ..core.images import UNSPLIT, Images


def _sv():
    try:
        import supervision as sv
    except ImportError:
        raise Error("the supervision bridge needs supervision: pip install "
                    "'visionflow[supervision]'") from None
    return sv


def to_supervision(ds: Dataset, split: str | None = None, *, masks: bool = True) -> Any:
    """`ds` (or one split of it) as an `sv.DetectionDataset`.

    masks=False leaves masks out: like supervision's own loaders, the dataset holds every
    mask in memory at full image size (n_objects x H x W bytes)."""
    from ..formats.masks import object_mask
    sv = _sv()
    if split is not None:
        if split not in ds.splits:
            raise Error(f"no split {split!r}; the dataset has {ds.splits}")
        ds = ds.split(split)
    imgs = ds.images
    ann = ds.annotations[~ds.annotations.is_label]
    cls = ds.class_index(ann.category_id)
    if (cls < 0).any():
        j = int(np.flatnonzero(cls < 0)[0])
        raise ValidationError(f"image {imgs.file_name[ann.image_index[j]]!r}",
                              f"annotation {ann.id[j]} has category id {ann.category_id[j]}, "
                              "which the dataset does not declare")
    has_rle, has_poly = ann.has_rle(), ann.has_polygon()
    with_masks = masks and bool((has_rle | has_poly).any())
    order = np.argsort(ann.image_index, kind="stable")
    bounds = np.searchsorted(ann.image_index[order], np.arange(len(imgs) + 1))
    paths, annotations = [], {}
    for i in range(len(imgs)):
        path, name = imgs.path[i], str(imgs.file_name[i])
        if path is None:
            raise MissingImageError(name, "supervision keys images by path, and this image "
                                    "has no file")
        if path in annotations:
            raise Error(f"two images share the file {path!r}; supervision keys images by path")
        rows = order[bounds[i]:bounds[i + 1]]
        w, h = int(imgs.width[i]), int(imgs.height[i])
        mask = None
        if with_masks:
            mask = np.zeros((len(rows), h, w), bool)
            for k, r in enumerate(rows):
                m = object_mask(ann, r, w, h, has_rle[r], has_poly[r], name)
                if m is not None:
                    mask[k] = m
        paths.append(path)
        annotations[path] = sv.Detections(
            xyxy=ann.xyxy[rows].reshape(-1, 4).astype(np.float64), mask=mask,
            class_id=cls[rows].astype(np.int64),
            data={"annotation_id": ann.id[rows].astype(np.int64)})
    return sv.DetectionDataset(classes=list(ds.classes), images=paths, annotations=annotations)


def from_supervision(sv_ds: Any, split: str = UNSPLIT) -> Dataset:
    """An `sv.DetectionDataset` as a Dataset (every image in `split`)."""
    from ..io.images import image_size
    classes = list(sv_ds.classes)
    paths = [str(p) for p in sv_ds.image_paths]
    root = os.path.commonpath([os.path.dirname(os.path.abspath(p)) for p in paths]) \
        if paths else ""
    names, widths, heights = [], [], []
    rows, cats, boxes, ids, rles = [], [], [], [], []
    for i, p in enumerate(paths):
        det = sv_ds.annotations[p]
        names.append(Path(os.path.relpath(os.path.abspath(p), root)).as_posix())
        if det.mask is not None and len(det.mask):
            h, w = det.mask.shape[1:]
        else:
            w, h = image_size(p)
        widths.append(int(w))
        heights.append(int(h))
        n = len(det)
        if n and det.class_id is None:
            raise ValidationError(p, "detections without class_id cannot be labelled")
        bad = [c for c in (det.class_id if n else []) if not 0 <= c < len(classes)]
        if bad:
            raise ValidationError(p, f"class_id {bad[0]} is not an index into {len(classes)} "
                                  "classes")
        rows += [i] * n
        cats += [int(c) + 1 for c in (det.class_id if n else [])]
        boxes.append(np.asarray(det.xyxy, np.float64).reshape(-1, 4))
        aid = det.data.get("annotation_id")
        ids.append(None if aid is None or len(aid) != n else np.asarray(aid, np.int64))
        for k in range(n):
            m = None if det.mask is None else det.mask[k]
            rles.append(mask_to_rle(m) if m is not None and m.any() else None)
    xyxy = np.concatenate(boxes) if boxes else np.zeros((0, 4))
    extra: dict[str, Any] = {}
    if any(r is not None for r in rles):
        col = np.empty(len(rles), object)
        col[:] = rles
        extra["rle"] = col
    keep_ids = bool(ids) and all(a is not None for a in ids) and len(rows) > 0
    ann = Annotations.build(rows, cats, xyxy, id=np.concatenate(ids) if keep_ids else None,
                            **extra)
    images = Images.build(names, widths, heights, split=split, path=paths)
    return Dataset(images, ann, Categories.from_names(classes))
