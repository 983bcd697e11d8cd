"""WIDER Face: `wider_face_split/wider_face_<split>_bbx_gt.txt` + `WIDER_<split>/images/`.

    0--Parade/0_Parade_marchingband_1_849.jpg     image path under WIDER_<split>/images/
    1                                             number of faces
    449 330 122 149 0 0 0 0 0 0                   x y w h blur expression illumination
                                                  invalid occlusion pose
    0--Parade/0_Parade_Parade_0_904.jpg
    0                                             no face: one line of zeros follows
    0 0 0 0 0 0 0 0 0 0

Layouts read: the dataset folder (every `wider_face_<split>_bbx_gt.txt` in wider_face_split/,
and `wider_face_<split>_filelist.txt`, images without boxes, for a split that has no bbx_gt
file, as the official test split), the wider_face_split folder, or one of those files.
Datumaro's variant is read too: an image line without a count (no faces), "-" for an
attribute it lacks, a class name after the numbers, `labels.txt` or `dataset_meta.json`, and
images in `no_label/` (the folder is dropped from the file name).

Rules:
- x y w h are pixels, kept as they are (continuous xyxy = x, y, x+w, y+h). Sizes come from the
  image headers, so the images must be on disk.
- Attrs (ints, None for "-"): occlusion (0 none, 1 partial, 2 heavy) -> "occluded", as
  KITTI/VOC/CVAT name it; "wider-face.blur", "wider-face.expression",
  "wider-face.illumination", "wider-face.invalid", "wider-face.pose". The writer writes the
  official 10 numbers on every line, WIDER's 0 ("typical"/"none") for an attribute a box
  lacks. (Datumaro reads the official columns 7..9 as occluded, pose, invalid: a known
  mismatch on its side.)
- Classes: one, "face". A class name after the numbers (Datumaro) names another class.
  labels.txt / dataset_meta.json give the class order, except names of event folders
  ("0--Parade" -> "Parade": Datumaro lists events as labels) that no box uses. The event is
  kept as the image's folder in its file name, never as a label.
- Splits: train, val, test; "default" is UNSPLIT (the writer writes it back).
- Written: wider_face_split/wider_face_<split>_bbx_gt.txt, WIDER_<split>/images/<file_name>
  (a file name without a folder goes to no_label/, as Datumaro does, so that every image line
  is an event path), and labels.txt (the classes, one per line).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..core.annotations import Annotations
from ..core.dataset import Dataset
from ..core.errors import (
    FormatError,
    MissingImageError,
    OutputError,
    ParseError,
    UnsafeInputError,
)
from ..io.images import is_image_file
from ..io.paths import clean_relative
from ..io.safe_load import bytes_of, text_of
from . import common
from .builder import DatasetBuilder, header_sizes
from .base import (
    ATTRIBUTES,
    BOXES,
    CLASS_ORDER,
    Detection,
    Format,
    ReadContext,
    WriteContext,
)
from .writing import folder_name, rows_by_image

NAME = "wider-face"
NS = NAME + "."
SPLIT_DIR = "wider_face_split"
IMAGES_DIR = "images"
SUBSET_PREFIX = "WIDER_"
LABELS_FILE = "labels.txt"
META_FILE = "dataset_meta.json"
NO_LABEL = "no_label"
FACE = "face"
DEFAULT_SPLIT = common.DEFAULT_SPLIT_NAME
# The official column order after x y w h.
ATTRS = (NS + "blur", NS + "expression", NS + "illumination", NS + "invalid", "occluded",
         NS + "pose")
_FILE = re.compile(r"wider_face_(.+)_(bbx_gt|filelist)\.txt")
_EVENT = re.compile(r"\d+--(.+)")


# --- detect ---------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    found = _files(Path(path))
    if not found:
        return None
    _, files = found
    file, _ = files[0]
    try:
        with open(file, encoding="utf-8") as f:
            head = [line.strip() for line in (f.readline(4096) for _ in range(4))]
    except (OSError, UnicodeDecodeError):
        return None
    head = [line for line in head if line]
    reason = f"{SPLIT_DIR}/{file.name}"
    if not head:
        return Detection(NAME, 0.6, (f"{reason} (empty)",))
    if not is_image_file(head[0]):
        return None
    if file.name.endswith("_filelist.txt"):
        return Detection(NAME, 0.8, (f"{reason}: a list of image paths",))
    if len(head) > 1 and not (_is_int(head[1]) or is_image_file(head[1])):
        return None
    return Detection(NAME, 0.95, (f"{reason}: image path, face count, 'x y w h ...' lines",))


def _is_int(text: str) -> bool:
    return text.strip().lstrip("-").isdigit()


# --- read -----------------------------------------------------------------------------------

@dataclass
class _Image:
    file_name: str
    split: str
    where: str
    path: str | None = None
    width: int = 0
    height: int = 0
    event: str | None = None
    faces: list[dict[str, Any]] = field(default_factory=list)


def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    found = _files(path)
    if not found:
        raise FormatError(f"{path}: no WIDER Face annotations (expected {SPLIT_DIR}/"
                          "wider_face_<split>_bbx_gt.txt)")
    root, files = found
    images: list[_Image] = []
    for file, split in files:
        images += _read_file(root, file, split, ctx)
    sizes = header_sizes(ctx, [im.path for im in images], [im.where for im in images],
                         lambda i: MissingImageError(images[i].where, "image "
                                                     f"{_image_dir(root, images[i].split)}/"
                                                     f"{images[i].file_name} not found; WIDER "
                                                     "Face holds no image size"))
    for im, (w, h) in zip(images, sizes):
        if im.path is not None:
            im.width, im.height = int(w), int(h)
    images = [im for im in images if im.width > 0 and im.height > 0]

    listed = _listed_names(root, ctx)
    used = {f["label"] for im in images for f in im.faces}
    events = {im.event for im in images if im.event}
    names = [n for n in listed if n in used or n not in events]
    if not names or (FACE in used and FACE not in names):
        names.insert(0, FACE)
    names += sorted(used - set(names))
    b = DatasetBuilder(ctx, format="wider_face")
    for name in names:
        b.category(name)
    for im in images:
        img = b.image(im.file_name, im.split, im.path, (im.width, im.height), where=im.where)
        for f in im.faces:
            b.object(img, f["label"], f["box"], attrs=dict(zip(ATTRS, f["attrs"])),
                     where=f["where"])
    return b.build()


def _files(path: Path) -> tuple[Path, list[tuple[Path, str]]] | None:
    """(dataset folder, [(annotation file, split)]) or None."""
    if path.is_file():
        m = _FILE.fullmatch(path.name)
        if not m:
            return None
        folder = path.parent
        root = folder.parent if folder.name == SPLIT_DIR else folder
        return root, [(path, common.split_named(m.group(1)))]
    if not path.is_dir():
        return None
    if path.name == SPLIT_DIR and not (path / SPLIT_DIR).is_dir():
        root, folder = path.parent, path
    else:
        root, folder = path, path / SPLIT_DIR
    if not folder.is_dir():
        return None
    try:
        names = sorted(p.name for p in folder.iterdir() if p.is_file())
    except OSError:
        return None
    by_split: dict[str, tuple[Path, str]] = {}
    for name in names:
        m = _FILE.fullmatch(name)
        if m and (m.group(2) == "bbx_gt" or m.group(1) not in by_split):
            by_split[m.group(1)] = (folder / name, common.split_named(m.group(1)))
    if not by_split:
        return None
    files = sorted(by_split.values(), key=lambda f: (common.split_rank(f[1]), f[0].name))
    return root, files


def _image_dir(root: Path, split: str) -> Path:
    return root / f"{SUBSET_PREFIX}{split or DEFAULT_SPLIT}" / IMAGES_DIR


def _read_file(root: Path, file: Path, split: str, ctx: ReadContext) -> list[_Image]:
    try:
        lines = text_of(file, "utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        ctx.fail(ParseError(file, f"cannot read as UTF-8 text ({e.__class__.__name__})"))
        return []
    subset = _FILE.fullmatch(file.name).group(1)  # type: ignore[union-attr]
    index = common.image_index(ctx, root / f"{SUBSET_PREFIX}{subset}" / IMAGES_DIR)
    out: list[_Image] = []
    i, n = 0, len(lines)

    def next_line(k: int) -> int:
        while k < n and not lines[k].strip():
            k += 1
        return k

    def resync(k: int) -> int:
        """Skip to the next image path after a broken block."""
        while k < n and not is_image_file(lines[k].strip()):
            k += 1
        return k

    while True:
        i = next_line(i)
        if i >= n:
            break
        raw, where = lines[i].strip(), f"{file}:{i + 1}"
        i += 1
        if not is_image_file(raw):
            ctx.fail(ParseError(where, f"expected an image path (e.g. 0--Parade/"
                                f"0_Parade_marchingband_1_5.jpg), got {raw!r}"))
            i = resync(i)
            continue
        try:
            rel = clean_relative(raw.replace("\\", "/"), where=where)
            located = index.locate(rel, where=where)
        except UnsafeInputError as e:
            ctx.fail(e)
            i = resync(i)
            continue
        first, _, rest = rel.partition("/")
        event = _EVENT.fullmatch(first) if rest else None
        im = _Image(rest if first == NO_LABEL and rest else rel, split, where,
                    str(located.absolute()) if located is not None else None,
                    event=event.group(1) if event else None)
        out.append(im)
        j = next_line(i)
        if j >= n or is_image_file(lines[j].strip()):
            i = j  # Datumaro writes no count for an image without faces
            continue
        count_text, count_where = lines[j].strip(), f"{file}:{j + 1}"
        if not _is_int(count_text) or int(count_text) < 0:
            ctx.fail(ParseError(count_where, f"expected the number of faces of {raw}, got "
                                f"{count_text!r}"))
            i = resync(j + 1)
            continue
        count = int(count_text)
        i = j + 1
        if count == 0:
            k = next_line(i)
            if k < n and _is_zero_line(lines[k]):
                i = k + 1  # the official placeholder line of zeros
            continue
        for got in range(count):
            k = next_line(i)
            if k >= n or is_image_file(lines[k].strip()):
                ctx.fail(ParseError(count_where, f"{raw} has {count} faces but {got} face "
                                    f"lines follow"))
                i = k
                break
            i = k + 1
            face = _parse_face(lines[k], f"{file}:{k + 1}", ctx)
            if face is not None:
                im.faces.append(face)
    return out


def _is_zero_line(line: str) -> bool:
    fields = line.split()
    return len(fields) >= 4 and all(_is_number(f) and float(f) == 0 for f in fields)


def _is_number(text: str) -> bool:
    try:
        return bool(np.isfinite(float(text)))
    except ValueError:
        return False


def _parse_face(line: str, where: str, ctx: ReadContext) -> dict[str, Any] | None:
    fields = line.split()
    if len(fields) < 4 or not all(_is_number(f) for f in fields[:4]):
        ctx.fail(ParseError(where, "expected 'x y w h blur expression illumination invalid "
                            f"occlusion pose', got {line.strip()!r}"))
        return None
    x, y, w, h = (float(f) for f in fields[:4])
    attrs: list[int | None] = [None] * len(ATTRS)
    label = FACE
    if len(fields) >= 10 and all(_is_attr(f) for f in fields[4:10]):
        attrs = [_attr(f) for f in fields[4:10]]
        parts = line.split(None, 10)
        if len(parts) == 11:
            label = parts[10].strip()
    elif len(fields) > 4:
        if _is_attr(fields[4]):
            ctx.fail(ParseError(where, f"expected 4 or 10 numbers (x y w h and 6 attributes), "
                                f"got {len(fields)} fields ({line.strip()!r})"))
            return None
        label = line.split(None, 4)[4].strip()
    return {"box": [x, y, x + w, y + h], "attrs": attrs, "label": label, "where": where}


def _is_attr(text: str) -> bool:
    return text == "-" or _is_int(text) or text in ("True", "False")


def _attr(text: str) -> int | None:
    if text == "-":
        return None
    if text in ("True", "False"):
        return int(text == "True")
    return int(text)


def _listed_names(root: Path, ctx: ReadContext) -> list[str]:
    """Class names of labels.txt or Datumaro's dataset_meta.json, in order."""
    meta, labels = root / META_FILE, root / LABELS_FILE
    if meta.is_file():
        try:
            data = orjson.loads(bytes_of(meta))
            if "label_map" in data:
                items = sorted(data["label_map"].items(), key=lambda kv: int(kv[0]))
                return [str(v) for _, v in items]
            return [str(v) for v in data["labels"]]
        except (OSError, orjson.JSONDecodeError, AttributeError, KeyError, TypeError,
                ValueError) as e:
            ctx.fail(ParseError(meta, "expected {\"label_map\": {\"0\": name, ...}} or "
                                f"{{\"labels\": [...]}} ({e.__class__.__name__})"))
            return []
    if labels.is_file():
        try:
            text = text_of(labels, "utf-8-sig")
        except (OSError, UnicodeDecodeError) as e:
            ctx.fail(ParseError(labels, f"cannot read as UTF-8 text ({e.__class__.__name__})"))
            return []
        return list(dict.fromkeys(line.strip() for line in text.splitlines() if line.strip()))
    return []


# --- write ----------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs = ds.images
    common.refuse_names(ds.categories.names, "class name", f"{LABELS_FILE} (one name a line)",
                        padded=True)
    common.refuse_names(imgs.file_name, "image name", "the WIDER Face list (one path a line)",
                        padded=True)
    names = {c.id: c.name for c in ds.categories}
    ctx.loss("duplicate_category_names", len(names) - len(set(names.values())),
             "categories sharing a name (WIDER Face names classes, they merge)")
    (out_dir / LABELS_FILE).write_text("".join(f"{c.name}\n" for c in ds.categories),
                                       encoding="utf-8")
    boxes = ds.annotations[~ds.annotations.is_label]
    rows_of = rows_by_image(boxes, len(imgs))
    dest: dict[int, Path] = {}
    bad = 0
    (out_dir / SPLIT_DIR).mkdir()
    for split in imgs.splits():
        subset = folder_name(split or DEFAULT_SPLIT, out_dir)
        lines: list[str] = []
        for i in np.flatnonzero(imgs.split == split):
            i = int(i)
            name = clean_relative(str(imgs.file_name[i]), where=f"image {imgs.file_name[i]!r}")
            if not is_image_file(name):
                raise OutputError(f"image {name!r}: WIDER Face image lines need an image file "
                                  "extension (.jpg, .png, ...); rename it")
            line_name = name if "/" in name else f"{NO_LABEL}/{name}"
            rows = rows_of[i]
            lines += [line_name, str(len(rows))]
            if len(rows) == 0:
                lines.append(" ".join(["0"] * 10))
            for r in rows:
                line, ok = _face_line(boxes, int(r), names)
                bad += not ok
                lines.append(line)
            dest[i] = out_dir / f"{SUBSET_PREFIX}{subset}" / IMAGES_DIR / line_name
        (out_dir / SPLIT_DIR / f"wider_face_{subset}_bbx_gt.txt").write_text(
            "".join(f"{line}\n" for line in lines), encoding="utf-8")
    ctx.loss("attribute_values", bad, "occluded/wider-face.* values that are not integers "
             "(written as 0)")
    common.write_images(ds, lambda i: dest[i], ctx)


def _face_line(ann: Annotations, r: int, names: dict[int, str]) -> tuple[str, bool]:
    x0, y0, x1, y1 = (float(v) for v in ann.xyxy[r])
    fields = [common.fmt_float(v) for v in (x0, y0, round(x1 - x0, 9), round(y1 - y0, 9))]
    ok = True
    for key in ATTRS:
        value = ann.attrs[key][r] if key in ann.attrs else None
        if value is None:
            fields.append("0")
        elif isinstance(value, (bool, np.bool_, int, np.integer)) or (
                isinstance(value, (float, np.floating)) and float(value).is_integer()):
            fields.append(str(int(value)))
        elif isinstance(value, str) and _is_int(value.strip()):
            fields.append(str(int(value.strip())))
        else:
            fields.append("0")
            ok = False
    name = names[int(ann.category_id[r])]
    if name != FACE:
        fields.append(name)
    return " ".join(fields), ok


FORMAT = Format(
    name=NAME,
    description="WIDER Face (wider_face_split/wider_face_<split>_bbx_gt.txt, "
                "WIDER_<split>/images/<event>/)",
    supports=frozenset({BOXES, ATTRIBUTES, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("wider_face", "widerface", "wider"),
    attributes=frozenset(ATTRS),
)
