"""Open Images (V5/V6) CSV: `annotations/*.csv` beside `images/<subset>/<ImageID>.jpg`.

    annotations/class-descriptions-boxable.csv       /m/011k07,Tortoise   (LabelName -> name)
    annotations/<subset>-annotations-bbox.csv
        ImageID,Source,LabelName,Confidence,XMin,XMax,YMin,YMax,IsOccluded,IsTruncated,
        IsGroupOf,IsDepiction,IsInside
    annotations/<subset>-annotations-human-imagelabels[-boxable].csv
        ImageID,Source,LabelName,Confidence
    annotations/<subset>-images-with-rotation.csv    (or image_ids_and_rotation.csv)
        ImageID,Subset,OriginalURL,...,Rotation      (every image, negatives included)

Layouts read: the dataset folder (CSVs in annotations/ or at its top level, V6 `oidv6-` names
and V5 `*-images-with-labels-with-rotation.csv` alike), the annotations folder, or one bbox or
image-label CSV (then only that file's annotations, and the images of its subset, are read).
A CSV under any other name is an annotation file when its header has the bbox or image-label
columns (train.csv, validation.csv, val.csv and test.csv name their subset; other names none:
their images are UNSPLIT), its images found in any images/ sub-folder or at the top of images/.

Rules:
- Box coordinates are normalized (0..1) and multiplied by the image size, which comes from
  Datumaro's `annotations/images.meta` (`<ImageID> <height> <width>`) or else the image header;
  an image with neither is a MissingImageError. The writer writes 12 decimals (exact to 1e-9 px
  and stable on re-writing) and images.meta for every image.
- Classes: category names are display names, ids 1..N in the order of the class description
  file (class-descriptions-boxable.csv, else oidv*-class-descriptions.csv, else
  class-descriptions.csv; the others only name MIDs the first lacks). Every listed class is a
  category. The MIDs are kept in `meta["open-images"]["label_names"]` ({"<category id>": MID});
  the writer uses them and, for categories without one, the category name itself as its MID
  (as Datumaro does; "<name>#<id>" if taken). A LabelName no description file lists is a
  ValidationError; with no description file at all, each LabelName is its class's name
  (reported as info). bbox_labels_600_hierarchy.json gives each class's supercategory (its first
  parent's name, when the parent is a class); the writer writes a supercategory that names
  another class back into it (others are reported as lost).
- Image labels -> image-level labels (all-NaN box). Confidence -> score; the text "1" (a human
  annotation) or an empty field means no score ("1" is what the writer writes for one), any
  other text ("0" for a verified absent label, "0.7", "1.0") is a score.
- Attrs: IsOccluded/IsTruncated -> "occluded"/"truncated" (as VOC and KITTI name them),
  IsGroupOf/IsDepiction/IsInside -> "open-images.is_group_of" / ".is_depiction" /
  ".is_inside", as 0/1 ints, None for -1 (unknown). Source -> "open-images.source" (None when
  empty). Other image-description columns (URLs, Rotation, ...) are not read; instance masks
  (*-annotations-object-segmentation.csv) are not read and are reported.
- Subsets: "train", "validation" -> "val", "test"; "default" is UNSPLIT (Datumaro's name), which
  the writer writes back. Images are read in the order train, val, test, others, each in the
  order of the files. ImageIDs are global: an ImageID in two subsets is an OutputError when
  writing. The ImageID is the file name without its extension (subfolders allowed); an image
  suffix left in it ("a.jpg") is taken off. Numbers may use a decimal comma ("0,358", quoted).
- Written (Datumaro's layout): annotations/class-descriptions-boxable.csv (no header, as in V6),
  <subset>-images-with-rotation.csv, <subset>-annotations-bbox.csv and
  <subset>-annotations-human-imagelabels.csv (when the subset has boxes / labels), images.meta,
  and images/<subset>/<file_name>.
"""

from __future__ import annotations

import csv
import fnmatch
import os
import shlex
from pathlib import Path
from typing import Any

import numpy as np

from ..core.annotations import Annotations, object_array
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import (FormatError, MissingImageError, OutputError, ParseError,
                           UnsafeInputError, ValidationError)
from ..core.images import Images
from ..io.images import is_image_file
from ..io.paths import clean_relative, resolve_inside
from ..io.safe_load import text_of
from . import common
from .builder import header_sizes
from .base import (ATTRIBUTES, BOXES, CLASS_ORDER, LABELS, SCORES, Detection, Format, ReadContext,
                   WriteContext)
from ._open_images_csv import (ALL_IMAGES_FILE, ANN_DIR, BOX_FIELDS, BOX_SUFFIX, CLASS_FILE,
                               CLASS_PATTERNS, DECIMALS, FLAGS, HIERARCHY, IMAGE_FIELDS,
                               IMAGE_META, IMAGES_DIR, IMAGES_SUFFIXES, LABEL_FIELDS, _LABEL_FILE,
                               LABEL_SUFFIX, MASK_SUFFIX, NAME, NS, _SNIFFED, SOURCE,
                               _SUBSET_OUT, _confidence, _flag_out, _Image,
                               _label_names, _read_annotations, _read_classes, _read_hierarchy,
                               _read_image_list, _Row, _source, _split, _subset_of_file,
                               _write_csv, _write_hierarchy)
from .writing import folder_name, rows_by_image


# --- detect ---------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    found = _locate(Path(path))
    if found is None:
        return None
    _, _, files = found
    reasons: list[str] = []
    confidence = 0.0
    for kind, need, score in (("boxes", ("ImageID", "LabelName", "XMin", "XMax", "YMin", "YMax"),
                               0.95),
                              ("labels", LABEL_FIELDS, 0.85),
                              ("images", ("ImageID", "Subset"), 0.75)):
        if files[kind]:
            header = _header(files[kind][0])
            if header is None or not all(c in header for c in need):
                return None
            reasons.append(f"{files[kind][0].name}: header {','.join(header[:6])}"
                           f"{',...' if len(header) > 6 else ''}")
            confidence = score
            break
    if not reasons:
        return None
    if files["classes"]:
        reasons.append(f"class descriptions {files['classes'][0].name}")
        confidence = min(0.95, confidence + 0.05)
    elif not files["boxes"] and not files["labels"]:
        return None  # image lists alone are not a dataset
    return Detection(NAME, confidence, tuple(reasons))


def _header(file: Path) -> list[str] | None:
    try:
        with open(file, encoding="utf-8-sig", newline="") as f:
            line = f.readline(4096)
        return [c.strip() for c in next(csv.reader([line]))]
    except (OSError, UnicodeDecodeError, StopIteration, csv.Error):
        return None


def read(path: Path, ctx: ReadContext) -> Dataset:
    path = Path(path)
    found = _locate(path)
    if found is None:
        raise FormatError(f"{path}: no Open Images annotation CSV (expected annotations/"
                          f"<subset>{BOX_SUFFIX}, <subset>{LABEL_SUFFIX} or "
                          f"<subset>{IMAGES_SUFFIXES[0]})")
    root, ann_dir, files = found
    mids, names, extra_names = _read_classes(files["classes"], ctx)
    images: dict[str, _Image] = {}
    only_split = None
    if path.is_file():
        only_split = _split(_subset_of_file(path))
    for file in files["images"]:
        _read_image_list(file, images, only_split, ctx)
    rows: list[_Row] = []
    for file in files["labels"] + files["boxes"]:
        _read_annotations(file, file in files["boxes"], images, rows, ctx)
    for file in files["masks"]:
        ctx.report.add("warning", NS + "masks", f"instance masks in {file.name} are not read "
                       "(Open Images masks are not supported)", where=str(file))
    _locate_images(root, list(images.values()), ctx)
    _read_sizes(ann_dir, list(images.values()), ctx)
    kept = sorted((im for im in images.values() if im.width > 0 and im.height > 0),
                  key=lambda im: common.split_rank(im.split))  # stable: file order within

    # Classes: every listed class, then MIDs only the other description files name.
    order = list(mids)
    seen = set(order)
    good: list[_Row] = []
    if not files["classes"] and rows:
        ctx.report.add("info", NS + "no_class_descriptions", f"no class description file "
                       f"({CLASS_FILE}): each LabelName is used as its class name",
                       where=str(ann_dir))
    for r in rows:
        if r.mid not in seen:
            if r.mid not in extra_names and files["classes"]:
                ctx.fail(ValidationError(r.where, f"LabelName {r.mid!r} is not in the class "
                                         f"descriptions ({_names(files['classes'])}); add it "
                                         "there"))
                continue
            order.append(r.mid)
            seen.add(r.mid)
        good.append(r)
    cat_id = {mid: i for i, mid in enumerate(order, 1)}
    parents = _read_hierarchy(ann_dir / HIERARCHY, ctx)
    display = {**extra_names, **names}
    cats = Categories(Category(cat_id[m], display.get(m, m),
                               display[parents[m]] if parents.get(m) in cat_id else None)
                      for m in order)

    row_of = {id(im): k for k, im in enumerate(kept)}
    good = [r for r in good if id(r.image) in row_of]
    good.sort(key=lambda r: row_of[id(r.image)])  # stable: labels before boxes, file order
    table = Images.build([im.file_name for im in kept], [im.width for im in kept],
                         [im.height for im in kept], split=[im.split for im in kept],
                         path=[im.path for im in kept])
    xyxy = np.full((len(good), 4), np.nan)
    for k, r in enumerate(good):
        if r.box_norm is not None:
            x0, x1, y0, y1 = r.box_norm
            w, h = r.image.width, r.image.height
            xyxy[k] = (x0 * w, y0 * h, x1 * w, y1 * h)
    columns: dict[str, Any] = {}
    scores = np.array([r.score for r in good], np.float64)
    if not np.isnan(scores).all():
        columns["score"] = scores
    keys = [SOURCE, *FLAGS.values()]
    attrs = {k: object_array([r.attrs.get(k) for r in good]) for k in keys if good}
    ann = Annotations.build([row_of[id(r.image)] for r in good], [cat_id[r.mid] for r in good],
                            xyxy, attrs=attrs, **columns)
    meta = {NAME: {"label_names": {str(cat_id[m]): m for m in order}}}
    ds = Dataset(table, ann, cats, meta)
    return common.finish_read(ds, ctx, where_annotation=lambda k: good[k].where,
                              where_image=lambda k: kept[k].where)


def _locate(path: Path) -> tuple[Path, Path, dict[str, list[Path]]] | None:
    """(dataset folder, annotations folder, files by kind) or None."""
    only: Path | None = None
    if path.is_file():
        if not (path.name.endswith(BOX_SUFFIX) or _LABEL_FILE.fullmatch(path.name)
                or (path.suffix.lower() == ".csv" and _kind_by_header(path))):
            return None
        only, ann_dir = path, path.parent
    elif path.is_dir():
        ann_dir = path / ANN_DIR if (path / ANN_DIR).is_dir() else path
    else:
        return None
    root = ann_dir.parent if ann_dir.name == ANN_DIR else ann_dir
    try:
        names = sorted(p.name for p in ann_dir.iterdir() if p.is_file() and
                       p.suffix.lower() == ".csv" and not p.name.startswith("."))
    except OSError:
        return None
    files: dict[str, list[Path]] = {k: [] for k in ("classes", "images", "labels", "boxes",
                                                    "masks")}
    for pattern in CLASS_PATTERNS:
        files["classes"] += [ann_dir / n for n in names if fnmatch.fnmatch(n, pattern)
                             and ann_dir / n not in files["classes"]]
    if ALL_IMAGES_FILE in names:
        files["images"] = [ann_dir / ALL_IMAGES_FILE]
    else:
        files["images"] = [ann_dir / n for n in names if n.endswith(IMAGES_SUFFIXES)]
    files["labels"] = [ann_dir / n for n in names if _LABEL_FILE.fullmatch(n)]
    files["boxes"] = [ann_dir / n for n in names if n.endswith(BOX_SUFFIX)]
    files["masks"] = [ann_dir / n for n in names if n.endswith(MASK_SUFFIX)]
    named = {p.name for k in files.values() for p in k}
    for n in names[:_SNIFFED]:  # any other file name: an annotation CSV by its header
        kind = None if n in named else _kind_by_header(ann_dir / n)
        if kind is not None:
            files[kind].append(ann_dir / n)
    if only is not None:
        files["labels"] = [only] if only in files["labels"] else []
        files["boxes"] = [only] if only in files["boxes"] else []
        files["masks"] = []
    if not (files["boxes"] or files["labels"] or (files["images"] and files["classes"])):
        return None
    return root, ann_dir, files


def _kind_by_header(file: Path) -> str | None:
    """"boxes" or "labels" when the CSV's header holds that table's columns (any file name)."""
    header = _header(file)
    if header is None:
        return None
    if all(c in header for c in BOX_FIELDS[:8]):
        return "boxes"
    if all(c in header for c in LABEL_FIELDS):
        return "labels"
    return None


def _names(files: list[Path]) -> str:
    return ", ".join(f.name for f in files) or f"no {CLASS_FILE} found"


def _locate_images(root: Path, images: list[_Image], ctx: ReadContext) -> None:
    """file_name and path of each image: images/<subset>/<ImageID>.<ext>, else in another
    subset's folder, else at the top of images/ (--images-dir: that folder instead)."""
    image_dir = root / IMAGES_DIR
    if ctx.images_dir is not None:
        image_dir = ctx.images_dir
        ctx.images_dir_used = True
    by_stem: dict[tuple[str, str], str] = {}
    any_folder: dict[str, str | None] = {}
    if image_dir.is_dir():
        walked: set[str] = set()  # real folders: a followed link loop is walked once
        for dirpath, dirnames, files in os.walk(image_dir, followlinks=ctx.follow_links):
            dirnames.sort()
            if ctx.follow_links:
                real = os.path.realpath(dirpath)
                if real in walked:
                    dirnames.clear()
                    continue
                walked.add(real)
            else:  # a linked folder is not walked: say so when it leads out
                for d in [d for d in dirnames if os.path.islink(os.path.join(dirpath, d))]:
                    rel = os.path.relpath(os.path.join(dirpath, d), image_dir)
                    try:
                        resolve_inside(image_dir, rel.replace(os.sep, "/"),
                                       where=os.path.join(dirpath, d))
                    except UnsafeInputError as e:
                        ctx.fail(e)
            rel_dir = Path(dirpath).relative_to(image_dir).as_posix()
            if rel_dir == ".":  # images of no subset folder: found by ImageID only
                for name in sorted(files):
                    if not name.startswith(".") and is_image_file(name):
                        by_stem.setdefault(("", name.rsplit(".", 1)[0]), name)
                continue
            subset, _, sub = rel_dir.partition("/")
            for name in sorted(files):
                if name.startswith(".") or not is_image_file(name):
                    continue
                rel = f"{sub}/{name}" if sub else name
                stem = rel.rsplit(".", 1)[0]
                by_stem.setdefault((subset, stem), rel)
                # An ImageID found in several subset folders is not guessed.
                any_folder[stem] = None if stem in any_folder else f"{subset}/{rel}"
    for im in images:
        rel = by_stem.get((im.subset, im.image_id))
        folder = im.subset
        if rel is None and any_folder.get(im.image_id):
            folder, _, rel = any_folder[im.image_id].partition("/")  # type: ignore[union-attr]
        if rel is None and ("", im.image_id) in by_stem:
            folder, rel = "", by_stem[("", im.image_id)]
        if rel is None:
            im.file_name = im.file_name or f"{im.image_id}.jpg"
            continue
        im.file_name = rel
        try:
            p = resolve_inside(image_dir, f"{folder}/{rel}" if folder else rel, where=im.where,
                               follow_links=ctx.follow_links)
        except UnsafeInputError as e:
            ctx.fail(e)
            continue
        im.path = str(p.absolute())


def _read_sizes(ann_dir: Path, images: list[_Image], ctx: ReadContext) -> None:
    meta = _read_image_meta(ann_dir / IMAGE_META, ctx)
    need: list[_Image] = []
    for im in images:
        if im.image_id in meta:
            im.height, im.width = meta[im.image_id]
        elif im.path is not None:
            need.append(im)
        else:
            ctx.fail(MissingImageError(im.where, f"image {IMAGES_DIR}/{im.subset}/"
                                       f"{im.image_id}.* not found and not in {IMAGE_META}; "
                                       "Open Images boxes are normalized, the size is needed"))
    sizes = header_sizes(ctx, [im.path for im in need], [im.where for im in need])
    for im, (w, h) in zip(need, sizes):
        im.width, im.height = int(w), int(h)


def _read_image_meta(file: Path, ctx: ReadContext) -> dict[str, tuple[int, int]]:
    """Datumaro's images.meta: `<ImageID> <height> <width>` lines, shell-like quoting."""
    if not file.is_file():
        return {}
    out: dict[str, tuple[int, int]] = {}
    try:
        lines = text_of(file, "utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as e:
        ctx.fail(ParseError(file, f"cannot read as UTF-8 text ({e.__class__.__name__})"))
        return out
    for n, line in enumerate(lines, 1):
        try:
            fields = shlex.split(line, comments=True)
            if not fields:
                continue
            if len(fields) != 3:
                raise ValueError
            h, w = int(fields[1]), int(fields[2])
        except ValueError:
            ctx.fail(ParseError(f"{file}:{n}", f"expected '<ImageID> <height> <width>', got "
                                f"{line.strip()!r}"))
            continue
        out[fields[0]] = (h, w)
    return out


# --- write ----------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs, ann = ds.images, ds.annotations
    common.refuse_names(ds.categories.names, "class name", "the Open Images CSVs")
    common.refuse_names(imgs.file_name, "image name", "images.meta (space-separated fields)",
                        whitespace=True)
    mids = _label_names(ds)
    ann_dir = out_dir / ANN_DIR
    ann_dir.mkdir()
    _write_csv(ann_dir / CLASS_FILE, None,
               [[mids[c.id], c.name] for c in ds.categories])

    image_ids: list[str] = []
    seen: dict[str, tuple[str, str]] = {}
    for i in range(len(imgs)):
        name = clean_relative(str(imgs.file_name[i]), where=f"image {imgs.file_name[i]!r}")
        image_id = name.rsplit(".", 1)[0] if "." in name.rsplit("/", 1)[-1] else name
        if image_id in seen:
            first_split, first = seen[image_id]
            raise OutputError(f"{out_dir}: images {first!r} ({first_split or 'unsplit'}) and "
                              f"{name!r} ({imgs.split[i] or 'unsplit'}) would share the Open "
                              f"Images ImageID {image_id!r}, which is global; rename one")
        seen[image_id] = (imgs.split[i], name)
        image_ids.append(image_id)

    rows_of = rows_by_image(ann, len(imgs))
    is_label = ann.is_label
    bad = 0
    subset_of: dict[str, str] = {}
    for split in imgs.splits():
        subset = folder_name(_SUBSET_OUT.get(split, split), out_dir)
        subset_of[split] = subset
        image_rows, label_rows, box_rows = [], [], []
        for i in np.flatnonzero(imgs.split == split):
            i = int(i)
            image_rows.append([image_ids[i], subset] + [""] * (len(IMAGE_FIELDS) - 2))
            w, h = float(imgs.width[i]), float(imgs.height[i])
            for r in rows_of[i]:
                r = int(r)
                base = [image_ids[i], _source(ann, r), mids[int(ann.category_id[r])],
                        _confidence(ann, r)]
                if is_label[r]:
                    label_rows.append(base)
                    continue
                x0, y0, x1, y1 = ann.xyxy[r]
                flags = []
                for attr in FLAGS.values():
                    value, ok = _flag_out(ann, attr, r)
                    bad += not ok
                    flags.append(value)
                box_rows.append(base + [common.fmt_float(v, DECIMALS) for v in
                                        (x0 / w, x1 / w, y0 / h, y1 / h)] + flags)
        _write_csv(ann_dir / f"{subset}{IMAGES_SUFFIXES[0]}", IMAGE_FIELDS, image_rows)
        if label_rows:
            _write_csv(ann_dir / f"{subset}{LABEL_SUFFIX}", LABEL_FIELDS, label_rows)
        if box_rows:
            _write_csv(ann_dir / f"{subset}{BOX_SUFFIX}", BOX_FIELDS, box_rows)
    _write_hierarchy(ds, mids, ann_dir / HIERARCHY, ctx)
    meta_lines = sorted(f"{shlex.quote(image_ids[i])} {imgs.height[i]} {imgs.width[i]}\n"
                        for i in range(len(imgs)))
    (ann_dir / IMAGE_META).write_text("".join(meta_lines), encoding="utf-8")
    ctx.loss("attribute_values", bad, "occluded/truncated/open-images.is_* values that are "
             "not 0/1 (written as -1, unknown)")
    common.write_images(ds, lambda i: out_dir / IMAGES_DIR / subset_of[imgs.split[i]]
                        / imgs.file_name[i], ctx)


FORMAT = Format(
    name=NAME,
    description="Open Images V6 CSV (annotations/*-annotations-bbox.csv, image labels, class "
                "descriptions; images/<subset>/<ImageID>.jpg)",
    supports=frozenset({BOXES, LABELS, SCORES, ATTRIBUTES, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("open_images", "openimages", "oid"),
    attributes=frozenset({"occluded", "truncated", *list(FLAGS.values())[2:], SOURCE}),
    # ids 1..N; supercategories go to the hierarchy, whose writer reports those it cannot link
    categories_after=lambda cats: [Category(i + 1, c.name, c.supercategory)
                                   for i, c in enumerate(cats)],
)
