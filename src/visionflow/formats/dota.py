"""DOTA oriented boxes (v1.0, v1.5, v2.0): one labelTxt file per image, pixel coordinates.

    imagesource:GoogleEarth                      optional header lines (v1.0), kept as image
    gsd:0.146343590398                           attrs "dota.imagesource" and "dota.gsd"
    x1 y1 x2 y2 x3 y3 x4 y4 class difficult      one object per line, corners in drawing order

Layouts read: DOTA's own `<split>/images/*.png` + `<split>/labelTxt/*.txt` (train/, val/,
test/; the folder name is the split), or `images/` + `labelTxt/` at the root (UNSPLIT). Label
folders named `labelTxt-v1.0`, `labelTxt-v1.5` ... are accepted. The user names the dataset
folder, a split folder or a labelTxt folder.

Rules:
- Corners are absolute pixels as written (continuous coordinates, no +-1 shift): they become
  Annotations.obb; the box is their bounds clipped to the image (corners reaching outside the
  image are kept as written, like yolo.py does).
- `difficult` (0/1, optional 10th token) is the annotation attr "difficult"; a line without it
  reads as None and is written as 0 (DOTA's default).
- Class names are single tokens in DOTA ("large-vehicle"). A name with spaces is read back by
  joining the tokens between the corners and the difficult flag, and written verbatim with a
  warning ("dota.name_spaces": the DOTA devkit splits on whitespace).
- Categories: DOTA has no class list; classes are sorted by name with ids 1..N. The writer also
  writes `visionflow.yaml` (`task`, `names`), a sidecar the DOTA devkit ignores: with it the
  class order survives, and a dataset of plain boxes (task: detect) reads back as boxes rather
  than axis-aligned oriented boxes.
- Images are needed for their size (read from the header). Images without a label file are
  negatives; a label file without its image is a MissingImageError.
- Writer: `<split>/images/<file_name>` + `<split>/labelTxt/<stem>.txt` (`images/` + `labelTxt/`
  for UNSPLIT images), an empty label file for a negative; objects without an oriented box are
  written as their box's 4 corners clockwise from the top-left. Numbers are written exactly
  (shortest float text).
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import yaml

from ..core.annotations import Annotations
from ..core.categories import Categories
from ..core.dataset import Dataset
from ..core.errors import FormatError, MissingImageError, OutputError, ParseError
from ..core.images import UNSPLIT, Images, canonical_split
from ..io.images import is_image_file
from ..io.paths import clean_relative, resolve_inside
from ..io.safe_load import load_yaml as safe_yaml
from ..io.safe_load import text_of
from . import common
from .builder import header_sizes
from .base import (
    ATTRIBUTES,
    BOXES,
    CLASS_ORDER,
    OBB,
    Detection,
    Format,
    ReadContext,
    WriteContext,
)
from .writing import rows_by_image

SIDECAR = "visionflow.yaml"
_HEADER = re.compile(r"^\s*(imagesource|gsd)\s*:(.*)$", re.IGNORECASE)
_NUMBER = re.compile(r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$")
_SPLIT_NAME = re.compile(r"^[\w.-]+$")
_SPLITS = ("train", "val", "test")


# --- detect -------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    """DOTA when a labelTxt folder holds text lines of 8 numbers followed by a class name."""
    try:
        root, units = _units(path)
    except (FormatError, OSError):
        return None
    if units and _sidecar_says_dota(root / SIDECAR):
        return Detection("dota", 0.9, (f"{SIDECAR} written for DOTA", f"{units[0][2].name}/"))
    for _, images_dir, labels_dir in units:
        sample = _first_label_line(labels_dir)
        if sample is None:
            continue
        reasons = [(f"{labels_dir.name}/: lines of 8 corner coordinates + class name "
                   f"(\"{sample[:60]}\")")]
        if images_dir.is_dir():
            reasons.append(f"{images_dir.name}/ beside it")
        return Detection("dota", 0.9 if images_dir.is_dir() else 0.75, tuple(reasons))
    return None


# --- read ---------------------------------------------------------------------------------

def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    root, units = _units(path)
    if not units:
        raise FormatError(f"{path}: no DOTA labelTxt/ folder found (expected images/ + "
                          "labelTxt/, or train/ val/ ... folders holding them)")
    sidecar = _load_sidecar(root / SIDECAR)

    entries: list[dict[str, Any]] = []  # file_name, split, path, label, where
    for split, images_dir, labels_dir in units:
        if ctx.images_dir is not None:  # --images-dir: the images, by stem, are there
            images_dir, ctx.images_dir_used = ctx.images_dir, True
        images = {}
        if images_dir.is_dir():
            for f in sorted(images_dir.iterdir()):
                if f.is_file() and is_image_file(f) and not f.name.startswith("."):
                    images.setdefault(f.stem, f)
        labels = {f.stem: f for f in sorted(labels_dir.glob("*.txt")) if f.is_file()}
        # an --images-dir folder may hold other images: only the labelled ones are read
        stems = set(labels) if ctx.images_dir is not None else set(images) | set(labels)
        for stem in sorted(stems):
            image, label = images.get(stem), labels.get(stem)
            if image is not None:
                top = images_dir if ctx.images_dir is not None else root
                resolve_inside(top, os.path.relpath(image, top), where=str(image),
                               follow_links=ctx.follow_links)
            if label is not None:
                resolve_inside(root, os.path.relpath(label, root), where=str(label))
            entries.append({"images_dir": images_dir,
                "file_name": image.name if image is not None else f"{stem}.png",
                "split": split, "image": image, "label": label,
                "where": str(label if label is not None else image)})

    sizes = header_sizes(ctx, [None if e["image"] is None else str(e["image"]) for e in entries],
                         [e["where"] for e in entries],
                         lambda i: MissingImageError(entries[i]["where"], "no image named "
                                                     f"{Path(entries[i]['where']).stem}.* in "
                                                     f"{entries[i]['images_dir']}; DOTA needs "
                                                     "the image for its size"))
    keep = (sizes[:, 0] > 0) & (sizes[:, 1] > 0)
    entries = [e for e, k in zip(entries, keep) if k]
    sizes = sizes[keep]

    rows: list[tuple[int, str, list[float], Any, str]] = []  # image, class, corners, difficult, where
    image_attrs: dict[str, list[Any]] = {}
    for i, e in enumerate(entries):
        if e["label"] is None:
            continue
        header = _parse_label_file(e["label"], i, rows, ctx)
        for key, value in header.items():
            image_attrs.setdefault(key, [None] * len(entries))[i] = value

    found = sorted({r[1] for r in rows})
    names = [n for n in sidecar.get("names", []) if isinstance(n, str)]
    names = list(dict.fromkeys(names)) + [n for n in found if n not in names]
    cat_id = {n: i for i, n in enumerate(names, 1)}
    n = len(rows)
    obb = np.array([r[2] for r in rows], np.float64).reshape(n, 4, 2)
    image_index = np.array([r[0] for r in rows], np.int64)
    xyxy = np.concatenate([obb.min(axis=1), obb.max(axis=1)], axis=1) if n else np.zeros((0, 4))
    wh = sizes[image_index].astype(np.float64)
    with np.errstate(invalid="ignore"):
        xyxy = np.clip(xyxy, 0, np.concatenate([wh, wh], axis=1))
    difficult = np.empty(n, object)
    difficult[:] = [r[3] for r in rows]
    extra: dict[str, Any] = {"attrs": {"difficult": difficult}} if any(
        d is not None for d in difficult) else {}
    if sidecar.get("task") != "detect":
        extra["obb"] = obb
    ann = Annotations.build(image_index, [cat_id[r[1]] for r in rows], xyxy, **extra)
    images = Images.build([e["file_name"] for e in entries], sizes[:, 0], sizes[:, 1],
                          split=[e["split"] for e in entries],
                          path=[os.path.abspath(e["image"]) for e in entries],
                          attrs=image_attrs)
    ds = Dataset(images, ann, Categories.from_names(names))
    where = [r[4] for r in rows]
    return common.finish_read(ds, ctx, where_annotation=lambda i: where[i],
                              where_image=lambda i: entries[i]["where"])


def _units(path: Path) -> tuple[Path, list[tuple[str, Path, Path]]]:
    """The dataset root and (split, images dir, labelTxt dir) for every part under `path`.

    A folder holding labelTxt/ directly is UNSPLIT unless it is named like a split (train/,
    val/, test/: the user named one split folder); its subfolders holding labelTxt/ are splits.
    """
    if path.is_file():
        raise FormatError(f"{path}: name the DOTA dataset folder, not a file")
    if not path.is_dir():
        raise FormatError(f"{path}: no such folder")
    if _is_label_dir(path):
        path = path.parent
    units: list[tuple[str, Path, Path]] = []
    root = path
    direct = _label_dirs(path)
    if direct:
        split = canonical_split(path.name)
        split = split if split in _SPLITS else UNSPLIT
        units.append((split, path / "images", direct[0]))
        root = path.parent if split != UNSPLIT else path
    for sub in sorted(d for d in path.iterdir() if d.is_dir() and not _is_label_dir(d)):
        labels = _label_dirs(sub)
        if labels:
            units.append((canonical_split(sub.name), sub / "images", labels[0]))
    return root, units


def _is_label_dir(folder: Path) -> bool:
    return folder.name.lower().startswith("labeltxt")


def _label_dirs(folder: Path) -> list[Path]:
    try:
        return sorted(d for d in folder.iterdir() if d.is_dir() and _is_label_dir(d))
    except OSError:
        return []


def _first_label_line(labels_dir: Path) -> str | None:
    """The first object line of the first few label files, when it looks like DOTA."""
    try:
        names = sorted(e.name for e in os.scandir(labels_dir) if e.name.endswith(".txt"))[:3]
    except OSError:
        return None
    for name in names:
        try:
            with open(labels_dir / name, "rb") as f:
                head = f.read(4096).decode("utf-8", "replace")
        except OSError:
            continue
        for line in head.splitlines()[:4]:
            if not line.strip() or _HEADER.match(line):
                continue
            tokens = line.split()
            if len(tokens) >= 9 and all(_NUMBER.match(t) for t in tokens[:8]) \
                    and not _NUMBER.match(tokens[8]):
                return line.strip()
            return None
    return None


def _sidecar_says_dota(path: Path) -> bool:
    try:
        return path.is_file() and path.stat().st_size < 1 << 20 and \
            _load_sidecar(path).get("format") == "dota"
    except (OSError, ParseError):
        return False


def _load_sidecar(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = safe_yaml(path, path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
        raise ParseError(path, f"cannot read the visionflow sidecar ({e.__class__.__name__})") \
            from None
    return data if isinstance(data, dict) else {}


def _parse_label_file(label: Path, image: int, rows: list, ctx: ReadContext) -> dict[str, str]:
    """Append (image, class, corners, difficult, where) rows; return the header attrs."""
    try:
        text = text_of(label, "utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        ctx.fail(ParseError(label, f"cannot read label file as UTF-8 text "
                            f"({e.__class__.__name__})"))
        return {}
    header: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        m = _HEADER.match(line)
        if m:
            header[f"dota.{m.group(1).lower()}"] = m.group(2).strip()
            continue
        where = f"{label}:{n}"
        tokens = line.split()
        if len(tokens) < 9 or not all(_NUMBER.match(t) for t in tokens[:8]):
            ctx.fail(ParseError(where, "expected 'x1 y1 x2 y2 x3 y3 x4 y4 class [difficult]' "
                                f"(8 numbers, a class name), got \"{line.strip()[:80]}\""))
            continue
        difficult: Any = None
        name_tokens = tokens[8:]
        if len(name_tokens) > 1 and re.fullmatch(r"-?\d+", name_tokens[-1]):
            difficult = int(name_tokens[-1])
            name_tokens = name_tokens[:-1]
        corners = [float(t) for t in tokens[:8]]
        if not all(np.isfinite(corners)):
            ctx.fail(ParseError(where, f"corner coordinate is not finite: \"{line.strip()[:80]}\""))
            continue
        rows.append((image, " ".join(name_tokens), corners, difficult, where))
    return header


# --- write --------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs, ann = ds.images, ds.annotations
    folders = []
    for split in imgs.split:
        if split != UNSPLIT and (not _SPLIT_NAME.match(split) or split.startswith(".")
                                 or split.lower().startswith("labeltxt") or split == "images"):
            raise OutputError(f"{out_dir}: split name {split!r} cannot be a DOTA folder name; "
                              "rename the split")
        folders.append(f"{split}/" if split != UNSPLIT else "")
    names = {c.id: c.name for c in ds.categories}
    common.refuse_names(names.values(), "class name", "a DOTA line", padded=True)
    bad = [n for n in names.values() if " ".join(n.split()) != n]
    if bad:  # the reader joins the words of a name with one space
        raise OutputError(f"class name {bad[0]!r} has tabs or runs of spaces, which a DOTA line "
                          "cannot hold (it would read back different); rename it")
    spaced = [n for n in names.values() if any(ch.isspace() for ch in n)]
    if spaced:
        ctx.report.add("warning", "dota.name_spaces", "class names with spaces are written "
                       "verbatim; the DOTA devkit splits lines on whitespace and would read only "
                       f"their first word: {', '.join(sorted(spaced))}", count=len(spaced))

    objects = ann[~ann.is_label]
    corners = np.array(objects.obb) if objects.obb is not None else np.full(
        (len(objects), 4, 2), np.nan)
    plain = np.isnan(corners).any(axis=(1, 2))
    x0, y0, x1, y1 = objects.xyxy[plain].T
    corners[plain] = np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1),
                               np.stack([x1, y1], 1), np.stack([x0, y1], 1)], axis=1)
    difficult = objects.attr("difficult")
    rows_of = rows_by_image(objects, len(imgs))
    label_of: dict[str, int] = {}
    dest: list[Path] = []
    with ctx.progress("Writing DOTA labels", len(imgs)) as advance:
        for i in range(len(imgs)):
            name = clean_relative(str(imgs.file_name[i]), where=f"image {imgs.file_name[i]!r}")
            label = f"{folders[i]}labelTxt/{PurePosixPath(name).stem}.txt"
            if label in label_of:
                raise OutputError(f"{label}: images {imgs.file_name[label_of[label]]!r} and "
                                  f"{name!r} would share one label file; rename one of them")
            label_of[label] = i
            dest.append(out_dir / f"{folders[i]}images" / PurePosixPath(name).name)
            lines = [f"{key[5:]}:{imgs.attrs[key][i]}\n" for key in ("dota.imagesource",
                                                                     "dota.gsd")
                     if key in imgs.attrs and imgs.attrs[key][i] is not None]
            for r in rows_of[i]:
                xy = " ".join(common.fmt_float(float(v)) for v in corners[r].reshape(-1))
                lines.append(f"{xy} {names[int(objects.category_id[r])]} "
                             f"{_difficult_text(difficult[r])}\n")
            path = out_dir / label
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text("".join(lines), encoding="utf-8")
            advance(1)
    common.write_images(ds, lambda i: dest[i], ctx)
    task = "obb" if objects.obb is not None and (~plain).any() else "detect"
    side = {"format": "dota", "task": task, "names": [c.name for c in ds.categories]}
    (out_dir / SIDECAR).write_text(yaml.safe_dump(side, sort_keys=False, allow_unicode=True,
                                                  width=1 << 16), encoding="utf-8")


def _difficult_text(value: Any) -> str:
    if value is None:
        return "0"
    try:
        return str(int(value))
    except (TypeError, ValueError):
        return "0"


FORMAT = Format(
    name="dota",
    description="DOTA oriented boxes (images/ + labelTxt/*.txt: 8 corner coordinates, class, "
                "difficult)",
    supports=frozenset({BOXES, OBB, ATTRIBUTES, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("dota-v1", "dota-v1.5"),
    attributes=frozenset({"difficult"}),
)
