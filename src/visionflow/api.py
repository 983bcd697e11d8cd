"""The public functions; the CLI is a thin shell over these."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .core.dataset import Dataset
from .core.errors import Error, OutputError
from .core.gc_pause import gc_paused
from .core.report import Report
from .formats import registry
from .formats.base import (ATTRIBUTES, BOXES, CATEGORY_IDS, ISCROWD, MASKS, OBB, POLYGONS, SCORES,
                           TRACK_IDS, Detection, Format, ReadContext, WriteContext)
from .io.atomic import atomic_dir
from .io.paths import is_inside

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
         **options: Any) -> Dataset:
    """Read a dataset in any known format (auto-detected unless `format` is given).

    lenient: keep rows that break the model's rules (boxes outside the image or of zero size,
    unknown class ids, duplicate ids) and report each as an "invalid" finding in `report`
    instead of failing; records that cannot be represented at all (malformed, pointing at an
    unknown image) are skipped and reported as with skip_errors. For checking and fixing.

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
    ctx = ReadContext(report=report if report is not None else Report(), options=options,
                      progress_factory=progress, skip_errors=skip_errors or lenient,
                      lenient=lenient)
    with gc_paused():
        ds = fmt.read(path, ctx)
    root = path if path.is_dir() else path.parent
    return ds.replace(meta={**ds.meta, "source_format": fmt.name,
                            "source_root": str(root.absolute())})


def write(dataset: Dataset, path: str | Path, format: str, *, images: str = "link",
          strict: bool = False, overwrite: bool = False, skip_errors: bool = False,
          report: Report | None = None, progress=None, **options: Any) -> Report:
    """Write `dataset` to the folder `path` in `format`; returns what could not be carried over.

    images: "link" (hard-link, copy where impossible), "copy", or "none" (annotations only).
    strict: turn every loss into a LossError before anything is written.
    The folder appears complete or not at all.
    """
    fmt = registry.get(format)
    if fmt.write is None:
        raise Error(f"format {fmt.name!r} can be read but not written")
    if images not in IMAGE_MODES:
        raise Error(f"--images must be one of {', '.join(IMAGE_MODES)}, got {images!r}")
    report = report if report is not None else Report()
    ctx = WriteContext(report=report, options=options, progress_factory=progress,
                       strict=strict, images=images, format=fmt.name, skip_errors=skip_errors)
    dest = Path(path)
    root = dataset.meta.get("source_root")
    if root and is_inside(dest, Path(root)):
        raise OutputError(f"{dest}: destination lies inside the source dataset {root}; "
                          "the source is never modified, choose a folder outside it")
    report_losses(dataset, fmt, ctx)
    with atomic_dir(dest, overwrite=overwrite) as tmp, gc_paused():
        fmt.write(dataset, tmp, ctx)
    return report


def convert(src: str | Path, dst: str | Path, to: str, *, from_format: str | None = None,
            skip_errors: bool = False, progress=None, read_options: dict | None = None,
            **write_options: Any) -> Report:
    """load + write in one call; returns the combined report."""
    src_path = _existing(src)
    if is_inside(Path(dst), src_path if src_path.is_dir() else src_path.parent):
        raise OutputError(f"{dst}: destination lies inside the source dataset {src}; "
                          "the source is never modified, choose a folder outside it")
    report = Report()
    ds = load(src_path, from_format, skip_errors=skip_errors, report=report, progress=progress,
              **(read_options or {}))
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
        held = ann.is_label.copy()
        for flag, has in ((POLYGONS, ann.has_polygon), (MASKS, ann.has_rle), (OBB, ann.has_obb)):
            if flag in fmt.supports or (flag == POLYGONS and MASKS in fmt.supports):
                held |= has()
        counts["boxes"] = int((~held).sum())
    for kind, count in counts.items():
        if kind not in fmt.supports:
            ctx.loss(kind, count, f"{kind.replace('_', ' ')} ({fmt.name} keeps "
                     f"{'the box' if kind != 'labels' else 'nothing'} of these annotations)")
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
    if CATEGORY_IDS not in fmt.supports:
        ids = ds.categories.ids
        if ids != list(range(ids[0], ids[0] + len(ids)) if ids else []):
            ctx.loss("category_ids", len(ids), "category ids that are not 1..N in order "
                     f"({fmt.name} numbers classes by their order)")


def _existing(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise Error(f"{p}: no such file or folder")
    return p
