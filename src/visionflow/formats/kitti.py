"""KITTI object labels: `<split>/label_2/<stem>.txt` beside `<split>/image_2/<stem>.png`.

One line per object, 15 space-separated fields (16 with a detection score):

    type truncated occluded alpha  x1 y1 x2 y2  h w l  x y z  rotation_y  [score]

Layouts read: the dataset folder holding `training/`, `testing/` (or any split folder, Datumaro's
`default/` is UNSPLIT) each with label_2/ and image_2/; a folder holding label_2/ itself; the
label_2 folder. Splits: "training" -> train, "testing" -> test.

Rules:
- x1 y1 x2 y2 are continuous pixel coordinates (kept as they are).
- Attrs: "truncated" (float 0..1, an int when whole) and "occluded" (0..3) under their plain
  names, as Datumaro and VOC name them; "kitti.alpha", "kitti.dimensions" [h, w, l],
  "kitti.location" [x, y, z] and "kitti.rotation_y", None where the file holds KITTI's
  "unknown" value (-10, -1 -1 -1, -1000 -1000 -1000, -10), which the writer writes for None.
- Class names with spaces are written with underscores; dataset_meta.json holds the real
  name, and a type matching a name there once its spaces are underscores reads back as it.
- DontCare regions are objects of class "DontCare", like any other type.
- Classes: Datumaro's dataset_meta.json ({"label_map": {"0": name, ...}}) beside label_2 or in
  the dataset folder gives the order; other names follow sorted (when the file is there:
  warning "kitti.undeclared" naming the first line, an error when reading strictly). Ids are
  1..N in that order.
  The writer writes dataset_meta.json into each split folder.
- Images without a label file are kept (no objects); a label file without an image needs the
  image for its size: MissingImageError.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import orjson

from ..core.annotations import Annotations
from ..core.dataset import Dataset
from ..core.errors import FormatError, MissingImageError, OutputError, ParseError
from ..core.images import UNSPLIT
from ..io.images import is_image_file
from ..io.paths import clean_relative
from ..io.safe_load import bytes_of, text_of
from . import common
from .builder import DatasetBuilder
from .base import (
    ATTRIBUTES,
    BOXES,
    CLASS_ORDER,
    SCORES,
    Detection,
    Format,
    ReadContext,
    WriteContext,
)
from .writing import folder_name, rows_by_image

LABELS_DIR = "label_2"
IMAGES_DIR = "image_2"
META_FILE = "dataset_meta.json"
_SPLIT_DIRS = {"train": "training", "test": "testing"}
_UNKNOWN = {"kitti.alpha": -10.0, "kitti.dimensions": [-1.0, -1.0, -1.0],
            "kitti.location": [-1000.0, -1000.0, -1000.0], "kitti.rotation_y": -10.0}


# --- detect ---------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    parts = _parts(path)
    if not parts:
        return None
    label_dir = parts[0][0] / LABELS_DIR
    sample = sorted(label_dir.glob("*.txt"))[:3]
    checked = 0
    for f in sample:
        try:
            lines = [line.split() for line in f.read_text(encoding="utf-8").splitlines()[:5]
                     if line.strip()]
        except (OSError, UnicodeDecodeError):
            return None
        for fields in lines:
            if len(fields) not in (15, 16) or _is_number(fields[0]) or \
                    not all(_is_number(v) for v in fields[1:]):
                return None
            checked += 1
    reasons = [f"{LABELS_DIR}/ folder" + (f" with {IMAGES_DIR}/" if (
        parts[0][0] / IMAGES_DIR).is_dir() else "")]
    if checked:
        reasons.append("lines of a type and 14 (or 15) numbers")
        return Detection("kitti", 0.9, tuple(reasons))
    if (parts[0][0] / IMAGES_DIR).is_dir():  # label_2/ beside image_2/ is KITTI's own layout
        return Detection("kitti", 0.85, (*reasons, "no label line to check (no objects)"))
    return Detection("kitti", 0.5, (*reasons, "but no label line to check"))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


# --- read -----------------------------------------------------------------------------------

@dataclass
class _Image:
    """One label file while it is read: its image and objects, for the builder."""
    file_name: str
    split: str
    path: str | None
    where: str
    objects: list[dict[str, Any]] = field(default_factory=list)


def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    parts = _parts(path)
    if not parts:
        raise FormatError(f"{path}: no KITTI {LABELS_DIR}/ folder (expected training/"
                          f"{LABELS_DIR}/*.txt or {LABELS_DIR}/*.txt)")
    root = path if path.is_dir() and path.name != LABELS_DIR else path.parent
    order = _meta_names(root, parts, ctx)
    b = DatasetBuilder(ctx, format="kitti")
    for name in order:
        b.category(name)
    by_token = {_token(n): n for n in reversed(order)}
    keys = ["truncated", "occluded", *_UNKNOWN]
    for folder, split in parts:
        for im in _read_part(folder, split, ctx):  # sizes from the headers: KITTI has none
            img = b.image(im.file_name, im.split, im.path, where=im.where)
            for o in im.objects:
                b.object(img, by_token.get(o["type"], o["type"]), o["box"],
                         score=o.get("score"), attrs={k: o.get(k) for k in keys},
                         where=o["where"])
    return b.build(no_size="image for {file_name!r} not found in " + IMAGES_DIR + "/; KITTI "
                   "labels hold no image size", no_size_error=MissingImageError,
                   undeclared_message=f"types not in {META_FILE} were added as classes: "
                   "{names}")


def _parts(path: Path) -> list[tuple[Path, str]]:
    """(folder holding label_2/, split)."""
    if path.is_dir() and path.name == LABELS_DIR:
        path = path.parent
    if not path.is_dir():
        return []
    if (path / LABELS_DIR).is_dir():
        return [(path, common.split_named(path.name) if path.name in ("training", "testing")
                 else UNSPLIT)]
    try:
        subdirs = sorted(d for d in path.iterdir() if d.is_dir() and (d / LABELS_DIR).is_dir())
    except OSError:
        return []
    return sorted(((d, common.split_named(d.name)) for d in subdirs),
                  key=lambda p: (common.split_rank(p[1]), p[0].name))


def _meta_names(root: Path, parts: list[tuple[Path, str]], ctx: ReadContext) -> list[str]:
    names: list[str] = []
    for folder in dict.fromkeys([root] + [p for p, _ in parts]):
        meta = folder / META_FILE
        if not meta.is_file():
            continue
        try:
            data = orjson.loads(bytes_of(meta))
            label_map = data.get("label_map", {}) if isinstance(data, dict) else None
            items = sorted(label_map.items(), key=lambda kv: int(kv[0]))  # type: ignore[union-attr]
            labels = [str(v) for _, v in items] or [str(v) for v in data.get("labels", [])]
        except (OSError, orjson.JSONDecodeError, AttributeError, ValueError, TypeError) as e:
            ctx.fail(ParseError(meta, "expected {\"label_map\": {\"0\": name, ...}} "
                                f"({e.__class__.__name__})"))
            continue
        names += [n for n in labels if n not in names]
    return names


def _read_part(folder: Path, split: str, ctx: ReadContext) -> list[_Image]:
    label_dir, image_dir = folder / LABELS_DIR, folder / IMAGES_DIR
    if ctx.images_dir is not None:  # --images-dir: the images, by stem, are there
        image_dir, ctx.images_dir_used = ctx.images_dir, True
    images_by_stem: dict[str, Path] = {}
    if image_dir.is_dir():
        for dirpath, _, files in os.walk(image_dir):
            for name in sorted(files):
                p = Path(dirpath) / name
                if is_image_file(name) and not name.startswith("."):
                    images_by_stem.setdefault(p.relative_to(image_dir).with_suffix("").as_posix(),
                                              p)
    labels = sorted(label_dir.rglob("*.txt"))
    stems = {f.relative_to(label_dir).with_suffix("").as_posix(): f for f in labels}
    out: list[_Image] = []
    # an --images-dir folder may hold other images: only the labelled ones are read
    for stem in sorted(set(stems) if ctx.images_dir is not None
                       else set(stems) | set(images_by_stem)):
        img_path = images_by_stem.get(stem)
        label = stems.get(stem)
        file_name = img_path.relative_to(image_dir).as_posix() if img_path else f"{stem}.png"
        where = str(label) if label else str(img_path)
        im = _Image(file_name, split, str(img_path.absolute()) if img_path else None, where)
        if label is not None:
            im.objects = _read_label_file(label, ctx)
        out.append(im)
    return out


def _read_label_file(file: Path, ctx: ReadContext) -> list[dict[str, Any]]:
    try:
        text = text_of(file, "utf-8")
    except (OSError, UnicodeDecodeError) as e:
        ctx.fail(ParseError(file, f"cannot read as UTF-8 text ({e.__class__.__name__})"))
        return []
    out = []
    for n, line in enumerate(text.splitlines(), 1):
        fields = line.split()
        if not fields:
            continue
        where = f"{file}:{n}"
        if len(fields) not in (15, 16):
            ctx.fail(ParseError(where, f"expected 15 fields (type, truncated, occluded, alpha, "
                                f"4 box, 3 dimensions, 3 location, rotation_y) or 16 with a "
                                f"score, got {len(fields)} (\"{line.strip()}\")"))
            continue
        try:
            v = [float(x) for x in fields[1:]]
        except ValueError:
            bad = next(x for x in fields[1:] if not _is_number(x))
            ctx.fail(ParseError(where, f"expected numbers after the type, got {bad!r}"))
            continue
        if not all(math.isfinite(x) for x in v):
            ctx.fail(ParseError(where, "expected finite numbers"))
            continue
        obj: dict[str, Any] = {
            "type": fields[0], "where": where, "box": v[3:7],
            "truncated": int(v[0]) if v[0].is_integer() else v[0],
            "occluded": int(v[1]) if v[1].is_integer() else v[1],
            "kitti.alpha": v[2], "kitti.dimensions": v[7:10], "kitti.location": v[10:13],
            "kitti.rotation_y": v[13]}
        for key, unknown in _UNKNOWN.items():
            if obj[key] == unknown:
                obj[key] = None
        if len(v) == 15:
            obj["score"] = v[14]
        out.append(obj)
    return out


# --- write ----------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs = ds.images
    names = {c.id: c.name for c in ds.categories}
    tokens: dict[str, str] = {}
    for c in ds.categories:
        token = _token(c.name)
        if not token or tokens.setdefault(token, c.name) != c.name:
            raise OutputError(f"category {c.id} name {c.name!r} cannot be a KITTI type (empty, "
                              f"or the same as {tokens.get(token)!r} once spaces are "
                              "underscores); rename it")
    names = {cid: _token(n) for cid, n in names.items()}
    boxes = ds.annotations[~ds.annotations.is_label]
    rows_of = rows_by_image(boxes, len(imgs))
    dest: dict[int, Path] = {}
    seen: dict[tuple[str, str], str] = {}
    meta = orjson.dumps({"label_map": {str(k): c.name for k, c in enumerate(ds.categories)}},
                        option=orjson.OPT_INDENT_2)
    bad = 0
    for split in imgs.splits():
        folder = out_dir / (_SPLIT_DIRS.get(split, split) or common.DEFAULT_SPLIT_NAME)
        folder_name(split, out_dir)
        (folder / LABELS_DIR).mkdir(parents=True)
        (folder / META_FILE).write_bytes(meta + b"\n")
        for i in np.flatnonzero(imgs.split == split):
            i = int(i)
            name = clean_relative(str(imgs.file_name[i]), where=f"image {imgs.file_name[i]!r}")
            stem = str(PurePosixPath(name).with_suffix(""))
            if (split, stem) in seen:
                raise OutputError(f"{out_dir}: images {seen[split, stem]!r} and {name!r} would "
                                  f"share the label file {LABELS_DIR}/{stem}.txt; rename one")
            seen[split, stem] = name
            lines = []
            for r in rows_of[i]:
                line, ok = _line(boxes, int(r), names)
                bad += not ok
                lines.append(line)
            label = folder / LABELS_DIR / f"{stem}.txt"
            label.parent.mkdir(parents=True, exist_ok=True)
            label.write_text("".join(lines), encoding="utf-8")
            dest[i] = folder / IMAGES_DIR / name
    ctx.loss("attribute_values", bad, "truncated/occluded/kitti.* values that are not numbers "
             "(written as KITTI's defaults)")
    common.write_images(ds, lambda i: dest[i], ctx)


def _token(name: str) -> str:
    """A class name as a KITTI type: whitespace becomes '_' (dataset_meta.json keeps the name).
    Every character str.split() splits a line on, not only space, tab and newline."""
    return "".join("_" if ch.isspace() else ch for ch in name)


def _line(ann: Annotations, r: int, names: dict[int, str]) -> tuple[str, bool]:
    ok = True

    def number(key: str, default: Any) -> list[float]:
        nonlocal ok
        value = ann.attrs[key][r] if key in ann.attrs else None
        if value is None:
            value = default
        try:
            values = [float(v) for v in (value if isinstance(value, (list, tuple, np.ndarray))
                                         else [value])]
            if len(values) != len(default if isinstance(default, list) else [default]) or \
                    not all(math.isfinite(v) for v in values):
                raise ValueError
        except (TypeError, ValueError):
            ok = False
            values = default if isinstance(default, list) else [default]
        return values

    fields = [names[int(ann.category_id[r])]]
    values = (number("truncated", 0.0) + number("occluded", 0.0) +
              number("kitti.alpha", -10.0) + [float(v) for v in ann.xyxy[r]] +
              number("kitti.dimensions", [-1.0] * 3) + number("kitti.location", [-1000.0] * 3) +
              number("kitti.rotation_y", -10.0))
    if ann.score is not None and not math.isnan(ann.score[r]):
        values.append(float(ann.score[r]))
    fields += [common.fmt_float(v) for v in values]
    return " ".join(fields) + "\n", ok


FORMAT = Format(
    name="kitti",
    description="KITTI object labels (label_2/*.txt, 15 fields per object, image_2/)",
    supports=frozenset({BOXES, SCORES, ATTRIBUTES, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("kitti-detection", "kitti_detection"),
    attributes=frozenset({"truncated", "occluded"}),
)
