"""YOLO's label lines, a kit of yolo.py and yolo_darknet.py: parsing lines of numbers into
annotation columns (LabelLines, assemble), choosing the task, and formatting objects back into
lines. See yolo.py for the line kinds and the rules."""

from __future__ import annotations

import math
import os
import re
from array import array
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.annotations import Annotations, Polygons
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import Error, ParseError, UnsafeInputError
from ..core.images import Images
from ..io.paths import FileIndex
from ..io.safe_load import SNIFF_BYTES, sniff_text, text_of
from . import common
from .base import (
    BOXES,
    CATEGORY_IDS,
    CATEGORY_META,
    CLASS_ORDER,
    KEYPOINTS,
    OBB,
    POLYGONS,
    ReadContext,
    WriteContext,
)
from ._yolo_layout import SIDECAR_KEY, ImageEntry, kpt_shape_from, _list_of, report_orphan_labels


TASKS = ("detect", "segment", "pose", "obb")
SUPPORTS = frozenset({BOXES, POLYGONS, KEYPOINTS, OBB, CATEGORY_IDS, CATEGORY_META, CLASS_ORDER})


def assemble(root: Path, images: Sequence[ImageEntry], names: list[str] | None,
             ctx: ReadContext, *, sidecar: dict, kpt_shape: tuple[int, int] | None,
             names_where: str, extra_meta: dict | None = None,
             meta_key: str = "yolo") -> Dataset:
    """Image sizes + label files -> a validated Dataset (shared with yolo_darknet)."""
    sidecar = sidecar if isinstance(sidecar, dict) else {}
    kpt_shape = kpt_shape or kpt_shape_from(sidecar.get("kpt_shape"), names_where)
    report_orphan_labels(root, images, ctx)
    base = os.path.abspath(root)
    paths = [os.path.join(base, img.rel) for img in images]  # rel is clean: no '..' or '.'
    sizes = common.read_sizes(paths, ctx, where=lambda i: images[i].where)
    keep = np.flatnonzero((sizes[:, 0] > 0) & (sizes[:, 1] > 0))
    images = [images[i] for i in keep]
    paths = [paths[i] for i in keep]
    sizes = sizes[keep]

    lines = LabelLines()
    for i, img in enumerate(images):
        lines.read_file(root, img.label_rel, i, ctx)
    lines.flush(ctx)

    inferred = names is None
    if names is None:
        names = [str(i) for i in range(lines.max_class() + 1)]
    declared = ctx.options.get("task") or sidecar.get("task")
    if declared is not None and declared not in TASKS:
        raise ParseError(names_where, f"unknown task {declared!r}; expected one of "
                         f"{', '.join(TASKS)}")
    task = declared or infer_task(set(lines.blocks), kpt_shape)
    if task == "pose" and kpt_shape is None:
        raise ParseError(names_where, "task pose needs kpt_shape: [K, 2|3]")
    categories = categories_from(names, sidecar, ctx, names_where)
    ann, ann_where = lines.to_annotations(sizes, len(names), task, kpt_shape, ctx,
                                          None if inferred else names_where, categories.ids)
    imgs = Images.build([img.file_name for img in images], sizes[:, 0], sizes[:, 1],
                        split=[img.split for img in images], path=paths)
    yolo_meta: dict[str, Any] = {"task": task, **(extra_meta or {})}
    if kpt_shape is not None:
        yolo_meta["kpt_shape"] = list(kpt_shape)
    ds = Dataset(imgs, ann, categories, {meta_key: yolo_meta})
    return common.finish_read(ds, ctx, where_annotation=ann_where,
                              where_image=lambda i: images[i].where)


def infer_task(lengths: set[int], kpt_shape: tuple[int, int] | None) -> str:
    if kpt_shape is not None:
        return "pose"
    if lengths == {9}:
        return "obb"
    return "detect" if lengths <= {5} else "segment"


def categories_from(names: list[str], sidecar: dict, ctx: ReadContext,
                    where: str) -> Categories:
    """Index + 1 ids, or the ids kept in the visionflow mapping by our writer."""
    n = len(names)
    ids = sidecar.get("category_ids")
    if ids is not None:
        if (not isinstance(ids, list) or len(ids) != n or not all(isinstance(i, int) for i in ids)
                or len(set(ids)) != n):
            ctx.report.add("warning", "yolo.category_ids_ignored",
                           f"{SIDECAR_KEY}.category_ids is not {n} distinct integers; "
                           "using class index + 1", where=where)
            ids = None
    ids = ids or list(range(1, n + 1))
    supers = _list_of(sidecar.get("supercategories"), n)
    kpts = _list_of(sidecar.get("keypoint_names"), n)
    skels = _list_of(sidecar.get("skeletons"), n)
    out = []
    for i, name in enumerate(names):
        try:
            out.append(Category(ids[i], name, None if supers[i] is None else str(supers[i]),
                                tuple(str(k) for k in kpts[i] or ()),
                                tuple((int(a), int(b)) for a, b in skels[i] or ())))
        except (TypeError, ValueError):
            out.append(Category(ids[i], name))
    return Categories(out)


class LabelLines:
    """Label lines of many files, gathered by number count so geometry converts in blocks."""

    def __init__(self) -> None:
        self.files: list[str] = []
        # count -> image rows, file indices, line numbers, flat values
        self.blocks: dict[int, tuple[array, array, array, array]] = {}
        self._errors: list[tuple[int, int, Error]] = []
        self._indexes: dict[Path, FileIndex] = {}

    def read_file(self, root: Path, label_rel: str, image_row: int, ctx: ReadContext) -> None:
        index = self._indexes.get(root)
        if index is None:
            index = self._indexes[root] = FileIndex(root)  # one listing, not a realpath a file
        shown = os.path.join(index.root_text, label_rel)
        if not index.listed(label_rel):  # missing (a negative), or behind a symlink
            try:
                if index.locate(label_rel, where=shown) is None:
                    return  # no label file: an image without objects (a negative)
            except UnsafeInputError as e:
                self._errors.append((image_row, 0, e))
                return
        try:
            with open(shown, "rb") as f:
                start = f.read(SNIFF_BYTES)
                sniff_text(shown, start)  # a 2 GB file of zeros: refused before reading it
                text = (start + f.read()).decode("utf-8-sig")
        except ParseError as e:
            self._errors.append((image_row, 0, e))
            return
        except UnicodeDecodeError:
            self._errors.append((image_row, 0, ParseError(
                shown, "label file is not UTF-8 text; expected lines of numbers")))
            return
        except OSError as e:
            self._errors.append((image_row, 0, ParseError(
                shown, f"cannot read label file ({e.strerror or e})")))
            return
        file_index = len(self.files)
        self.files.append(shown)
        for n, line in enumerate(text.splitlines(), 1):
            tokens = line.split()
            if not tokens:
                continue
            try:
                values = list(map(float, tokens))
            except ValueError:
                bad = next(t for t in tokens if not _is_float(t))
                self._errors.append((image_row, n, ParseError(
                    f"{shown}:{n}", f"expected numbers, got {_short(bad, 40)!r} "
                    f"(\"{_short(line)}\")")))
                continue
            if not all(map(math.isfinite, values)):
                bad = next(t for t, v in zip(tokens, values) if not math.isfinite(v))
                self._errors.append((image_row, n, ParseError(
                    f"{shown}:{n}", f"number {_short(bad, 40)!r} is not finite "
                    f"(\"{_short(line)}\")")))
                continue
            block = self.blocks.get(len(values))
            if block is None:  # typed arrays: 8 bytes a number instead of a float object
                block = self.blocks[len(values)] = (array("q"), array("q"), array("q"),
                                                    array("d"))
            block[0].append(image_row)
            block[1].append(file_index)
            block[2].append(n)
            block[3].extend(values)

    def flush(self, ctx: ReadContext) -> None:
        """Report the problems found so far, first file and line first."""
        errors, self._errors = self._errors, []
        for _, _, err in sorted(errors, key=lambda e: (e[0], e[1])):
            ctx.fail(err)

    def max_class(self) -> int:
        top = -1
        for k, (_, _, _, flat) in self.blocks.items():
            c = np.asarray(flat[::k])
            c = c[(c >= 0) & (c == np.floor(c))]
            if len(c):
                top = max(top, int(c.max()))
        return top

    def to_annotations(self, sizes: np.ndarray, n_classes: int, task: str,
                       kpt_shape: tuple[int, int] | None, ctx: ReadContext,
                       names_where: str | None, category_ids: Sequence[int]
                       ) -> tuple[Annotations, Callable[[int], str]]:
        """Lines -> Annotations in absolute pixels (file and line order), and row -> 'file:line'."""
        expected = _expected_counts(task, kpt_shape)
        parts: list[dict[str, Any]] = []
        for k in sorted(self.blocks):
            img_l, file_l, line_l, flat = self.blocks.pop(k)  # freed as converted
            img = np.asarray(img_l, np.int64)
            file_i = np.asarray(file_l, np.int64)
            line = np.asarray(line_l, np.int64)
            v = np.asarray(flat, np.float64).reshape(-1, k)
            ok = np.ones(len(v), bool)
            if not expected(k):
                for i in range(len(v)):
                    at = f"{self.files[file_i[i]]}:{line[i]}"
                    self._errors.append((int(img[i]), int(line[i]), ParseError(
                        at, f"expected {_describe(task, kpt_shape)}, got {k} "
                        f"(\"{_line_text(self.files[file_i[i]], line[i])}\")")))
                continue
            c = v[:, 0]
            ok = (c >= 0) & (c == np.floor(c))
            if names_where is not None:
                ok &= c < n_classes
            for i in np.flatnonzero(~ok):
                known = (f"0..{n_classes - 1} ({n_classes} names in {names_where})"
                         if n_classes else f"none (no class names in {names_where})")
                text = _line_text(self.files[file_i[i]], line[i])
                self._errors.append((int(img[i]), int(line[i]), ParseError(
                    f"{self.files[file_i[i]]}:{line[i]}", f"class index "
                    f"{text.split()[0] if text else _num(c[i])} is not a class: known "
                    f"indices are {known}")))
            img, file_i, line, v = img[ok], file_i[ok], line[ok], v[ok]
            parts.append(_convert(img, file_i, line, v, sizes, task, kpt_shape))
        self.flush(ctx)
        n = sum(len(p["image"]) for p in parts)
        if not parts:
            parts = [{"image": np.zeros(0, np.int64), "line": np.zeros(0, np.int64),
                      "file": np.zeros(0, np.int64), "cls": np.zeros(0, np.int64),
                      "xyxy": np.zeros((0, 4)), "rings": [],
                      "keypoints": np.zeros((0, (kpt_shape or (0, 3))[0], 3)),
                      "obb": np.zeros((0, 4, 2))}]
        image, line = _joined(parts, "image"), _joined(parts, "line")
        # Lines were gathered file by file in image order: usually already sorted, and then
        # no column is copied again (1.7 million boxes: ~200 MB less at the peak).
        key = image * (int(line.max()) + 1 if n else 1) + line
        order = None if n < 2 or bool((key[1:] >= key[:-1]).all()) else np.lexsort((line, image))
        del key

        def take(name: str) -> np.ndarray:
            col = _joined(parts, name)
            return col if order is None else col[order]

        ids = np.asarray(category_ids, np.int64)
        columns: dict[str, Any] = {}
        if task == "segment":
            rings = [r for p in parts for r in p["rings"]]
            columns["polygons"] = Polygons.from_lists(
                rings if order is None else [rings[i] for i in order])
        if task == "pose":
            columns["keypoints"] = take("keypoints")
        if task == "obb":
            columns["obb"] = take("obb")
        cls, file_i = take("cls"), take("file")
        image, line = take("image"), take("line")
        ann = Annotations.build(image, ids[cls] if n else [], take("xyxy"), **columns)
        return ann, lambda i: f"{self.files[file_i[i]]}:{line[i]}"


def _convert(img: np.ndarray, file_i: np.ndarray, line: np.ndarray, v: np.ndarray,
             sizes: np.ndarray, task: str, kpt_shape: tuple[int, int] | None) -> dict[str, Any]:
    """One block of lines with the same number count -> geometry columns."""
    n, k = v.shape
    wh = sizes[img].astype(np.float64)  # (n, 2)
    out: dict[str, Any] = {"image": img, "file": file_i, "line": line,
                           "cls": v[:, 0].astype(np.int64)}
    if task == "pose" or k == 5:
        c = v[:, 1:5]
        out["xyxy"] = np.concatenate([c[:, :2] - c[:, 2:] / 2, c[:, :2] + c[:, 2:] / 2],
                                     axis=1) * np.tile(wh, 2)
        pts = None
    else:
        pts = v[:, 1:].reshape(n, (k - 1) // 2, 2) * wh[:, None, :]  # n may be 0
        lo = np.clip(pts.min(axis=1), 0, wh)
        hi = np.clip(pts.max(axis=1), 0, wh)
        out["xyxy"] = np.concatenate([lo, hi], axis=1)
    if task == "pose":
        kk, d = kpt_shape
        raw = v[:, 5:].reshape(n, kk, d)
        kp = np.empty((n, kk, 3))
        kp[..., :2] = raw[..., :2] * wh[:, None, :]
        kp[..., 2] = raw[..., 2] if d == 3 else np.where(
            (raw[..., 0] == 0) & (raw[..., 1] == 0), 0.0, 2.0)
        out["keypoints"] = kp
    elif task == "obb":
        out["obb"] = pts
    elif task == "segment":
        out["rings"] = [[] for _ in range(n)] if pts is None else _split_bridged_rows(pts)
    return out


def _split_bridged_rows(pts: np.ndarray) -> list[list[np.ndarray]]:
    """(n, m, 2) polygons -> rings per object, a bridged ring split back into its parts.

    Only rows holding a repeated vertex can be bridged; they are found for the whole block at
    once (rows with a repeated x first, then their vertices as complex numbers sorted per row:
    ~0.1 s for 250,000 polygons of 30 vertices) and only those go through split_bridged.
    """
    x = np.sort(pts[..., 0], axis=1)
    rows = np.flatnonzero((x[:, 1:] == x[:, :-1]).any(axis=1))
    out = [[p] for p in pts]
    if len(rows):
        z = np.sort(pts[rows, :, 0] + 1j * pts[rows, :, 1], axis=1)
        for i in rows[(z[:, 1:] == z[:, :-1]).any(axis=1)]:
            out[i] = split_bridged(pts[i])
    return out


def split_bridged(ring: np.ndarray) -> list[np.ndarray]:
    """One ring -> its parts, where several parts were merged into it with zero-width bridges.

    Writers of YOLO segmentation (Ultralytics' COCO converter merge_multi_segment, merge_rings
    here) join an object's polygons into one ring that walks out to each next part, around it
    and back over the same vertices. Taken as one ring its shoelace area is wrong (parts facing
    opposite ways cancel), so the walk is undone: every time a vertex comes round again, the
    loop since its first visit is a part (fewer than 3 vertices: a bridge, dropped). A ring
    that yields one part only (a vertex merely repeated) is kept exactly as written. Parts come
    in the order the walk reached them, so merge_rings(split_bridged(r)) gives r back.
    """
    ring = np.asarray(ring, dtype=np.float64).reshape(-1, 2)
    stack: list[int] = []            # indices into ring of the walk so far
    first: dict[tuple[float, float], int] = {}  # vertex -> its position in the stack
    parts: list[list[int]] = []
    for i, (x, y) in enumerate(ring.tolist()):
        k = first.get((x, y))
        if k is None:
            first[(x, y)] = len(stack)
            stack.append(i)
            continue
        loop = stack[k:]
        for j in loop[1:]:
            first.pop(tuple(ring[j].tolist()), None)
        del stack[k + 1:]
        if len(loop) >= 3:
            parts.append(loop)
    if len(stack) >= 3:
        parts.append(stack)
    if len(parts) < 2:
        return [ring]
    parts.sort(key=lambda idx: idx[0])  # in the order the walk reached them: merged order
    return [ring[idx] for idx in parts]


def _line_text(path: str, line: int) -> str:
    """The text of one line, re-read for an error message (errors are rare; lines are many)."""
    try:
        lines = text_of(Path(path), "utf-8-sig").splitlines()
    except (OSError, UnicodeDecodeError):
        return ""
    return _short(lines[line - 1]) if 0 < line <= len(lines) else ""


def _num(x: float) -> str:
    return common.fmt_float(float(x))


def _expected_counts(task: str, kpt_shape: tuple[int, int] | None) -> Callable[[int], bool]:
    if task == "pose":
        want = 5 + kpt_shape[0] * kpt_shape[1]
        return lambda k: k == want
    if task == "obb":
        return lambda k: k == 9
    if task == "detect":
        return lambda k: k == 5
    return lambda k: k == 5 or (k >= 7 and k % 2 == 1)


def _joined(parts: list[dict[str, Any]], name: str) -> np.ndarray:
    """One column of all parts; the part's own array when there is one part (no copy)."""
    return parts[0][name] if len(parts) == 1 else np.concatenate([p[name] for p in parts])


def _describe(task: str, kpt_shape: tuple[int, int] | None) -> str:
    if task == "pose":
        k, d = kpt_shape
        return (f"{5 + k * d} numbers (pose: class, cx cy w h and {k}x{d} keypoint values "
                "for kpt_shape [" f"{k}, {d}])")
    if task == "obb":
        return "9 numbers (oriented box: class x1 y1 x2 y2 x3 y3 x4 y4)"
    if task == "detect":
        return "5 numbers (detection: class cx cy w h)"
    return ("5 numbers (detection: class cx cy w h) or an odd count >= 7 "
            "(segmentation: class x1 y1 ... xn yn, n >= 3)")


def _is_float(token: str) -> bool:
    try:
        float(token)
        return True
    except ValueError:
        return False


def _short(text: str, limit: int = 80) -> str:
    """The start of `text` for a message; never the whole of a 2 GB line."""
    text = " ".join(text[:limit + 1].split())
    return text if len(text) <= limit else text[:limit - 3] + "..."


def choose_task(ds: Dataset, ctx: WriteContext) -> tuple[str, tuple[int, int] | None]:
    """One task per dataset (shared with yolo_darknet); reports what the task cannot hold."""
    ann = ds.annotations[~ds.annotations.is_label]
    poly, kp, ob = ann.has_polygon(), ann.has_keypoints(), ann.has_obb()
    if kp.any():
        k = ann.keypoints.shape[1]
        meta = ds.meta.get("yolo") or ds.meta.get("yolo_darknet") or {}
        shape = meta.get("kpt_shape")
        d = shape[1] if isinstance(shape, list) and len(shape) == 2 and shape[0] == k else 3
        ctx.loss("polygons.pose", int(poly.sum()), "polygons in a pose dataset (a YOLO pose "
                 "line holds a box and keypoints; written as boxes)")
        ctx.loss("oriented_boxes.pose", int(ob.sum()), "oriented boxes in a pose dataset "
                 "(written as boxes)")
        if d == 2 and ann.keypoints is not None:
            v = ann.keypoints[kp][..., 2]
            ctx.loss("keypoints.visibility", int((v == 1).sum()), "keypoint visibility 1 "
                     "(hidden) with kpt_shape [K, 2] (written as visible points)")
        return "pose", (k, d)
    if poly.any():
        ctx.loss("oriented_boxes.segment", int((ob & ~poly).sum()), "oriented boxes in a "
                 "segmentation dataset (written as 4-point polygons)")
        ctx.loss("polygons.multi_ring", int((ann.polygons.counts() > 1).sum()), "objects "
                 "with several polygon rings (merged into one ring joined by zero-width "
                 "bridges, as Ultralytics' COCO converter does)")
        boxes_only = int((~poly & ~ob).sum())
        if boxes_only:
            ctx.report.add("warning", "yolo.box_as_polygon", "objects without a polygon in a "
                           "segmentation dataset written as 4-point rectangle polygons",
                           count=boxes_only)
        return "segment", None
    if ob.any():
        if (~ob).any():
            ctx.report.add("info", "yolo.box_as_obb", "objects without an oriented box "
                           "written as axis-aligned oriented boxes", count=int((~ob).sum()))
        return "obb", None
    if not len(ann):  # no objects: the columns the dataset carries say what it is for
        if ds.annotations.keypoints is not None:
            return "pose", (ds.annotations.keypoints.shape[1], 3)
        if ds.annotations.polygons is not None:
            return "segment", None
        if ds.annotations.obb is not None:
            return "obb", None
    return "detect", None


def label_texts(ds: Dataset, task: str, kpt_shape: tuple[int, int] | None,
                ctx: WriteContext, chunk: int = 16384) -> Iterator[tuple[int, list[str]]]:
    """(first image row, label file texts of the next `chunk` image rows), in image order
    (shared with yolo_darknet): the lines of 1.7 million boxes never exist at once."""
    ann = ds.annotations
    rows = np.flatnonzero(~ann.is_label)
    rows = rows[np.argsort(ann.image_index[rows], kind="stable")]
    image = ann.image_index[rows]
    index_of = ds.categories.index_map()
    for first in range(0, len(ds.images), chunk):
        lo, hi = np.searchsorted(image, [first, first + chunk])
        yield first, _texts(ds, rows[lo:hi], task, kpt_shape, index_of, first,
                            min(chunk, len(ds.images) - first))


def _texts(ds: Dataset, rows: np.ndarray, task: str, kpt_shape: tuple[int, int] | None,
           index_of: dict[int, int], first: int, count: int) -> list[str]:
    """The label file texts of image rows first..first+count-1, whose objects are `rows`."""
    ann = ds.annotations
    image = ann.image_index[rows]
    wh = np.stack([ds.images.width, ds.images.height], axis=1).astype(np.float64)[image]
    cls = [str(index_of[c]) for c in ann.category_id[rows].tolist()]
    box = ann.xyxy[rows]
    if task in ("detect", "pose"):
        norm = np.concatenate([(box[:, :2] + box[:, 2:]) / 2, box[:, 2:] - box[:, :2]],
                              axis=1) / np.tile(wh, 2)
        if task == "pose":
            norm = np.concatenate([norm, _keypoint_values(ann, rows, kpt_shape, wh)], axis=1)
        nums = fmt_rows(norm)
    elif task == "obb":
        corners = np.array(ann.obb[rows]) if ann.obb is not None else np.full(
            (len(rows), 4, 2), np.nan)
        missing = np.isnan(corners).all(axis=(1, 2))
        corners[missing] = _rects(box[missing])
        nums = fmt_rows((corners / wh[:, None, :]).reshape(len(rows), 8))
    else:
        poly, ob = ann.has_polygon()[rows], ann.has_obb()[rows]
        values = []
        for i, j in enumerate(rows.tolist()):
            if poly[i]:
                rings = ann.polygons.rings(j)
                ring = rings[0] if len(rings) == 1 else merge_rings(rings)
            else:
                ring = ann.obb[j] if ob[i] else _rects(box[i:i + 1])[0]
            values.append((ring / wh[i]).reshape(-1).tolist())
        nums = fmt_rows(values)
    lines: list[list[str]] = [[] for _ in range(count)]
    for img, c, text in zip((image - first).tolist(), cls, nums):
        lines[img].append(f"{c} {text}\n" if text else f"{c}\n")
    return ["".join(ls) for ls in lines]


def merge_rings(rings: Sequence[np.ndarray]) -> np.ndarray:
    """Several rings -> one, each next ring spliced in at its closest vertex pair.

    The walk goes out along a zero-width bridge, around the next ring and back, so the filled
    area is the union of disjoint parts (the same idea as Ultralytics' merge_multi_segment).
    """
    merged = np.asarray(rings[0], dtype=np.float64).reshape(-1, 2)
    for ring in rings[1:]:
        ring = np.asarray(ring, dtype=np.float64).reshape(-1, 2)
        if not len(ring):
            continue
        d = ((merged[:, None, :] - ring[None, :, :]) ** 2).sum(axis=2)
        a, b = np.unravel_index(int(np.argmin(d)), d.shape)
        loop = np.concatenate([np.roll(ring, -b, axis=0), ring[b:b + 1]])
        merged = np.concatenate([merged[:a + 1], loop, merged[a:]])
    return merged


# fmt_float(x, 6) over many numbers at once: "%.6f", then trailing zeros (and a bare '.')
# stripped and "-0" made "0" by two regex passes over all the text (numpy's char functions
# loop in Python and were the slowest part of writing labels).
_TRAILING_ZEROS = re.compile(r"\.0+(?=[ \n]|$)|(\.[0-9]*?[1-9])0+(?=[ \n]|$)")
_NEGATIVE_ZERO = re.compile(r"(?<![^ \n])-0(?=[ \n]|$)")


def fmt_rows(rows: np.ndarray | Sequence[Sequence[float]]) -> list[str]:
    """Each row's numbers as fmt_float(x, 6), space-separated: one string per row.

    Rows are formatted 65,536 at a time, so the temporary Python numbers and strings of a
    million boxes never exist at once."""
    out: list[str] = []
    formats: dict[int, str] = {}
    for start in range(0, len(rows), 1 << 16):
        block = rows[start:start + (1 << 16)]
        texts = []
        for row in block.tolist() if isinstance(block, np.ndarray) else block:
            fmt = formats.get(len(row))
            if fmt is None:
                fmt = formats[len(row)] = " ".join(["%.6f"] * len(row))
            texts.append(fmt % tuple(row))
        out += _NEGATIVE_ZERO.sub("0", _TRAILING_ZEROS.sub(r"\1", "\n".join(texts))).split("\n")
    return out


def _keypoint_values(ann: Annotations, rows: np.ndarray, kpt_shape: tuple[int, int],
                     wh: np.ndarray) -> np.ndarray:
    """(n, K*D) normalized keypoint numbers; unlabelled or absent points are 0 0 (0)."""
    k, d = kpt_shape
    kp = np.array(ann.keypoints[rows]) if ann.keypoints is not None else np.full(
        (len(rows), k, 3), np.nan)
    unlabelled = ~np.isfinite(kp).all(axis=2) | (kp[..., 2] == 0)
    kp[unlabelled] = 0.0
    kp[..., :2] /= wh[:, None, :]
    return kp[..., :d].reshape(len(rows), k * d)


def _rects(boxes: np.ndarray) -> np.ndarray:
    """(n, 4) xyxy -> (n, 4, 2) corners, clockwise from the top-left."""
    x0, y0, x1, y1 = np.asarray(boxes, dtype=np.float64).reshape(-1, 4).T
    return np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1), np.stack([x1, y1], 1),
                     np.stack([x0, y1], 1)], axis=1)
