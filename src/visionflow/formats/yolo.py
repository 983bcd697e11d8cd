"""YOLO text labels in the Ultralytics layout (YOLOv5/v8/11): a data yaml, images/<split>/ and
labels/<split>/*.txt with one object per line, coordinates normalized to the image size.

Line kinds (all numbers normalized to 0..1 except the class index and keypoint visibility):

    detect    c cx cy w h
    segment   c x1 y1 ... xn yn              (n >= 3; the box is the polygon's bounds)
    pose      c cx cy w h + K*(2|3) numbers  (kpt_shape: [K, 2|3] in the yaml)
    obb       c x1 y1 x2 y2 x3 y3 x4 y4      (the box is the corners' bounds)

The box of a polygon or an oriented box is its bounds clipped to the image (DOTA's corners often
reach a few pixels outside; the points themselves are kept as written).

Rules this module follows (and writes down so nobody has to guess):

- Category ids: YOLO has a class index only. Without metadata a class's id is index + 1 (the
  COCO convention; 0 is "background" in torchvision-style trainers). The writer keeps the real
  ids in the data yaml under `visionflow: {category_ids: [...], task: ...}` (plus supercategories,
  keypoint names and skeletons when there are any), and the reader uses that mapping when
  present, so COCO ids survive COCO -> YOLO -> COCO. Ultralytics ignores the extra key.
- Task: `visionflow.task` in the yaml (or the read option task=...) decides; else kpt_shape means
  pose; else a dataset whose every line has exactly 9 numbers is OBB; else lines of 5 numbers are
  boxes and lines of 2n+1 numbers (n >= 3) polygons. So a segmentation dataset made only of
  4-point polygons reads as OBB unless its yaml says `visionflow: {task: segment}` (ours do).
- Pose: visibility follows COCO (0 not labelled, 1 hidden, 2 visible). With kpt_shape [K, 2] a
  point at x = y = 0 is "not labelled" and any other is visible; the dims are kept in
  meta["yolo"] so the writer writes the same number of values back. In a pose dataset an object
  without keypoints is written with all K points unlabelled (0 0 0) and reads back that way.
- Splits: train/val/test (and keys listed in `visionflow.splits`) name a folder, a .txt list of
  image paths, an image file, or a list of those. A list line that does not exist as written but
  does without a leading `data/` (CVAT writes lists as seen from darknet's folder) is read so.
  Images reached through several split keys (Ultralytics' trick `train: images` + `val:
  images`) are UNSPLIT. The label of an image is found like Ultralytics'
  img2label_paths: the last `images` folder becomes `labels`, the suffix `.txt`; applied inside
  the dataset root only. `../x` entries (Roboflow exports) fall back to `x` like Ultralytics does.
  Nothing outside the dataset folder is ever followed: an absolute or stale `path:` falls back to
  the yaml's folder; absolute or escaping list entries and symlinks are refused (linked folders
  and files are followed with --follow-links). --images-dir is refused: labels are found from
  the images' paths.
- A folder without a yaml but with images/ + labels/ (optionally images/<split>/, or Roboflow's
  <split>/images/) is read too, with class names from classes.txt, obj.names or *.names (or
  "0".."n" from the largest class index when there is none).
- Writer: data.yaml without a `path:` key (Ultralytics then uses the yaml's own folder; `path: .`
  would mean the current directory), images/<split>/<file_name>, labels/<split>/<stem>.txt for
  every image (empty file for a negative), UNSPLIT images in images/ + labels/ with train and val
  both pointing at `images` (beside named splits they go to train, reported as a loss). Numbers
  get 6 decimals with trailing zeros stripped, so write(read(write(D))) is byte-identical. One
  task per dataset: pose if any keypoints, else segment if any polygon, else obb if any oriented
  box, else detect. In a segment dataset an object
  without a polygon is written as its oriented box or its box as a 4-point polygon (Ultralytics
  reads a whole file as polygons as soon as one line is); an object with several rings is merged
  into one ring joined by zero-width bridges (what Ultralytics' COCO converter does) and reported
  as `loss.polygons.multi_ring`. The reader undoes such bridges (split_bridged): an object
  whose ring comes back to earlier vertices is read as its separate parts, so areas are the
  parts' areas, not the bridged ring's (where parts facing opposite ways cancel).

What each trainer accepts (checked against their dataset code):
- Ultralytics YOLOv8 / YOLO11 (ultralytics/data/utils.py check_det_dataset): train and val keys
  required (`validation` is renamed val); `names` (dict or list) or `nc`, both must agree when
  both are present; `path` optional, relative paths resolve against the yaml's folder when it is
  absent; train/val/test name a folder, a .txt list or a list of those; labels by
  img2label_paths: the last `/images/` becomes `/labels/`, the suffix `.txt`.
- YOLOv5 (ultralytics/yolov5 utils/general.py check_dataset, v7.0): train, val and names
  required, nc derived from names; a relative or missing `path` resolves against the yolov5
  repository folder, not the yaml's (give --data an absolute `path:` or run from the dataset's
  parent); labels by the same img2label_paths. Releases before v7.0 read `nc` from the yaml.
- YOLOv7 (WongKinYiu/yolov7 train.py, utils/datasets.py): `nc` required and must equal
  len(names); names is used as a list (test.py enumerates it: a dict shows indices instead of
  class names); train/val paths resolve against the working folder; labels by the same
  /images/ -> /labels/ substitution.
This writer therefore writes both `nc` and `names`; names stay an index -> name mapping (the
Ultralytics form), which YOLOv7 trains with but prints as indices.
"""

from __future__ import annotations

import math
import os
import re
from array import array
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml

from ..core.annotations import Annotations, Polygons
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import Error, OutputError, ParseError, UnsafeInputError
from ..core.images import UNSPLIT, Images
from ..io.images import is_image_file
from ..io.paths import FileIndex, clean_relative, resolve_inside
from ..io.safe_load import SNIFF_BYTES, sniff_text, text_of
from ..io.safe_load import load_yaml as safe_yaml
from . import common
from .base import (BOXES, CATEGORY_IDS, CATEGORY_META, CLASS_ORDER, KEYPOINTS, OBB, POLYGONS,
                   Detection,
                   Format, ReadContext, WriteContext)

TASKS = ("detect", "segment", "pose", "obb")
SPLIT_KEYS = ("train", "val", "test")
# Other yaml keys Ultralytics treats as image sources.
_EXTRA_SPLIT_KEYS = ("minival",)
_SPLIT_ALIASES = {"valid": "val", "validation": "val"}
NAMES_FILES = ("classes.txt", "obj.names")
SIDECAR_KEY = "visionflow"
_DRIVE = re.compile(r"^[A-Za-z]:")


# --- detect -------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    if path.is_file():
        if path.suffix.lower() in (".yaml", ".yml") and _is_data_yaml(_load_yaml_quiet(path)):
            return Detection("yolo", 0.95, (f"{path.name} has names and train/val keys",))
        return None
    if not path.is_dir():
        return None
    found = find_data_yaml(path)
    if found is not None:
        return Detection("yolo", 0.95, (f"{found.name} has names and train/val keys",))
    if (path / "obj.data").is_file():
        return None  # darknet layout (yolo-darknet)
    label_dirs = [d for d in _label_dirs(path) if d.is_dir()]
    if not label_dirs:
        return None
    sample = _first_file(label_dirs, ".txt")
    if sample is None or not _looks_like_labels(sample):
        return None
    reasons = ["images/ and labels/ folders with lines of numbers"]
    confidence = 0.7
    names = _names_file(path)
    if names is not None:
        confidence = 0.75
        reasons.append(f"class names in {names.name}")
    return Detection("yolo", confidence, tuple(reasons))


# --- read ---------------------------------------------------------------------------------

def read(path: Path, ctx: ReadContext) -> Dataset:
    common.refuse_images_dir(ctx, "yolo", "each label file is found from its image's path "
                             "(images/... -> labels/...); keep the images in the dataset's "
                             "image folders (a linked folder is followed with --follow-links)")
    if path.is_file():
        root, yaml_path = path.parent, path
    else:
        root, yaml_path = path, find_data_yaml(path)
        for name in ("data.yaml", "data.yml"):
            if yaml_path is None and (path / name).is_file():
                yaml_path = path / name  # broken or incomplete: say what is wrong with it
    if yaml_path is None:
        return _read_plain_layout(root, ctx)
    data = load_yaml(yaml_path)
    if not _is_data_yaml(data):
        raise ParseError(yaml_path, "expected a mapping with names (or nc) and train/val/test "
                         "keys")
    base = _dataset_base(root, data, yaml_path, ctx)
    sidecar = data.get(SIDECAR_KEY) if isinstance(data.get(SIDECAR_KEY), dict) else {}
    names = names_from_yaml(data, yaml_path)
    keys = [k for k in (*SPLIT_KEYS, *_EXTRA_SPLIT_KEYS, *(sidecar.get("splits") or []))
            if isinstance(k, str) and data.get(k)]
    stand_ins = sidecar.get("stand_ins") if isinstance(sidecar.get("stand_ins"), dict) else {}
    keys = [k for k in keys if not (k in stand_ins and data.get(k) == data.get(stand_ins[k]))]
    keys = list(dict.fromkeys(keys))
    if not keys:
        raise ParseError(yaml_path, "no train/val/test entry names any images")
    found: list[ImageEntry] = []
    for key in keys:
        found += _split_entries(root, base, data[key], _SPLIT_ALIASES.get(key, key),
                                f"{yaml_path}: {key}", ctx)
    images = merge_split_entries(found)
    for img in images:
        img.label_rel = ultralytics_label_rel(img.rel)
    kpt_shape = kpt_shape_from(data.get("kpt_shape"), yaml_path)
    meta = {"flip_idx": data.get("flip_idx")} if data.get("flip_idx") is not None else {}
    return assemble(root, images, names, ctx, sidecar=sidecar, kpt_shape=kpt_shape,
                    names_where=str(yaml_path), extra_meta=meta)


def find_data_yaml(folder: Path) -> Path | None:
    """The dataset yaml of a folder: data.yaml first, else any yaml with names + train/val."""
    candidates = [folder / n for n in ("data.yaml", "data.yml")]
    candidates += sorted(p for p in folder.glob("*.y*ml") if p not in candidates)
    for p in candidates:
        if p.is_file() and p.suffix.lower() in (".yaml", ".yml") and _is_data_yaml(
                _load_yaml_quiet(p)):
            return p
    return None


def names_from_yaml(data: dict, where: Path) -> list[str]:
    names, nc = data.get("names"), data.get("nc")
    if names is None:
        if isinstance(nc, int) and nc >= 0:
            return [f"class_{i}" for i in range(nc)]
        raise ParseError(where, "no 'names' (or 'nc') key; expected names: {0: name, ...}")
    if isinstance(names, dict):
        try:
            by_index = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            raise ParseError(where, "names keys must be class indices 0..n-1") from None
        if sorted(by_index) != list(range(len(by_index))):
            raise ParseError(where, f"names keys must be the class indices 0..{len(by_index) - 1}"
                             f", got {sorted(by_index)}")
        out = [by_index[i] for i in range(len(by_index))]
    elif isinstance(names, list):
        out = [str(n) for n in names]
    else:
        raise ParseError(where, f"names must be a mapping or a list, got {type(names).__name__}")
    if isinstance(nc, int) and nc != len(out):
        raise ParseError(where, f"'nc: {nc}' does not match the {len(out)} names")
    return out


def read_names_file(path: Path) -> list[str]:
    """One class per line (darknet obj.names, classes.txt); trailing blank lines ignored."""
    try:
        text = text_of(path, "utf-8-sig")
    except UnicodeDecodeError:
        raise ParseError(path, "class names file is not UTF-8 text") from None
    lines = [line.strip() for line in text.splitlines()]
    while lines and not lines[-1]:
        lines.pop()
    return lines


def kpt_shape_from(value: Any, where: Path | str) -> tuple[int, int] | None:
    if value is None:
        return None
    if (isinstance(value, list) and len(value) == 2 and all(isinstance(v, int) for v in value)
            and value[0] > 0 and value[1] in (2, 3)):
        return value[0], value[1]
    raise ParseError(where, f"kpt_shape must be [K, 2] or [K, 3], got {value!r}")


def report_orphan_labels(root: Path, images: Sequence[ImageEntry], ctx: ReadContext) -> None:
    """Label files in the images' label folders (labels/..., apart from the images) that no
    image names are not read: say so (an error when reading strictly), never drop silently.
    LabelImg's classes.txt there is a class list, not a label file."""
    known = {img.label_rel for img in images}
    dirs = {rel.rpartition("/")[0] for rel in known} - {img.rel.rpartition("/")[0]
                                                         for img in images}
    orphans: list[str] = []
    for d in sorted(dirs):
        try:
            with os.scandir(root / d) as it:
                names = sorted(e.name for e in it if e.name.endswith(".txt")
                               and e.name != "classes.txt" and e.is_file())
        except OSError:
            continue
        orphans += [rel for rel in (f"{d}/{n}" if d else n for n in names) if rel not in known]
    if orphans:
        common.undeclared(ctx, "yolo.orphan_labels", str(root / orphans[0]), "label files "
                          f"without an image are not read: {', '.join(orphans[:5])}"
                          + (" ..." if len(orphans) > 5 else ""), count=len(orphans))


@dataclass(slots=True)  # 250,000 of them: no __dict__ each
class ImageEntry:
    """An image found through a split entry, before its size and labels are read."""
    rel: str                 # POSIX path relative to the dataset root
    file_name: str           # name inside its split
    split: str
    where: str               # where it was named ("train.txt:3" or the image path)
    key: str = ""            # the split key that named it
    label_rel: str = ""      # label file relative to the root


def merge_split_entries(entries: Sequence[ImageEntry]) -> list[ImageEntry]:
    """One entry per image file; an image named by several split keys is UNSPLIT."""
    out: dict[str, ImageEntry] = {}
    for e in entries:
        first = out.get(e.rel)
        if first is None:
            out[e.rel] = e
        elif first.key != e.key:
            first.split = UNSPLIT
    return list(out.values())


def ultralytics_label_rel(image_rel: str) -> str:
    """Ultralytics' img2label_paths inside the root: last images/ -> labels/, suffix -> .txt."""
    parts = image_rel.split("/")
    for i in range(len(parts) - 2, -1, -1):
        if parts[i] == "images":
            parts[i] = "labels"
            break
    parts[-1] = _stem(parts[-1]) + ".txt"
    return "/".join(parts)


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


# --- private parse helpers ----------------------------------------------------------------

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


# --- private parse helpers ----------------------------------------------------------------

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


def _class_ok(value: float, n_classes: int | None) -> bool:
    return (float(value).is_integer() and value >= 0
            and (n_classes is None or value < n_classes))


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


def _list_of(value: Any, n: int) -> list:
    return list(value) if isinstance(value, list) and len(value) == n else [None] * n


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def load_yaml(path: Path) -> Any:
    try:
        return safe_yaml(path, path.read_text(encoding="utf-8-sig"))  # alias bombs refused
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ParseError(where, f"invalid YAML ({problem})") from None
    except UnicodeDecodeError:
        raise ParseError(path, "not UTF-8 text") from None


def _load_yaml_quiet(path: Path) -> Any:
    try:
        if path.stat().st_size > 4 << 20:
            return None
        return safe_yaml(path, path.read_text(encoding="utf-8-sig"))
    except (OSError, yaml.YAMLError, UnicodeDecodeError, Error):
        return None


def _is_data_yaml(data: Any) -> bool:
    return (isinstance(data, dict) and ("names" in data or "nc" in data)
            and any(k in data for k in SPLIT_KEYS))


def _dataset_base(root: Path, data: dict, yaml_path: Path, ctx: ReadContext) -> str:
    """`path:` as a folder relative to the root ('' = the root itself); never outside it."""
    value = data.get("path")
    if not value or not isinstance(value, str) or value.strip() in (".", "./"):
        return ""
    try:
        rel = clean_relative(value, where=str(yaml_path))
        if (root / rel).is_dir():
            resolve_inside(root, rel, where=str(yaml_path))
            return rel
    except UnsafeInputError:
        pass
    ctx.report.add("info", "yolo.path_ignored", f"path {value!r} is not a folder inside the "
                   f"dataset; using the yaml's folder {root}", where=str(yaml_path))
    return ""


def _split_entries(root: Path, base: str, value: Any, split: str, where: str,
                   ctx: ReadContext) -> list[ImageEntry]:
    items = value if isinstance(value, list) else [value]
    dirs: list[tuple[str, list[str]]] = []
    listed: list[ImageEntry] = []
    for item in items:
        if not isinstance(item, str) or not item.strip():
            continue
        try:
            rel = _source_rel(root, base, item.strip(), where, ctx.follow_links)
        except UnsafeInputError as e:
            ctx.fail(e)
            continue
        full = root / rel if rel else root
        if full.is_dir():
            dirs.append((rel, _image_files(root, rel, ctx)))
        elif full.is_file() and is_image_file(rel):  # `train: [a.jpg, ...]`: images named
            listed.append(ImageEntry(rel, _listed_file_name(rel, split), split, where))
        elif full.is_file():
            listed += _list_entries(root, rel, split, ctx)
        else:
            ctx.fail(ParseError(where, f"{item!r} is neither a folder nor a list file "
                                f"inside the dataset ({full} not found)"))
    out: list[ImageEntry] = []
    root_text = str(root)
    common_dir = _common_dir([d for d, _ in dirs])
    for _d, files in dirs:
        for rel in files:
            name = rel[len(common_dir) + 1:] if common_dir else rel
            out.append(ImageEntry(rel, name, split, os.path.join(root_text, rel), key=split))
    for e in listed:
        e.key = split
    return out + listed


def _source_rel(root: Path, base: str, item: str, where: str, follow_links: bool = False) -> str:
    """A yaml split entry as a path relative to the root, like Ultralytics resolves it."""
    if os.path.isabs(item) or _DRIVE.match(item):
        raise UnsafeInputError(where, f"{item!r} is an absolute path; entries must name "
                               "folders or lists inside the dataset folder")
    joined = os.path.normpath(os.path.join(base, item.replace("\\", "/"))).replace("\\", "/")
    if joined.startswith("../") and item.startswith("../"):
        # Ultralytics: `../train/images` that does not exist is read as `train/images`.
        joined = os.path.normpath(os.path.join(base, item[3:])).replace("\\", "/")
    if joined in (".", ""):
        return ""
    rel = clean_relative(joined, where=where)
    resolve_inside(root, rel, where=where, follow_links=follow_links)
    return rel


def _image_files(root: Path, rel: str, ctx: ReadContext) -> list[str]:
    """Image files under root/rel (recursive, sorted), as root-relative POSIX paths."""
    out: list[str] = []
    stack = [rel]
    follow = ctx.follow_links  # --follow-links: linked folders are walked too (each once)
    walked: set[str] = set()
    while stack:  # scandir: the entry types come with the listing, no stat or lstat a file
        here = stack.pop()
        if follow:
            real = os.path.realpath(root / here if here else root)
            if real in walked:
                continue
            walked.add(real)
        try:
            entries = list(os.scandir(root / here if here else root))
        except OSError:
            continue
        for e in entries:
            if e.name.startswith("."):
                continue
            r = f"{here}/{e.name}" if here else e.name
            if e.is_dir(follow_symlinks=follow):
                stack.append(r)
            elif is_image_file(e.name):
                if e.is_symlink() and not follow:  # a linked file may lead outside
                    try:
                        resolve_inside(root, r, where=str(root / r))
                    except UnsafeInputError as err:
                        ctx.fail(err)
                        continue
                out.append(r)
    return sorted(out)


def _list_entries(root: Path, list_rel: str, split: str, ctx: ReadContext) -> list[ImageEntry]:
    """A .txt list of image paths ('./x' and 'x' relative to the list's folder or the root)."""
    list_path = root / list_rel
    try:
        text = text_of(list_path, "utf-8-sig")
    except (UnicodeDecodeError, OSError):
        ctx.fail(ParseError(list_path, "image list is not a readable UTF-8 text file"))
        return []
    list_dir = os.path.dirname(list_rel)
    out: list[ImageEntry] = []
    for n, line in enumerate(text.splitlines(), 1):
        entry = line.strip()
        if not entry:
            continue
        at = f"{list_path}:{n}"
        try:
            rel = resolve_listed(root, entry, at, (list_dir, ""), ctx.follow_links)
            bare = entry.replace("\\", "/").removeprefix("./")
            if not (root / rel).exists() and bare.startswith("data/"):
                rel = resolve_listed(root, bare[5:], at, (list_dir, ""),  # CVAT's `data/`
                                     ctx.follow_links)
        except UnsafeInputError as e:
            ctx.fail(e)
            continue
        out.append(ImageEntry(rel, _listed_file_name(rel, split), split, at, key=split))
    return out


def resolve_listed(root: Path, entry: str, where: str, bases: Sequence[str],
                   follow_links: bool = False) -> str:
    """A path named in an image list, relative to the first base where it exists (shared)."""
    posix = entry.replace("\\", "/")
    if posix.startswith("/") or _DRIVE.match(posix):
        raise UnsafeInputError(where, f"file name {entry!r} is an absolute path; lists must "
                               "name files inside the dataset folder")
    candidates: list[str] = []
    for base in bases:
        joined = os.path.normpath(os.path.join(base, posix)).replace("\\", "/")
        if joined.startswith("../") or joined == "..":
            raise UnsafeInputError(where, f"file name {entry!r} points outside the dataset "
                                   "folder")
        candidates.append(joined)
    rels = [clean_relative(c, where=where) for c in candidates]
    rel = next((r for r in rels if (root / r).exists()), rels[0])
    resolve_inside(root, rel, where=where, follow_links=follow_links)
    return rel


def _listed_file_name(rel: str, split: str) -> str:
    parts = rel.split("/")
    if len(parts) > 1 and parts[0] == "images":
        parts = parts[1:]
    if len(parts) > 1 and parts[0] == split:
        parts = parts[1:]
    return "/".join(parts)


def _common_dir(dirs: list[str]) -> str:
    if not dirs:
        return ""
    if len(dirs) == 1:
        return dirs[0]
    split = [d.split("/") if d else [] for d in dirs]
    common: list[str] = []
    for parts in zip(*split):
        if len(set(parts)) != 1:
            break
        common.append(parts[0])
    return "/".join(common)


def _read_plain_layout(root: Path, ctx: ReadContext) -> Dataset:
    """images/ + labels/ without a yaml (label tools' exports), class names from a names file."""
    found: list[ImageEntry] = []
    roboflow = [s for s in ("train", "valid", "val", "test") if (root / s / "images").is_dir()]
    if (root / "images").is_dir():
        for rel in _image_files(root, "images", ctx):
            inside = rel.split("/", 1)[1]
            head, _, rest = inside.partition("/")
            split = _SPLIT_ALIASES.get(head, head) if rest and head in (
                "train", "val", "valid", "validation", "test") else UNSPLIT
            name = rest if split != UNSPLIT else inside
            found.append(ImageEntry(rel, name, split, str(root / rel), key=split or "images"))
    for s in roboflow:
        for rel in _image_files(root, f"{s}/images", ctx):
            found.append(ImageEntry(rel, rel.split("/", 2)[2], _SPLIT_ALIASES.get(s, s),
                                    str(root / rel), key=s))
    if not found:
        raise ParseError(root, "no data yaml and no images/ folder with images; expected "
                         "data.yaml or images/ + labels/")
    for img in found:
        img.label_rel = ultralytics_label_rel(img.rel)
    names_file = _names_file(root)
    names = read_names_file(names_file) if names_file is not None else None
    return assemble(root, found, names, ctx, sidecar={}, kpt_shape=None,
                    names_where=str(names_file or root))


def _names_file(folder: Path) -> Path | None:
    for n in NAMES_FILES:
        if (folder / n).is_file():
            return folder / n
    return next(iter(sorted(folder.glob("*.names"))), None)


def _label_dirs(folder: Path) -> list[Path]:
    return [folder / "labels", *(folder / s / "labels" for s in ("train", "valid", "val", "test"))]


def _first_file(dirs: list[Path], suffix: str, limit: int = 2000) -> Path | None:
    seen = 0
    for d in dirs:
        for dirpath, dirnames, filenames in os.walk(d):
            dirnames.sort()
            for f in sorted(filenames):
                if f.endswith(suffix) and not f.startswith("."):
                    p = Path(dirpath) / f
                    if p.stat().st_size > 0:
                        return p
                seen += 1
                if seen > limit:
                    return None
    return None


def _looks_like_labels(path: Path) -> bool:
    try:
        with path.open("r", encoding="utf-8") as f:
            line = f.readline()
        values = [float(t) for t in line.split()]
    except (OSError, UnicodeDecodeError, ValueError):
        return False
    return len(values) >= 5 and float(values[0]).is_integer()


# --- write --------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    # YAML reads U+0085, U+2028 and U+2029 inside a quoted name as line breaks
    common.refuse_names(ds.categories.names, "class name", "data.yaml names")
    task, kpt_shape = choose_task(ds, ctx)
    splits = _output_splits(ds, ctx)
    dest: list[str] = []  # strings, not Paths: 250,000 of them
    label_of: dict[str, int] = {}
    for i, (name, split) in enumerate(zip(ds.images.file_name, splits)):
        rel = clean_relative(str(name), where=f"image {name!r}")
        folder = f"{split}/" if split else ""
        dest.append(f"images/{folder}{rel}")
        # where Ultralytics (and read) look for it: an "images" folder inside the file name
        # would otherwise be the one its last-/images/-to-/labels/ rule replaces
        label = ultralytics_label_rel(dest[-1])
        if label in label_of:
            raise OutputError(f"{label}: images {ds.images.file_name[label_of[label]]!r} and "
                              f"{name!r} would share one label file; rename one of them")
        label_of[label] = i
    labels = list(label_of)  # in image order, one per image
    for first, texts in label_texts(ds, task, kpt_shape, ctx):
        write_texts(out_dir, list(zip(labels[first:first + len(texts)], texts)))
    common.write_images(ds, lambda i: out_dir / dest[i], ctx)
    present = list(dict.fromkeys(splits))
    doc: dict[str, Any] = {}
    if UNSPLIT in present:
        doc["train"] = "images"
        doc["val"] = "images"
    for s in sorted((s for s in present if s), key=_split_order):
        doc[s] = f"images/{s}"
    stand_ins = _stand_in_splits(doc, ctx)
    doc.update(yaml_task_keys(ds, task, kpt_shape))
    doc["nc"] = len(ds.categories)  # YOLOv7 and YOLOv5 before v7.0 read nc, not len(names)
    doc["names"] = {i: name for i, name in enumerate(ds.categories.names)}
    extra = [s for s in present if s and s not in SPLIT_KEYS]
    doc[SIDECAR_KEY] = sidecar_for(ds, task, sorted(extra, key=_split_order))
    if stand_ins:
        doc[SIDECAR_KEY]["stand_ins"] = stand_ins
    (out_dir / "data.yaml").write_text(dump_yaml(doc), encoding="utf-8")


def _stand_in_splits(doc: dict[str, Any], ctx: WriteContext) -> dict[str, str]:
    """Give data.yaml the train and val keys Ultralytics requires (check_det_dataset refuses a
    yaml without them): a missing one points at another split's folder (val at train first),
    said in the report and named in the sidecar so that a read does not see the split twice."""
    named = [k for k in doc if k]
    stand_ins: dict[str, str] = {}
    for key in ("train", "val"):
        if key not in doc and named:
            source = "train" if "train" in doc else named[0]
            stand_ins[key] = source
            ctx.report.add("warning", f"yolo.{key}_stand_in", f"no {key} split: data.yaml's "
                           f"{key} points at the {source} split ({doc[source]}), as Ultralytics "
                           f"needs a {key} entry")
    if stand_ins:  # train, val first, as Ultralytics writes them
        filled = {**doc, **{k: doc[s] for k, s in stand_ins.items()}}
        doc.clear()
        doc.update({k: filled[k] for k in ("train", "val") if k in filled})
        doc.update({k: v for k, v in filled.items() if k not in doc})
    return stand_ins


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


def write_texts(out_dir: Path, files: Sequence[tuple[str, str]]) -> None:
    """Write many small text files at POSIX paths relative to out_dir (shared with
    yolo_darknet).

    One thread on purpose: creating files in one folder serializes on the folder's lock in
    the kernel, and threads fighting over it (and the GIL) made 5,000 files 3-10x slower.
    """
    base = str(out_dir)
    for d in sorted({os.path.dirname(rel) for rel, _ in files}):
        os.makedirs(os.path.join(base, d), exist_ok=True)
    for rel, text in files:
        with open(os.path.join(base, rel), "wb") as f:
            f.write(text.encode("utf-8"))


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


def yaml_task_keys(ds: Dataset, task: str, kpt_shape: tuple[int, int] | None) -> dict:
    if task != "pose":
        return {}
    out: dict[str, Any] = {"kpt_shape": list(kpt_shape)}
    meta = ds.meta.get("yolo") or ds.meta.get("yolo_darknet") or {}
    flip = meta.get("flip_idx")
    if not (isinstance(flip, list) and sorted(flip) == list(range(kpt_shape[0]))):
        flip = _flip_from_names(ds, kpt_shape[0])
    if flip is not None:
        out["flip_idx"] = [int(i) for i in flip]
    return out


def sidecar_for(ds: Dataset, task: str, extra_splits: Sequence[str] = ()) -> dict:
    """The `visionflow:` mapping: real category ids and what YOLO has no place for."""
    cats = list(ds.categories)
    out: dict[str, Any] = {"task": task, "category_ids": [c.id for c in cats]}
    if extra_splits:
        out["splits"] = list(extra_splits)
    if any(c.supercategory is not None for c in cats):
        out["supercategories"] = [c.supercategory for c in cats]
    if any(c.keypoints for c in cats):
        out["keypoint_names"] = [list(c.keypoints) for c in cats]
    if any(c.skeleton for c in cats):
        out["skeletons"] = [[list(p) for p in c.skeleton] for c in cats]
    return out


def dump_yaml(doc: dict) -> str:
    """Block mappings, flow lists, no wrapping: stable text for a stable dataset."""
    return yaml.dump(doc, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=1 << 16)


# --- private emit helpers -----------------------------------------------------------------

class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(list, lambda d, v: d.represent_sequence(
    "tag:yaml.org,2002:seq", v, flow_style=True))


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


def stem_path(rel: str) -> str:
    head, _, tail = rel.rpartition("/")
    return f"{head}/{_stem(tail)}" if head else _stem(tail)


def _split_order(name: str) -> tuple[int, str]:
    return (SPLIT_KEYS.index(name) if name in SPLIT_KEYS else len(SPLIT_KEYS), name)


def _output_splits(ds: Dataset, ctx: WriteContext) -> list[str]:
    """Split folder of every image; UNSPLIT stays '' unless named splits exist beside it."""
    splits = [str(s) for s in ds.images.split]
    for s in set(splits) - {UNSPLIT}:
        clean_relative(s, where=f"split {s!r}")
    present = set(splits)
    if UNSPLIT in present and len(present) > 1:
        n = splits.count(UNSPLIT)
        ctx.loss("splits.unsplit", n, "images without a split beside images with one "
                 "(written to the train split)")
        taken = {str(f) for f, s in zip(ds.images.file_name, splits) if s == "train"}
        clash = [str(f) for f, s in zip(ds.images.file_name, splits) if s == UNSPLIT
                 and str(f) in taken]
        if clash:
            raise OutputError(f"image {clash[0]!r} is both in the train split and without "
                              "a split; give the unsplit images a split first")
        splits = [s or "train" for s in splits]
    return splits


def _flip_from_names(ds: Dataset, k: int) -> list[int] | None:
    """flip_idx from COCO-style keypoint names (left_* <-> right_*), when they say so."""
    names = next((c.keypoints for c in ds.categories if len(c.keypoints) == k), None)
    if names is None:
        return None
    index = {n: i for i, n in enumerate(names)}
    out = []
    for n in names:
        mirror = (n.replace("left", "\0").replace("right", "left").replace("\0", "right"))
        out.append(index.get(mirror, index[n]))
    return out


FORMAT = Format(
    name="yolo",
    description="Ultralytics YOLO (v5/v8/11): data.yaml + images/<split>/ + labels/<split>/*.txt "
                "(detect, segment, pose, obb)",
    supports=frozenset({BOXES, POLYGONS, KEYPOINTS, OBB, CATEGORY_IDS, CATEGORY_META,
                        CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("ultralytics", "yolov8", "yolov5", "yolo11"),
    read_options={"task": "detect | segment | pose | obb (default: from the data yaml or "
                          "the label lines)"},
)

__all__ = ["FORMAT", "ImageEntry", "assemble", "choose_task", "dump_yaml", "find_data_yaml",
           "kpt_shape_from", "label_texts", "load_yaml", "merge_rings", "merge_split_entries",
           "read_names_file", "resolve_listed", "sidecar_for", "split_bridged", "stem_path",
           "write_texts", "yaml_task_keys"]
