"""The public functions; the CLI is a thin shell over these."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from .core.categories import Categories, Category
from .core.dataset import Dataset
from .core.errors import Error, MissingImageError, did_you_mean
from .core.gc_pause import gc_paused
from .core.images import split_renames
from .core.report import Report
from .formats import registry
from .formats.base import (ATTRIBUTES, BOXES, CATEGORY_IDS, CATEGORY_META, CLASS_ORDER, ISCROWD,
                           KEYPOINTS, LABELS, MASKS, OBB, POLYGONS, READ_DEFAULTS, SCORES,
                           TRACK_IDS, Detection, Format, ReadContext, WriteContext)
from .formats.common import IMAGE_BYTES
from .io.atomic import atomic_dir, guard_destination, in_temp_dir
from .io.images import missing_files
from .io.safe_load import read_scope

IMAGE_MODES = ("link", "copy", "none")


def formats() -> list[Format]:
    """Every format visionflow knows, built-in and plugins."""
    return registry.all_formats()


def detect(path: str | Path) -> list[Detection]:
    """Ranked format candidates for a folder or file, with confidence and reasons."""
    path = _existing(path)
    return registry.candidates(path)


def load(path: str | Path, format: str | None = None, *, skip_errors: bool = False,
         report: Report | None = None, progress=None, lenient: bool = False,
         strict: bool = False, images_dir: str | Path | None = None,
         follow_links: bool | None = None, **options: Any) -> Dataset:
    """Read a dataset in any known format (auto-detected unless `format` is given).

    lenient: keep rows that break the model's rules (boxes outside the image or of zero size,
    unknown class ids, duplicate ids) and report each as an "invalid" finding in `report`
    instead of failing; records that cannot be represented at all (malformed, pointing at an
    unknown image) are skipped and reported as with skip_errors. For checking and fixing.
    strict: refuse what the reader would otherwise make up or drop with a warning (classes
    used but not declared, YOLO label files without an image).
    images_dir: the folder holding the images when they are not where the format puts them
    (a COCO file, CSV or boxes-only TFRecord kept apart from its images); a name is looked up
    there as written, else by its tails ("train/x.jpg" -> "x.jpg").
    follow_links: follow symlinks that lead out of the dataset (or images) folder; refused
    otherwise. Both default to the CLI's --images-dir / --follow-links (base.read_defaults).

    Examples:
        >>> import visionflow as vf
        >>> vf.load("no/such/folder")
        Traceback (most recent call last):
        ...
        visionflow.core.errors.Error: no/such/folder: no such file or folder
    """
    path = _existing(path)
    fmt = registry.get(format) if format else registry.get(registry.detect(path).format)
    if fmt.read is None:
        raise Error(f"format {fmt.name!r} can be written but not read")
    check_options(fmt, options, fmt.read_options, "reader")
    defaults = READ_DEFAULTS.get()
    images_dir = images_dir if images_dir is not None else defaults.get("images_dir")
    follow_links = bool(follow_links if follow_links is not None
                        else defaults.get("follow_links", False))
    if images_dir is not None and not Path(images_dir).is_dir():
        raise Error(f"--images-dir {images_dir}: no such folder")
    ctx = ReadContext(report=report if report is not None else Report(), options=options,
                      progress_factory=progress, skip_errors=skip_errors or lenient,
                      lenient=lenient, strict=strict, follow_links=follow_links,
                      images_dir=Path(images_dir).absolute() if images_dir is not None else None)
    with gc_paused(), split_renames() as renamed, \
            read_scope(path, ctx.follow_links):
        ds = fmt.read(path, ctx)
    if ctx.images_dir is not None and not ctx.images_dir_used:  # a plugin that ignored it
        raise Error(f"--images-dir cannot be used with {fmt.name}: its reader does not look "
                    "images up by name (it lists its own folders)")
    present = set(ds.images.split.tolist())
    renamed = sorted((old, new) for old, new in renamed if new in present)
    for old, new in renamed:  # said once: every output names the split `new`
        ctx.report.add("info", "split.renamed", f"split {old!r} is read as {new!r}, "
                       f"visionflow's one name for it; outputs name it {new!r}")
    root = path if path.is_dir() else path.parent
    meta = {**ds.meta, "source_format": fmt.name, "source_root": str(root.absolute())}
    if renamed:
        meta["split_renamed"] = [list(pair) for pair in renamed]
    return ds.replace(meta=meta)


def write(dataset: Dataset, path: str | Path, format: str, *, images: str = "copy",
          strict: bool = False, overwrite: bool = False, force: bool = False,
          skip_errors: bool = False, report: Report | None = None, progress=None,
          keep: tuple[str | Path, ...] = (), **options: Any) -> Report:
    """Write `dataset` to the folder `path` in `format`; returns what could not be carried over.

    images: "copy" (a copy-on-write clone where the filesystem can, else a copy: the output
    never shares a writable file with the source), "link" (hard links: editing an output
    image in place edits the source), or "none" (annotations only).
    strict: turn every loss into a LossError before anything is written.
    overwrite: replace a non-empty folder; force: also one visionflow did not write.
    keep: folders the destination may not be or contain (a workspace), besides the source's
    own folders and image folders.
    skip_errors: an image whose file is missing is reported and left out, with its
    annotations, instead of failing. The folder appears complete or not at all.
    """
    fmt = registry.get(format)
    if fmt.write is None:
        raise Error(f"format {fmt.name!r} can be read but not written")
    if images not in IMAGE_MODES:
        raise Error(f"--images must be one of {', '.join(IMAGE_MODES)}, got {images!r}")
    check_options(fmt, options, fmt.options, "writer")
    report = report if report is not None else Report()
    ctx = WriteContext(report=report, options=options, progress_factory=progress,
                       strict=strict, images=images, format=fmt.name, skip_errors=skip_errors)
    sources, image_dirs = source_folders(dataset), image_folders(dataset)
    dest = guard_destination(path, sources=sources, images=image_dirs, keep=keep,
                             overwrite=overwrite, force=force)
    if images != "none":
        dataset = _without_missing_images(dataset, ctx)
    report_losses(dataset, fmt, ctx)
    with atomic_dir(dest, overwrite=overwrite, force=force, sources=sources, images=image_dirs,
                    keep=keep) as tmp, gc_paused():
        fmt.write(dataset, tmp, ctx)
    report.written = {
        "format": fmt.name,
        "images": len(dataset.images) if ctx.written_images is None else ctx.written_images,
        "annotations": (int(_held(dataset.annotations, fmt).sum())
                        if ctx.written_annotations is None
                        else ctx.written_annotations),
        "categories": len(dataset.categories)}
    return report


def source_folders(ds: Dataset) -> list[Path]:
    """The dataset's own folders: where it was read from, and that folder's parent when
    images lie in it (COCO's annotations/ beside images/: the parent is the dataset's
    folder). An output may not be, contain or lie inside any of them."""
    root = ds.meta.get("source_root")
    if not root:
        return []
    root = os.path.abspath(root)
    parent = os.path.dirname(root)
    beside = any(f.startswith(parent + os.sep) and f != root and not f.startswith(root + os.sep)
                 for f in map(os.path.abspath, _image_dirs(ds)))
    return [Path(parent if beside else root)]


def image_folders(ds: Dataset) -> list[Path]:
    """The folders holding the dataset's image files: an output may not be or contain one
    (replacing it would delete source images); only the outermost of nested ones."""
    kept: list[str] = []
    for f in sorted(_image_dirs(ds)):  # a parent sorts right before its sub-folders
        if not kept or not f.startswith(kept[-1].rstrip(os.sep) + os.sep):
            kept.append(f)
    return [Path(f) for f in kept]


def _image_dirs(ds: Dataset) -> set[str]:
    """Folders of the image files, but visionflow's own temporary ones (fix, transform)."""
    return {d for d in {os.path.dirname(p) for p in ds.images.path if p}
            if d and not in_temp_dir(d)}


def _without_missing_images(ds: Dataset, ctx: WriteContext) -> Dataset:
    """Images whose file is missing (and that carry no embedded bytes): an error, or with
    skip_errors reported and dropped with their annotations, so that no output ever points at
    a file it does not hold."""
    paths = ds.images.path
    embedded = ds.images.attrs.get(IMAGE_BYTES)
    absent = missing_files(paths)
    ctx.absent_files = frozenset(paths[i] for i in absent if paths[i])
    missing = [i for i in absent
               if not (embedded is not None and isinstance(embedded[i], bytes))]
    if not missing:
        return ds
    for i in missing:
        ctx.fail(MissingImageError(paths[i] or ds.images.file_name[i],
                                   f"image file not found ({_image_record(ds, i)}); left out "
                                   "of the output with its "
                                   "annotations (pass --images none to write annotations only)"))
    keep = np.ones(len(paths), bool)
    keep[missing] = False
    return ds.select_images(keep)


def _image_record(ds: Dataset, i: int) -> str:
    """The record that names an image, for messages: its id and split in the dataset read
    from source_root (the file name alone does not say where to fix it)."""
    imgs = ds.images
    split = f", split {imgs.split[i]}" if imgs.split[i] else ""
    source = ds.meta.get("source_root")
    origin = f" of the {ds.source_format} dataset {source}" if source else ""
    return f"image id {imgs.id[i]}{split}{origin}"


def check_options(fmt: Format, options: dict[str, Any], known: dict[str, str], kind: str) -> None:
    """Refuse an option `fmt` does not know: a misspelt -O key must not be ignored silently."""
    for key in options:
        if key in known:
            continue
        hint = did_you_mean(key, known)
        accepted = f"it accepts {', '.join(sorted(known))}" if known else "it has none"
        raise Error(f"unknown {kind} option {key!r} for format {fmt.name}{hint} ({accepted})")


def _held(ann, fmt: Format) -> np.ndarray:
    """Annotations `fmt` writes: those with a geometry it holds (a label where it holds
    labels; a box, or the box of a mask, polygon or oriented box, where it holds that)."""
    s = fmt.supports
    held = ann.is_label & (LABELS in s)
    if BOXES in s:
        held |= ~ann.is_label
    for flag, has in ((POLYGONS, ann.has_polygon), (MASKS, ann.has_rle), (OBB, ann.has_obb)):
        if flag in s or (flag == POLYGONS and MASKS in s):
            held |= has()
    return held


def categories_after(cats: Categories, fmt: Format) -> list[Category]:
    """The class map reading `fmt`'s output gives back, one entry per category of `cats`."""
    if fmt.categories_after is not None:
        return fmt.categories_after(cats)
    s = fmt.supports
    rank = list(range(len(cats)))
    if CLASS_ORDER not in s:  # the format sorts classes by name (yolo-cls folders)
        for r, i in enumerate(sorted(range(len(cats)), key=lambda i: cats[i].name)):
            rank[i] = r
    meta = CATEGORY_META in s
    return [Category(c.id if CATEGORY_IDS in s else rank[i] + 1, c.name,
                     c.supercategory if meta else None, c.keypoints if meta else (),
                     c.skeleton if meta else ()) for i, c in enumerate(cats)]


def convert(src: str | Path, dst: str | Path, to: str, *, from_format: str | None = None,
            skip_errors: bool = False, progress=None, read_options: dict | None = None,
            **write_options: Any) -> Report:
    """load + write in one call; returns the combined report."""
    src_path = _existing(src)
    guard_destination(dst, sources=[src_path if src_path.is_dir() else src_path.parent],
                      overwrite=write_options.get("overwrite", False),
                      force=write_options.get("force", False))
    report = Report()
    ds = load(src_path, from_format, skip_errors=skip_errors, report=report, progress=progress,
              strict=bool(write_options.get("strict", False)), **(read_options or {}))
    write(ds, dst, to, report=report, progress=progress, skip_errors=skip_errors,
          **write_options)
    return report


def report_losses(ds: Dataset, fmt: Format, ctx: WriteContext) -> None:
    """Everything the dataset holds that `fmt` cannot, once per kind, before writing."""
    ann = ds.annotations
    counts = ann.geometry_counts()
    if MASKS in fmt.supports and POLYGONS not in fmt.supports:
        counts.pop("polygons", None)  # a mask format rasterizes polygons: converted, not lost
    if "boxes" in counts and BOXES not in fmt.supports:
        # Only bare boxes are lost: the box of an object whose mask, polygon or oriented box
        # the format holds is that geometry's bounds.
        counts["boxes"] = int((~(_held(ann, fmt) | ann.is_label)).sum())  # labels: below
    for kind, count in counts.items():
        if kind not in fmt.supports:
            ctx.loss(kind, count, f"{kind.replace('_', ' ')} ({_what_remains(kind, fmt)})")
    if ann.score is not None and SCORES not in fmt.supports:
        ctx.loss("scores", int((~np.isnan(ann.score)).sum()), "confidence scores")
    if ann.track_id is not None and TRACK_IDS not in fmt.supports:
        ctx.loss("track_ids", int((ann.track_id >= 0).sum()), "track ids")
    if ann.iscrowd is not None and ISCROWD not in fmt.supports:
        ctx.loss("iscrowd", int(ann.iscrowd.sum()), "iscrowd flags")
    leftovers: dict[str, int] = {}
    for table in (ann.attrs, ds.images.attrs):
        for key, col in table.items():
            namespace = key.partition(".")[0] if "." in key else None
            if namespace is not None and namespace != fmt.name:
                # Another format's own fields (coco.area, voc.pose): kept while the data stays
                # in that format, not user data the target must carry.
                leftovers[key] = sum(v is not None for v in col)
            elif (table is ann.attrs and fmt.attributes is not None
                  and (ATTRIBUTES not in fmt.supports or key not in fmt.attributes)):
                ctx.loss(f"attribute.{key}", sum(v is not None for v in col),
                         f"annotation attribute {key!r}")
    if leftovers:
        ctx.report.add("info", "leftovers", f"{len(leftovers)} field(s) specific to the source "
                       f"format not written: {', '.join(sorted(leftovers))}",
                       count=sum(leftovers.values()))
    _report_category_losses(ds, fmt, ctx)
    renamed = ds.meta.get("split_renamed") or []
    if ctx.strict and renamed:  # without --strict, load already said so (split.renamed)
        ctx.loss("split_names", len(renamed), "split names as the source wrote them ("
                 + ", ".join(f"{old!r} is written as {new!r}" for old, new in renamed) + ")")


def _what_remains(kind: str, fmt: Format) -> str:
    """What the target keeps of an annotation whose `kind` of geometry it cannot hold."""
    if kind == "labels":
        return f"{fmt.name} has no image-level labels: these annotations are not written"
    if kind == "boxes":
        return f"{fmt.name} holds no boxes: annotations with only a box are not written"
    if BOXES in fmt.supports:
        return f"{fmt.name} keeps the box of these annotations"
    return (f"{fmt.name} holds no boxes: these annotations are written only where they have "
            "a geometry it holds")


def _report_category_losses(ds: Dataset, fmt: Format, ctx: WriteContext) -> None:
    """Category ids renumbered (0-based or gapped ids into a format numbering 1..N),
    supercategories and keypoint names/skeletons the target cannot give back."""
    cats = ds.categories
    after = categories_after(cats, fmt)
    kept_ids = [a.id for a in after]
    if CLASS_ORDER not in fmt.supports and CATEGORY_IDS not in fmt.supports:
        kept_ids = list(range(1, len(cats) + 1))  # a re-sort is the writer's loss.class_order
    moved = [(c.id, new) for c, new in zip(cats, kept_ids) if c.id != new]
    if moved:
        shown = ", ".join(f"{old} -> {new}" for old, new in moved[:4])
        more = f", ... ({len(moved)} in all)" if len(moved) > 4 else ""
        ctx.loss("category_ids", len(moved), f"category ids that are not 1..N in class order "
                 f"({fmt.name} numbers classes 1..N by their order: {shown}{more})")
    supers = sum(bool(c.supercategory) and c.supercategory != a.supercategory
                 for c, a in zip(cats, after))
    ctx.loss("supercategories", supers, "supercategories")
    if KEYPOINTS in fmt.supports:
        kp_meta = sum(bool(c.keypoints or c.skeleton) and
                      (c.keypoints, c.skeleton) != (a.keypoints, a.skeleton)
                      for c, a in zip(cats, after))
        ctx.loss("keypoint_names", kp_meta, "keypoint names and skeletons of classes")


def _existing(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise Error(f"{p}: no such file or folder")
    return p
