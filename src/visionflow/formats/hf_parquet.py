"""Hugging Face `datasets` object detection on Parquet, as the Hub stores it.

    data/train-00000-of-00001.parquet        one file per split ("val" is written "validation")
    data/validation-00000-of-00001.parquet

Columns (the layout of cppe-5 and the transformers object-detection guide):

    image_id  int64
    image     struct<bytes: binary, path: string>        datasets' Image feature
    width     int64,  height int64
    objects   struct<id: list<int64>, area: list<double>,
                     bbox: list<fixed_size_list<double>[4]>,  category: list<int64>>

`bbox` is COCO-style [x, y, w, h] in absolute pixels (read option bbox_format=xyxy for datasets
that store corners); `category` is a ClassLabel index whose names are in the `features` JSON
that `datasets` keeps in the Parquet schema metadata (key b"huggingface"), so
`datasets.load_dataset("parquet", data_files=...)` yields ClassLabel names. Categories get ids
1..N in ClassLabel order; the writer keeps the real ids, and marks images without a split, in
its own schema metadata key b"visionflow" (datasets ignores it).

Reading:
- The user names the dataset folder (data/*.parquet or *.parquet inside it) or one .parquet
  file. The split is the file name before "-NNNNN-of-NNNNN" ("validation" -> "val").
- Rows without an `image_id` column are numbered 1..N. Width/height come from their columns,
  else from the image header. `category` may also hold class names (strings).
- Images: a row's bytes are extracted once into a cache folder (read option `image_dir`,
  default the visionflow cache folder, see io/cache.py) so that images have a file on disk
  like in every other format; a row with only a `path` (what `Dataset.to_parquet` writes for
  files given by path) points at that file inside the dataset folder (io.paths rules: absolute
  paths and `..` are refused).

Writing embeds each image's bytes as the Hub does (`--images none`: bytes null, path only);
`pyarrow` is needed (extra `visionflow[hf]`), `datasets` is not.
"""

from __future__ import annotations

import io
import os
import re
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import orjson

from ..core.annotations import Annotations
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import Error, FormatError, MissingImageError, OutputError, ParseError
from ..core.geometry import xywh_to_xyxy, xyxy_to_xywh
from ..core.images import UNSPLIT, Images, canonical_split
from ..io.cache import cache_dir, source_key
from ..io.paths import clean_relative
from . import common
from .builder import header_sizes
from .base import (
    ANNOTATION_IDS,
    BOXES,
    CATEGORY_IDS,
    CLASS_ORDER,
    IMAGE_IDS,
    Detection,
    Format,
    Option,
    ReadContext,
    WriteContext,
)
from .writing import rows_by_image

_SHARD = re.compile(r"^(?P<split>.+?)-(\d{5})-of-(\d{5})$")
_HF_SPLIT = {"val": "validation"}
_EXT = {"JPEG": ".jpg", "PNG": ".png", "GIF": ".gif", "BMP": ".bmp", "WEBP": ".webp",
        "TIFF": ".tif"}


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise Error("the hf-parquet format needs pyarrow: pip install 'visionflow[hf]'") from None
    return pa, pq


# --- detect -------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    """A Parquet file with an `objects` (bbox, category) or `image` column."""
    files = _parquet_files(path)
    if not files:
        return None
    try:
        _, pq = _pyarrow()
        schema = pq.read_schema(files[0][1])
    except Exception:  # noqa: BLE001 - not Parquet, or no pyarrow: not ours to read
        return None
    names = set(schema.names)
    where = files[0][1].name
    if "objects" in names:
        fields = {f.name for f in schema.field("objects").type} if hasattr(
            schema.field("objects").type, "__iter__") else set()
        if {"bbox", "category"} <= fields:
            return Detection("hf-parquet", 0.9, ((f"{where}: Parquet with objects.bbox and "
                                                 "objects.category columns"),))
    if "image" in names and (schema.metadata or {}).get(b"huggingface"):
        return Detection("hf-parquet", 0.5, ((f"{where}: Hugging Face Parquet with an image "
                                             "column but no objects column"),))
    return None


# --- read ---------------------------------------------------------------------------------

def read(path: Path, ctx: ReadContext) -> Dataset:
    pa, pq = _pyarrow()
    path = Path(path)
    files = _parquet_files(path)
    if not files:
        raise FormatError(f"{path}: no .parquet files (expected data/<split>-00000-of-00001"
                          ".parquet or a .parquet file)")
    # --images-dir serves the rows naming an image path; embedded bytes need no folder
    ctx.images_dir_used = ctx.images_dir is not None
    root = path.parent if path.is_file() else path
    if root.name == "data" and path.is_file():
        root = root.parent
    bbox_format = str(ctx.options.get("bbox_format", "xywh")).lower()
    if bbox_format not in ("xywh", "xyxy"):
        raise Error(f"bbox_format must be xywh or xyxy, got {bbox_format!r}")

    records: list[dict[str, Any]] = []
    objects: list[tuple[int, Any, list, Any, str]] = []  # image row, category, box, id, where
    names: list[str] | None = None
    category_ids: list[int] | None = None
    for split, file in files:
        try:
            table = pq.read_table(file)
        except (OSError, pa.ArrowException) as e:
            ctx.fail(ParseError(file, f"cannot read Parquet ({str(e).splitlines()[0][:120]})"))
            continue
        meta = table.schema.metadata or {}
        ours = _json(meta.get(b"visionflow"), file)
        file_names = _class_names(_json(meta.get(b"huggingface"), file))
        if names is None and file_names is not None:
            names = file_names
        elif file_names is not None and file_names != names:
            raise ParseError(file, f"ClassLabel names {file_names} differ from those of the "
                             f"first file {names}; splits must share one class list")
        if isinstance(ours.get("category_ids"), list):
            category_ids = ours["category_ids"]
        if ours.get("unsplit"):
            split = UNSPLIT
        _read_table(table, file, split, root, records, objects, ctx, bbox_format)

    _fill_sizes(records, ctx)
    records = [r for r in records if r["width"] > 0 and r["height"] > 0]
    row_of = {id(r): i for i, r in enumerate(records)}
    categories, cat_of = _categories(names, category_ids, objects, files[0][1], ctx)
    kept = [(row_of[id(o[0])], cat_of(o[1], o[4], ctx), o[2], o[3], o[4]) for o in objects
            if id(o[0]) in row_of]
    kept = [o for o in kept if o[1] is not None]
    has_ids = bool(kept) and all(o[3] is not None for o in kept)
    boxes = np.array([o[2] for o in kept], np.float64).reshape(-1, 4)
    if bbox_format == "xywh":
        boxes = xywh_to_xyxy(boxes)
    ann = Annotations.build([o[0] for o in kept], [o[1] for o in kept], boxes,
                            id=[o[3] for o in kept] if has_ids else None)
    ids = [r["image_id"] for r in records]
    images = Images.build([r["file_name"] for r in records], [r["width"] for r in records],
                          [r["height"] for r in records], split=[r["split"] for r in records],
                          path=[r["path"] for r in records],
                          id=ids if all(i is not None for i in ids) else None)
    ds = Dataset(images, ann, categories)
    return common.finish_read(ds, ctx, where_annotation=lambda i: kept[i][4],
                              where_image=lambda i: records[i]["where"])


def _parquet_files(path: Path) -> list[tuple[str, Path]]:
    """(split, file) in split order, shards sorted."""
    if path.is_file():
        found = [path] if path.suffix == ".parquet" else []
    elif path.is_dir():
        found = sorted((path / "data").glob("*.parquet")) if (path / "data").is_dir() else []
        found = found or sorted(path.glob("*.parquet"))
    else:
        return []
    out = []
    for f in found:
        m = _SHARD.match(f.stem)
        out.append((canonical_split(m.group("split") if m else f.stem), f))
    return sorted(out, key=lambda sf: ((common.split_rank(sf[0]), sf[0]), sf[1].name))


def _json(raw: bytes | None, file: Path) -> dict:
    if not raw:
        return {}
    try:
        doc = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise ParseError(file, "schema metadata is not valid JSON") from None
    return doc if isinstance(doc, dict) else {}


def _class_names(hf: dict) -> list[str] | None:
    """ClassLabel names of objects.category in datasets' features JSON (List or Sequence)."""
    features = (hf.get("info") or {}).get("features") if isinstance(hf.get("info"), dict) else None
    objects = features.get("objects") if isinstance(features, dict) else None
    if not isinstance(objects, dict):
        return None
    if objects.get("_type") in ("Sequence", "List") and isinstance(objects.get("feature"), dict):
        objects = objects["feature"]
    category = objects.get("category")
    while isinstance(category, dict) and category.get("_type") in ("Sequence", "List"):
        category = category.get("feature")
    if isinstance(category, dict) and category.get("_type") == "ClassLabel":
        names = category.get("names")
        if isinstance(names, list) and all(isinstance(n, str) for n in names):
            return names
    return None


def _read_table(table, file: Path, split: str, root: Path, records: list, objects: list,
                ctx: ReadContext, bbox_format: str) -> None:
    cols = set(table.column_names)
    n = table.num_rows
    column = lambda name: table.column(name).to_pylist() if name in cols else [None] * n
    image_ids, images = column("image_id"), column("image")
    widths, heights, objs = column("width"), column("height"), column("objects")
    cache = None
    for r in range(n):
        where = f"{file}: record {r}"
        image = images[r]
        if isinstance(image, str):
            image = {"bytes": None, "path": image}
        if image is not None and not isinstance(image, dict):
            ctx.fail(ParseError(where, f"image must be a {{bytes, path}} struct or a path, got "
                                f"{type(image).__name__}"))
            continue
        data = (image or {}).get("bytes")
        rel = (image or {}).get("path")
        try:
            name = _file_name(rel, data, image_ids[r], r, where)
            path = None
            if data is not None:
                if cache is None:
                    cache = _cache_dir(file, ctx)
                path = _extract(cache / (split or "_unsplit") / name, data)
            elif rel:
                path = common.find_image(ctx, root, (rel,), where=where)
        except Error as e:
            ctx.fail(e)
            continue
        record = {"file_name": name, "split": split, "path": path, "where": where,
                  "image_id": _int_or_none(image_ids[r], where, "image_id", ctx),
                  "width": _int_or_none(widths[r], where, "width", ctx) or 0,
                  "height": _int_or_none(heights[r], where, "height", ctx) or 0}
        records.append(record)
        obj = objs[r] or {}
        if not isinstance(obj, dict):
            ctx.fail(ParseError(where, "objects must be a struct of lists (bbox, category)"))
            continue
        bboxes, cats = obj.get("bbox") or [], obj.get("category") or []
        ids = obj.get("id")
        if len(bboxes) != len(cats) or (ids is not None and len(ids) != len(bboxes)):
            ctx.fail(ParseError(where, f"objects.bbox has {len(bboxes)} entries but "
                                f"objects.category {len(cats)}"
                                + (f" and objects.id {len(ids)}" if ids is not None else "")))
            continue
        for k, (box, cat) in enumerate(zip(bboxes, cats)):
            at = f"{where} object {k}"
            if not isinstance(box, (list, tuple)) or len(box) != 4 or not all(
                    isinstance(v, (int, float)) and v is not None for v in box):
                ctx.fail(ParseError(at, f"bbox must be 4 numbers [x, y, w, h], got {box!r}"
                                    if bbox_format == "xywh" else
                                    f"bbox must be 4 numbers [x1, y1, x2, y2], got {box!r}"))
                continue
            objects.append((record, cat, [float(v) for v in box],
                            ids[k] if ids is not None else None, at))


def _int_or_none(value: Any, where: str, what: str, ctx: ReadContext) -> int | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or value != int(value):
        ctx.fail(ParseError(where, f"{what} must be an integer, got {value!r}"))
        return None
    return int(value)


def _file_name(rel: str | None, data: bytes | None, image_id: Any, row: int, where: str) -> str:
    if rel:
        posix = rel.replace("\\", "/")
        if data is not None and (posix.startswith("/") or re.match(r"^[A-Za-z]:", posix)):
            return PurePosixPath(posix).name  # embedded bytes: the path is only a name
        return clean_relative(rel, where=where)
    stem = str(image_id) if image_id is not None else f"{row:06d}"
    ext = ".jpg"
    if data is not None:
        try:
            from PIL import Image
            with Image.open(io.BytesIO(data)) as im:
                ext = _EXT.get(im.format or "", ".jpg")
        except Exception:  # noqa: BLE001 - reported when the size is read
            pass
    return f"{stem}{ext}"


def _cache_dir(file: Path, ctx: ReadContext) -> Path:
    chosen = ctx.options.get("image_dir")
    if chosen:
        return Path(chosen)
    return cache_dir("hf-parquet", source_key(file))


def _extract(dest: Path, data: bytes) -> str:
    if not (dest.is_file() and dest.stat().st_size == len(data)):
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, dest)
    return str(dest)


def _fill_sizes(records: list[dict], ctx: ReadContext) -> None:
    need = [r for r in records if r["width"] <= 0 or r["height"] <= 0]
    sizes = header_sizes(ctx, [r["path"] for r in need], [r["where"] for r in need],
                         lambda i: MissingImageError(need[i]["where"], "no width/height columns "
                                                     "and no image bytes or file for "
                                                     f"{need[i]['file_name']!r}"))
    for r, (w, h) in zip(need, sizes):
        if r["path"] is not None:  # the others keep what the table said
            r["width"], r["height"] = int(w), int(h)


def _categories(names: list[str] | None, ids: list | None, objects: list, where: Path,
                ctx: ReadContext):
    """Categories, and a function mapping a row's category value to its id."""
    if names is None:  # no ClassLabel: class names in the data, or bare indices
        values = {o[1] for o in objects}
        if all(isinstance(v, str) for v in values):
            names = sorted(values)
        else:
            top = max((v for v in values if isinstance(v, int)), default=-1)
            names = [str(i) for i in range(top + 1)]
    if not (isinstance(ids, list) and len(ids) == len(names)
            and all(isinstance(i, int) and not isinstance(i, bool) for i in ids)
            and len(set(ids)) == len(ids)):
        ids = list(range(1, len(names) + 1))
    cats = Categories(Category(i, n) for i, n in zip(ids, names))
    by_name = {n: i for i, n in zip(ids, names)}

    def cat_of(value: Any, at: str, ctx: ReadContext) -> int | None:
        if isinstance(value, str) and value in by_name:
            return by_name[value]
        if isinstance(value, int) and not isinstance(value, bool) and 0 <= value < len(ids):
            return ids[value]
        ctx.fail(ParseError(at, f"category {value!r} is not a class index 0..{len(ids) - 1} "
                            "or a class name"))
        return None

    return cats, cat_of


# --- write --------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    pa, pq = _pyarrow()
    imgs = ds.images
    splits = [str(s) for s in imgs.split]
    unsplit_only = set(splits) == {UNSPLIT}
    if UNSPLIT in splits and not unsplit_only:
        ctx.loss("splits.unsplit", splits.count(UNSPLIT), "images without a split beside "
                 "images with one (written to the train split)")
        splits = [s or "train" for s in splits]
    for s in set(splits) - {UNSPLIT}:
        if not re.fullmatch(r"[A-Za-z0-9_.]+", s) or s.startswith("."):
            raise OutputError(f"{out_dir}: split name {s!r} cannot name a Parquet split file "
                              "(letters, digits, '_' and '.'); rename the split")
    names = [c.name for c in ds.categories]
    index = ds.categories.index_map()
    ann = ds.annotations[~ds.annotations.is_label]
    rows_of = rows_by_image(ann, len(imgs))
    xywh = xyxy_to_xywh(ann.xyxy, wh_decimals=10)
    features = _features(names)
    ours: dict[str, Any] = {"category_ids": ds.categories.ids}
    if unsplit_only:
        ours["unsplit"] = True
    metadata = {b"huggingface": orjson.dumps(features),
                b"visionflow": orjson.dumps(ours)}
    schema = pa.schema([
        ("image_id", pa.int64()),
        ("image", pa.struct([("bytes", pa.binary()), ("path", pa.string())])),
        ("width", pa.int64()), ("height", pa.int64()),
        ("objects", pa.struct([("id", pa.list_(pa.int64())), ("area", pa.list_(pa.float64())),
                               ("bbox", pa.list_(pa.list_(pa.float64(), 4))),
                               ("category", pa.list_(pa.int64()))])),
    ], metadata=metadata)
    (out_dir / "data").mkdir(parents=True, exist_ok=True)
    split_order = sorted(set(splits), key=lambda s: (common.split_rank(s), s))
    with ctx.progress("Writing Parquet", len(imgs)) as advance:
        for split in split_order:
            rows = [i for i, s in enumerate(splits) if s == split]
            columns: dict[str, list] = {k: [] for k in schema.names}
            for i in rows:
                mine = rows_of[i]
                columns["image_id"].append(int(imgs.id[i]))
                columns["image"].append({"bytes": _image_bytes(imgs, i, ctx),
                                         "path": clean_relative(str(imgs.file_name[i]),
                                                                where=f"image {imgs.file_name[i]!r}")})
                columns["width"].append(int(imgs.width[i]))
                columns["height"].append(int(imgs.height[i]))
                columns["objects"].append({
                    "id": [int(v) for v in ann.id[mine]],
                    "area": [float(w * h) for w, h in xywh[mine, 2:]],
                    "bbox": [[float(v) for v in b] for b in xywh[mine]],
                    "category": [index[int(c)] for c in ann.category_id[mine]]})
                advance(1)
            table = pa.Table.from_pydict(columns, schema=schema)
            name = _HF_SPLIT.get(split, split) if split else "train"
            pq.write_table(table, out_dir / "data" / f"{name}-00000-of-00001.parquet",
                           compression="snappy")


def _features(names: list[str]) -> dict:
    """datasets' features JSON (the `Sequence` spelling every datasets version reads)."""
    value = lambda dtype: {"dtype": dtype, "_type": "Value"}
    return {"info": {"features": {
        "image_id": value("int64"),
        "image": {"_type": "Image"},
        "width": value("int64"),
        "height": value("int64"),
        "objects": {"feature": {
            "id": value("int64"),
            "area": value("float64"),
            "bbox": {"feature": value("float64"), "length": 4, "_type": "Sequence"},
            "category": {"names": names, "_type": "ClassLabel"},
        }, "_type": "Sequence"},
    }}}


def _image_bytes(imgs: Images, i: int, ctx: WriteContext) -> bytes | None:
    if ctx.images == "none":
        return None
    src = imgs.path[i]
    if src is None or not Path(src).is_file():
        ctx.fail(MissingImageError(src or imgs.file_name[i], "image file not found; pass "
                                   "--images none to write annotations only"))
        return None
    return Path(src).read_bytes()


FORMAT = Format(
    name="hf-parquet",
    description="Hugging Face datasets on Parquet (data/<split>-*.parquet: image, objects "
                "{bbox xywh, category ClassLabel})",
    supports=frozenset({BOXES, CLASS_ORDER, CATEGORY_IDS, IMAGE_IDS, ANNOTATION_IDS}),
    detect=detect,
    read=read,
    write=write,
    aliases=("huggingface", "hf", "parquet"),
    requires=("pyarrow",),
    read_options=(Option("bbox_format", default="xywh", choices=("xywh", "xyxy"),
                         help="xywh: COCO style [x, y, width, height]; xyxy: corners"),
                  Option("image_dir", Path, help="folder to extract embedded images to "
                         "(default: the cache)", example="extracted")),
)
