"""Cityscapes segmentation PNGs: one RLE mask annotation per instance or per class region.

    leftImg8bit/<split>/<city>/<name>_leftImg8bit.png      the images
    gtFine/<split>/<city>/<name>_gtFine_instanceIds.png    16-bit: class_id * 1000 + n for an
                                                          instance, the class id elsewhere
    gtFine/<split>/<city>/<name>_gtFine_labelIds.png       8-bit class id per pixel
    gtFine/<split>/<city>/<name>_gtFine_color.png          class colors (derived, never read)
    gtFine/<split>/<city>/<name>_gtFine_labelTrainIds.png  trainId per pixel (Datumaro, mmseg)
    label_colors.txt                                       optional custom label map (Datumaro)

Categories: without label_colors.txt, the standard Cityscapes table (cityscapesScripts'
labels.py): category id = Cityscapes id 1..33 (0 "unlabeled" is background, not a category;
"license plate" has id -1 and never appears in a PNG), supercategory = the Cityscapes category
(flat, construction, object, nature, sky, human, vehicle, void). The rest of each label's row
(trainId, hasInstances, ignoreInEval, color) is kept in `dataset.meta["cityscapes"]["labels"]`
as a list of {id, name, train_id, category, has_instances, ignore_in_eval, color}.
With label_colors.txt (Datumaro's "r g b name" lines, or bare "name"), line order is the class
value, with Datumaro's rule: the first label colored 0 0 0 is the background; when there is
none, "background" is put first. Value 0 is the background, never a category; the others are
categories whose id is their value.

Reading: per image, instanceIds when present, else labelIds, else labelTrainIds (trainIds map
back to ids through the table; 255 and Datumaro's 19 "background" are ignored). A value >= 1000
is an instance of class value // 1000; a value < 1000 is the region of class `value`, which for
a "thing" class of the standard table (hasInstances) is a group Cityscapes could not split:
iscrowd. Annotations come regions first (by class id), then instances by (value % 1000, class),
each with its mask as COCO RLE and its box the mask's bounds. file_name is the image's path
inside its split without "_leftImg8bit" ("aachen/aachen_000000_000019.png"). The split folder
"default" (Datumaro's name for "no subset") reads as UNSPLIT. gtCoarse and *_polygons.json are
not read.

Writing: labelIds (8-bit), instanceIds (16-bit) and color PNGs for every image (all 0 for an
image without objects, so negatives are kept), images as leftImg8bit/<split>/<file_name with
_leftImg8bit before the suffix>, UNSPLIT images in split "default". Categories that all belong
to the standard table (same id and name, ignoring spaces) keep their ids and no label map is
written (CATEGORY_IDS is not declared, as custom classes are renumbered; `categories_after`
tells the generic report that a subset such as {7, 24, 26} keeps its ids); any others are written with values 1..n in class order and a label_colors.txt (at most
65 classes: 65 * 1000 + 999 is the largest 16-bit instance value). Objects are painted in
annotation order, later over earlier; an object of a thing class (every class of a custom label
map) gets value class * 1000 + k, k = 0, 1, ... counting the instances of its image, a crowd
object or one of a stuff class the class value. Reported: hidden pixels (loss.masks.overlap),
several objects of one stuff class in an image (merged: loss.masks.merged), crowd objects of a
custom label map (read back as plain regions: loss.iscrowd), bare boxes (generic report).
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..core.annotations import Annotations
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import Error, FormatError, OutputError, ParseError, ValidationError
from ..core.geometry import mask_bounds, mask_to_rle
from ..core.images import UNSPLIT, Images
from ..io.images import is_image_file
from ..io.paths import clean_relative, resolve_inside
from ..io.safe_load import text_of
from . import common
from ._palette import voc_colormap
from .base import (
    CLASS_ORDER,
    ISCROWD,
    MASKS,
    Detection,
    Format,
    ReadContext,
    WriteContext,
)
from .masks import object_mask, read_png, save_png
from .writing import rows_by_image

GT_DIR, IMAGE_DIR = "gtFine", "leftImg8bit"
IMAGE_SUFFIX = "_leftImg8bit"
KINDS = ("instanceIds", "labelIds", "labelTrainIds", "color")
LABEL_MAP = "label_colors.txt"
DEFAULT_SPLIT = "default"
MAX_CUSTOM_CLASSES = 65

# cityscapesScripts labels.py: name, id, trainId, category, hasInstances, ignoreInEval, color.
LABELS: tuple[tuple[str, int, int, str, bool, bool, tuple[int, int, int]], ...] = (
    ("unlabeled", 0, 255, "void", False, True, (0, 0, 0)),
    ("ego vehicle", 1, 255, "void", False, True, (0, 0, 0)),
    ("rectification border", 2, 255, "void", False, True, (0, 0, 0)),
    ("out of roi", 3, 255, "void", False, True, (0, 0, 0)),
    ("static", 4, 255, "void", False, True, (0, 0, 0)),
    ("dynamic", 5, 255, "void", False, True, (111, 74, 0)),
    ("ground", 6, 255, "void", False, True, (81, 0, 81)),
    ("road", 7, 0, "flat", False, False, (128, 64, 128)),
    ("sidewalk", 8, 1, "flat", False, False, (244, 35, 232)),
    ("parking", 9, 255, "flat", False, True, (250, 170, 160)),
    ("rail track", 10, 255, "flat", False, True, (230, 150, 140)),
    ("building", 11, 2, "construction", False, False, (70, 70, 70)),
    ("wall", 12, 3, "construction", False, False, (102, 102, 156)),
    ("fence", 13, 4, "construction", False, False, (190, 153, 153)),
    ("guard rail", 14, 255, "construction", False, True, (180, 165, 180)),
    ("bridge", 15, 255, "construction", False, True, (150, 100, 100)),
    ("tunnel", 16, 255, "construction", False, True, (150, 120, 90)),
    ("pole", 17, 5, "object", False, False, (153, 153, 153)),
    ("polegroup", 18, 255, "object", False, True, (153, 153, 153)),
    ("traffic light", 19, 6, "object", False, False, (250, 170, 30)),
    ("traffic sign", 20, 7, "object", False, False, (220, 220, 0)),
    ("vegetation", 21, 8, "nature", False, False, (107, 142, 35)),
    ("terrain", 22, 9, "nature", False, False, (152, 251, 152)),
    ("sky", 23, 10, "sky", False, False, (70, 130, 180)),
    ("person", 24, 11, "human", True, False, (220, 20, 60)),
    ("rider", 25, 12, "human", True, False, (255, 0, 0)),
    ("car", 26, 13, "vehicle", True, False, (0, 0, 142)),
    ("truck", 27, 14, "vehicle", True, False, (0, 0, 70)),
    ("bus", 28, 15, "vehicle", True, False, (0, 60, 100)),
    ("caravan", 29, 255, "vehicle", True, True, (0, 0, 90)),
    ("trailer", 30, 255, "vehicle", True, True, (0, 0, 110)),
    ("train", 31, 16, "vehicle", True, False, (0, 80, 100)),
    ("motorcycle", 32, 17, "vehicle", True, False, (0, 0, 230)),
    ("bicycle", 33, 18, "vehicle", True, False, (119, 11, 32)),
    ("license plate", -1, -1, "vehicle", False, True, (0, 0, 142)),
)
_BY_ID = {row[1]: row for row in LABELS if row[1] >= 0}
_ID_OF_TRAIN_ID = {row[2]: row[1] for row in LABELS if 0 <= row[2] < 255}
THING_IDS = frozenset(row[1] for row in LABELS if row[4])


# --- detect -------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    root = _root(path)
    if root is None:
        return None
    sample = _first_gt_png(root / GT_DIR)
    if sample is None:
        return None
    reasons = [f"{GT_DIR}/ holds Cityscapes masks ({sample.name})"]
    if (root / IMAGE_DIR).is_dir():
        reasons.append(f"{IMAGE_DIR}/ holds the images")
        return Detection("cityscapes", 0.95, tuple(reasons))
    return Detection("cityscapes", 0.9, tuple(reasons))


# --- read ---------------------------------------------------------------------------------

def read(path: Path, ctx: ReadContext) -> Dataset:
    common.refuse_images_dir(ctx, "cityscapes", "images are paired with their gtFine files by "
                             "listing the dataset's folders (a linked folder is followed with "
                             "--follow-links)")
    root = _root(Path(path))
    if root is None:
        raise FormatError(f"{path}: no {GT_DIR}/ or {IMAGE_DIR}/ folder; expected a Cityscapes "
                          f"root holding {GT_DIR}/<split>/<city>/*_gtFine_*.png")
    standard = not (root / LABEL_MAP).is_file()
    names = _standard_names() if standard else _read_label_map(root / LABEL_MAP)
    if standard:
        cats = Categories(Category(i, n, supercategory=_BY_ID[i][3])
                          for i, n in names.items() if i != 0)
        meta = {"labels": [_label_dict(row) for row in LABELS]}
    else:
        cats = Categories(Category(i, n) for i, n in names.items() if i != 0)
        meta = {"label_map": LABEL_MAP}

    gt_root, img_root = root / GT_DIR, root / IMAGE_DIR
    splits = sorted(set(_subdirs(gt_root, root, ctx)) | set(_subdirs(img_root, root, ctx)),
                    key=_split_key)
    records: list[dict[str, Any]] = []
    objects: list[tuple[int, int, bool, dict, str]] = []  # row, class, crowd, rle, where
    for split in splits:
        gts = _gt_files(gt_root / split, root, ctx)
        images = _image_files(img_root / split, root, ctx)
        for key in sorted(set(gts) | set(images)):
            found = gts.get(key, {})
            image = images.get(key)
            kind = next((k for k in KINDS[:3] if k in found), None)
            where = str(found[kind] if kind else image)
            record = {"file_name": key + (image.suffix if image else ".png"),
                      "path": str(image.absolute()) if image else None,
                      "split": UNSPLIT if split == DEFAULT_SPLIT else split,
                      "where": where, "size": None}
            if kind is not None:
                try:
                    values, shape = _read_ids(found[kind], kind, standard)
                    new = _objects_of(values, kind, found[kind], cats, standard)
                except Error as e:
                    ctx.fail(e)
                    continue
                record["size"] = (shape[1], shape[0])
                objects += [(len(records), *o) for o in new]
            records.append(record)
    _fill_sizes(records, ctx)
    valid = np.array([r["size"] is not None and r["size"][0] > 0 for r in records], bool)
    new_row = np.cumsum(valid) - 1
    objects = [o for o in objects if valid[o[0]]]
    records = [r for r, v in zip(records, valid) if v]
    rle = np.empty(len(objects), object)
    rle[:] = [o[3] for o in objects]
    boxes = np.array([o[5] for o in objects], np.float64).reshape(-1, 4)
    ann = Annotations.build([new_row[o[0]] for o in objects], [o[1] for o in objects], boxes,
                            rle=rle if objects else None,
                            iscrowd=np.array([o[2] for o in objects], bool))
    images = Images.build([r["file_name"] for r in records], [r["size"][0] for r in records],
                          [r["size"][1] for r in records], split=[r["split"] for r in records],
                          path=[r["path"] for r in records])
    ds = Dataset(images, ann, cats, meta={"cityscapes": meta})
    return common.finish_read(ds, ctx, where_annotation=lambda i: objects[i][4],
                              where_image=lambda i: records[i]["where"])


def _root(path: Path) -> Path | None:
    if path.is_file() and path.name == LABEL_MAP:
        path = path.parent
    if path.is_dir() and path.name in (GT_DIR, IMAGE_DIR):
        path = path.parent
    if path.is_dir() and ((path / GT_DIR).is_dir() or (path / IMAGE_DIR).is_dir()):
        return path
    return None


def _first_gt_png(folder: Path, depth: int = 3) -> Path | None:
    """A *_gtFine_<kind>.png within split/city/ levels, looking at few entries."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)[:50]
    except OSError:
        return None
    for e in entries:
        if e.is_file() and _gt_kind(e.name) is not None:
            return Path(e.path)
    if depth > 1:
        for e in entries:
            if e.is_dir(follow_symlinks=False):
                found = _first_gt_png(Path(e.path), depth - 1)
                if found is not None:
                    return found
    return None


def _gt_kind(name: str) -> tuple[str, str] | None:
    """(stem, kind) of '<stem>_gtFine_<kind>.png'."""
    if not name.endswith(".png"):
        return None
    for kind in KINDS:
        suffix = f"_{GT_DIR}_{kind}.png"
        if name.endswith(suffix) and len(name) > len(suffix):
            return name[:-len(suffix)], kind
    return None


def _standard_names() -> dict[int, str]:
    return {i: row[0] for i, row in _BY_ID.items()}


def _label_dict(row: tuple) -> dict[str, Any]:
    name, i, train_id, category, things, ignored, color = row
    return {"id": i, "name": name, "train_id": train_id, "category": category,
            "has_instances": things, "ignore_in_eval": ignored, "color": list(color)}


def _read_label_map(path: Path) -> dict[int, str]:
    """label_colors.txt -> {value: name} with Datumaro's background rule (value 0)."""
    try:
        lines = text_of(path, "utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        raise ParseError(path, f"cannot read label map ({e.__class__.__name__})") from None
    labels: list[tuple[str, tuple[int, ...] | None]] = []
    for n, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text.startswith("#"):
            continue
        parts = text.split(maxsplit=3)
        color = None
        if len(parts) == 4 and all(p.lstrip("-").isdigit() for p in parts[:3]):
            color = tuple(int(p) for p in parts[:3])
            if not all(0 <= v <= 255 for v in color):
                raise ParseError(f"{path}:{n}", f"color values must be 0..255, got {parts[:3]}")
            name = parts[3].strip()
        elif len(parts) == 1 or not parts[0].lstrip("-").isdigit():
            name = text
        else:
            raise ParseError(f"{path}:{n}", f"expected 'r g b name' or 'name', got {text!r}")
        if any(name == other for other, _ in labels):
            raise ParseError(f"{path}:{n}", f"label {name!r} is defined twice")
        labels.append((name, color))
    if not any(c == (0, 0, 0) for _, c in labels):
        labels = ([(n, c) for n, c in labels if n == "background"] or [("background", None)]) + \
            [(n, c) for n, c in labels if n != "background"]
    if len(labels) > 256:
        raise ParseError(path, f"{len(labels)} labels; an 8-bit label PNG holds at most 256")
    return {i: name for i, (name, _) in enumerate(labels)}


def _split_key(name: str) -> tuple[int, str]:
    return common.split_rank(name), name


def _subdirs(folder: Path, root: Path, ctx: ReadContext) -> list[str]:
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return []
    out = []
    for e in entries:
        if e.name.startswith(".") or not e.is_dir():
            continue
        if e.is_symlink() and not _inside(root, Path(e.path), ctx):
            continue
        out.append(e.name)
    return out


def _inside(root: Path, path: Path, ctx: ReadContext) -> bool:
    try:
        resolve_inside(root, os.path.relpath(path, root), where=str(path),
                       follow_links=ctx.follow_links)
        return True
    except Error as e:
        ctx.fail(e)
        return False


def _walk(folder: Path, root: Path, ctx: ReadContext, depth: int = 8):
    """(path relative to folder, path) of the files under folder, sorted; links leading
    outside the dataset are refused, links are not followed deeper than `depth` folders."""
    try:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
    except OSError:
        return
    for e in entries:
        if e.name.startswith("."):
            continue
        p = Path(e.path)
        if e.is_symlink() and not _inside(root, p, ctx):
            continue
        if e.is_dir():
            if depth > 0:
                for rel, f in _walk(p, root, ctx, depth - 1):
                    yield f"{e.name}/{rel}", f
        elif e.is_file():
            yield e.name, p


def _gt_files(folder: Path, root: Path, ctx: ReadContext) -> dict[str, dict[str, Path]]:
    out: dict[str, dict[str, Path]] = {}
    for rel, f in _walk(folder, root, ctx):
        parsed = _gt_kind(f.name)
        if parsed is not None:
            key = str(PurePosixPath(rel).parent / parsed[0]).removeprefix("./")
            out.setdefault(key, {})[parsed[1]] = f
    return out


def _image_files(folder: Path, root: Path, ctx: ReadContext) -> dict[str, Path]:
    out: dict[str, Path] = {}
    for rel, f in _walk(folder, root, ctx):
        if is_image_file(f.name):
            stem = rel[:-len(f.suffix)]
            out.setdefault(stem.removesuffix(IMAGE_SUFFIX), f)
    return out


def _read_ids(path: Path, kind: str, standard: bool) -> tuple[np.ndarray, tuple[int, int]]:
    """Class/instance values of a gt PNG as int64 (trainIds already mapped to class ids)."""
    arr, mode = read_png(path, what=f"{kind} mask")
    if arr.ndim != 2 or mode not in ("L", "P", "I", "I;16", "I;16B", "I;16L"):
        raise ParseError(path, f"{kind} PNG has mode {mode}; expected a grayscale PNG of ids "
                         "(8 or 16 bit)")
    values = arr.astype(np.int64)
    if kind == "labelTrainIds":
        lut = np.zeros(256, np.int64)
        if standard:
            for train_id, i in _ID_OF_TRAIN_ID.items():
                lut[train_id] = i
        else:
            lut[:] = np.arange(256)
        values = lut[np.clip(values, 0, 255)]
    return values, values.shape


def _objects_of(values: np.ndarray, kind: str, png: Path, cats: Categories,
                standard: bool) -> list[tuple[int, bool, dict, str, list[float]]]:
    """(class, crowd, rle, where, box): regions by class, then instances by (n, class)."""
    uniq = [int(v) for v in np.unique(values) if v != 0]
    if kind != "instanceIds":
        uniq = [v for v in uniq if v < 1000]
    regions = sorted(v for v in uniq if v < 1000)
    instances = sorted((v for v in uniq if v >= 1000), key=lambda v: (v % 1000, v // 1000))
    out = []
    for v in regions + instances:
        cls = v // 1000 if v >= 1000 else v
        if not cats.has_id(cls):
            ys, xs = np.nonzero(values == v)
            raise ValidationError(png, f"pixel value {v} at ({xs[0]}, {ys[0]}) is class {cls}, "
                                  f"which is not in the label map ("
                                  f"{'Cityscapes ids 1..33' if standard else LABEL_MAP})")
        mask = values == v
        crowd = v < 1000 and standard and cls in THING_IDS and kind == "instanceIds"
        what = f"instance {v}" if v >= 1000 else f"class {v}"
        out.append((cls, crowd, mask_to_rle(mask), f"{png}: {what}", mask_bounds(mask)))
    return out


def _fill_sizes(records: list[dict], ctx: ReadContext) -> None:
    """Images without masks get their size from the image file."""
    need = [r for r in records if r["size"] is None and r["path"] is not None]
    sizes = common.read_sizes([r["path"] for r in need], ctx, where=lambda i: need[i]["where"])
    for r, (w, h) in zip(need, sizes):
        r["size"] = (int(w), int(h)) if w > 0 else None


# --- write --------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs = ds.images
    standard = _is_standard(ds.categories)
    if standard:
        value_of = {c.id: c.id for c in ds.categories}
        colors = {i: row[6] for i, row in _BY_ID.items()}
        things = set(THING_IDS)
    else:
        if len(ds.categories) > MAX_CUSTOM_CLASSES:
            raise OutputError(f"{len(ds.categories)} classes; a Cityscapes instanceIds PNG "
                              f"(16 bit, class * 1000 + n) holds at most {MAX_CUSTOM_CLASSES}")
        common.refuse_names(ds.categories.names, "class name", LABEL_MAP, padded=True)
        for c in ds.categories:
            if c.name.startswith("#") or c.name == "background":
                raise OutputError(f"category {c.id} name {c.name!r} cannot be written to "
                                  f"{LABEL_MAP} (empty, surrounding spaces, newline, leading "
                                  "'#' or 'background'); rename it")
        value_of = {c.id: i + 1 for i, c in enumerate(ds.categories)}
        palette = voc_colormap()
        colors = {i + 1: palette[i + 1] for i in range(len(ds.categories))}
        things = set(colors)
    lut = np.zeros((256, 3), np.uint8)
    for v, rgb in colors.items():
        lut[v] = rgb

    dests = _destinations(imgs)
    ann = ds.annotations[~ds.annotations.is_label]
    has_rle, has_poly = ann.has_rle(), ann.has_polygon()
    crowd = ann.iscrowd if ann.iscrowd is not None else np.zeros(len(ann), bool)
    rows_of = rows_by_image(ann, len(imgs))
    hidden = merged = crowd_lost = written = 0
    with ctx.progress("Writing Cityscapes masks", len(imgs)) as advance:
        for i in range(len(imgs)):
            w, h = int(imgs.width[i]), int(imgs.height[i])
            ids = np.zeros((h, w), np.uint16)
            drawn: list[tuple[int, int]] = []  # (value, pixels)
            k = 0
            for r in rows_of[i]:
                mask = object_mask(ann, int(r), w, h, has_rle[r], has_poly[r], imgs.file_name[i])
                if mask is None or not mask.any():
                    continue
                cls = value_of[int(ann.category_id[r])]
                if cls in things and not crowd[r]:
                    if k > 999:
                        raise OutputError(f"image {imgs.file_name[i]!r} has more than 1000 "
                                          "instances; Cityscapes numbers them 0..999")
                    value, k = cls * 1000 + k, k + 1
                else:
                    value = cls
                    crowd_lost += int(bool(crowd[r]) and not standard)
                    merged += int(any(v == value for v, _ in drawn))
                ids[mask] = value
                drawn.append((value, int(mask.sum())))
            hidden += sum(1 for v, n in drawn if int((ids == v).sum()) < n
                          and sum(v == u for u, _ in drawn) == 1)
            written += sum(1 for v in {v for v, _ in drawn} if (ids == v).any())
            labels = np.where(ids >= 1000, ids // 1000, ids).astype(np.uint8)
            gt = out_dir / GT_DIR / dests[i][0]
            save_png(gt.with_name(f"{gt.name}_{GT_DIR}_instanceIds.png"), ids)
            save_png(gt.with_name(f"{gt.name}_{GT_DIR}_labelIds.png"), labels)
            save_png(gt.with_name(f"{gt.name}_{GT_DIR}_color.png"), lut[labels])
            advance(1)
    ctx.written_annotations = written  # regions and instances a read gives back
    ctx.loss("masks.overlap", hidden, "objects whose mask is partly or wholly covered by a "
             "later object (a Cityscapes id map holds one object per pixel)")
    ctx.loss("masks.merged", merged, "objects of a class without instances sharing an image "
             "with another of their class (merged into one region)")
    ctx.loss("iscrowd", crowd_lost, "crowd objects of classes outside the Cityscapes table "
             "(written as class regions; read back as plain regions)")
    if not standard:
        lines = ["0 0 0 background\n"] + [
            f"{' '.join(map(str, colors[value_of[c.id]]))} {c.name}\n" for c in ds.categories]
        (out_dir / LABEL_MAP).write_text("".join(lines), encoding="utf-8")
    common.write_images(ds, lambda i: out_dir / IMAGE_DIR / dests[i][1], ctx)


def _categories_after(cats: Categories) -> list[Category]:
    """What a read of the output gives back: a standard subset keeps its ids, with the
    table's categories as supercategories; custom classes become 1..n without any."""
    if _is_standard(cats):
        return [Category(c.id, c.name, _BY_ID[c.id][3]) for c in cats]
    return [Category(i + 1, c.name) for i, c in enumerate(cats)]


def _is_standard(cats: Categories) -> bool:
    def key(name: str) -> str:
        return name.replace(" ", "").replace("_", "").lower()
    return all(c.id in _BY_ID and key(c.name) == key(_BY_ID[c.id][0]) for c in cats)


def _destinations(imgs: Images) -> list[tuple[str, str]]:
    """(gt stem path, image path) inside gtFine/ and leftImg8bit/ for every image."""
    out: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    for i, (name, split) in enumerate(zip(imgs.file_name, imgs.split)):
        split = str(split) or DEFAULT_SPLIT
        if "/" in clean_relative(split, where=f"split {split!r}"):
            raise OutputError(f"split name {split!r} cannot be a folder name; rename the split")
        rel = PurePosixPath(clean_relative(str(name), where=f"image {name!r}"))
        stem = f"{split}/{rel.with_suffix('')}"
        j = seen.setdefault(stem, i)
        if j != i:
            raise OutputError(f"images {imgs.file_name[j]!r} and {name!r} of split {split!r} "
                              f"would share the masks {GT_DIR}/{stem}_{GT_DIR}_*.png; rename one")
        out.append((stem, f"{stem}{IMAGE_SUFFIX}{rel.suffix or '.png'}"))
    return out


FORMAT = Format(
    name="cityscapes",
    description="Cityscapes gtFine labelIds/instanceIds PNGs + leftImg8bit images, read as one "
                "RLE mask per instance or class region",
    supports=frozenset({MASKS, CLASS_ORDER, ISCROWD}),
    detect=detect,
    read=read,
    write=write,
    categories_after=_categories_after,
)
