"""A Dataset as stored: one model blob plus the per-image rows and summaries SQLite indexes.

- model blob: zlib-compressed `formats.native.dumps(ds)`, the lossless canonical model
  (every column, polygon, attribute and class). Decompressed, it is a valid visionflow.json.
- per image: content hash of the file, and the hash of its annotations (an "annset": class id,
  xyxy and a 64-bit fingerprint of every other geometry column, packed as bytes).
- summary: Dataset.info(), computed once so that `version list/show` never open a blob.
- fingerprint: the model blob hash and every image hash, in order: equal fingerprints mean
  byte-identical datasets, images included.
"""

from __future__ import annotations

import hashlib
import zlib
from dataclasses import dataclass

import numpy as np
import orjson

from ..core.annotations import Annotations
from ..core.dataset import Dataset
from ..formats import native

ZLIB_LEVEL = 3  # ~3x faster than the default 6 on big JSON, ~10% larger
ANNSET = np.dtype([("category_id", "<i8"), ("xyxy", "<f8", (4,)), ("extra", "<u8")])
_M1, _M2 = np.uint64(0xFF51AFD7ED558CCD), np.uint64(0xC4CEB9FE1A85EC53)
_GOLD = np.uint64(0x9E3779B97F4A7C15)


@dataclass
class Snapshot:
    model: bytes                     # compressed model blob
    model_sha256: str
    fingerprint: str
    image_rows: list[tuple]          # (row, split, file_name, sha, w, h, ann_hash, n, attrs)
    image_index: bytes               # INDEX records sorted by name hash (see db.py)
    annsets: dict[str, tuple[int, bytes]]
    categories: list[dict]
    summary: dict
    n_images: int
    n_annotations: int


def build(ds: Dataset, image_shas: list[str]) -> Snapshot:
    model = encode_model(ds)
    model_sha = hashlib.sha256(model).hexdigest()
    ann_hashes, counts, annsets = _annsets(ds)
    im = ds.images
    attrs = _image_attrs(ds)
    rows = list(zip(range(len(im)), im.split.tolist(), im.file_name.tolist(), image_shas,
                    im.width.tolist(), im.height.tolist(), ann_hashes, counts.tolist(), attrs))
    fp = hashlib.sha256(model_sha.encode())
    fp.update("\n".join(image_shas).encode())
    index = build_index(im.split.tolist(), im.file_name.tolist(), image_shas, ann_hashes)
    return Snapshot(model, model_sha, fp.hexdigest(), rows, index, annsets,
                    [c.to_dict() for c in ds.categories], summarize(ds), len(im),
                    len(ds.annotations))


INDEX = np.dtype([("key", "<u8"), ("content", "<u8"), ("row", "<i8")])


def build_index(splits: list[str], names: list[str], shas: list[str], ann_hashes: list[str],
                ) -> bytes:
    blake = hashlib.blake2b
    rec = np.empty(len(names), INDEX)
    rec["key"] = [int.from_bytes(blake(f"{s}\0{n}".encode(), digest_size=8).digest(), "little")
                  for s, n in zip(splits, names)]
    rec["content"] = [int(sha[:16], 16) ^ int(a[:16], 16) for sha, a in zip(shas, ann_hashes)]
    rec["row"] = np.arange(len(names))
    return np.sort(rec, order="key").tobytes()


def decode_index(data: bytes) -> np.ndarray:
    return np.frombuffer(data, INDEX)


def encode_model(ds: Dataset) -> bytes:
    return zlib.compress(native.dumps(ds), ZLIB_LEVEL)


def decode_model(blob: bytes, where: str) -> Dataset:
    return native.loads(zlib.decompress(blob), where=where)


def summarize(ds: Dataset) -> dict:
    info = ds.info()
    info.pop("format", None)
    return info


def decode_annset(data: bytes) -> np.ndarray:
    return np.frombuffer(data, ANNSET)


def _annsets(ds: Dataset) -> tuple[list[str], np.ndarray, dict[str, tuple[int, bytes]]]:
    ann, n_images = ds.annotations, len(ds.images)
    order = np.argsort(ann.image_index, kind="stable")
    rec = np.empty(len(ann), ANNSET)
    rec["category_id"] = ann.category_id[order]
    xyxy = ann.xyxy[order]
    rec["xyxy"] = np.where(np.isnan(xyxy), np.nan, xyxy)  # one NaN bit pattern
    rec["extra"] = row_fingerprints(ann)[order]
    buf = rec.tobytes()
    counts = np.bincount(ann.image_index, minlength=n_images)
    ends = (np.cumsum(counts) * ANNSET.itemsize).tolist()
    hashes: list[str] = []
    store: dict[str, tuple[int, bytes]] = {}
    start = 0
    blake = hashlib.blake2b
    for end, n in zip(ends, counts.tolist()):
        data = buf[start:end]
        h = blake(data, digest_size=16).hexdigest()
        hashes.append(h)
        if h not in store:
            store[h] = (n, data)
        start = end
    return hashes, counts, store


def _image_attrs(ds: Dataset) -> list[str | None]:
    im = ds.images
    if not im.attrs:
        return [None] * len(im)
    keys = sorted(im.attrs)
    out: list[str | None] = []
    for i in range(len(im)):
        d = {k: im.attrs[k][i] for k in keys if im.attrs[k][i] is not None}
        out.append(orjson.dumps(d, option=orjson.OPT_SERIALIZE_NUMPY).decode() if d else None)
    return out


# -- per-annotation fingerprint of everything but class and box ---------------------------------

def row_fingerprints(ann: Annotations) -> np.ndarray:
    """(n,) uint64: 0 for a row with nothing but class and box, else a hash of its polygon,
    mask, keypoints, oriented box, score, track id, crowd flag and attributes. Diffs use it to
    tell "same box, edited polygon" from "unchanged"."""
    n = len(ann)
    h = np.zeros(n, np.uint64)
    if n == 0:
        return h
    with np.errstate(over="ignore"):
        if ann.iscrowd is not None:
            h = _fold(h, ann.iscrowd.astype(np.uint64), 1)
        if ann.score is not None:
            h = _fold(h, _float_bits(ann.score), 2)
        if ann.track_id is not None:
            h = _fold(h, ann.track_id.astype(np.int64).view(np.uint64), 3)
        for salt, col in ((4, ann.obb), (5, ann.keypoints)):
            if col is not None:
                bits = _float_bits(col.reshape(n, -1))
                for j in range(bits.shape[1]):
                    h = _fold(h, bits[:, j], salt * 1000 + j)
        if ann.polygons is not None and len(ann.polygons.coords):
            h = _fold(h, _polygon_words(ann.polygons), 6)
        if ann.polylines is not None and len(ann.polylines.coords):
            h = _fold(h, _polygon_words(ann.polylines), 100)
        objects = [(7, ann.rle)] + [(8 + i, ann.attrs[k]) for i, k in enumerate(sorted(ann.attrs))]
        for salt, col in objects:
            if col is None:
                continue
            h = _fold(h, _object_words(col), salt)
        if ann.attrs:
            names = hashlib.blake2b("\0".join(sorted(ann.attrs)).encode(), digest_size=8)
            h = _fold(h, np.full(n, int.from_bytes(names.digest(), "little"), np.uint64), 99)
    return h


def _object_words(col: np.ndarray) -> np.ndarray:
    """One word per value of an object column: numbers vectorized (None as NaN), anything
    else (dicts, strings, lists) hashed from its sorted JSON."""
    values = col.tolist()
    numeric = (int, float, bool, type(None))
    if all(type(v) in numeric for v in values):
        nums = np.array([np.nan if v is None else v for v in values], dtype=np.float64)
        return _float_bits(nums) ^ np.uint64(0x5BD1E995)
    words = np.zeros(len(values), np.uint64)
    for i, v in enumerate(values):
        if v is not None:
            words[i] = int.from_bytes(hashlib.blake2b(orjson.dumps(
                v, option=orjson.OPT_SORT_KEYS | orjson.OPT_SERIALIZE_NUMPY),
                digest_size=8).digest(), "little")
    return words


def _polygon_words(p) -> np.ndarray:
    n = len(p)
    start = p.ring_offsets[p.object_offsets[:-1]]
    end = p.ring_offsets[p.object_offsets[1:]]
    sizes = end - start
    obj = np.repeat(np.arange(n), sizes)
    pos = (np.arange(len(p.coords)) - start[obj]).astype(np.uint64)
    bits = _float_bits(p.coords)
    w = _mix(_mix(bits[:, 0] + pos * _GOLD) ^ bits[:, 1])
    sums = np.zeros(n, np.uint64)
    nonempty = sizes > 0
    if nonempty.any():
        sums[nonempty] = np.add.reduceat(w, start[nonempty])
    rings = np.diff(p.object_offsets).astype(np.uint64)
    return _mix(sums ^ _mix(sizes.astype(np.uint64) + rings * _GOLD))


def _float_bits(a: np.ndarray) -> np.ndarray:
    a = np.where(np.isnan(a), np.nan, np.asarray(a, np.float64))
    return np.ascontiguousarray(a).view(np.uint64)


def _mix(x: np.ndarray) -> np.ndarray:
    x = x ^ (x >> np.uint64(33))
    x = x * _M1
    x = x ^ (x >> np.uint64(33))
    x = x * _M2
    return x ^ (x >> np.uint64(33))


def _fold(h: np.ndarray, words: np.ndarray, salt: int) -> np.ndarray:
    return _mix(h * _GOLD + _mix(words.astype(np.uint64) + np.uint64(salt) * _M2))
