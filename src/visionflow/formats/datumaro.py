"""Datumaro's own JSON format (what `datum export -f datumaro` writes).

    annotations/<subset>.json   {"dm_format_version": "1.0", "media_type": 2, "infos": {},
                                 "categories": {"label": {"labels": [{"name", "parent",
                                 "attributes"}], "label_groups": [], "attributes": []}},
                                 "items": [{"id", "annotations": [...],
                                            "image": {"path", "size": [h, w]}}]}
    images/<subset>/<path>      the images

Annotation types: bbox ([x, y, w, h]), polygon (flat points), polyline (flat points, an open
path), mask (COCO RLE "rle"), points (flat points + "visibility" 0 absent / 1 hidden / 2
visible, COCO's meaning), label (image-level).
Every annotation has id, attributes, group (and z_order for shapes).

Rules:
- Subset "default" is UNSPLIT (Datumaro's name for "no subset"); other subsets are splits.
- Image paths are looked for in images/<subset>/, images/, then the dataset folder (older
  exports wrote "<subset>/x.jpg" relative to images/); io.paths rules apply. The size comes
  from "image.size" ([h, w]), else from the image header.
- Categories: "labels" order, ids 1..N. Annotation ids: Datumaro numbers annotations per item
  (often all 0); the source ids are kept when unique within a split, else numbered 1..n.
- Polygons (polylines) of one object with several rings (paths) are written as several polygon
  (polyline) annotations sharing id and a group; on reading, polygons (polylines) of one item
  sharing label, id and a non-zero group are one object again. A shape's box is its bounds
  (Datumaro keeps no separate box for it).
- attributes -> annotation attrs under their own names; group and z_order -> attrs
  "datumaro.group" / "datumaro.z_order" when non-zero. Points become keypoints; a bbox and
  points of one item sharing label, id and a non-zero group are one object (what Datumaro's
  COCO keypoints import makes, and what the writer writes), else the box of points is the
  bounds of the labelled points.
- Writer: one geometry per object: mask if it has one, else its polygon, else its polylines,
  else its keypoints (bbox + points in one group), else its box; objects holding several
  kinds keep the first (the rest is reported as "loss.datumaro.secondary_geometry").
"""

from __future__ import annotations

from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import orjson

from ..core.annotations import Annotations, Polygons, Polylines
from ..core.categories import Categories
from ..core.dataset import Dataset
from ..core.errors import Error, FormatError, MissingImageError, OutputError, ParseError
from ..core.geometry import pad_degenerate, points_bounds, rle_bounds
from ..core.images import UNSPLIT, Images
from ..io.paths import clean_relative
from ..io.safe_load import bytes_of
from . import common
from .builder import header_sizes
from .base import (
    ANNOTATION_IDS,
    ATTRIBUTES,
    BOXES,
    CLASS_ORDER,
    KEYPOINTS,
    LABELS,
    MASKS,
    POLYGONS,
    POLYLINES,
    Detection,
    Format,
    ReadContext,
    WriteContext,
)
from .writing import rows_by_image

DEFAULT_SUBSET = "default"
_TYPES = ("bbox", "polygon", "polyline", "mask", "points", "label")
_SHAPES = ("polygon", "polyline")  # one object may be several of these, tied by a group


# --- detect -------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    files = _files(path)
    if not files:
        return None
    head = common.head(files[0][1], 4096)  # empty when unreadable: no guess
    if b'"items"' in head and b'"categories"' in head or b'"dm_format_version"' in head:
        reason = f"annotations/{files[0][1].name}: Datumaro JSON (categories, items)"
        # Above COCO's guess for any JSON with "annotations" and "categories": "items" and
        # "dm_format_version" are Datumaro's own keys.
        return Detection("datumaro", 0.97 if b'"dm_format_version"' in head else 0.92, (reason,))
    return None


# --- read ---------------------------------------------------------------------------------

def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    files = _files(path)
    if not files:
        raise FormatError(f"{path}: no Datumaro annotations/<subset>.json")
    root = files[0][1].parent.parent if files[0][1].parent.name == "annotations" \
        else files[0][1].parent
    names: list[str] | None = None
    images: list[dict[str, Any]] = []
    rows: list[dict[str, Any]] = []
    for subset, file in files:
        try:
            doc = orjson.loads(bytes_of(file))
        except (OSError, orjson.JSONDecodeError) as e:
            raise ParseError(file, f"invalid JSON ({e})") from None
        labels = (((doc.get("categories") or {}).get("label") or {}).get("labels")
                  if isinstance(doc, dict) else None)
        if not isinstance(labels, list) or not isinstance(doc.get("items"), list):
            raise ParseError(file, "expected {\"categories\": {\"label\": {\"labels\": [...]}}, "
                             "\"items\": [...]}")
        file_names = [str(lb.get("name")) if isinstance(lb, dict) else str(lb) for lb in labels]
        if names is None:
            names = file_names
        elif file_names != names:
            raise ParseError(file, f"labels {file_names} differ from those of {files[0][1].name}"
                             f" {names}; subsets must share one label list")
        split = UNSPLIT if subset == DEFAULT_SUBSET else subset
        for k, item in enumerate(doc["items"]):
            where = f"{file}: item {k}"
            try:
                _read_item(item, where, split, subset, root, len(names), images, rows, ctx)
            except Error as e:
                ctx.fail(e)
    names = names or []
    need = [im for im in images if im["width"] <= 0]
    sizes = header_sizes(ctx, [im["path"] for im in need], [im["where"] for im in need],
                         lambda i: MissingImageError(need[i]["where"], "no image.size and image "
                                                     f"{need[i]['file_name']!r} not found"))
    for im, (w, h) in zip(need, sizes):
        im["width"], im["height"] = int(w), int(h)
    valid = np.array([im["width"] > 0 for im in images], bool)
    new_row = np.cumsum(valid) - 1
    rows = [r for r in rows if valid[r["image"]]]
    images = [im for im, v in zip(images, valid) if v]
    return _build(images, rows, new_row, names, ctx)


def _files(path: Path) -> list[tuple[str, Path]]:
    if path.is_file():
        return [(path.stem, path)] if path.suffix == ".json" else []
    folder = path / "annotations" if (path / "annotations").is_dir() else path
    if not folder.is_dir():
        return []
    return [(f.stem, f) for f in sorted(folder.glob("*.json")) if f.is_file()]


def _read_item(item: Any, where: str, split: str, subset: str, root: Path, n_labels: int,
               images: list, rows: list, ctx: ReadContext) -> None:
    if not isinstance(item, dict) or not isinstance(item.get("annotations", []), list):
        raise ParseError(where, "expected an object with id and annotations")
    image = item.get("image") or item.get("media") or {}
    item_id = str(item.get("id", ""))
    rel = image.get("path") if isinstance(image, dict) else None
    where = f"{where} ({item_id!r})"
    name = clean_relative(rel or f"{item_id}.jpg", where=where)
    path = common.find_image(ctx, root, [f"{base}/{name}" if base else name
                                         for base in (f"images/{subset}", "images", "")],
                             where=where)
    if name.startswith(f"{subset}/") and path is not None and \
            Path(path) == (root / "images" / name).absolute():
        name = name[len(subset) + 1:]  # older exports: "<subset>/x.jpg" relative to images/
    size = image.get("size") if isinstance(image, dict) else None
    h, w = (size if isinstance(size, list) and len(size) == 2 and all(
        isinstance(v, int) and v > 0 for v in size) else (0, 0))
    row = len(images)
    images.append({"file_name": name, "split": split, "path": path, "where": where,
                   "width": w, "height": h})
    for j, a in enumerate(item.get("annotations", [])):
        at = f"{where} annotation {j}"
        if not isinstance(a, dict) or a.get("type") not in _TYPES:
            raise ParseError(at, f"expected an annotation of type {', '.join(_TYPES)}, got "
                             f"{a.get('type') if isinstance(a, dict) else a!r}")
        label = a.get("label_id")
        if not isinstance(label, int) or not 0 <= label < n_labels:
            raise ParseError(at, f"label_id {label!r} is not an index into the {n_labels} labels")
        attrs = a.get("attributes") or {}
        if not isinstance(attrs, dict):
            raise ParseError(at, "attributes must be an object")
        attrs = {k: v for k, v in attrs.items() if v is not None}
        for key in ("group", "z_order"):
            if a.get(key):
                attrs[f"datumaro.{key}"] = a[key]
        row_doc: dict[str, Any] = {"image": row, "label": label, "where": at, "id": a.get("id"),
                                   "attrs": attrs, "type": a["type"], "group": a.get("group") or 0}
        kind = a["type"]
        if kind == "bbox":
            row_doc["box"] = _numbers(a.get("bbox"), 4, at, "bbox")
        elif kind in ("polygon", "polyline"):  # one flat x,y list: 3 or 2 points at least
            least = 6 if kind == "polygon" else 4
            pts = _numbers(a.get("points"), None, at, "points")
            if len(pts) < least or len(pts) % 2:
                raise ParseError(at, f"{kind} needs an even number >= {least} of coordinates, "
                                 f"got {len(pts)}")
            row_doc["rings" if kind == "polygon" else "paths"] = [np.array(pts).reshape(-1, 2)]
        elif kind == "points":
            pts = _numbers(a.get("points"), None, at, "points")
            vis = a.get("visibility") or [2] * (len(pts) // 2)
            if len(pts) % 2 or len(vis) != len(pts) // 2:
                raise ParseError(at, f"points has {len(pts)} coordinates and {len(vis)} "
                                 "visibility values")
            row_doc["keypoints"] = np.column_stack([np.array(pts).reshape(-1, 2),
                                                    np.asarray(vis, np.float64)])
        elif kind == "mask":
            rle = a.get("rle")
            if not (isinstance(rle, dict) and isinstance(rle.get("counts"), (str, list))
                    and isinstance(rle.get("size"), list) and len(rle["size"]) == 2):
                raise ParseError(at, "mask needs rle {counts, size: [h, w]}")
            row_doc["rle"] = {"size": [int(v) for v in rle["size"]], "counts": rle["counts"]}
        rows.append(row_doc)


def _numbers(value: Any, n: int | None, where: str, what: str) -> list[float]:
    if not isinstance(value, list) or (n is not None and len(value) != n) or not all(
            isinstance(v, (int, float)) and not isinstance(v, bool) for v in value):
        raise ParseError(where, f"{what} must be {n or 'a list of'} numbers, got "
                         f"{str(value)[:60]}")
    return [float(v) for v in value]


def _build(images: list, rows: list, new_row: np.ndarray, names: list[str],
           ctx: ReadContext) -> Dataset:
    merged: list[dict] = []
    key_of: dict[tuple, dict] = {}
    for r in rows:  # parts of one object: same item, label, id and a non-zero group
        key = (r["image"], r["label"], r["id"], r["group"],
               r["type"] if r["type"] in _SHAPES else "parts")
        first = key_of.get(key) if r["group"] else None
        if first is not None and r["type"] in _SHAPES:
            part = "rings" if r["type"] == "polygon" else "paths"
            first[part] = first[part] + r[part]
            continue
        if first is not None and {first["type"], r["type"]} == {"bbox", "points"} \
                and not ("box" in first and "keypoints" in first):
            first.update({k: r[k] for k in ("box", "keypoints") if k in r})
            continue
        if r["group"] and r["type"] in ("polygon", "polyline", "bbox", "points"):
            key_of[key] = r
        merged.append(r)
    rows = merged
    n = len(rows)
    boxes = np.full((n, 4), np.nan)
    k = max((len(r["keypoints"]) for r in rows if "keypoints" in r), default=0)
    kps = np.full((n, k, 3), np.nan) if k else None
    rles = np.empty(n, object)
    rings, paths = [], []
    for i, r in enumerate(rows):
        if "keypoints" in r:
            kp = r["keypoints"]
            kps[i, :len(kp)] = kp
        if "box" in r:
            x, y, w, h = r["box"]
            boxes[i] = [x, y, x + w, y + h]
        elif "rings" in r:
            pts = np.concatenate(r["rings"])
            boxes[i] = [*pts.min(axis=0), *pts.max(axis=0)]
        elif "paths" in r:  # a straight line has no area: its box gets 1 px (as in CVAT)
            boxes[i] = pad_degenerate(points_bounds(np.concatenate(r["paths"])))[0]
        elif "rle" in r:
            boxes[i] = rle_bounds(r["rle"])
            rles[i] = r["rle"]
        elif "keypoints" in r:
            kp = r["keypoints"]
            seen = kp[kp[:, 2] > 0, :2]
            boxes[i] = [*seen.min(axis=0), *seen.max(axis=0)] if len(seen) else [0, 0, 0, 0]
        rings.append(r.get("rings", []))
        paths.append(r.get("paths", []))
    splits = [images[r["image"]]["split"] for r in rows]
    ids = [r["id"] for r in rows]
    unique = all(isinstance(v, int) for v in ids) and len(set(zip(splits, ids))) == n
    if not unique and n:
        ctx.report.add("info", "datumaro.annotation_ids", "annotation ids are not unique within "
                       "a subset (Datumaro numbers them per item); numbered 1..n", count=n)
    keys = list(dict.fromkeys(key for r in rows for key in r["attrs"]))
    attrs = {}
    for key in keys:
        col = np.empty(n, object)
        col[:] = [r["attrs"].get(key) for r in rows]
        attrs[key] = col
    extra: dict[str, Any] = {"attrs": attrs}
    if any(rings):
        extra["polygons"] = Polygons.from_lists(rings)
    if any(paths):
        extra["polylines"] = Polylines.from_lists(paths)
    if any(v is not None for v in rles):
        extra["rle"] = rles
    if kps is not None:
        extra["keypoints"] = kps
    ann = Annotations.build([new_row[r["image"]] for r in rows], [r["label"] + 1 for r in rows],
                            boxes, id=ids if unique else None, **extra)
    imgs = Images.build([im["file_name"] for im in images], [im["width"] for im in images],
                        [im["height"] for im in images], split=[im["split"] for im in images],
                        path=[im["path"] for im in images])
    ds = Dataset(imgs, ann, Categories.from_names(names))
    return common.finish_read(ds, ctx, where_annotation=lambda i: rows[i]["where"],
                              where_image=lambda i: images[i]["where"])


# --- write --------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs, ann = ds.images, ds.annotations
    index = ds.categories.index_map()
    labels = [{"name": c.name, "parent": "", "attributes": []} for c in ds.categories]
    has_rle, has_poly, has_kp = ann.has_rle(), ann.has_polygon(), ann.has_keypoints()
    has_line = ann.has_polyline()
    ctx.loss("datumaro.secondary_geometry",
             int(((has_rle.astype(int) + has_poly + has_line + has_kp) > 1).sum()),
             "objects holding several geometries (Datumaro keeps one per annotation: mask, "
             "else polygon, else polylines, else keypoints)")
    rows_of = rows_by_image(ann, len(imgs))
    subsets: dict[str, list] = {}
    dest: list[Path] = []
    groups = [int(v) for v in ann.attr("datumaro.group") if v is not None]
    next_group = max(groups, default=0) + 1
    for i in range(len(imgs)):
        subset = str(imgs.split[i]) or DEFAULT_SUBSET
        if not subset.replace("_", "").replace("-", "").replace(".", "").isalnum() \
                or subset.startswith("."):
            raise OutputError(f"{out_dir}: split name {subset!r} cannot name a Datumaro subset "
                              "file; rename the split")
        rel = clean_relative(str(imgs.file_name[i]), where=f"image {imgs.file_name[i]!r}")
        dest.append(out_dir / "images" / subset / rel)
        items = []
        for r in rows_of[i]:
            r = int(r)
            base = {"id": int(ann.id[r]), "attributes": {}, "group": 0,
                    "label_id": index[int(ann.category_id[r])]}
            for key, col in ann.attrs.items():
                value = col[r]
                if value is None:
                    continue
                if key in ("datumaro.group", "datumaro.z_order"):
                    base[key[9:]] = int(value)
                elif not key.startswith("datumaro."):
                    base["attributes"][key] = _plain(value)
            z = {"z_order": base.pop("z_order", 0)}
            if ann.is_label[r]:
                items.append({**base, "type": "label"})
            elif has_rle[r]:
                items.append({**base, "type": "mask", "rle": ann.rle[r], **z})
            elif has_poly[r] or has_line[r]:
                kind, shapes = (("polygon", ann.polygons) if has_poly[r]
                                else ("polyline", ann.polylines))
                rings = shapes.rings(r)
                if len(rings) > 1 and not base["group"]:
                    base["group"] = next_group
                    next_group += 1
                for ring in rings:
                    items.append({**base, "type": kind,
                                  "points": [float(v) for v in ring.reshape(-1)], **z})
            elif has_kp[r]:  # the box and the points of one object, tied by a group
                if not base["group"]:
                    base["group"] = next_group
                    next_group += 1
                x1, y1, x2, y2 = (float(v) for v in ann.xyxy[r])
                items.append({**base, "type": "bbox", **z, "bbox": [x1, y1, x2 - x1, y2 - y1]})
                kp = ann.keypoints[r]
                kp = kp[~np.isnan(kp).all(axis=1)]
                vis = np.nan_to_num(kp[:, 2]).astype(int)
                pts = np.where(vis[:, None] > 0, kp[:, :2], 0.0)
                items.append({**base, "type": "points",
                              "points": [float(v) for v in pts.reshape(-1)], **z,
                              "visibility": [int(v) for v in vis]})
            else:
                x1, y1, x2, y2 = (float(v) for v in ann.xyxy[r])
                items.append({**base, "type": "bbox", **z, "bbox": [x1, y1, x2 - x1, y2 - y1]})
        stem = str(PurePosixPath(rel).with_suffix(""))
        subsets.setdefault(subset, []).append({
            "id": stem, "annotations": items,
            "image": {"path": rel, "size": [int(imgs.height[i]), int(imgs.width[i])]}})
    (out_dir / "annotations").mkdir(parents=True)
    if not subsets:
        subsets[DEFAULT_SUBSET] = []
    for subset, items in subsets.items():
        doc = {"dm_format_version": "1.0", "media_type": 2, "infos": {},
               "categories": {"label": {"labels": labels, "label_groups": [],
                                        "attributes": []}},
               "items": items}
        try:
            data = orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY)
        except TypeError as e:
            raise OutputError(f"an annotation attribute cannot be written as JSON ({e})") from None
        (out_dir / "annotations" / f"{subset}.json").write_bytes(data)
    common.write_images(ds, lambda i: dest[i], ctx)


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


FORMAT = Format(
    name="datumaro",
    description="Datumaro JSON (annotations/<subset>.json: bbox, polygon, polyline, mask, "
                "points, label)",
    supports=frozenset({BOXES, POLYGONS, POLYLINES, MASKS, KEYPOINTS, LABELS, ATTRIBUTES,
                        CLASS_ORDER, ANNOTATION_IDS}),
    detect=detect,
    read=read,
    write=write,
    aliases=("datumaro-json", "dm"),
    attributes=None,
)
