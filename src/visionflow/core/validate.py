"""Checks every reader runs before handing a Dataset over: the rules of the canonical model.

Readers know where each row came from (file and line, or record id) and pass that as `where`
callbacks, so a message points at the exact place to fix. With `skip_errors` the offending
rows are dropped and reported; otherwise the first problem raises. With `keep_invalid`
(lenient reads, for `visionflow check` and `fix`) every problem is reported as an "invalid"
finding and the rows are kept, so the checks can point at them.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from .dataset import Dataset
from .errors import ValidationError
from .geometry import rle_problem
from .report import Report

# How far (in pixels) a box may reach past the image edge before it is an error. Real exports
# round; a box a hair outside is still the object the annotator meant.
EDGE_TOLERANCE_PX = 1.0


def validate(ds: Dataset, *, report: Report, skip_errors: bool,
             where_annotation: Callable[[int], str],
             where_image: Callable[[int], str], keep_invalid: bool = False,
             image_problems: dict[int, str] | None = None) -> Dataset:
    """image_problems: what the caller found wrong with image files, by row (formats/common
    check_image_files: unreadable, truncated, a size disagreeing with the annotation)."""
    empty = [c.id for c in ds.categories if not str(c.name).strip()]
    if empty:  # real exports have them (Datumaro's CVAT assets): a warning, writers decide
        report.add("warning", "class.empty_name", f"class id(s) {', '.join(map(str, empty))} "
                   "have an empty name; most formats cannot write one (rename it)",
                   count=len(empty))
    problems_img: dict[int, str] = dict(image_problems or {})
    imgs = ds.images
    bad_size = np.flatnonzero((imgs.width <= 0) | (imgs.height <= 0))
    for i in bad_size:
        problems_img.setdefault(int(i), f"image {imgs.file_name[i]!r} has no valid size "
                                f"({imgs.width[i]}x{imgs.height[i]})")
    # Ids are unique within a split: COCO and others number each split's file on its own.
    _, split_code = np.unique(imgs.split.astype(str), return_inverse=True)
    for i in _duplicates(np.stack([split_code, imgs.id], axis=1)):
        problems_img.setdefault(int(i), f"duplicate image id {imgs.id[i]}")
    keys = np.array([f"{s}\x00{f}" for s, f in zip(imgs.split, imgs.file_name)], dtype=object)
    for i in _duplicates(keys):
        problems_img.setdefault(int(i), f"image {imgs.file_name[i]!r} listed twice")

    for i, problem in sorted(problems_img.items()):
        _fail(ValidationError(where_image(i), problem), report, skip_errors, keep_invalid)

    ann = ds.annotations
    problems: dict[int, str] = {}
    known = np.isin(ann.category_id, np.asarray(ds.categories.ids, dtype=np.int64))
    for i in np.flatnonzero(~known):
        problems[int(i)] = f"unknown category id {ann.category_id[i]}"
    for i in _duplicate_pairs(split_code[ann.image_index], ann.id):
        problems.setdefault(int(i), f"duplicate annotation id {ann.id[i]}")

    b = ann.xyxy
    label = np.isnan(b).all(axis=1)
    w = ds.images.width[ann.image_index].astype(np.float64)
    h = ds.images.height[ann.image_index].astype(np.float64)
    with np.errstate(invalid="ignore"):
        nan = np.isnan(b).any(axis=1) & ~label
        neg = ~nan & ~label & ((b[:, 2] < b[:, 0]) | (b[:, 3] < b[:, 1]))
        zero = ~nan & ~label & ~neg & ((b[:, 2] == b[:, 0]) | (b[:, 3] == b[:, 1]))
        t = EDGE_TOLERANCE_PX
        outside = ~nan & ~label & ((b[:, 0] < -t) | (b[:, 1] < -t) | (b[:, 2] > w + t) |
                                   (b[:, 3] > h + t))
    for mask, what in ((nan, "box has a NaN coordinate"), (neg, "box has negative size"),
                       (zero, "box has zero size"),
                       (outside, "box lies outside the image")):
        for i in np.flatnonzero(mask):
            problems.setdefault(int(i), f"{what} {_fmt_box(b[i])} on image "
                                f"{ds.images.file_name[ann.image_index[i]]!r} "
                                f"({w[i]:.0f}x{h[i]:.0f})")
    for i, problem in _geometry_problems(ann, w, h):
        problems.setdefault(i, f"{problem} on image "
                            f"{ds.images.file_name[ann.image_index[i]]!r} "
                            f"({w[i]:.0f}x{h[i]:.0f})")
    for i, problem in sorted(problems.items()):
        _fail(ValidationError(where_annotation(i), problem), report, skip_errors, keep_invalid)
    if keep_invalid:
        return ds
    if problems:
        keep = np.ones(len(ann), bool)
        keep[list(problems)] = False
        ds = ds.replace(annotations=ann[keep])
    if problems_img:
        keep = np.ones(len(imgs), bool)
        keep[list(problems_img)] = False
        ds = ds.select_images(keep)
    return ds


def _geometry_problems(ann, w: np.ndarray, h: np.ndarray) -> list[tuple[int, str]]:
    """RLE masks that do not fit their image (wrong size, counts past the mask, garbage) and
    polygons lying wholly outside it: both pass the box checks when the record's box is
    fine, then crash or misplace a writer."""
    out: list[tuple[int, str]] = []
    if ann.rle is not None:
        for i, rle in enumerate(ann.rle):
            if rle is not None:
                problem = rle_problem(rle, int(w[i]), int(h[i]))
                if problem is not None:
                    out.append((i, problem))
    polys = ann.polygons
    if polys is not None and len(polys.coords):
        starts = polys.ring_offsets[polys.object_offsets[:-1]]
        rows = np.flatnonzero(polys.ring_offsets[polys.object_offsets[1:]] > starts)
        if len(rows):
            c = polys.coords
            lo = np.minimum.reduceat(c, starts[rows], axis=0)
            hi = np.maximum.reduceat(c, starts[rows], axis=0)
            t = EDGE_TOLERANCE_PX
            with np.errstate(invalid="ignore"):
                away = ((hi[:, 0] < -t) | (hi[:, 1] < -t) | (lo[:, 0] > w[rows] + t)
                        | (lo[:, 1] > h[rows] + t))
                bad = ~np.isfinite(lo).all(axis=1) | ~np.isfinite(hi).all(axis=1)
            for k in np.flatnonzero(away | bad):
                i = int(rows[k])
                out.append((i, "polygon has a NaN or infinite vertex" if bad[k] else
                            f"polygon lies wholly outside the image (its bounds "
                            f"{_fmt_box(np.concatenate([lo[k], hi[k]]))})"))
    return out


def _fmt_box(b: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:g}" for v in b) + "]"


def _duplicates(values: np.ndarray) -> np.ndarray:
    """Rows whose value already appeared in an earlier row."""
    if len(values) == 0:
        return np.zeros(0, np.int64)
    _, first = np.unique(values, return_index=True, axis=0 if values.ndim > 1 else None)
    dup = np.ones(len(values), bool)
    dup[first] = False
    return np.flatnonzero(dup)


def _duplicate_pairs(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Rows whose (a, b) pair already appeared in an earlier row, ascending. One stable sort
    of the two columns: np.unique(axis=0) copies the pairs into records and sorts those,
    ~2x the memory at 1.7 million rows."""
    if len(a) < 2:
        return np.zeros(0, np.int64)
    order = np.lexsort((b, a))  # stable: equal pairs keep their row order
    sa, sb = a[order], b[order]
    repeated = (sa[1:] == sa[:-1]) & (sb[1:] == sb[:-1])
    return np.sort(order[1:][repeated])


def _fail(err: ValidationError, report: Report, skip_errors: bool,
          keep_invalid: bool = False) -> None:
    if keep_invalid:
        report.add("error", "invalid", err.problem, where=err.where)
        return
    if not skip_errors:
        raise err
    report.add("error", "skipped", err.problem, where=err.where)
