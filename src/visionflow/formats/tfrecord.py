"""TFRecord for the TensorFlow Object Detection API (tf.train.Example per image).

Layout read: a folder (or one file) of `<split>.tfrecord` / `<split>.record` files, sharded ones
named `<split>.tfrecord-00000-of-00004`, looked for in the folder and its subfolders (Roboflow:
train/train.tfrecord + train/label_map.pbtxt). The label map is the `label_map.pbtxt` (else the
only *.pbtxt) beside the records, in the dataset folder, or in a sibling folder (raccoon:
data/test.record + training/object-detection.pbtxt). Written: `label_map.pbtxt` and
`<split>.tfrecord` per split ("default" for UNSPLIT, as Datumaro does), or with `-O shards=N`
`<split>.tfrecord-0000k-of-0000N`, each shard a contiguous run of images.

Features: image/encoded (the image file's own bytes, never re-encoded), image/format,
image/filename, image/source_id, image/height, image/width, image/key/sha256,
image/object/bbox/{xmin,xmax,ymin,ymax} (normalized to width/height, float32),
image/object/class/{text,label}, image/object/{difficult,truncated,view,is_crowd}.
Records holding boxes only (no or empty image/encoded) are read; images are then looked for
on disk by file name (beside the records or in images/).

Rules:
- Split = the file name before ".tfrecord"/".record" ("valid" -> "val"; "default" -> UNSPLIT).
- Category ids are the label map's ids (TF OD: 1-based, 0 = background); order is the label
  map's; classes only in records follow, by id. An object with label <= 0 and no text has no
  class: dropped, reported as warning "tfrecord.unlabeled". A text disagreeing with the label
  map's name for the label is reported ("tfrecord.class_text"); the label map wins. With a
  label map, a class it lacks is reported as warning "tfrecord.undeclared" naming the record
  (an error when reading strictly), and a label it lacks whose text names one of its classes
  is that class, not a second class of the same name. Item 0 named "background" (the API's
  reserved id) is not a class.
- Image ids: image/source_id when every one is a plain integer unique in its split; otherwise
  1..N and the source ids kept as image attr "tfrecord.source_id" (written back as they were).
- Embedded images are extracted once into visionflow's cache folder (io/cache.py), never beside
  the source, so Images.path is a file every writer can link or copy; `images="none"` as a read
  option skips that. Width/height missing from a record come from the image header.
- Framing is verified (masked CRC32C of length and data): a mismatch is a ParseError naming
  the file and record index. No TensorFlow needed, to read or to write.
- Writing, category ids below 1 are renumbered 1..N by order (loss "category_ids"); JPEGs with
  an EXIF rotation are reported (TF decodes pixels without applying it) as are images that are
  neither JPEG nor PNG (the TF OD API decodes only those).
"""

from __future__ import annotations

import io
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..core.annotations import Annotations, object_array
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import (Error, FormatError, MissingImageError, OutputError, ParseError,
                           UnsafeInputError)
from ..core.images import Images, canonical_split
from ..io import cache
from ..io import tfrecord as tfr
from ..io.paths import clean_relative, resolve_inside
from . import common
from ._label_map import LABEL_MAP, find_label_map, label_ids, label_map_text, read_label_map
from .base import (ATTRIBUTES, BOXES, CATEGORY_IDS, CLASS_ORDER, IMAGE_IDS, ISCROWD, Detection,
                   Format, Option, ReadContext, WriteContext)
from ._tfrecord_features import (_BOX_KEYS, _FORMAT_EXT, _INT_ATTRS, _TEXT_ATTRS, _image_features,
                                 _object_features)
from .writing import rows_by_image


SOURCE_ID = "tfrecord.source_id"
_RECORD_NAME = re.compile(r"^(?P<stem>.+?)\.(?:tfrecords?|records?|tfrec)"
                          r"(?:-(?P<shard>\d{5})-of-(?P<count>\d{5}))?$")
_IMAGE_KEYS = {"image/filename", "image/source_id", "image/encoded", "image/format",
               "image/height", "image/width", "image/key/sha256"}
_OBJECT_KEYS = {*_BOX_KEYS, "image/object/class/text", "image/object/class/label",
                "image/object/is_crowd", *_INT_ATTRS, *_TEXT_ATTRS}


# --- detect ---------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    """Record files whose first record has a valid length CRC; more confident when it decodes
    as a tf.train.Example with image/ features and when a label map is there."""
    sets = _record_sets(path)
    if not sets:
        return None
    first = sets[0].files[0]
    if not tfr.looks_like_tfrecord(first):
        return None
    reasons = [f"{first.name}: TFRecord framing (CRC32C checked)"]
    confidence = 0.5
    try:
        with open(first, "rb") as f:
            keys = set(tfr.decode_example(next(tfr.read_records(f))))
    except (OSError, ValueError, StopIteration):
        keys = set()
    if any(k.startswith("image/") for k in keys):
        reasons.append("tf.train.Example with image/ features")
        confidence = 0.9
    else:
        reasons.append("but no tf.train.Example with image/ features in its first record")
    if find_label_map(sets[0].folder, path if path.is_dir() else path.parent) is not None:
        reasons.append("label map (.pbtxt)")
        confidence += 0.05
    if path.is_dir() and sets[0].folder != path and \
            canonical_split(sets[0].folder.name) not in ("train", "val", "test"):
        reasons.append(f"records only in the subfolder {sets[0].folder.name}/")
        confidence -= 0.3
    return Detection("tfrecord", confidence, tuple(reasons))


# --- read -----------------------------------------------------------------------------------

@dataclass
class _RecordSet:
    split: str
    folder: Path
    files: list[Path]


@dataclass
class _Image:
    file_name: str
    width: int
    height: int
    split: str
    source_id: str
    where: str
    path: str | None = None
    objects: list[dict[str, Any]] = field(default_factory=list)


def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    sets = _record_sets(path)
    if not sets:
        raise FormatError(f"{path}: no TFRecord files (*.tfrecord, *.record or shards named "
                          "*.tfrecord-00000-of-0000N)")
    root = path if path.is_dir() else path.parent
    # --images-dir serves the records without image/encoded; those with it need no folder
    ctx.images_dir_used = ctx.images_dir is not None
    for s in sets:
        _check_shards(s, ctx)
    label_map = _read_label_maps(sets, root, ctx)
    extract = str(ctx.options.get("images", "extract")).lower() not in ("none", "skip", "false")
    out_dir = None
    if extract:
        out_dir = cache.cache_dir("tfrecord", cache.source_key(*(f for s in sets for f in s.files)))
    images: list[_Image] = []
    ignored: Counter = Counter()
    split_folder = {s: str(i) for i, s in enumerate(dict.fromkeys(s.split for s in sets))}
    with ctx.progress("Reading TFRecords", None) as advance:
        for s in sets:
            for file in s.files:
                for index, data in _records(file, ctx):
                    where = f"{file}: record {index}"
                    img = _parse_example(data, s, root, where, ignored, ctx)
                    if img is None:
                        continue
                    encoded = img.path
                    img.path = None
                    if isinstance(encoded, bytes):
                        if img.width <= 0 or img.height <= 0:
                            size = _size_of(encoded, where, ctx)
                            if size is None:
                                continue
                            img.width, img.height = size
                        if out_dir is not None:
                            target = out_dir / split_folder[s.split] / img.file_name
                            cache.put_file(target, encoded)
                            img.path = str(target)
                    else:
                        img.path = _image_on_disk(img.file_name, s.folder, root, where, ctx)
                        if img.width <= 0 or img.height <= 0:
                            if img.path is None:
                                ctx.fail(MissingImageError(where, "no image/encoded, no image/"
                                                           "width or height and image file "
                                                           f"{img.file_name!r} not found"))
                                continue
                            (w, h), = common.read_sizes([img.path], ctx, where=lambda _, at=where: at)
                            if w < 0:
                                continue
                            img.width, img.height = int(w), int(h)
                    images.append(img)
                    advance(1)
    for key, n in sorted(ignored.items()):
        ctx.report.add("warning", "tfrecord.ignored", f"feature {key!r} is not kept", count=n)
    return _build(images, label_map, ctx)


def _record_sets(path: Path) -> list[_RecordSet]:
    """Record files grouped by split (shards in order): the named file (with its sibling
    shards), else the folder's records, else its subfolders'."""
    if path.is_file():
        m = _RECORD_NAME.match(path.name)
        if m is None:
            return [_RecordSet(common.split_named(path.stem), path.parent, [path])] \
                if tfr.looks_like_tfrecord(path) else []
        if m.group("shard") is None:
            return [_RecordSet(common.split_named(m.group("stem")), path.parent, [path])]
        return [s for s in _sets_in(path.parent) if path in s.files]
    if not path.is_dir():
        return []
    found = _sets_in(path)
    if not found:
        try:
            subdirs = sorted(d for d in path.iterdir() if d.is_dir()
                             and not d.name.startswith("."))
        except OSError:
            subdirs = []
        for d in subdirs:
            found += _sets_in(d)
    return found


def _sets_in(folder: Path) -> list[_RecordSet]:
    groups: dict[tuple[str, str], list[tuple[int, Path]]] = {}
    try:
        entries = sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith("."))
    except OSError:
        return []
    for p in entries:
        m = _RECORD_NAME.match(p.name)
        if m is None:
            continue
        key = (m.group("stem"), m.group("count") or "")
        groups.setdefault(key, []).append((int(m.group("shard") or 0), p))
    return [_RecordSet(common.split_named(stem), folder, [p for _, p in sorted(files)])
            for (stem, _), files in sorted(groups.items(), key=lambda kv: _split_rank(kv[0][0]))]


def _split_rank(stem: str) -> tuple[int, str]:
    return common.split_rank(common.split_named(stem)), stem


def _check_shards(s: _RecordSet, ctx: ReadContext) -> None:
    m = _RECORD_NAME.match(s.files[0].name)
    if m is None or m.group("count") is None:
        return
    count = int(m.group("count"))
    have = {int(_RECORD_NAME.match(f.name).group("shard")) for f in s.files}  # type: ignore[union-attr]
    missing = [i for i in range(count) if i not in have]
    if missing:
        ctx.report.add("warning", "tfrecord.missing_shards",
                       f"{s.folder / m.group('stem')}: {len(missing)} of {count} shards are "
                       f"missing (first: {missing[0]:05d}); their images are not read",
                       count=len(missing))


def _records(file: Path, ctx: ReadContext):
    try:
        with open(file, "rb") as f:
            yield from enumerate(tfr.read_records(f))
    except tfr.RecordError as e:
        ctx.fail(ParseError(f"{file}: record {e.index}", e.problem.removeprefix(
            f"record {e.index}: ")))
    except OSError as e:
        ctx.fail(ParseError(file, f"cannot read file ({e.strerror or e.__class__.__name__})"))


def _read_label_maps(sets: list[_RecordSet], root: Path,
                     ctx: ReadContext) -> dict[int, tuple[str, str]]:
    """id -> (name, where) from every label map the record sets use, in file order."""
    out: dict[int, tuple[str, str]] = {}
    for p in dict.fromkeys(find_label_map(s.folder, root) for s in sets):
        if p is not None:
            read_label_map(p, ctx, out)
    return out


def _parse_example(data: bytes, s: _RecordSet, root: Path, where: str, ignored: Counter,
                   ctx: ReadContext) -> _Image | None:
    """The image of one record; its `path` temporarily holds the encoded bytes (or None)."""
    try:
        ex = tfr.decode_example(data)
    except (ValueError, UnicodeDecodeError) as e:
        ctx.fail(ParseError(where, f"not a tf.train.Example ({e})"))
        return None
    try:
        file_name = _text(ex, "image/filename")
        source_id = _text(ex, "image/source_id")
        fmt = _text(ex, "image/format").lower()
        width, height = _int(ex, "image/width"), _int(ex, "image/height")
        encoded = _one(ex, "image/encoded", bytes) or None
        if not file_name:
            ext = _FORMAT_EXT.get(fmt, ".jpg")
            file_name = f"{source_id}{ext}" if source_id else f"{where.rsplit(' ', 1)[-1]}{ext}"
        file_name = clean_relative(file_name, where=where)
        img = _Image(file_name, width, height, s.split, source_id, where, encoded)  # type: ignore[arg-type]
        img.objects = _objects(ex, where)
    except ParseError as e:
        ctx.fail(e if e.where else ParseError(where, e.problem))
        return None
    except UnsafeInputError as e:
        ctx.fail(e)
        return None
    for key in ex:
        if key not in _IMAGE_KEYS and key not in _OBJECT_KEYS:
            ignored[key] += 1
    return img


def _one(ex: dict, key: str, kind: type) -> Any:
    value = ex.get(key)
    if value is None or len(value) == 0:
        return kind()
    if kind is bytes and not isinstance(value, list):
        raise ParseError("", f"feature {key!r} should be a bytes list")
    return value[0]


def _text(ex: dict, key: str) -> str:
    value = ex.get(key)
    if value is None or len(value) == 0:
        return ""
    if not isinstance(value, list):
        raise ParseError("", f"feature {key!r} should be a bytes list")
    try:
        return value[0].decode("utf-8")
    except UnicodeDecodeError:
        raise ParseError("", f"feature {key!r} is not UTF-8 text") from None


def _int(ex: dict, key: str) -> int:
    value = ex.get(key)
    if value is None or len(value) == 0:
        return 0
    if isinstance(value, list):
        raise ParseError("", f"feature {key!r} should be an int64 list")
    return int(value[0])


def _objects(ex: dict, where: str) -> list[dict[str, Any]]:
    cols = [ex.get(k) for k in _BOX_KEYS]
    lengths = {len(c) for c in cols if c is not None}
    n = max(lengths, default=0)
    try:
        if n == 0:
            return []
        for key, col in zip(_BOX_KEYS, cols):
            if col is None or len(col) != n or isinstance(col, list) or col.dtype.kind != "f":
                got = "missing" if col is None else f"{len(col)} values"
                raise ParseError(where, f"feature {key!r} should hold {n} floats, got {got}")
        labels = ex.get("image/object/class/label")
        texts = ex.get("image/object/class/text")
        for key, col, kind in (("class/label", labels, "i"), ("class/text", texts, "b")):
            if col is None or len(col) == 0:
                continue
            if len(col) != n or (kind == "i") == isinstance(col, list):
                raise ParseError(where, f"feature 'image/object/{key}' should hold {n} "
                                 f"{'ints' if kind == 'i' else 'strings'}, got {len(col)}")
        objects = []
        extra = {}
        for key, name in (*_INT_ATTRS.items(), *_TEXT_ATTRS.items(),
                          ("image/object/is_crowd", "is_crowd")):
            col = ex.get(key)
            if col is not None and len(col):
                if len(col) != n:
                    raise ParseError(where, f"feature {key!r} should hold {n} values, got "
                                     f"{len(col)}")
                extra[name] = col
        for j in range(n):
            obj: dict[str, Any] = {
                "box": [float(cols[0][j]), float(cols[1][j]), float(cols[2][j]),
                        float(cols[3][j])],
                "label": int(labels[j]) if labels is not None and len(labels) else 0,
                "text": texts[j].decode("utf-8") if texts is not None and len(texts) else "",
                "where": f"{where}, object {j}"}
            for name, col in extra.items():
                v = col[j]
                obj[name] = v.decode("utf-8") if isinstance(v, bytes) else int(v)
            objects.append(obj)
        return objects
    except UnicodeDecodeError:
        raise ParseError(where, "feature 'image/object/class/text' is not UTF-8 text") from None
    except ParseError as e:
        if not e.where:
            raise ParseError(where, e.problem) from None
        raise


def _size_of(data: bytes, where: str, ctx: ReadContext) -> tuple[int, int] | None:
    try:
        with Image.open(io.BytesIO(data)) as im:
            w, h = im.size
            orientation = im.getexif().get(0x0112, 1) if im.format == "JPEG" else 1
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as e:
        ctx.fail(ParseError(where, f"no image/width or height and image/encoded is not a "
                            f"readable image ({e.__class__.__name__})"))
        return None
    return (h, w) if orientation in {5, 6, 7, 8} else (w, h)


def _image_on_disk(file_name: str, folder: Path, root: Path, where: str,
                   ctx: ReadContext) -> str | None:
    """The image file of a record without image/encoded (boxes only): in --images-dir when
    given, else beside the records or in an images/ folder near them."""
    if ctx.images_dir is not None:
        try:
            p = common.image_file(ctx, root, file_name, where=where)
        except UnsafeInputError as e:
            ctx.fail(e)
            return None
        return str(p) if p.is_file() else None
    for base in dict.fromkeys([folder, folder / "images", root, root / "images",
                               folder.parent / "images"]):
        try:
            p = resolve_inside(base, file_name, where=str(base), follow_links=ctx.follow_links)
        except UnsafeInputError:
            continue
        if p.is_file():
            return str(p.absolute())
    return None


def _build(images: list[_Image], label_map: dict[int, tuple[str, str]],
           ctx: ReadContext) -> Dataset:
    names = {cid: name for cid, (name, _) in label_map.items()}
    if str(names.get(0, "")).lower() == "background":  # the TF OD API reserves id 0 for it
        del names[0]
        ctx.report.add("info", "tfrecord.background", "label map item 0 'background' (the TF "
                       "Object Detection API's reserved background id) is not a class")
    by_name: dict[str, int] = {}
    for cid, name in names.items():
        by_name.setdefault(name, cid)
    extra: dict[int, str] = {}
    made_up: dict[int, str] = {}  # extra class id -> where it was first used (label map given)
    mismatched = unlabeled = 0
    rows, cat_ids, boxes, wheres, kept = [], [], [], [], []
    has_crowd = any("is_crowd" in o for img in images for o in img.objects)
    for i, img in enumerate(images):
        for o in img.objects:
            label, text = o["label"], o["text"]
            if label <= 0:
                if not text:
                    unlabeled += 1
                    continue
                label = by_name.get(text) or next((c for c, t in extra.items() if t == text), 0)
                if label <= 0:
                    label = max([*names, *extra, 0]) + 1
                    extra[label] = text
                    made_up[label] = o["where"]
            elif label in names:
                if text and text != names[label]:
                    mismatched += 1
            elif label in extra:
                if text and text != extra[label]:
                    ctx.fail(ParseError(o["where"], f"class {label} is named {text!r} here "
                                        f"but {extra[label]!r} in an earlier record"))
                    continue
            elif text and text in by_name:
                # the label map names this class under another id: one class, not two
                made_up.setdefault(-label, o["where"])
                label = by_name[text]
            else:
                extra[label] = text or f"class_{label}"
                made_up[label] = o["where"]
            x1, y1, x2, y2 = o["box"]
            rows.append(i)
            cat_ids.append(label)
            boxes.append((x1, y1, x2, y2, img.width, img.height))
            wheres.append(o["where"])
            kept.append(o)
    attr_keys = [k for k in ("difficult", "truncated", "view") if any(k in o for o in kept)]
    if mismatched:
        ctx.report.add("warning", "tfrecord.class_text", "objects whose image/object/class/text "
                       "differs from the label map's name for their label (the label map wins)",
                       count=mismatched)
    if unlabeled:
        ctx.report.add("warning", "tfrecord.unlabeled", "objects with neither a class label "
                       "nor a class text are not kept", count=unlabeled)
    if label_map and made_up:
        added = [f"{extra[c]!r} (label {c})" for c in sorted(c for c in made_up if c > 0)]
        moved = [f"label {-c}" for c in sorted(c for c in made_up if c < 0)]
        where = next(iter(made_up.values()))  # the first use
        common.undeclared(ctx, "tfrecord.undeclared", where, "classes not in the label map "
                          + (f"were added: {', '.join(added)}" if added else "")
                          + ("; " if added and moved else "")
                          + (f"{', '.join(moved)} taken as the label map's class of the same "
                             "name" if moved else ""), count=len(made_up))
    cats = Categories([Category(cid, name) for cid, name in names.items()] +
                      [Category(cid, extra[cid]) for cid in sorted(extra)])

    source_ids = [img.source_id for img in images]
    as_int = all(re.fullmatch(r"0|[1-9][0-9]{0,17}", s) for s in source_ids)
    if as_int and len({(img.split, s) for img, s in zip(images, source_ids)}) == len(images):
        ids, attrs = [int(s) for s in source_ids], {}
    else:
        ids, attrs = list(range(1, len(images) + 1)), {SOURCE_ID: source_ids}
    table = Images.build([img.file_name for img in images], [img.width for img in images],
                         [img.height for img in images], id=ids,
                         split=[img.split for img in images],
                         path=[img.path for img in images], attrs=attrs)
    n = len(rows)
    columns: dict[str, Any] = {}
    if has_crowd:
        columns["iscrowd"] = np.array([bool(o.get("is_crowd", 0)) for o in kept], bool)
    ann = Annotations.build(rows, cat_ids, _pixels(np.array(boxes, np.float64).reshape(n, 6)),
                            attrs={k: object_array([o.get(k) for o in kept]) for k in attr_keys},
                            **columns)
    ds = Dataset(table, ann, cats)
    return common.finish_read(ds, ctx, where_annotation=lambda r: wheres[r],
                              where_image=lambda r: images[r].where)


def _pixels(rows: np.ndarray) -> np.ndarray:
    """Normalized float32 boxes -> pixels, each value the one with the fewest decimals (up to
    6) that normalizes back to the same float32: 142 rather than 142.00000106, so writing again
    gives the same bytes and integer boxes stay integers."""
    norm = rows[:, :4].astype(np.float32)
    size = rows[:, [4, 5, 4, 5]]
    exact = norm.astype(np.float64) * size
    out = exact.copy()
    done = np.zeros(exact.shape, bool)
    with np.errstate(divide="ignore", invalid="ignore"):
        for decimals in range(7):
            cand = np.round(exact, decimals)
            ok = ~done & ((cand / size).astype(np.float32) == norm)
            out[ok] = cand[ok]
            done |= ok
    return out


# --- write ----------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    shards = _shards_option(ctx.options.get("shards", 1))
    imgs = ds.images
    cats, label_of = label_ids(ds, ctx)
    names = {c.id: c.name for c in ds.categories}
    boxes = ds.annotations[~ds.annotations.is_label]
    rows_of = rows_by_image(boxes, len(imgs))
    source_ids = imgs.attr(SOURCE_ID)
    attr_names = [name for name in ("difficult", "truncated", "view") if name in boxes.attrs]
    stats: Counter = Counter()

    (out_dir / LABEL_MAP).write_text(label_map_text(cats), encoding="utf-8")
    splits = imgs.splits()
    with ctx.progress("Writing TFRecords", len(imgs)) as advance:
        for split in splits:
            name = split or common.DEFAULT_SPLIT_NAME
            if not re.fullmatch(r"[\w][\w.-]*", name):
                raise OutputError(f"{out_dir}: split name {split!r} cannot be a TFRecord file "
                                  "name; rename the split")
            rows = np.flatnonzero(imgs.split == split)
            for k, part in enumerate(np.array_split(rows, shards)):
                file = out_dir / (f"{name}.tfrecord" if shards == 1
                                  else f"{name}.tfrecord-{k:05d}-of-{shards:05d}")
                with open(file, "wb") as f:
                    for i in part:
                        i = int(i)
                        rows_i = rows_of[i]
                        sid = source_ids[i]
                        features = _image_features(ds, i, str(imgs.id[i]) if sid is None
                                                   else str(sid), ctx, stats)
                        features.update(_object_features(ds, boxes, rows_i, i, label_of, names,
                                                         attr_names, stats))
                        f.write(tfr.frame(tfr.encode_example(features)))
                        advance(1)
    if stats["exif"]:
        ctx.report.add("warning", "tfrecord.exif_orientation", "JPEGs with an EXIF rotation: "
                       "TensorFlow decodes their pixels as stored, not upright, while width, "
                       "height and boxes are upright", count=stats["exif"])
    if stats["other_format"]:
        ctx.report.add("warning", "tfrecord.image_format", "images that are neither JPEG nor "
                       "PNG were embedded as they are; the TF Object Detection API decodes only "
                       "JPEG and PNG", count=stats["other_format"])
    ctx.loss("attribute_values", stats["bad_attr"], "difficult/truncated values that are not "
             "integers (written as 0)")


def _shards_option(value: Any) -> int:
    try:
        n = int(value)
    except (TypeError, ValueError):
        n = 0
    if n < 1 or n > 99999:
        raise Error(f"tfrecord option shards must be an integer from 1 to 99999, got {value!r}")
    return n


FORMAT = Format(
    name="tfrecord",
    description="TensorFlow Object Detection API TFRecords (tf.train.Example with embedded "
                "images) and label_map.pbtxt",
    supports=frozenset({BOXES, CATEGORY_IDS, CLASS_ORDER, IMAGE_IDS, ISCROWD, ATTRIBUTES}),
    detect=detect,
    read=read,
    write=write,
    aliases=("tf-record", "tf_detection_api", "tf-od", "tfrecords"),
    attributes=frozenset({"difficult", "truncated", "view"}),
    write_options=(Option("shards", int, 1, help="number of files per split, 1 to 99999; "
                          "names like train.tfrecord-00000-of-00004", example="2"),),
    read_options=(Option("images", default="extract", choices=("extract", "none"),
                         aliases={"skip": "none", "false": "none"},
                         help="extract: the embedded images to the cache; none: boxes only "
                              "(the images from --images-dir, if any)"),),
)
