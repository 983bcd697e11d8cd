"""LabelMe's JSON vocabulary and its shapes out, a kit of labelme.py: the keys LabelMe itself
writes (the rest are the dataset's own), the shape types and their point counts, and an
image's document with its shapes as the writer makes them."""

from __future__ import annotations

import base64
import io
from pathlib import PurePosixPath
from typing import Any

import numpy as np
from PIL import Image

from ..core.annotations import Annotations
from ..core.dataset import Dataset
from ..core.geometry import rle_to_mask
from . import _jsonfmt as jf


VERSION = "5.2.1"
_SHAPE_KEYS = ("label", "points", "group_id", "description", "shape_type", "flags", "mask")
_TOP_KEYS = ("version", "flags", "shapes", "imagePath", "imageData", "imageHeight",
             "imageWidth")
_VERTEX_TYPES = ("circle", "point", "line", "linestrip")
_POINT_COUNTS = {"rectangle": (2, 2), "circle": (2, 2), "point": (1, 1), "line": (2, 2),
                 "linestrip": (2, None), "polygon": (3, None), "mask": (2, 2)}


def _image_doc(ds: Dataset, i: int, image_rel: str, objects: Annotations, rows: np.ndarray,
               names: dict[int, str], ring_counts: np.ndarray) -> dict[str, Any]:
    imgs = ds.images
    attrs = {k: v[i] for k, v in imgs.attrs.items() if v[i] is not None}
    doc: dict[str, Any] = {"version": attrs.get("labelme.version") or VERSION,
                           "flags": attrs.get("labelme.flags") or {}}
    doc["shapes"] = [s for r, gid in zip(rows, _group_ids(objects, rows, ring_counts))
                     for s in _shapes(objects, int(r), names, gid)]
    doc["imagePath"] = PurePosixPath(image_rel).name
    doc["imageData"] = None
    doc["imageHeight"] = int(imgs.height[i])
    doc["imageWidth"] = int(imgs.width[i])
    for key in sorted(attrs):
        tail = key[len("labelme."):]
        if key.startswith("labelme.") and tail not in ("version", "flags") \
                and tail not in _TOP_KEYS:
            doc[tail] = attrs[key]
    return doc


def _group_ids(ann: Annotations, rows: np.ndarray, ring_counts: np.ndarray) -> list[Any]:
    """The group_id of each object of one image: its own, or, for an object of several rings
    without one, a number no other object of the image uses (the reader joins the parts)."""
    col = ann.attrs.get("labelme.group_id")
    ids = [None if col is None else col[r] for r in rows]
    counts = ring_counts[rows]
    used = [g for g in ids if isinstance(g, (int, np.integer)) and not isinstance(g, bool)]
    fresh = int(max(used, default=-1)) + 1
    for k, n in enumerate(counts.tolist()):
        if n > 1 and ids[k] is None:
            ids[k], fresh = fresh, fresh + 1
    return ids


def _shapes(ann: Annotations, r: int, names: dict[int, str],
            group_id: Any = None) -> list[dict[str, Any]]:
    attrs = {k: v[r] for k, v in ann.attrs.items() if v[r] is not None}
    kind = attrs.get("labelme.shape_type")
    vertices = attrs.get("labelme.points")
    geoms: list[tuple[str, list, str | None]] = []
    if ann.polylines is not None and ann.polylines.counts()[r] > 0:
        for path in ann.polylines.rings(r):
            line = "line" if kind == "line" and len(path) == 2 else "linestrip"
            geoms.append((line, [[jf.num(x), jf.num(y)] for x, y in path], None))
    elif kind in _VERTEX_TYPES and _valid_points(vertices, kind):
        geoms.append((kind, [[jf.num(x), jf.num(y)] for x, y in vertices], None))
    elif ann.rle is not None and ann.rle[r] is not None:
        geoms.append(("mask", *_mask_geometry(ann.rle[r])))
    elif ann.polygons is not None and ann.polygons.counts()[r] > 0:
        for ring in ann.polygons.rings(r):
            geoms.append(("polygon", [[jf.num(x), jf.num(y)] for x, y in ring], None))
    else:
        x1, y1, x2, y2 = ann.xyxy[r]
        geoms.append(("rectangle", [[jf.num(x1), jf.num(y1)], [jf.num(x2), jf.num(y2)]], None))
    out = []
    for shape_type, points, mask in geoms:
        shape: dict[str, Any] = {"label": names[int(ann.category_id[r])], "points": points,
                                 "group_id": _plain(group_id),
                                 "description": attrs.get("labelme.description", ""),
                                 "shape_type": shape_type,
                                 "flags": attrs.get("labelme.flags") or {}}
        if mask is not None:
            shape["mask"] = mask
        for key in sorted(attrs):
            tail = key[len("labelme."):]
            if key.startswith("labelme.") and tail not in _SHAPE_KEYS \
                    and tail not in ("points", "attributes"):
                shape[tail] = attrs[key]
        plain = {k: _plain(v) for k, v in sorted(attrs.items()) if "." not in k}
        if plain:
            shape["attributes"] = plain
        out.append(shape)
    return out


def _plain(value: Any) -> Any:
    """numpy scalars as the JSON numbers they are."""
    return value.item() if isinstance(value, np.generic) else value


def _valid_points(vertices: Any, kind: str) -> bool:
    lo, hi = _POINT_COUNTS[kind]
    return (isinstance(vertices, (list, tuple)) and lo <= len(vertices)
            and (hi is None or len(vertices) <= hi)
            and all(isinstance(p, (list, tuple)) and len(p) == 2 for p in vertices))


def _mask_geometry(rle: dict) -> tuple[list, str]:
    """LabelMe's mask shape: the corners of the set pixels and a PNG of that crop."""
    mask = rle_to_mask(rle)
    ys, xs = np.nonzero(mask)
    if not len(xs):
        x1 = y1 = x2 = y2 = 0
    else:
        x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()), int(ys.max())
    crop = mask[y1:y2 + 1, x1:x2 + 1]
    buf = io.BytesIO()
    Image.fromarray(crop.astype(np.uint8) * 255, mode="L").convert("1").save(buf, "PNG")
    return [[x1, y1], [x2, y2]], base64.b64encode(buf.getvalue()).decode("ascii")
