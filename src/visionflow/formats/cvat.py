"""CVAT for images XML 1.1: one XML file (<annotations>) for a task or a project.

    <annotations><version>1.1</version><meta><task|project>...<labels><label><name>cat</name>
      <attributes><attribute><name>color</name><input_type>select</input_type>...</attribute>
      </attributes></label></labels></task|project></meta>
      <image id="0" name="a.jpg" width="640" height="480" subset="Train">
        <box label="cat" occluded="0" xtl="1" ytl="2" xbr="30" ybr="40" z_order="0">
          <attribute name="color">black</attribute></box>
        <polygon label="cat" points="x,y;x,y;..."/> <polyline .../> <points .../>
        <mask label="cat" rle="0, 5, 3, ..." left="1" top="2" width="10" height="8"/>
        <ellipse label="cat" cx cy rx ry/> <tag label="indoor"/>
      </image></annotations>

Layouts read: the XML file named by the user, or every <annotations> .xml file in the folder
(CVAT's annotations.xml; Datumaro's <subset>.xml). Images are looked up in
images/<subset>/<name>, images/<name> and beside the XML. The split is the image's `subset`
attribute, else the XML file's stem (train.xml -> "train"; annotations.xml and default.xml
are unsplit). Written: annotations.xml and the images under images/<split>/ (images/ when unsplit); with
splits as CVAT's project export (<meta><project> with one <task><subset> per split and
`subset` on each image), else as a task export.

Mapping (pixel coordinates are continuous in CVAT and here, so values pass unchanged):
- box -> box; `rotation` != 0 -> oriented box (corners turned clockwise about the centre,
  as CVAT draws them) with the box as its bounds;
- polygon -> polygon (box = bounds); mask (CVAT's row-major run lengths inside
  left/top/width/height) -> COCO RLE over the image; ellipse -> box and a 32-vertex polygon,
  its centre and radii kept in "cvat.ellipse" so CVAT output writes an ellipse again;
- polyline -> polyline (an open path; box = its bounds, 1 pixel wide along an axis where it
  has no extent); formats without polylines keep the box (loss "polylines");
- points -> box of the vertices (padded the same way) with the vertices in "cvat.points" and
  the kind in "cvat.shape": CVAT points carry neither keypoint names nor per-point
  visibility, so they are not COCO keypoints. Other formats get the box; the reader says how
  many (warning "cvat.vertices");
- tag -> image-level label (NaN box);
- occluded -> attr "occluded" (0/1); z_order, source, group_id, rotation of a shape ->
  "cvat.z_order", "cvat.source", "cvat.group_id"; <attribute name="n">v</attribute> -> attr "n"
  (ints, floats' repr and true/false come back typed, other text stays a string);
- tracks (CVAT for video), cuboids and skeletons are not read (warning "cvat.skipped").
Classes: the <labels> of <meta> in order (CLASS_ORDER), then undeclared names sorted (when
<labels> declares any: warning "cvat.undeclared" naming the first shape, an error when reading
strictly). The
label attribute specs are kept in meta "cvat.labels" and written back; for other datasets
the writer declares each attribute a label's annotations use as a text attribute.

Security: the one refusing XML parser, io/xml.py (no entities, no DTD, no network).
"""

from __future__ import annotations

import math
import os
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from lxml import etree

from ..core.dataset import Dataset
from ..core.errors import Error, FormatError, OutputError, ParseError, UnsafeInputError
from ..core.geometry import mask_to_rle, points_bounds
from ..core.images import UNSPLIT, canonical_split
from ..io.images import MAX_PIXELS
from ..io.paths import clean_relative
from ..io.xml import load as load_xml
from ..io.xml import root_tag
from . import _jsonfmt as jf
from . import common
from ._voc_parse import typed as _typed
from .base import (ATTRIBUTES, BOXES, CLASS_ORDER, IMAGE_IDS, LABELS, MASKS, POLYGONS, POLYLINES,
                   Detection, Format, ReadContext, WriteContext)
from .builder import DatasetBuilder
from ._cvat_xml import _IMAGE_XML_ATTRS, _SHAPE_XML_ATTRS, _meta, _shape_elements, _sub
from .writing import rows_by_image


OUTPUT_FILE = "annotations.xml"
ELLIPSE_VERTICES = 32
_UNSPLIT_STEMS = ("annotations", "default")
_SHAPES = ("box", "polygon", "polyline", "points", "mask", "ellipse", "tag")
_SKIPPED = ("track", "cuboid", "skeleton")


# --- detect ---------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    """An .xml file whose root is <annotations> (VOC's is <annotation>, singular)."""
    for f in _candidate_files(path, limit=3):
        h = common.head(f)
        if root_tag(h) == "annotations":
            strong = b"<version>" in h or b"<image " in h or b"<meta>" in h
            reason = f"{f.name}: XML with an <annotations> root" + (
                " and CVAT's <version>/<meta>/<image>" if strong else "")
            return Detection("cvat", 0.9 if strong else 0.6, (reason,))
    return None


def _candidate_files(path: Path, limit: int | None = None) -> list[Path]:
    if path.is_file():
        return [path] if path.suffix.lower() == ".xml" else []
    try:
        names = sorted(e.name for e in os.scandir(path)
                       if e.name.lower().endswith(".xml") and not e.name.startswith(".")
                       and e.is_file())
    except OSError:
        return []
    return [path / n for n in names[:limit]]


# --- read -----------------------------------------------------------------------------------

def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    files = _candidate_files(path)
    if path.is_file() and not files:
        raise FormatError(f"{path}: not a CVAT .xml file; name the folder or annotations.xml")
    root_dir = path.parent if path.is_file() else path
    b = DatasetBuilder(ctx, format="cvat")
    labels: dict[str, list] = {}
    skipped: Counter = Counter()
    found_any = False
    for f in files:
        if not path.is_file() and root_tag(common.head(f)) != "annotations":
            continue
        found_any = True
        try:
            doc = load_xml(f)
        except (ParseError, UnsafeInputError) as e:
            ctx.fail(e)
            continue
        if doc.tag != "annotations":
            hint = " (Pascal VOC? use --from voc)" if doc.tag == "annotation" else ""
            ctx.fail(ParseError(f"{f}:{doc.sourceline}",
                                f"root element is <{doc.tag}>, expected <annotations>{hint}"))
            continue
        for name, spec in _read_labels(doc).items():
            labels.setdefault(name, spec)
        _read_images(doc, f, root_dir, b, skipped)
    if not found_any:
        raise FormatError(f"{path}: no CVAT XML file (<annotations> root) found")
    points = skipped.pop("points", 0)  # read, as boxes: counted for the warning below
    for what, n in sorted(skipped.items()):
        ctx.report.add("warning", "cvat.skipped", f"<{what}> elements are not read", count=n)
    if points:
        ctx.report.add("warning", "cvat.vertices", "points are held as their bounding box; "
                       "their vertices are kept for CVAT output only (attr 'cvat.points')",
                       count=points)
    for name in labels:
        b.category(name)
    return b.build(meta={"cvat.labels": labels} if any(labels.values()) else {},
                   undeclared_message="labels not declared in <meta> <labels> were added as "
                   "classes: {names}")


def _read_labels(doc: etree._Element) -> dict[str, list]:
    """Label name -> its attribute specs [[(tag, text), ...], ...] from <meta>, in order."""
    out: dict[str, list] = {}
    meta = doc.find("meta")
    if meta is None:
        return out
    for label in meta.iterfind(".//labels/label"):
        name = label.findtext("name")
        if name is None or name in out:
            continue
        specs = []
        for attribute in label.iterfind("attributes/attribute"):
            specs.append([(c.tag, c.text or "") for c in attribute if isinstance(c.tag, str)])
        out[name] = specs
    return out


def _read_images(doc: etree._Element, f: Path, root_dir: Path, b: DatasetBuilder,
                 skipped: Counter) -> None:
    """Every <image> and its shapes into the builder; skipped: elements not read (and the
    points shapes, counted under "points")."""
    ctx = b.ctx
    default_split = UNSPLIT if f.stem.lower() in _UNSPLIT_STEMS else canonical_split(f.stem)
    for el in doc:
        if el.tag in _SKIPPED:
            skipped[el.tag] += 1
        if el.tag != "image":
            continue
        where = f"{f}:{el.sourceline}"
        try:
            img, size = _image_record(el, where, default_split, root_dir, b)
        except Error as e:
            ctx.fail(e)
            continue
        for child in el:
            if not isinstance(child.tag, str):
                continue
            if child.tag not in _SHAPES:
                skipped[child.tag] += 1
                continue
            try:
                b.object(img, **_parse_shape(child, f"{f}:{child.sourceline}", size))
            except Error as e:
                ctx.fail(e)
                continue
            skipped["points"] += child.tag == "points"


def _image_record(el: etree._Element, where: str, default_split: str,
                  root_dir: Path, b: DatasetBuilder) -> tuple[int, tuple[int, int]]:
    """The builder's handle of an <image> and its (width, height)."""
    a = el.attrib
    for key in ("id", "name", "width", "height"):
        if key not in a:
            raise ParseError(where, f"<image> has no {key!r} attribute")
    try:
        image_id, width, height = int(a["id"]), int(a["width"]), int(a["height"])
    except ValueError:
        raise ParseError(where, "<image> id, width and height must be integers, got "
                         f"{a['id']!r}, {a['width']!r}, {a['height']!r}") from None
    name = clean_relative(a["name"], where=where)
    split = canonical_split(a["subset"]) if a.get("subset") else default_split
    subset_dirs = [a["subset"]] if a.get("subset") else []
    image = common.find_image(b.ctx, root_dir, [*(f"images/{s}/{name}" for s in subset_dirs),
                                                f"images/{name}", name], where=where)
    extras = {f"cvat.{key}": value for key, value in a.items() if key not in _IMAGE_XML_ATTRS}
    img = b.image(name, split, image, (width, height), id=image_id, where=where, **extras)
    return img, (width, height)


def _parse_shape(el: etree._Element, where: str, size: tuple[int, int]) -> dict[str, Any]:
    """DatasetBuilder.object's arguments for one shape element."""
    a = el.attrib
    label = a.get("label")
    if label is None:
        raise ParseError(where, f"<{el.tag}> has no label")
    where = f"{where}: <{el.tag}> ({label!r})"
    attrs: dict[str, Any] = {}
    if "occluded" in a:
        attrs["occluded"] = int(a["occluded"] == "1")
    for key in ("z_order", "group_id"):
        if key in a:
            attrs[f"cvat.{key}"] = _int(a[key], key, where)
    if "source" in a:
        attrs["cvat.source"] = a["source"]
    for key, value in a.items():
        if key not in _SHAPE_XML_ATTRS:
            attrs[f"cvat.{key}"] = value
    for child in el.iterfind("attribute"):
        name = child.get("name")
        if name:
            attrs[name] = _typed(child.text or "")
    rings: list[np.ndarray] = []
    paths: list[np.ndarray] = []
    rle = obb = None
    kind = el.tag
    if kind == "tag":
        box = np.full(4, np.nan)
    elif kind == "box":
        box = np.array([_float(a, k, where) for k in ("xtl", "ytl", "xbr", "ybr")])
        angle = _float(a, "rotation", where) if "rotation" in a else 0.0
        if angle % 360:
            obb = _rotated(box, angle)
            box = points_bounds(obb)
    elif kind == "ellipse":
        cx, cy, rx, ry = (_float(a, k, where) for k in ("cx", "cy", "rx", "ry"))
        if rx <= 0 or ry <= 0:
            raise ParseError(where, f"ellipse radii must be positive, got {rx}, {ry}")
        box = np.array([cx - rx, cy - ry, cx + rx, cy + ry])
        t = np.arange(ELLIPSE_VERTICES) * (2 * math.pi / ELLIPSE_VERTICES)
        rings = [np.stack([cx + rx * np.cos(t), cy + ry * np.sin(t)], axis=1)]
        attrs["cvat.ellipse"] = [cx, cy, rx, ry]
        if "rotation" in a:
            attrs["cvat.rotation"] = _float(a, "rotation", where)
    elif kind == "mask":
        rle, box = _mask(a, where, size)
    else:
        pts = _points(a.get("points"), where)
        if kind == "polygon":
            if len(pts) < 3:
                raise ParseError(where, f"a polygon needs at least 3 points, got {len(pts)}")
            rings, box = [pts], points_bounds(pts)
        else:
            if kind == "polyline" and len(pts) < 2:
                raise ParseError(where, f"a polyline needs at least 2 points, got {len(pts)}")
            box = jf.pad_degenerate(points_bounds(pts))[0]
            if kind == "polyline":
                paths = [pts]
            else:
                attrs["cvat.shape"] = kind
                attrs["cvat.points"] = [[float(x), float(y)] for x, y in pts]
    return dict(label=label, box=np.asarray(box, np.float64), rings=rings, paths=paths,
                rle=rle, obb=obb, attrs=attrs, where=where)


def _int(text: str, key: str, where: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise ParseError(where, f"{key} must be an integer, got {text!r}") from None


def _float(a: Any, key: str, where: str) -> float:
    if key not in a:
        raise ParseError(where, f"missing {key!r} attribute")
    try:
        value = float(a[key])
    except ValueError:
        raise ParseError(where, f"{key} is not a number: {a[key]!r}") from None
    if not math.isfinite(value):
        raise ParseError(where, f"{key} is not a finite number: {a[key]!r}")
    return value


def _points(text: str | None, where: str) -> np.ndarray:
    if not text:
        raise ParseError(where, "missing 'points' attribute")
    try:
        pts = [[float(v) for v in p.split(",")] for p in text.strip().split(";") if p.strip()]
        arr = np.asarray(pts, np.float64)
    except ValueError:
        raise ParseError(where, f"points must be 'x,y;x,y;...', got {text[:60]!r}") from None
    if arr.ndim != 2 or arr.shape[1] != 2 or not np.isfinite(arr).all():
        raise ParseError(where, f"points must be 'x,y;x,y;...', got {text[:60]!r}")
    return arr


def _rotated(box: np.ndarray, degrees: float) -> np.ndarray:
    """Corners of box turned clockwise (image y points down) about its centre."""
    x1, y1, x2, y2 = box
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    corners = np.array([[x1, y1], [x2, y1], [x2, y2], [x1, y2]]) - [cx, cy]
    t = math.radians(degrees)
    rot = np.array([[math.cos(t), -math.sin(t)], [math.sin(t), math.cos(t)]])
    return corners @ rot.T + [cx, cy]


def _mask(a: Any, where: str, size: tuple[int, int]) -> tuple[dict, np.ndarray]:
    width, height = size
    left, top, w, h = (int(_float(a, k, where)) for k in ("left", "top", "width", "height"))
    try:
        runs = np.array([int(v) for v in (a.get("rle") or "").split(",") if v.strip()],
                        np.int64)
    except ValueError:
        raise ParseError(where, "mask rle must be comma-separated integers") from None
    if w <= 0 or h <= 0 or runs.sum() != w * h or (runs < 0).any():
        raise ParseError(where, f"mask rle covers {int(runs.sum())} pixels, expected "
                         f"width x height = {w}x{h}")
    if left < 0 or top < 0 or left + w > width or top + h > height:
        raise ParseError(where, f"mask {w}x{h} at ({left}, {top}) does not fit the "
                         f"{width}x{height} image")
    if width * height > MAX_PIXELS:  # the mask is rasterized at the image's size
        raise UnsafeInputError(where, f"image of {width}x{height} is more than "
                               f"{MAX_PIXELS} pixels; refused as a possible decompression bomb")
    values = np.zeros(len(runs), bool)
    values[1::2] = True
    crop = np.repeat(values, runs).reshape(h, w)
    full = np.zeros((height, width), bool)
    full[top:top + h, left:left + w] = crop
    ys, xs = np.nonzero(full)
    if not len(xs):
        raise ParseError(where, "mask is empty")
    return mask_to_rle(full), np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1],
                                       np.float64)


# --- write ----------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs, ann = ds.images, ds.annotations
    names = {c.id: c.name for c in ds.categories}
    common.refuse_names(names.values(), "class name", "CVAT XML", lines=False, xml=True)
    common.refuse_names(imgs.file_name, "image name", "CVAT XML", lines=False, xml=True)
    if ann.polygons is not None:
        ctx.loss("polygon_rings", int((ann.polygons.counts() > 1).sum()), "objects made of "
                 "several polygons (written as one CVAT polygon per part)")
    dests = _destinations(ds, out_dir)
    root = etree.Element("annotations")
    _sub(root, "version", "1.1")
    root.append(_meta(ds, names))
    rows_of = rows_by_image(ann, len(imgs))
    with ctx.progress("Writing CVAT XML", len(imgs)) as advance:
        for i in range(len(imgs)):
            el = etree.SubElement(root, "image")
            el.set("id", str(int(imgs.id[i])))
            el.set("name", str(imgs.file_name[i]))
            if imgs.split[i] != UNSPLIT:
                el.set("subset", str(imgs.split[i]))
            el.set("width", str(int(imgs.width[i])))
            el.set("height", str(int(imgs.height[i])))
            for key, col in sorted(imgs.attrs.items()):
                tail = key[5:]
                if key.startswith("cvat.") and col[i] is not None and tail.isidentifier() \
                        and tail not in _IMAGE_XML_ATTRS:
                    el.set(tail, str(col[i]))
            for r in rows_of[i]:
                for shape in _shape_elements(ann, int(r), names):
                    el.append(shape)
            advance(1)
    etree.indent(root, space="  ")
    (out_dir / OUTPUT_FILE).write_bytes(
        etree.tostring(root, encoding="utf-8", xml_declaration=True, pretty_print=True))
    common.write_images(ds, lambda i: out_dir / dests[i], ctx)


def _destinations(ds: Dataset, out_dir: Path) -> list[str]:
    out: list[str] = []
    seen: dict[str, int] = {}
    for i, (name, split) in enumerate(zip(ds.images.file_name, ds.images.split)):
        clean = clean_relative(str(name), where=f"image {name!r}")
        if split != UNSPLIT:
            clean_relative(str(split), where=f"split {split!r}")
            if "/" in split:
                raise OutputError(f"{out_dir}: split name {split!r} cannot be a folder name")
        rel = f"images/{split}/{clean}" if split != UNSPLIT else f"images/{clean}"
        if rel in seen:
            raise OutputError(f"{out_dir}: image {name!r} is listed twice in split "
                              f"{split or '(unsplit)'!r}")
        seen[rel] = i
        out.append(rel)
    return out


FORMAT = Format(
    name="cvat",
    description="CVAT for images XML 1.1 (boxes, rotated boxes, polygons, masks, polylines, "
                "points, tags, attributes)",
    supports=frozenset({BOXES, POLYGONS, POLYLINES, MASKS, LABELS, ATTRIBUTES, CLASS_ORDER,
                        IMAGE_IDS}),
    detect=detect,
    read=read,
    write=write,
    aliases=("cvat-xml", "cvat_images", "cvat-images"),
    attributes=None,
)
