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
from itertools import chain
from operator import attrgetter
from typing import Any

import msgspec
import numpy as np
import orjson

from ..core.annotations import Annotations
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import Error, ParseError, ValidationError
from ..core.images import UNSPLIT, Images, canonical_split
from ..io.atomic import write_bytes_atomic
from ..io.paths import FileIndex, clean_relative, is_simple
from ..io.safe_load import bytes_of
from .base import (ANNOTATION_IDS, CATEGORY_META, CLASS_ORDER, IMAGE_IDS, ATTRIBUTES, BOXES,
                   CATEGORY_IDS, ISCROWD, KEYPOINTS, MASKS, POLYGONS, SCORES, TRACK_IDS,
                   SOURCE_OPTIONS, Detection, Format, Option, ReadContext, WriteContext)
from ._jsonfmt import line_col
from .common import finish_read, image_index, write_images
from ._coco_annotations import _is_int64, _msgspec_problem, _parse_annotations
from ._coco_emit import _AnnColumns, _categories_out, _document, _key_order


ROBOFLOW_FILE = "_annotations.coco.json"
DEFAULT_SPLIT_NAME = "default"  # file/folder name for images with no split
_TASK_PREFIXES = ("instances_", "person_keypoints_")
_IMAGE_KEYS = {"id", "file_name", "width", "height"}
_MAX_JSON_BYTES = 8 << 30
_ABSENT = object()


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
    ds = _combine(parts, ctx)
    if path.is_dir() and all(f.name == ROBOFLOW_FILE for _, f in files):  # written back so
        ds = ds.replace(meta={**ds.meta, SOURCE_OPTIONS: {"layout": "roboflow"}})
    return ds


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
    layout = ctx.options.get("layout", "standard")  # a declared choice (api.write checks)
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


def _layout(out: Path, split: str, layout: str) -> tuple[Path, Path]:
    """(annotation file, image folder) of a split in the output."""
    folder = DEFAULT_SPLIT_NAME if split == UNSPLIT else split
    if layout == "roboflow":
        folder = "valid" if split == "val" else folder
        return out / folder / ROBOFLOW_FILE, out / folder
    return out / "annotations" / f"instances_{folder}.json", out / "images" / folder


FORMAT = Format(
    name="coco",
    description="COCO JSON (instances, keypoints, RLE); standard and Roboflow layouts",
    supports=frozenset({BOXES, POLYGONS, MASKS, KEYPOINTS, SCORES, TRACK_IDS, ISCROWD,
                        CATEGORY_IDS, ATTRIBUTES, IMAGE_IDS, ANNOTATION_IDS, CATEGORY_META,
                        CLASS_ORDER}),
    detect=detect, read=read, write=write,
    aliases=("coco-json", "roboflow-coco", "mscoco"),
    attributes=None,
    write_options=(Option("layout", default="standard", choices=("standard", "roboflow"),
                          help="standard: annotations/instances_<split>.json + "
                               "images/<split>/; roboflow: <split>/_annotations.coco.json "
                               "beside the images (the default when the dataset was read "
                               "from a Roboflow COCO export)"),),
)
