"""TensorFlow Object Detection CSV: one row per box, `filename,width,height,class,xmin,ymin,
xmax,ymax` (the raccoon tutorial's xml_to_csv.py output and Roboflow's "Tensorflow Object
Detection CSV" export).

Layouts read: one .csv file; a folder of them (raccoon's data/train_labels.csv,
test_labels.csv); Roboflow's `<split>/_annotations.csv` with the images beside it. Columns are
found by name, in any order: `filename`, `class` (or, as in BCCD's test.csv, the one other
column: `cell_type`), `xmin ymin xmax ymax`, and optional `width height` (without them the
image headers give the size, so the images must be there).

Rules:
- Coordinates are continuous pixels as the TF OD API uses them (x / width), no VOC +-1.
- Split: Roboflow's folder name; else the file stem without `_labels`/`_annotations` when it
  names a split (train_labels.csv -> "train"); a folder holding train/val/test CSVs and others
  (raccoon_labels.csv, the union) reads only the split files. Other stems are UNSPLIT.
- Images are looked for beside the CSV, in images/, JPEGImages/ (also one folder up and in a
  subfolder holding JPEGImages, BCCD/JPEGImages), always inside that folder (io.paths).
- Classes: the TF OD `label_map.pbtxt` the CSV workflow pairs with (found as the TFRecord
  reader finds it: beside the CSVs, in the dataset folder, or training/) gives ids and order;
  names it lacks follow sorted by name. Without one, classes are sorted by name, ids 1..N.
  The writer writes label_map.pbtxt (ids below 1 renumbered, as for TFRecords).
- An image without boxes is written as one row with empty class and coordinates and read
  back as an image without annotations (TF's generate_tfrecord.py expects a box per row).
- Written: `_annotations.csv` per split folder (`<split>/`, the root for UNSPLIT) with the
  images beside it, and label_map.pbtxt at the root.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..core.annotations import Annotations
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import (
    FormatError,
    MissingImageError,
    ParseError,
    UnsafeInputError,
)
from ..core.images import UNSPLIT, Images, canonical_split
from ..io.paths import clean_relative
from . import _label_map as pbtxt
from . import common
from .builder import header_sizes
from .base import (
    BOXES,
    CATEGORY_IDS,
    CLASS_ORDER,
    Detection,
    Format,
    ReadContext,
    WriteContext,
)
from .writing import folder_name, rows_by_image

FILE = "_annotations.csv"
HEADER = ("filename", "width", "height", "class", "xmin", "ymin", "xmax", "ymax")
_COORDS = ("xmin", "ymin", "xmax", "ymax")
_SPLITS = ("train", "val", "test")
_SUFFIXES = ("_labels", "_annotations", "-labels", "_annotation", "_boxes")


# --- detect ---------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    files = _csv_files(path)
    if not files:
        return None
    header = _header(files[0][0])
    if header is None or _columns(header) is None:
        return None
    exact = tuple(header) == HEADER
    reason = (f"{files[0][0].name}: header {','.join(HEADER)}" if exact else
              f"{files[0][0].name}: CSV with filename, class and xmin,ymin,xmax,ymax columns")
    confidence = 0.85 if exact else 0.7
    if path.is_dir() and files[0][0].parent.name == "data" and files[0][0].parent != path:
        return Detection("tf-csv", confidence - 0.3, (reason, "found in the data/ subfolder"))
    return Detection("tf-csv", confidence, (reason,))


# --- read -----------------------------------------------------------------------------------

@dataclass
class _Image:
    file_name: str
    split: str
    width: int
    height: int
    where: str
    path: str | None = None
    boxes: list[tuple[str, tuple[float, float, float, float], str]] = field(default_factory=list)


def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    files = _csv_files(path)
    if not files:
        raise FormatError(f"{path}: no TensorFlow CSV annotation file (*.csv with filename, "
                          "class and xmin,ymin,xmax,ymax columns)")
    images: dict[tuple[str, str], _Image] = {}
    for file, split in files:
        _read_file(file, split, images, ctx)
    rows = list(images.values())
    need = [r for r in rows if r.width <= 0 or r.height <= 0]
    sizes = header_sizes(ctx, [r.path for r in need], [r.where for r in need],
                         lambda i: MissingImageError(need[i].where, "no width/height columns and "
                                                     f"image file {need[i].file_name!r} not "
                                                     "found; the size cannot be known"))
    for r, (w, h) in zip(need, sizes):
        if r.path is not None:
            r.width, r.height = int(w), int(h)
    rows = [r for r in rows if r.width > 0 and r.height > 0]

    root = path if path.is_dir() else path.parent
    label_map: dict[int, tuple[str, str]] = {}
    for p in dict.fromkeys(pbtxt.find_label_map(f.parent, root) for f, _ in files):
        if p is not None:
            pbtxt.read_label_map(p, ctx, label_map)
    cats = [Category(cid, name) for cid, (name, _) in label_map.items()]
    known = {c.name for c in cats}
    first = max([c.id for c in cats], default=0) + 1
    cats += [Category(first + k, n) for k, n in enumerate(
        sorted({name for r in rows for name, _, _ in r.boxes} - known))]
    cat_id: dict[str, int] = {}
    for c in cats:
        cat_id.setdefault(c.name, c.id)
    objects = [(i, b) for i, r in enumerate(rows) for b in r.boxes]
    table = Images.build([r.file_name for r in rows], [r.width for r in rows],
                         [r.height for r in rows], split=[r.split for r in rows],
                         path=[r.path for r in rows])
    ann = Annotations.build([i for i, _ in objects], [cat_id[b[0]] for _, b in objects],
                            np.array([b[1] for _, b in objects], np.float64).reshape(-1, 4))
    ds = Dataset(table, ann, Categories(cats))
    return common.finish_read(ds, ctx, where_annotation=lambda k: objects[k][1][2],
                              where_image=lambda k: rows[k].where)


def _csv_files(path: Path) -> list[tuple[Path, str]]:
    """(file, split) to read."""
    if path.is_file():
        return [(path, _split_of(path))] if path.suffix.lower() == ".csv" else []
    if not path.is_dir():
        return []
    roboflow = [(path / FILE, UNSPLIT)] if (path / FILE).is_file() else []
    roboflow += [(d / FILE, canonical_split(d.name)) for d in sorted(path.iterdir())
                 if d.is_dir() and (d / FILE).is_file()]
    if roboflow:
        return roboflow
    for folder in (path, path / "data"):
        found = sorted(p for p in folder.glob("*.csv") if not p.name.startswith("."))
        found = [p for p in found if _header(p) is not None and _columns(_header(p)) is not None]
        split_files = [(p, _split_of(p)) for p in found if _split_of(p) != UNSPLIT]
        if split_files:
            return sorted(split_files, key=lambda f: (
                _SPLITS.index(f[1]) if f[1] in _SPLITS else 3, f[0].name))
        if len(found) == 1:
            return [(found[0], UNSPLIT)]
    return []


def _split_of(file: Path) -> str:
    if file.name == FILE:
        return canonical_split(file.parent.name) if canonical_split(file.parent.name) in _SPLITS \
            else UNSPLIT
    stem = file.stem
    for suffix in _SUFFIXES:
        stem = stem.removesuffix(suffix)
    split = canonical_split(stem)
    return split if split in _SPLITS else UNSPLIT


def _header(file: Path) -> list[str] | None:
    try:
        with open(file, encoding="utf-8-sig", newline="") as f:
            line = f.readline(4096)
    except (OSError, UnicodeDecodeError):
        return None
    try:
        return [c.strip().lower() for c in next(csv.reader([line]))]
    except (StopIteration, csv.Error):
        return None


def _columns(header: list[str]) -> dict[str, int] | None:
    """Column index of each field; None when this is not a TF CSV header."""
    if "filename" not in header or not all(c in header for c in _COORDS):
        return None
    cols = {name: header.index(name) for name in ("filename", *_COORDS, "width", "height")
            if name in header}
    if "class" in header:
        cols["class"] = header.index("class")
    else:
        others = [i for i, c in enumerate(header) if c not in cols and c not in HEADER]
        if len(others) != 1:
            return None
        cols["class"] = others[0]
    return cols


def _image_dir(file: Path, first_name: str | None) -> Path:
    """The folder the CSV's file names are relative to."""
    d = file.parent
    candidates = [d, d / "images", d / "JPEGImages", d.parent / "images",
                  d.parent / "JPEGImages"]
    try:
        candidates += [s / "JPEGImages" for s in sorted(d.iterdir()) if s.is_dir()]
    except OSError:
        pass
    if first_name:
        for c in candidates:
            if c.is_dir() and (c / first_name).is_file():
                return c
    return next((c for c in candidates[1:] if c.is_dir()), d)


def _read_file(file: Path, split: str, images: dict[tuple[str, str], _Image],
               ctx: ReadContext) -> None:
    table = common.csv_table(file, ctx, ",".join(HEADER))
    if table is None:
        return
    header, rows = [c.lower() for c in table[0]], table[1]
    cols = _columns(header)
    if cols is None:
        ctx.fail(ParseError(f"{file}:1", f"header {','.join(header)!r} lacks filename, a class "
                            f"column or xmin,ymin,xmax,ymax; expected {','.join(HEADER)}"))
        return
    image_dir: Path | None = None
    for line, row in rows:
        where = f"{file}:{line}"
        if len(row) != len(header):
            ctx.fail(ParseError(where, f"expected {len(header)} fields, got {len(row)} "
                                f"({','.join(row)!r})"))
            continue
        name = row[cols["filename"]].strip()
        if image_dir is None:
            image_dir = _image_dir(file, name)
        try:
            img_path = common.image_file(ctx, image_dir, name, where=where)
        except UnsafeInputError as e:
            ctx.fail(e)
            continue
        try:
            size = [_int(row[cols[k]], k) if k in cols else 0 for k in ("width", "height")]
            label = row[cols["class"]].strip()
            coords = [row[cols[k]].strip() for k in _COORDS]
            box = tuple(common.cell_float(v, k) for v, k in zip(coords, _COORDS)) if label or any(coords) \
                else None
        except ValueError as e:
            ctx.fail(ParseError(where, str(e)))
            continue
        if box is not None and not label:
            ctx.fail(ParseError(where, "empty class for a box"))
            continue
        key = (split, clean_relative(name, where=where))  # image_file took it already
        img = images.get(key)
        if img is None:
            img = images[key] = _Image(key[1], split, *size, where,
                                       str(img_path.absolute()) if img_path.is_file() else None)
        elif size[0] > 0 and (img.width, img.height) != tuple(size):
            ctx.fail(ParseError(where, f"{name} is {size[0]}x{size[1]} here but "
                                f"{img.width}x{img.height} at {img.where}"))
            continue
        if box is not None:
            img.boxes.append((label, box, where))  # type: ignore[arg-type]


def _int(text: str, column: str) -> int:
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"column {column}: expected a number, got {text!r}") from None
    if not value.is_integer():
        raise ValueError(f"column {column}: expected an integer, got {text!r}")
    return int(value)


# --- write ----------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs = ds.images
    names = {c.id: c.name for c in ds.categories}
    common.refuse_names(names.values(), "class name", "a TensorFlow CSV row", padded=True)
    common.refuse_names(imgs.file_name, "image name", "a TensorFlow CSV row", padded=True)
    cats, _ = pbtxt.label_ids(ds, ctx)
    (out_dir / pbtxt.LABEL_MAP).write_text(pbtxt.label_map_text(cats), encoding="utf-8")
    dup = len(names) - len(set(names.values()))
    ctx.loss("duplicate_category_names", dup, "categories sharing a name (the CSV names "
             "classes, they merge)")
    boxes = ds.annotations[~ds.annotations.is_label]
    rows_of = rows_by_image(boxes, len(imgs))
    by_split: dict[str, list[list[str]]] = {}
    for i in range(len(imgs)):
        split = imgs.split[i]
        folder_name(split, out_dir)
        rows = by_split.setdefault(split, [])
        base = [str(imgs.file_name[i]), str(imgs.width[i]), str(imgs.height[i])]
        rows_i = rows_of[i]
        if len(rows_i) == 0:
            rows.append(base + [""] * 5)
        for r in rows_i:
            rows.append(base + [names[int(boxes.category_id[r])]] +
                        [common.fmt_float(float(v)) for v in boxes.xyxy[r]])
    for split, rows in by_split.items():
        folder = out_dir / split if split else out_dir
        folder.mkdir(parents=True, exist_ok=True)
        buf = io.StringIO(newline="")
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(HEADER)
        w.writerows(rows)
        (folder / FILE).write_text(buf.getvalue(), encoding="utf-8")
    common.write_images(ds, lambda i: (out_dir / imgs.split[i] if imgs.split[i] else out_dir)
                        / imgs.file_name[i], ctx)


FORMAT = Format(
    name="tf-csv",
    description="TensorFlow Object Detection CSV (filename,width,height,class,xmin,ymin,xmax,"
                "ymax)",
    supports=frozenset({BOXES, CATEGORY_IDS, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("tf_csv", "tensorflow-csv", "tfcsv"),
)
