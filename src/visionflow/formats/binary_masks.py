"""Binary instance masks, one PNG per object (pycococreator's input layout).

    <root>/<image folder>/<stem>.jpg               the images (pycococreator: shapes_train2018/)
    <root>/annotations/<stem>_<class>_<n>.png      one binary mask per object (0 / 255)
    <root>/classes.txt                             optional: class order, one name per line
    <root>/<split>/annotations/...                 the same per split folder

Reading: every PNG under annotations/ is one object: its mask (pixels >= 128 of the PNG's
luminance; a 0/1 PNG counts every non-zero pixel), its class the name between the image stem
and the number, its box the mask's bounds. The image stem is found from the image files
(so stems and class names may hold '_'), else from the classes.txt names, else the name splits
at its last two '_'. Objects come per image in order of n (then class). The image folder is
images/ when present, else every other folder of the root holding images; images without
masks are kept as negatives; a mask without its image gets file name <stem>.png and the mask's
size. Categories: classes.txt order, else the class names sorted, ids 1..N.

Writing: images/<file_name>, annotations/<stem>_<class>_<n>.png as 8-bit grayscale 0/255 with
n = 0, 1, ... over the objects of each image in annotation order, classes.txt; a split other
than UNSPLIT goes to <split>/images + <split>/annotations. Masks come from `rle`, or from
polygons rasterized (a conversion: the polygon's pixels are what the mask holds); bare boxes
are reported by the generic loss report. Every object has its own file, so overlapping masks
are kept whole. Class names that cannot be a file name part (empty, '/', '\\') are an
OutputError.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

import numpy as np

from ..core.annotations import Annotations
from ..core.categories import Categories
from ..core.dataset import Dataset
from ..core.errors import Error, FormatError, OutputError, ParseError, ValidationError
from ..core.geometry import mask_bounds, mask_to_rle
from ..core.images import UNSPLIT, Images, canonical_split
from ..io.images import is_image_file
from ..io.paths import clean_relative, resolve_inside
from ..io.safe_load import text_of
from . import common
from .base import CLASS_ORDER, MASKS, Detection, Format, ReadContext, WriteContext
from .masks import object_mask, read_png, save_png
from .writing import rows_by_image

MASK_DIR, IMAGE_DIR, CLASSES = "annotations", "images", "classes.txt"
_NAME = re.compile(r"(.+)_(\d+)\.png", re.IGNORECASE)


# --- detect -------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    if not path.is_dir():
        return None
    roots = _split_roots(path)
    if not roots:
        return None
    sample = next((m for m in (_first_mask(r / MASK_DIR) for r, _ in roots) if m), None)
    if sample is None:
        if not ((path / CLASSES).is_file() and all(
                not any(os.scandir(r / MASK_DIR)) and (r / IMAGE_DIR).is_dir() for r, _ in roots)):
            return None
        return Detection("binary-masks", 0.6, ((f"empty {MASK_DIR}/ beside {IMAGE_DIR}/ and "
                                               f"{CLASSES} (a dataset without objects)"),))
    reasons = [(f"{MASK_DIR}/ holds per-object masks named <image>_<class>_<n>.png "
               f"({sample})")]
    if any(_image_dirs(r) for r, _ in roots):
        reasons.append("images in a folder beside it")
        return Detection("binary-masks", 0.85, tuple(reasons))
    return Detection("binary-masks", 0.6, tuple(reasons))


# --- read ---------------------------------------------------------------------------------

def read(path: Path, ctx: ReadContext) -> Dataset:
    common.refuse_images_dir(ctx, "binary-masks", "images are paired with their mask PNGs by "
                             "listing the dataset's folders (a linked folder is followed with "
                             "--follow-links)")
    path = Path(path)
    if path.is_dir() and path.name == MASK_DIR:
        path = path.parent
    roots = _split_roots(path) if path.is_dir() else []
    if not roots:
        raise FormatError(f"{path}: no {MASK_DIR}/ folder of <image>_<class>_<n>.png masks")
    top = path
    class_file = top / CLASSES if (top / CLASSES).is_file() else next(
        (r / CLASSES for r, _ in roots if (r / CLASSES).is_file()), None)
    known = _read_classes(class_file) if class_file is not None else None

    records: list[dict] = []
    objects: list[tuple[int, str, int, dict, list[float], str]] = []  # row, class, n, rle, box
    for root, split in roots:
        images = _images_of(root, top, ctx)
        masks = _masks_of(root / MASK_DIR, top, ctx)
        parsed: dict[str, list[tuple[str, int, Path]]] = {}
        for rel, f in masks:
            try:
                stem, cls, n = _parse_name(rel, f, images, known)
            except Error as e:
                ctx.fail(e)
                continue
            parsed.setdefault(stem, []).append((cls, n, f))
        for stem in sorted(set(images) | set(parsed)):
            image = images.get(stem)
            row = len(records)
            rec = {"file_name": (PurePosixPath(stem).parent / image.name).as_posix()
                   .removeprefix("./") if image else f"{stem}.png",
                   "path": str(image.absolute()) if image else None, "split": split,
                   "where": str(image or parsed[stem][0][2]), "size": None}
            new = []
            for cls, n, f in sorted(parsed.get(stem, []), key=lambda o: (o[1], o[0])):
                try:
                    mask = _read_mask(f)
                    if rec["size"] is not None and rec["size"] != (mask.shape[1], mask.shape[0]):
                        raise ValidationError(f, f"mask is {mask.shape[1]}x{mask.shape[0]}, "
                                              f"other masks of {stem!r} are "
                                              f"{rec['size'][0]}x{rec['size'][1]}")
                except Error as e:
                    ctx.fail(e)
                    continue
                rec["size"] = (mask.shape[1], mask.shape[0])
                if not mask.any():
                    ctx.report.add("warning", "binary_masks.empty", "empty mask (no pixel "
                                   "set); skipped", where=str(f))
                    continue
                new.append((row, cls, n, mask_to_rle(mask), mask_bounds(mask), str(f)))
            objects += new
            records.append(rec)
    need = [r for r in records if r["size"] is None]
    sizes = common.read_sizes([r["path"] for r in need], ctx, where=lambda i: need[i]["where"])
    for r, (w, h) in zip(need, sizes):
        r["size"] = (int(w), int(h)) if w > 0 else None
    valid = np.array([r["size"] is not None for r in records], bool)
    new_row = np.cumsum(valid) - 1
    objects = [o for o in objects if valid[o[0]]]
    records = [r for r, v in zip(records, valid) if v]

    names = list(known) if known is not None else sorted({o[1] for o in objects})
    unknown = sorted({o[1] for o in objects} - set(names))
    for name in unknown:
        ctx.report.add("warning", "binary_masks.unlisted_class", f"class {name!r} is not in "
                       f"{CLASSES}; added after the listed ones", where=str(class_file))
    cats = Categories.from_names(names + unknown)
    cat_id = {c.name: c.id for c in cats}
    rle = np.empty(len(objects), object)
    rle[:] = [o[3] for o in objects]
    ann = Annotations.build([new_row[o[0]] for o in objects], [cat_id[o[1]] for o in objects],
                            np.array([o[4] for o in objects], np.float64).reshape(-1, 4),
                            rle=rle if objects else None)
    images = Images.build([r["file_name"] for r in records], [r["size"][0] for r in records],
                          [r["size"][1] for r in records], split=[r["split"] for r in records],
                          path=[r["path"] for r in records])
    ds = Dataset(images, ann, cats)
    return common.finish_read(ds, ctx, where_annotation=lambda i: objects[i][5],
                              where_image=lambda i: records[i]["where"])


def _split_roots(path: Path) -> list[tuple[Path, str]]:
    """(folder holding annotations/, split): the path itself, else its split folders."""
    if (path / MASK_DIR).is_dir():
        return [(path, UNSPLIT)]
    try:
        subs = sorted(e.name for e in os.scandir(path) if e.is_dir() and
                      not e.name.startswith("."))
    except OSError:
        return []
    order = ("train", "val", "valid", "test")
    subs.sort(key=lambda s: (order.index(s) if s in order else len(order), s))
    return [(path / s, canonical_split(s)) for s in subs if (path / s / MASK_DIR).is_dir()]


def _first_mask(folder: Path) -> str | None:
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.is_file())[:20]
    except OSError:
        return None
    masks = [n for n in names if _NAME.fullmatch(n) and "_" in _NAME.fullmatch(n).group(1)]
    if not masks or len(masks) < len([n for n in names if n.lower().endswith(".png")]):
        return None
    return masks[0]


def _image_dirs(root: Path) -> list[Path]:
    if (root / IMAGE_DIR).is_dir():
        return [root / IMAGE_DIR]
    out = []
    for d in sorted(p for p in root.iterdir() if p.is_dir() and p.name != MASK_DIR
                    and not p.name.startswith(".")):
        try:
            if any(is_image_file(e.name) for e in os.scandir(d)):
                out.append(d)
        except OSError:
            continue
    return out


def _walk(folder: Path, top: Path, ctx: ReadContext) -> list[tuple[str, Path]]:
    """(relative path, file) under folder, sorted; links leading outside `top` refused."""
    out: list[tuple[str, Path]] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            f = Path(dirpath) / name
            if name.startswith("."):
                continue
            if f.is_symlink() or Path(dirpath) != folder and Path(dirpath).is_symlink():
                try:
                    resolve_inside(top, os.path.relpath(f, top), where=str(f),
                                   follow_links=ctx.follow_links)
                except Error as e:
                    ctx.fail(e)
                    continue
            out.append((f.relative_to(folder).as_posix(), f))
    return out


def _images_of(root: Path, top: Path, ctx: ReadContext) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for d in _image_dirs(root):
        for rel, f in _walk(d, top, ctx):
            if is_image_file(f.name):
                out.setdefault(str(PurePosixPath(rel).with_suffix("")), f)
    return out


def _masks_of(folder: Path, top: Path, ctx: ReadContext) -> list[tuple[str, Path]]:
    return [(rel, f) for rel, f in _walk(folder, top, ctx) if f.name.lower().endswith(".png")]


def _parse_name(rel: str, f: Path, images: dict[str, Path],
                known: list[str] | None) -> tuple[str, str, int]:
    """(image stem, class, n) of '<stem>_<class>_<n>.png' (rel may hold folders)."""
    folder, _, base = rel.rpartition("/")
    m = _NAME.fullmatch(base)
    head = m.group(1) if m else ""
    prefix = f"{folder}/" if folder else ""
    candidates: list[tuple[str, str]] = []
    if head:
        stems = [s[len(prefix):] for s in images if s.startswith(prefix)
                 and "/" not in s[len(prefix):] and head.startswith(s[len(prefix):] + "_")]
        candidates = [(s, head[len(s) + 1:]) for s in sorted(stems, key=len, reverse=True)]
        if not candidates and known:
            candidates = [(head[:-len(c) - 1], c) for c in sorted(known, key=len, reverse=True)
                          if head.endswith("_" + c) and len(head) > len(c) + 1]
        if not candidates and "_" in head:
            candidates = [tuple(head.rsplit("_", 1))]  # type: ignore[list-item]
    candidates = [(s, c) for s, c in candidates if s and c]
    if not candidates:
        raise ParseError(f, "mask file name is not <image stem>_<class>_<n>.png")
    stem, cls = candidates[0]
    return prefix + stem, cls, int(m.group(2))


def _read_classes(path: Path) -> list[str]:
    try:
        lines = [line.strip() for line in text_of(path, "utf-8-sig").splitlines()]
    except (OSError, UnicodeDecodeError):
        raise ParseError(path, "class names file is not readable UTF-8 text") from None
    while lines and not lines[-1]:
        lines.pop()
    seen: set[str] = set()
    for n, name in enumerate(lines, 1):
        if not name or name in seen:
            raise ParseError(f"{path}:{n}", f"{'empty' if not name else 'repeated'} class "
                             f"name {name!r}; one distinct name per line expected")
        seen.add(name)
    return lines


def _read_mask(path: Path) -> np.ndarray:
    arr, mode = read_png(path, what="mask")
    if arr.ndim == 3:
        rgb = arr[..., :3].astype(np.float64)
        arr = (rgb @ np.array([0.299, 0.587, 0.114])) if rgb.shape[2] == 3 else rgb[..., 0]
    elif mode == "P":
        raise ParseError(path, "palette PNG; a binary mask is grayscale or RGB 0/255")
    if arr.ndim != 2:
        raise ParseError(path, f"unsupported PNG mode {mode}; expected grayscale or RGB")
    top = float(arr.max(initial=0))
    return arr >= 128 if top > 1 else arr > 0


# --- write --------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs = ds.images
    common.refuse_names(ds.categories.names, "class name", "a mask file name", padded=True,
                        chars="/\\")
    common.refuse_names(imgs.file_name, "image name", "a mask file name")
    names = {c.id: c.name for c in ds.categories}
    splits = sorted({str(s) for s in imgs.split} - {UNSPLIT})
    for s in splits:
        if s in (MASK_DIR, IMAGE_DIR) or "/" in s or s.startswith(".") or not s.strip():
            raise OutputError(f"split name {s!r} cannot be a folder name here; rename it")
    ann = ds.annotations[~ds.annotations.is_label]
    has_rle, has_poly = ann.has_rle(), ann.has_polygon()
    rows_of = rows_by_image(ann, len(imgs))
    dest: list[Path] = []
    seen: dict[str, int] = {}
    with ctx.progress("Writing binary masks", len(imgs)) as advance:
        for i in range(len(imgs)):
            base = out_dir / imgs.split[i] if imgs.split[i] else out_dir
            rel = PurePosixPath(_clean(str(imgs.file_name[i])))
            stem = str(rel.with_suffix(""))
            key = f"{imgs.split[i]}/{stem}"
            if key in seen:
                raise OutputError(f"images {imgs.file_name[seen[key]]!r} and "
                                  f"{imgs.file_name[i]!r} would share mask names {stem}_*; "
                                  "rename one")
            seen[key] = i
            dest.append(base / IMAGE_DIR / rel)
            w, h = int(imgs.width[i]), int(imgs.height[i])
            n = 0
            for r in rows_of[i]:
                mask = object_mask(ann, int(r), w, h, has_rle[r], has_poly[r], imgs.file_name[i])
                if mask is None:
                    continue
                name = f"{stem}_{names[int(ann.category_id[r])]}_{n}.png"
                save_png(base / MASK_DIR / name, np.where(mask, 255, 0).astype(np.uint8))
                n += 1
            (base / MASK_DIR).mkdir(parents=True, exist_ok=True)
            advance(1)
    (out_dir / CLASSES).write_text("".join(f"{c.name}\n" for c in ds.categories),
                                   encoding="utf-8")
    common.write_images(ds, lambda i: dest[i], ctx)


def _clean(name: str) -> str:
    return clean_relative(name, where=f"image {name!r}")


FORMAT = Format(
    name="binary-masks",
    description="Binary instance mask PNGs, one per object: annotations/<image>_<class>_<n>.png "
                "beside the images (pycococreator)",
    supports=frozenset({MASKS, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("pycococreator", "instance-masks"),
)
