"""Pascal VOC segmentation: class and instance PNG masks, one RLE mask annotation per object.

    SegmentationClass/<id>.png    class index per pixel (0 background, 255 void/border)
    SegmentationObject/<id>.png   instance index per pixel (1..n, 0 background, 255 void)
    JPEGImages/<id>.jpg           the images (optional for reading: the masks give the size)
    ImageSets/Segmentation/<split>.txt   split lists (train, val, test; trainval only alone)
    labelmap.txt                  optional (Datumaro/CVAT "name:r,g,b:parts:actions" lines)

Reading: one annotation per instance of SegmentationObject, its class the most frequent class
index under it in SegmentationClass, its mask a COCO RLE (Annotations.rle) and its box the
mask's bounds. An image without a SegmentationObject PNG gives one annotation per class
present (semantic masks). PNGs are palette ("P") images holding indices, as VOC ships them, or
RGB images painted with the label map's colors, as Datumaro writes them (class colors from
labelmap.txt, else the VOC colormap; instance k painted with colormap color k).

Categories: labelmap.txt line i (after comments) is class index i, else VOC's 21 classes.
"background" (index 0) and a class painted in the void color (224,224,192, Datumaro's
"ignored") are not categories. A category's id is its class index, so VOC's aeroplane is 1.

Writing: palette PNGs with the VOC colormap (index 255 = void color); class index = a
category's position + 1 (ids are not kept: CATEGORY_IDS is not supported), instance index =
1..n in annotation order. Masks come from `rle`, or from polygons rasterized with Pillow's
ImageDraw (a conversion, not a loss: the polygon's pixels are what the mask holds). Reported:
objects with neither ("loss.boxes" through the generic report), objects hidden under later ones
where masks overlap ("loss.masks.overlap": a label map holds one object per pixel), more than
254 objects in an image or 254 classes (OutputError). Images without objects get all-background
PNGs, so negatives are kept. labelmap.txt and ImageSets/Segmentation lists are written.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from ..core.annotations import Annotations
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import FormatError, OutputError, ParseError, ValidationError
from ..core.geometry import mask_to_rle, rle_bounds
from ..core.images import UNSPLIT, Images
from ..io.images import MAX_PIXELS, is_image_file
from ..io.paths import clean_relative, resolve_inside
from ..io.safe_load import text_of
from . import common
from .builder import header_sizes
from ._palette import VOID, VOID_COLOR, voc_colormap
from .base import CLASS_ORDER, MASKS, Detection, Format, ReadContext, WriteContext
from .masks import object_mask
from .writing import rows_by_image

VOC_CLASSES = ("background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car",
               "cat", "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person",
               "pottedplant", "sheep", "sofa", "train", "tvmonitor")
CLASS_DIR, OBJECT_DIR, IMAGE_DIR = "SegmentationClass", "SegmentationObject", "JPEGImages"
LISTS = Path("ImageSets") / "Segmentation"
NO_SPLIT_LIST = "default"  # CVAT's and Datumaro's list of the images of no subset
LABELMAP = "labelmap.txt"


COLORMAP = voc_colormap()


# --- detect -------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    root = _root(path)
    if root is None:
        return None
    pngs = _first_pngs(root / CLASS_DIR) or _first_pngs(root / OBJECT_DIR)
    if not pngs:
        return None
    reasons = [f"{pngs[0].parent.name}/ holds PNG masks ({pngs[0].name})"]
    confidence = 0.9
    if (root / "Annotations").is_dir():
        reasons.append("Annotations/ holds detection XML too (read it with --from voc)")
        confidence = 0.75
    if (root / LISTS).is_dir():
        reasons.append("ImageSets/Segmentation split lists")
    return Detection("voc-seg", confidence, tuple(reasons))


# --- read ---------------------------------------------------------------------------------

def read(path: Path, ctx: ReadContext) -> Dataset:
    common.refuse_images_dir(ctx, "voc-seg", "images are paired with their mask PNGs by listing "
                             "the dataset's folders (a linked folder is followed with "
                             "--follow-links)")
    root = _root(Path(path))
    if root is None:
        raise FormatError(f"{path}: no {CLASS_DIR}/ or {OBJECT_DIR}/ folder of PNG masks")
    names, colors = _read_labelmap(root / LABELMAP, ctx)
    class_pngs = _pngs(root / CLASS_DIR)
    object_pngs = _pngs(root / OBJECT_DIR)
    splits = _split_lists(root, ctx)
    stems = list(dict.fromkeys([s for s, _ in splits] + sorted(set(class_pngs) | set(object_pngs))))
    split_of = dict(splits)
    images_found = _image_files(root / IMAGE_DIR)

    categories = [(i, n) for i, n in enumerate(names)
                  if i != 0 and i != VOID and colors[i] != VOID_COLOR]
    class_ids = {i for i, _ in categories}
    color_to_class = {c: i for i, c in enumerate(colors)}
    color_to_instance = {c: i for i, c in enumerate(COLORMAP)}

    records: list[dict[str, Any]] = []
    objects: list[tuple[int, int, dict, str]] = []  # image row, class, rle, where
    for stem in stems:
        image = images_found.get(stem)
        where = str(class_pngs.get(stem) or object_pngs.get(stem) or image or
                    root / LISTS)
        try:
            for f in (class_pngs.get(stem), object_pngs.get(stem), image):
                if f is not None:
                    resolve_inside(root, os.path.relpath(f, root), where=str(f),
                                   follow_links=ctx.follow_links)
            cls = _index_png(class_pngs[stem], color_to_class, "class", ctx) \
                if stem in class_pngs else None
            obj = _index_png(object_pngs[stem], color_to_instance, "instance", ctx) \
                if stem in object_pngs else None
        except (ParseError, ValidationError) as e:
            ctx.fail(e)
            continue
        if cls is not None and obj is not None and cls.shape != obj.shape:
            ctx.fail(ValidationError(object_pngs[stem], f"mask is {obj.shape[1]}x{obj.shape[0]} "
                                     f"but {class_pngs[stem].name} is {cls.shape[1]}x{cls.shape[0]}"))
            continue
        shape = cls.shape if cls is not None else obj.shape if obj is not None else None
        row = len(records)
        records.append({"file_name": image.name if image else f"{stem}.jpg",
                        "path": str(image.absolute()) if image else None,
                        "split": split_of.get(stem, UNSPLIT), "where": where,
                        "size": (shape[1], shape[0]) if shape else None, "stem": stem})
        if obj is not None:
            for k in np.unique(obj):
                if k == 0 or k == VOID:
                    continue
                mask = obj == k
                at = f"{object_pngs[stem]}: instance {k}"
                if cls is None:
                    ctx.fail(ValidationError(at, f"no {CLASS_DIR}/{stem}.png gives its class"))
                    continue
                under = cls[mask]
                under = under[(under != 0) & (under != VOID)]
                if not under.size:
                    ctx.fail(ValidationError(at, f"its pixels are background or void in "
                                             f"{CLASS_DIR}/{stem}.png; no class"))
                    continue
                objects.append((row, int(np.bincount(under).argmax()), mask_to_rle(mask), at))
        elif cls is not None:
            for c in np.unique(cls):
                if c != 0 and c != VOID:
                    objects.append((row, int(c), mask_to_rle(cls == c),
                                    f"{class_pngs[stem]}: class {c}"))
    _fill_sizes(records, ctx)
    valid = [r["size"] is not None and r["size"][0] > 0 for r in records]

    unknown = sorted({c for _, c, _, _ in objects} - class_ids)
    for c in unknown:  # an index the label map does not name: keep it, named by its index
        ctx.report.add("warning", "voc_seg.unnamed_class", f"class index {c} is not in the "
                       "label map; named by its index", where=str(root))
    cats = Categories(Category(i, n) for i, n in sorted(
        categories + [(c, str(c)) for c in unknown]))
    new_row = np.cumsum(valid) - 1
    objects = [o for o in objects if valid[o[0]]]
    records = [r for r, v in zip(records, valid) if v]
    rle = np.empty(len(objects), object)
    rle[:] = [o[2] for o in objects]
    boxes = np.array([rle_bounds(o[2]) for o in objects], np.float64).reshape(-1, 4)
    ann = Annotations.build([new_row[o[0]] for o in objects], [o[1] for o in objects], boxes,
                            rle=rle if len(objects) else None)
    images = Images.build([r["file_name"] for r in records], [r["size"][0] for r in records],
                          [r["size"][1] for r in records], split=[r["split"] for r in records],
                          path=[r["path"] for r in records])
    ds = Dataset(images, ann, cats)
    return common.finish_read(ds, ctx, where_annotation=lambda i: objects[i][3],
                              where_image=lambda i: records[i]["where"])


def _root(path: Path) -> Path | None:
    if path.is_dir() and path.name in (CLASS_DIR, OBJECT_DIR):
        path = path.parent
    if path.is_dir() and ((path / CLASS_DIR).is_dir() or (path / OBJECT_DIR).is_dir()):
        return path
    return None


def _first_pngs(folder: Path, n: int = 3) -> list[Path]:
    try:
        names = sorted(e.name for e in os.scandir(folder) if e.name.lower().endswith(".png"))
    except OSError:
        return []
    return [folder / name for name in names[:n]]


def _pngs(folder: Path) -> dict[str, Path]:
    if not folder.is_dir():
        return {}
    return {f.relative_to(folder).with_suffix("").as_posix(): f
            for f in sorted(folder.rglob("*.png")) if f.is_file() and not f.name.startswith(".")}


def _image_files(folder: Path) -> dict[str, Path]:
    out: dict[str, Path] = {}
    if folder.is_dir():
        for f in sorted(folder.rglob("*")):
            if f.is_file() and is_image_file(f) and not f.name.startswith("."):
                out.setdefault(f.relative_to(folder).with_suffix("").as_posix(), f)
    return out


def _read_labelmap(path: Path, ctx: ReadContext) -> tuple[list[str], list[tuple[int, int, int]]]:
    """Names of the named class indices and colors of all 256; VOC's without labelmap.txt."""
    names, colors = list(VOC_CLASSES), list(COLORMAP[:len(VOC_CLASSES)])
    if path.is_file():
        try:
            lines = text_of(path, "utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            raise ParseError(path, f"cannot read label map ({e.__class__.__name__})") from None
        names, colors = [], []
        for n, line in enumerate(lines, 1):
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            name, _, rest = line.strip().partition(":")
            color_text = rest.partition(":")[0]
            color = COLORMAP[len(names)] if len(names) < 256 else None
            if color_text:
                try:
                    rgb = tuple(int(v) for v in color_text.split(","))
                    if len(rgb) != 3 or not all(0 <= v <= 255 for v in rgb):
                        raise ValueError
                    color = rgb
                except ValueError:
                    raise ParseError(f"{path}:{n}", f"expected a color 'r,g,b' (0..255), got "
                                     f"{color_text!r}") from None
            names.append(name)
            colors.append(color)
        if len(names) > 256:
            raise ParseError(path, f"{len(names)} classes; a PNG label map holds at most 256")
    named = len(names)
    names += [str(i) for i in range(len(names), 256)]
    colors += [COLORMAP[i] if COLORMAP[i] not in colors else (-1, -1, -1)
               for i in range(len(colors), 256)]
    colors[VOID] = VOID_COLOR
    return names[:named], colors


def _split_lists(root: Path, ctx: ReadContext) -> list[tuple[str, str]]:
    """(image stem, split) in list order: train, val, test, then others sorted."""
    folder = root / LISTS
    if not folder.is_dir():
        return []
    found: dict[str, Path] = {f.stem: f for f in sorted(folder.glob("*.txt"))}
    if "train" in found or "val" in found:
        found.pop("trainval", None)
    order = [s for s in ("train", "val", "test") if s in found]
    order += sorted(s for s in found if s not in order)
    out: list[tuple[str, str]] = []
    seen: set[str] = set()
    for split in order:
        f = found[split]
        try:
            lines = text_of(f, "utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            ctx.fail(ParseError(f, f"cannot read split list ({e.__class__.__name__})"))
            continue
        for n, line in enumerate(lines, 1):
            stem = line.strip()
            if not stem or stem.startswith("#"):
                continue
            try:
                stem = clean_relative(stem.split()[0], where=f"{f}:{n}")
            except Exception as e:  # noqa: BLE001 - UnsafeInputError, through ctx.fail
                ctx.fail(e)  # type: ignore[arg-type]
                continue
            if stem not in seen:
                seen.add(stem)
                out.append((stem, UNSPLIT if split == NO_SPLIT_LIST else split))
    return out


def _index_png(path: Path, color_to_index: dict, what: str, ctx: ReadContext) -> np.ndarray:
    """(H, W) uint8 indices from a palette/grayscale PNG, or an RGB one through its colors."""
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise ValidationError(path, f"mask has more than {MAX_PIXELS} pixels; refused")
            mode = im.mode
            arr = np.array(im.convert("RGB") if mode in ("RGBA", "LA") else im)
    except (OSError, ValueError) as e:
        raise ParseError(path, f"cannot read PNG mask ({e.__class__.__name__})") from None
    if mode in ("P", "L"):
        return arr.astype(np.uint8)
    if mode in ("I", "I;16"):
        if arr.max(initial=0) > 255:
            raise ParseError(path, f"{what} index {int(arr.max())} > 255 in a 16-bit PNG")
        return arr.astype(np.uint8)
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ParseError(path, f"unsupported PNG mode {mode}; expected palette, grayscale or RGB")
    codes = (arr[..., 0].astype(np.int64) << 16) | (arr[..., 1].astype(np.int64) << 8) | arr[..., 2]
    lut = {(r << 16) | (g << 8) | b: i for (r, g, b), i in color_to_index.items() if r >= 0}
    uniq, inverse = np.unique(codes, return_inverse=True)
    mapped = np.empty(len(uniq), np.int64)
    for j, code in enumerate(uniq.tolist()):
        if code not in lut:
            ys, xs = np.nonzero(codes == code)
            raise ParseError(path, f"color ({code >> 16},{(code >> 8) & 255},{code & 255}) at "
                             f"pixel ({xs[0]}, {ys[0]}) is not a {what} color of the label map")
        mapped[j] = lut[code]
    return mapped[inverse].reshape(codes.shape).astype(np.uint8)


def _fill_sizes(records: list[dict], ctx: ReadContext) -> None:
    """Images listed without masks get their size from the image file."""
    need = [r for r in records if r["size"] is None]
    sizes = header_sizes(ctx, [r["path"] for r in need], [r["where"] for r in need],
                         lambda i: ValidationError(need[i]["where"], f"image {need[i]['stem']!r} "
                                                   "is listed but has no mask PNG and no image "
                                                   f"in {IMAGE_DIR}/"))
    for r, (w, h) in zip(need, sizes):
        r["size"] = (int(w), int(h)) if w > 0 else None


# --- write --------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs = ds.images
    if len(ds.categories) > 254:
        raise OutputError(f"{len(ds.categories)} classes; a VOC class PNG holds at most 254 "
                          "(indices 1..254)")
    common.refuse_names(ds.categories.names, "class name", LABELMAP, padded=True, chars=":")
    for c in ds.categories:
        if c.name.startswith("#"):
            raise OutputError(f"category {c.id} name {c.name!r} cannot be written to "
                              f"{LABELMAP} (a leading '#' makes a comment); rename it")
    class_index = {c.id: i + 1 for i, c in enumerate(ds.categories)}
    stems = _stems(imgs, out_dir)
    ann = ds.annotations[~ds.annotations.is_label]
    has_rle, has_poly = ann.has_rle(), ann.has_polygon()
    rows_of = rows_by_image(ann, len(imgs))
    palette = [v for rgb in COLORMAP for v in rgb]
    hidden = written = 0
    with ctx.progress("Writing VOC masks", len(imgs)) as advance:
        for i in range(len(imgs)):
            w, h = int(imgs.width[i]), int(imgs.height[i])
            cls = np.zeros((h, w), np.uint8)
            obj = np.zeros((h, w), np.uint8)
            drawn: list[tuple[int, int]] = []  # (instance, pixels)
            for r in rows_of[i]:
                mask = object_mask(ann, int(r), w, h, has_rle[r], has_poly[r], imgs.file_name[i])
                if mask is None:
                    continue  # a bare box: reported by the generic loss report
                k = len(drawn) + 1
                if k > 254:
                    raise OutputError(f"image {imgs.file_name[i]!r} has more than 254 objects; "
                                      "a VOC instance PNG holds at most 254")
                cls[mask] = class_index[int(ann.category_id[r])]
                obj[mask] = k
                drawn.append((k, int(mask.sum())))
            hidden += sum(1 for k, n in drawn if n and int((obj == k).sum()) < n)
            written += sum(1 for k, _ in drawn if (obj == k).any())
            for folder, arr in ((CLASS_DIR, cls), (OBJECT_DIR, obj)):
                png = out_dir / folder / f"{stems[i]}.png"
                png.parent.mkdir(parents=True, exist_ok=True)
                im = Image.fromarray(arr, mode="P")
                im.putpalette(palette)
                im.save(png, format="PNG")
            advance(1)
    ctx.written_annotations = written  # objects with a pixel left: what a read gives back
    ctx.loss("masks.overlap", hidden, "objects whose mask is partly or wholly covered by a "
             "later object (a VOC label map holds one object per pixel)")

    lists: dict[str, list[str]] = {}
    for i, split in enumerate(imgs.split):
        lists.setdefault(str(split) or NO_SPLIT_LIST, []).append(stems[i])
    ctx.loss("splits.default", int((imgs.split == NO_SPLIT_LIST).sum()), "images of a split "
             f"named {NO_SPLIT_LIST!r} (CVAT's and Datumaro's list of images without a split; "
             "read back without one)")
    for split, entries in lists.items():
        f = out_dir / LISTS / f"{split}.txt"
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("".join(f"{e}\n" for e in entries), encoding="utf-8")
    lines = ["# label:color_rgb:parts:actions\n", "background:0,0,0::\n"]
    lines += [f"{c.name}:{','.join(map(str, COLORMAP[i + 1]))}::\n"
              for i, c in enumerate(ds.categories)]
    (out_dir / LABELMAP).write_text("".join(lines), encoding="utf-8")
    common.write_images(ds, lambda i: out_dir / IMAGE_DIR / _image_name(imgs.file_name[i]), ctx)


def _stems(imgs: Images, out_dir: Path) -> list[str]:
    stems: list[str] = []
    seen: dict[str, int] = {}
    for i, (name, split) in enumerate(zip(imgs.file_name, imgs.split)):
        clean = clean_relative(str(name), where=f"image {name!r}")
        stem = str(PurePosixPath(clean).with_suffix(""))
        common.refuse_names((stem,), "image name", "a VOC split list (whitespace-separated)",
                            whitespace=True)
        if split != UNSPLIT and (not all(ch.isalnum() or ch in "_.-" for ch in split)
                                 or split.startswith(".")):
            raise OutputError(f"{out_dir}: split name {split!r} cannot be a list file name "
                              "(ImageSets/Segmentation/<split>.txt); rename the split")
        j = seen.setdefault(stem, i)
        if j != i:
            raise OutputError(f"{out_dir}: images {imgs.file_name[j]!r} and {name!r} would both "
                              f"be written as {CLASS_DIR}/{stem}.png; VOC holds one mask per "
                              "image name, rename one")
        stems.append(stem)
    return stems


def _image_name(name: str) -> str:
    return clean_relative(str(name), where=f"image {name!r}")


FORMAT = Format(
    name="voc-seg",
    description="Pascal VOC segmentation PNG masks (SegmentationClass/ + SegmentationObject/), "
                "read as one RLE mask per object",
    supports=frozenset({MASKS, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("voc-segmentation", "voc_segmentation"),
)
