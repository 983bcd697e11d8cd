"""LabelMe JSON (wkentaro/labelme): one JSON file per image.

    {"version": "5.2.1", "flags": {}, "shapes": [{"label": "dog", "points": [[x, y], ...],
     "group_id": null, "description": "", "shape_type": "polygon", "flags": {}}],
     "imagePath": "dog.jpg", "imageData": null, "imageHeight": 480, "imageWidth": 640}

Layouts read: a folder of .json files (searched recursively) with the images beside them or
where `imagePath` points (relative to the JSON file, inside the folder the user named), or one
.json file. Roboflow-style split folders (train/, valid/, test/) give the split. JSON files
that are not LabelMe files (no "shapes") are skipped with a warning. Written: one JSON beside
each image, `<split>/<file_name>` and `<split>/<stem>.json` (no split folder when unsplit),
imageData null (the image file is written instead).

Shapes -> canonical model (pixel coordinates are continuous, as LabelMe draws them):
- rectangle (two opposite corners) -> box;
- polygon -> polygon, box = its bounds;
- circle (centre, a point on the circle) -> box = centre +- radius and a 32-vertex polygon
  approximation; the two points are kept in attrs "labelme.points" so LabelMe output writes
  the circle again;
- line, linestrip -> polyline (an open path; box = its bounds, 1 pixel wide along an axis
  where it has no extent), the kind in "labelme.shape_type"; formats without polylines keep
  the box (loss "polylines"). The writer writes any polyline as a linestrip ("line" where
  the kind says so and it has 2 points);
- point -> box of the vertex (1 pixel square), the vertex in "labelme.points": other
  formats get the box (a warning "labelme.vertices" says how many);
- mask (LabelMe 5: two corners and a base64 PNG of that crop) -> COCO RLE over the image;
- anything else -> skipped with a warning.
Per shape, "group_id", "description", "flags" and unknown keys go to attrs "labelme.<key>"
(empty values are not stored); an "attributes" object (X-AnyLabeling's, kept by LabelMe as
extra shape data) gives plain attrs by name, and the writer puts plain attrs there; "shape_type" is kept as "labelme.shape_type" for the kinds a
box or polygon cannot say (circle, point, line, linestrip). Per image, "flags" and unknown
top-level keys go to image attrs "labelme.<key>".

imageData: when the image file is absent, the embedded bytes are kept in the image attr
`common.IMAGE_BYTES`, and writers place them as the image file. The size comes from
imageWidth/imageHeight, else from the image header.

Objects: shapes of one image with the same label and group_id (not null) are one object, as
labelme2coco makes them: polygons, rectangles and circles become the rings of one polygon
(box = their union; info "labelme.group_id"). Shapes labelled "__ignore__" (labelme's regions
to leave out) are not objects (info "labelme.ignore").

Classes: from `labels.txt` beside the JSON files when present (labelme's `--labels` file: one
name per line; "__ignore__" is never a class, "_background_" only when shapes carry it), then
names it lacks sorted; without it sorted by name. Ids 1..N. The writer writes labels.txt in
class order after labelme's "__ignore__" and "_background_" lines (so labelme2coco and
labelme2voc take it), so classes without shapes and the class order survive; it gives the
parts of a several-ring object one group_id, so they are read back as one object.
"""

from __future__ import annotations

import base64
import binascii
import io
import math
import os
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from ..core.dataset import Dataset
from ..core.errors import (Error, FormatError, OutputError, ParseError, UnsafeInputError,
                           ValidationError)
from ..core.geometry import mask_to_rle, points_bounds
from ..core.images import UNSPLIT
from ..io.images import MAX_PIXELS, embedded_size
from ..io.paths import clean_relative
from ..io.safe_load import text_of
from . import _jsonfmt as jf
from . import common
from .builder import DatasetBuilder
from .base import (ATTRIBUTES, BOXES, CLASS_ORDER, MASKS, POLYGONS, POLYLINES, Detection,
                   Format, ReadContext, WriteContext)
from ._labelme_shapes import _POINT_COUNTS, _TOP_KEYS, _VERTEX_TYPES, _image_doc
from .writing import rows_by_image


LABELS_FILE = "labels.txt"
IGNORE, BACKGROUND = "__ignore__", "_background_"
_LINES = ("line", "linestrip")  # read as polylines
_SPECIAL_LABELS = (IGNORE, BACKGROUND)
# labelme.shape_type of the shapes a group_id joins (None: a polygon or a rectangle)
_JOINABLE = (None, "circle")
CIRCLE_VERTICES = 32


# --- detect ---------------------------------------------------------------------------------

_KEYS = (b'"shapes"', b'"imagePath"')
_SCAN_LIMIT = 256 << 20  # bytes read past an embedded imageData to find the other keys


def detect(path: Path) -> Detection | None:
    """A .json object with "shapes" and "imagePath" (LabelMe's own keys); never an XML file.
    Files that embed imageData before "shapes" (older labelme, other writers) are read on
    until the keys show up: base64 holds no '"', so the keys cannot be matched inside it."""
    files = [path] if path.is_file() else _json_files(path, limit=5)
    for f in files:
        if f.suffix.lower() != ".json":
            continue
        h = jf.head(f)
        if h.removeprefix(b"\xef\xbb\xbf").lstrip()[:1] != b"{":
            continue
        if all(k in h for k in _KEYS):
            return Detection("labelme", 0.9, (
                f"{f.name}: JSON object with LabelMe's \"shapes\" and \"imagePath\" keys",))
        if b'"imageData"' in h and _keys_further(f):
            return Detection("labelme", 0.9, (
                f"{f.name}: JSON object with LabelMe's \"imageData\", then \"shapes\" and "
                "\"imagePath\" keys",))
    return None


def _keys_further(f: Path) -> bool:
    """Whether both LabelMe keys occur in f (read in 1 MiB chunks, up to _SCAN_LIMIT)."""
    found: set[bytes] = set()
    tail = b""
    try:
        with open(f, "rb") as fh:
            while len(found) < len(_KEYS) and fh.tell() < _SCAN_LIMIT:
                chunk = fh.read(1 << 20)
                if not chunk:
                    break
                window = tail + chunk
                found.update(k for k in _KEYS if k in window)
                tail = window[-16:]
    except OSError:
        return False
    return len(found) == len(_KEYS)


def _json_files(folder: Path, limit: int | None = None) -> list[Path]:
    """.json files under folder, sorted by relative path (hidden ones skipped)."""
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.lower().endswith(".json") and not name.startswith("."):
                found.append(Path(dirpath) / name)
                if limit is not None and len(found) >= limit:
                    return found
    return sorted(found, key=lambda p: p.relative_to(folder).as_posix())


# --- read -----------------------------------------------------------------------------------

@dataclass
class _Shape:
    label: str
    box: np.ndarray
    rings: list[np.ndarray]
    rle: dict | None
    attrs: dict[str, Any]
    where: str
    paths: list[np.ndarray] | None = None  # a line or linestrip


@dataclass
class _File:
    """What one JSON file gave: its image's handle in the builder and its shapes (kept only
    until they are joined and handed to the builder)."""
    img: int
    shapes: list[_Shape]


def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    if path.is_file():
        if path.suffix.lower() != ".json":
            raise FormatError(f"{path}: not a LabelMe .json file; name the folder of LabelMe "
                              "files or one .json file")
        root, files = path.parent, [path]
    else:
        root, files = path, _json_files(path)
    b = DatasetBuilder(ctx, format="labelme")
    read_files: list[_File] = []
    skipped: list[str] = []
    vertices = 0
    with ctx.progress("Reading LabelMe", len(files)) as advance:
        for f in files:
            try:
                rec = _read_file(f, root, b)
            except Error as e:
                ctx.fail(e)
                rec = None
            advance(1)
            if rec is None:
                continue
            if rec == "skip":
                skipped.append(f.relative_to(root).as_posix())
                continue
            read_files.append(rec)
            vertices += sum(s.attrs.get("labelme.shape_type") == "point" for s in rec.shapes)
    if not read_files and not ctx.skip_errors:
        raise FormatError(f"{path}: no LabelMe JSON files (objects with \"shapes\" and "
                          "\"imagePath\") found")
    if skipped:
        ctx.report.add("warning", "labelme.skipped", "JSON files that are not LabelMe files "
                       f"were skipped: {', '.join(skipped[:5])}{' ...' if len(skipped) > 5 else ''}",
                       count=len(skipped))
    if vertices:
        ctx.report.add("warning", "labelme.vertices", "point shapes are held as their "
                       "bounding box; their vertices are kept for LabelMe output only (attr "
                       "'labelme.points')", count=vertices)
    b.fill_sizes(no_size="no imageWidth/imageHeight, no imageData and image file "
                 "{file_name!r} not found; the size cannot be known", embedded="imageData")
    return _build(b, [r for r in read_files if b.size(r.img) is not None],
                  _read_labels(root / LABELS_FILE, ctx))


def _read_labels(path: Path, ctx: ReadContext) -> list[str]:
    if not path.is_file():
        return []
    try:
        lines = text_of(path, "utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        ctx.fail(ParseError(path, f"cannot read the class list ({e.__class__.__name__})"))
        return []
    names = [s.strip() for s in lines if s.strip() and s.strip() != IGNORE]
    return list(dict.fromkeys(names))


def _read_file(f: Path, root: Path, b: DatasetBuilder) -> _File | str | None:
    ctx = b.ctx
    doc = jf.load(f)
    if not isinstance(doc, dict) or not isinstance(doc.get("shapes"), list):
        return "skip"
    rel_dir = f.parent.relative_to(root).as_posix()
    parts = [] if rel_dir == "." else rel_dir.split("/")
    split = UNSPLIT
    base_parts = parts
    if parts and jf.split_of_dir(parts[0]):
        split, base_parts = jf.split_of_dir(parts[0]), parts[1:]
    where = str(f)
    image_path = doc.get("imagePath")
    if image_path is None or (isinstance(image_path, str) and not image_path.strip()):
        image_path = f.stem + ".jpg" if not doc.get("imageData") else f.stem + ".png"
    if not isinstance(image_path, str):
        raise ParseError(where, f"imagePath must be a string, got {image_path!r}")
    # The image name relative to the split folder: imagePath is relative to the JSON file.
    joined = os.path.normpath("/".join([*base_parts, image_path.replace("\\", "/")]))
    joined = joined.replace("\\", "/")
    if joined.startswith("../") or joined == ".." or os.path.isabs(image_path):
        raise UnsafeInputError(where, f"imagePath {image_path!r} points outside the dataset "
                               f"folder {root}; name a folder that holds both the JSON files "
                               "and the images")
    file_name = clean_relative(joined, where=where)
    split_root = root / parts[0] if split != UNSPLIT else root
    image = common.find_image(ctx, split_root, (file_name,), where=where)
    data = None
    if image is None and doc.get("imageData"):
        try:
            data = base64.b64decode(doc["imageData"], validate=True)
        except (binascii.Error, ValueError, TypeError):
            raise ParseError(where, "imageData is not valid base64") from None
    width, height = doc.get("imageWidth"), doc.get("imageHeight")
    for key, value in (("imageWidth", width), ("imageHeight", height)):
        if value is not None and (not isinstance(value, int) or isinstance(value, bool)
                                  or value <= 0):
            raise ParseError(where, f"{key} must be a positive integer, got {value!r}")
    if width and height and width * height > MAX_PIXELS:
        raise UnsafeInputError(where, f"imageWidth x imageHeight {width}x{height} is more than "
                               f"{MAX_PIXELS} pixels; refused as a possible decompression bomb")
    attrs: dict[str, Any] = {}
    for key, value in doc.items():
        if key == "flags":
            if value:
                attrs["labelme.flags"] = value
        elif key == "version":
            attrs["labelme.version"] = value
        elif key not in _TOP_KEYS:
            attrs[f"labelme.{key}"] = value
    attrs[common.IMAGE_BYTES] = data
    size = (width or 0, height or 0)
    rec = _File(b.image(file_name, split, image, size if width and height else None,
                        where=where, **attrs), [])
    for k, shape in enumerate(doc["shapes"]):
        try:
            parsed = _parse_shape(shape, f"{where}: shapes[{k}]", size, ctx)
        except Error as e:
            ctx.fail(e)
            continue
        if parsed is not None:
            rec.shapes.append(parsed)
    return rec


def _parse_shape(shape: Any, where: str, size: tuple[int, int], ctx: ReadContext
                 ) -> _Shape | None:
    if not isinstance(shape, dict):
        raise ParseError(where, f"expected an object, got {type(shape).__name__}")
    label = shape.get("label")
    if not isinstance(label, str):
        raise ParseError(where, f"label must be a string, got {label!r}")
    where = f"{where} ({label!r})"
    kind = shape.get("shape_type") or "polygon"
    if kind not in _POINT_COUNTS:
        ctx.report.add("warning", "labelme.shape_type", f"shape_type {kind!r} is not known; "
                       "shape skipped", where=where)
        return None
    pts = shape.get("points")
    lo, hi = _POINT_COUNTS[kind]
    if (not isinstance(pts, list) or not all(
            isinstance(p, list) and len(p) == 2 and all(jf.is_number(v) for v in p)
            for p in pts)):
        raise ParseError(where, "points must be a list of [x, y] numbers")
    if len(pts) < lo or (hi is not None and len(pts) > hi):
        want = f"{lo}" if lo == hi else f"at least {lo}"
        raise ParseError(where, f"a {kind} needs {want} points, got {len(pts)}")
    xy = np.asarray(pts, np.float64).reshape(-1, 2)
    attrs: dict[str, Any] = {}
    for key, value in shape.items():
        if key in ("label", "points", "shape_type", "mask"):
            continue
        if key == "attributes" and isinstance(value, dict):
            attrs.update({str(k): v for k, v in value.items()})
            continue
        if value in (None, "", {}) and key in ("group_id", "description", "flags"):
            continue
        attrs[f"labelme.{key}"] = value
    rings: list[np.ndarray] = []
    rle = None
    if kind == "rectangle":
        box = points_bounds(xy)
    elif kind == "polygon":
        box, rings = points_bounds(xy), [xy]
    elif kind == "circle":
        (cx, cy), edge = xy[0], xy[1]
        r = float(math.hypot(edge[0] - cx, edge[1] - cy))
        if r <= 0:
            raise ParseError(where, "circle has zero radius")
        box = np.array([cx - r, cy - r, cx + r, cy + r])
        t = np.arange(CIRCLE_VERTICES) * (2 * math.pi / CIRCLE_VERTICES)
        rings = [np.stack([cx + r * np.cos(t), cy + r * np.sin(t)], axis=1)]
    elif kind == "mask":
        rle, box = _mask_rle(shape.get("mask"), xy, size, where)
    else:  # point, line, linestrip: the vertices' box, 1 pixel wide where flat
        box = jf.pad_degenerate(points_bounds(xy))[0]
    if kind in _VERTEX_TYPES:
        attrs["labelme.shape_type"] = kind
        if kind not in _LINES:
            attrs["labelme.points"] = [[float(x), float(y)] for x, y in xy]
    return _Shape(label, np.asarray(box, np.float64), rings, rle, attrs, where,
                  [xy] if kind in _LINES else None)


def _mask_rle(mask_b64: Any, xy: np.ndarray, size: tuple[int, int], where: str
              ) -> tuple[dict, np.ndarray]:
    width, height = size
    if not isinstance(mask_b64, str) or not mask_b64:
        raise ParseError(where, "a mask shape needs 'mask' (a base64 PNG)")
    if width <= 0 or height <= 0:
        raise ParseError(where, "a mask shape needs imageWidth and imageHeight")
    try:
        png = base64.b64decode(mask_b64, validate=True)
    except (binascii.Error, ValueError):
        raise ParseError(where, "mask is not a base64-encoded image") from None
    try:
        mw, mh = embedded_size(png, where)
    except ValidationError:
        raise ParseError(where, "mask is not a base64-encoded image") from None
    if mw * mh > width * height:  # refused before decoding its pixels
        raise ParseError(where, f"mask of {mw}x{mh} does not fit the "
                         f"{width}x{height} image")
    try:
        with Image.open(io.BytesIO(png)) as im:
            crop = np.asarray(im.convert("L")) > 0
    except (ValueError, OSError, SyntaxError):
        raise ParseError(where, "mask is not a base64-encoded image") from None
    x1, y1 = (round(v) for v in xy.min(axis=0))
    h, w = crop.shape
    full = np.zeros((height, width), bool)
    if x1 < 0 or y1 < 0 or x1 + w > width or y1 + h > height:
        raise ParseError(where, f"mask of {w}x{h} at ({x1}, {y1}) does not fit the "
                         f"{width}x{height} image")
    full[y1:y1 + h, x1:x1 + w] = crop
    ys, xs = np.nonzero(full)
    if not len(xs):
        raise ParseError(where, "mask is empty")
    box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
    return mask_to_rle(full), box


def _build(b: DatasetBuilder, records: list[_File], labels: list[str]) -> Dataset:
    """Shapes of the images whose size is known into the builder (ignored ones left out,
    groups joined), the class list declared, the dataset built in (split, name) order."""
    ctx = b.ctx
    ignored = joined = 0
    for r in records:
        kept = [s for s in r.shapes if s.label != IGNORE]
        ignored += len(r.shapes) - len(kept)
        r.shapes = _join_groups(kept)
        joined += len(kept) - len(r.shapes)
    if ignored:
        ctx.report.add("info", "labelme.ignore", f"shapes labelled {IGNORE!r} (labelme's "
                       "regions to leave out) are not objects", count=ignored)
    if joined:
        ctx.report.add("info", "labelme.group_id", "shapes sharing a label and group_id were "
                       "joined into one object each (several rings), as labelme2coco does",
                       count=joined)
    found = [s.label for r in records for s in r.shapes]
    if BACKGROUND in labels and BACKGROUND not in found:
        labels = [n for n in labels if n != BACKGROUND]
    for name in labels:
        b.category(name)
    for r in records:
        for s in r.shapes:
            b.object(r.img, s.label, s.box, rings=s.rings, rle=s.rle, paths=s.paths,
                     attrs=s.attrs, where=s.where)
    return b.build(sort_images=True, undeclared_message=None)


def _join_groups(shapes: list[_Shape]) -> list[_Shape]:
    """One shape per (label, group_id) for polygons, rectangles and circles, in first-seen
    order, their rings together (a rectangle joins as its four corners). Masks, points and
    lines, and shapes without a group_id stay apart."""
    out: list[_Shape] = []
    groups: dict[tuple[str, str], _Shape] = {}
    for s in shapes:
        gid = s.attrs.get("labelme.group_id")
        if gid is None or s.rle is not None or \
                s.attrs.get("labelme.shape_type") not in _JOINABLE:
            out.append(s)
            continue
        first = groups.setdefault((s.label, repr(gid)), s)
        if first is s:
            out.append(s)
            continue
        if first.attrs.get("labelme.shape_type") == "circle":  # several rings: not a circle
            del first.attrs["labelme.shape_type"]
            first.attrs.pop("labelme.points", None)
        first.rings = (first.rings or [_corners(first.box)]) + (s.rings or [_corners(s.box)])
        first.box = np.concatenate([np.minimum(first.box[:2], s.box[:2]),
                                    np.maximum(first.box[2:], s.box[2:])])
    return out


def _corners(box: np.ndarray) -> np.ndarray:
    x1, y1, x2, y2 = (float(v) for v in box)
    return np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]], np.float64)


# --- write ----------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs, ann = ds.images, ds.annotations
    names = {c.id: c.name for c in ds.categories}
    dests = _destinations(ds, out_dir)
    objects = ann[~ann.is_label]
    rows_of = rows_by_image(objects, len(imgs))
    if any(c.name == IGNORE for c in ds.categories):
        raise OutputError(f"class name {IGNORE!r} is LabelMe's mark for regions to leave out; "
                          "its shapes would not be read back as objects: rename it")
    ring_counts = objects.polygons.counts() if objects.polygons is not None else \
        np.zeros(len(objects), np.int64)  # once: _group_ids looks at each image's rows
    backgrounds = {c.id for c in ds.categories if c.name == BACKGROUND}
    ctx.loss("background_class", int(bool(backgrounds) and not np.isin(
        objects.category_id, list(backgrounds)).any()), f"the class {BACKGROUND!r} without "
        "shapes (labels.txt lists it as labelme's background entry, read back as no class)")
    with ctx.progress("Writing LabelMe", len(imgs)) as advance:
        for i in range(len(imgs)):
            image_rel, json_rel = dests[i]
            rows = rows_of[i]
            doc = _image_doc(ds, i, image_rel, objects, rows, names, ring_counts)
            target = out_dir / json_rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(jf.dump(doc))
            advance(1)
    (out_dir / LABELS_FILE).write_text(_labels_text(ds), encoding="utf-8")
    common.write_images(ds, lambda i: out_dir / dests[i][0], ctx)


def _labels_text(ds: Dataset) -> str:
    """labelme's --labels file: "__ignore__", "_background_", then the classes in order."""
    names = list(dict.fromkeys(c.name for c in ds.categories))
    common.refuse_names(names, "class name", f"{LABELS_FILE} (one name a line)", padded=True)
    return "".join(f"{n}\n" for n in (*_SPECIAL_LABELS,
                                        *(n for n in names if n not in _SPECIAL_LABELS)))


def _destinations(ds: Dataset, out_dir: Path) -> list[tuple[str, str]]:
    """(image path, JSON path) relative to out_dir for every image row."""
    out: list[tuple[str, str]] = []
    seen: dict[str, int] = {}
    imgs = ds.images
    for i, (name, split) in enumerate(zip(imgs.file_name, imgs.split)):
        clean = clean_relative(str(name), where=f"image {name!r}")
        folder = jf.split_dir_name(split)
        if folder and (not folder.replace("-", "").replace("_", "").isalnum()):
            raise OutputError(f"{out_dir}: split name {split!r} cannot be a folder name; "
                              "rename the split")
        image_rel = f"{folder}/{clean}" if folder else clean
        json_rel = str(PurePosixPath(image_rel).with_suffix(".json"))
        if json_rel in seen:
            raise OutputError(f"{out_dir}: images {imgs.file_name[seen[json_rel]]!r} and "
                              f"{name!r} would both be annotated by {json_rel}; rename one")
        seen[json_rel] = i
        out.append((image_rel, json_rel))
    return out


FORMAT = Format(
    name="labelme",
    description="LabelMe JSON, one file per image (rectangles, polygons, circles, points, "
                "lines, masks, embedded imageData)",
    supports=frozenset({BOXES, POLYGONS, POLYLINES, MASKS, ATTRIBUTES, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("labelme-json",),
    attributes=None,
)
