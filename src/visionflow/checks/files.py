"""Files and references: missing, unreadable or truncated images, sizes that differ from the
declared ones, EXIF orientation that moves the pixels away from the annotations, annotations
pointing at unknown classes or images, duplicate ids and names.

EXIF: `io.images.image_size` returns the upright size, which labelling tools and trainers use.
When the declared size equals the *stored* size of a photo whose orientation (5..8) swaps
width and height, the annotations were drawn on the stored pixels: every EXIF-aware loader
(Ultralytics, torchvision with exif_transpose, browsers) shows them rotated away from the boxes.
"""

from __future__ import annotations

import numpy as np

from ..core.dataset import Dataset
from ..core.report import Report
from .config import CheckConfig
from .findings import Builder, CheckFinding
from .geometry import combine_keys, sort_order
from .scan import MISSING, OK, TRUNCATED, UNREADABLE, ImageScan

_ORIENTATION_NAMES = {
    2: "mirrored", 3: "rotated 180°", 4: "flipped vertically", 5: "transposed",
    6: "rotated 90° clockwise", 7: "transversed", 8: "rotated 90° counter-clockwise",
}


def check_references(ds: Dataset, config: CheckConfig) -> list[CheckFinding]:
    """Everything about ids, names and references that needs no file."""
    return (invalid_image_sizes(ds, config) + duplicate_image_ids(ds, config)
            + duplicate_image_names(ds, config) + duplicate_annotation_ids(ds, config)
            + unknown_classes(ds, config) + duplicate_class_names(ds, config))


def check_files(ds: Dataset, config: CheckConfig, scan: ImageScan) -> list[CheckFinding]:
    """Everything that needs the image files (see scan.py)."""
    return unreadable_images(ds, config, scan) + size_and_orientation(ds, config, scan)


# --- references ------------------------------------------------------------------------------

def invalid_image_sizes(ds: Dataset, config: CheckConfig) -> list[CheckFinding]:
    imgs = ds.images
    rows = np.flatnonzero((imgs.width <= 0) | (imgs.height <= 0))
    return Builder(ds).images("error", "image.invalid_size", rows, (
        f"declared size {imgs.width[r]}x{imgs.height[r]} is not a valid image size"
        for r in rows))


def duplicate_image_ids(ds: Dataset, config: CheckConfig) -> list[CheckFinding]:
    """Image ids repeated within a split (formats number each split's file on its own)."""
    imgs = ds.images
    split_code = _codes(imgs.split)
    dup, first = _repeats(np.stack([split_code, imgs.id], axis=1))
    b = Builder(ds)
    return b.images("error", "image.duplicate_id", dup, (
        f"image id {imgs.id[r]} is also the id of {b.label(f)!r}" for r, f in zip(dup, first)),
        ({"other_image": b.file_name(f)} for f in first))


def duplicate_image_names(ds: Dataset, config: CheckConfig) -> list[CheckFinding]:
    imgs = ds.images
    seen: dict[tuple, int] = {}
    dup_rows, first_rows = [], []
    for r, key in enumerate(zip(imgs.split.tolist(), imgs.file_name.tolist())):
        f = seen.setdefault(key, r)
        if f != r:
            dup_rows.append(r)
            first_rows.append(f)
    dup, first = np.asarray(dup_rows, np.int64), np.asarray(first_rows, np.int64)
    return Builder(ds).images("error", "image.duplicate_name", dup, (
        f"listed twice (also image id {imgs.id[f]})" for f in first))


def duplicate_annotation_ids(ds: Dataset, config: CheckConfig) -> list[CheckFinding]:
    ann = ds.annotations
    if not len(ann):
        return []
    split_code = _codes(ds.images.split)[ann.image_index]
    dup, first = _repeats(np.stack([split_code, ann.id], axis=1))
    b = Builder(ds)
    return b.annotations("error", "annotation.duplicate_id", dup, (
        f"annotation id {ann.id[r]} is used twice (also on {b.label(ann.image_index[f])!r})"
        for r, f in zip(dup, first)))


def unknown_classes(ds: Dataset, config: CheckConfig) -> list[CheckFinding]:
    ann = ds.annotations
    rows = np.flatnonzero(~np.isin(ann.category_id, np.asarray(ds.categories.ids, np.int64)))
    known = ", ".join(str(i) for i in ds.categories.ids[:20])
    more = ", ..." if len(ds.categories) > 20 else ""
    return Builder(ds).annotations("error", "annotation.unknown_class", rows, (
        f"category id {ann.category_id[r]} is not a class of the dataset (known ids: "
        f"{known}{more})" for r in rows))


def duplicate_class_names(ds: Dataset, config: CheckConfig) -> list[CheckFinding]:
    """Two class ids with one name (Roboflow exports do this): a trainer sees two classes."""
    seen: dict[str, int] = {}
    out: list[CheckFinding] = []
    b = Builder(ds)
    for c in ds.categories:
        if c.name in seen:
            out.append(b.dataset("warning", "class.duplicate_name",
                                 f"class name {c.name!r} is used by ids {seen[c.name]} and "
                                 f"{c.id}; merge them with `visionflow fix --remap "
                                 f"{c.name}={c.name}`",
                                 details={"class": c.name, "ids": [seen[c.name], c.id]}))
        else:
            seen[c.name] = c.id
    return out


def read_problems(ds: Dataset, report: Report) -> list[CheckFinding]:
    """Problems a lenient read skipped (records it could not represent), as findings.

    The rows a lenient read kept despite breaking the model's rules ("invalid") are left out:
    the checks themselves find those.
    """
    out: list[CheckFinding] = []
    for f in report.findings:
        if f.code == "invalid":
            continue
        text = f.message.lower()
        if f.code == "skipped" and "unknown image" in text:
            code = "annotation.unknown_image"
        elif f.code == "skipped" and "not found" in text:
            code = "image.missing"
        elif f.code == "skipped":
            code = "read.skipped"
        else:
            code = f.code if "." in f.code else f"read.{f.code}"
        out.append(CheckFinding(f.severity, code, f.message, f.count, f.where))
    return out


# --- files -----------------------------------------------------------------------------------

def unreadable_images(ds: Dataset, config: CheckConfig, scan: ImageScan) -> list[CheckFinding]:
    b = Builder(ds)
    out: list[CheckFinding] = []
    paths = ds.images.path
    for status, code in ((MISSING, "image.missing"), (UNREADABLE, "image.unreadable"),
                         (TRUNCATED, "image.truncated")):
        rows = np.flatnonzero(scan.status == status)
        out += b.images("error", code, rows, (
            f"{scan.problem[r]}: {paths[r]}" if paths[r] is not None else
            "image file not found (the source has no file for it)" for r in rows))
    return out


def size_and_orientation(ds: Dataset, config: CheckConfig, scan: ImageScan) -> list[CheckFinding]:
    b = Builder(ds)
    ok = scan.status == OK
    declared = np.stack([ds.images.width, ds.images.height], axis=1)
    raw, upright = scan.raw_size, scan.upright_size()
    valid = ok & (declared > 0).all(axis=1)
    is_upright = (declared == upright).all(axis=1)
    is_raw = (declared == raw).all(axis=1)
    o = scan.orientation
    has_annotations = np.zeros(len(ds.images), bool)
    has_annotations[ds.annotations.image_index] = True

    mismatch = np.flatnonzero(valid & ~is_upright & ~is_raw)
    stored = np.flatnonzero(valid & ~is_upright & is_raw)  # only when 5..8 swap the sides
    oriented = np.flatnonzero(valid & is_upright & (o > 1))
    out = b.images("error", "image.size_mismatch", mismatch, (
        f"annotations declare {declared[r, 0]}x{declared[r, 1]} but the image is "
        f"{upright[r, 0]}x{upright[r, 1]}" for r in mismatch),
        ({"declared": declared[r].tolist(), "actual": upright[r].tolist()} for r in mismatch))
    severity = "error"
    for rows, sev, what in ((stored[has_annotations[stored]], severity, "annotations"),
                            (stored[~has_annotations[stored]], "warning", "declared size")):
        out += b.images(sev, "image.exif_rotation", rows, (
            f"EXIF orientation {o[r]} ({_ORIENTATION_NAMES[int(o[r])]}) turns the stored "
            f"{raw[r, 0]}x{raw[r, 1]} pixels into {upright[r, 0]}x{upright[r, 1]} on display, "
            f"but the {what} follow the stored pixels: EXIF-aware loaders put the boxes in the "
            "wrong place (`visionflow fix` rotates pixels and annotations together)"
            for r in rows), ({"orientation": int(o[r])} for r in rows))
    out += b.images("warning", "image.exif_orientation", oriented, (
        f"EXIF orientation {o[r]} ({_ORIENTATION_NAMES[int(o[r])]}): annotations follow the "
        "upright view, so loaders that ignore EXIF see different pixels "
        "(`visionflow fix` writes the pixels upright)" for r in oriented),
        ({"orientation": int(o[r])} for r in oriented))
    return out


# --- helpers ---------------------------------------------------------------------------------

def _codes(values: np.ndarray) -> np.ndarray:
    """Small integer per distinct value (splits: a handful of names)."""
    out = np.zeros(len(values), np.int64)
    for i, v in enumerate(dict.fromkeys(values.tolist())):
        out[values == v] = i
    return out


def _repeats(keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows whose key (a row of integer columns) already appeared in an earlier row, and that
    earlier (first) row. A stable lexsort keeps equal keys in row order."""
    keys = np.asarray(keys)
    if len(keys) == 0:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    cols = keys.reshape(len(keys), -1)
    if cols.shape[1] == 2:
        cols = combine_keys(cols[:, 0], cols[:, 1]).reshape(-1, 1)
    order = sort_order(*cols.T[::-1])
    sk = cols[order]
    same = np.concatenate([[False], (sk[1:] == sk[:-1]).all(axis=1)])
    group_start = np.maximum.accumulate(np.where(~same, np.arange(len(sk)), 0))
    dup = order[same]
    first = order[group_start[same]]
    sort = np.argsort(dup, kind="stable")
    return dup[sort], first[sort]
