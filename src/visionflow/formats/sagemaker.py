"""Amazon SageMaker Ground Truth output manifests (JSON lines).

Bounding-box job, one line per image:

    {"source-ref": "s3://bucket/images/a.jpg",
     "boxes": {"image_size": [{"width": 640, "height": 480, "depth": 3}],
               "annotations": [{"class_id": 0, "left": 10, "top": 20, "width": 30,
                                "height": 40}]},
     "boxes-metadata": {"objects": [{"confidence": 0.9}], "class-map": {"0": "cat"},
                        "type": "groundtruth/object-detection", "human-annotated": "yes",
                        "creation-date": "...", "job-name": "labeling-job/boxes"}}

Semantic-segmentation job (read only): "<attr>-ref" points at a PNG whose colours are the
classes of "<attr>-ref-metadata".internal-color-map ({"1": {"class-name": "cat",
"hex-color": "#2ca02c"}}); each class present becomes one mask (COCO RLE) with its box;
class "0" / BACKGROUND is not an object.

Files: `output.manifest` (or any .manifest/.jsonl file named by the user; in a folder, every
*.manifest at the top and in train/, val/valid/, test/ folders, whose name gives the split).
s3:// URIs are never fetched: images (and masks) are looked up by base name beside the
manifest and in images/ (masks also in masks/, annotations/); a relative source-ref is a path
beside the manifest. The label attribute is the key that has a "-metadata" partner of type
groundtruth/object-detection (or semantic-segmentation). Written: output.manifest with
relative source-refs (or `s3_prefix` + file name with the writer option) and images beside
it, per split folder when the dataset has splits.

Categories keep Ground Truth's class ids (class-map keys) and the class-map order; pixel
boxes pass unchanged; `objects[].confidence` is the score.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import orjson
from PIL import Image

from ..core.dataset import Dataset
from ..core.errors import Error, FormatError, OutputError, ParseError, ValidationError
from ..core.geometry import mask_to_rle
from ..core.images import UNSPLIT
from ..io.paths import clean_relative, resolve_inside
from ..io.safe_load import bytes_of
from . import _jsonfmt as jf
from . import common
from .builder import DatasetBuilder
from .base import (
    BOXES,
    CATEGORY_IDS,
    CLASS_ORDER,
    SCORES,
    Detection,
    Format,
    Option,
    ReadContext,
    WriteContext,
)
from .writing import listed_once, rows_by_image

OUTPUT_FILE = "output.manifest"
DEFAULT_ATTRIBUTE = "bounding-box"
DETECTION = "groundtruth/object-detection"
SEGMENTATION = "groundtruth/semantic-segmentation"
_SUFFIXES = (".manifest", ".jsonl")


# --- detect ---------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    for _, f in _files(path)[:3]:
        line = jf.head(f, 1 << 16).split(b"\n", 1)[0]
        if line.lstrip()[:1] == b"{" and b'"source-ref"' in line:
            kind = "semantic segmentation" if SEGMENTATION.encode() in line else "bounding box"
            return Detection("sagemaker", 0.9, (
                (f"{f.name}: JSON lines with \"source-ref\" (SageMaker Ground Truth {kind} "
                "manifest)"),))
    return None


def _files(path: Path) -> list[tuple[str, Path]]:
    if path.is_file():
        return [(UNSPLIT, path)]
    found = [(UNSPLIT, f) for f in sorted(path.iterdir()) if f.suffix in _SUFFIXES
             and f.is_file()] if path.is_dir() else []
    try:
        subdirs = sorted(d for d in path.iterdir() if d.is_dir() and jf.split_of_dir(d.name))
    except OSError:
        subdirs = []
    for d in subdirs:
        found += [(jf.split_of_dir(d.name), f) for f in sorted(d.iterdir())
                  if f.suffix in _SUFFIXES and f.is_file()]
    return found


# --- read -----------------------------------------------------------------------------------

@dataclass
class _Record:
    file_name: str
    split: str
    path: str | None
    where: str
    width: int = 0
    height: int = 0
    objects: list[tuple[int, np.ndarray, float, dict | None, str]] = field(default_factory=list)


def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    files = _files(path)
    if not files:
        raise FormatError(f"{path}: no SageMaker Ground Truth manifest (*.manifest) found")
    records: list[_Record] = []
    classes: dict[int, str] = {}
    attribute = None
    for split, f in files:
        try:
            lines = bytes_of(f).splitlines()
        except OSError as e:
            raise ParseError(f, f"cannot read file ({e.strerror})") from None
        for n, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            where = f"{f}:{n}"
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                ctx.fail(ParseError(f"{where}:{e.pos + 1}", f"malformed JSON ({e.msg})"))
                continue
            try:
                rec, attr = _parse_line(doc, where, f.parent, split, classes, ctx)
            except Error as e:
                ctx.fail(e)
                continue
            attribute = attribute or attr
            records.append(rec)
    return _build(records, classes, attribute, ctx)


def _parse_line(doc: Any, where: str, base: Path, split: str, classes: dict[int, str],
                ctx: ReadContext) -> tuple[_Record, str | None]:
    if not isinstance(doc, dict) or not isinstance(doc.get("source-ref"), str):
        raise ParseError(where, "expected a JSON object with a \"source-ref\"")
    file_name, image = _locate(doc["source-ref"], base, where, ("images",), ctx)
    rec = _Record(file_name, split, image, f"{where} ({file_name})")
    for key, meta in doc.items():
        if not key.endswith("-metadata") or not isinstance(meta, dict):
            continue
        attr = key[: -len("-metadata")]
        if meta.get("type") == DETECTION:
            _read_boxes(doc.get(attr), meta, rec, classes)
            return rec, attr
        if meta.get("type") == SEGMENTATION:
            _read_segmentation(doc.get(attr), meta, rec, base, classes)
            return rec, attr
    return rec, None


def _locate(ref: str, base: Path, where: str, dirs: tuple[str, ...],
            ctx: ReadContext | None = None) -> tuple[str, str | None]:
    """(file name, absolute path or None) of an s3:// URI or relative path; never fetched.
    With ctx (an image, not a mask): --images-dir and --follow-links apply."""
    if "://" in ref:
        name = PurePosixPath(ref.split("://", 1)[1].split("?", 1)[0]).name
        if not name:
            raise ParseError(where, f"{ref!r} names no file")
        candidates = [name, *(f"{d}/{name}" for d in dirs)]
    else:
        name = clean_relative(ref, where=where)
        candidates = [name, *(f"{d}/{name}" for d in dirs)]
    if ctx is not None:
        return name, common.find_image(ctx, base, candidates, where=where)
    for rel in candidates:
        p = resolve_inside(base, rel, where=where)
        if p.is_file():
            return name, os.path.abspath(p)
    return name, None


def _read_boxes(value: Any, meta: dict, rec: _Record, classes: dict[int, str]) -> None:
    where = rec.where
    _class_map(meta.get("class-map"), where, classes)
    if not isinstance(value, dict):
        raise ParseError(where, "bounding-box label attribute must be an object with "
                         "\"annotations\" and \"image_size\"")
    size = value.get("image_size")
    if isinstance(size, list) and size and isinstance(size[0], dict):
        w, h = size[0].get("width"), size[0].get("height")
        if isinstance(w, int) and isinstance(h, int):
            rec.width, rec.height = w, h
    anns = value.get("annotations", [])
    objects = meta.get("objects")
    if not isinstance(anns, list):
        raise ParseError(where, "\"annotations\" must be a list")
    for k, a in enumerate(anns):
        w_a = f"{where}: annotations[{k}]"
        if not isinstance(a, dict) or not all(jf.is_number(a.get(key)) for key in
                                              ("left", "top", "width", "height")):
            raise ParseError(w_a, "expected class_id, left, top, width, height numbers, got "
                             f"{a!r}")
        cid = a.get("class_id")
        if not isinstance(cid, int) or isinstance(cid, bool):
            raise ParseError(w_a, f"class_id must be an integer, got {cid!r}")
        score = np.nan
        if isinstance(objects, list) and k < len(objects) and isinstance(objects[k], dict) \
                and jf.is_number(objects[k].get("confidence")):
            score = float(objects[k]["confidence"])
        box = np.array([a["left"], a["top"], a["left"] + a["width"], a["top"] + a["height"]],
                       np.float64)
        rec.objects.append((cid, box, score, None, w_a))


def _class_map(raw: Any, where: str, classes: dict[int, str]) -> None:
    if raw is None:
        return
    if not isinstance(raw, dict):
        raise ParseError(where, "class-map must be an object {\"0\": \"name\"}")
    for key, name in raw.items():
        try:
            cid = int(key)
        except ValueError:
            raise ParseError(where, f"class-map key {key!r} is not an integer") from None
        if classes.setdefault(cid, str(name)) != str(name):
            raise ValidationError(where, f"class id {cid} is {name!r} here but "
                                  f"{classes[cid]!r} on an earlier line")


def _read_segmentation(ref: Any, meta: dict, rec: _Record, base: Path,
                       classes: dict[int, str]) -> None:
    where = rec.where
    cmap = meta.get("internal-color-map")
    if not isinstance(ref, str) or not isinstance(cmap, dict):
        raise ParseError(where, "a semantic-segmentation line needs \"<attr>-ref\" and "
                         "internal-color-map")
    colors: dict[tuple[int, int, int], int] = {}
    for key, entry in cmap.items():
        try:
            cid = int(key)
            hexc = entry["hex-color"].lstrip("#")
            colors[(int(hexc[0:2], 16), int(hexc[2:4], 16), int(hexc[4:6], 16))] = cid
            name = str(entry["class-name"])
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ParseError(where, f"internal-color-map entry {key!r} needs class-name and "
                             "hex-color") from None
        if cid != 0 and name.upper() != "BACKGROUND":
            classes.setdefault(cid, name)
    _, mask_path = _locate(ref, base, where, ("masks", "annotations", "images"))
    if mask_path is None:
        raise ParseError(where, f"mask {ref!r} not found beside the manifest (s3:// is not "
                         "fetched)")
    with Image.open(mask_path) as im:
        pixels = np.asarray(im.convert("RGB"))
    rec.height, rec.width = pixels.shape[:2]
    code = (pixels[..., 0].astype(np.int64) << 16) | (pixels[..., 1].astype(np.int64) << 8) \
        | pixels[..., 2]
    for (r, g, b), cid in sorted(colors.items(), key=lambda kv: kv[1]):
        if cid not in classes:
            continue
        mask = code == ((r << 16) | (g << 8) | b)
        if not mask.any():
            continue
        ys, xs = np.nonzero(mask)
        box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], np.float64)
        rec.objects.append((cid, box, np.nan, mask_to_rle(mask), f"{where}: class {cid}"))


def _build(records: list[_Record], classes: dict[int, str], attribute: str | None,
           ctx: ReadContext) -> Dataset:
    """The parsed lines into a DatasetBuilder: sizes from image_size (or a mask), else the
    image header; the class map's classes, then class ids it lacks named by their number."""
    b = DatasetBuilder(ctx, format="sagemaker")
    handles = [b.image(r.file_name, r.split, r.path,
                       (r.width, r.height) if r.width > 0 and r.height > 0 else None,
                       where=r.where) for r in records]
    b.fill_sizes(no_size="no image_size and the image is not beside the manifest; the size "
                 "cannot be known")
    kept = [(img, r) for img, r in zip(handles, records) if b.size(img) is not None]
    for _, r in kept:
        for cid, *_ in r.objects:
            classes.setdefault(cid, str(cid))
    for cid, name in classes.items():
        b.category(name, id=cid)
    for img, r in kept:
        for cid, box, score, rle, where in r.objects:
            b.object(img, cid, box, rle=rle, score=None if np.isnan(score) else score,
                     where=where)
    return b.build(meta={"sagemaker.attribute": attribute} if attribute else {})


# --- write ----------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs, ann = ds.images, ds.annotations
    attr = str(ds.meta.get("sagemaker.attribute") or DEFAULT_ATTRIBUTE)
    prefix = ctx.options.get("s3_prefix")
    if prefix is not None and not str(prefix).startswith("s3://"):
        raise OutputError(f"s3_prefix must start with s3://, got {prefix!r}")
    class_map = {str(c.id): c.name for c in ds.categories}
    boxes = ann[~ann.is_label]
    rows_of = rows_by_image(boxes, len(imgs))
    lines: dict[str, list[bytes]] = {}
    dests: list[Path] = []
    seen: set[tuple[str, str]] = set()
    for i in range(len(imgs)):
        split = str(imgs.split[i])
        name = listed_once(imgs.file_name[i], split, seen, out_dir)
        if split != UNSPLIT and jf.split_of_dir(split) != split:
            raise OutputError(f"{out_dir}: split {split!r} cannot be written (SageMaker output "
                              "keeps splits as train/, val/ and test/ folders); rename it")
        folder = out_dir / split if split != UNSPLIT else out_dir
        dests.append(folder / name)
        rows = rows_of[i]
        annotations = []
        for r in rows:
            x1, y1, x2, y2 = (float(v) for v in boxes.xyxy[r])
            annotations.append({"class_id": int(boxes.category_id[r]), "left": jf.num(x1),
                                "top": jf.num(y1), "width": jf.num(x2 - x1, 9),
                                "height": jf.num(y2 - y1, 9)})
        metadata: dict[str, Any] = {}
        if boxes.score is not None and len(rows):
            metadata["objects"] = [{"confidence": float(boxes.score[r])} for r in rows]
        metadata.update({"class-map": class_map, "type": DETECTION, "human-annotated": "yes",
                         "job-name": f"labeling-job/{attr}"})
        ref = f"{str(prefix).rstrip('/')}/{name}" if prefix else name
        line = {"source-ref": ref,
                attr: {"image_size": [{"width": int(imgs.width[i]),
                                       "height": int(imgs.height[i]), "depth": 3}],
                       "annotations": annotations},
                f"{attr}-metadata": metadata}
        lines.setdefault(split, []).append(orjson.dumps(line, option=orjson.OPT_SERIALIZE_NUMPY))
    for split, content in lines.items():
        folder = out_dir / split if split != UNSPLIT else out_dir
        folder.mkdir(parents=True, exist_ok=True)
        (folder / OUTPUT_FILE).write_bytes(b"\n".join(content) + b"\n")
    common.write_images(ds, lambda i: dests[i], ctx)


FORMAT = Format(
    name="sagemaker",
    description="Amazon SageMaker Ground Truth output manifest (bounding-box jobs; "
                "semantic-segmentation jobs read only)",
    supports=frozenset({BOXES, SCORES, CATEGORY_IDS, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("sagemaker-gt", "ground-truth", "groundtruth"),
    write_options=(Option("s3_prefix", help="write source-ref as s3://bucket/prefix/<file "
                          "name> instead of a path beside the manifest",
                          example="s3://bucket/prefix/"),),
)
