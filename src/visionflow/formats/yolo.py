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

from pathlib import Path
from typing import Any

from ..core.dataset import Dataset
from ..core.errors import OutputError, ParseError
from ..core.images import UNSPLIT
from ..io.paths import clean_relative
from . import common
from .base import Detection, Format, Option, ReadContext, WriteContext
from .writing import placements
from ._yolo_layout import (_EXTRA_SPLIT_KEYS, SIDECAR_KEY, _SPLIT_ALIASES, SPLIT_KEYS,
                           _dataset_base, dump_yaml, find_data_yaml, _first_file, _image_files,
                           ImageEntry, _is_data_yaml, kpt_shape_from, _label_dirs, load_yaml,
                           _load_yaml_quiet, _looks_like_labels, merge_split_entries, _names_file,
                           names_from_yaml, read_names_file, resolve_listed, sidecar_for,
                           _split_entries, stem_path, ultralytics_label_rel, write_texts,
                           yaml_task_keys)
from ._yolo_lines import (SUPPORTS, TASKS, assemble, choose_task, fmt_rows, label_texts,
                          merge_rings, split_bridged)


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


# --- write --------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    # YAML reads U+0085, U+2028 and U+2029 inside a quoted name as line breaks
    common.refuse_names(ds.categories.names, "class name", "data.yaml names")
    task, kpt_shape = choose_task(ds, ctx)
    splits = _output_splits(ds, ctx)

    def image(rel: str, split: str) -> str:  # strings, not Paths: 250,000 of them
        return f"images/{split}/{rel}" if split else f"images/{rel}"

    # the label where Ultralytics (and read) look for it: an "images" folder inside the file
    # name would otherwise be the one its last-/images/-to-/labels/ rule replaces
    dest, labels = placements(ds.images.file_name, splits, image=image,
                              label=lambda rel, split: ultralytics_label_rel(image(rel, split)))
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


FORMAT = Format(
    name="yolo",
    description="Ultralytics YOLO (v5/v8/11): data.yaml + images/<split>/ + labels/<split>/*.txt "
                "(detect, segment, pose, obb)",
    supports=SUPPORTS,
    detect=detect,
    read=read,
    write=write,
    aliases=("ultralytics", "yolov8", "yolov5", "yolo11"),
    read_options=(Option("task", choices=TASKS,
                         help="what the label lines hold (default: from the data yaml or the "
                              "label lines)"),),
)

__all__ = ["FORMAT", "ImageEntry", "assemble", "choose_task", "dump_yaml", "find_data_yaml",
           "fmt_rows", "kpt_shape_from", "label_texts", "load_yaml", "merge_rings",
           "merge_split_entries", "read_names_file", "resolve_listed", "sidecar_for",
           "split_bridged", "stem_path", "write_texts", "yaml_task_keys"]
