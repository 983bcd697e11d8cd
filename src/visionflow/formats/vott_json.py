"""VoTT (Microsoft Visual Object Tagging Tool) JSON export.

    {"name": "project", "tags": [{"name": "dog", "color": "#e81123"}], "version": "2.2.0",
     "assets": {"<id>": {"asset": {"id": "<id>", "name": "a.jpg", "path": "file:...",
       "size": {"width": 640, "height": 480}, "format": "jpg", "state": 2, "type": 1},
       "regions": [{"id": "r1", "type": "RECTANGLE", "tags": ["dog"],
         "boundingBox": {"left": 10, "top": 20, "width": 30, "height": 40},
         "points": [{"x": 10, "y": 20}, ...]}]}}}

Layouts read: a `*-export.json` file, or a folder of them (Datumaro's `<subset>-export.json`
names give the split: train, val/valid, test; any other prefix, such as VoTT's project name,
is unsplit). Images are looked up by the asset's `name` beside the JSON (asset paths are
absolute `file:` URLs of the labelling machine and are not followed). Written: one
`<split>-export.json` per split (`default-export.json` when unsplit) with the images beside.

Regions: RECTANGLE -> box (pixels, from boundingBox); POLYGON -> polygon with the box as its
bounds. A region with several tags becomes one annotation per tag sharing the region id
(attr "vott.id"); the writer joins consecutive rows with the same id back into one region.
Regions without tags and other region types are skipped with a warning.
Classes: the project's `tags` in order (CLASS_ORDER), then undeclared tags sorted.
"""

from __future__ import annotations

import hashlib
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np

from ..core.annotations import Annotations
from ..core.dataset import Dataset
from ..core.errors import Error, FormatError, OutputError, ParseError
from ..core.geometry import points_bounds
from ..core.images import UNSPLIT
from ..io.paths import clean_relative
from . import _jsonfmt as jf
from . import common
from .builder import DatasetBuilder
from .base import (
    BOXES,
    CLASS_ORDER,
    POLYGONS,
    Detection,
    Format,
    ReadContext,
    WriteContext,
)
from .writing import rows_by_image

SUFFIX = "-export"
VERSION = "2.2.0"
_PALETTE = ("#5db300", "#e81123", "#6917aa", "#015cda", "#4894fe", "#6b2d0a", "#ff8c00",
            "#00b294", "#b4009e", "#fff100")


# --- detect ---------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    for f in _files(path)[:3]:
        h = jf.head(f).removeprefix(b"\xef\xbb\xbf")  # a BOM: JSON readers skip it
        if h.lstrip()[:1] == b"{" and b'"assets"' in h and (b'"regions"' in h
                                                            or b'"asset"' in h):
            return Detection("vott-json", 0.9, (
                f"{f.name}: JSON object with VoTT's \"assets\" of {{asset, regions}}",))
    return None


def _files(path: Path) -> list[Path]:
    if path.is_file():
        return [path] if path.suffix.lower() == ".json" else []
    return sorted(path.glob(f"*{SUFFIX}.json"))


# --- read -----------------------------------------------------------------------------------

def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    files = _files(path)
    if not files:
        raise FormatError(f"{path}: no VoTT JSON export found (expected *{SUFFIX}.json)")
    b = DatasetBuilder(ctx, format="vott-json")
    skipped = 0
    for f in files:
        doc = jf.load(f)
        if not isinstance(doc, dict) or not isinstance(doc.get("assets"), dict):
            ctx.fail(ParseError(f, "expected a JSON object with an 'assets' object (VoTT JSON)"))
            continue
        for t in doc.get("tags") or []:
            if isinstance(t, dict) and isinstance(t.get("name"), str):
                b.category(t["name"])
        split = jf.split_of_file(f.stem, SUFFIX)
        for key, entry in doc["assets"].items():
            where = f"{f}: assets[{key!r}]"
            try:
                skipped += _parse_asset(entry, where, f.parent, split, b)
            except Error as e:
                ctx.fail(e)
    if skipped:
        ctx.report.add("warning", "vott.skipped", "regions without tags or of a type other "
                       "than RECTANGLE/POLYGON were skipped", count=skipped)
    return b.build(sort_images=True, undeclared_message=None,
                   no_size="asset has no size and its image {file_name!r} is not beside the "
                   "JSON")


def _parse_asset(entry: Any, where: str, base: Path, split: str, b: DatasetBuilder) -> int:
    """One asset and its regions into the builder; the number of regions skipped. A bad
    region leaves the whole asset out (raised before anything is added)."""
    asset = entry.get("asset") if isinstance(entry, dict) else None
    if not isinstance(asset, dict) or not isinstance(asset.get("name"), str):
        raise ParseError(where, "expected {\"asset\": {\"name\": ..., \"size\": ...}, "
                         "\"regions\": [...]}")
    name = clean_relative(asset["name"], where=where)
    where = f"{where} ({name})"
    size = asset.get("size") or {}
    w, h = size.get("width"), size.get("height")
    if not (isinstance(w, (int, float)) and isinstance(h, (int, float))):
        w = h = 0
    path = common.find_image(b.ctx, base, (name,), where=where)
    size = (int(w), int(h)) if int(w) > 0 and int(h) > 0 else None
    asset_id = asset["id"] if isinstance(asset.get("id"), str) else None
    regions = entry.get("regions") or []
    if not isinstance(regions, list):
        raise ParseError(where, "'regions' must be a list")
    skipped = 0
    objects: list[tuple[list[str], dict[str, Any]]] = []
    for k, reg in enumerate(regions):
        w_reg = f"{where}: regions[{k}]"
        if not isinstance(reg, dict):
            raise ParseError(w_reg, "expected an object")
        kind = reg.get("type")
        labels = reg.get("tags") or []
        if kind not in ("RECTANGLE", "POLYGON") or not labels:
            skipped += 1
            continue
        if not isinstance(labels, list) or not all(isinstance(t, str) for t in labels):
            raise ParseError(w_reg, f"tags must be a list of names, got {labels!r}")
        bb = reg.get("boundingBox")
        ring = None
        if kind == "POLYGON":
            pts = reg.get("points")
            if (not isinstance(pts, list) or len(pts) < 3 or not all(
                    isinstance(q, dict) and jf.is_number(q.get("x")) and jf.is_number(q.get("y"))
                    for q in pts)):
                raise ParseError(w_reg, "a POLYGON needs at least 3 points {x, y}")
            ring = np.array([[q["x"], q["y"]] for q in pts], np.float64)
            box = points_bounds(ring)
        else:
            if not isinstance(bb, dict) or not all(jf.is_number(bb.get(key)) for key in
                                                   ("left", "top", "width", "height")):
                raise ParseError(w_reg, "boundingBox must have numbers left, top, width, "
                                 f"height, got {bb!r}")
            box = np.array([bb["left"], bb["top"], bb["left"] + bb["width"],
                            bb["top"] + bb["height"]], np.float64)
            corners = _corners(reg.get("points"))
            if corners is not None and np.allclose(corners, box, rtol=0, atol=1e-6):
                box = corners  # the exact right/bottom edges, not left + width
        attrs = {"vott.id": reg["id"]} if isinstance(reg.get("id"), str) else {}
        objects.append((labels, dict(box=box, rings=[ring] if ring is not None else None,
                                     attrs=attrs, where=f"{w_reg} ({', '.join(labels)})")))
    img = b.image(name, split, path, size, where=where, **{"vott.id": asset_id})
    for labels, obj in objects:
        for label in labels:  # a region with several tags: one object per tag
            b.object(img, label, **obj)
    return skipped


def _corners(points: Any) -> np.ndarray | None:
    """Bounds of a rectangle region's 4 corner points, when they are 4 numeric points."""
    if not isinstance(points, list) or len(points) != 4 or not all(
            isinstance(q, dict) and jf.is_number(q.get("x")) and jf.is_number(q.get("y"))
            for q in points):
        return None
    return points_bounds(np.array([[q["x"], q["y"]] for q in points], np.float64))


# --- write ----------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs, ann = ds.images, ds.annotations
    names = {c.id: c.name for c in ds.categories}
    objects = ann[~ann.is_label]
    if objects.polygons is not None:
        ctx.loss("polygon_rings", int((objects.polygons.counts() > 1).sum()),
                 "objects made of several polygons (VoTT keeps the first)")
    odd = sorted({s for s in imgs.splits() if s != UNSPLIT and jf.split_of_dir(s) != s})
    if odd:
        ctx.loss("split_names", int(np.isin(imgs.split, odd).sum()), "images in splits other "
                 f"than train/val/test ({', '.join(odd)}), written but read back as the "
                 "split of that name's lower case, or unsplit")
    rows_of = rows_by_image(objects, len(imgs))
    tags = [{"name": c.name, "color": _PALETTE[k % len(_PALETTE)]}
            for k, c in enumerate(ds.categories)]
    docs: dict[str, dict] = {}
    seen: dict[str, int] = {}
    for i in range(len(imgs)):
        name = clean_relative(str(imgs.file_name[i]), where=f"image {imgs.file_name[i]!r}")
        if name in seen:
            raise OutputError(f"{out_dir}: images of splits {imgs.split[seen[name]] or 'unsplit'!r}"
                              f" and {imgs.split[i] or 'unsplit'!r} are both named {name!r}; "
                              "VoTT keeps every split's images in one folder")
        seen[name] = i
        split = jf.unsplit_name(str(imgs.split[i]))
        doc = docs.setdefault(split, {"name": split, "securityToken": f"{split} Token",
                                      "videoSettings": {"frameExtractionRate": 15},
                                      "tags": tags, "assets": {}, "version": VERSION})
        asset_id = imgs.attr("vott.id")[i] or hashlib.md5(name.encode()).hexdigest()
        doc["assets"][str(asset_id)] = {
            "asset": {"format": PurePosixPath(name).suffix.lstrip(".").lower(),
                      "id": str(asset_id), "name": name, "path": name,
                      "size": {"width": int(imgs.width[i]), "height": int(imgs.height[i])},
                      "state": 2, "type": 1},
            "regions": _regions(objects, rows_of[i], names),
            "version": VERSION}
    for split, doc in docs.items():
        (out_dir / f"{split}{SUFFIX}.json").write_bytes(jf.dump(doc))
    common.write_images(ds, lambda i: out_dir / str(imgs.file_name[i]), ctx)


def _regions(ann: Annotations, rows: np.ndarray, names: dict[int, str]) -> list[dict]:
    out: list[dict] = []
    ids = ann.attr("vott.id")
    last_id = None
    for r in (int(v) for v in rows):
        label = names[int(ann.category_id[r])]
        if ids[r] is not None and ids[r] == last_id:
            out[-1]["tags"].append(label)
            continue
        last_id = ids[r]
        x1, y1, x2, y2 = (float(v) for v in ann.xyxy[r])
        ring = ann.polygons.rings(r)[0] if (ann.polygons is not None
                                            and ann.polygons.counts()[r]) else None
        if ring is not None:
            pts = [{"x": jf.num(x), "y": jf.num(y)} for x, y in ring]
        else:
            pts = [{"x": jf.num(x), "y": jf.num(y)} for x, y in
                   ((x1, y1), (x2, y1), (x2, y2), (x1, y2))]
        out.append({"id": str(ids[r]) if ids[r] is not None else f"vf{int(ann.id[r])}",
                    "type": "POLYGON" if ring is not None else "RECTANGLE", "tags": [label],
                    "boundingBox": {"height": jf.num(y2 - y1, 9), "width": jf.num(x2 - x1, 9),
                                    "left": jf.num(x1), "top": jf.num(y1)},
                    "points": pts})
    return out


FORMAT = Format(
    name="vott-json",
    description="VoTT JSON export (<split>-export.json: rectangles and polygons, tags)",
    supports=frozenset({BOXES, POLYGONS, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("vott", "vott_json"),
)
