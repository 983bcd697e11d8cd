"""Predictions as data: a dataset with scores, aligned to the ground truth's images and classes.

A model's output arrives as a COCO results file (`[{image_id, category_id, bbox, score}]`, no
images or categories: it only means something next to its ground truth), as YOLO label files
with a trailing confidence column, as the mAP tool's text files (`<image>.txt`, lines
`class confidence left top right bottom`), or as any dataset visionflow reads whose annotations
carry a score (the native format, COCO with `score`). Every path ends in `align`: prediction
images are matched to ground-truth images by file name, stem or id, classes by name or id, and a
prediction that fits nowhere is a one-line error with examples, never a silent zero.
"""

from __future__ import annotations

import math
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
import orjson

from ..core.annotations import Annotations, Polygons
from ..core.dataset import Dataset
from ..core.errors import Error, ParseError, ValidationError
from ..core.geometry import cxcywh_norm_to_xyxy, points_bounds, rle_bounds
from ..io.safe_load import bytes_of, text_of

PRED_FORMATS = ("auto", "coco-results", "yolo-conf", "map-txt")


def load_predictions(path: str | Path, gt: Dataset, format: str | None = None, *,
                     match: str = "auto", images_dir: str | Path | None = None,
                     follow_links: bool = False) -> Dataset:
    """Read predictions at `path` and align them to `gt` (see `align`).

    format: "coco-results", "yolo-conf", "map-txt", any dataset format name, or None to guess
    (a JSON list is a COCO results file; otherwise the format registry decides).
    images_dir, follow_links: as for `vf.load`, for predictions in a dataset format.
    """
    path = Path(path)
    if not path.exists():
        raise Error(f"{path}: no such file or folder")
    fmt = None if format in (None, "auto") else format
    if fmt is None and path.is_file() and path.suffix.lower() == ".json" and _is_json_list(path):
        fmt = "coco-results"
    if fmt == "coco-results":
        return coco_results(path, gt)
    if fmt == "yolo-conf":
        return yolo_confidence(path, gt, match=match)
    if fmt == "map-txt":
        return map_txt(path, gt, match=match)
    from ..api import load
    from ..core.errors import NotDetected
    if fmt is None and path.is_dir():
        from ..formats import registry
        if any(d.format == "map-txt" for d in registry.candidates(path)[:1]):
            return map_txt(path, gt, match=match)   # placed on gt's images: no sizes needed
    try:
        pred = load(path, fmt, errors="keep", images_dir=images_dir,
                    follow_links=follow_links)
    except NotDetected:
        raise Error(f"{path}: not a known predictions format; pass --pred-format coco-results, "
                    "yolo-conf, map-txt or a dataset format") from None
    return align(gt, pred, match=match, where=str(path))


def _is_json_list(path: Path) -> bool:
    with open(path, "rb") as f:
        head = f.read(4096).lstrip()
    return head.startswith(b"[")


def coco_results(path: str | Path, gt: Dataset) -> Dataset:
    """A COCO results file, matched to `gt` by image id and category id (as COCO.loadRes).

    Records keep the file's order (it breaks score ties exactly as pycocotools does) and get
    ids 1..n. bbox [x, y, w, h] with w, h >= 0; a segmentation (polygons or RLE) or keypoints may
    stand in for the box, which is then their extent.
    """
    path = Path(path)
    try:
        records = orjson.loads(bytes_of(path))
    except orjson.JSONDecodeError as e:
        raise ParseError(path, f"not valid JSON ({e})") from None
    if not isinstance(records, list):
        raise ParseError(path, "a COCO results file is a JSON list of "
                         "{image_id, category_id, bbox, score} records")
    gt_ids = gt.images.id
    if len(np.unique(gt_ids)) != len(gt_ids):
        raise ValidationError(path, "the ground truth's image ids repeat (several splits numbered "
                              "from 0?); evaluate one split (--split NAME)")
    fast = _box_columns(records)
    if fast is not None:
        img, cat, score, xyxy, wh = fast
        return _results_dataset(path, gt, img, cat, score, xyxy, {}, "bbox", wh[:, 0], wh[:, 1])
    n = len(records)
    img = np.zeros(n, np.int64)
    cat = np.zeros(n, np.int64)
    score = np.zeros(n)
    xyxy = np.zeros((n, 4))
    rings: list[list[np.ndarray]] = [[] for _ in range(n)]
    rle: list[dict | None] = [None] * n
    kps: list[np.ndarray | None] = [None] * n
    box_w, box_h = np.full(n, np.nan), np.full(n, np.nan)
    for i, r in enumerate(records):
        where = f"{path}: record {i}"
        if not isinstance(r, dict):
            raise ParseError(where, f"expected an object, got {type(r).__name__}")
        for key in ("image_id", "category_id"):
            if not isinstance(r.get(key), int) or isinstance(r.get(key), bool):
                raise ParseError(where, f"{key} must be an integer, got {r.get(key)!r}")
        if "score" not in r:
            raise ParseError(where, "missing score (a prediction needs a confidence)")
        if not _finite(r["score"]):
            raise ParseError(where, f"score must be a finite number, got {r['score']!r}")
        img[i], cat[i], score[i] = r["image_id"], r["category_id"], r["score"]
        if r.get("bbox") == []:      # loadRes treats an empty bbox as none
            del r["bbox"]
        if "bbox" in r:
            b = r["bbox"]
            if not (isinstance(b, list) and len(b) == 4 and all(map(_finite, b))):
                raise ParseError(where, f"bbox must be 4 finite numbers [x, y, w, h], got {b!r}")
            if b[2] < 0 or b[3] < 0:
                raise ValidationError(where, f"bbox {b} has a negative width or height")
            xyxy[i] = (b[0], b[1], b[0] + b[2], b[1] + b[3])
            box_w[i], box_h[i] = b[2], b[3]
        seg = r.get("segmentation")
        if isinstance(seg, list) and seg:
            try:
                rings[i] = [np.asarray(p, float).reshape(-1, 2) for p in seg]
            except (ValueError, TypeError):
                raise ParseError(where, "segmentation polygons must be flat lists of x, y "
                                 "numbers") from None
        elif isinstance(seg, dict):
            if "counts" not in seg or "size" not in seg:
                raise ParseError(where, "RLE segmentation needs 'counts' and 'size'")
            rle[i] = seg
        if "keypoints" in r:
            k = r["keypoints"]
            if not (isinstance(k, list) and len(k) % 3 == 0 and all(map(_finite, k))):
                raise ParseError(where, "keypoints must be a flat list of x, y, v numbers")
            kps[i] = np.asarray(k, float).reshape(-1, 3)
        if "bbox" not in r:
            xyxy[i] = _extent(rings[i], rle[i], kps[i], where)
    columns: dict[str, Any] = {}
    if any(rings):
        columns["polygons"] = Polygons.from_lists(rings)
    if any(r is not None for r in rle):
        col = np.empty(n, object)
        col[:] = rle
        columns["rle"] = col
    if any(k is not None for k in kps):
        width = max(len(k) for k in kps if k is not None)
        arr = np.full((n, width, 3), np.nan)
        for i, k in enumerate(kps):
            if k is not None:
                arr[i, :len(k)] = k
        columns["keypoints"] = arr
    # COCO.loadRes takes every detection's area (used for area ranges) from the first record's
    # kind: a bbox gives w*h, else the mask's area, else the keypoints' extent.
    first = records[0] if records else {}
    kind = "bbox" if "bbox" in first else "segm" if "segmentation" in first else "keypoints"
    return _results_dataset(path, gt, img, cat, score, xyxy, columns, kind, box_w, box_h)


def _box_columns(records: list) -> tuple[np.ndarray, ...] | None:
    """The usual results file (boxes only, well-formed) as columns without a per-record
    check in Python; None sends anything else to the record-by-record reader, which names the
    first bad record."""
    try:
        img_l = [r["image_id"] for r in records]
        cat_l = [r["category_id"] for r in records]
        score_l = [r["score"] for r in records]
        box_l = [r["bbox"] for r in records]
        if any(r.get("segmentation") or "keypoints" in r for r in records):
            return None
    except (KeyError, TypeError, AttributeError):
        return None
    if not records or set(map(type, img_l)) != {int} or set(map(type, cat_l)) != {int}:
        return None
    if not set(map(type, score_l)) <= {int, float}:
        return None
    try:
        box = np.array(box_l, float)
    except (ValueError, TypeError):
        return None
    score = np.array(score_l, float)
    if box.shape != (len(records), 4) or not np.isfinite(box).all() or \
            not np.isfinite(score).all() or (box[:, 2:] < 0).any():
        return None
    xyxy = np.concatenate([box[:, :2], box[:, :2] + box[:, 2:]], axis=1)
    return np.array(img_l, np.int64), np.array(cat_l, np.int64), score, xyxy, box[:, 2:]


def _results_dataset(path: Path, gt: Dataset, img: np.ndarray, cat: np.ndarray,
                     score: np.ndarray, xyxy: np.ndarray, columns: dict, kind: str,
                     box_w: np.ndarray | None = None, box_h: np.ndarray | None = None
                     ) -> Dataset:
    """Checked against the ground truth (images by id, categories by id), on its rows."""
    n = len(img)
    gt_ids = gt.images.id
    pos = {int(v): j for j, v in enumerate(gt_ids.tolist())}
    unknown = sorted({int(v) for v in np.unique(img)} - pos.keys())
    if unknown:
        known = len(np.unique(img)) - len(unknown)
        raise ValidationError(path, f"{len(unknown)} of {len(np.unique(img))} predicted image "
                              f"ids are not ground-truth images (e.g. {_examples(unknown)}; "
                              f"ground truth has {_examples(sorted(pos))}); "
                              + ("is this results file for another dataset?" if not known else
                                 "predictions and ground truth must cover the same images"))
    bad = ~np.isin(cat, np.asarray(gt.categories.ids, np.int64))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValidationError(f"{path}: record {i}", f"category_id {int(cat[i])} is not a "
                              f"ground-truth category ({int(bad.sum())} such records; known: "
                              f"{_examples(sorted(gt.categories.ids))})")
    order = np.argsort(gt_ids, kind="stable")
    rows = order[np.searchsorted(gt_ids[order], img)] if n else np.zeros(0, np.int64)
    if kind == "bbox" and n:
        # COCO.loadRes's area w*h from the file's own numbers (x + w - x may differ from w in
        # the last bit, which moves a box across an area-range edge such as 32*32)
        w = np.where(np.isnan(box_w), xyxy[:, 2] - xyxy[:, 0], box_w) if box_w is not None \
            else xyxy[:, 2] - xyxy[:, 0]
        h = np.where(np.isnan(box_h), xyxy[:, 3] - xyxy[:, 1], box_h) if box_h is not None \
            else xyxy[:, 3] - xyxy[:, 1]
        area = np.empty(n, object)
        area[:] = (w * h).tolist()
        columns = {**columns, "attrs": {"coco.area": area}}
    ann = Annotations.build(rows, cat, xyxy, score=score, **columns)
    return gt.replace(annotations=ann, meta={**gt.meta, "predictions": str(path),
                                             "coco.det_area": kind})


def _finite(v: Any) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def _extent(rings, rle, kps, where: str) -> np.ndarray:
    """The box of a prediction without a bbox: the bounds of its polygons, mask or keypoints."""
    if rings:
        return points_bounds(np.concatenate(rings))
    if rle is not None:
        try:
            return rle_bounds(rle)
        except (ValueError, TypeError, KeyError) as e:
            raise ParseError(where, f"RLE segmentation cannot be decoded ({e})") from None
    if kps is not None:
        return points_bounds(kps[:, :2])
    raise ParseError(where, "a prediction needs a bbox, a segmentation or keypoints")


def _examples(values: list, n: int = 3) -> str:
    shown = ", ".join(repr(v) if isinstance(v, str) else str(v) for v in values[:n])
    return shown + (f", ... ({len(values)} in all)" if len(values) > n else "")


def _stem(name: str) -> str:
    return PurePosixPath(str(name)).stem


def _base(name: str) -> str:
    return PurePosixPath(str(name)).name


_KEYS = {"file_name": lambda ds: [str(v) for v in ds.images.file_name],
         "name": lambda ds: [_base(v) for v in ds.images.file_name],
         "stem": lambda ds: [_stem(v) for v in ds.images.file_name],
         "id": lambda ds: ds.images.id.tolist()}


def image_map(gt: Dataset, names: list, *, match: str = "auto", where: str = "predictions"
              ) -> np.ndarray:
    """Ground-truth row of each prediction image, given its keys under `match`.

    names: per prediction image, a dict key -> value for the keys it has (file_name, name,
    stem, id). match "auto" takes the first of file_name, name, stem, id that places every
    prediction image on exactly one ground-truth image.
    """
    order = list(_KEYS) if match == "auto" else [match]
    if match not in ("auto", *_KEYS):
        raise ValidationError(where, f"unknown --match {match!r} (auto, {', '.join(_KEYS)})")
    best: tuple[int, str, list] | None = None
    for key in order:
        if not names or key not in names[0]:
            continue
        gt_keys = _KEYS[key](gt)
        table: dict = {}
        for row, k in enumerate(gt_keys):
            table.setdefault(k, []).append(row)
        rows = [table.get(n[key], []) for n in names]
        missing = [n[key] for n, r in zip(names, rows) if len(r) != 1]
        if not missing:
            return np.array([r[0] for r in rows], np.int64)
        if best is None or len(missing) < best[0]:
            best = (len(missing), key, missing)
    if best is None:
        raise ValidationError(where, "no way to match prediction images to ground-truth images")
    n_missing, key, missing = best
    gt_keys = _KEYS[key](gt)
    what = "none" if n_missing == len(names) else f"{n_missing} of {len(names)}"
    raise ValidationError(where, f"{what} prediction images match a ground-truth image by {key} "
                          f"(unmatched e.g. {_examples(missing)}; ground truth has e.g. "
                          f"{_examples(list(gt_keys))}); are these predictions for this dataset?")


def align(gt: Dataset, pred: Dataset, *, match: str = "auto", where: str = "predictions"
          ) -> Dataset:
    """`pred` on `gt`'s image rows and category ids, ready for evaluation.

    Images: by file name, base name, stem or id (`match`); classes: by name when every name the
    predictions use is one ground-truth class, else by id. Image-level labels are dropped.
    """
    if pred.images is gt.images and pred.categories == gt.categories:
        return pred
    names = [{"file_name": str(f), "name": _base(f), "stem": _stem(f), "id": int(i)}
             for f, i in zip(pred.images.file_name, pred.images.id)]
    rows = image_map(gt, names, match=match, where=where)
    ann = pred.annotations
    if len(ann) and len(np.unique(rows)) != len(rows):
        dup = np.flatnonzero(np.bincount(rows) > 1)[0]
        raise ValidationError(where, f"several prediction images match ground-truth image "
                              f"{gt.images.file_name[dup]!r}")
    cat = _category_map(gt, pred, ann.category_id, where)
    ann = ann.replace(image_index=rows[ann.image_index], category_id=cat)
    return gt.replace(annotations=ann, meta={**gt.meta, "predictions": where})


def _category_map(gt: Dataset, pred: Dataset, cat_id: np.ndarray, where: str) -> np.ndarray:
    used = np.unique(cat_id).tolist()
    if not used:
        return cat_id
    gt_by_name: dict[str, list[int]] = {}
    for c in gt.categories:
        gt_by_name.setdefault(c.name, []).append(c.id)
    pred_names = {c.id: c.name for c in pred.categories}
    mapping: dict[int, int] = {}
    by_name = all(u in pred_names and len(gt_by_name.get(pred_names[u], [])) == 1 for u in used)
    if by_name:
        mapping = {u: gt_by_name[pred_names[u]][0] for u in used}
    elif all(gt.categories.has_id(u) for u in used) and all(
            u not in pred_names or gt.categories.by_id(u).name == pred_names[u] for u in used):
        mapping = {u: u for u in used}
    else:
        unknown = [pred_names.get(u, str(u)) for u in used
                   if len(gt_by_name.get(pred_names.get(u, ""), [])) != 1]
        raise ValidationError(where, f"predicted classes {_examples(unknown)} are not "
                              f"ground-truth classes (known: {_examples(gt.categories.names, 8)})")
    lut = np.array(sorted(mapping.items()), np.int64)
    return lut[np.searchsorted(lut[:, 0], cat_id), 1]


def yolo_confidence(folder: str | Path, gt: Dataset, *, match: str = "auto") -> Dataset:
    """YOLO label files with a trailing confidence (`class cx cy w h conf`, normalised), as
    Ultralytics' `save_txt=True, save_conf=True` writes them: one `<image stem>.txt` per image.
    Class indices are positions in the ground truth's class list (its YOLO order)."""
    files = _txt_files(folder)
    rows = image_map(gt, [{"stem": f.stem} for f in files], match="stem"
                     if match == "auto" else match, where=str(folder))
    ids = gt.categories.ids
    img, cat, box, score = [], [], [], []
    for fi, f in enumerate(files):
        for n, line in enumerate(_lines(f), 1):
            t = line.split()
            if not t:
                continue
            where = f"{f}:{n}"
            if len(t) != 6:
                raise ParseError(where, f"expected 'class cx cy w h confidence', got {len(t)} "
                                 f"values (\"{line.strip()[:60]}\")")
            v = _floats(t, where)
            c = v[0]
            if c != int(c) or not 0 <= c < len(ids):
                raise ParseError(where, f"class index {t[0]} is not one of 0..{len(ids) - 1}")
            if v[3] < 0 or v[4] < 0:
                raise ValidationError(where, "box has a negative width or height")
            img.append(rows[fi])
            cat.append(ids[int(c)])
            box.append(v[1:5])
            score.append(v[5])
    img = np.asarray(img, np.int64)
    xyxy = cxcywh_norm_to_xyxy(np.asarray(box, float).reshape(-1, 4), gt.images.width[img],
                               gt.images.height[img])  # the YOLO reader's own conversion
    ann = Annotations.build(img, cat, xyxy, score=np.asarray(score, float))
    return gt.replace(annotations=ann, meta={**gt.meta, "predictions": str(folder)})


def map_txt(folder: str | Path, gt: Dataset, *, match: str = "auto") -> Dataset:
    """The mAP tool's detection files (formats/map_txt.py: `detection-results/<image>.txt`,
    lines `class_name confidence left top right bottom`, pixel edges), parsed by the format's
    own rules but placed on `gt`'s images by stem and classes by name, so no image files or
    sizes are needed. A folder holding detection-results/ is read there."""
    from ..formats import map_txt as fmt
    folder = Path(folder)
    if folder.is_dir() and (folder / fmt.DR_DIR).is_dir():
        folder = folder / fmt.DR_DIR
    found = fmt.txt_files(folder) if folder.is_dir() else []
    files = _txt_files(folder) if not found else [f for f, _ in found]
    stems = [rel for _, rel in found] or [f.stem for f in files]
    rows = image_map(gt, [{"stem": _stem(s)} for s in stems],
                     match="stem" if match == "auto" else match, where=str(folder))
    by_name: dict[str, list[int]] = {}
    for c in gt.categories:
        by_name.setdefault(c.name, []).append(c.id)
    img, cat, box, score = [], [], [], []
    for fi, f in enumerate(files):
        lines = _lines(f)
        for obj in fmt.parse_lines(lines, f, detections=True):
            ids = by_name.get(obj.name, [])
            if len(ids) != 1:
                raise ValidationError(obj.where, f"class {obj.name!r} is "
                                      + ("not a ground-truth class" if not ids else
                                         "the name of several ground-truth classes")
                                      + f" (known: {_examples(gt.categories.names, 8)})")
            img.append(rows[fi])
            cat.append(ids[0])
            box.append(obj.box)
            score.append(obj.score)
    ann = Annotations.build(img, cat, np.asarray(box, float).reshape(-1, 4),
                            score=np.asarray(score, float))
    return gt.replace(annotations=ann, meta={**gt.meta, "predictions": str(folder)})


def _txt_files(folder: str | Path) -> list[Path]:
    folder = Path(folder)
    if not folder.is_dir():
        raise Error(f"{folder}: expected a folder of <image>.txt prediction files")
    files = sorted(p for p in folder.iterdir() if p.suffix == ".txt" and p.is_file())
    if not files:
        raise Error(f"{folder}: no .txt prediction files")
    return files


def _lines(path: Path) -> list[str]:
    """The lines of a prediction file, read as every annotation file is (io.safe_load: a
    binary file is refused before it is read whole)."""
    try:
        return text_of(path).splitlines()
    except UnicodeDecodeError:
        raise ParseError(path, "not UTF-8 text") from None


def _floats(tokens: list[str], where: str) -> list[float]:
    try:
        v = [float(t) for t in tokens]
    except ValueError:
        raise ParseError(where, f"expected numbers, got {' '.join(tokens)!r}") from None
    if not all(map(math.isfinite, v)):
        raise ParseError(where, f"numbers must be finite, got {' '.join(tokens)!r}")
    return v
