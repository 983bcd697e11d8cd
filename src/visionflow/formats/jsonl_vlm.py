"""JSONL for vision-language fine-tuning: PaliGemma and Florence-2 object detection targets.

One JSON object per line (Roboflow's export layout: `_annotations.<split>.jsonl`, or
`_annotations.jsonl` without splits, images beside it or in `<split>/`):

    PaliGemma  {"image": "x.jpg", "prefix": "detect cat ; dog",
                "suffix": "<loc0123><loc0456><loc0789><loc1000> cat ; <loc...>... dog"}
               loc tokens y1 x1 y2 x2, each round(v / size * 1024) clipped to 0..1023
               (read back as loc / 1024 * size, as Google's PaliGemma docs decode them)
    Florence-2 {"image": "x.jpg", "prefix": "<OD>",
                "suffix": "cat<loc_12><loc_34><loc_56><loc_78>dog<loc_...>..."}
               loc tokens x1 y1 x2 y2, each floor(v / size * 1000) clipped to 0..999 (read back
               as the bin center (loc + 0.5) / 1000 * size, as Florence-2's processor does)

The writer's style is `-O style=paligemma` (default) or `style=florence2`; the reader accepts
both, line by line. Quantization moves box edges by up to size/1024 (PaliGemma) or size/2000
(Florence-2) pixels: the writer reports the largest move it made as warning
"jsonl_vlm.quantization" (a precision loss, not a dropped annotation). Image sizes come from the
image files (needed to decode the tokens). Class order: PaliGemma's prefix lists every class in
order ("detect a ; b"), kept on reading; Florence-2 has no class list (classes sorted by name,
an unsorted order reported as loss "class_order"). Class names may not contain ';', '<' or '>'.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..core.annotations import Annotations
from ..core.categories import Categories
from ..core.dataset import Dataset
from ..core.errors import Error, FormatError, MissingImageError, OutputError, ParseError
from ..core.images import UNSPLIT, Images, canonical_split
from ..io.paths import clean_relative
from ..io.safe_load import bytes_of
from . import common
from .builder import header_sizes
from .base import BOXES, CLASS_ORDER, Detection, Format, Option, ReadContext, WriteContext
from .writing import rows_by_image

STYLES = ("paligemma", "florence2")
_FILE = re.compile(r"^_?annotations(?:\.(?P<split>[\w.-]+))?\.jsonl$", re.IGNORECASE)
_PALI = re.compile(r"((?:<loc\d{4}>){4})\s*([^;<>]*?)\s*(?:;|$)")
_FLOR = re.compile(r"([^<>]*?)((?:<loc_\d{1,3}>){4})")
_LOC = re.compile(r"\d+")
_WRITE_SPLIT = {"val": "valid"}


# --- detect -------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    files = _files(path)
    if not files:
        return None
    try:
        with open(files[0][1], "rb") as f:
            line = f.readline(1 << 20)
        doc = orjson.loads(line)
    except (OSError, orjson.JSONDecodeError):
        return None
    if not isinstance(doc, dict) or "image" not in doc or "suffix" not in doc:
        return None
    suffix, prefix = str(doc.get("suffix", "")), str(doc.get("prefix", ""))
    if "<loc_" in suffix or prefix.startswith("<OD>"):
        style = "Florence-2"
    elif "<loc" in suffix or prefix.startswith("detect"):
        style = "PaliGemma"
    else:
        return Detection("jsonl-vlm", 0.4, ((f"{files[0][1].name}: image/prefix/suffix JSONL "
                                            "without detection tokens"),))
    return Detection("jsonl-vlm", 0.9, ((f"{files[0][1].name}: {style} detection JSONL "
                                        "(image, prefix, suffix with loc tokens)"),))


# --- read ---------------------------------------------------------------------------------

def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    files = _files(path)
    if not files:
        raise FormatError(f"{path}: no _annotations[.<split>].jsonl file")
    root = path.parent if path.is_file() else path
    records: list[dict[str, Any]] = []
    prefix_names: list[str] = []
    for split, file in files:
        try:
            lines = bytes_of(file).splitlines()
        except OSError as e:
            raise ParseError(file, f"cannot read ({e.strerror})") from None
        for n, raw in enumerate(lines, 1):
            if not raw.strip():
                continue
            where = f"{file}:{n}"
            try:
                doc = orjson.loads(raw)
            except orjson.JSONDecodeError as e:
                ctx.fail(ParseError(where, f"invalid JSON ({e})"))
                continue
            if not isinstance(doc, dict) or not isinstance(doc.get("image"), str) \
                    or not isinstance(doc.get("suffix", ""), str) \
                    or not isinstance(doc.get("prefix", ""), str):
                ctx.fail(ParseError(where, "expected an object with string fields image, "
                                    "prefix and suffix"))
                continue
            try:
                objects, names = _parse(doc.get("prefix", ""), doc.get("suffix", ""), where)
                name, image = _find_image(root, split, doc["image"], where, ctx)
            except Error as e:
                ctx.fail(e)
                continue
            prefix_names += [x for x in names if x not in prefix_names]
            records.append({"file_name": name, "path": image, "split": split, "where": where,
                            "objects": objects})
    sizes = header_sizes(ctx, [r["path"] for r in records], [r["where"] for r in records],
                         lambda i: MissingImageError(records[i]["where"], "image "
                                                     f"{records[i]['file_name']!r} not found; its "
                                                     "size is needed to decode the loc tokens"))
    keep = sizes[:, 0] > 0
    records = [r for r, k in zip(records, keep) if k]
    sizes = sizes[keep]

    found = sorted({o[0] for r in records for o in r["objects"]} - set(prefix_names))
    names = prefix_names + found
    cat_id = {nm: i for i, nm in enumerate(names, 1)}
    rows, cats, boxes = [], [], []
    for i, r in enumerate(records):
        w, h = sizes[i]
        for name, style, loc in r["objects"]:
            rows.append(i)
            cats.append(cat_id[name])
            boxes.append(_decode(style, loc, w, h))
    ann = Annotations.build(rows, cats, np.array(boxes, np.float64).reshape(-1, 4))
    images = Images.build([r["file_name"] for r in records], sizes[:, 0], sizes[:, 1],
                          split=[r["split"] for r in records], path=[r["path"] for r in records])
    ds = Dataset(images, ann, Categories.from_names(names))
    return common.finish_read(ds, ctx, where_annotation=lambda k: records[rows[k]]["where"],
                              where_image=lambda i: records[i]["where"])


def _files(path: Path) -> list[tuple[str, Path]]:
    if path.is_file():
        if path.suffix.lower() != ".jsonl":
            return []
        m = _FILE.match(path.name)
        return [(canonical_split(m.group("split")) if m and m.group("split") else UNSPLIT, path)]
    if not path.is_dir():
        return []
    out = []
    for f in sorted(path.glob("*.jsonl")):
        m = _FILE.match(f.name)
        if m:
            out.append((canonical_split(m.group("split")) if m.group("split") else UNSPLIT, f))
    return sorted(out, key=lambda sf: (common.split_rank(sf[0]), sf[0]))


def _parse(prefix: str, suffix: str, where: str) -> tuple[list[tuple[str, str, list[int]]], list[str]]:
    """Objects (name, style, 4 locs) of a suffix, and the class names a PaliGemma prefix lists."""
    names: list[str] = []
    if prefix.startswith("detect"):
        names = [x.strip() for x in prefix[len("detect"):].split(";") if x.strip()]
    text = suffix.strip()
    if not text:
        return [], names
    pattern, style = (_FLOR, "florence2") if "<loc_" in text else (_PALI, "paligemma")
    objects, pos = [], 0
    for m in pattern.finditer(text):
        if text[pos:m.start()].strip(" ;"):
            break
        locs_text, name = (m.group(1), m.group(2)) if style == "paligemma" else (m.group(2),
                                                                                  m.group(1))
        name = name.strip()
        if not name:
            raise ParseError(where, f"object without a class name near {m.group(0)[:60]!r}")
        locs = [int(v) for v in _LOC.findall(locs_text)]
        if style == "paligemma" and max(locs) > 1023:
            raise ParseError(where, f"PaliGemma loc token > 1023 in {m.group(0)[:60]!r}")
        objects.append((name, style, locs))
        pos = m.end()
    if text[pos:].strip(" ;"):
        expected = ("'<locY1><locX1><locY2><locX2> name ; ...'" if style == "paligemma"
                    else "'name<loc_X1><loc_Y1><loc_X2><loc_Y2>...'")
        raise ParseError(where, f"cannot parse suffix at {text[pos:pos + 60]!r}; expected "
                         f"{expected}")
    return objects, names


def _decode(style: str, loc: list[int], w: int, h: int) -> list[float]:
    if style == "paligemma":
        y1, x1, y2, x2 = loc
        return [x1 / 1024 * w, y1 / 1024 * h, x2 / 1024 * w, y2 / 1024 * h]
    x1, y1, x2, y2 = loc
    return [(x1 + 0.5) / 1000 * w, (y1 + 0.5) / 1000 * h, (x2 + 0.5) / 1000 * w,
            (y2 + 0.5) / 1000 * h]


def _find_image(root: Path, split: str, name: str, where: str,
                ctx: ReadContext) -> tuple[str, str | None]:
    rel = clean_relative(name, where=where)
    return rel, common.find_image(ctx, root, [f"{base}/{rel}" if base else rel for base in
                                              ([split] if split else []) + ["images", ""]],
                                  where=where)


# --- write --------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    style = ctx.options.get("style", "paligemma")  # one of STYLES (api.write checks)
    names = {c.id: c.name for c in ds.categories}
    for n in names.values():
        if not n.strip() or any(ch in n for ch in ";<>\n") or n != n.strip():
            raise OutputError(f"class name {n!r} cannot be written in a {style} target "
                              "(empty, ';', '<', '>' or newline); rename it")
    ordered = [c.name for c in ds.categories]
    if style == "florence2" and ordered != sorted(ordered):
        ctx.loss("class_order", len(ordered), "a class order that is not sorted by name "
                 "(Florence-2 targets have no class list; classes read back sorted)")
    imgs = ds.images
    ann = ds.annotations[~ds.annotations.is_label]
    rows_of = rows_by_image(ann, len(imgs))
    splits = [str(s) for s in imgs.split]
    for s in set(splits) - {UNSPLIT}:
        if not re.fullmatch(r"[\w-]+", s):
            raise OutputError(f"{out_dir}: split name {s!r} cannot name a JSONL file; rename it")
    lines: dict[str, list[bytes]] = {}
    dest: list[Path] = []
    max_err = 0.0
    prefix = "detect " + " ; ".join(ordered) if style == "paligemma" else "<OD>"
    for i in range(len(imgs)):
        rel = clean_relative(str(imgs.file_name[i]), where=f"image {imgs.file_name[i]!r}")
        w, h = int(imgs.width[i]), int(imgs.height[i])
        parts = []
        for r in rows_of[i]:
            loc = _encode(style, ann.xyxy[r], w, h)
            back = np.array(_decode(style, loc, w, h))
            max_err = max(max_err, float(np.abs(back - ann.xyxy[r]).max()))
            name = names[int(ann.category_id[r])]
            if style == "paligemma":
                parts.append("".join(f"<loc{v:04d}>" for v in loc) + f" {name}")
            else:
                parts.append(name + "".join(f"<loc_{v}>" for v in loc))
        suffix = " ; ".join(parts) if style == "paligemma" else "".join(parts)
        doc = {"image": rel, "prefix": prefix, "suffix": suffix}
        lines.setdefault(splits[i], []).append(orjson.dumps(doc))
        dest.append(out_dir / splits[i] / rel if splits[i] else out_dir / rel)
    for split, rows in lines.items():
        name = f"_annotations.{_WRITE_SPLIT.get(split, split)}.jsonl" if split \
            else "_annotations.jsonl"
        (out_dir / name).write_bytes(b"".join(row + b"\n" for row in rows))
    if max_err > 1e-9:
        ctx.report.add("warning", "jsonl_vlm.quantization", f"{style} loc tokens quantize box "
                       f"edges: moved by up to {max_err:.2f} px", count=len(ann))
    common.write_images(ds, lambda i: dest[i], ctx)


def _encode(style: str, xyxy: np.ndarray, w: int, h: int) -> list[int]:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    if style == "paligemma":
        top = 1023
        q = lambda v, size: min(top, max(0, math.floor(v / size * 1024 + 0.5)))
    else:
        top = 999
        q = lambda v, size: min(top, max(0, math.floor(v / size * 1000)))
    lx1, ly1, lx2, ly2 = q(x1, w), q(y1, h), q(x2, w), q(y2, h)
    # A box narrower than a bin would decode with zero size: keep its edges one bin apart.
    if lx2 <= lx1 and x2 > x1:
        lx1, lx2 = (lx1, lx1 + 1) if lx1 < top else (top - 1, top)
    if ly2 <= ly1 and y2 > y1:
        ly1, ly2 = (ly1, ly1 + 1) if ly1 < top else (top - 1, top)
    return [ly1, lx1, ly2, lx2] if style == "paligemma" else [lx1, ly1, lx2, ly2]


FORMAT = Format(
    name="jsonl-vlm",
    description="JSONL for vision-language fine-tuning (PaliGemma <locNNNN> / Florence-2 "
                "<OD> <loc_NNN> detection targets)",
    supports=frozenset({BOXES, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("paligemma", "florence2", "florence-2"),
    write_options=(Option("style", default="paligemma", choices=STYLES,
                          help="paligemma ('detect a ; b' prefixes, <locNNNN> y-first) or "
                               "florence2 ('<OD>', <loc_NNN> x-first)"),),
)
