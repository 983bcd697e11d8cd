"""Label Studio JSON export (the full "JSON" export; "JSON-MIN" is read too).

    [{"id": 1, "data": {"image": "/data/upload/1/a.jpg"},
      "annotations": [{"id": 7, "was_cancelled": false, "result": [
        {"id": "r1", "type": "rectanglelabels", "from_name": "label", "to_name": "image",
         "original_width": 640, "original_height": 480,
         "value": {"x": 10, "y": 20, "width": 30, "height": 40, "rotation": 0,
                   "rectanglelabels": ["cat"]}}]}]}]

Coordinates are PERCENT of the image (x, y of the top-left corner). Results read:
- rectanglelabels -> box; `rotation` != 0 (degrees, clockwise about the top-left corner) ->
  oriented box with the box as its bounds;
- polygonlabels -> polygon (points in percent), box = bounds;
- keypointlabels -> a 1-pixel box centred on the point, the point kept in
  "label-studio.points" so Label Studio output writes a keypoint again (Label Studio points
  are single, unnamed points, not COCO keypoint sets);
- brushlabels -> mask: Label Studio's own RLE (thi.ng rle-pack of the RGBA bytes; the alpha
  channel is the mask) decoded to COCO RLE, and encoded back the way label-studio-converter
  does (word size 8, run sizes 3/4/8/16);
- choices -> image-level labels (NaN box).
A result with several labels gives one annotation per label. Result ids, from_name and
to_name are kept as "label-studio.id/from_name/to_name". Other result types (text areas,
relations, ratings) are skipped with a warning. Of a task's annotations the first one not
cancelled is read (a warning counts tasks with more); predictions are not read.

Images: `data.image` is a URL of the Label Studio server (/data/upload/..., /data/local-files/
?d=..., http(s)://, s3://); it is never fetched. The image is looked up by its base name (or
the local-files path) beside the JSON and in images/; the file name is that base name and the
URL is kept (image attr "label-studio.image") and written back. The image size comes from
original_width/height, else from the image header. Task ids are kept as image ids.

Classes: from `label_config.xml` beside the JSON when present (every <Label>/<Choice> value in
order), then other names sorted (when the config is there: warning "label_studio.undeclared"
naming the first result, an error when reading strictly); without it sorted by name. The
writer writes label_config.xml
(one control tag per kind of result written, each listing every class) and `result.json`, with
the images beside it, in `<split>/` folders when the dataset has splits.
"""

from __future__ import annotations

import math
import urllib.parse
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from lxml import etree

from ..core.dataset import Dataset
from ..core.errors import Error, FormatError, OutputError, ParseError, UnsafeInputError
from ..core.geometry import mask_to_rle, points_bounds, rle_to_mask
from ..core.images import UNSPLIT
from ..io.images import MAX_PIXELS
from ..io.paths import clean_relative
from . import _jsonfmt as jf
from . import common
from .builder import DatasetBuilder
from .base import (
    BOXES,
    CLASS_ORDER,
    IMAGE_IDS,
    LABELS,
    MASKS,
    POLYGONS,
    Detection,
    Format,
    ReadContext,
    WriteContext,
)
from .writing import listed_once, rows_by_image

OUTPUT_FILE = "result.json"
CONFIG_FILE = "label_config.xml"
PERCENT_DECIMALS = 12  # 1e-12 % of a 10,000 px side is 1e-10 px: under the round trip's 1e-9
NS = "label-studio."
_KINDS = ("rectanglelabels", "polygonlabels", "keypointlabels", "brushlabels", "choices")
_CONTROL_TAGS = {"rectanglelabels": "RectangleLabels", "polygonlabels": "PolygonLabels",
                 "keypointlabels": "KeyPointLabels", "brushlabels": "BrushLabels",
                 "choices": "Choices"}
_DEFAULT_FROM = {"rectanglelabels": "label", "polygonlabels": "polygon",
                 "keypointlabels": "keypoint", "brushlabels": "brush", "choices": "choice"}


# --- detect ---------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    for f in _files(path, probe=True)[:3]:
        h = jf.head(f).lstrip()
        if h[:1] != b"[":
            continue
        if b'"data"' in h and (b'"annotations"' in h or b'"predictions"' in h):
            return Detection("label-studio", 0.9, (
                (f"{f.name}: JSON list of tasks with \"data\" and \"annotations\" "
                "(Label Studio export)"),))
        if b'"annotation_id"' in h and (b'"image"' in h):
            return Detection("label-studio", 0.8, (
                (f"{f.name}: JSON list with \"image\" and \"annotation_id\" (Label Studio "
                "JSON-MIN export)"),))
    return None


def _files(path: Path, probe: bool = False) -> list[tuple[str, Path]] | list[Path]:
    """(split, JSON file) pairs; with probe, just candidate files."""
    if path.is_file():
        found = [(UNSPLIT, path)] if path.suffix.lower() == ".json" else []
    else:
        found = [(UNSPLIT, f) for f in sorted(path.glob("*.json"))]
        try:
            subdirs = sorted(d for d in path.iterdir() if d.is_dir() and jf.split_of_dir(d.name))
        except OSError:
            subdirs = []
        for d in subdirs:
            found += [(jf.split_of_dir(d.name), f) for f in sorted(d.glob("*.json"))]
    return [f for _, f in found] if probe else found


# --- read -----------------------------------------------------------------------------------

def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    root = path if path.is_dir() else path.parent
    b = DatasetBuilder(ctx, format="label_studio")
    tasks: list[tuple[int, list[tuple[dict, str]]]] = []  # (image, its results to parse)
    counts = {"several": 0, "skipped": 0}
    found = False
    for split, f in _files(path):
        if path.is_dir():
            h = jf.head(f).lstrip()
            if h[:1] != b"[" or not (b'"data"' in h or b'"annotation_id"' in h):
                continue
        found = True
        doc = jf.load(f)
        if not isinstance(doc, list):
            ctx.fail(ParseError(f, "expected a JSON list of tasks (Label Studio export), got "
                                f"{type(doc).__name__}"))
            continue
        for i, task in enumerate(doc):
            where = f"{f}: task [{i}]"
            try:
                tasks.append(_parse_task(task, where, f.parent, split, counts, b))
            except Error as e:
                ctx.fail(e)
    if not found:
        raise FormatError(f"{path}: no Label Studio JSON export found (a .json list of tasks)")
    if counts["several"]:
        ctx.report.add("warning", "label-studio.annotations", "tasks with several annotations: "
                       "the first one not cancelled is read", count=counts["several"])
    # results are in percent of the image: every size is needed before any object
    b.fill_sizes(no_size="image {file_name!r} not found and no result gives "
                 "original_width/original_height; the size cannot be known")
    for img, results in tasks:
        size = b.size(img)
        if size is None:
            continue
        for result, where in results:
            try:
                objects = _parse_result(result, where, size, counts)
            except Error as e:
                ctx.fail(e)
                continue
            for obj in objects:
                b.object(img, **obj)
    if counts["skipped"]:
        ctx.report.add("warning", "label-studio.skipped", "results of types other than "
                       f"{', '.join(_KINDS)} were skipped", count=counts["skipped"])
    for name in _read_config(root / CONFIG_FILE, ctx):
        b.category(name)
    return b.build(undeclared_message=f"labels not in {CONFIG_FILE} were added as classes: "
                   "{names}")


def _parse_task(task: Any, where: str, base: Path, split: str, counts: dict,
                b: DatasetBuilder) -> tuple[int, list[tuple[dict, str]]]:
    """The task's image into the builder; (its handle, its results with their `where`)."""
    if not isinstance(task, dict):
        raise ParseError(where, f"expected a task object, got {type(task).__name__}")
    if "data" in task:
        data = task["data"]
        url = data.get("image") if isinstance(data, dict) else None
        results = _task_results(task, where, counts)
    else:  # JSON-MIN: {"image": url, "<from_name>": [values...], ...}
        url = task.get("image")
        results = _min_results(task)
    if not isinstance(url, str) or not url:
        raise ParseError(where, "task has no data.image (only image tasks can be read)")
    task_id = task.get("id") if isinstance(task.get("id"), int) else None
    where = f"{where} (id {task_id})" if task_id is not None else where
    file_name, candidates = _image_name(url, where)
    image = common.find_image(b.ctx, base, candidates, where=where)
    size = None
    located: list[tuple[dict, str]] = []
    for k, result in enumerate(results):
        located.append((result, f"{where}: result[{k}]"))
        w, h = result.get("original_width"), result.get("original_height")
        if isinstance(w, int) and isinstance(h, int) and w > 0 and h > 0 and size is None:
            size = (w, h)
    img = b.image(file_name, split, image, size, id=task_id, where=where,
                  **{NS + "image": url if url != file_name else None})
    return img, located


def _task_results(task: dict, where: str, counts: dict) -> list[dict]:
    anns = task.get("annotations") or []
    if not isinstance(anns, list):
        raise ParseError(where, "'annotations' must be a list")
    live = [a for a in anns if isinstance(a, dict) and not a.get("was_cancelled")]
    if len(live) > 1:
        counts["several"] += 1
    if not live:
        return []
    result = live[0].get("result") or []
    if not isinstance(result, list):
        raise ParseError(where, "annotation 'result' must be a list")
    return result


def _min_results(task: dict) -> list[dict]:
    out = []
    for key, value in task.items():
        if not isinstance(value, list):
            continue
        for v in value:
            if isinstance(v, dict):
                kind = next((k for k in _KINDS if k in v), None)
                if kind:
                    out.append({"type": kind, "from_name": key, "value": v,
                                "original_width": v.get("original_width"),
                                "original_height": v.get("original_height")})
    return out


def _image_name(url: str, where: str) -> tuple[str, list[str]]:
    """(file name, relative paths to try) of a task's image URL; never fetched."""
    parsed = urllib.parse.urlparse(url)
    query = urllib.parse.parse_qs(parsed.query)
    if "d" in query and parsed.path.rstrip("/").endswith("local-files"):
        rel = query["d"][0]
        name = PurePosixPath(rel.replace("\\", "/")).name
        try:
            clean = clean_relative(rel.lstrip("/"), where=where)
            return name, [clean, name, f"images/{name}"]
        except UnsafeInputError:
            return name, [name, f"images/{name}"]
    if parsed.scheme or url.startswith("/"):
        name = PurePosixPath(urllib.parse.unquote(parsed.path)).name
        if not name:
            raise ParseError(where, f"data.image {url!r} names no file")
        return name, [name, f"images/{name}"]
    clean = clean_relative(url, where=where)
    return clean, [clean, f"images/{clean}"]


def _parse_result(result: Any, where: str, size: tuple[int, int], counts: dict
                  ) -> list[dict[str, Any]]:
    """DatasetBuilder.object's arguments for each label of one result."""
    if not isinstance(result, dict):
        raise ParseError(where, "expected a result object")
    kind = result.get("type")
    value = result.get("value")
    if kind not in _KINDS:
        counts["skipped"] += 1
        return []
    if not isinstance(value, dict):
        raise ParseError(where, "result has no 'value' object")
    labels = value.get(kind)
    if not isinstance(labels, list) or not labels or not all(isinstance(n, str)
                                                              for n in labels):
        raise ParseError(where, f"value.{kind} must be a non-empty list of names, got {labels!r}")
    where = f"{where} ({kind} {', '.join(labels)})"
    w, h = float(size[0]), float(size[1])
    attrs: dict[str, Any] = {}
    for key in ("id", "from_name", "to_name"):
        if isinstance(result.get(key), str):
            attrs[NS + key] = result[key]
    ring = rle = obb = None
    if kind == "choices":
        box = np.full(4, np.nan)
    elif kind == "rectanglelabels":
        x, y, bw, bh = _numbers(value, ("x", "y", "width", "height"), where)
        rot = value.get("rotation") or 0
        if not jf.is_number(rot):
            raise ParseError(where, f"rotation must be a number, got {rot!r}")
        x, y, bw, bh = x * w / 100, y * h / 100, bw * w / 100, bh * h / 100
        if rot % 360:
            t = math.radians(rot)
            ux, uy = math.cos(t), math.sin(t)
            p0 = np.array([x, y])
            p1 = p0 + bw * np.array([ux, uy])
            p3 = p0 + bh * np.array([-uy, ux])
            obb = np.stack([p0, p1, p1 + p3 - p0, p3])
            box = points_bounds(obb)
        else:
            box = np.array([x, y, x + bw, y + bh])
    elif kind == "polygonlabels":
        pts = value.get("points")
        if (not isinstance(pts, list) or len(pts) < 3 or not all(
                isinstance(p, list) and len(p) == 2 and all(jf.is_number(v) for v in p)
                for p in pts)):
            raise ParseError(where, "points must be at least 3 [x, y] pairs in percent")
        ring = np.asarray(pts, np.float64) * [w / 100, h / 100]
        box = points_bounds(ring)
    elif kind == "keypointlabels":
        x, y = _numbers(value, ("x", "y"), where)
        px, py = x * w / 100, y * h / 100
        box = np.array([px - 0.5, py - 0.5, px + 0.5, py + 0.5])
        attrs[NS + "points"] = [[px, py]]
        if jf.is_number(value.get("width")):
            attrs[NS + "point_width"] = value["width"]
    else:
        rle, box = _brush(value, size, where)
    return [dict(label=n, box=np.asarray(box, np.float64),
                 rings=[ring] if ring is not None else None, rle=rle, obb=obb, attrs=attrs,
                 where=where) for n in labels]


def _numbers(value: dict, keys: tuple[str, ...], where: str) -> tuple[float, ...]:
    if not all(jf.is_number(value.get(k)) for k in keys):
        raise ParseError(where, f"value needs numbers {', '.join(keys)} (percent), got "
                         f"{ {k: value.get(k) for k in keys} !r}")
    return tuple(float(value[k]) for k in keys)


def _brush(value: dict, size: tuple[int, int], where: str) -> tuple[dict, np.ndarray]:
    width, height = size
    runs = value.get("rle")
    if value.get("format", "rle") != "rle" or not isinstance(runs, list) or not runs:
        raise ParseError(where, "brush value needs 'rle' (a list of bytes, format 'rle')")
    if width * height > MAX_PIXELS:
        raise UnsafeInputError(where, f"image of {width}x{height} is more than "
                               f"{MAX_PIXELS} pixels; refused as a possible decompression bomb")
    try:  # a few bytes may claim 4 billion values: refused before allocating them
        flat = decode_rle(bytes(runs), limit=width * height * 4)
    except (ValueError, IndexError, TypeError):
        raise ParseError(where, "brush rle is not valid Label Studio RLE") from None
    if flat.size != width * height * 4:
        raise ParseError(where, f"brush rle holds {flat.size} values, expected "
                         f"{width}x{height}x4 = {width * height * 4}")
    mask = flat.reshape(height, width, 4)[:, :, 3] > 0
    ys, xs = np.nonzero(mask)
    if not len(xs):
        raise ParseError(where, "brush mask is empty")
    return mask_to_rle(mask), np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1],
                                       np.float64)


def decode_rle(data: bytes, limit: int | None = None) -> np.ndarray:
    """Label Studio brush RLE (thi.ng/rle-pack) -> the flat uint8 values (RGBA per pixel).

    Header: 32 bits count, 5 bits word size - 1, four 4-bit run-length field sizes - 1. Then
    per chunk: 1 bit (1 = a run of one value, 0 = that many literal values), 2 bits choosing
    the length field, the length - 1, and the value(s) in word-size bits.
    """
    bits = np.unpackbits(np.frombuffer(data, np.uint8))
    pos = 0

    def take(n: int) -> int:
        nonlocal pos
        if pos + n > bits.size:
            raise ValueError("truncated")
        chunk = bits[pos:pos + n]
        pos += n
        return int(chunk.dot(1 << np.arange(n - 1, -1, -1, dtype=np.int64))) if n else 0

    count = take(32)
    if limit is not None and count > limit:
        raise ValueError(f"claims {count} values, more than the {limit} of its image")
    word = take(5) + 1
    sizes = [take(4) + 1 for _ in range(4)]
    if word > 8:
        raise ValueError("word size above 8 bits")
    out = np.zeros(count, np.uint8)
    i = 0
    while i < count:
        is_run = take(1)
        j = i + 1 + take(sizes[take(2)])
        if j > count:
            raise ValueError("run past the end")
        if is_run:
            out[i:j] = take(word)
        else:
            for k in range(i, j):
                out[k] = take(word)
        i = j
    return out


def encode_rle(values: np.ndarray) -> list[int]:
    """Flat uint8 values -> Label Studio brush RLE bytes, as label-studio-converter's
    encode_rle writes them (word size 8, run-length field sizes 3, 4, 8, 16)."""
    values = np.asarray(values, np.uint8).reshape(-1)
    n = values.size
    chunks: list[str] = [f"{n:032b}", f"{7:05b}", "0010", "0011", "0111", "1111"]
    if n:
        change = np.flatnonzero(values[1:] != values[:-1]) + 1
        starts = np.concatenate([[0], change])
        lengths = np.diff(np.concatenate([starts, [n]]))
        for start, length in zip(starts.tolist(), lengths.tolist()):
            v = f"{int(values[start]):08b}"
            if length == 1:
                chunks.append("0" + "00" + "000" + v)
                continue
            while length > 1 << 16:
                chunks.append("1" + "11" + f"{(1 << 16) - 1:016b}" + v)
                length -= 1 << 16
            if length <= 8:
                chunks.append("1" + "00" + f"{length - 1:03b}" + v)
            elif length <= 16:
                chunks.append("1" + "01" + f"{length - 1:04b}" + v)
            elif length <= 256:
                chunks.append("1" + "10" + f"{length - 1:08b}" + v)
            else:
                chunks.append("1" + "11" + f"{length - 1:016b}" + v)
    text = "".join(chunks)
    text += "0" * (8 - len(text) % 8)
    return np.packbits(np.frombuffer(text.encode("ascii"), np.uint8) - 48).tolist()


def _read_config(path: Path, ctx: ReadContext) -> list[str]:
    if not path.is_file():
        return []
    from ..io.xml import load as load_xml  # lxml loaded only when a config is there
    try:
        root = load_xml(path)
    except (ParseError, UnsafeInputError) as e:
        ctx.fail(e)
        return []
    names = [el.get("value") for el in root.iter("Label", "Choice") if el.get("value")]
    return list(dict.fromkeys(names))


# --- write ----------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs, ann = ds.images, ds.annotations
    names = {c.id: c.name for c in ds.categories}
    # class names go into the labelling config, an XML file
    common.refuse_names(names.values(), "class name", "the Label Studio labelling config "
                        "(XML)", lines=False, xml=True)
    if ann.polygons is not None:
        ctx.loss("polygon_rings", int((ann.polygons.counts() > 1).sum()), "objects made of "
                 "several polygons (Label Studio keeps the first)")
    rows_of = rows_by_image(ann, len(imgs))
    docs: dict[str, list] = {}
    controls: dict[tuple[str, str], str] = {}
    dests: list[Path] = []
    seen: set[tuple[str, str]] = set()
    with ctx.progress("Writing Label Studio", len(imgs)) as advance:
        for i in range(len(imgs)):
            split = str(imgs.split[i])
            name = listed_once(imgs.file_name[i], split, seen, out_dir)
            folder = _folder(split, out_dir)
            dests.append(out_dir / folder / name if folder else out_dir / name)
            results = [res for r in rows_of[i]
                       for res in _results(ds, i, int(r), names, controls)]
            url = imgs.attr(NS + "image")[i] or name
            docs.setdefault(folder, []).append({
                "id": int(imgs.id[i]), "data": {"image": url},
                "annotations": [{"id": 1, "was_cancelled": False, "result": results}]})
            advance(1)
    for folder, doc in docs.items():
        target = out_dir / folder / OUTPUT_FILE if folder else out_dir / OUTPUT_FILE
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(jf.dump(doc))
    (out_dir / CONFIG_FILE).write_bytes(_config(ds, controls))
    common.write_images(ds, lambda i: dests[i], ctx)


def _folder(split: str, out_dir: Path) -> str:
    if split == UNSPLIT:
        return ""
    if jf.split_of_dir(split) != split:
        raise OutputError(f"{out_dir}: split {split!r} cannot be written: Label Studio output "
                          "keeps splits as train/, val/ and test/ folders; rename the split")
    return split


def _pct(v: float, size: float) -> int | float:
    return jf.num(v / size * 100, PERCENT_DECIMALS)


def _results(ds: Dataset, i: int, r: int, names: dict[int, str],
             controls: dict[tuple[str, str], str]) -> list[dict]:
    ann = ds.annotations
    w, h = float(ds.images.width[i]), float(ds.images.height[i])
    attrs = {k: v[r] for k, v in ann.attrs.items() if v[r] is not None}
    label = names[int(ann.category_id[r])]
    point = attrs.get(NS + "points")
    if ann.is_label[r]:
        kind, value = "choices", {}
    elif (isinstance(point, (list, tuple)) and len(point) == 1
          and isinstance(point[0], (list, tuple)) and len(point[0]) == 2):
        kind = "keypointlabels"
        value = {"x": _pct(point[0][0], w), "y": _pct(point[0][1], h)}
        if jf.is_number(attrs.get(NS + "point_width")):
            value["width"] = attrs[NS + "point_width"]
    elif ann.rle is not None and ann.rle[r] is not None:
        mask = rle_to_mask(ann.rle[r])
        kind = "brushlabels"
        value = {"format": "rle",
                 "rle": encode_rle(np.repeat(mask.reshape(-1).astype(np.uint8) * 255, 4))}
    elif ann.polygons is not None and ann.polygons.counts()[r] > 0:
        kind = "polygonlabels"
        ring = ann.polygons.rings(r)[0]
        value = {"points": [[_pct(x, w), _pct(y, h)] for x, y in ring], "closed": True}
    else:
        kind = "rectanglelabels"
        if ann.obb is not None and not np.isnan(ann.obb[r]).all():
            c = ann.obb[r]
            bw, bh = float(np.hypot(*(c[1] - c[0]))), float(np.hypot(*(c[3] - c[0])))
            rot = math.degrees(math.atan2(c[1][1] - c[0][1], c[1][0] - c[0][0])) % 360
            x, y = float(c[0][0]), float(c[0][1])
        else:
            x1, y1, x2, y2 = (float(v) for v in ann.xyxy[r])
            x, y, bw, bh, rot = x1, y1, x2 - x1, y2 - y1, 0
        value = {"x": _pct(x, w), "y": _pct(y, h), "width": _pct(bw, w),
                 "height": _pct(bh, h), "rotation": jf.num(rot, 6)}
    value[kind] = [label]
    from_name = str(attrs.get(NS + "from_name") or _DEFAULT_FROM[kind])
    to_name = str(attrs.get(NS + "to_name") or "image")
    controls.setdefault((from_name, to_name), kind)
    result: dict[str, Any] = {}
    if isinstance(attrs.get(NS + "id"), str):
        result["id"] = attrs[NS + "id"]
    result.update({"type": kind, "from_name": from_name, "to_name": to_name,
                   "original_width": int(w), "original_height": int(h),
                   "image_rotation": 0, "value": value})
    return [result]


def _config(ds: Dataset, controls: dict[tuple[str, str], str]) -> bytes:
    """label_config.xml: the image tag(s) and one control tag per (from_name, kind) written;
    every control lists every class, so classes without annotations survive."""
    view = etree.Element("View")
    for to_name in sorted({t for _, t in controls} | {"image"}):
        etree.SubElement(view, "Image", name=to_name, value=f"${to_name}")
    if not controls:
        controls = {("label", "image"): "rectanglelabels"}
    for (from_name, to_name), kind in sorted(controls.items()):
        el = etree.SubElement(view, _CONTROL_TAGS[kind], name=from_name, toName=to_name)
        child = "Choice" if kind == "choices" else "Label"
        for name in dict.fromkeys(c.name for c in ds.categories):
            etree.SubElement(el, child, value=name)
    etree.indent(view, space="  ")
    return etree.tostring(view, encoding="utf-8", pretty_print=True)


FORMAT = Format(
    name="label-studio",
    description="Label Studio JSON export (rectangles, rotated rectangles, polygons, key points, "
                "brush masks, choices)",
    supports=frozenset({BOXES, POLYGONS, MASKS, LABELS, CLASS_ORDER, IMAGE_IDS}),
    detect=detect,
    read=read,
    write=write,
    aliases=("labelstudio", "label_studio", "ls"),
)
