"""Dataset <-> Hugging Face `datasets` (`pip install 'visionflow[hf]' datasets`).

`to_hf(ds)` gives a `datasets.DatasetDict` with one Dataset per split ("val" is named
"validation", images without a split go to "train"), in the layout of the Hub's detection
datasets (cppe-5, the transformers object-detection guide) that formats/hf_parquet.py reads and
writes:

    image_id int64, image Image(), file_name string, width int64, height int64,
    objects {id: int64, area: float64, bbox: [x, y, w, h] float64 (COCO, absolute pixels),
             category: ClassLabel(names=ds.classes)}

`image` refers to the file by path (datasets decodes it on access; `push_to_hub` embeds the
bytes). `file_name` is the image's name inside its split, as imagefolder's metadata spells it.
The category ids (ClassLabel only holds names, indexed 0..N-1) and whether the dataset had
splits ride in each split's `info.description` as a "visionflow: {json}" line, so
`from_hf(to_hf(ds))` is exact for what the layout holds: images (ids, names, sizes, splits),
boxes, annotation ids, classes and their ids. Polygons, masks, keypoints and attributes are not
part of this layout (use `to_arrow` for them). Publishing is datasets' own
`to_hf(ds).push_to_hub("user/name")`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..core.annotations import Annotations
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import Error, MissingImageError, ParseError
from ..core.geometry import xywh_to_xyxy, xyxy_to_xywh
from ..core.images import UNSPLIT, Images, canonical_split
from ..core.report import Report
from ..core.validate import validate
from ..formats.common import split_rank
from ..formats.hf_parquet import _HF_SPLIT, _extract, _features, _file_name

_TAG = re.compile(r"^visionflow: (\{.*\})$", re.M)


def _datasets():
    try:
        import datasets
    except ImportError:
        raise Error("the Hugging Face bridge needs datasets: pip install datasets") from None
    return datasets


def to_hf(ds: Dataset) -> Any:
    """`ds` as a `datasets.DatasetDict`, one Dataset per split."""
    hf = _datasets()
    imgs = ds.images
    dup = sorted({n for n in ds.classes if ds.classes.count(n) > 1})
    if dup:
        raise Error(f"class name(s) {dup} are used by several category ids; a ClassLabel needs "
                    "unique names (rename or merge those classes first)")
    features = hf.Features.from_dict(_features(ds.classes)["info"]["features"])
    features = hf.Features({**{k: features[k] for k in ("image_id", "image")},
                            "file_name": hf.Value("string"),
                            **{k: features[k] for k in ("width", "height", "objects")}})
    splits = [str(s) for s in imgs.split]
    unsplit = set(splits) == {UNSPLIT}
    if UNSPLIT in splits and not unsplit:
        raise Error(f"{splits.count(UNSPLIT)} images have no split beside images with one; "
                    "a DatasetDict needs one split per image (ds.replace(images=...) or "
                    "vf.transforms.split first)")
    ann = ds.annotations[~ds.annotations.is_label]
    cls = ds.class_index(ann.category_id)
    if (cls < 0).any():
        j = int(np.flatnonzero(cls < 0)[0])
        raise Error(f"annotation {ann.id[j]} has category id {ann.category_id[j]}, which the "
                    "dataset does not declare")
    order = np.argsort(ann.image_index, kind="stable")
    bounds = np.searchsorted(ann.image_index[order], np.arange(len(imgs) + 1))
    xywh = xyxy_to_xywh(ann.xyxy)
    tag = "visionflow: " + orjson.dumps({"category_ids": ds.categories.ids,
                                          "unsplit": unsplit}).decode()
    out = {}
    for split in sorted(set(splits), key=lambda s: (split_rank(s), s)):
        rows = [i for i, s in enumerate(splits) if s == split]
        cols: dict[str, list] = {k: [] for k in features}
        for i in rows:
            mine = order[bounds[i]:bounds[i + 1]]
            path = imgs.path[i]
            if path is None:
                raise MissingImageError(imgs.file_name[i], "no image file to put in the "
                                        "Image feature")
            cols["image_id"].append(int(imgs.id[i]))
            cols["image"].append({"path": str(path), "bytes": None})
            cols["file_name"].append(str(imgs.file_name[i]))
            cols["width"].append(int(imgs.width[i]))
            cols["height"].append(int(imgs.height[i]))
            cols["objects"].append({"id": ann.id[mine].tolist(),
                                    "area": (xywh[mine, 2] * xywh[mine, 3]).tolist(),
                                    "bbox": xywh[mine].tolist(),
                                    "category": cls[mine].tolist()})
        name = _HF_SPLIT.get(split, split) if split else "train"
        out[name] = hf.Dataset.from_dict(cols, features=features,
                                         info=hf.DatasetInfo(description=tag, features=features),
                                         split=name)
    return hf.DatasetDict(out)


def from_hf(data: Any, *, split: str | None = None, bbox_format: str = "xywh",
            image_dir: str | Path | None = None) -> Dataset:
    """A Dataset from a `datasets.DatasetDict` (each key a split) or one `datasets.Dataset`
    (in `split`, default none), in the detection layout above: `objects` as a struct of lists
    or a list of structs, `category` a ClassLabel index or a class name. Embedded image bytes
    are written once into `image_dir` (default the visionflow cache folder)."""
    hf = _datasets()
    if bbox_format not in ("xywh", "xyxy"):
        raise Error(f"bbox_format must be xywh or xyxy, got {bbox_format!r}")
    if isinstance(data, hf.DatasetDict):
        parts = [(canonical_split(k), v) for k, v in data.items()]
    elif isinstance(data, hf.Dataset):
        parts = [(split or UNSPLIT, data)]
    else:
        raise Error(f"from_hf takes a datasets.DatasetDict or Dataset, not "
                    f"{type(data).__name__}")
    names = ids = None
    unsplit = False
    for _, d in parts:
        found = _class_names(d.features)
        if names is None:
            names = found
        elif found is not None and found != names:
            raise ParseError("objects.category", f"ClassLabel names {found} differ from "
                             f"{names}; splits must share one class list")
        m = _TAG.search((d.info.description or "") if d.info else "")
        if m:
            doc = orjson.loads(m.group(1))
            ids, unsplit = doc.get("category_ids"), bool(doc.get("unsplit"))
    records: list[dict] = []
    objects: list[tuple] = []  # record, category, box, id, where
    for split_name, d in parts:
        as_dict = isinstance(data, hf.DatasetDict)
        _rows(d, UNSPLIT if unsplit and as_dict and len(parts) == 1 else split_name, records,
              objects, image_dir)
    if names is None:  # no ClassLabel: names in the data, or bare indices
        values = {o[1] for o in objects}
        names = (sorted(values) if all(isinstance(v, str) for v in values)
                 else [str(i) for i in range(max(values, default=-1) + 1)])
    if not (isinstance(ids, list) and len(ids) == len(names) and len(set(ids)) == len(ids)):
        ids = list(range(1, len(names) + 1))
    cats = Categories(Category(int(i), n) for i, n in zip(ids, names))
    by_name = dict(zip(names, ids))
    cat_ids = []
    for o in objects:
        c = o[1]
        if isinstance(c, str) and c in by_name:
            cat_ids.append(by_name[c])
        elif isinstance(c, int) and 0 <= c < len(ids):
            cat_ids.append(ids[c])
        else:
            raise ParseError(o[4], f"category {c!r} is not a class index 0..{len(ids) - 1} or "
                             "a class name")
    row_of = {id(r): i for i, r in enumerate(records)}
    boxes = np.array([o[2] for o in objects], np.float64).reshape(-1, 4)
    if bbox_format == "xywh":
        boxes = xywh_to_xyxy(boxes)
    has_ids = bool(objects) and all(o[3] is not None for o in objects)
    ann = Annotations.build([row_of[id(o[0])] for o in objects], cat_ids, boxes,
                            id=[o[3] for o in objects] if has_ids else None)
    image_ids = [r["image_id"] for r in records]
    images = Images.build([r["file_name"] for r in records], [r["width"] for r in records],
                          [r["height"] for r in records], split=[r["split"] for r in records],
                          path=[r["path"] for r in records],
                          id=image_ids if all(i is not None for i in image_ids) else None)
    return validate(Dataset(images, ann, cats, {"source_format": "hf"}), report=Report(),
                    skip_errors=False, where_annotation=lambda i: objects[i][4],
                    where_image=lambda i: records[i]["where"])


def _class_names(features: Any) -> list[str] | None:
    feature = (features or {}).get("objects")
    feature = getattr(feature, "feature", feature)  # List / Sequence of a struct
    category = feature.get("category") if isinstance(feature, dict) else None
    while hasattr(category, "feature"):
        category = category.feature
    return list(category.names) if hasattr(category, "names") else None


def _rows(d: Any, split: str, records: list, objects: list, image_dir: Any) -> None:
    from ..io.cache import cache_dir
    from ..io.images import embedded_size, image_size
    # Arrow storage (image a {bytes, path} struct, nothing decoded), through any select/filter
    table = d.with_format("arrow")[:] if len(d) else d.data.table.slice(0, 0)
    cols = set(table.column_names)
    n = table.num_rows
    column = lambda name: table.column(name).to_pylist() if name in cols else [None] * n
    image_ids, images, file_names = column("image_id"), column("image"), column("file_name")
    widths, heights, objs = column("width"), column("height"), column("objects")
    cache = None
    for r in range(n):
        where = f"{split or 'dataset'} row {r}"
        image = images[r] or {}
        if isinstance(image, str):
            image = {"path": image, "bytes": None}
        data, rel = image.get("bytes"), image.get("path")
        name = file_names[r] or _file_name(rel and Path(rel).name if data is None else rel,
                                           data, image_ids[r], r, where)
        if data is not None:
            if cache is None:
                cache = Path(image_dir) if image_dir else cache_dir(
                    "hf", d._fingerprint or "unknown")
            path = _extract(cache / (split or "_unsplit") / name, data)
        elif rel and Path(rel).is_file():
            path = str(Path(rel).resolve())
        else:
            raise MissingImageError(where, f"image {rel!r} is neither embedded nor a file")
        w, h = widths[r], heights[r]
        if w is None or h is None:
            w, h = embedded_size(data, where) if data is not None else image_size(path)
        record = {"file_name": name, "split": split, "path": path, "where": where,
                  "image_id": image_ids[r], "width": int(w), "height": int(h)}
        records.append(record)
        obj = objs[r] or {}
        if isinstance(obj, list):  # list of structs
            obj = {k: [o.get(k) for o in obj] for k in ("id", "bbox", "category")} if obj else {}
        bboxes, cats, ids = obj.get("bbox") or [], obj.get("category") or [], obj.get("id")
        if len(bboxes) != len(cats) or (ids is not None and len(ids) != len(bboxes)):
            raise ParseError(where, f"objects.bbox has {len(bboxes)} entries but "
                             f"objects.category {len(cats)}")
        for k, (box, cat) in enumerate(zip(bboxes, cats)):
            at = f"{where} object {k}"
            if not isinstance(box, (list, tuple)) or len(box) != 4 or not all(
                    isinstance(v, (int, float)) for v in box):
                raise ParseError(at, f"bbox must be 4 numbers, got {box!r}")
            objects.append((record, cat, [float(v) for v in box],
                            None if ids is None else ids[k], at))
