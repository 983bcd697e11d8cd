"""The public functions; the CLI is a thin shell over these."""

from __future__ import annotations

import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from .core.annotations import COLUMNS
from .core.categories import Categories, Category
from .core.dataset import Dataset
from .core.errors import DataWarning, Error, MissingImageError, did_you_mean
from .core.gc_pause import gc_paused
from .core.images import split_renames
from .core.report import Report
from .formats import registry
from .formats.base import (ATTRIBUTES, BOXES, CATEGORY_IDS, CATEGORY_META, CLASS_ORDER,
                           ERRORS, KEYPOINTS, LABELS, MASKS, POLYGONS, SOURCE_OPTIONS, Detection, Format, ReadContext,
                           WriteContext, parse_options)
from .formats.common import IMAGE_BYTES
from .io.atomic import atomic_dir, guard_destination, in_temp_dir
from .io.images import missing_files
from .io.safe_load import read_scope

IMAGE_MODES = ("link", "copy", "none")


def formats() -> list[Format]:
    """Every format visionflow knows, built-in and plugins."""
    return registry.all_formats()


class Detections(list):
    """detect's answer: the format candidates, most confident first (a list of Detection),
    and `best`, the one format a read would pick (detection is not run again)."""

    def __init__(self, path: Path, found: list[Detection]):
        super().__init__(found)
        self.path = path

    @property
    def best(self) -> Detection:
        """The single best candidate; NotDetected (none) or AmbiguousFormat (a tie)."""
        return registry.choose(self.path, list(self))


def detect(path: str | Path) -> Detections:
    """`visionflow detect`: which format a folder or file is in.

    Returns `Detections`: a list of Detection (format, confidence 0..1, reasons), most
    confident first, and `.best`, the one format a read would pick, which raises NotDetected
    (none) or AmbiguousFormat (a tie) from the same list. Raises Error when `path` does not
    exist."""
    path = _existing(path)
    return Detections(path, registry.candidates(path))


def load(path: str | Path, format: str | None = None, *, errors: str = "raise",
         report: Report | None = None, progress=None, strict: bool = False,
         images_dir: str | Path | None = None, follow_links: bool = False,
         skip_errors: bool | None = None, lenient: bool | None = None,
         **options: Any) -> Dataset:
    """Read a dataset in any known format (auto-detected unless `format` is given).

    errors: what a bad record does. "raise" (default): the first one is an error. "skip": it
    is left out and reported (a "skipped" finding: file and line or record). "keep": for
    checking and fixing, rows that break the model's rules (boxes outside the image or of
    zero size, unknown class ids, duplicate ids) are kept and reported as "invalid" findings,
    and records that cannot be represented at all (malformed, pointing at an unknown image)
    are skipped and reported as with "skip"; image files are not opened to check them.
    report: where findings go. Without one, every kind of finding that is an error or a
    warning (skipped or kept records, undeclared classes, ...) is issued once, with a count,
    as a `visionflow.DataWarning`: nothing is dropped silently.
    strict: refuse what the reader would otherwise make up or drop with a warning (classes
    used but not declared, YOLO label files without an image).
    images_dir: the folder holding the images when they are not where the format puts them
    (a COCO file, CSV or boxes-only TFRecord kept apart from its images); a name is looked up
    there as written, else by its tails ("train/x.jpg" -> "x.jpg").
    follow_links: follow symlinks that lead out of the dataset (or images) folder; refused
    otherwise.
    skip_errors, lenient: deprecated spellings of errors="skip" and errors="keep".
    **options: the format's reader options (unknown ones are an error).

    Returns the Dataset (meta: source_format, source_root). Raises visionflow.Error
    subclasses: Error (no such path, bad parameter), FormatError/ParseError (malformed
    input), ValidationError, UnsafeInputError, MissingImageError.

    Examples:
        >>> import visionflow as vf
        >>> vf.load("no/such/folder")
        Traceback (most recent call last):
        ...
        visionflow.core.errors.Error: no/such/folder: no such file or folder
    """
    errors = errors_mode(errors, skip_errors=skip_errors, lenient=lenient)
    path = _existing(path)
    fmt = registry.get(format) if format else registry.get(registry.detect(path).format)
    if fmt.read is None:
        raise Error(f"format {fmt.name!r} can be written but not read")
    if fmt.missing():
        raise Error(fmt.missing())
    options = parse_options(fmt, options, "reader")
    if images_dir is not None and not Path(images_dir).is_dir():
        raise Error(f"`images_dir` {images_dir}: no such folder")
    ctx = ReadContext(report=report if report is not None else Report(), options=options,
                      progress_factory=progress, errors=errors, strict=strict,
                      follow_links=bool(follow_links),
                      images_dir=Path(images_dir).absolute() if images_dir is not None else None)
    with gc_paused(), split_renames() as renamed, \
            read_scope(path, ctx.follow_links):
        ds = fmt.read(path, ctx)
    if ctx.images_dir is not None and not ctx.images_dir_used:  # a plugin that ignored it
        raise Error(f"`images_dir` cannot be used with {fmt.name}: its reader does not look "
                    "images up by name (it lists its own folders)")
    present = set(ds.images.split.tolist())
    renamed = sorted((old, new) for old, new in renamed if new in present)
    for old, new in renamed:  # said once: every output names the split `new`
        ctx.report.add("info", "split.renamed", f"split {old!r} is read as {new!r}, "
                       f"visionflow's one name for it; outputs name it {new!r}")
    if report is None:
        warn_findings(ctx.report, f"reading {path}")
    root = path if path.is_dir() else path.parent
    meta = {**ds.meta, "source_format": fmt.name, "source_root": str(root.absolute())}
    if renamed:
        meta["split_renamed"] = [list(pair) for pair in renamed]
    return ds.replace(meta=meta)


def errors_mode(errors: str = "raise", *, skip_errors: bool | None = None,
                lenient: bool | None = None, stacklevel: int = 3) -> str:
    """The `errors` value, checked, from it or the deprecated skip_errors/lenient flags (which
    warn, DeprecationWarning, and still work for one release)."""
    if errors not in ERRORS:
        raise Error(f"`errors` must be one of {', '.join(repr(e) for e in ERRORS)}, got "
                    f"{errors!r}{did_you_mean(errors, ERRORS)}")
    for name, value, mode in (("lenient", lenient, "keep"), ("skip_errors", skip_errors, "skip")):
        if value is None:
            continue
        warnings.warn(f"{name}= is deprecated; pass errors={mode!r} instead", DeprecationWarning,
                      stacklevel=stacklevel)
        if value and errors == "raise":
            errors = mode
    return errors


def warn_findings(report: Report, context: str, *, stacklevel: int = 3) -> None:
    """A report nobody asked for, as warnings: one `DataWarning` per kind of error or warning
    finding, with its count and first example (a load without report= never drops silently)."""
    kinds: dict[str, list] = {}
    for f in report.findings:
        if f.severity in ("error", "warning"):
            kinds.setdefault(f.code, []).append(f)
    what = {"skipped": "record(s) skipped (errors='skip')",
            "invalid": "record(s) kept that break the model's rules (errors='keep')"}
    for code, found in kinds.items():
        count = sum(f.count for f in found)
        first = found[0]
        example = f"{first.where}: {first.message}" if first.where else first.message
        if code in what:
            text = f"{count} {what[code]}; first: {example}"
        else:
            text = f"{first.severity} {code} (x{count}): {example}"
        warnings.warn(DataWarning(f"{context}: {text} (pass report=vf.Report() to get each)"),
                      stacklevel=stacklevel)


def write(dataset: Dataset, path: str | Path, format: str | None, *, images: str = "copy",
          strict: bool = False, overwrite: bool = False, force: bool = False,
          errors: str = "raise", report: Report | None = None, progress=None,
          keep: tuple[str | Path, ...] = (), skip_errors: bool | None = None,
          **options: Any) -> Report:
    """Write `dataset` to the folder `path` in `format`; returns the report: what could not be
    carried over (once per kind), what was skipped, and `report.written` (the counts written).

    images: "copy" (a copy-on-write clone where the filesystem can, else a copy: the output
    never shares a writable file with the source), "link" (hard links: editing an output
    image in place edits the source), or "none" (annotations only).
    format None: the format the dataset was read from, with the writer options its reader
    recorded as defaults (a Roboflow COCO export stays Roboflow; base.SOURCE_OPTIONS).
    strict: turn every loss into a LossError before anything is written.
    overwrite: replace a non-empty folder; force: also one visionflow did not write.
    keep: folders the destination may not be or contain (a workspace), besides the source's
    own folders and image folders.
    errors: "raise" (default): an image whose file is missing is an error; "skip" or "keep":
    it is reported and left out, with its annotations (an output never points at a file it
    does not hold, so there is nothing to keep). skip_errors: deprecated errors="skip".
    The folder appears complete or not at all; the source is never modified (the
    destination may not be, contain or lie inside it: io.atomic.guard_destination).
    Raises OutputError (destination), LossError (strict), MissingImageError, Error.
    """
    errors = errors_mode(errors, skip_errors=skip_errors)
    if format is None:  # the dataset's own format, written back the way it was read
        if not dataset.source_format:
            raise Error("no output format given, and the dataset was not read from one")
        options = {**dataset.meta.get(SOURCE_OPTIONS, {}), **options}
    fmt = registry.get(format or dataset.source_format)
    if fmt.write is None:
        raise Error(f"format {fmt.name!r} can be read but not written")
    if fmt.missing():
        raise Error(fmt.missing())
    if images not in IMAGE_MODES:
        raise Error(f"`images` must be one of {', '.join(IMAGE_MODES)}, got {images!r}")
    options = parse_options(fmt, options, "writer")
    report = report if report is not None else Report()
    ctx = WriteContext(report=report, options=options, progress_factory=progress,
                       strict=strict, images=images, format=fmt.name, errors=errors)
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
    errors="skip" reported and dropped with their annotations, so that no output ever points at
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
                                   "annotations (pass `images='none'` to write annotations only)"))
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


def _held(ann, fmt: Format) -> np.ndarray:
    """Annotations `fmt` writes: those with a geometry it holds (a label where it holds
    labels; a box, or the box of a mask, polygon or oriented box, where it holds that)."""
    s = fmt.supports
    held = ann.is_label & (LABELS in s)
    if BOXES in s:
        held |= ~ann.is_label
    for spec in COLUMNS:  # polygons, masks, oriented boxes, polylines
        if spec.outline and (spec.holds in s or (spec.holds == POLYGONS and MASKS in s)):
            held |= ann.has(spec.holds)
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
            images: str = "copy", strict: bool = False, overwrite: bool = False,
            force: bool = False, errors: str = "raise", images_dir: str | Path | None = None,
            follow_links: bool = False, read_options: dict | None = None,
            write_options: dict | None = None, report: Report | None = None, progress=None,
            skip_errors: bool | None = None, **options: Any) -> Report:
    """`visionflow convert`: load `src` (format `from_format`, else detected) and write it to
    the folder `dst` in format `to`, through the canonical model.

    images, strict, overwrite, force: as for `write` (strict also refuses classes the source
    uses without declaring them). errors, images_dir, follow_links: as for `load` (errors
    also holds for the write). read_options: the reader's options (-I); write_options and
    **options: the writer's (-O). The destination is checked against the source before
    anything is read. Returns the report of both steps (report.written: what was written);
    findings go to `report` when given.
    """
    errors = errors_mode(errors, skip_errors=skip_errors)
    src_path = _existing(src)
    guard_destination(dst, sources=[src_path if src_path.is_dir() else src_path.parent],
                      overwrite=overwrite, force=force)
    report = report if report is not None else Report()
    ds = load(src_path, from_format, errors=errors, report=report, progress=progress,
              strict=strict, images_dir=images_dir, follow_links=follow_links,
              **(read_options or {}))
    write(ds, dst, to, images=images, strict=strict, overwrite=overwrite, force=force,
          errors=errors, report=report, progress=progress, **{**(write_options or {}), **options})
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
    for spec in COLUMNS:  # scores, track ids, iscrowd flags (geometry: above)
        if not spec.geometry and spec.holds not in fmt.supports:
            ctx.loss(str(spec.holds), int(ann.has(spec.field).sum()), spec.what)
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
