"""COCO JSON: boxes, polygons, RLE masks and keypoints.

Layouts read: one JSON file anywhere; the standard `annotations/instances_<split>.json` with
images in `images/<split>/`, `<split>/` or `images/`; Roboflow's `<split>/_annotations.coco.json`
with the images beside it. Written: the standard layout (or Roboflow's with `layout=roboflow`).

At the edge: `bbox` is [x, y, width, height] in pixels -> xyxy. Category ids are kept exactly
(1..90 with gaps, or Roboflow's 0). Everything else an annotation, image or the file carries is
kept: `area` and unknown keys as "coco.<key>" attrs, CVAT's `attributes` dict as plain attrs,
`info`/`licenses` in meta, so writing what was read gives the same JSON back.
"""

from __future__ import annotations

import os
from pathlib import Path
from collections.abc import Iterable, Iterator
from itertools import chain, repeat
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
import orjson

from ..core.annotations import Annotations, Polygons
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import Error, ParseError, ValidationError
from ..core.geometry import polygon_area, rle_area, xywh_to_xyxy, xyxy_to_xywh
from ..core.images import UNSPLIT, Images, canonical_split
from ..io.atomic import write_bytes_atomic
from ..io.paths import FileIndex, clean_relative, is_simple
from ..io.safe_load import bytes_of
from .base import (ANNOTATION_IDS, CATEGORY_META, CLASS_ORDER, IMAGE_IDS, ATTRIBUTES, BOXES, CATEGORY_IDS, ISCROWD, KEYPOINTS, MASKS, POLYGONS, SCORES,
                   TRACK_IDS, Detection, Format, ReadContext, WriteContext)
from ._jsonfmt import line_col
from .common import finish_read, image_index, write_images

ROBOFLOW_FILE = "_annotations.coco.json"
DEFAULT_SPLIT_NAME = "default"  # file/folder name for images with no split
_TASK_PREFIXES = ("instances_", "person_keypoints_")
_IMAGE_KEYS = {"id", "file_name", "width", "height"}
_ANN_KEYS = {"id", "image_id", "category_id", "bbox", "segmentation", "keypoints",
             "iscrowd", "score", "track_id", "attributes"}
_MAX_JSON_BYTES = 8 << 30
_ABSENT = object()
_CHUNK = 16384  # annotation records decoded at a time: bounds the Python objects alive at once


# --- detect --------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    files = _annotation_files(path)
    if not files:
        return None
    first = files[0][1]
    head = first.open("rb").read(1 << 16)
    if b'"writer": "visionflow' in head:
        return None
    named = first.name == ROBOFLOW_FILE or first.stem.startswith(_TASK_PREFIXES)
    hits = [k.decode() for k in (b'"images"', b'"annotations"', b'"categories"') if k in head]
    if '"images"' in hits and len(hits) < 2 and len(head) == 1 << 16:
        # A long images list can fill the head; the other keys then sit in the tail.
        tail = _tail(first, 1 << 16)
        hits += [k.decode() for k in (b'"annotations"', b'"categories"') if k in tail]
    if head.removeprefix(_BOM).lstrip()[:1] != b"{" and not named:
        return None
    if not named and ('"images"' not in hits or len(hits) < 2):
        return None  # COCO always has "images"; Datumaro JSON has annotations + categories
    reasons = [f"{first.name} is JSON with {', '.join(hits)}" if hits else
               f"{first.name} is named like a COCO annotation file"]
    if first.name == ROBOFLOW_FILE:
        reasons.append("Roboflow layout (_annotations.coco.json per split)")
    elif first.parent.name == "annotations" and named:
        reasons.append("standard layout (annotations/instances_<split>.json)")
    return Detection("coco", min(0.95, 0.6 + 0.1 * len(hits) + (0.05 if named else 0)),
                     tuple(reasons))


def _tail(path: Path, size: int) -> bytes:
    """The last `size` bytes of a file (empty when it cannot be read)."""
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.fstat(f.fileno()).st_size - size))
            return f.read(size)
    except OSError:
        return b""


def _annotation_files(path: Path) -> list[tuple[str, Path]]:
    """(split, json file) pairs the user means by `path`."""
    if path.is_file():
        return [(_split_of(path), path)] if path.suffix.lower() == ".json" else []
    found: list[tuple[str, Path]] = []
    roboflow = sorted(path.glob(f"*/{ROBOFLOW_FILE}"))
    if (path / ROBOFLOW_FILE).is_file():
        found.append((UNSPLIT, path / ROBOFLOW_FILE))
    found += [(canonical_split(f.parent.name), f) for f in roboflow]
    if found:
        return found
    ann_dir = path / "annotations"
    for prefix in _TASK_PREFIXES:  # instances first; keypoint-only datasets second
        task_files = sorted(ann_dir.glob(f"{prefix}*.json")) if ann_dir.is_dir() else []
        if task_files:
            return [(_split_of(f), f) for f in task_files]
    if ann_dir.is_dir():
        plain = [f for f in sorted(ann_dir.glob("*.json"))]
        if len(plain) == 1:
            return [(_split_of(plain[0]), plain[0])]
    top = sorted(path.glob("*.json"))
    if len(top) == 1:
        return [(_split_of(top[0]), top[0])]
    return []


def _split_of(json_path: Path) -> str:
    if json_path.name == ROBOFLOW_FILE:
        name = json_path.parent.name
        return canonical_split(name) if name in ("train", "valid", "val", "test") else UNSPLIT
    stem = json_path.stem
    for prefix in _TASK_PREFIXES:
        if stem.startswith(prefix):
            split = stem[len(prefix):]
            return UNSPLIT if split == DEFAULT_SPLIT_NAME else canonical_split(split)
    return UNSPLIT


# --- read ----------------------------------------------------------------------------------

def read(path: Path, ctx: ReadContext) -> Dataset:
    files = _annotation_files(path)
    if not files:
        raise ParseError(path, "no COCO annotation file found (expected annotations/"
                         "instances_<split>.json, <split>/_annotations.coco.json or a .json file)")
    root = path if path.is_dir() else path.parent
    parts: list[_Part] = []
    with ctx.progress("Reading COCO", len(files)) as advance:
        for split, file in files:
            parts.append(_read_file(file, split, root, ctx))
            advance(1)
    return _combine(parts, ctx)


class _Part:
    """One parsed JSON file: its images, annotations and categories, before merging."""

    def __init__(self, file: Path, images: Images, ann: Annotations, categories: Categories,
                 meta: dict, ann_rows: np.ndarray):
        self.file, self.images, self.ann, self.categories = file, images, ann, categories
        self.meta, self.ann_rows = meta, ann_rows  # ann_rows: each row's index in the file

    def where(self, row: int) -> str:
        return f"{self.file}: annotations[{self.ann_rows[row]}] (id {self.ann.id[row]})"


def _read_file(file: Path, split: str, root: Path, ctx: ReadContext) -> _Part:
    if file.stat().st_size > _MAX_JSON_BYTES:
        raise ParseError(file, "file larger than 8 GiB; refused")
    data = bytes_of(file)
    if data.startswith(_BOM):  # Windows tools write one; JSON readers (Python's utf-8-sig) skip it
        data = data[len(_BOM):]
    top, decode = _top_level(file, data)
    for key in ("images", "categories"):
        if key not in top:
            raise ParseError(file, f"missing or invalid {key!r} list (a COCO file has "
                             "images, annotations and categories)")
    images_raw, categories_raw = _images(top.pop("images"), decode), decode(
        top.pop("categories"))
    for key, value in (("images", images_raw), ("categories", categories_raw)):
        if not isinstance(value, list):
            raise ParseError(file, f"missing or invalid {key!r} list (a COCO file has "
                             "images, annotations and categories)")
    categories = _parse_categories(file, categories_raw)
    images, where_image = _parse_images(file, images_raw, split, root, ctx)
    del images_raw  # before the annotations: the two never need to be in memory together
    meta = {k: decode(v) for k, v in top.items() if k != "annotations"}
    records = _records(file, top.pop("annotations", _ABSENT))
    del top, data
    ann, ann_rows = _parse_annotations(file, records, images, where_image, ctx)
    del records
    return _Part(file, images, ann, categories, meta, ann_rows)


def _top_level(file: Path, data: bytes) -> tuple[dict, Any]:
    """The file's top-level keys, values still undecoded, and the function that decodes one.

    msgspec skips over the values (`Raw`), so annotations can be decoded in chunks into typed
    records: no dict per box and never the whole file's objects at once (memory below a plain
    `json.load`). Anything msgspec refuses is read again with orjson for the error message.
    """
    def decode(value: Any) -> Any:
        try:
            return msgspec.json.decode(value)
        except (msgspec.MsgspecError, RecursionError) as e:
            raise ParseError(file, f"invalid JSON value ({_msgspec_problem(e)})") from None

    try:
        return msgspec.json.decode(data, type=dict[str, msgspec.Raw]), decode
    except (msgspec.MsgspecError, RecursionError):
        pass  # orjson below names the line (and refuses nesting past 1024 levels)
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        line, col = line_col(data, e.pos)  # the bytes in hand, not read again
        raise ParseError(f"{file}:{line}:{col}", f"malformed JSON ({e.msg})") from None
    if not isinstance(doc, dict):
        raise ParseError(file, "expected a JSON object with images, annotations and "
                         f"categories, got {type(doc).__name__}")
    return doc, lambda value: value


_BOM = b"\xef\xbb\xbf"


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


class _PlainImage(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    """An image record with just the four standard keys: decoded without a dict."""

    id: int
    file_name: str
    width: int
    height: int


_decode_plain_images = msgspec.json.Decoder(list[_PlainImage]).decode


def _images(value: Any, decode) -> Any:
    """The image records: typed structs when all are plain, else dicts."""
    if isinstance(value, msgspec.Raw):
        try:
            return _decode_plain_images(value)
        except (msgspec.MsgspecError, RecursionError):
            pass
    return decode(value)


def _records(file: Path, raw: Any) -> list:
    """The annotation records: undecoded `Raw` items (msgspec) or dicts (orjson fallback)."""
    if raw is _ABSENT:
        return []
    if isinstance(raw, msgspec.Raw):
        try:
            return msgspec.json.decode(raw, type=list[msgspec.Raw])
        except (msgspec.ValidationError, RecursionError):
            raise ParseError(file, "'annotations' must be a list") from None
    if not isinstance(raw, list):
        raise ParseError(file, "'annotations' must be a list")
    return raw


def _parse_categories(file: Path, raw: list) -> Categories:
    cats: list[Category] = []
    seen: set[int] = set()
    for i, c in enumerate(raw):
        where = f"{file}: categories[{i}]"
        if not isinstance(c, dict) or "id" not in c or "name" not in c:
            raise ParseError(where, "a category needs 'id' and 'name'")
        if not isinstance(c["id"], int) or isinstance(c["id"], bool):
            raise ParseError(where, f"category id must be an integer, got {c['id']!r}")
        if c["id"] in seen:
            raise ValidationError(where, f"duplicate category id {c['id']}")
        seen.add(c["id"])
        try:
            cats.append(Category(c["id"], str(c["name"]), c.get("supercategory"),
                                 tuple(str(k) for k in c.get("keypoints") or ()),
                                 tuple((int(a), int(b)) for a, b in c.get("skeleton") or ())))
        except (TypeError, ValueError):
            raise ParseError(where, "invalid keypoints or skeleton (expected a list of names "
                             "and a list of [a, b] index pairs)") from None
    return Categories(cats)


def _parse_images(file: Path, raw: list, split: str, root: Path,
                  ctx: ReadContext) -> tuple[Images, dict[int, int]]:
    image_dir = _image_dir(file, split, root, raw)
    files = image_index(ctx, image_dir, root)  # --images-dir, --follow-links
    bulk = _plain_images(file, raw, split, files)
    if bulk is not None:
        return bulk
    raw = [msgspec.structs.asdict(im) if isinstance(im, _PlainImage) else im for im in raw]
    ids, names, widths, heights, paths = [], [], [], [], []
    extras: dict[str, list] = {}
    file_s, cwd = str(file), os.getcwd()  # once, not per image (Path.absolute() calls getcwd)
    for i, im in enumerate(raw):
        where = f"{file_s}: images[{i}]"
        try:
            if not isinstance(im, dict):
                raise ParseError(where, f"expected an object, got {type(im).__name__}")
            for key in ("id", "file_name", "width", "height"):
                if key not in im:
                    raise ParseError(where, f"missing required key {key!r}")
            if not all(_is_int64(im[k]) for k in ("id", "width", "height")):
                raise ParseError(where, "id, width and height must be integers, got "
                                 f"{im['id']!r}, {im['width']!r}, {im['height']!r}")
            name = clean_relative(im["file_name"], where=f"{where} (id {im['id']})")
            located = files.locate(name, where=f"{where} (id {im['id']})")
        except Error as e:
            ctx.fail(e)
            continue
        ids.append(im["id"])
        names.append(name)
        widths.append(im["width"])
        heights.append(im["height"])
        paths.append(None if located is None else str(located) if located.is_absolute()
                     else os.path.join(cwd, str(located)))
        row = len(ids) - 1
        for key, value in im.items():
            if key not in _IMAGE_KEYS:
                name = f"coco.{key}"
                if name not in extras:
                    extras[name] = [None] * row
                extras[name].append(value)
        for col in extras.values():
            if len(col) < len(ids):
                col.append(None)
    images = Images.build(names, widths, heights, id=ids, split=split, path=paths, attrs=extras)
    return images, {int(v): r for r, v in enumerate(ids)}


def _plain_images(file: Path, raw: list, split: str,
                  files: FileIndex) -> tuple[Images, dict[int, int]] | None:
    """All image records at once when every one is regular (objects with integer id, width and
    height and a plain relative file name); None sends the file through the record-by-record
    path, whose errors name the record."""
    keys = ("id", "width", "height", "file_name")
    if raw and type(raw[0]) is _PlainImage:  # all of them are
        ids, widths, heights, names = (list(map(attrgetter(k), raw)) for k in keys)
    elif all(type(im) is dict and _IMAGE_KEYS <= im.keys() for im in raw):
        ids, widths, heights, names = ([im[k] for im in raw] for k in keys)
    else:
        return None
    if (not all(map(_is_int64, chain(ids, widths, heights)))
            or not all(map(is_simple, names))):
        return None
    base = str(files.root)
    base = base if os.path.isabs(base) else os.path.join(os.getcwd(), base)
    paths = [os.path.join(base, n) if files.listed(n) else None for n in names]
    for i in (i for i, p in enumerate(paths) if p is None):  # missing, or behind a symlink
        located = files.locate(names[i], where=f"{file}: images[{i}] (id {ids[i]})")
        paths[i] = None if located is None else os.path.abspath(located)  # maybe a tail
    extra: dict[str, None] = {}  # keys beyond the four, in order of first appearance
    for im in raw:
        if type(im) is dict and len(im) > len(_IMAGE_KEYS):
            extra.update((k, None) for k in im if k not in _IMAGE_KEYS)
    attrs = {f"coco.{k}": [im.get(k) for im in raw] for k in extra}
    images = Images.build(names, widths, heights, id=ids, split=split, path=paths, attrs=attrs)
    return images, {v: r for r, v in enumerate(ids)}


def _image_dir(file: Path, split: str, root: Path, raw: list) -> Path:
    """Where this file's image names are relative to: the first candidate holding them."""
    names = [DEFAULT_SPLIT_NAME if split == UNSPLIT else split]
    names += [file.stem[len(p):] for p in _TASK_PREFIXES if file.stem.startswith(p)]
    parent = file.parent
    candidates = [parent]
    for base in dict.fromkeys([root, parent.parent]):
        for name in dict.fromkeys(names):
            candidates += [base / "images" / name, base / name]
        candidates += [base / "images", base]
    probe = [im.get("file_name") if isinstance(im, dict) else getattr(im, "file_name", None)
             for im in raw[:5]]
    probe = [p for p in probe if isinstance(p, str) and p and not p.startswith(("/", ".."))]
    for cand in candidates:
        if cand.is_dir() and probe and all((cand / p).is_file() for p in probe):
            return cand
    for cand in candidates:  # some images missing: best effort, any hit
        if cand.is_dir() and any((cand / p).is_file() for p in probe):
            return cand
    return parent if parent.is_dir() else root


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
            attrs={k: _objects(v) for k, v in self.attrs.items()},
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


def _objects(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def _combine(parts: list[_Part], ctx: ReadContext) -> Dataset:
    """Merge per-split files: one class map, image rows renumbered, annotations re-pointed."""
    categories = parts[0].categories
    for p in parts[1:]:
        if p.categories != categories:
            merged = list(categories) + [c for c in p.categories if not categories.has_id(c.id)]
            clash = [c for c in p.categories if categories.has_id(c.id)
                     and categories.by_id(c.id).name != c.name]
            if clash:
                c = clash[0]
                raise ValidationError(p.file, f"category id {c.id} is {c.name!r} here but "
                                      f"{categories.by_id(c.id).name!r} in {parts[0].file}")
            categories = Categories(merged)
    offsets = np.cumsum([0] + [len(p.images) for p in parts])
    anns = [p.ann.replace(image_index=p.ann.image_index + off) for p, off in zip(parts, offsets)]
    images = Images.concat([p.images for p in parts])
    ds = Dataset(images, Annotations.concat(anns), categories, {"coco": parts[0].meta})
    ann_offsets = np.cumsum([0] + [len(p.ann) for p in parts])

    def where_annotation(i: int) -> str:
        k = int(np.searchsorted(ann_offsets, i, side="right")) - 1
        return parts[k].where(i - int(ann_offsets[k]))

    def where_image(r: int) -> str:
        k = int(np.searchsorted(offsets, r, side="right")) - 1
        return f"{parts[k].file}: image id {images.id[r]}"

    return finish_read(ds, ctx, where_annotation=where_annotation, where_image=where_image)


# --- write ---------------------------------------------------------------------------------

def write(ds: Dataset, out: Path, ctx: WriteContext) -> None:
    layout = ctx.options.get("layout", "standard")
    if layout not in ("standard", "roboflow"):
        raise Error(f"coco: layout must be 'standard' or 'roboflow', got {layout!r}")
    meta = ds.meta.get("coco", {})
    categories = _categories_out(ds)
    ann = ds.annotations
    order = np.argsort(ann.image_index, kind="stable")
    order = order[~ann.is_label[order]]  # image-level labels have no COCO form (loss reported)
    splits = ds.images.splits()
    with ctx.progress("Writing COCO", len(ds.images)) as advance:
        cols = _AnnColumns(ds)
        for split in splits:
            rows = np.flatnonzero(ds.images.split == split)
            json_path, _ = _layout(out, split, layout)
            in_split = np.isin(ann.image_index[order], rows)
            head = {k: meta[k] for k in _key_order({**meta, "categories": None}) if k in meta}
            json_path.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(json_path, _document(head, categories, ds, rows,
                                                    order[in_split], cols))
            advance(len(rows))
    write_images(ds, lambda r: _layout(out, ds.images.split[r], layout)[1]
                 / ds.images.file_name[r], ctx)


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


def _layout(out: Path, split: str, layout: str) -> tuple[Path, Path]:
    """(annotation file, image folder) of a split in the output."""
    folder = DEFAULT_SPLIT_NAME if split == UNSPLIT else split
    if layout == "roboflow":
        folder = "valid" if split == "val" else folder
        return out / folder / ROBOFLOW_FILE, out / folder
    return out / "annotations" / f"instances_{folder}.json", out / "images" / folder


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
        self.xywh = xyxy_to_xywh(ann.xyxy)
        self.xywh[:, 2:] = np.round(self.xywh[:, 2:], 10)  # x2 - x1 leaves 1e-16 noise
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


FORMAT = Format(
    name="coco",
    description="COCO JSON (instances, keypoints, RLE); standard and Roboflow layouts",
    supports=frozenset({BOXES, POLYGONS, MASKS, KEYPOINTS, SCORES, TRACK_IDS, ISCROWD,
                        CATEGORY_IDS, ATTRIBUTES, IMAGE_IDS, ANNOTATION_IDS, CATEGORY_META,
                        CLASS_ORDER}),
    detect=detect, read=read, write=write,
    aliases=("coco-json", "roboflow-coco", "mscoco"),
    attributes=None,
    options={"layout": "standard (annotations/instances_<split>.json + images/<split>/) or "
                       "roboflow (<split>/_annotations.coco.json beside the images)"},
)
