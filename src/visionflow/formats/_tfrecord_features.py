"""tf.train.Example features out, a kit of tfrecord.py: an image's features (the encoded
bytes, their format and EXIF orientation checked) and its objects' boxes, classes and
attributes, as the TF Object Detection API's create_*_tf_record scripts write them."""

from __future__ import annotations

import hashlib
import io
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..core.annotations import Annotations
from ..core.dataset import Dataset
from ..core.errors import MissingImageError
from .base import WriteContext


_BOX_KEYS = ("image/object/bbox/xmin", "image/object/bbox/ymin", "image/object/bbox/xmax",
             "image/object/bbox/ymax")
_INT_ATTRS = {"image/object/difficult": "difficult", "image/object/truncated": "truncated"}
_TEXT_ATTRS = {"image/object/view": "view"}
_FORMAT_EXT = {"jpeg": ".jpg", "jpg": ".jpg", "png": ".png", "gif": ".gif", "bmp": ".bmp",
               "webp": ".webp"}
_ROTATED = {2, 3, 4, 5, 6, 7, 8}


def _image_features(ds: Dataset, i: int, source_id: str, ctx: WriteContext,
                    stats: Counter) -> dict[str, Any]:
    imgs = ds.images
    encoded, fmt = b"", ""
    src = imgs.path[i]
    if ctx.images != "none":
        try:
            encoded = Path(src).read_bytes() if src is not None else None
        except OSError:
            encoded = None
        if encoded is None:
            ctx.fail(MissingImageError(src or imgs.file_name[i], "image file not found; pass "
                                       "--images none to write records without image bytes"))
            encoded = b""
        fmt = _sniff_format(encoded, str(imgs.file_name[i])) if encoded else ""
        if encoded and fmt not in ("jpeg", "png"):
            stats["other_format"] += 1
        if fmt == "jpeg" and _exif_rotated(encoded):
            stats["exif"] += 1
    return {
        "image/filename": [str(imgs.file_name[i]).encode("utf-8")],
        "image/source_id": [source_id.encode("utf-8")],
        "image/height": np.array([imgs.height[i]], np.int64),
        "image/width": np.array([imgs.width[i]], np.int64),
        "image/encoded": [encoded],
        "image/format": [fmt.encode("ascii")],
        "image/key/sha256": [hashlib.sha256(encoded).hexdigest().encode("ascii")
                             if encoded else b""],
    }


def _object_features(ds: Dataset, boxes: Annotations, rows: np.ndarray, i: int,
                     label_of: dict[int, int], names: dict[int, str], attr_names: list[str],
                     stats: Counter) -> dict[str, Any]:
    if len(rows) == 0:
        return {}
    w, h = float(ds.images.width[i]), float(ds.images.height[i])
    b = boxes.xyxy[rows]
    cids = boxes.category_id[rows]
    out: dict[str, Any] = {
        "image/object/bbox/xmin": (b[:, 0] / w).astype(np.float32),
        "image/object/bbox/ymin": (b[:, 1] / h).astype(np.float32),
        "image/object/bbox/xmax": (b[:, 2] / w).astype(np.float32),
        "image/object/bbox/ymax": (b[:, 3] / h).astype(np.float32),
        "image/object/class/text": [names[int(c)].encode("utf-8") for c in cids],
        "image/object/class/label": np.array([label_of[int(c)] for c in cids], np.int64),
    }
    if boxes.iscrowd is not None:
        out["image/object/is_crowd"] = boxes.iscrowd[rows].astype(np.int64)
    for name in attr_names:
        values = boxes.attrs[name][rows]
        if all(v is None for v in values):
            continue
        if name == "view":
            out["image/object/view"] = [("" if v is None else str(v)).encode("utf-8")
                                        for v in values]
            continue
        ints = []
        for v in values:
            try:
                ints.append(0 if v is None else int(v))
            except (TypeError, ValueError):
                stats["bad_attr"] += 1
                ints.append(0)
        out[f"image/object/{name}"] = np.array(ints, np.int64)
    return out


def _sniff_format(data: bytes, name: str) -> str:
    if data[:3] == b"\xff\xd8\xff":
        return "jpeg"
    if data[:8] == b"\x89PNG\r\n\x1a\n":
        return "png"
    if data[:4] == b"GIF8":
        return "gif"
    if data[:2] == b"BM":
        return "bmp"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    suffix = Path(name).suffix.lower().lstrip(".")
    return "jpeg" if suffix == "jpg" else suffix


def _exif_rotated(data: bytes) -> bool:
    if b"Exif" not in data[:65536]:
        return False
    try:
        with Image.open(io.BytesIO(data)) as im:
            return im.getexif().get(0x0112, 1) in _ROTATED
    except Exception:  # noqa: BLE001 - a broken EXIF block only means no rotation to report
        return False
