"""Image classification as a CSV (Kaggle style): multi-class or multi-label, image-level labels.

Accepted tables (a header row is required; the image column is the first one named like
image, image_name, filename, file_name, file, path, id, image_id, img, else the first column):

    filename,label            multi-class: one class name per row (empty: no label)
    filename,labels           multi-label: names joined by ';' (or '|')
    filename,cat,dog,person   multi-label one-hot: 0/1 per class column (column order = class order)

and the whitespace text variant `name label [label ...]` per line (.txt, no header). Several
rows for one image add labels to it. Labels are image-level annotations (an all-NaN box).

Files: `labels.csv` (UNSPLIT) and/or `train.csv`, `val.csv`, `test.csv` (also valid/validation)
in the folder; a folder holding one other CSV is read as UNSPLIT; the user may name one file.
Images are looked for in `images/<split>/`, `images/`, then beside the CSV; a name without
extension (Kaggle's "ann_wo_ext") matches the image file with that stem. Images are needed for
their size. `classes.txt` (one name per line, written by the writer) gives the class order;
without it classes are in one-hot column order, else sorted by name.

Writer: `labels.csv` or `<split>.csv` with images in `images/` or `images/<split>/`; the CSV
holds `filename,label` when no image has two labels, else `filename,labels` joined by ';'
(`-O style=onehot` writes one-hot columns instead; `style=label|labels` forces a layout).
"""

from __future__ import annotations

import csv
import io
import os
import re
from pathlib import Path
from typing import Any

import numpy as np

from ..core.annotations import Annotations
from ..core.categories import Categories
from ..core.dataset import Dataset
from ..core.errors import Error, FormatError, MissingImageError, OutputError, ParseError
from ..core.images import UNSPLIT, Images, canonical_split
from ..io.images import IMAGE_SUFFIXES, is_image_file
from ..io.paths import clean_relative, resolve_inside
from ..io.safe_load import text_of
from . import common
from .builder import header_sizes
from .base import CLASS_ORDER, LABELS, Detection, Format, Option, ReadContext, WriteContext

CLASSES = "classes.txt"
UNSPLIT_FILE = "labels"
_SPLIT_FILES = ("train", "val", "valid", "validation", "test")
_IMAGE_COLS = ("image", "image_name", "filename", "file_name", "file", "path", "id",
               "image_id", "img", "image_path", "name")
_LABEL_COLS = ("label", "label_name", "labels", "class", "class_name", "category", "tags",
               "tag", "target")
_BOX_COLS = {"xmin", "ymin", "xmax", "ymax", "x1", "y1", "x2", "y2", "bbox", "x", "y", "w", "h",
             "width", "height", "x_min", "y_min", "x_max", "y_max", "box"}
_LIST_SEP = re.compile(r"[;|]")
STYLES = ("auto", "label", "labels", "onehot")


# --- detect -------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    try:
        files = _files(path)
    except FormatError:
        return None
    if not files:
        return None
    _, file = files[0]
    try:
        with open(file, encoding="utf-8-sig", newline="") as f:
            head = f.read(8192)
    except (OSError, UnicodeDecodeError):
        return None
    if file.suffix.lower() == ".txt":
        first = next((ln.split() for ln in head.splitlines() if ln.strip()), [])
        if len(first) >= 2 and is_image_file(first[0]) and not any(
                _is_number(t) for t in first[1:]):
            return Detection("cls-csv", 0.6, (f"{file.name}: 'image label' lines",))
        return None
    rows = list(csv.reader(io.StringIO(head)))
    if len(rows) < 2:
        return None
    header = [h.strip().lower() for h in rows[0]]
    if _BOX_COLS & set(header) or len(header) < 2:
        return None
    kind = _kind(header, rows[1:6])
    if kind is None:
        return None
    return Detection("cls-csv", 0.8, ((f"{file.name}: {kind} classification CSV "
                                      f"({','.join(rows[0][:4])})"),))


# --- read ---------------------------------------------------------------------------------

def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    files = _files(path)
    if not files:
        raise FormatError(f"{path}: no classification CSV (labels.csv, train.csv, ...)")
    root = path.parent if path.is_file() else path
    class_order = _read_classes(root / CLASSES)
    records: dict[tuple[str, str], dict[str, Any]] = {}
    onehot_order: list[str] = []
    for split, file in files:
        for name, labels, where, columns in _rows(file, ctx):
            onehot_order += [c for c in columns if c not in onehot_order]
            key = (split, name)
            rec = records.get(key)
            if rec is None:
                rec = records[key] = {"name": name, "split": split, "labels": [],
                                      "where": where, "csv": file}
            rec["labels"] += [lb for lb in labels if lb not in rec["labels"]]
    recs = list(records.values())
    for rec in recs:
        try:
            rec["file_name"], rec["path"] = _find_image(root, rec["csv"].parent, rec["split"],
                                                        rec["name"], rec["where"], ctx)
        except Error as e:
            ctx.fail(e)
            rec["path"] = None
    looked = ("images/<split>/, images/ and beside the CSV)" if ctx.images_dir is None
              else f"{ctx.images_dir})")
    sizes = header_sizes(ctx, [r["path"] for r in recs], [r["where"] for r in recs],
                         lambda i: MissingImageError(recs[i]["where"], f"image {recs[i]['name']!r}"
                                                     f" not found (looked in {looked}")
                         if "file_name" in recs[i] else None)
    recs = [r for r, (w, h) in zip(recs, sizes) if w > 0]
    sizes = sizes[sizes[:, 0] > 0]

    found = [lb for r in recs for lb in r["labels"]]
    names = class_order or onehot_order
    names = list(dict.fromkeys(names + sorted(set(found) - set(names))))
    cat_id = {n: i for i, n in enumerate(names, 1)}
    rows = [(i, cat_id[lb]) for i, r in enumerate(recs) for lb in r["labels"]]
    ann = Annotations.build([i for i, _ in rows], [c for _, c in rows],
                            np.full((len(rows), 4), np.nan))
    images = Images.build([r["file_name"] for r in recs], sizes[:, 0], sizes[:, 1],
                          split=[r["split"] for r in recs], path=[r["path"] for r in recs])
    ds = Dataset(images, ann, Categories.from_names(names))
    return common.finish_read(ds, ctx, where_annotation=lambda i: recs[rows[i][0]]["where"],
                              where_image=lambda i: recs[i]["where"])


def _files(path: Path) -> list[tuple[str, Path]]:
    if path.is_file():
        if path.suffix.lower() not in (".csv", ".txt"):
            raise FormatError(f"{path}: not a .csv or .txt classification file")
        split = canonical_split(path.stem) if path.stem in _SPLIT_FILES else UNSPLIT
        return [(split, path)]
    if not path.is_dir():
        return []
    named = [(UNSPLIT if s == UNSPLIT_FILE else canonical_split(s), path / f"{s}.csv")
             for s in (UNSPLIT_FILE, *_SPLIT_FILES) if (path / f"{s}.csv").is_file()]
    if named:
        return named
    others = sorted(p for p in path.glob("*.csv") if p.is_file())
    return [(UNSPLIT, others[0])] if len(others) == 1 else []


def _read_classes(path: Path) -> list[str]:
    if not path.is_file():
        return []
    try:
        text = text_of(path, "utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise ParseError(path, f"cannot read class list ({e.__class__.__name__})") from None
    return [line.strip() for line in text.splitlines() if line.strip()]


def _kind(header: list[str], sample: list[list[str]]) -> str | None:
    image_col = _image_col(header)
    rest = [h for j, h in enumerate(header) if j != image_col]
    if len(rest) == 1 and (rest[0] in _LABEL_COLS or rest[0] == "labels"):
        return "multi-label" if rest[0] in ("labels", "tags") else "multi-class"
    if len(rest) >= 2 and sample and all(
            all(v.strip() in ("0", "1", "") for j, v in enumerate(row) if j != image_col)
            for row in sample if len(row) == len(header)):
        return "one-hot"
    return None


def _image_col(header: list[str]) -> int:
    return next((header.index(c) for c in _IMAGE_COLS if c in header), 0)


def _rows(file: Path, ctx: ReadContext):
    """(image name, labels, where, one-hot columns) per data row."""
    try:
        text = text_of(file, "utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        ctx.fail(ParseError(file, f"cannot read as UTF-8 text ({e.__class__.__name__})"))
        return
    if file.suffix.lower() == ".txt":
        for n, line in enumerate(text.splitlines(), 1):
            tokens = line.split()
            if not tokens or tokens[0].startswith("#"):
                continue
            yield tokens[0], tokens[1:], f"{file}:{n}", []
        return
    try:
        table = list(csv.reader(io.StringIO(text, newline="")))
    except csv.Error as e:
        ctx.fail(ParseError(file, f"malformed CSV ({e})"))
        return
    if not table:
        return
    header = [h.strip() for h in table[0]]
    lower = [h.lower() for h in header]
    image_col = _image_col(lower)
    other = [j for j in range(len(header)) if j != image_col]
    if set(lower) & _BOX_COLS - {"id", "name"}:
        raise ParseError(f"{file}:1", f"header {','.join(header)} has box columns; this is a "
                         "detection CSV, not a classification one")
    if not other:
        raise ParseError(f"{file}:1", "expected an image column and a label column (or one "
                         f"0/1 column per class), got header {','.join(header)!r}")
    onehot = not (len(other) == 1 and lower[other[0]] in _LABEL_COLS)
    columns = [header[j] for j in other] if onehot else []
    for n, row in enumerate(table[1:], 2):
        if not row or not any(v.strip() for v in row):
            continue
        where = f"{file}:{n}"
        if len(row) != len(header):
            ctx.fail(ParseError(where, f"expected {len(header)} columns like the header, got "
                                f"{len(row)} ({','.join(row)[:80]!r})"))
            continue
        name = row[image_col].strip()
        if not name:
            ctx.fail(ParseError(where, "empty image name"))
            continue
        if onehot:
            values = [row[j].strip() for j in other]
            if not all(v in ("0", "1", "") for v in values):
                ctx.fail(ParseError(where, "one-hot columns must hold 0 or 1, got "
                                    f"{','.join(values)[:80]!r}"))
                continue
            labels = [header[j] for j, v in zip(other, values) if v == "1"]
        else:
            value = row[other[0]].strip()
            labels = [v.strip() for v in _LIST_SEP.split(value) if v.strip()] \
                if lower[other[0]] in ("labels", "tags") else ([value] if value else [])
        yield name, labels, where, columns


def _find_image(root: Path, folder: Path, split: str, name: str, where: str,
                ctx: ReadContext) -> tuple[str, str | None]:
    rel = clean_relative(name, where=where)
    if ctx.images_dir is not None:  # as named, else <name>.<image suffix> when it has none
        names = [rel] if Path(rel).suffix and is_image_file(rel) else \
            [rel, *(f"{rel}{s}" for s in IMAGE_SUFFIXES)]
        for n in names:
            found = common.find_image(ctx, root, [n], where=where)
            if found is not None:
                return n, found
        return rel, None
    bases = ([f"images/{split}"] if split else []) + ["images", ""]
    base_dirs = [folder / b if b else folder for b in bases]
    for base in base_dirs:
        if not base.is_dir():
            continue
        candidate = resolve_inside(root, os.path.relpath(base / rel, root), where=where,
                                   follow_links=ctx.follow_links)
        if candidate.is_file():
            return rel, str(candidate.absolute())
        if not Path(rel).suffix or not is_image_file(rel):
            matches = sorted(p for p in candidate.parent.glob(f"{candidate.name}.*")
                             if is_image_file(p))
            if matches:
                resolve_inside(root, os.path.relpath(matches[0], root), where=where,
                               follow_links=ctx.follow_links)
                return f"{rel}{matches[0].suffix}", str(matches[0].absolute())
    return rel, None


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


# --- write --------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    style = ctx.options.get("style", "auto")  # one of STYLES (api.write checks)
    imgs = ds.images
    names = ds.categories.names
    common.refuse_names(names, "class name", f"{CLASSES} and the CSV", padded=True)
    common.refuse_names(imgs.file_name, "image name", "the CSV", padded=True)
    name_of = {c.id: c.name for c in ds.categories}
    labels = ds.annotations[ds.annotations.is_label]
    per_image: list[list[str]] = [[] for _ in range(len(imgs))]
    for i, c in zip(labels.image_index, labels.category_id):
        if name_of[int(c)] not in per_image[i]:
            per_image[i].append(name_of[int(c)])
    multi = any(len(p) > 1 for p in per_image)
    if style == "auto":
        style = "labels" if multi else "label"
    if style == "label" and multi:
        raise OutputError("images with several labels cannot be written with style=label; "
                          "use style=labels or style=onehot")
    if style == "labels" and any(_LIST_SEP.search(n) for n in names):
        raise OutputError("class names containing ';' or '|' cannot be joined in a labels "
                          "column; use style=onehot")
    if style == "onehot" and len(set(names)) != len(names):
        raise OutputError("duplicate class names cannot be one-hot columns")
    splits = [str(s) for s in imgs.split]
    for s in set(splits) - {UNSPLIT}:
        if not re.fullmatch(r"[\w.-]+", s) or s.startswith(".") or s == UNSPLIT_FILE:
            raise OutputError(f"{out_dir}: split name {s!r} cannot name a CSV file; rename it")
    header = ["filename"] + (names if style == "onehot" else [style])
    dest: list[Path] = []
    files: dict[str, list[list[str]]] = {}
    for i in range(len(imgs)):
        rel = clean_relative(str(imgs.file_name[i]), where=f"image {imgs.file_name[i]!r}")
        split = splits[i]
        dest.append(out_dir / "images" / split / rel if split else out_dir / "images" / rel)
        if style == "onehot":
            row = [rel] + ["1" if n in per_image[i] else "0" for n in names]
        else:
            row = [rel, ";".join(per_image[i])]
        files.setdefault(split, []).append(row)
    for split, rows in files.items():
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        (out_dir / f"{split or UNSPLIT_FILE}.csv").write_text(buf.getvalue(), encoding="utf-8")
    (out_dir / CLASSES).write_text("".join(f"{n}\n" for n in names), encoding="utf-8")
    common.write_images(ds, lambda i: dest[i], ctx)


FORMAT = Format(
    name="cls-csv",
    description="Image classification CSV (filename,label / filename,labels a;b / one-hot "
                "columns), Kaggle style",
    supports=frozenset({LABELS, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("classification-csv", "csv-cls"),
    write_options=(Option("style", default="auto", choices=STYLES,
                          help="label (filename,label), labels (filename,labels a;b) or "
                               "onehot (a column per class); auto: label, or labels when an "
                               "image has several"),),
)
