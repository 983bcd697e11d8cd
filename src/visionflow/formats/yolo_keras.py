"""YOLO Keras TXT: keras-yolo3 (qqwweee) annotation lines, as Roboflow exports them.

    <split>/_annotations.txt   one line per image:
                               path/to/img.jpg x_min,y_min,x_max,y_max,class x_min,...,class
    <split>/_classes.txt       one class name per line (line i = class index i)
    <split>/<image files>

Coordinates are absolute pixels (keras-yolo3's voc_annotation.py writes VOC's integers; this
module reads integers or floats). A line holding only a path is an image without objects.

Reading accepts what users have:
- a folder with `_annotations.txt` (UNSPLIT) and/or split folders holding one (Roboflow's
  train/valid/test; "valid" reads as "val");
- an annotation .txt file named directly, or a folder with train.txt / val.txt / test.txt (the
  keras-yolo3 / voc_annotation.py style: 2007_train.txt names split "train"), beside
  classes.txt, _classes.txt, *_classes.txt or *.names.
Image paths are relative to the annotation file's folder. keras-yolo3 writes absolute paths
(os.getcwd() + ...): an absolute path inside that folder is accepted (made relative), one
outside it is refused, like '../' paths and links leading outside (io/paths.py).
Without a class names file, classes are "0".."n" from the largest index. Category ids are
class index + 1 (the format has indices only); the class order is kept.

Writing: the Roboflow layout above (val is written as "valid/", UNSPLIT images at the root),
every image gets a line (negatives included), coordinates as the shortest text that reads back
exactly. keras-yolo3 itself parses integers (`map(int, box.split(','))`): fractional
coordinates are reported ("yolo_keras.fractional"), and the write option coords=int rounds
them to whole pixels (reported as loss.boxes.rounded). Paths cannot hold whitespace (the line
is split on it): such file names are an OutputError.

Trainer layouts, for comparison (see yolo.py for the Ultralytics ones): keras-yolo3 and its
forks (bubbliiiing's yolo3/yolov4-keras) read exactly this line format with a classes file
passed separately; they split train/val themselves unless given two files.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np

from ..core.annotations import Annotations
from ..core.categories import Categories
from ..core.dataset import Dataset
from ..core.errors import (
    Error,
    FormatError,
    OutputError,
    ParseError,
    UnsafeInputError,
    ValidationError,
)
from ..core.images import UNSPLIT, Images, canonical_split
from ..io.paths import clean_relative, is_inside, resolve_inside
from ..io.safe_load import text_of
from . import common
from .base import BOXES, CLASS_ORDER, Detection, Format, Option, ReadContext, WriteContext
from .writing import rows_by_image

ANNOTATIONS = "_annotations.txt"
CLASSES = "_classes.txt"
_LIST_NAMES = ("train", "val", "valid", "test")
_NUM = r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?"
_BOX = re.compile(rf"{_NUM},{_NUM},{_NUM},{_NUM},\d+")
_SPLIT_FOLDER = {"val": "valid"}


# --- detect -------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    if path.is_file():
        if path.suffix.lower() == ".txt" and _looks_like_lines(path, need_box=True):
            return Detection("yolo-keras", 0.85, ((f"{path.name} has 'image x1,y1,x2,y2,class' "
                                                  "lines"),))
        return None
    if not path.is_dir():
        return None
    files = _annotation_files(path)
    if files and all(f.name == ANNOTATIONS for f, _ in files):
        sample = files[0][0]
        if _looks_like_lines(sample, need_box=False):
            reasons = [f"{sample.relative_to(path)} holds 'image x1,y1,x2,y2,class' lines"]
            if _classes_file(sample.parent) is not None:
                reasons.append("class names file beside it")
            return Detection("yolo-keras", 0.9, tuple(reasons))
        return None
    if files and any(_looks_like_lines(f, need_box=True) for f, _ in files[:3]):
        return Detection("yolo-keras", 0.8, ((f"{files[0][0].name} holds 'image "
                                             "x1,y1,x2,y2,class' lines"),))
    return None


# --- read ---------------------------------------------------------------------------------

def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    if path.is_file():
        stem = path.stem.lower()
        split = next((s for s in _LIST_NAMES if stem == s or stem.endswith(("_" + s, "-" + s))),
                     UNSPLIT)
        if path.name == ANNOTATIONS and path.parent.name.lower() in _LIST_NAMES:
            split = path.parent.name
        files = [(path, canonical_split(split) if split else UNSPLIT)]
    elif path.is_dir():
        files = _annotation_files(path)
    else:
        files = []
    if not files:
        raise FormatError(f"{path}: no {ANNOTATIONS} (or train.txt/val.txt/test.txt) of "
                          "'image x1,y1,x2,y2,class' lines found")

    names: list[str] | None = None
    names_where = ""
    for f, _ in files:
        cf = _classes_file(f.parent)
        if cf is not None:
            found = _read_names(cf)
            if names is None:
                names, names_where = found, str(cf)
            elif found != names:
                raise ValidationError(cf, f"class names differ from {names_where}; every split "
                                      "must list the same classes in the same order")
    records: list[dict] = []
    rows: list[tuple[int, int, list[float], str]] = []  # record, class index, box, where
    for f, split in files:
        _parse_file(f, split, records, rows, ctx)

    if names is None:
        top = max((r[1] for r in rows), default=-1)
        names, names_where = [str(i) for i in range(top + 1)], str(files[0][0])
    keep_rows = []
    for r in rows:
        if r[1] >= len(names):
            ctx.fail(ValidationError(r[3], f"class index {r[1]} is not in {names_where} "
                                     f"(0..{len(names) - 1})"))
            continue
        keep_rows.append(r)
    sizes = common.read_sizes([rec["path"] or rec["missing"] for rec in records], ctx,
                              where=lambda i: records[i]["where"])
    valid = sizes[:, 0] > 0 if len(records) else np.zeros(0, bool)
    new_row = np.cumsum(valid) - 1
    keep_rows = [r for r in keep_rows if valid[r[0]]]
    records = [rec for rec, v in zip(records, valid) if v]
    sizes = sizes[valid] if len(valid) else sizes
    ann = Annotations.build([new_row[r[0]] for r in keep_rows], [r[1] + 1 for r in keep_rows],
                            np.array([r[2] for r in keep_rows], np.float64).reshape(-1, 4))
    images = Images.build([rec["file_name"] for rec in records], sizes[:, 0], sizes[:, 1],
                          split=[rec["split"] for rec in records],
                          path=[rec["path"] for rec in records])
    ds = Dataset(images, ann, Categories.from_names(names))
    return common.finish_read(ds, ctx, where_annotation=lambda i: keep_rows[i][3],
                              where_image=lambda i: records[i]["where"])


def _annotation_files(folder: Path) -> list[tuple[Path, str]]:
    """(file, split): root and split-folder _annotations.txt, else keras-yolo3 lists."""
    out: list[tuple[Path, str]] = []
    if (folder / ANNOTATIONS).is_file():
        out.append((folder / ANNOTATIONS, UNSPLIT))
    try:
        subs = sorted(e.name for e in os.scandir(folder) if e.is_dir() and
                      not e.name.startswith("."))
    except OSError:
        subs = []
    for sub in sorted(subs, key=_split_key):
        if (folder / sub / ANNOTATIONS).is_file():
            out.append((folder / sub / ANNOTATIONS, canonical_split(sub)))
    if out:
        return out
    for f in sorted(folder.glob("*.txt"), key=lambda p: _split_key(p.stem.split("_")[-1])):
        stem = f.stem.lower()
        split = next((s for s in _LIST_NAMES if stem == s or stem.endswith("_" + s)), None)
        if split is not None and _looks_like_lines(f, need_box=True):
            out.append((f, canonical_split(split)))
    return out


def _split_key(name: str) -> tuple[int, str]:
    order = ("train", "valid", "val", "test")
    return (order.index(name) if name in order else len(order), name)


def _looks_like_lines(path: Path, *, need_box: bool) -> bool:
    """The first few non-empty lines are 'path box...' (a box somewhere when need_box)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(8192).decode("utf-8", errors="strict")
    except (OSError, UnicodeDecodeError):
        return False
    lines = [line.split() for line in head.splitlines()[:20] if line.strip()]
    if len(head) == 8192 and len(lines) > 1:
        lines = lines[:-1]  # the last one may be cut
    if not lines:
        return not need_box
    boxes = 0
    for parts in lines:
        if "," in parts[0] or not all(_BOX.fullmatch(t) for t in parts[1:]):
            return False
        boxes += len(parts) - 1
    return boxes > 0 or not need_box


def _classes_file(folder: Path) -> Path | None:
    for name in (CLASSES, "classes.txt"):
        if (folder / name).is_file():
            return folder / name
    found = sorted(folder.glob("*_classes.txt")) + sorted(folder.glob("*.names"))
    return found[0] if found else None


def _read_names(path: Path) -> list[str]:
    try:
        text = text_of(path, "utf-8-sig")
    except (OSError, UnicodeDecodeError):
        raise ParseError(path, "class names file is not readable UTF-8 text") from None
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    for n, name in enumerate(lines, 1):
        if not name:
            raise ParseError(f"{path}:{n}", "empty class name; one name per line expected")
    return lines


def _parse_file(f: Path, split: str, records: list[dict], rows: list, ctx: ReadContext) -> None:
    try:
        text = text_of(f, "utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        ctx.fail(ParseError(f, f"cannot read annotation file ({e.__class__.__name__}); "
                            "expected UTF-8 text"))
        return
    base = f.parent
    seen: dict[str, int] = {}
    for n, line in enumerate(text.splitlines(), 1):
        parts = line.split()
        if not parts or parts[0].startswith("#"):
            continue
        at = f"{f}:{n}"
        try:
            rel, image = _image(ctx, base, parts[0], at)
            boxes = [_parse_box(tok, k, at) for k, tok in enumerate(parts[1:], 1)]
        except Error as e:
            ctx.fail(e)
            continue
        if rel not in seen:
            seen[rel] = len(records)
            records.append({"file_name": rel, "split": split, "where": at,
                            "path": str(image.absolute()) if image.is_file() else None,
                            "missing": str(image)})
        for k, (cls, box) in enumerate(boxes, 1):
            rows.append((seen[rel], cls, box, f"{at}: box {k}"))


def _image(ctx: ReadContext, base: Path, entry: str, at: str) -> tuple[str, Path]:
    """(file name, image path) of a line's first field. With --images-dir even an absolute
    path (keras-yolo3 writes them, from the machine that made the file) is looked up there
    by its tails: /home/u/VOC/JPEGImages/x.jpg -> JPEGImages/x.jpg, x.jpg."""
    if ctx.images_dir is None:
        rel = _relative(base, entry, at, ctx.follow_links)
        return rel, base / rel
    posix = re.sub(r"^(?:[A-Za-z]:)?/+", "", entry.replace("\\", "/"))
    image = common.image_file(ctx, base, posix, where=at)
    if image.is_file():
        return image.relative_to(ctx.images_dir).as_posix(), image
    return clean_relative(posix, where=at), image


def _relative(base: Path, entry: str, at: str, follow_links: bool = False) -> str:
    posix = entry.replace("\\", "/")
    if posix.startswith("/"):
        real_base = os.path.realpath(base)
        if not is_inside(Path(posix), base):
            raise UnsafeInputError(at, f"image path {entry!r} is absolute and outside "
                                   f"{real_base}; paths must lead inside the dataset folder")
        posix = os.path.relpath(os.path.realpath(posix), real_base).replace(os.sep, "/")
    rel = clean_relative(posix, where=at)
    resolve_inside(base, rel, where=at, follow_links=follow_links)
    return rel


def _parse_box(token: str, k: int, at: str) -> tuple[int, list[float]]:
    fields = token.split(",")
    try:
        if len(fields) != 5:
            raise ValueError
        x1, y1, x2, y2 = (float(v) for v in fields[:4])
        cls = int(fields[4])
        if cls < 0 or not all(np.isfinite([x1, y1, x2, y2])):
            raise ValueError
    except ValueError:
        raise ParseError(at, f"box {k}: expected x_min,y_min,x_max,y_max,class_id (4 numbers "
                         f"and a class index >= 0), got {token!r}") from None
    return cls, [x1, y1, x2, y2]


# --- write --------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    coords = ctx.options.get("coords", "exact")  # a declared choice (api.write checks)
    common.refuse_names(ds.categories.names, "class name", f"{CLASSES} (one name a line)",
                        padded=True)
    imgs = ds.images
    ann = ds.annotations[~ds.annotations.is_label]
    index = ds.categories.index_map()
    xyxy = ann.xyxy
    fractional = int((xyxy != np.round(xyxy)).any(axis=1).sum())
    if coords == "int":
        ctx.loss("boxes.rounded", fractional, "fractional box coordinates (rounded to whole "
                 "pixels, coords=int)")
        xyxy = np.round(xyxy)
    elif fractional:
        ctx.report.add("warning", "yolo_keras.fractional", "boxes with fractional coordinates "
                       "written as decimals; keras-yolo3 parses integers (write with "
                       "coords=int to round them)", count=fractional)
    rows_of = rows_by_image(ann, len(imgs))
    lines: dict[str, list[str]] = {}
    dest: list[Path] = []
    taken: dict[str, int] = {}
    for i, (name, split) in enumerate(zip(imgs.file_name, imgs.split)):
        rel = clean_relative(str(name), where=f"image {name!r}")
        if any(ch.isspace() for ch in rel):
            raise OutputError(f"image {name!r}: keras-yolo3 lines are split on whitespace; "
                              "rename the file without spaces")
        folder = _SPLIT_FOLDER.get(str(split), str(split))
        if folder:
            clean_relative(folder, where=f"split {split!r}")
            if "/" in folder:
                raise OutputError(f"split name {split!r} cannot be a folder name; rename it")
        key = f"{folder}/{rel}" if folder else rel
        if key in taken:
            raise OutputError(f"images {imgs.file_name[taken[key]]!r} and {name!r} would both "
                              f"be written as {key}; rename one")
        taken[key] = i
        boxes = [",".join([*(common.fmt_float(float(v)) for v in xyxy[r]),
                           str(index[int(ann.category_id[r])])])
                 for r in rows_of[i]]
        lines.setdefault(folder, []).append(" ".join([rel, *boxes]) + "\n")
        dest.append(out_dir / key)
    for folder in sorted(set(lines) | ({""} if not len(imgs) else set())):
        target = out_dir / folder if folder else out_dir
        target.mkdir(parents=True, exist_ok=True)
        (target / ANNOTATIONS).write_text("".join(lines.get(folder, [])), encoding="utf-8")
        (target / CLASSES).write_text("".join(f"{n}\n" for n in ds.categories.names),
                                      encoding="utf-8")
    common.write_images(ds, lambda i: dest[i], ctx)


FORMAT = Format(
    name="yolo-keras",
    description="YOLO Keras TXT (keras-yolo3 / Roboflow): 'image x1,y1,x2,y2,class ...' lines "
                "in _annotations.txt + _classes.txt",
    supports=frozenset({BOXES, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("keras-yolo", "yolo-keras-txt", "keras-yolo3"),
    write_options=(Option("coords", default="exact", choices=("exact", "int"),
                          help="exact: shortest decimals, integers stay integers; int: round "
                               "to whole pixels, as keras-yolo3 parses them"),),
)
