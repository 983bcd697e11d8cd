"""Helpers shared by the JSON formats of labelling tools (LabelMe, CreateML, VoTT, Label Studio,
SageMaker): parsing with 'file:line:col' errors, split folders, degenerate boxes, output.

Private to visionflow.formats; each format keeps its own rules in its own module.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..core.dataset import Dataset
from ..core.errors import MissingImageError, ParseError
from ..core.gc_pause import gc_paused
from ..core.geometry import pad_degenerate  # noqa: F401 (jf.pad_degenerate)
from ..core.images import UNSPLIT
from ..io.safe_load import bytes_of
from .builder import DatasetBuilder
from .common import head  # noqa: F401 (jf.head: the formats' detection reads)
from .base import ReadContext

MAX_JSON_BYTES = 4 << 30
SPLIT_DIRS = {"train": "train", "training": "train", "val": "val", "valid": "val",
              "validation": "val", "test": "test", "testing": "test"}
# Where images are looked up when an annotation names them by URL or by a path of another
# machine: beside the annotation file, then in these folders beside it.
IMAGE_DIRS = ("images", "Images", "img", "imgs", "JPEGImages")


def load(path: Path) -> Any:
    """Parsed JSON; ParseError 'path:line:col' when malformed."""
    try:
        if path.stat().st_size > MAX_JSON_BYTES:
            raise ParseError(path, "file larger than 4 GiB; refused")
        data = bytes_of(path)
        if data.startswith(b"\xef\xbb\xbf"):  # a BOM (Windows tools): JSON readers skip it
            data = data[3:]
    except OSError as e:
        raise ParseError(path, f"cannot read file ({e.strerror or e.__class__.__name__})") \
            from None
    with gc_paused():
        try:
            return orjson.loads(data)
        except orjson.JSONDecodeError as e:
            line, col = line_col(data, e.pos)
            raise ParseError(f"{path}:{line}:{col}", f"malformed JSON ({e.msg})") from None


def line_col(data: bytes, pos: int) -> tuple[int, int]:
    before = data[:pos]
    return before.count(b"\n") + 1, pos - (before.rfind(b"\n") + 1) + 1


def split_of_dir(name: str) -> str | None:
    """The split a folder name stands for (Roboflow's train/valid/test), or None."""
    return SPLIT_DIRS.get(name.lower())


def split_dir_name(split: str) -> str:
    """The folder a split is written to ('' for unsplit images)."""
    return "" if split == UNSPLIT else split


def split_of_file(stem: str, suffix: str) -> str:
    """Datumaro's '<subset><suffix>' file names ('train-export'): the split when the prefix
    names one (train, val, valid, test, ...), else UNSPLIT ('default', a project name)."""
    if not stem.endswith(suffix):
        return UNSPLIT
    return split_of_dir(stem[: -len(suffix)]) or UNSPLIT


def is_number(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and np.isfinite(v)


def num(v: float, decimals: int | None = None) -> int | float:
    """A coordinate as JSON writes it best: integral values as ints. Values computed from
    others (a centre, a width, a percentage) are rounded to `decimals` so that float noise
    never reaches the file and writing what was read writes the same bytes."""
    v = float(v) if decimals is None else round(float(v), decimals)
    return int(v) if v.is_integer() and abs(v) < 1e15 else v


def dump(obj: Any) -> bytes:
    return orjson.dumps(obj, option=orjson.OPT_INDENT_2 | orjson.OPT_SERIALIZE_NUMPY) + b"\n"


def category_order(names: list[str]) -> list[str]:
    """Classes of a format without a class list: sorted by name (stated in each module)."""
    return sorted(set(names))


def unsplit_name(split: str) -> str:
    return split if split != UNSPLIT else "default"


@dataclass
class BoxRecord:
    """One image of a box-only labelling-tool export while it is read (CreateML, VoTT CSV)."""
    file_name: str
    split: str
    path: str | None
    where: str
    boxes: list[tuple[str, Any, str]] = field(default_factory=list)  # (label, xyxy, where)
    width: int = 0
    height: int = 0


def read_labels_meta(path: Path, ctx: ReadContext) -> list[str]:
    """Class order from a {"labels": [...]} sidecar (dataset_meta.json); [] when absent."""
    if not path.is_file():
        return []
    try:
        doc = load(path)
    except ParseError as e:
        ctx.fail(e)
        return []
    labels = doc.get("labels") if isinstance(doc, dict) else None
    if not isinstance(labels, list) or not all(isinstance(n, str) for n in labels):
        ctx.fail(ParseError(path, "expected {\"labels\": [names...]}"))
        return []
    return list(dict.fromkeys(labels))


def build_box_dataset(records: list[BoxRecord], labels: list[str], ctx: ReadContext, *,
                      no_size: str, sort_images: bool = False) -> Dataset:
    """A box-only export with no image sizes (CreateML, VoTT CSV): sizes from the image
    headers (an image not found: MissingImageError `no_size`, with {file_name}), classes
    `labels` then the undeclared ones sorted."""
    b = DatasetBuilder(ctx)
    for name in labels:
        b.category(name)
    for r in records:
        img = b.image(r.file_name, r.split, r.path, where=r.where)
        for name, xyxy, where in r.boxes:
            b.object(img, name, xyxy, where=where)
    return b.build(sort_images=sort_images, no_size=no_size, no_size_error=MissingImageError,
                   undeclared_message=None)
