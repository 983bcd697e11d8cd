"""Pascal VOC: one XML file per image (<annotation> with <size> and <object>/<bndbox>).

Layouts read:
- standard: root/Annotations/*.xml, root/JPEGImages/, root/ImageSets/Main/<split>.txt;
- flat: a folder of .xml files with the images beside them or in a sibling folder
  (raccoon: annotations/*.xml + images/*.jpg, <folder>images</folder>);
- Roboflow's export: one folder per split (train/, valid/, test/) of .xml files and images;
  the folder name is the split.
The user may name the root folder, the Annotations folder, or one .xml file.

Splits come from ImageSets/Main/<split>.txt (one image id per line, '#' comments). Per-class
lists ("<class>_<split>.txt", lines "id  1") are ignored. trainval.txt is used only when neither
train.txt nor val.txt exists. Images in no list are UNSPLIT; the writer writes no list for them.

Coordinates (read and write option coords=zero-based|one-based; the one used is reported as
info "voc.coordinates"):
- zero-based (default): <bndbox> values are pixel edges, x1 = xmin, y1 = ymin, x2 = xmax,
  y2 = ymax. This is what the tools that write VOC today do, so boxes land where they do in the
  same tool's COCO/YOLO export: Datumaro (and CVAT, whose "PASCAL VOC 1.1" export is Datumaro)
  writes xmin = x, xmax = x + w and reads bbox = [xmin, ymin, xmax - xmin, ymax - ymin];
  LabelImg (pascal_voc_io.py) writes its canvas coordinates as they are and reads them back
  unchanged (it clamps xmin/ymin below 1 up to 1: 36 of raccoon's 217 boxes and 610 of BCCD's
  4888 sit at 1, none at 0); Roboflow's VOC export writes xmin 0 where its COCO export of the
  same box says x 0 (Datumaro's roboflow_dataset fixtures: voc/train_002.xml <xmin>0</xmin>,
  <xmax>2</xmax> == coco bbox [0, 0, 2, 4]). A box with xmin == xmax (or ymin == ymax), a
  click without a drag, is read one pixel wide ("voc.zero_size").
- one-based: the VOC devkit's 1-based inclusive indices, as in the original VOC2007/2012
  files, detectron2 and supervision: x1 = xmin - 1, y1 = ymin - 1, x2 = xmax, y2 = ymax (a box
  with xmin == xmax is one pixel wide). Read, values in [-1, 0) (a 0-based file) are clamped
  to 0 and reported once as warning "voc.zero_based". The devkit's own files (<database>The
  VOC2007 Database</database>) read without it get warning "voc.devkit_files".
Floats are accepted either way.

Categories: VOC has no ids. labelmap.txt (Datumaro/CVAT: "name:color:parts:actions" lines)
gives the class order when present; names it lacks follow in alphabetical order (reported);
without it the order is alphabetical. Ids are 1..N in that order. A "background" entry
(Datumaro and CVAT write one first, for segmentation masks) is not a class unless an object is
named so (info "voc.background"). The writer writes labelmap.txt.

Attributes kept (annotation attrs): "difficult", "truncated", "occluded" (ints), "voc.pose"
(string), "voc.<tag>" for other simple children of <object>, "voc.action.<name>" for
<actions>, and CVAT's <attributes><attribute><name>/<value> under their own name (values
that are exactly an int, a float's repr or true/false come back as int, float or bool; other
text stays a string). Writing, a box edge left of or above the image is clamped to it and
reported as loss "negative_coordinates"; <part> boxes are reported ("voc.parts") and dropped.
Image attrs: "voc.<tag>" for simple children of <annotation> (path, segmented, ...),
"voc.<group>.<tag>" for <source>/<owner> children, "voc.@<name>" for attributes of the root
element, "voc.folder" and "voc.depth". Values equal to what the writer writes by default
(folder "JPEGImages", depth 3, segmented 0) are not stored, so read(write(D)) adds nothing.

Security: lxml without entity resolution, DTD loading or network; any document declaring
entities is refused (entity bombs, XXE); the fast path reads only documents without a DTD.
File names go through io.paths: never outside the dataset folder, symlinks included.

Modules: this one reads top to bottom (detect, read, write); _voc_layout finds the files
(folders, split lists, images), _voc_parse reads one XML file (a fast path for the usual shape
of a file, io/xml.py's hardened lxml for everything else), _voc_emit writes one.
"""

from __future__ import annotations

import os
import re
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np

from ..core.annotations import Annotations, object_array
from ..core.categories import Categories
from ..core.dataset import Dataset
from ..core.errors import (FormatError, MissingImageError, OutputError, ParseError,
                           UnsafeInputError)
from ..core.images import UNSPLIT, Images
from ..io import xml as xmlio
from ..io.paths import clean_relative
from . import _voc_emit as emit
from . import _voc_layout as folders
from . import _voc_parse as parse
from . import common
from .builder import header_sizes
from ._voc_layout import LABELMAP
from ._voc_parse import Objects, Record
from .base import (ATTRIBUTES, BOXES, CLASS_ORDER, Detection, Format, Option, ReadContext,
                   WriteContext)
from .writing import image_order

LABELMAP_HEADER = "# label:color_rgb:parts:actions\n"
_CHUNK = 4096  # images whose object texts are built at once: bounds the writer's memory


# --- detect ---------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    """Confident when a few .xml files have an <annotation> root with <object>/<bndbox> or
    <size>; CVAT XML (<annotations> root) and LabelMe JSON never match."""
    try:
        layout = folders.find_layout(path, list_files=False)
    except FormatError:
        return None
    sample_dir = next(iter(layout.split_dirs), layout.annotations_dir)
    sample = [path] if path.is_file() else folders.first_xml_files(sample_dir, 3)
    reasons: list[str] = []
    matched = strong = 0
    for f in sample:
        head = common.head(f)
        if xmlio.root_tag(head) != "annotation":
            continue
        if b"<imagesize" in head and b"<bndbox" not in head:
            continue  # LabelMe XML: <annotation> root too, but polygons and <imagesize>
        matched += 1
        if b"<bndbox" in head or b"<size" in head:
            strong += 1
    if not matched:
        return None
    where = sample_dir.name + "/" if not path.is_file() else path.name
    if strong:
        reasons.append(f"{where}: <annotation> XML with <object>/<bndbox> or <size>")
        confidence = 0.85
    else:
        reasons.append(f"{where}: <annotation> XML without <bndbox> or <size>")
        confidence = 0.5
    if (layout.root / "ImageSets" / "Main").is_dir():
        reasons.append("ImageSets/Main split lists")
        confidence += 0.05
    if (layout.root / "JPEGImages").is_dir():
        reasons.append("JPEGImages/ folder")
        confidence += 0.05
    if (layout.root / LABELMAP).is_file():
        # CVAT's "PASCAL VOC 1.1" export (and Datumaro's): plain VOC plus labelmap.txt, whose
        # class order is read; "default.txt" is CVAT's list for a task without subsets.
        cvat = (layout.root / "ImageSets" / "Main" / "default.txt").is_file()
        reasons.append(f"{LABELMAP} with the class order: CVAT's VOC export"
                       + (" (ImageSets/Main/default.txt)" if cvat else " or Datumaro's")
                       + ", read as VOC (CVAT's own XML is --from cvat)")
    return Detection("voc", min(confidence, 0.95), tuple(reasons))


# --- read -----------------------------------------------------------------------------------

def read(path: Path, ctx: ReadContext) -> Dataset:
    coordinates(ctx, "read")  # a wrong option fails before any file is read
    layout = folders.find_layout(Path(path), list_files=True)
    if not layout.xml_files and not (layout.root / "ImageSets" / "Main").is_dir():
        raise FormatError(f"{layout.annotations_dir}: no Pascal VOC .xml annotation files")
    labelmap, labelmap_meta = folders.read_labelmap(layout.root / LABELMAP, ctx)
    table = Objects()
    records: dict[str, Record | None] = {}
    rows: list[tuple[Record, str]] = []  # (record, split)

    def record_of(xml: folders.XmlFile) -> Record | None:
        if xml.path not in records:
            records[xml.path] = _read_xml(xml, layout, table, ctx)
        return records[xml.path]

    listed: set[str] = set()
    for split, list_path, entries in folders.split_lists(layout, ctx):
        for line, image_id in entries:
            where = f"{list_path}:{line}"
            try:
                xml = folders.listed_xml(layout, image_id, where)
            except UnsafeInputError as e:
                ctx.fail(e)
                continue
            if xml is not None:
                listed.add(xml.path)
                rec = record_of(xml)
            else:
                rec = folders.listed_image_record(image_id, where, layout, ctx)
            if rec is not None:
                rows.append((rec, split))
    for xml in layout.xml_files:
        if xml.path not in listed:
            refused = None if ctx.follow_links else folders.leads_outside(xml, layout)
            if refused is not None:
                ctx.fail(refused)
                continue
            rec = record_of(xml)
            if rec is not None:
                rows.append((rec, xml.split))

    rows = _fill_sizes(rows, ctx)
    return _build(rows, table, labelmap, labelmap_meta, ctx)


def _read_xml(xml: folders.XmlFile, layout: folders.Layout, table: Objects,
              ctx: ReadContext) -> Record | None:
    """The record of one annotation file, its objects appended to `table`; None on failure."""
    where = xml.path
    try:
        data = xmlio.read_bytes(where)
    except OSError as e:
        ctx.fail(ParseError(where, f"cannot read file ({e.strerror or e.__class__.__name__})"))
        return None
    first = len(table)
    header = parse.parse_fast(data, table)
    if header is not None:
        rec = folders.image_record(xml, header, layout, ctx)
        if rec is None:
            table.truncate(first)
        else:
            rec.first, rec.last = first, len(table)
        return rec
    try:
        root = xmlio.parse(data, where)
    except (ParseError, UnsafeInputError) as e:
        ctx.fail(e)
        return None
    if root.tag != "annotation":
        hint = " (CVAT XML? use --from cvat)" if root.tag == "annotations" else ""
        ctx.fail(ParseError(f"{where}:{root.sourceline}",
                            f"root element is <{root.tag}>, expected <annotation>{hint}"))
        return None
    rec = folders.image_record(xml, parse.header_of(root, where), layout, ctx)
    if rec is not None:
        rec.first = len(table)
        parse.read_objects(root, where, rec, table, ctx)
        rec.last = len(table)
    return rec


def _fill_sizes(rows: list[tuple[Record, str]], ctx: ReadContext) -> list[tuple[Record, str]]:
    """Header sizes for images whose annotation has no (or a zero) <size>."""
    need = list({id(r): r for r, _ in rows if r.width <= 0 or r.height <= 0}.values())
    if not need:
        return rows
    bad: set[int] = set()
    sizes = header_sizes(ctx, [r.path for r in need], [r.where for r in need],
                         lambda i: MissingImageError(need[i].where, "no <size> and image file "
                                                     f"{need[i].file_name!r} not found; the size "
                                                     "cannot be known"))
    for r, (w, h) in zip(need, sizes):
        if w < 0:
            bad.add(id(r))
        else:
            r.width, r.height = int(w), int(h)
    return [(r, s) for r, s in rows if id(r) not in bad]


def _build(rows: list[tuple[Record, str]], table: Objects, labelmap: list[str],
           labelmap_meta: dict[str, str], ctx: ReadContext) -> Dataset:
    recs = [r for r, _ in rows]
    unique = list({id(r): r for r in recs}.values())
    sel = _object_rows(recs)  # a file listed in two splits gives its objects twice
    identity = len(sel) == len(table) and bool((sel == np.arange(len(sel))).all())
    if identity:
        take = lambda column: column  # noqa: E731 (each object once, in order: the usual)
    else:
        picked = sel.tolist()
        take = lambda column: [column[j] for j in picked]  # noqa: E731
    all_names = table.names
    obj_names = take(all_names)
    found = set(obj_names)
    if BACKGROUND in labelmap and BACKGROUND not in found:
        labelmap = [n for n in labelmap if n != BACKGROUND]
        ctx.report.add("info", "voc.background", f"{LABELMAP}: entry {BACKGROUND!r} (the "
                       "segmentation background Datumaro and CVAT list first) is not a class: "
                       "no object is named so")
    names = labelmap + sorted(found - set(labelmap))
    if labelmap and found - set(labelmap):
        ctx.report.add("warning", "voc.labelmap", f"class names not in {LABELMAP} were added "
                       f"after its classes: {', '.join(sorted(found - set(labelmap)))}",
                       count=len(found - set(labelmap)))
    cat_id = {n: i for i, n in enumerate(names, 1)}

    image_attr_keys = list(dict.fromkeys(k for r in recs for k in r.attrs))
    images = Images.build(
        [r.file_name for r in recs], [r.width for r in recs], [r.height for r in recs],
        split=[s for _, s in rows], path=[r.path for r in recs],
        attrs={k: [r.attrs.get(k) for r in recs] for k in image_attr_keys})

    boxes = np.array(table.coords, dtype=np.float64).reshape(-1, 4)
    one_based = coordinates(ctx, "read") == ONE_BASED
    zero_based = 0
    if one_based:
        # The devkit's 1-based inclusive indices: x1 = xmin - 1, y1 = ymin - 1; values in
        # [-1, 0) (a 0-based file) are clamped to 0, counted once an object (a file listed
        # twice: once).
        boxes[:, :2] -= 1
        with np.errstate(invalid="ignore"):
            low = (boxes[:, :2] >= -1) & (boxes[:, :2] < 0)
        zero_based = int(low.any(axis=1)[_object_rows(unique)].sum())
        boxes[:, :2][low] = 0.0
    else:
        # xmin == xmax is a click without a drag (BCCD has two): one pixel wide, as the
        # devkit reading gives, not a zero-size box refused by validation.
        flat = boxes[:, 2:] == boxes[:, :2]
        widened = int(flat.any(axis=1)[_object_rows(unique)].sum())
        boxes[:, 2:][flat] += 1.0
        if widened:
            ctx.report.add("warning", "voc.zero_size", "boxes with xmin == xmax or ymin == "
                           "ymax were read one pixel wide or high", count=widened)
    ctx.report.add("info", "voc.coordinates", "VOC boxes read " + _CONVENTION[one_based])
    databases = Counter(r.attrs.get("voc.source.database") for r in unique)
    devkit = sum(n for v, n in databases.items() if v and _DEVKIT.match(str(v)))
    if devkit and not one_based:
        ctx.report.add("warning", "voc.devkit_files", "annotation files of the VOC devkit itself "
                       "(<database>The VOC20xx Database</database>) hold 1-based indices; read "
                       "with coords=one-based for the boxes the devkit means", count=devkit)
    image_index = np.repeat(np.arange(len(recs)), [r.last - r.first for r in recs])
    ann = Annotations.build(image_index, [cat_id[n] for n in obj_names],
                            boxes if identity else boxes[sel],
                            attrs=_attr_columns(take(table.attrs)))

    if zero_based:
        ctx.report.add("warning", "voc.zero_based", "boxes with xmin or ymin below 1 (a 0-based "
                       "file?); VOC indices start at 1, the box edge was clamped to 0",
                       count=zero_based)
    parts = sum(r.parts for r in unique)
    if parts:
        ctx.report.add("warning", "voc.parts", "person-layout <part> boxes are not kept",
                       count=parts)
    ignored: Counter = Counter()
    for r in unique:
        if r.ignored:
            ignored.update(r.ignored)
    for what, n in sorted(ignored.items()):
        ctx.report.add("warning", "voc.ignored", f"nested element {what} is not kept", count=n)

    meta: dict[str, Any] = {}
    if labelmap_meta:
        meta["voc.labelmap"] = labelmap_meta
    ds = Dataset(images, ann, Categories.from_names(names), meta)
    lines, numbers = table.lines, table.numbers

    def where_ann(i: int) -> str:
        j = int(sel[i])
        return (f"{recs[image_index[i]].where}:{lines[j]}: object {numbers[j]} "
                f"({all_names[j]!r})")

    return common.finish_read(ds, ctx, where_annotation=where_ann,
                              where_image=lambda i: recs[i].where)


ZERO_BASED, ONE_BASED = "zero-based", "one-based"
_DEVKIT = re.compile(r"The VOC\d{4} Database$")
BACKGROUND = "background"
_CONVENTION = {
    False: "as 0-based pixel edges (x1 = xmin, x2 = xmax: what CVAT, Datumaro, LabelImg and "
           "Roboflow write); coords=one-based for the VOC devkit's 1-based indices",
    True: "as the VOC devkit's 1-based indices (x1 = xmin - 1, x2 = xmax; coords=one-based)"}


def coordinates(ctx: ReadContext | WriteContext, side: str) -> str:
    """The coords option: which <bndbox> convention to read or write (see the docstring)."""
    value = str(ctx.options.get("coords", ZERO_BASED)).strip().lower().replace("_", "-")
    value = {"0": ZERO_BASED, "1": ONE_BASED}.get(value, value)
    if value not in (ZERO_BASED, ONE_BASED):
        error = FormatError if side == "read" else OutputError
        raise error(f"voc {side} option coords={ctx.options.get('coords')!r}: expected "
                    f"{ZERO_BASED!r} (default: pixel edges, as CVAT, Datumaro, LabelImg and "
                    f"Roboflow write) or {ONE_BASED!r} (the VOC devkit's indices)")
    return value


def _attr_columns(attrs: list[dict[str, Any]]) -> dict[str, np.ndarray]:
    """One column per key, keys in order of first appearance. Objects share attrs dicts
    (Objects.shared): each distinct dict is looked at once, then numpy spreads its values."""
    codes: dict[int, int] = {}
    distinct: list[dict[str, Any]] = []
    rows: list[int] = []
    for a in attrs:
        code = codes.get(id(a))
        if code is None:
            code = codes[id(a)] = len(distinct)
            distinct.append(a)
        rows.append(code)
    keys = dict.fromkeys(k for a in distinct for k in a)
    index = np.array(rows, dtype=np.int64)
    return {k: object_array([a.get(k) for a in distinct])[index] for k in keys}


def _object_rows(recs: list[Record]) -> np.ndarray:
    """Rows of the Objects table of each record in turn."""
    counts = np.array([r.last - r.first for r in recs], dtype=np.int64)
    starts = np.array([r.first for r in recs], dtype=np.int64)
    return np.repeat(starts - (np.cumsum(counts) - counts), counts) + np.arange(counts.sum())


# --- write ----------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs, ann = ds.images, ds.annotations
    stems = _stems(ds, out_dir)
    names = _category_names(ds, ctx)

    boxes = ann[~ann.is_label]
    offset = 1 if coordinates(ctx, "write") == ONE_BASED else 0
    with np.errstate(invalid="ignore"):
        ctx.loss("negative_coordinates", int((boxes.xyxy[:, :2] < 0).any(axis=1).sum()),
                 "box edges left of or above the image (written clamped to the image edge)")
    ctx.report.add("info", "voc.coordinates", "VOC boxes written " + _CONVENTION[bool(offset)])
    order, bounds = image_order(boxes, len(imgs))  # each image's boxes together
    bounds = bounds.tolist()
    with_attrs = np.zeros(len(imgs), bool)
    for col in imgs.attrs.values():
        with_attrs |= np.fromiter((v is not None for v in col), bool, len(imgs))
    ann_dir = out_dir / "Annotations"
    for folder in sorted({stem.rpartition("/")[0] for stem in stems}):
        (ann_dir / folder).mkdir(parents=True, exist_ok=True)
    ann_str = str(ann_dir)
    file_names, widths, heights = imgs.file_name.tolist(), imgs.width.tolist(), \
        imgs.height.tolist()
    with ctx.progress("Writing VOC annotations", len(imgs)) as advance:
        for start in range(0, len(imgs), _CHUNK):
            stop = min(start + _CHUNK, len(imgs))
            texts = emit.object_texts(boxes, order[bounds[start]:bounds[stop]], names, offset)
            for i in range(start, stop):
                objects = texts[bounds[i] - bounds[start]:bounds[i + 1] - bounds[start]]
                head = None if with_attrs[i] else emit.header_text(
                    str(file_names[i]), widths[i], heights[i])
                if head is not None and None not in objects:
                    data = "".join((head, *objects, emit.FOOTER)).encode("utf-8")
                else:
                    data = emit.annotation_xml(ds, i, boxes, order[bounds[i]:bounds[i + 1]],
                                               names, offset)
                _write_file(f"{ann_str}/{stems[i]}.xml", data)
                advance(1)

    lists: dict[str, list[str]] = {}
    for i, split in enumerate(imgs.split):  # Datumaro and CVAT import only listed images
        lists.setdefault(split or folders.NO_SPLIT_LIST, []).append(stems[i])
    ctx.loss("splits.default", int((imgs.split == folders.NO_SPLIT_LIST).sum()), "images of a "
             f"split named {folders.NO_SPLIT_LIST!r} (CVAT's and Datumaro's list of images "
             "without a split; read back without one)")
    if lists:
        main = out_dir / "ImageSets" / "Main"
        main.mkdir(parents=True)
        for split, entries in lists.items():
            (main / f"{split}.txt").write_text("".join(f"{e}\n" for e in entries),
                                               encoding="utf-8")
    (out_dir / LABELMAP).write_text(_labelmap_text(ds, names), encoding="utf-8")
    common.write_images(ds, lambda i: out_dir / folders.IMAGE_DIRS[0] / _in_images_dir(
        clean_relative(str(imgs.file_name[i]), where=f"image {imgs.file_name[i]!r}")), ctx)


def _write_file(path: str, data: bytes) -> None:
    """Path(path).write_bytes(data) with os calls: no file object per annotation file."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o666)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
    finally:
        os.close(fd)


def _stems(ds: Dataset, out_dir: Path) -> list[str]:
    """Annotation file stem per image; VOC holds one file per name, so names must be unique."""
    imgs = ds.images
    stems: list[str] = []
    seen: dict[str, int] = {}
    good_split: dict[str, bool] = {UNSPLIT: True}
    for i, (name, split) in enumerate(zip(imgs.file_name.tolist(), imgs.split.tolist())):
        stem = folders.without_suffix(_in_images_dir(clean_relative(str(name),
                                                                     where=f"image {name!r}")))
        common.refuse_names((stem,), "image name", "a VOC split list (one name a line)",
                            padded=True, xml=True)
        if split not in good_split:
            good_split[split] = bool(re.fullmatch(r"[\w.-]+", split)) \
                and not split.startswith(".")
        if not good_split[split]:
            raise OutputError(f"{out_dir}: split name {split!r} cannot be a VOC list file name "
                              "(ImageSets/Main/<split>.txt); rename the split")
        j = seen.setdefault(stem, i)
        if j != i:
            if imgs.file_name[j] == name:
                raise OutputError(
                    f"{out_dir}: image {name!r} is in split {imgs.split[j] or '(unsplit)'!r} "
                    f"and split {split or '(unsplit)'!r}; VOC holds one annotation file per "
                    "image name, so an image can be in only one split")
            raise OutputError(f"{out_dir}: images {imgs.file_name[j]!r} and {name!r} would "
                              f"both be written as Annotations/{stem}.xml; rename one")
        stems.append(stem)
    return stems


def _in_images_dir(rel: str) -> str:
    """A file name relative to JPEGImages/: one already starting with "JPEGImages/" (read from
    a VOC folder by another tool) is not nested in a second one."""
    prefix = folders.IMAGE_DIRS[0] + "/"
    return rel[len(prefix):] if rel.startswith(prefix) else rel


def _category_names(ds: Dataset, ctx: WriteContext) -> dict[int, str]:
    names = {c.id: c.name for c in ds.categories}
    common.refuse_names(names.values(), "class name", f"{LABELMAP} and the XML <name>",
                        padded=True, xml=True, chars=":")
    for c in ds.categories:
        if c.name.startswith("#"):
            raise OutputError(f"category {c.id} name {c.name!r} cannot be written to "
                              f"{LABELMAP} (a leading '#' makes a comment); rename it")
    dup = [n for n, k in Counter(names.values()).items() if k > 1]
    if dup:
        ctx.loss("duplicate_category_names", len(dup), "categories sharing a name (VOC "
                 f"identifies classes by name, they merge: {', '.join(sorted(dup))})")
    return names


def _labelmap_text(ds: Dataset, names: dict[int, str]) -> str:
    """labelmap.txt in class order; colors/parts/actions read from one are written back."""
    rest = ds.meta.get("voc.labelmap") or {}
    lines = [LABELMAP_HEADER]
    for name in dict.fromkeys(names[c.id] for c in ds.categories):
        tail = rest.get(name) if isinstance(rest, dict) else None
        tail = tail if isinstance(tail, str) and tail.count(":") == 2 and "\n" not in tail \
            else "::"
        lines.append(f"{name}:{tail}\n")
    return "".join(lines)


FORMAT = Format(
    name="voc",
    description="Pascal VOC XML (Annotations/*.xml, JPEGImages/, ImageSets/Main splits)",
    supports=frozenset({BOXES, ATTRIBUTES, CLASS_ORDER}),
    detect=detect,
    read=read,
    write=write,
    aliases=("pascal-voc", "pascal_voc", "pascalvoc"),
    attributes=None,
    write_options=(Option("coords", default=ZERO_BASED, choices=(ZERO_BASED, ONE_BASED),
                          aliases={"0": ZERO_BASED, "1": ONE_BASED},
                          help="zero-based: <bndbox> holds pixel edges, as CVAT, Datumaro, "
                               "LabelImg and Roboflow write; one-based: the VOC devkit's "
                               "indices, xmin = x1 + 1"),),
    read_options=(Option("coords", default=ZERO_BASED, choices=(ZERO_BASED, ONE_BASED),
                         aliases={"0": ZERO_BASED, "1": ONE_BASED},
                         help="zero-based: x1 = xmin, as CVAT, Datumaro, LabelImg and "
                              "Roboflow write; one-based: the VOC devkit's indices, x1 = "
                              "xmin - 1"),),
)
