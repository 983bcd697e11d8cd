"""Classification folders (Ultralytics `yolo classify`, torchvision ImageFolder).

Layout: root/<split>/<class>/<image> with splits such as train/val/test, or a split-less
root/<class>/<image> (split UNSPLIT). The folder IS the label: each image gets one image-level
label, an annotation whose xyxy is all NaN (see core/geometry.py).

Rules of this module:
- Classes are the sorted union of the class folder names over every split (Ultralytics sorts
  them), ids 1..N in that order. Category ids are therefore not kept, nor a class order that is
  not sorted (reported as a loss on writing).
- file_name is the image's path inside its class folder ("x.jpg", "sub/x.jpg"). When two class
  folders of one split hold the same name (hand-made datasets often number images per class),
  every image of that split is named by its path inside the split instead ("cat/0001.jpg").
  The writer strips a leading "<class>/" again, so what was read writes the same tree.
- Images and folders whose name starts with "." are skipped (.DS_Store, .ipynb_checkpoints);
  files that are not images are ignored.
- The writer creates every class folder in every split, empty ones included, so the class list
  and its indices survive. An image with several labels goes to the folder of its first label
  (the others are reported lost); an image without a label cannot be placed and is reported
  lost. Since the images are the labels, --images none is refused.
"""

from __future__ import annotations

import os
from pathlib import Path, PurePosixPath

import numpy as np

from ..core.annotations import Annotations
from ..core.categories import Categories
from ..core.dataset import Dataset
from ..core.errors import Error, ParseError, UnsafeInputError
from ..core.images import UNSPLIT, Images
from ..io.images import is_image_file
from ..io.paths import clean_relative
from . import common
from .base import LABELS, Detection, Format, ReadContext, WriteContext

# Split folder names, in the order splits are listed after reading.
KNOWN_SPLITS = ("train", "val", "valid", "validation", "test")
# Files whose presence means the folder holds annotations of another format.
_ANNOTATION_SUFFIXES = (".txt", ".xml", ".json", ".csv")
# Folders of the detection/segmentation layouts (YOLO, VOC, COCO), never classes.
_OTHER_LAYOUT_DIRS = {"images", "labels", "annotations", "jpegimages", "imagesets",
                      "segmentationclass", "segmentationobject"}


def detect(path: Path) -> Detection | None:
    if not path.is_dir():
        return None
    top_dirs, top_files = _listing(path, limit=200)
    if not top_dirs or any(d.name.lower() in _OTHER_LAYOUT_DIRS for d in top_dirs):
        return None
    if any(f.name.lower().endswith(_ANNOTATION_SUFFIXES) for f in top_files):
        return None
    if any((path.parent / d).is_dir() for d in ("labels", "Labels", "annotations",
                                                 "Annotations", "gtFine")):
        return None  # the images folder of a detection layout (Cityscapes: gtFine/)
    split_names = [d.name for d in top_dirs if d.name in KNOWN_SPLITS]
    if split_names and len(split_names) == len(top_dirs):
        classes, stray = 0, False
        for split in top_dirs[:3]:
            class_dirs, files = _listing(split, limit=100)
            if any(d.name.lower() in _OTHER_LAYOUT_DIRS for d in class_dirs):
                return None
            stray = stray or any(is_image_file(f.name) for f in files)
            classes += sum(_class_folder(d) for d in class_dirs[:20])
        if not classes:
            return None  # e.g. images/<split>/*.jpg of a detection layout
        reasons = (f"split folders {', '.join(split_names)}", "class folders of images",
                   "no label files")
        if stray:  # images beside the class folders: maybe something else
            return Detection("yolo-cls", 0.5, reasons + ("but images outside class folders",))
        return Detection("yolo-cls", 0.7, reasons)
    if split_names:
        return None
    if any(_class_folder(d) for d in top_dirs[:20]):
        return Detection("yolo-cls", 0.3, ("folders of images named like classes",
                                           "no label files"))
    return None


def read(path: Path, ctx: ReadContext) -> Dataset:
    common.refuse_images_dir(ctx, "yolo-cls", "the class of an image is the folder it is in")
    if not path.is_dir():
        raise ParseError(path, "yolo-cls reads a folder (root/<split>/<class>/<image>), not a "
                         "file; name the dataset folder")
    root = path
    real_root = os.path.realpath(root)
    top_dirs, _ = _listing(root)
    split_layout = _is_split_layout(top_dirs)
    if split_layout:
        split_dirs = sorted(top_dirs, key=lambda d: _split_key(d.name))
        for d in split_dirs:
            _check_inside(d, real_root, ctx)
        classes_of = {d.name: _listing(d)[0] for d in split_dirs
                      if _inside(d, real_root)}
        stray = sum(sum(is_image_file(f.name) for f in _listing(d)[1]) for d in split_dirs
                    if _inside(d, real_root))
    else:
        classes_of = {UNSPLIT: top_dirs}
        stray = 0
    stray += sum(is_image_file(f.name) for f in _listing(root)[1])
    if stray:
        ctx.report.add("warning", "yolo-cls.stray_images", "images outside any class folder "
                       "were ignored (yolo-cls takes the class from the folder)", count=stray,
                       where=str(root))

    names = sorted({d.name for dirs in classes_of.values() for d in dirs})
    if not names:
        ctx.report.add("warning", "yolo-cls.no_classes", "no class folders found (expected "
                       "root/<split>/<class>/<image> or root/<class>/<image>)", where=str(root))
    categories = Categories.from_names(names)
    cat_id = {n: c.id for n, c in zip(names, categories)}

    file_names: list[str] = []
    splits: list[str] = []
    paths: list[str] = []
    labels: list[int] = []
    for split, class_dirs in classes_of.items():
        rows: list[tuple[str, str, str]] = []  # class, name inside class folder, path
        for class_dir in sorted(class_dirs, key=lambda d: d.name):
            for rel, file in _images_under(class_dir, real_root, ctx):
                rows.append((class_dir.name, rel, file))
        inner = [r[1] for r in rows]
        prefixed = len(set(inner)) != len(inner)
        if prefixed:
            ctx.report.add("info", "yolo-cls.prefixed_names", "class folders share image names; "
                           "images of this split are named <class>/<file>", where=split or
                           str(root))
        for cls, rel, file in rows:
            file_names.append(f"{cls}/{rel}" if prefixed else rel)
            splits.append(split)
            paths.append(file)
            labels.append(cat_id[cls])

    sizes = common.read_sizes(paths, ctx, where=lambda i: paths[i])
    n = len(paths)
    images = Images.build(file_names, sizes[:, 0], sizes[:, 1], split=splits, path=paths)
    ann = Annotations.build(np.arange(n), labels, np.full((n, 4), np.nan))
    ds = Dataset(images, ann, categories)
    unreadable = (images.width < 0) | (images.height < 0)
    if unreadable.any():  # already reported by read_sizes (--skip-errors)
        ds = ds.select_images(~unreadable)
    shown = ds.images.path
    return common.finish_read(ds, ctx, where_annotation=lambda i: str(
        shown[ds.annotations.image_index[i]]), where_image=lambda i: str(shown[i]))


def _listing(folder: Path, limit: int | None = None) -> tuple[list[Path], list[Path]]:
    """(sub-folders, files) of a folder, sorted by name, hidden names skipped."""
    dirs: list[Path] = []
    files: list[Path] = []
    try:
        with os.scandir(folder) as it:
            for k, entry in enumerate(it):
                if limit is not None and k >= limit:
                    break
                if entry.name.startswith("."):
                    continue
                try:
                    is_dir = entry.is_dir()  # follows links; checked against the root later
                except OSError:
                    continue
                (dirs if is_dir else files).append(Path(entry.path))
    except OSError:
        return [], []
    return sorted(dirs, key=lambda p: p.name), sorted(files, key=lambda p: p.name)


def _class_folder(folder: Path) -> bool:
    """Holds images directly and no annotation files (a sample of them)."""
    if folder.name.lower() in _OTHER_LAYOUT_DIRS:
        return False
    files = _listing(folder, limit=30)[1]
    if any(f.name.lower().endswith(_ANNOTATION_SUFFIXES) for f in files):
        return False
    return any(is_image_file(f.name) for f in files)


def _is_split_layout(top_dirs: list[Path]) -> bool:
    """root/<split>/<class>/... when the top folders are split names, or when none of them
    holds images directly but some hold folders."""
    if top_dirs and all(d.name in KNOWN_SPLITS for d in top_dirs):
        return True
    listings = [_listing(d) for d in top_dirs]
    if any(any(is_image_file(f.name) for f in files) for _, files in listings):
        return False
    return any(dirs for dirs, _ in listings)


def _split_key(name: str) -> tuple[int, str]:
    return (KNOWN_SPLITS.index(name) if name in KNOWN_SPLITS else len(KNOWN_SPLITS), name)


def _inside(path: Path | str, real_root: str) -> bool:
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root.rstrip(os.sep) + os.sep)


def _check_inside(path: Path | str, real_root: str, ctx: ReadContext) -> bool:
    if _inside(path, real_root):
        return True
    ctx.fail(UnsafeInputError(path, "is a link that leads outside the dataset folder "
                              f"({os.path.realpath(path)}); refused"))
    return False


def _images_under(class_dir: Path, real_root: str,
                  ctx: ReadContext) -> list[tuple[str, str]]:
    """(name inside the class folder, absolute path) of every image below class_dir."""
    out: list[tuple[str, str]] = []
    if not _check_inside(class_dir, real_root, ctx):
        return out
    seen: set[str] = set()
    for dirpath, dirnames, filenames in os.walk(class_dir, followlinks=True):
        real = os.path.realpath(dirpath)
        if real in seen:  # a link loop
            dirnames[:] = []
            continue
        seen.add(real)
        dirnames[:] = sorted(d for d in dirnames if not d.startswith(".") and
                             _check_inside(os.path.join(dirpath, d), real_root, ctx))
        for name in sorted(filenames):
            if name.startswith(".") or not is_image_file(name):
                continue
            file = os.path.join(dirpath, name)
            if not _check_inside(file, real_root, ctx):
                continue
            rel = PurePosixPath(*Path(os.path.relpath(file, class_dir)).parts).as_posix()
            out.append((rel, os.path.abspath(file)))
    return out


def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    if ctx.images == "none":
        raise Error("yolo-cls stores labels as folders of images, so --images none is not "
                    "possible; use --images link or copy")
    names = ds.categories.names
    _check_class_names(names)
    splits = ds.images.splits()
    if UNSPLIT in splits and len(splits) > 1:
        raise Error("yolo-cls cannot mix split-less images with splits "
                    f"({', '.join(s for s in splits if s)}): root/<class>/ would clash with "
                    "root/<split>/<class>/; give every image a split first")
    for split in splits:
        if split and (split.startswith(".") or split in ("..",) or "/" in split or
                      "\\" in split or "\x00" in split):
            raise Error(f"split {split!r} cannot be a folder name; rename the split")
    if names != sorted(names):
        ctx.loss("class_order", len(names), "a class order that is not sorted by name "
                 "(yolo-cls classes are the sorted folder names)")

    first_label = _first_labels(ds, ctx)
    folder = {c.id: c.name for c in ds.categories}
    keep = first_label >= 0

    for split in splits or [UNSPLIT]:
        for name in names:
            (out_dir / split / name).mkdir(parents=True, exist_ok=True)

    rows = np.flatnonzero(keep)
    ctx.written_images = ctx.written_annotations = len(rows)  # one label per image placed
    places = [_place(ds, int(row), folder[int(first_label[row])]) for row in rows]
    seen: dict[str, int] = {}
    for row, place in zip(rows, places):
        if place in seen:
            raise Error(f"images {ds.images.file_name[seen[place]]!r} and "
                        f"{ds.images.file_name[row]!r} would both be written to {place}; "
                        "rename one of them")
        seen[place] = int(row)
    common.write_images(ds.select_images(rows), lambda i: out_dir / places[i], ctx)


def _place(ds: Dataset, row: int, cls: str) -> str:
    """<split>/<class>/<name inside the class folder> of an image."""
    name = clean_relative(str(ds.images.file_name[row]),
                          where=f"image {ds.images.file_name[row]!r}")
    if name.startswith(cls + "/"):  # read from a split whose names carry their class
        name = name[len(cls) + 1:]
    split = str(ds.images.split[row])
    return f"{split}/{cls}/{name}" if split else f"{cls}/{name}"


def _check_class_names(names: list[str]) -> None:
    for name in names:
        if not name or "/" in name or "\\" in name or name in (".", "..") or \
                name.startswith(".") or "\x00" in name:
            raise Error(f"class name {name!r} cannot be a folder name; rename the class "
                        "(yolo-cls stores classes as folders)")
    seen: set[str] = set()
    for name in names:
        if name in seen:
            raise Error(f"class name {name!r} is used by several categories; yolo-cls stores "
                        "classes as folders, so names must be unique (rename or merge them)")
        seen.add(name)


def _first_labels(ds: Dataset, ctx: WriteContext) -> np.ndarray:
    """Category id of each image's first image-level label (-1 when it has none)."""
    ann = ds.annotations
    rows = np.flatnonzero(ann.is_label)
    first = np.full(len(ds.images), -1, np.int64)
    count = np.bincount(ann.image_index[rows], minlength=len(ds.images))
    images, at = np.unique(ann.image_index[rows], return_index=True)  # first in table order
    first[images] = ann.category_id[rows[at]]
    ctx.loss("unlabelled_images", int((count == 0).sum()), "images without an image-level "
             "label (yolo-cls places each image in the folder of its class; these are not "
             "written)")
    ctx.loss("extra_labels", int((count > 1).sum()), "images with several labels (yolo-cls "
             "keeps one class per image: the first label)")
    return first


FORMAT = Format(
    name="yolo-cls",
    description="Classification folders (Ultralytics classify, ImageFolder): "
                "root/<split>/<class>/<image>",
    supports=frozenset({LABELS}),
    detect=detect,
    read=read,
    write=write,
    aliases=("classification-folders", "imagefolder"),
)
