"""COCO JSON out, a kit of coco.py: the categories, images and annotations of a dataset as
COCO dicts, built column-wise (_AnnColumns) and serialised in chunks so the writer's memory
stays bounded."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from itertools import repeat
from typing import Any

import numpy as np
import orjson

from ..core.dataset import Dataset
from ..core.geometry import polygon_area, rle_area, xyxy_to_xywh
from ..core.images import Images
from ._coco_annotations import _CHUNK


def _categories_out(ds: Dataset) -> list[dict]:
    """Categories as COCO dicts. A class whose objects have keypoints but that has no keypoint
    names gets kp0..kpK-1 and an empty skeleton: COCO keypoint tools (pycocotools, Datumaro,
    mmpose) expect both keys on a keypoint category."""
    out = [c.to_dict() for c in ds.categories]
    ann = ds.annotations
    if ann.keypoints is None:
        return out
    k = ann.keypoints.shape[1]
    with_kp = set(ann.category_id[ann.has_keypoints()].tolist())
    for d in out:
        if d["id"] in with_kp:
            d.setdefault("keypoints", [f"kp{j}" for j in range(k)])
            d.setdefault("skeleton", [])
    return out


def _document(head: dict, categories: list, ds: Dataset, rows: np.ndarray,
              ann_rows: np.ndarray, cols: _AnnColumns) -> Iterator[bytes]:
    """The bytes of one COCO file, as orjson.dumps(whole document) would give them, produced
    a chunk of records at a time: the records of 250,000 images never exist all at once."""
    yield orjson.dumps({**head, "categories": categories})[:-1] + b',"images":['
    yield from _joined([_image_dict(ds.images, r) for r in part.tolist()]
                       for part in _parts(rows))
    yield b'],"annotations":['
    yield from _joined(cols.records(part) for part in _parts(ann_rows))
    yield b"]}"


def _parts(rows: np.ndarray) -> Iterator[np.ndarray]:
    return (rows[i:i + _CHUNK] for i in range(0, len(rows), _CHUNK))


def _joined(chunks: Iterable[list[dict]]) -> Iterator[bytes]:
    """The JSON array items of the records (no brackets), comma-separated, a chunk at a time."""
    first = True
    for chunk in chunks:
        body = orjson.dumps(chunk, option=orjson.OPT_SERIALIZE_NUMPY)[1:-1]
        yield body if first else b"," + body
        first = False


def _key_order(doc: dict) -> list[str]:
    first = [k for k in ("info", "licenses") if k in doc]
    last = ["categories", "images", "annotations"]
    return first + [k for k in doc if k not in first and k not in last] + last


def _image_dict(images: Images, r: int) -> dict:
    d = {"id": int(images.id[r]), "file_name": images.file_name[r],
         "width": int(images.width[r]), "height": int(images.height[r])}
    for key, col in sorted(images.attrs.items()):
        if key.startswith("coco.") and col[r] is not None:
            d[key[5:]] = col[r]
    return d


class _AnnColumns:
    """The annotations as the numbers COCO writes, turned into Python values one chunk of
    records at a time (the values of 1.7 million boxes never exist at once).

    A dataset of plain boxes (no polygons, masks, keypoints, scores, tracks or COCO fields
    beyond area: what YOLO, VOC and most detection data hold) gets its records from these
    columns alone; anything else goes through `_ann_dict`, row by row.
    """

    def __init__(self, ds: Dataset):
        ann = ds.annotations
        self.ds = ds
        self.image_id = ds.images.id[ann.image_index]
        self.xywh = xyxy_to_xywh(ann.xyxy, wh_decimals=10)
        self.has_nan = np.isnan(ann.xyxy).any(axis=1)
        self.plain = (ann.polygons is None and ann.rle is None and ann.keypoints is None
                      and ann.score is None and ann.track_id is None
                      and not self.has_nan.any()
                      and all(k == "coco.area" or not k.startswith("coco.")
                              for k in ann.attrs))
        self.attribute_keys = sorted(k for k in ann.attrs if "." not in k)  # "attributes"

    def records(self, rows: np.ndarray) -> list[dict]:
        """The records of `rows`, one chunk."""
        ann = self.ds.annotations
        ids, image_ids = ann.id[rows].tolist(), self.image_id[rows].tolist()
        categories, xywh = ann.category_id[rows].tolist(), self.xywh[rows]
        boxes = [None if nan else box
                 for nan, box in zip(self.has_nan[rows].tolist(), _nums(xywh).tolist())]
        if not self.plain:
            return [_ann_dict(self.ds, i, d_id, im, c, box) for i, d_id, im, c, box
                    in zip(rows.tolist(), ids, image_ids, categories, boxes)]
        stored = ann.attrs.get("coco.area")
        area = [None] * len(rows) if stored is None else stored[rows].tolist()
        if any(a is None for a in area):
            wh = xywh[:, 2] * xywh[:, 3]  # the same products as of the written numbers
            computed = _nums(np.array(list(map(round, wh.tolist(), repeat(10))))).tolist()
            area = [c if a is None else a for a, c in zip(area, computed)]
        crowd = ([0] * len(rows) if ann.iscrowd is None
                 else ann.iscrowd[rows].astype(np.int64).tolist())
        keys = self.attribute_keys
        attributes = ([{k: v for k, v in zip(keys, values) if v is not None}
                       for values in zip(*(ann.attrs[k][rows].tolist() for k in keys))]
                      if keys else repeat(None))
        out = []
        for d_id, im, c, box, a, cr, attrs in zip(ids, image_ids, categories, boxes, area,
                                                   crowd, attributes):
            d = {"id": d_id, "image_id": im, "category_id": c, "segmentation": [],
                 "bbox": box, "area": a, "iscrowd": cr}
            if attrs:
                d["attributes"] = attrs
            out.append(d)
        return out


def _nums(values: np.ndarray) -> np.ndarray:
    """`_num` over a whole array: an object array of Python ints (whole values) and floats."""
    out = values.astype(object)
    whole = (values == np.floor(values)) & (np.abs(values) < 2**53)
    out[whole] = [int(v) for v in values[whole].tolist()]
    return out


def _ann_dict(ds: Dataset, i: int, ann_id: int, image_id: int, category_id: int,
              box: list | None) -> dict:
    ann = ds.annotations
    d: dict[str, Any] = {"id": ann_id, "image_id": image_id, "category_id": category_id}
    rings = ann.polygons.rings(i) if ann.polygons is not None else []
    rle = ann.rle[i] if ann.rle is not None else None
    if rle is not None:
        d["segmentation"] = rle
    else:
        d["segmentation"] = [_num_list(r.reshape(-1)) for r in rings]
    if box is not None:
        d["bbox"] = box
    area_col = ann.attrs.get("coco.area")  # not ann.attr(): that builds an n-row column per call
    stored_area = area_col[i] if area_col is not None else None
    if stored_area is not None:
        d["area"] = stored_area
    elif rle is not None:
        d["area"] = rle_area(rle)
    elif rings:
        d["area"] = _num(round(sum(polygon_area(r) for r in rings), 10))
    elif "bbox" in d:
        d["area"] = _num(round(d["bbox"][2] * d["bbox"][3], 10))
    d["iscrowd"] = int(ann.iscrowd[i]) if ann.iscrowd is not None else 0
    if ann.keypoints is not None and not np.isnan(ann.keypoints[i]).all():
        kp = ann.keypoints[i]
        kp = kp[~np.isnan(kp).all(axis=1)]
        d["keypoints"] = _num_list(kp.reshape(-1))
        nk_col = ann.attrs.get("coco.num_keypoints")
        stored = nk_col[i] if nk_col is not None else None
        d["num_keypoints"] = stored if stored is not None else int((kp[:, 2] > 0).sum())
    if ann.score is not None and not np.isnan(ann.score[i]):
        d["score"] = float(ann.score[i])
    if ann.track_id is not None and ann.track_id[i] >= 0:
        d["track_id"] = int(ann.track_id[i])
    plain = {k: col[i] for k, col in sorted(ann.attrs.items())
             if "." not in k and col[i] is not None}
    if plain:
        d["attributes"] = plain
    for key, col in sorted(ann.attrs.items()):
        if (key.startswith("coco.") and key not in ("coco.area", "coco.num_keypoints")
                and col[i] is not None):
            d[key[5:]] = col[i]
    return d


def _num(x: float) -> int | float:
    x = float(x)
    return int(x) if x.is_integer() and abs(x) < 2**53 else x


def _num_list(values: np.ndarray) -> list:
    return [_num(v) for v in values.tolist()]
