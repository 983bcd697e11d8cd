"""Dataset <-> Arrow table (and pandas): one row per annotation, for notebooks.

Columns, in order: image_index (the image's row), image_id, file_name, split, width, height,
path, one "image.<attr>" column per image attribute; then annotation_id, category_id,
category (the class name, for reading; ignored on the way back), xyxy (list<double>[4]) and,
only where the dataset has them, iscrowd, score, track_id, polygons (list of rings of [x, y]),
polylines (list of open paths of [x, y]), rle (COCO RLE as JSON text), keypoints (list of [x, y, v]), obb (4 [x, y] corners), and one
"attr.<name>" column per annotation attribute. Rows follow the annotation table's order; each
image without annotations adds one row at the end with null annotation columns.

Attribute columns keep Arrow types where Arrow gives every value back unchanged, else hold JSON
text (listed in the metadata). The categories and those choices travel in the schema metadata
key b"visionflow", so `from_arrow(to_arrow(ds))` is `ds` exactly.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import orjson

from ..core.annotations import Annotations, Polygons, Polylines
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import Error
from ..core.images import Images

_KEY = b"visionflow"


def _pa():
    try:
        import pyarrow as pa
    except ImportError:
        raise Error("Dataset.to_arrow needs pyarrow: pip install 'visionflow[hf]'") from None
    return pa


def to_arrow(ds: Dataset) -> Any:
    pa = _pa()
    imgs, ann = ds.images, ds.annotations
    n_img = len(imgs)
    bare = np.setdiff1d(np.arange(n_img), ann.image_index)  # images without annotations
    img_rows = np.concatenate([ann.image_index, bare]).astype(np.int64)
    n_ann, n = len(ann), len(img_rows)
    json_cols: list[str] = []
    cols: dict[str, Any] = {
        "image_index": pa.array(img_rows, pa.int64()),
        "image_id": pa.array(imgs.id[img_rows], pa.int64()),
        "file_name": pa.array(imgs.file_name[img_rows].tolist(), pa.string()),
        "split": pa.array(imgs.split[img_rows].tolist(), pa.string()),
        "width": pa.array(imgs.width[img_rows], pa.int64()),
        "height": pa.array(imgs.height[img_rows], pa.int64()),
        "path": pa.array(imgs.path[img_rows].tolist(), pa.string()),
    }
    for key, col in sorted(imgs.attrs.items()):
        cols[f"image.{key}"] = _values(col[img_rows].tolist(), f"image.{key}", json_cols)
    valid = np.arange(n) < n_ann
    pad = lambda arr, fill: np.concatenate([arr, np.full((n - n_ann,) + arr.shape[1:], fill,
                                                         arr.dtype)])
    mask = ~valid
    cols["annotation_id"] = pa.array(pad(ann.id, 0), pa.int64(), mask=mask)
    cols["category_id"] = pa.array(pad(ann.category_id, 0), pa.int64(), mask=mask)
    names = np.array(ds.categories.names + [None], dtype=object)
    cols["category"] = pa.array(names[ds.class_index(ann.category_id)].tolist()
                                + [None] * (n - n_ann), pa.string())
    cols["xyxy"] = _fixed(pa, pad(ann.xyxy, np.nan).reshape(-1), 4, mask)
    if ann.iscrowd is not None:
        cols["iscrowd"] = pa.array(pad(ann.iscrowd, False), pa.bool_(), mask=mask)
    if ann.score is not None:
        cols["score"] = pa.array(pad(ann.score, np.nan), pa.float64(), mask=mask)
    if ann.track_id is not None:
        cols["track_id"] = pa.array(pad(ann.track_id, -1), pa.int64(), mask=mask)
    for name in ("polygons", "polylines"):  # ragged: list (object) of lists (ring/path)
        p = getattr(ann, name)
        if p is None:
            continue
        pts = _fixed(pa, p.coords.reshape(-1), 2, None)
        rings = pa.ListArray.from_arrays(pa.array(p.ring_offsets, pa.int32()), pts)
        offsets = np.concatenate([p.object_offsets, np.full(n - n_ann, p.object_offsets[-1])])
        cols[name] = pa.ListArray.from_arrays(pa.array(offsets, pa.int32()), rings,
                                              mask=pa.array(mask))
    if ann.rle is not None:
        cols["rle"] = pa.array([None if r is None else orjson.dumps(r).decode()
                                for r in ann.rle] + [None] * (n - n_ann), pa.string())
    if ann.keypoints is not None:
        k = ann.keypoints.shape[1]
        pts = _fixed(pa, pad(ann.keypoints, np.nan).reshape(-1), 3, None)
        cols["keypoints"] = pa.ListArray.from_arrays(
            pa.array(np.arange(n + 1) * k, pa.int32()), pts, mask=pa.array(mask))
    if ann.obb is not None:
        pts = _fixed(pa, pad(ann.obb, np.nan).reshape(-1), 2, None)
        cols["obb"] = pa.FixedSizeListArray.from_arrays(pts, 4, mask=pa.array(mask))
    for key, col in sorted(ann.attrs.items()):
        cols[f"attr.{key}"] = _values(col.tolist() + [None] * (n - n_ann), f"attr.{key}",
                                      json_cols)
    meta = {"categories": [c.to_dict() for c in ds.categories], "json_columns": json_cols,
            "keypoints": None if ann.keypoints is None else int(ann.keypoints.shape[1]),
            "images": n_img, "annotations": n_ann}
    table = pa.table(cols)
    return table.replace_schema_metadata({_KEY: orjson.dumps(meta)})


def _fixed(pa, flat: np.ndarray, size: int, mask: np.ndarray | None) -> Any:
    values = pa.array(np.ascontiguousarray(flat, np.float64), pa.float64())
    return pa.FixedSizeListArray.from_arrays(
        values, size, mask=None if mask is None else pa.array(mask))


def _values(values: list, name: str, json_cols: list[str]) -> Any:
    """An Arrow column that gives every value back as it was (same types), else JSON text."""
    pa = _pa()
    try:
        arr = pa.array(values)
        if _same(arr.to_pylist(), values):
            return arr
    except (pa.ArrowException, TypeError, ValueError, OverflowError):
        pass
    json_cols.append(name)
    try:
        return pa.array([None if v is None else orjson.dumps(v).decode() for v in values],
                        pa.string())
    except TypeError as e:
        raise Error(f"column {name}: a value cannot be stored in Arrow or JSON ({e})") from None


def _same(a: Any, b: Any) -> bool:
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, float) and np.isnan(a):
        return bool(np.isnan(b))
    return a == b


def to_pandas(ds: Dataset) -> Any:
    try:
        import pandas  # noqa: F401
    except ImportError:
        raise Error("Dataset.to_pandas needs pandas: pip install pandas") from None
    table = to_arrow(ds)
    df = table.to_pandas()
    df.attrs["visionflow"] = table.schema.metadata[_KEY].decode()
    return df


def from_arrow(table: Any) -> Dataset:
    """A Dataset from what `to_arrow` / `to_pandas` made (or a table with the same columns:
    file_name, width, height and category_id at least; categories from category_id and
    category when the metadata is gone)."""
    pa = _pa()
    meta_raw = None
    if type(table).__module__.startswith("pandas"):
        meta_raw = table.attrs.get("visionflow")
        table = pa.Table.from_pandas(table, preserve_index=False)
    elif not isinstance(table, pa.Table):
        raise Error(f"from_arrow takes a pyarrow Table or a pandas DataFrame, not "
                    f"{type(table).__name__}")
    meta_raw = meta_raw or (table.schema.metadata or {}).get(_KEY)
    try:
        meta = orjson.loads(meta_raw) if meta_raw else {}
    except orjson.JSONDecodeError:
        raise Error("from_arrow: the table's visionflow metadata is not valid JSON") from None
    names = set(table.column_names)
    missing = [c for c in ("file_name", "width", "height", "category_id") if c not in names]
    if missing:
        raise Error(f"from_arrow: the table has no {', '.join(missing)} column "
                    "(expected the columns Dataset.to_arrow writes)")
    json_cols = set(meta.get("json_columns") or ())
    col = lambda name: table.column(name).to_pylist()
    n = table.num_rows
    cat_ids = col("category_id")
    is_ann = np.array([c is not None for c in cat_ids], bool)
    # images: one per image_index (else per split + file name), in that order
    if "image_index" in names:
        keys = col("image_index")
    else:
        keys = list(zip(col("split") if "split" in names else [""] * n, col("file_name")))
    first: dict[Any, int] = {}
    for r, k in enumerate(keys):
        first.setdefault(k, r)
    ordered = sorted(first) if "image_index" in names else list(first)
    rows = np.array([first[k] for k in ordered], np.int64)
    row_of = {k: i for i, k in enumerate(ordered)}
    take = lambda values: [values[r] for r in rows]
    attrs = {}
    for name in table.column_names:
        if name.startswith("image."):
            attrs[name[6:]] = _decoded(take(col(name)), name in json_cols)
    split = take(col("split")) if "split" in names else [""] * len(rows)
    images = Images.build(take(col("file_name")), take(col("width")), take(col("height")),
                          id=take(col("image_id")) if "image_id" in names else None,
                          split=[s or "" for s in split],
                          path=take(col("path")) if "path" in names else None, attrs=attrs)
    sel = np.flatnonzero(is_ann)
    pick = lambda name: [v for v, a in zip(col(name), is_ann) if a]
    image_index = [row_of[keys[r]] for r in sel]
    xyxy = np.array([[np.nan] * 4 if v is None else v for v in pick("xyxy")], np.float64
                    ).reshape(-1, 4) if "xyxy" in names else np.full((len(sel), 4), np.nan)
    extra: dict[str, Any] = {}
    if "iscrowd" in names:
        extra["iscrowd"] = np.array(pick("iscrowd"), bool)
    if "score" in names:
        extra["score"] = np.array([np.nan if v is None else v for v in pick("score")],
                                  np.float64)
    if "track_id" in names:
        extra["track_id"] = np.array([-1 if v is None else v for v in pick("track_id")],
                                     np.int64)
    for name, ragged in (("polygons", Polygons), ("polylines", Polylines)):
        if name in names:
            extra[name] = ragged.from_lists([
                [np.asarray(ring, np.float64).reshape(-1, 2) for ring in (obj or [])]
                for obj in pick(name)])
    if "rle" in names:
        rle = np.empty(len(sel), object)
        rle[:] = [None if v is None else orjson.loads(v) for v in pick("rle")]
        extra["rle"] = rle
    if "keypoints" in names:
        k = meta.get("keypoints")
        values = pick("keypoints")
        k = k if isinstance(k, int) else max((len(v) for v in values if v), default=0)
        kp = np.full((len(sel), k, 3), np.nan)
        for j, v in enumerate(values):
            if v:
                kp[j, :len(v)] = np.asarray(v, np.float64).reshape(-1, 3)
        extra["keypoints"] = kp
    if "obb" in names:
        extra["obb"] = np.array([[[np.nan] * 2] * 4 if v is None else v for v in pick("obb")],
                                np.float64).reshape(-1, 4, 2)
    ann_attrs = {}
    for name in table.column_names:
        if name.startswith("attr."):
            ann_attrs[name[5:]] = _objects(_decoded(pick(name), name in json_cols))
    if ann_attrs:
        extra["attrs"] = ann_attrs
    ann = Annotations.build(image_index, [cat_ids[r] for r in sel], xyxy,
                            id=pick("annotation_id") if "annotation_id" in names else None,
                            **extra)
    if isinstance(meta.get("categories"), list):
        cats = Categories(Category.from_dict(c) for c in meta["categories"])
    else:
        pairs = dict(zip([cat_ids[r] for r in sel], pick("category") if "category" in names
                         else [None] * len(sel)))
        cats = Categories(Category(int(i), str(pairs[i] if pairs[i] is not None else i))
                          for i in sorted(pairs))
    return Dataset(images, ann, cats)


def _decoded(values: list, is_json: bool) -> list:
    return [orjson.loads(v) if is_json and v is not None else v for v in values]


def _objects(values: list) -> np.ndarray:
    out = np.empty(len(values), object)
    out[:] = values
    return out
