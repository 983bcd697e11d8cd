"""VoTT CSV export: one row per box, images beside the CSV.

    "image","xmin","ymin","xmax","ymax","label"
    "img0001.jpg",10,5,20,7,"helmet"

Coordinates are pixels (continuous, passed unchanged). The file holds no image size: sizes
come from the image headers, so images must be on disk.

Layouts read: one .csv file with that header, or a folder of them, at its top level and one
folder down (Datumaro's `<subset>-export.csv` names give the split: train, val/valid, test;
any other prefix is unsplit). Images without boxes have no row: image files beside a CSV that
is alone in its folder and lists none of them are read as images without boxes. Written:
`<split>-export.csv` (`default-export.csv` when unsplit) with the images beside it, at the top
level when the dataset has at most one split, else in one folder per split (so that each
split's images without boxes stay its own).

Classes: Datumaro's `dataset_meta.json` ({"labels": [...]}) at the top (else beside the first
CSV) gives the class order when present (the writer writes it at the top and beside each
CSV, where Datumaro looks); other names are sorted. Ids 1..N.
"""

from __future__ import annotations

import csv
import io
import os
from pathlib import Path

import numpy as np

from ..core.dataset import Dataset
from ..core.errors import (
    FormatError,
    ParseError,
    UnsafeInputError,
)
from ..core.images import UNSPLIT
from ..io.images import is_image_file
from ..io.paths import clean_relative
from ..io.safe_load import text_of
from . import _jsonfmt as jf
from . import common
from .base import BOXES, CLASS_ORDER, Detection, Format, ReadContext, WriteContext
from .writing import listed_once, rows_by_image

HEADER = ("image", "xmin", "ymin", "xmax", "ymax", "label")
SUFFIX = "-export"
META_FILE = "dataset_meta.json"


# --- detect ---------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    for f in _files(path)[:3]:
        if _has_header(f):
            return Detection("vott-csv", 0.9, (
                f"{f.name}: CSV with VoTT's header image,xmin,ymin,xmax,ymax,label",))
    return None


def _has_header(f: Path) -> bool:
    first = jf.head(f, 512).decode("utf-8", "replace").lstrip("\ufeff").splitlines()[:1]
    if not first:
        return False
    cells = tuple(c.strip().strip('"').lower() for c in first[0].split(","))
    return cells == HEADER


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path] if path.suffix.lower() == ".csv" else []
    found = sorted(path.glob("*.csv"))
    try:
        subdirs = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    except OSError:
        subdirs = []
    for d in subdirs:
        found += sorted(d.glob("*.csv"))
    return [f for f in found if f.is_file()]


# --- read -----------------------------------------------------------------------------------

_Record = jf.BoxRecord


def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    files = [f for f in _files(path) if _has_header(f)]
    if not files:
        raise FormatError(f"{path}: no VoTT CSV found (a .csv whose header is "
                          "image,xmin,ymin,xmax,ymax,label)")
    root = path if path.is_dir() else path.parent
    per_folder: dict[Path, int] = {}
    for f in files:
        per_folder[f.parent] = per_folder.get(f.parent, 0) + 1
    records: list[_Record] = []
    for f in files:
        split = jf.split_of_file(f.stem, SUFFIX)
        recs = _read_csv(f, split, ctx)
        if per_folder[f.parent] == 1 and path.is_dir():
            recs += _unlisted_images(f.parent, split, {r.file_name for r in recs})
        records += recs
    metas = [root / META_FILE, *(f.parent / META_FILE for f in files)]
    meta = next((m for m in metas if m.is_file()), root / META_FILE)
    return jf.build_box_dataset(records, jf.read_labels_meta(meta, ctx), ctx, sort_images=True,
                                no_size="image file {file_name!r} not found; VoTT CSV holds no "
                                "image size, so the image is needed")


def _read_csv(f: Path, split: str, ctx: ReadContext) -> list[_Record]:
    try:
        text = text_of(f, "utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ParseError(f, f"cannot read CSV ({e.__class__.__name__})") from None
    by_name: dict[str, _Record] = {}
    reader = csv.reader(io.StringIO(text))
    try:
        next(reader)
        for row in reader:
            line = reader.line_num
            where = f"{f}:{line}"
            if not row or all(not c.strip() for c in row):
                continue
            if len(row) != 6:
                ctx.fail(ParseError(where, f"expected 6 fields image,xmin,ymin,xmax,ymax,label,"
                                    f" got {len(row)}"))
                continue
            try:
                name = clean_relative(row[0], where=where)
                values = tuple(float(v) for v in row[1:5])
            except ValueError:
                ctx.fail(ParseError(where, f"xmin..ymax must be numbers, got {row[1:5]!r}"))
                continue
            except UnsafeInputError as e:
                ctx.fail(e)
                continue
            if not all(np.isfinite(values)):
                ctx.fail(ParseError(where, f"xmin..ymax must be finite, got {row[1:5]!r}"))
                continue
            rec = by_name.get(name)
            if rec is None:
                p = common.image_file(ctx, f.parent, name, where=where)
                rec = by_name[name] = _Record(name, split,
                                              os.path.abspath(p) if p.is_file() else None,
                                              where)
            rec.boxes.append((row[5], values, where))  # type: ignore[arg-type]
    except csv.Error as e:
        raise ParseError(f"{f}:{reader.line_num}", f"malformed CSV ({e})") from None
    return list(by_name.values())


def _unlisted_images(folder: Path, split: str, listed: set[str]) -> list[_Record]:
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.is_file()
                       and is_image_file(e.name) and not e.name.startswith("."))
    except OSError:
        return []
    return [_Record(n, split, os.path.abspath(folder / n), str(folder / n))
            for n in names if n not in listed]


# --- write ----------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs, ann = ds.images, ds.annotations
    names = {c.id: c.name for c in ds.categories}
    common.refuse_names(names.values(), "class name", "a VoTT CSV row")
    common.refuse_names(imgs.file_name, "image name", "a VoTT CSV row")
    boxes = ann[~ann.is_label]
    splits = imgs.splits()
    nested = len(splits) > 1
    odd = sorted({s for s in splits if s != UNSPLIT and jf.split_of_dir(s) != s})
    if odd:
        ctx.loss("split_names", int(np.isin(imgs.split, odd).sum()), "images in splits other "
                 f"than train/val/test ({', '.join(odd)}), read back under another split")
    rows_of = rows_by_image(boxes, len(imgs))
    texts: dict[str, io.StringIO] = {}
    dests: list[Path] = []
    seen: set[tuple[str, str]] = set()
    for i in range(len(imgs)):
        split = jf.unsplit_name(str(imgs.split[i]))
        name = listed_once(imgs.file_name[i], split, seen, out_dir)
        folder = out_dir / split if nested else out_dir
        dests.append(folder / name)
        buf = texts.get(split)
        if buf is None:
            buf = texts[split] = io.StringIO()
            buf.write(",".join(f'"{h}"' for h in HEADER) + "\n")
        for r in rows_of[i]:
            x1, y1, x2, y2 = (common.fmt_float(float(v)) for v in boxes.xyxy[r])
            buf.write(f"{_quote(name)},{x1},{y1},{x2},{y2},"
                      f"{_quote(names[int(boxes.category_id[r])])}\n")
    for split, buf in texts.items():
        target = (out_dir / split if nested else out_dir) / f"{split}{SUFFIX}.csv"
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(buf.getvalue(), encoding="utf-8")
    meta = jf.dump({"labels": [c.name for c in ds.categories]})
    (out_dir / META_FILE).write_bytes(meta)
    if nested:  # beside each CSV too: Datumaro looks for it there
        for split in texts:
            (out_dir / split / META_FILE).write_bytes(meta)
    common.write_images(ds, lambda i: dests[i], ctx)


def _quote(text: str) -> str:
    return '"' + text.replace('"', '""') + '"'


FORMAT = Format(
    name="vott-csv",
    description="VoTT CSV export (image,xmin,ymin,xmax,ymax,label per box)",
    supports=frozenset({BOXES, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("vott_csv",),
)
