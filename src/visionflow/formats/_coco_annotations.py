"""COCO's annotation records into annotation columns, a kit of coco.py: typed msgspec decoding
of the usual box records in bulk (_BoxRecord, _Columns), record by record for the rest
(_parse_one), with each bad record named by file and index."""

from __future__ import annotations

from itertools import chain, repeat
from operator import attrgetter
from pathlib import Path
from typing import Any

import msgspec
import numpy as np

from ..core.annotations import Annotations, Polygons, object_array
from ..core.errors import Error, ParseError, ValidationError
from ..core.geometry import xywh_to_xyxy
from ..core.images import Images
from .base import ReadContext


_ANN_KEYS = {"id", "image_id", "category_id", "bbox", "segmentation", "keypoints",
             "iscrowd", "score", "track_id", "attributes"}
_CHUNK = 16384  # annotation records decoded at a time: bounds the Python objects alive at once


def _msgspec_problem(e: Exception) -> str:
    if isinstance(e, RecursionError):
        return "nested too deeply"
    return str(e).replace("`$", "`record")


class _BadRecord:
    """An annotation record msgspec cannot decode (a number out of range, nesting too
    deep): reported for its own index, the rest of the chunk is read."""

    def __init__(self, problem: str):
        self.problem = problem


def _decode_each(chunk: list) -> list:
    out: list = []
    for raw in chunk:
        try:
            out.append(msgspec.json.decode(raw))
        except (msgspec.MsgspecError, RecursionError) as e:
            out.append(_BadRecord(_msgspec_problem(e)))
    return out


class _BoxRecord(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """A record with a box and/or polygon rings and nothing the columns do not hold: decoded
    without a dict. RLE masks, keypoints and extra keys fail to decode into it."""

    id: int
    image_id: int
    category_id: int
    bbox: tuple[float, float, float, float] | None = None
    area: int | float | None = None
    iscrowd: int | None = None
    segmentation: list[list[float]] | None = None


_PLAIN_KEYS = frozenset(_BoxRecord.__struct_fields__)
_decode_records = msgspec.json.Decoder(list[_BoxRecord]).decode


def _parse_annotations(file: Path, records: list, images: Images, image_rows: dict[int, int],
                       ctx: ReadContext) -> tuple[Annotations, np.ndarray]:
    """Columns from the annotation records, and each kept row's index in the file.

    Records are decoded a chunk at a time. A chunk of box and polygon records (the bulk of any
    detection or segmentation dataset) is decoded into typed structs and moved into the
    columns in bulk; other chunks are decoded into dicts: their plain box records still go in
    bulk, the rest (masks, keypoints, extra fields, anything irregular) record by record so
    that errors name the record.
    """
    cols = _Columns(len(records), image_rows)
    for start in range(0, len(records), _CHUNK):
        chunk = records[start:start + _CHUNK]
        records[start:start + len(chunk)] = repeat(None, len(chunk))  # freed as we go
        if isinstance(chunk[0], msgspec.Raw):
            joined = b"[" + b",".join(chunk) + b"]"
            if cols.fill_structs(_structs(joined), start):
                continue
            try:
                chunk = msgspec.json.decode(joined)
            except (msgspec.MsgspecError, RecursionError):
                chunk = _decode_each(chunk)
        plain = np.fromiter((type(a) is dict and a.keys() <= _PLAIN_KEYS
                             and not a.get("segmentation") for a in chunk), bool, len(chunk))
        if not cols.fill_dicts(chunk, np.flatnonzero(plain), start):
            plain[:] = False
        for i in np.flatnonzero(~plain).tolist():
            a = chunk[i]
            if isinstance(a, _BadRecord):
                ctx.fail(ParseError(f"{file}: annotations[{start + i}]",
                                    f"invalid JSON value ({a.problem})"))
                cols.keep[start + i] = False
                continue
            aid = a.get("id", "?") if isinstance(a, dict) else "?"
            try:
                cols.fill_one(a, start + i,
                              f"{file}: annotations[{start + i}] (id {aid})")
            except Error as e:
                ctx.fail(e)
                cols.keep[start + i] = False
        cols.end_chunk(start, len(chunk))
    return cols.annotations()


def _structs(joined: bytes) -> list[_BoxRecord] | None:
    try:
        return _decode_records(joined)
    except (msgspec.MsgspecError, RecursionError):
        return None


class _Columns:
    """The annotation columns of one file, filled row by row or many rows at once."""

    def __init__(self, n: int, image_rows: dict[int, int]):
        self.n, self.image_rows = n, image_rows
        self.image_index = np.empty(n, np.int64)
        self.category_id = np.empty(n, np.int64)
        self.ids = np.empty(n, np.int64)
        self.xyxy = np.empty((n, 4))  # every kept row gets its box (or is dropped)
        self.iscrowd = np.zeros(n, bool)
        self.score: np.ndarray | None = None  # allocated by the first record having one
        self.track: np.ndarray | None = None
        self.polys: dict[int, list[np.ndarray]] = {}  # rows read one by one
        self.poly_parts: list[Polygons] = []  # one a chunk, in row order
        self.rles: dict[int, dict] = {}
        self.kps: dict[int, np.ndarray] = {}
        self.attrs: dict[str, list] = {}
        self.has = {"score": False, "track": False, "iscrowd": False}
        self.keep = np.ones(n, bool)
        known = np.fromiter(image_rows.keys(), np.int64, len(image_rows))
        order = np.argsort(known)
        self._known = known[order]
        self._known_rows = np.fromiter(image_rows.values(), np.int64, len(image_rows))[order]

    def column(self, name: str) -> list:
        col = self.attrs.get(name)
        if col is None:
            col = self.attrs[name] = [None] * self.n
        return col

    def fill_structs(self, structs: list[_BoxRecord] | None, start: int) -> bool:
        """A chunk of typed records in bulk; False if anything is irregular (the caller then
        reads it as dicts, one by one where needed, which names the bad record)."""
        if structs is None:
            return False
        m = len(structs)
        try:
            cols = [np.fromiter(map(attrgetter(key), structs), np.int64, m)
                    for key in ("id", "image_id", "category_id")]
        except OverflowError:
            return False
        polygons = _chunk_polygons(list(map(attrgetter("segmentation"), structs)))
        if polygons is False:
            return False
        bboxes = list(map(attrgetter("bbox"), structs))
        missing = [i for i, b in enumerate(bboxes) if b is None]
        if missing:  # the box of its rings, as the record-by-record path does
            if polygons is None or (polygons.counts()[missing] == 0).any():
                return False
            for i in missing:
                pts = np.concatenate(polygons.rings(i))
                x1, y1 = pts.min(axis=0).tolist()
                x2, y2 = pts.max(axis=0).tolist()
                bboxes[i] = (x1, y1, x2 - x1, y2 - y1)
        boxes = np.fromiter(chain.from_iterable(bboxes), np.float64, 4 * m).reshape(m, 4)
        if not self._fill_plain(np.arange(start, start + m), *cols, boxes,
                                list(map(attrgetter("iscrowd"), structs)),
                                list(map(attrgetter("area"), structs))):
            return False
        if missing:  # exactly the points' bounds, not x + (x2 - x) rounded
            for i in missing:
                pts = np.concatenate(polygons.rings(i))
                self.xyxy[start + i] = [*pts.min(axis=0), *pts.max(axis=0)]
        self.poly_parts.append(polygons if polygons is not None else Polygons.empty(m))
        return True

    def end_chunk(self, start: int, m: int) -> None:
        """Close a chunk read as dicts: its rows' rings join the polygon parts."""
        rows = range(start, start + m)
        self.poly_parts.append(Polygons.from_lists([self.polys.pop(i, []) for i in rows])
                               if self.polys else Polygons.empty(m))

    def fill_dicts(self, records: list, rows: np.ndarray, start: int) -> bool:
        """Plain box dicts at `rows` of `records` in bulk; False if anything is irregular (the
        caller then reads them one by one, which names the bad record)."""
        if not len(rows):
            return True
        picked = [records[i] for i in rows.tolist()]
        try:
            cols = [np.array([a[key] for a in picked])
                    for key in ("id", "image_id", "category_id", "bbox")]
        except (KeyError, ValueError, TypeError):
            return False
        if (any(c.dtype.kind != "i" for c in cols[:3]) or cols[3].dtype.kind not in "if"
                or cols[3].shape != (len(picked), 4)):
            return False
        return self._fill_plain(rows + start, *cols, [a.get("iscrowd") for a in picked],
                                [a.get("area") for a in picked])

    def _fill_plain(self, rows: np.ndarray, ids, image_ids, category_ids, boxes, crowd: list,
                    area: list) -> bool:
        known = self._known
        pos = np.searchsorted(known, image_ids)
        pos[pos >= len(known)] = 0
        if not len(known) or not np.array_equal(known[pos], image_ids):
            return False
        self.ids[rows], self.category_id[rows] = ids, category_ids
        self.image_index[rows] = self._known_rows[pos]
        self.xyxy[rows] = xywh_to_xyxy(boxes)
        if any(c is not None for c in crowd):
            self.has["iscrowd"] = True
            self.iscrowd[rows] = [bool(c) for c in crowd]
        if any(v is not None for v in area):
            col = self.column("coco.area")
            if rows[-1] - rows[0] + 1 == len(rows):  # a whole chunk: one slice assignment
                col[rows[0]:rows[-1] + 1] = area
            else:
                for i, v in zip(rows.tolist(), area):
                    col[i] = v
        return True

    def fill_one(self, a: Any, i: int, where: str) -> None:
        if isinstance(a, dict):
            if self.score is None and a.get("score") is not None:
                self.score = np.full(self.n, np.nan)
            if self.track is None and a.get("track_id") is not None:
                self.track = np.full(self.n, -1, np.int64)
        rings, rle, kp = _parse_one(a, where, self.image_rows, i, self.image_index,
                                    self.category_id, self.ids, self.xyxy, self.iscrowd,
                                    self.score, self.track, self.has)
        if rings:
            self.polys[i] = rings
        if rle is not None:
            self.rles[i] = rle
        if kp is not None:
            self.kps[i] = kp
        for key, value in a.items():
            if key == "attributes" and isinstance(value, dict):
                for name, v in value.items():
                    self.column(name)[i] = v
            elif key not in _ANN_KEYS:
                self.column(f"coco.{key}")[i] = value

    def annotations(self) -> tuple[Annotations, np.ndarray]:
        n, keypoints, polygons, rle = self.n, None, None, None
        if self.kps:
            k_max = max(len(k) for k in self.kps.values())
            keypoints = np.full((n, k_max, 3), np.nan)
            for i, k in self.kps.items():
                keypoints[i, :len(k)] = k
        if any(len(p.coords) for p in self.poly_parts):
            polygons = Polygons.concat(self.poly_parts)
        if self.rles:
            rle = np.full(n, None, dtype=object)
            for i, value in self.rles.items():
                rle[i] = value
        ann = Annotations(
            self.image_index, self.category_id, self.ids, self.xyxy,
            iscrowd=self.iscrowd if self.has["iscrowd"] else None,
            score=self.score if self.has["score"] else None,
            track_id=self.track if self.has["track"] else None,
            polygons=polygons, rle=rle, keypoints=keypoints,
            attrs={k: object_array(v) for k, v in self.attrs.items()},
        )
        if not self.keep.all():
            ann = ann[self.keep]
        return ann, np.flatnonzero(self.keep)


def _chunk_polygons(segmentations: list) -> Polygons | None | bool:
    """The rings of a chunk's typed records as one Polygons (None: no rings in the chunk;
    False: a ring that is not at least 3 x, y pairs, for the record path to name)."""
    if not any(segmentations):
        return None
    rings_per = np.fromiter((len(s) if s else 0 for s in segmentations), np.int64,
                            len(segmentations))
    rings = [r for s in segmentations if s for r in s]
    sizes = np.fromiter(map(len, rings), np.int64, len(rings))
    if (sizes < 6).any() or (sizes % 2).any():
        return False
    coords = np.fromiter(chain.from_iterable(rings), np.float64, int(sizes.sum()))
    return Polygons(coords.reshape(-1, 2), _offsets(sizes // 2), _offsets(rings_per))


def _offsets(sizes: np.ndarray) -> np.ndarray:
    out = np.zeros(len(sizes) + 1, np.int64)
    np.cumsum(sizes, out=out[1:])
    return out


def _parse_one(a: Any, where: str, image_rows: dict[int, int], i: int, image_index, category_id,
               ids, xyxy, iscrowd, score, track, has) -> tuple[list, dict | None, Any]:
    if not isinstance(a, dict):
        raise ParseError(where, f"expected an object, got {type(a).__name__}")
    for key in ("id", "image_id", "category_id"):
        if key not in a:
            raise ParseError(where, f"missing required key {key!r}")
        if not _is_int64(a[key]):
            raise ParseError(where, f"{key} must be a 64-bit integer, got {a[key]!r}")
    if a["image_id"] not in image_rows:
        raise ValidationError(where, f"refers to unknown image id {a['image_id']}")
    image_index[i] = image_rows[a["image_id"]]
    category_id[i] = a["category_id"]
    ids[i] = a["id"]
    rings: list[np.ndarray] = []
    rle = None
    seg = a.get("segmentation")
    if isinstance(seg, list) and seg:
        has["poly"] = True
        for ring in seg:
            if (not isinstance(ring, list) or len(ring) < 6 or len(ring) % 2
                    or not all(_is_number(v) for v in ring)):
                raise ParseError(where, "segmentation polygon must be a list of at least 3 "
                                 "x, y pairs of numbers")
            rings.append(np.asarray(ring, np.float64).reshape(-1, 2))
    elif isinstance(seg, dict):
        if ("counts" not in seg or "size" not in seg or not isinstance(seg["size"], list)
                or len(seg["size"]) != 2 or not isinstance(seg["counts"], (str, list))):
            raise ParseError(where, "RLE segmentation needs 'size' [h, w] and 'counts'")
        has["rle"] = True
        rle = seg
    elif seg not in (None, []):
        raise ParseError(where, f"segmentation must be a list of polygons or an RLE object, "
                         f"got {type(seg).__name__}")
    bbox = a.get("bbox")
    if bbox is not None:
        if (not isinstance(bbox, list) or len(bbox) != 4
                or not all(_is_number(v) for v in bbox)):
            raise ParseError(where, f"bbox must be [x, y, width, height] numbers, got {bbox!r}")
        xyxy[i] = xywh_to_xyxy(np.asarray(bbox, np.float64))[0]
    elif rings:
        pts = np.concatenate(rings)
        xyxy[i] = [*pts.min(axis=0), *pts.max(axis=0)]
    else:
        raise ParseError(where, "annotation has neither bbox nor polygon segmentation")
    kp = None
    raw_kp = a.get("keypoints")
    if raw_kp is not None:
        if (not isinstance(raw_kp, list) or len(raw_kp) % 3
                or not all(_is_number(v) for v in raw_kp)):
            raise ParseError(where, "keypoints must be a flat list of x, y, v numbers")
        kp = np.asarray(raw_kp, np.float64).reshape(-1, 3)
    if "iscrowd" in a:
        has["iscrowd"] = True
        iscrowd[i] = bool(a["iscrowd"])
    if a.get("score") is not None:
        if not _is_number(a["score"]):
            raise ParseError(where, f"score must be a number, got {a['score']!r}")
        has["score"] = True
        score[i] = a["score"]
    if a.get("track_id") is not None:
        if not _is_int64(a["track_id"]):
            raise ParseError(where, f"track_id must be an integer, got {a['track_id']!r}")
        has["track"] = True
        track[i] = a["track_id"]
    return rings, rle, kp


def _is_int64(v: Any) -> bool:
    return type(v) is int and -(1 << 63) <= v < (1 << 63)


def _is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool)
