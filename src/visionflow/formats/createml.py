"""Apple CreateML object detection JSON: a list of images with their boxes.

    [{"image": "a.jpg", "annotations": [{"label": "cat",
      "coordinates": {"x": 120.5, "y": 80, "width": 40, "height": 30}}]}]

x and y are the box CENTRE in pixels (not the corner): xyxy = (x - w/2, y - h/2, x + w/2,
y + h/2). The file holds no image size; sizes come from the image headers, so images must be
on disk (a missing image is an error, --skip-errors drops it).

Layouts read: one .json file; a folder with `_annotations.createml.json` (Roboflow's name) or
exactly one CreateML .json; Roboflow's export with one such file per split folder (train/,
valid/, test/). Image names are relative to the JSON file's folder (also looked up in images/
beside it). Written: `_annotations.createml.json` with the images beside it, in
`<split>/` folders when the dataset has splits.

Classes: CreateML has no class list. Datumaro's `dataset_meta.json` ({"labels": [...]}) at the
root gives the class order when present (written by the writer, so classes without boxes and
the order survive); names it lacks, or all names without it, are sorted. Ids 1..N.

Detection tells CreateML apart from other JSON by shape: a top-level list whose items have
"image" and "annotations" with "coordinates" (COCO, LabelMe, VoTT, Datumaro and SageMaker
files are objects or JSON lines; Label Studio's list items have "data").
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..core.dataset import Dataset
from ..core.errors import Error, FormatError, OutputError, ParseError
from ..core.images import UNSPLIT
from ..io.paths import clean_relative
from . import _jsonfmt as jf
from . import common
from .base import BOXES, CLASS_ORDER, Detection, Format, ReadContext, WriteContext
from .writing import listed_once, rows_by_image

FILE_NAME = "_annotations.createml.json"
META_FILE = "dataset_meta.json"
DECIMALS = 9


# --- detect ---------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    files = _annotation_files(path, probe=True)
    for _, f in files[:3]:
        h = jf.head(f).lstrip()
        if h[:1] != b"[":
            continue
        if b'"image"' in h and b'"annotations"' in h and (b'"coordinates"' in h
                                                           or f.name == FILE_NAME):
            reasons = [(f"{f.name}: JSON list of {{image, annotations: [{{label, "
                       "coordinates}]}} (CreateML)")]
            if f.name == FILE_NAME:
                reasons.append(f"Roboflow's {FILE_NAME} name")
            return Detection("createml", 0.9 if f.name == FILE_NAME else 0.85, tuple(reasons))
    return None


def _annotation_files(path: Path, probe: bool = False) -> list[tuple[str, Path]]:
    """(split, JSON file) pairs the user means by `path`."""
    if path.is_file():
        return [(UNSPLIT, path)] if path.suffix.lower() == ".json" else []
    found: list[tuple[str, Path]] = []
    if (path / FILE_NAME).is_file():
        found.append((UNSPLIT, path / FILE_NAME))
    try:
        subdirs = sorted(d for d in path.iterdir() if d.is_dir() and not d.name.startswith("."))
    except OSError:
        return found
    for d in subdirs:
        if (d / FILE_NAME).is_file():
            found.append((jf.split_of_dir(d.name) or d.name, d / FILE_NAME))
    if found:
        return found
    top = sorted(f for f in path.glob("*.json") if f.name != META_FILE)
    if probe:
        return [(UNSPLIT, f) for f in top[:3]]
    return [(UNSPLIT, top[0])] if len(top) == 1 else []


# --- read -----------------------------------------------------------------------------------

_Record = jf.BoxRecord


def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    files = _annotation_files(path)
    if not files:
        raise FormatError(f"{path}: no CreateML JSON found (expected {FILE_NAME}, "
                          f"<split>/{FILE_NAME} or one .json file)")
    root = path if path.is_dir() else path.parent
    records: list[_Record] = []
    for split, f in files:
        records += _read_file(f, split, ctx)
    return jf.build_box_dataset(records, jf.read_labels_meta(root / META_FILE, ctx), ctx,
                                no_size="image file {file_name!r} not found; CreateML holds "
                                "no image size, so the image is needed")


def _read_file(f: Path, split: str, ctx: ReadContext) -> list[_Record]:
    doc = jf.load(f)
    if not isinstance(doc, list):
        raise ParseError(f, "expected a JSON list of {image, annotations} objects (CreateML), "
                         f"got {type(doc).__name__}")
    base = f.parent
    out: list[_Record] = []
    for i, item in enumerate(doc):
        where = f"{f}: [{i}]"
        try:
            out.append(_parse_item(item, where, base, split, ctx))
        except Error as e:
            ctx.fail(e)
    return out


def _parse_item(item: Any, where: str, base: Path, split: str, ctx: ReadContext) -> _Record:
    if not isinstance(item, dict) or not isinstance(item.get("image"), str):
        raise ParseError(where, "expected an object with an 'image' file name")
    name = clean_relative(item["image"], where=where)
    where = f"{where} ({name})"
    image = common.find_image(ctx, base, (name, f"images/{name}"), where=where)
    rec = _Record(name, split, image, where)
    anns = item.get("annotations", [])
    if not isinstance(anns, list):
        raise ParseError(where, "'annotations' must be a list")
    for k, a in enumerate(anns):
        w = f"{where}: annotations[{k}]"
        if not isinstance(a, dict) or not isinstance(a.get("label"), str):
            raise ParseError(w, "expected an object with a 'label' string")
        c = a.get("coordinates")
        if not isinstance(c, dict) or not all(jf.is_number(c.get(key))
                                              for key in ("x", "y", "width", "height")):
            raise ParseError(w, "coordinates must be an object with numbers x, y, width, "
                             f"height (box centre and size in pixels), got {c!r}")
        x, y, bw, bh = (float(c[key]) for key in ("x", "y", "width", "height"))
        rec.boxes.append((a["label"], np.array([x - bw / 2, y - bh / 2, x + bw / 2,
                                                y + bh / 2]), w))
    return rec


# --- write ----------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs, ann = ds.images, ds.annotations
    names = {c.id: c.name for c in ds.categories}
    boxes = ann[~ann.is_label]
    rows_of = rows_by_image(boxes, len(imgs))
    docs: dict[str, list] = {}
    dests: list[Path] = []
    seen: set[tuple[str, str]] = set()
    for i in range(len(imgs)):
        split = str(imgs.split[i])
        name = listed_once(imgs.file_name[i], split, seen, out_dir)
        folder = _folder(split, out_dir)
        dests.append(out_dir / folder / name if folder else out_dir / name)
        items = []
        for r in rows_of[i]:
            x1, y1, x2, y2 = (float(v) for v in boxes.xyxy[r])
            items.append({"label": names[int(boxes.category_id[r])], "coordinates": {
                "x": _num((x1 + x2) / 2), "y": _num((y1 + y2) / 2),
                "width": _num(x2 - x1), "height": _num(y2 - y1)}})
        docs.setdefault(folder, []).append({"image": name, "annotations": items})
    for folder, doc in docs.items():
        target = out_dir / folder / FILE_NAME if folder else out_dir / FILE_NAME
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(jf.dump(doc))
    (out_dir / META_FILE).write_bytes(jf.dump({"labels": [c.name for c in ds.categories]}))
    common.write_images(ds, lambda i: dests[i], ctx)


def _folder(split: str, out_dir: Path) -> str:
    if split == UNSPLIT:
        return ""
    if "/" in split or "\\" in split or split.startswith(".") or not split.strip():
        raise OutputError(f"{out_dir}: split name {split!r} cannot be a folder name; "
                          "rename the split")
    return split


def _num(v: float) -> int | float:
    return jf.num(round(v, DECIMALS))


FORMAT = Format(
    name="createml",
    description="Apple CreateML JSON (boxes as centre x, y, width, height in pixels)",
    supports=frozenset({BOXES, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("create-ml", "createml-json"),
)
