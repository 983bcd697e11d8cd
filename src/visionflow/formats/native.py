"""visionflow's own format: the canonical model written column by column, losslessly.

`visionflow.json` holds every column of the model plus a schema version; images sit in
`images/<split>/<file_name>` (split "" -> `images/_unsplit/`). It is the interchange for external
tools, golden files and versioning: read(write(D)) == D for every dataset, byte-for-byte stable.
The schema version is the newest column a file carries (1.0, or 1.1 with polylines), so files
without the newer columns stay byte-identical; a reader refuses any version newer than it knows
(an older visionflow would otherwise silently drop a column) instead of guessing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..core.annotations import COLUMNS, Annotations, floats, nullable, object_array
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import ParseError
from ..core.images import Images
from ..io.atomic import write_bytes_atomic
from ..io.paths import clean_relative
from ..io.safe_load import bytes_of
from .base import (ANNOTATION_IDS, CATEGORY_META, CLASS_ORDER, IMAGE_IDS, ATTRIBUTES, BOXES, CATEGORY_IDS, ISCROWD, KEYPOINTS, LABELS, MASKS, OBB,
                   POLYGONS, POLYLINES, SCORES, TRACK_IDS, Detection, Format, ReadContext,
                   WriteContext)
from .common import IMAGE_BYTES, find_image, finish_read, write_images

SCHEMA_VERSION = "1.1"  # the newest schema this visionflow reads and writes
BASE_VERSION = "1.0"    # what a file holding only the 1.0 columns says
FILE_NAME = "visionflow.json"
UNSPLIT_DIR = "_unsplit"
_LOCAL_META = ("source_root", "source_format")  # how it was loaded, not what it is


def detect(path: Path) -> Detection | None:
    file = path / FILE_NAME if path.is_dir() else path
    if not file.is_file() or file.suffix != ".json":
        return None
    head = file.open("rb").read(256)
    if b'"schema_version"' in head and b'"writer": "visionflow' in head:
        return Detection("visionflow", 1.0, (f"{file.name} carries a visionflow schema_version",))
    return None


def _version(text: str) -> tuple[int, int] | None:
    parts = text.split(".")
    if len(parts) != 2 or not all(p.isdigit() for p in parts):
        return None
    return int(parts[0]), int(parts[1])


def _check_version(doc: Any, where: Path | str) -> None:
    """Refuse a schema this visionflow cannot read fully: a newer minor adds columns it would
    silently drop, a newer major changes what the keys mean."""
    text = str(doc.get("schema_version", "")) if isinstance(doc, dict) else ""
    version, known = _version(text), _version(SCHEMA_VERSION)
    if version is not None and known is not None and version > known:
        raise ParseError(where, f"schema_version {text} is not supported: written by a newer "
                         f"visionflow (this one reads up to {SCHEMA_VERSION}): upgrade visionflow")
    if version is None or version[0] != known[0]:
        raise ParseError(where, f"schema_version {text or '(none)'} is not supported by this "
                         f"visionflow (reads {BASE_VERSION} to {SCHEMA_VERSION})")


def schema_of(ann: Annotations) -> str:
    """The oldest schema that holds every column present: the newest `since` among them."""
    present = [c.since for c in COLUMNS if getattr(ann, c.field) is not None]
    return max([BASE_VERSION, *present], key=lambda v: _version(v) or (0, 0))


def read(path: Path, ctx: ReadContext) -> Dataset:
    file = path / FILE_NAME if path.is_dir() else path
    root = file.parent
    try:
        doc = orjson.loads(bytes_of(file))
    except (OSError, orjson.JSONDecodeError) as e:
        raise ParseError(file, f"not a readable visionflow file ({e})") from None
    _check_version(doc, file)
    try:
        ds = _from_doc(doc, root, file, ctx)
    except (KeyError, TypeError, ValueError) as e:
        raise ParseError(file, f"invalid visionflow file ({e.__class__.__name__}: {e})") from None
    return finish_read(ds, ctx, where_annotation=lambda i: f"{file}: annotation row {i}",
                       where_image=lambda i: f"{file}: image row {i}")


def loads(data: bytes, where: str = "<visionflow json>") -> Dataset:
    """A dataset from visionflow JSON bytes (as `dumps` writes them), every Images.path None.

    Used where the JSON lives outside a dataset folder (the versioning blob store).
    """
    try:
        doc = orjson.loads(data)
    except orjson.JSONDecodeError as e:
        raise ParseError(where, f"not readable visionflow JSON ({e})") from None
    _check_version(doc, where)
    try:
        return _from_doc(doc, None, where)
    except (KeyError, TypeError, ValueError) as e:
        raise ParseError(where, f"invalid visionflow JSON ({e.__class__.__name__}: {e})") from None


def _from_doc(doc: dict, root: Path | None, file: Path | str,
              ctx: ReadContext | None = None) -> Dataset:
    im = doc["images"]
    names = [clean_relative(n, where=f"{file}: images.file_name") for n in im["file_name"]]
    paths: list[str | None] = []
    for name, split in zip(names, im["split"]):
        if root is None:  # loads(): bytes with no folder of images beside them
            paths.append(None)
            continue
        paths.append(find_image(ctx or ReadContext(), root, [f"images/{split or UNSPLIT_DIR}/"
                                                            f"{name}"], where=str(file)))
    images = Images.build(names, im["width"], im["height"], id=im["id"], split=im["split"],
                          path=paths, attrs=im.get("attrs") or {})
    a = doc["annotations"]
    n = len(a["id"])
    ann = Annotations(
        np.asarray(a["image_index"], np.int64), np.asarray(a["category_id"], np.int64),
        np.asarray(a["id"], np.int64), floats(a["xyxy"], (n, 4)),
        **{c.field: None if a.get(c.field) is None else c.load(a[c.field], n) for c in COLUMNS},
        attrs={k: object_array(v) for k, v in (a.get("attrs") or {}).items()},
    )
    cats = Categories(Category.from_dict(c) for c in doc["categories"])
    return Dataset(images, ann, cats, doc.get("meta") or {})


def write(ds: Dataset, out: Path, ctx: WriteContext) -> None:
    write_bytes_atomic(out / FILE_NAME, dumps(ds))
    write_images(ds, lambda r: out / "images" / (ds.images.split[r] or UNSPLIT_DIR)
                 / ds.images.file_name[r], ctx)


def dumps(ds: Dataset) -> bytes:
    """The dataset as visionflow JSON bytes (deterministic)."""
    from .. import __version__
    im, a = ds.images, ds.annotations
    doc = {
        "schema_version": schema_of(a),
        "writer": f"visionflow {__version__}",
        "meta": {k: v for k, v in ds.meta.items() if k not in _LOCAL_META},
        "categories": [c.to_dict() for c in ds.categories],
        "images": {"id": im.id, "file_name": list(im.file_name), "width": im.width,
                   "height": im.height, "split": list(im.split),
                   # Embedded image bytes are written as image files beside the JSON.
                   "attrs": {k: list(v) for k, v in sorted(im.attrs.items())
                             if k != IMAGE_BYTES}},
        "annotations": {
            "image_index": a.image_index, "category_id": a.category_id, "id": a.id,
            "xyxy": nullable(a.xyxy),
            # Columns added after 1.0 only when present: older files stay byte-identical.
            **{c.field: None if getattr(a, c.field) is None else c.dump(getattr(a, c.field))
               for c in COLUMNS if c.since == BASE_VERSION or getattr(a, c.field) is not None},
            "attrs": {k: list(v) for k, v in sorted(a.attrs.items())},
        },
    }
    return orjson.dumps(doc, option=orjson.OPT_SERIALIZE_NUMPY | orjson.OPT_INDENT_2,
                        default=_strided)


def _strided(obj: Any) -> Any:
    """orjson writes C-contiguous arrays only; model columns are (core), but an attribute
    value may be any array a reader or a user put there."""
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    raise TypeError(f"{type(obj).__name__} is not JSON serializable")


FORMAT = Format(
    name="visionflow",
    description="visionflow's own lossless JSON (every column of the canonical model)",
    supports=frozenset({BOXES, LABELS, POLYGONS, POLYLINES, MASKS, KEYPOINTS, OBB, SCORES,
                        TRACK_IDS, ISCROWD, CATEGORY_IDS, ATTRIBUTES, IMAGE_IDS, ANNOTATION_IDS,
                        CATEGORY_META, CLASS_ORDER}),
    detect=detect, read=read, write=write, aliases=("native", "vf"), attributes=None,
)
