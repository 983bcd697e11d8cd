"""Annotations held column-wise: one numpy array per field, never one object per box.

A dataset of 2 million boxes is a handful of arrays. `ann[index_or_mask]` slices every column
at once, so a transform that drops boxes drops their labels, polygons and attributes with them.
Operations return new objects; nothing mutates in place.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from enum import StrEnum
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
        return type(self)(self.coords[ranges(c0, sizes)], _offsets(sizes),
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

    @classmethod
    def concat(cls, parts: Sequence[Polygons]) -> Polygons:
        if not parts:
            return cls.empty(0)
        return cls(
            np.concatenate([p.coords for p in parts]).reshape(-1, 2),
            _offsets(np.concatenate([np.diff(p.ring_offsets) for p in parts])),
            _offsets(np.concatenate([np.diff(p.object_offsets) for p in parts])))


class Polylines(Polygons):
    """Ragged open paths (CVAT polylines, LabelMe lines): Polygons' layout, each "ring" a path
    whose last vertex does not join its first. An object has zero or more paths."""


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


class Column(StrEnum):
    """What an annotation can hold, one member per kind of column of `Annotations`.

    The value is the name `Format.supports`, `geometry_counts()` and the loss report
    ("loss.<value>") use, so a str compares equal to its member ("polygons" == POLYGONS).
    BOXES and LABELS are the two readings of the required xyxy column (a row of NaN is an
    image-level label); every other member is a row of COLUMNS.
    """

    BOXES = "boxes"
    LABELS = "labels"
    POLYGONS = "polygons"
    POLYLINES = "polylines"
    MASKS = "masks"
    KEYPOINTS = "keypoints"
    OBB = "oriented_boxes"
    SCORES = "scores"
    TRACK_IDS = "track_ids"
    ISCROWD = "iscrowd"


@dataclass(frozen=True)
class ColumnSpec:
    """One optional annotation column: everything generic code needs to know about it.

    Absent values, concat, equality, the native format's JSON, geometry_counts and the loss
    report all read this table, so a new kind of geometry is one row (plus a field of
    `Annotations` and its maths where pixels move: transforms/functional.py).
    """

    field: str                                   # the Annotations attribute
    holds: Column                                # Format.supports flag, count key, loss code
    absent: Callable[[int], Any]                 # n rows that hold nothing
    present: Callable[[Any], np.ndarray]         # (n,) bool: rows that hold a value
    dump: Callable[[Any], Any]                   # column -> JSON value (native format)
    load: Callable[[Any, int], Any]              # JSON value, n rows -> column
    same: Callable[[Any, Any, float], bool]      # equal, atol for coordinates
    concat: Callable[[list, list[int]], Any] | None = None  # parts (None: absent), lengths
    geometry: bool = False  # a shape: geometry_counts counts it; a loss says what remains
    outline: bool = False   # a row's box is its bounds: a format holding it writes the row
    what: str = ""          # how the loss report names it (a geometry: its Column value)
    since: str = "1.0"      # native schema that added it: later ones written only when present

    def join(self, parts: list, sizes: list[int]) -> Any:
        """parts (None where a part lacks the column) stacked, absences filled."""
        if self.concat is not None:
            return self.concat(parts, sizes)
        return np.concatenate([v if v is not None else self.absent(m)
                               for v, m in zip(parts, sizes)])


def nullable(arr: np.ndarray) -> Any:
    """Float array as JSON: nested lists with NaN as null (JSON has no NaN)."""
    if not np.isnan(arr).any():
        return arr
    obj = arr.astype(object)
    obj[np.isnan(arr)] = None
    return obj.tolist()


def floats(values: Any, shape: tuple) -> np.ndarray:
    """A float array back from JSON (`nullable`): null is NaN."""
    arr = np.array(values, dtype=object)
    if arr.size == 0:
        return np.zeros(tuple(0 if d == -1 else d for d in shape))
    arr[arr == None] = np.nan  # noqa: E711 - elementwise comparison
    return arr.astype(np.float64).reshape(shape)


def _ragged(cls: type[Polygons], holds: Column, since: str = "1.0") -> ColumnSpec:
    return ColumnSpec(
        field=holds.value, holds=holds, absent=cls.empty, present=lambda c: c.counts() > 0,
        dump=lambda c: {"coords": c.coords, "ring_offsets": c.ring_offsets,
                        "object_offsets": c.object_offsets},
        load=lambda v, n: cls(np.asarray(v["coords"], np.float64).reshape(-1, 2),
                              np.asarray(v["ring_offsets"], np.int64),
                              np.asarray(v["object_offsets"], np.int64)),
        same=lambda a, b, atol: a.equals(b, atol),
        concat=lambda parts, sizes: cls.concat(
            [p if p is not None else cls.empty(m) for p, m in zip(parts, sizes)]),
        geometry=True, outline=True, since=since)


def _concat_keypoints(parts: list, sizes: list[int]) -> np.ndarray:
    """Keypoint blocks padded with all-NaN slots to the largest K."""
    k = max(v.shape[1] for v in parts if v is not None)
    filled = []
    for v, m in zip(parts, sizes):
        block = np.full((m, k, 3), np.nan)
        if v is not None:
            block[:, :v.shape[1]] = v
        filled.append(block)
    return np.concatenate(filled)


def _same_values(a: np.ndarray, b: np.ndarray, atol: float) -> bool:
    return _close(a, b, 0.0)


# The optional columns of Annotations, in field order (the native format writes them so).
COLUMNS: tuple[ColumnSpec, ...] = (
    ColumnSpec("iscrowd", Column.ISCROWD, absent=lambda n: np.zeros(n, bool),
               present=lambda c: c.astype(bool), dump=lambda c: c.astype(int),
               load=lambda v, n: np.asarray(v, bool), same=_same_values, what="iscrowd flags"),
    ColumnSpec("score", Column.SCORES, absent=lambda n: np.full(n, np.nan),
               present=lambda c: ~np.isnan(c), dump=nullable,
               load=lambda v, n: floats(v, (n,)), same=_same_values, what="confidence scores"),
    ColumnSpec("track_id", Column.TRACK_IDS, absent=lambda n: np.full(n, -1, np.int64),
               present=lambda c: c >= 0, dump=lambda c: c,
               load=lambda v, n: np.asarray(v, np.int64), same=_same_values, what="track ids"),
    _ragged(Polygons, Column.POLYGONS),
    ColumnSpec("rle", Column.MASKS, absent=lambda n: np.full(n, None, dtype=object),
               present=lambda c: np.fromiter((r is not None for r in c), bool, len(c)),
               dump=list, load=lambda v, n: object_array(v),
               same=lambda a, b, atol: list(a) == list(b), geometry=True, outline=True),
    ColumnSpec("keypoints", Column.KEYPOINTS, absent=lambda n: np.full((n, 0, 3), np.nan),
               present=lambda c: ~np.isnan(c).all(axis=(1, 2)), dump=nullable,
               load=lambda v, n: floats(v, (n, -1, 3)),
               same=lambda a, b, atol: _same_keypoints(a, b, atol), concat=_concat_keypoints,
               geometry=True),
    ColumnSpec("obb", Column.OBB, absent=lambda n: np.full((n, 4, 2), np.nan),
               present=lambda c: ~np.isnan(c).all(axis=(1, 2)), dump=nullable,
               load=lambda v, n: floats(v, (n, 4, 2)),
               same=lambda a, b, atol: _close(a, b, atol), geometry=True, outline=True),
    _ragged(Polylines, Column.POLYLINES, since="1.1"),
)
COLUMN_OF_FIELD: dict[str, ColumnSpec] = {c.field: c for c in COLUMNS}
COLUMN_OF: dict[Column, ColumnSpec] = {c.holds: c for c in COLUMNS}


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
    polylines:   Polylines: open paths (objects without one have no paths).
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
    polylines: Polylines | None = None
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
                     attrs: Sequence[dict[str, Any]] | None = None,
                     paths: Sequence[Sequence[np.ndarray]] | None = None) -> Annotations:
        """From per-object values, as readers of tools that list objects one by one have them.

        rings, paths (polylines), rle and obb hold one entry per object ([] or None where it
        has none); attrs one dict per object. A column that no object uses stays None.
        """
        n = len(image_index)
        columns: dict[str, Any] = {}
        if rings is not None and any(len(r) for r in rings):
            columns["polygons"] = Polygons.from_lists(rings)
        if paths is not None and any(len(p) for p in paths):
            columns["polylines"] = Polylines.from_lists(paths)
        if rle is not None and any(r is not None for r in rle):
            columns["rle"] = object_array(rle)
        if obb is not None and any(o is not None for o in obb):
            filled = np.full((n, 4, 2), np.nan)
            for j, o in enumerate(obb):
                if o is not None:
                    filled[j] = o
            columns["obb"] = filled
        if attrs is not None:
            keys = dict.fromkeys(k for a in attrs for k in a)
            columns["attrs"] = {k: object_array([a.get(k) for a in attrs]) for k in keys}
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
        return type(self)(**cols)

    def replace(self, **changes: Any) -> Annotations:
        return replace(self, **changes)

    @property
    def is_label(self) -> np.ndarray:
        """Rows that are image-level labels (classification), not objects."""
        return np.isnan(self.xyxy).all(axis=1)

    def has(self, column: Column | str) -> np.ndarray:
        """(n,) bool: rows holding a value in this optional column (a Column or field name)."""
        spec = COLUMN_OF_FIELD.get(column) or COLUMN_OF[Column(column)]
        v = getattr(self, spec.field)
        return np.zeros(len(self), bool) if v is None else spec.present(v)

    def has_polygon(self) -> np.ndarray:
        return self.has(Column.POLYGONS)

    def has_polyline(self) -> np.ndarray:
        return self.has(Column.POLYLINES)

    def has_rle(self) -> np.ndarray:
        return self.has(Column.MASKS)

    def has_keypoints(self) -> np.ndarray:
        return self.has(Column.KEYPOINTS)

    def has_obb(self) -> np.ndarray:
        return self.has(Column.OBB)

    def geometry_counts(self) -> dict[str, int]:
        """How many rows carry each kind of geometry (keys: Column values)."""
        labels = self.is_label
        counts = {Column.BOXES.value: int((~labels).sum()),
                  Column.LABELS.value: int(labels.sum())}
        for spec in COLUMNS:
            if spec.geometry:
                counts[str(spec.holds)] = int(self.has(spec.field).sum())
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
        return COLUMN_OF_FIELD[name].absent(len(self))

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
            spec = COLUMN_OF_FIELD.get(f.name)
            if spec is not None:
                same = spec.same(a, b, atol)
            else:  # the required columns: exact, but the box up to atol
                same = _close(a, b, atol if f.name == "xyxy" else 0.0)
            if not same:
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
        for spec in COLUMNS:
            present = [getattr(p, spec.field) for p in parts]
            cols[spec.field] = (None if all(v is None for v in present)
                                else spec.join(present, n))
        keys = sorted({k for p in parts for k in p.attrs})
        cols["attrs"] = {k: np.concatenate([p.attr(k) for p in parts]) for k in keys}
        return type(parts[0])(**cols)


def _contiguous(obj: Any, name: str, col: Any) -> None:
    """Columns are C-contiguous: a reader's strided slice is copied once here, so writers may
    hand any column to orjson or a numpy buffer (orjson refuses strided arrays)."""
    if isinstance(col, np.ndarray) and not col.flags.c_contiguous:
        object.__setattr__(obj, name, np.ascontiguousarray(col))


def object_array(values: Sequence[Any]) -> np.ndarray:
    """A 1-D object array of `values`, one element each, even when the values are lists or
    arrays themselves (np.array would stack them into more dimensions)."""
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out


def _same_keypoints(a: np.ndarray, b: np.ndarray, atol: float) -> bool:
    """Equal up to padding with all-NaN keypoint slots."""
    k = max(a.shape[1], b.shape[1])
    pad = lambda x: np.concatenate([x, np.full((len(x), k - x.shape[1], 3), np.nan)], axis=1)
    return _close(pad(a), pad(b), atol)

