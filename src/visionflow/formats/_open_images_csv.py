"""Open Images' CSV files, a kit of open_images.py: their names and columns, reading the class
descriptions, hierarchy, image lists and box/label annotations row by row (each bad row named
by file and line), and the helpers that write them back."""

from __future__ import annotations

import csv
import io
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..core.annotations import Annotations
from ..core.dataset import Dataset
from ..core.errors import ParseError, UnsafeInputError, ValidationError
from ..core.images import UNSPLIT, canonical_split
from ..io.images import is_image_file
from ..io.paths import clean_relative
from ..io.safe_load import bytes_of, text_of
from . import common
from .base import ReadContext, WriteContext


NAME = "open-images"
NS = NAME + "."
ANN_DIR, IMAGES_DIR = "annotations", "images"
IMAGE_META = "images.meta"
HIERARCHY = "bbox_labels_600_hierarchy.json"
CLASS_FILE = "class-descriptions-boxable.csv"
CLASS_PATTERNS = (CLASS_FILE, "oidv*-class-descriptions*.csv", "class-descriptions.csv")
ALL_IMAGES_FILE = "image_ids_and_rotation.csv"
IMAGES_SUFFIXES = ("-images-with-rotation.csv", "-images-with-labels-with-rotation.csv")
BOX_SUFFIX = "-annotations-bbox.csv"
LABEL_SUFFIX = "-annotations-human-imagelabels.csv"
_LABEL_FILE = re.compile(r".*-annotations-(human|machine)-imagelabels(-boxable)?\.csv")
MASK_SUFFIX = "-annotations-object-segmentation.csv"
IMAGE_FIELDS = ("ImageID", "Subset", "OriginalURL", "OriginalLandingURL", "License",
                "AuthorProfileURL", "Author", "Title", "OriginalSize", "OriginalMD5",
                "Thumbnail300KURL", "Rotation")
LABEL_FIELDS = ("ImageID", "Source", "LabelName", "Confidence")
BOX_FIELDS = ("ImageID", "Source", "LabelName", "Confidence", "XMin", "XMax", "YMin", "YMax",
              "IsOccluded", "IsTruncated", "IsGroupOf", "IsDepiction", "IsInside")
# CSV flag column -> attr name.
FLAGS = {"IsOccluded": "occluded", "IsTruncated": "truncated", "IsGroupOf": NS + "is_group_of",
         "IsDepiction": NS + "is_depiction", "IsInside": NS + "is_inside"}
SOURCE = NS + "source"
DEFAULT_SUBSET = "default"
_SUBSET_OUT = {"val": "validation", UNSPLIT: DEFAULT_SUBSET}
_OIDV = re.compile(r"^oidv\d+-")
DECIMALS = 12
_SNIFFED = 256  # CSVs of a folder whose header is read to find annotation files by content


@dataclass(slots=True)
class _Image:
    image_id: str
    split: str
    subset: str          # the folder name under images/
    where: str
    file_name: str = ""
    path: str | None = None
    width: int = 0
    height: int = 0


@dataclass(slots=True)
class _Row:
    image: _Image
    mid: str
    where: str
    box_norm: tuple[float, float, float, float] | None  # xmin, xmax, ymin, ymax
    score: float
    attrs: dict[str, Any] = field(default_factory=dict)


def _subset_of_file(file: Path) -> str:
    """The subset an annotation file names: oidv6-train-annotations-bbox.csv -> "train"."""
    name = file.name
    m = _LABEL_FILE.fullmatch(name)
    if m:
        name = name[:m.start(1) - len("-annotations-")]
    elif not name.endswith((BOX_SUFFIX, *IMAGES_SUFFIXES, MASK_SUFFIX)):
        # a file named otherwise (found by its header): train.csv names its subset, others none
        stem = name.rsplit(".", 1)[0]
        return stem if stem in ("train", "validation", "val", "test") else DEFAULT_SUBSET
    for suffix in (BOX_SUFFIX, *IMAGES_SUFFIXES, MASK_SUFFIX):
        name = name.removesuffix(suffix)
    return _OIDV.sub("", name) or DEFAULT_SUBSET


def _split(subset: str) -> str:
    return UNSPLIT if subset == DEFAULT_SUBSET else canonical_split(subset)


def _csv_rows(file: Path, ctx: ReadContext, need: tuple[str, ...]
              ) -> tuple[dict[str, int], list[tuple[int, list[str]]]] | None:
    """Column index by name and (line, row) of every non-empty row; None after a ctx.fail."""
    table = common.csv_table(file, ctx, ",".join(need))
    if table is None:
        return None
    header, rows = table
    missing = [c for c in need if c not in header]
    if missing:
        ctx.fail(ParseError(f"{file}:1", f"header lacks {','.join(missing)}; expected "
                            f"{','.join(need)}"))
        return None
    cols = {c: header.index(c) for c in header}
    width = max(cols[c] for c in need) + 1
    out: list[tuple[int, list[str]]] = []
    for line, row in rows:
        if len(row) < width:  # a short row is fine while it holds the columns read
            ctx.fail(ParseError(f"{file}:{line}", f"expected {len(header)} fields "
                                f"({','.join(header)}), got {len(row)} ({','.join(row)!r})"))
            continue
        out.append((line, row))
    return cols, out


def _read_classes(files: list[Path], ctx: ReadContext
                  ) -> tuple[list[str], dict[str, str], dict[str, str]]:
    """MIDs of the main description file in order, their names, names from the others."""
    mids: list[str] = []
    names: dict[str, str] = {}
    extra: dict[str, str] = {}
    for k, file in enumerate(files):
        try:
            text = text_of(file, "utf-8-sig")
            rows = list(csv.reader(io.StringIO(text, newline="")))
        except (OSError, UnicodeDecodeError, csv.Error) as e:
            ctx.fail(ParseError(file, f"cannot read CSV as UTF-8 ({e.__class__.__name__})"))
            continue
        for line, row in enumerate(rows, 1):
            if not row or not any(c.strip() for c in row):
                continue
            if line == 1 and [c.strip() for c in row] == ["LabelName", "DisplayName"]:
                continue
            where = f"{file}:{line}"
            if len(row) != 2 or not row[0].strip():
                ctx.fail(ParseError(where, f"expected LabelName,DisplayName, got "
                                    f"{','.join(row)!r}"))
                continue
            mid, name = row[0].strip(), row[1]
            if k == 0:
                if mid in names:
                    ctx.fail(ValidationError(where, f"LabelName {mid!r} listed twice"))
                    continue
                mids.append(mid)
                names[mid] = name
            else:
                extra.setdefault(mid, name)
    return mids, names, extra


def _read_hierarchy(file: Path, ctx: ReadContext) -> dict[str, str]:
    """MID -> its first parent's MID."""
    if not file.is_file():
        return {}
    try:
        root = orjson.loads(bytes_of(file))
    except (OSError, orjson.JSONDecodeError) as e:
        ctx.fail(ParseError(file, f"invalid JSON ({e.__class__.__name__}); expected "
                            "{\"LabelName\": ..., \"Subcategory\": [...]}"))
        return {}
    parents: dict[str, str] = {}
    stack = [root]
    while stack:
        node = stack.pop()
        if not isinstance(node, dict):
            continue
        children = node.get("Subcategory") or []
        for child in children if isinstance(children, list) else []:
            if isinstance(child, dict) and isinstance(child.get("LabelName"), str):
                parents.setdefault(child["LabelName"], str(node.get("LabelName")))
                stack.append(child)
    return parents


def _safe_subset(subset: str, where: str) -> str:
    if not subset or subset in (".", "..") or any(c in subset for c in "/\\\x00"):
        raise UnsafeInputError(where, f"subset {subset!r} cannot name a folder under "
                               f"{IMAGES_DIR}/")
    return subset


def _image_id(text: str) -> str:
    """An ImageID as given, less an image suffix some exports leave in it ("a.jpg" -> "a")."""
    text = text.strip()
    return text.rsplit(".", 1)[0] if is_image_file(text) and "." in text[:-1] else text


def _new_image(image_id: str, subset: str, where: str, given: str = "") -> _Image:
    image_id = clean_relative(image_id, where=where)
    subset = _safe_subset(subset, where)
    im = _Image(image_id, _split(subset), subset, where)
    if given and given != image_id:  # the ImageID held the file name: the fallback name
        im.file_name = clean_relative(given, where=where)
    return im


def _read_image_list(file: Path, images: dict[str, _Image], only_split: str | None,
                     ctx: ReadContext) -> None:
    parsed = _csv_rows(file, ctx, ("ImageID", "Subset"))
    if parsed is None:
        return
    cols, rows = parsed
    for line, row in rows:
        where = f"{file}:{line}"
        given, subset = row[cols["ImageID"]].strip(), row[cols["Subset"]].strip()
        image_id = _image_id(given)
        if image_id in images:
            ctx.fail(ValidationError(where, f"ImageID {image_id!r} listed twice (first at "
                                     f"{images[image_id].where})"))
            continue
        try:
            im = _new_image(image_id, subset, where, given)
        except UnsafeInputError as e:
            ctx.fail(e)
            continue
        if only_split is None or im.split == only_split:
            images[image_id] = im


def _read_annotations(file: Path, is_box: bool, images: dict[str, _Image], rows: list[_Row],
                      ctx: ReadContext) -> None:
    parsed = _csv_rows(file, ctx, BOX_FIELDS[:8] if is_box else LABEL_FIELDS)
    if parsed is None:
        return
    cols, table = parsed
    subset = _subset_of_file(file)
    flags = [(c, a) for c, a in FLAGS.items() if c in cols]
    source_col = cols.get("Source")
    for line, row in table:
        where = f"{file}:{line}"
        given = row[cols["ImageID"]].strip()
        image_id = _image_id(given)
        im = images.get(image_id)
        if im is None:
            try:
                im = images[image_id] = _new_image(image_id, subset, where, given)
            except UnsafeInputError as e:
                ctx.fail(e)
                continue
        confidence = row[cols["Confidence"]].strip()
        try:  # an empty Confidence (some exports) is what "1" is: a human's, no score
            score = _number(confidence, "Confidence") if confidence not in ("", "1") \
                else float("nan")
            box = tuple(_number(row[cols[c]], c) for c in ("XMin", "XMax", "YMin", "YMax")) \
                if is_box else None
            attrs: dict[str, Any] = {a: _flag(row[cols[c]], c) for c, a in flags}
        except ValueError as e:
            ctx.fail(ParseError(where, str(e)))
            continue
        except IndexError:  # a short row: the optional columns it lacks
            ctx.fail(ParseError(where, f"{len(row)} fields, fewer than the header's columns"))
            continue
        mid = row[cols["LabelName"]].strip()
        if not mid:
            ctx.fail(ParseError(where, "empty LabelName"))
            continue
        source = row[source_col].strip() if source_col is not None else ""
        attrs[SOURCE] = source or None
        rows.append(_Row(im, mid, where, box, score, attrs))  # type: ignore[arg-type]


def _number(text: str, column: str) -> float:
    """A number; a decimal comma ("0,358", quoted in the CSV by exports in such locales) too."""
    if "," in text and "." not in text and text.count(",") == 1:
        text = text.replace(",", ".")
    return common.cell_float(text, column)


def _flag(text: str, column: str) -> int | None:
    t = text.strip()
    if t in ("", "-1"):
        return None
    if t in ("0", "1"):
        return int(t)
    raise ValueError(f"column {column}: expected 1, 0 or -1 (unknown), got {text!r}")


def _label_names(ds: Dataset) -> dict[int, str]:
    """Category id -> MID: the ones read, else the category name (unique)."""
    known = ds.meta.get(NAME, {}).get("label_names", {}) if isinstance(
        ds.meta.get(NAME), dict) else {}
    out: dict[int, str] = {}
    taken: set[str] = set()
    for c in ds.categories:
        mid = known.get(str(c.id)) if isinstance(known, dict) else None
        if not isinstance(mid, str) or not mid.strip() or mid in taken or mid != mid.strip():
            mid = c.name.strip() or f"#{c.id}"
            if mid in taken:
                mid = f"{mid}#{c.id}"
        out[c.id] = mid
        taken.add(mid)
    return out


def _write_hierarchy(ds: Dataset, mids: dict[int, str], file: Path, ctx: WriteContext) -> None:
    """bbox_labels_600_hierarchy.json from supercategories that name another class."""
    first_by_name: dict[str, int] = {}
    for c in ds.categories:
        first_by_name.setdefault(c.name, c.id)
    children: dict[int | None, list[int]] = {}
    with_parent = [c for c in ds.categories if c.supercategory is not None]
    for c in with_parent:
        parent = first_by_name.get(c.supercategory)  # type: ignore[arg-type]
        if parent is not None and parent != c.id:
            children.setdefault(parent, []).append(c.id)
    if not children:
        ctx.loss("category_meta", len(with_parent), "supercategories that are not another "
                 "class's name (the Open Images hierarchy links classes)")
        return
    has_parent = {k for kids in children.values() for k in kids}
    reached: set[int] = set()

    def node(cid: int) -> dict[str, Any]:
        reached.add(cid)
        out: dict[str, Any] = {"LabelName": mids[cid]}
        kids = [k for k in children.get(cid, []) if k not in reached]
        if kids:
            out["Subcategory"] = [node(k) for k in kids]
        return out

    top = [node(c.id) for c in ds.categories if c.id in children and c.id not in has_parent]
    root_mid = next(m for k in range(len(mids) + 1) for m in [f"/m/{k}"]
                    if m not in mids.values())
    file.write_bytes(orjson.dumps({"LabelName": root_mid, "Subcategory": top},
                                  option=orjson.OPT_INDENT_2) + b"\n")
    ctx.loss("category_meta", sum(not (c.id in has_parent and c.id in reached)
                                  for c in with_parent),
             "supercategories that are not another class's name, or that form a cycle (the "
             "Open Images hierarchy links classes)")


def _source(ann: Annotations, r: int) -> str:
    value = ann.attrs[SOURCE][r] if SOURCE in ann.attrs else None
    return "" if value is None else str(value)


def _confidence(ann: Annotations, r: int) -> str:
    if ann.score is None or np.isnan(ann.score[r]):
        return "1"
    s = float(ann.score[r])
    return "1.0" if s == 1.0 else common.fmt_float(s)


def _flag_out(ann: Annotations, attr: str, r: int) -> tuple[str, bool]:
    value = ann.attrs[attr][r] if attr in ann.attrs else None
    if value is None:
        return "-1", True
    if isinstance(value, (bool, np.bool_)):
        return str(int(value)), True
    if isinstance(value, (int, float, np.integer, np.floating)) and value in (0, 1):
        return str(int(value)), True
    if isinstance(value, str) and value.strip().lower() in ("0", "1", "true", "false"):
        return ("1" if value.strip().lower() in ("1", "true") else "0"), True
    return "-1", False


def _write_csv(file: Path, header: tuple[str, ...] | None, rows: list[list[str]]) -> None:
    buf = io.StringIO(newline="")
    w = csv.writer(buf, lineterminator="\n")
    if header is not None:
        w.writerow(header)
    w.writerows(rows)
    file.write_text(buf.getvalue(), encoding="utf-8")
