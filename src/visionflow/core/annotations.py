"""Annotations held column-wise: one numpy array per field, never one object per box.

A dataset of 2 million boxes is a handful of arrays. `ann[index_or_mask]` slices every column
at once, so a transform that drops boxes drops their labels, polygons and attributes with them.
Operations return new objects; nothing mutates in place.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from .geometry import points_bounds
from .images import as_int64


@dataclass(frozen=True, eq=False)
class Polygons:
    """Ragged polygons: each object has zero or more rings, each ring some (x, y) vertices.

    coords (m, 2) holds every vertex; ring_offsets (r+1,) cuts coords into rings;
    object_offsets (n+1,) cuts rings into objects.
    """

    coords: np.ndarray
    ring_offsets: np.ndarray
    object_offsets: np.ndarray

    def __post_init__(self) -> None:
        for name in ("coords", "ring_offsets", "object_offsets"):
            _contiguous(self, name, getattr(self, name))

    @classmethod
    def empty(cls, n: int) -> Polygons:
        return cls(np.zeros((0, 2)), np.zeros(1, np.int64), np.zeros(n + 1, np.int64))

    @classmethod
    def from_lists(cls, objects: Sequence[Sequence[np.ndarray]]) -> Polygons:
        """Build from a list (per object) of lists (per ring) of (k, 2) arrays."""
        ring_sizes: list[int] = []
        rings_per_object = np.zeros(len(objects) + 1, np.int64)
        chunks: list[np.ndarray] = []
        for i, rings in enumerate(objects):
            rings_per_object[i + 1] = len(rings)
            for ring in rings:
                ring = np.asarray(ring, dtype=np.float64).reshape(-1, 2)
                chunks.append(ring)
                ring_sizes.append(len(ring))
        coords = np.concatenate(chunks) if chunks else np.zeros((0, 2))
        ring_offsets = np.concatenate([[0], np.cumsum(ring_sizes, dtype=np.int64)]).astype(np.int64)
        return cls(coords, ring_offsets, np.cumsum(rings_per_object).astype(np.int64))

    def __len__(self) -> int:
        return len(self.object_offsets) - 1

    def rings(self, i: int) -> list[np.ndarray]:
        r0, r1 = self.object_offsets[i], self.object_offsets[i + 1]
        return [self.coords[self.ring_offsets[r]:self.ring_offsets[r + 1]] for r in range(r0, r1)]

    def counts(self) -> np.ndarray:
        """Number of rings per object."""
        return np.diff(self.object_offsets)

    def take(self, index: np.ndarray) -> Polygons:
        """The objects at `index` (any order, repeats allowed), in whole-array operations."""
        index = np.asarray(index).reshape(-1)
        index = np.arange(len(self))[index]  # masks and negative indices as numpy reads them
        r0 = self.object_offsets[index]
        rings = ranges(r0, self.object_offsets[index + 1] - r0)
        c0 = self.ring_offsets[rings]
        sizes = self.ring_offsets[rings + 1] - c0
        return Polygons(self.coords[ranges(c0, sizes)], _offsets(sizes),
                        _offsets(self.object_offsets[index + 1] - r0))

    def to_lists(self) -> list[list[np.ndarray]]:
        return [self.rings(i) for i in range(len(self))]

    def bounds(self, i: int) -> np.ndarray:
        r0, r1 = self.object_offsets[i], self.object_offsets[i + 1]
        pts = self.coords[self.ring_offsets[r0]:self.ring_offsets[r1]]
        return points_bounds(pts) if len(pts) else np.full(4, np.nan)

    def equals(self, other: Polygons, atol: float = 0.0) -> bool:
        return (np.array_equal(self.object_offsets, other.object_offsets)
                and np.array_equal(self.ring_offsets, other.ring_offsets)
                and _close(self.coords, other.coords, atol))

    @staticmethod
    def concat(parts: Sequence[Polygons]) -> Polygons:
        if not parts:
            return Polygons.empty(0)
        return Polygons(
            np.concatenate([p.coords for p in parts]).reshape(-1, 2),
            _offsets(np.concatenate([np.diff(p.ring_offsets) for p in parts])),
            _offsets(np.concatenate([np.diff(p.object_offsets) for p in parts])))


def _offsets(sizes: np.ndarray) -> np.ndarray:
    """[0, s0, s0+s1, ...]: the offsets that cut a flat array into pieces of these sizes."""
    out = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=out[1:])
    return out


def ranges(starts: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The concatenation of arange(s, s + n) for each (s, n), without a Python loop."""
    sizes = np.asarray(sizes, np.int64)
    total = int(sizes.sum())
    if not total:
        return np.zeros(0, np.int64)
    ends = np.cumsum(sizes)
    shift = np.repeat(np.asarray(starts, np.int64) - (ends - sizes), sizes)
    return np.arange(total, dtype=np.int64) + shift


def _close(a: np.ndarray, b: np.ndarray, atol: float) -> bool:
    if a.shape != b.shape:
        return False
    if atol == 0:
        return bool(np.array_equal(a, b, equal_nan=True))
    return bool(np.allclose(a, b, atol=atol, rtol=0, equal_nan=True))


_OPTIONAL_ARRAYS = ("iscrowd", "score", "track_id", "keypoints", "obb", "rle")


@dataclass(frozen=True, eq=False)
class Annotations:
    """n annotations as columns. Optional columns are None when no row has them.

    image_index: (n,) int64 row in the dataset's Images table.
    category_id: (n,) int64 id in the dataset's Categories.
    id:          (n,) int64 annotation id (the source's, or 1..n when it has none).
    xyxy:        (n, 4) float64 box in absolute pixels (all NaN for an image-level label).
    iscrowd:     (n,) bool.            score:    (n,) float64 (NaN = none).
    track_id:    (n,) int64 (-1 = none).
    polygons:    Polygons (objects without a polygon have no rings).
    rle:         (n,) object of COCO RLE dicts or None.
    keypoints:   (n, K, 3) float64, rows without keypoints all NaN.
    obb:         (n, 4, 2) float64, rows without an oriented box all NaN.
    attrs:       name -> (n,) object array of per-annotation extras (None = absent).
                 Format leftovers are namespaced: "voc.pose", "cvat.z_order".
    """

    image_index: np.ndarray
    category_id: np.ndarray
    id: np.ndarray
    xyxy: np.ndarray
    iscrowd: np.ndarray | None = None
    score: np.ndarray | None = None
    track_id: np.ndarray | None = None
    polygons: Polygons | None = None
    rle: np.ndarray | None = None
    keypoints: np.ndarray | None = None
    obb: np.ndarray | None = None
    attrs: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.image_index)
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "attrs":
                for key, col in v.items():
                    if len(col) != n:
                        raise ValueError(f"attrs[{key!r}] has {len(col)} rows, expected {n}")
            elif v is not None and len(v) != n:
                raise ValueError(f"column {f.name} has {len(v)} rows, expected {n}")
            else:
                _contiguous(self, f.name, v)

    @classmethod
    def empty(cls) -> Annotations:
        return cls(np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64),
                   np.zeros((0, 4)))

    @classmethod
    def build(cls, image_index: Sequence[int], category_id: Sequence[int], xyxy: Any, *,
              id: Sequence[int] | None = None, **columns: Any) -> Annotations:
        """Convenience constructor from plain sequences (used by readers and tests)."""
        image_index = np.asarray(image_index, dtype=np.int64).reshape(-1)
        n = len(image_index)
        ids = np.arange(1, n + 1, dtype=np.int64) if id is None else as_int64(id, "id")
        return cls(image_index, as_int64(category_id, "category id").reshape(-1), ids,
                   np.asarray(xyxy, dtype=np.float64).reshape(n, 4), **columns)

    @classmethod
    def from_objects(cls, image_index: Sequence[int], category_id: Sequence[int], xyxy: Any, *,
                     rings: Sequence[Sequence[np.ndarray]] | None = None,
                     rle: Sequence[dict | None] | None = None,
                     obb: Sequence[np.ndarray | None] | None = None,
                     attrs: Sequence[dict[str, Any]] | None = None) -> Annotations:
        """From per-object values, as readers of tools that list objects one by one have them.

        rings, rle and obb hold one entry per object ([] or None where it has none); attrs one
        dict per object. A column that no object uses stays None.
        """
        n = len(image_index)
        columns: dict[str, Any] = {}
        if rings is not None and any(len(r) for r in rings):
            columns["polygons"] = Polygons.from_lists(rings)
        if rle is not None and any(r is not None for r in rle):
            columns["rle"] = _objects(rle)
        if obb is not None and any(o is not None for o in obb):
            filled = np.full((n, 4, 2), np.nan)
            for j, o in enumerate(obb):
                if o is not None:
                    filled[j] = o
            columns["obb"] = filled
        if attrs is not None:
            keys = dict.fromkeys(k for a in attrs for k in a)
            columns["attrs"] = {k: _objects([a.get(k) for a in attrs]) for k in keys}
        return cls.build(image_index, category_id, np.asarray(xyxy, np.float64).reshape(n, 4),
                         **columns)

    def __len__(self) -> int:
        return len(self.image_index)

    def __getitem__(self, index: Any) -> Annotations:
        """Slice every column at once (integer array, slice or boolean mask)."""
        if isinstance(index, slice):
            index = np.arange(len(self))[index]
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        index = index.astype(np.int64)
        cols: dict[str, Any] = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "attrs":
                cols["attrs"] = {k: c[index] for k, c in v.items()}
            elif v is None:
                cols[f.name] = None
            elif isinstance(v, Polygons):
                cols[f.name] = v.take(index)
            else:
                cols[f.name] = v[index]
        return Annotations(**cols)

    def replace(self, **changes: Any) -> Annotations:
        return replace(self, **changes)

    @property
    def is_label(self) -> np.ndarray:
        """Rows that are image-level labels (classification), not objects."""
        return np.isnan(self.xyxy).all(axis=1)

    def has_polygon(self) -> np.ndarray:
        return np.zeros(len(self), bool) if self.polygons is None else self.polygons.counts() > 0

    def has_rle(self) -> np.ndarray:
        if self.rle is None:
            return np.zeros(len(self), bool)
        return np.fromiter((r is not None for r in self.rle), bool, len(self))

    def has_keypoints(self) -> np.ndarray:
        if self.keypoints is None:
            return np.zeros(len(self), bool)
        return ~np.isnan(self.keypoints).all(axis=(1, 2))

    def has_obb(self) -> np.ndarray:
        if self.obb is None:
            return np.zeros(len(self), bool)
        return ~np.isnan(self.obb).all(axis=(1, 2))

    def geometry_counts(self) -> dict[str, int]:
        """How many rows carry each kind of geometry."""
        labels = self.is_label
        counts = {
            "boxes": int((~labels).sum()),
            "labels": int(labels.sum()),
            "polygons": int(self.has_polygon().sum()),
            "masks": int(self.has_rle().sum()),
            "keypoints": int(self.has_keypoints().sum()),
            "oriented_boxes": int(self.has_obb().sum()),
        }
        return {k: v for k, v in counts.items() if v}

    def attr(self, name: str) -> np.ndarray:
        """An attrs column, or all-None when absent."""
        col = self.attrs.get(name)
        return col if col is not None else np.full(len(self), None, dtype=object)

    def equals(self, other: Annotations, atol: float = 0.0) -> bool:
        return not self.differences(other, atol)

    def column(self, name: str) -> Any:
        """A column with absence spelled out (all-NaN, -1, False or None rows), so that a
        missing optional column equals one that holds only "nothing" values."""
        v = getattr(self, name)
        if v is not None:
            return v
        if name == "polygons":
            return Polygons.empty(len(self))
        if name == "keypoints":
            return np.full((len(self), 0, 3), np.nan)
        return _absent(name, len(self))

    def differences(self, other: Annotations, atol: float = 0.0) -> list[str]:
        """Names of the columns that differ (empty when equal)."""
        out: list[str] = []
        if len(self) != len(other):
            return [f"length {len(self)} != {len(other)}"]
        for f in fields(self):
            if f.name == "attrs":
                for key in sorted(set(self.attrs) | set(other.attrs)):
                    if list(self.attr(key)) != list(other.attr(key)):
                        out.append(f"attrs[{key!r}]")
                continue
            a, b = self.column(f.name), other.column(f.name)
            if isinstance(a, Polygons):
                if not a.equals(b, atol):
                    out.append(f.name)
            elif a.dtype == object or b.dtype == object:
                if list(a) != list(b):
                    out.append(f.name)
            elif f.name == "keypoints":
                if not _same_keypoints(a, b, atol):
                    out.append(f.name)
            else:
                tol = atol if f.name in ("xyxy", "obb") else 0.0
                if not _close(a, b, tol):
                    out.append(f.name)
        return out

    @staticmethod
    def concat(parts: Sequence[Annotations]) -> Annotations:
        """Stack annotation tables; optional columns absent in some parts are filled."""
        parts = [p for p in parts if len(p)] or list(parts[:1]) or [Annotations.empty()]
        if len(parts) == 1:
            return parts[0]
        n = [len(p) for p in parts]
        cols: dict[str, Any] = {}
        for name in ("image_index", "category_id", "id", "xyxy"):
            cols[name] = np.concatenate([getattr(p, name) for p in parts])
        for name in _OPTIONAL_ARRAYS:
            present = [getattr(p, name) for p in parts]
            if all(v is None for v in present):
                cols[name] = None
                continue
            if name == "keypoints":
                k = max(v.shape[1] for v in present if v is not None)
                filled = []
                for v, m in zip(present, n):
                    block = np.full((m, k, 3), np.nan)
                    if v is not None:
                        block[:, :v.shape[1]] = v
                    filled.append(block)
                cols[name] = np.concatenate(filled)
            else:
                cols[name] = np.concatenate([
                    v if v is not None else _absent(name, m) for v, m in zip(present, n)])
        if any(p.polygons is not None for p in parts):
            cols["polygons"] = Polygons.concat(
                [p.polygons if p.polygons is not None else Polygons.empty(len(p)) for p in parts])
        keys = sorted({k for p in parts for k in p.attrs})
        cols["attrs"] = {k: np.concatenate([p.attr(k) for p in parts]) for k in keys}
        return Annotations(**cols)


def _contiguous(obj: Any, name: str, col: Any) -> None:
    """Columns are C-contiguous: a reader's strided slice is copied once here, so writers may
    hand any column to orjson or a numpy buffer (orjson refuses strided arrays)."""
    if isinstance(col, np.ndarray) and not col.flags.c_contiguous:
        object.__setattr__(obj, name, np.ascontiguousarray(col))


def _objects(values: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _same_keypoints(a: np.ndarray, b: np.ndarray, atol: float) -> bool:
    """Equal up to padding with all-NaN keypoint slots."""
    k = max(a.shape[1], b.shape[1])
    pad = lambda x: np.concatenate([x, np.full((len(x), k - x.shape[1], 3), np.nan)], axis=1)
    return _close(pad(a), pad(b), atol)


def _absent(name: str, n: int) -> np.ndarray:
    if name == "iscrowd":
        return np.zeros(n, bool)
    if name == "score":
        return np.full(n, np.nan)
    if name == "track_id":
        return np.full(n, -1, np.int64)
    if name == "obb":
        return np.full((n, 4, 2), np.nan)
    return np.full(n, None, dtype=object)
