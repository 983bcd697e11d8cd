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

Coordinates: VOC's <bndbox> holds 1-based inclusive pixel indices, converted at the edge as
detectron2 and supervision do: x1 = xmin - 1, y1 = ymin - 1, x2 = xmax, y2 = ymax (so a box
with xmin == xmax is one pixel wide). Floats are accepted. A 0-based file (xmin = 0) would give
x1 = -1: such values in [-1, 0) are clamped to 0 and reported once as warning "voc.zero_based".

Categories: VOC has no ids. labelmap.txt (Datumaro/CVAT: "name:color:parts:actions" lines)
gives the class order when present; names it lacks follow in alphabetical order; without it
the order is alphabetical. Ids are 1..N in that order. The writer writes labelmap.txt.

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
entities is refused (entity bombs, XXE). Image names go through io.paths.resolve_inside.
"""

from __future__ import annotations

import math
import os
import re
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path, PurePosixPath
from typing import Any

import numpy as np
from lxml import etree

from ..core.annotations import Annotations
from ..core.categories import Categories
from ..core.dataset import Dataset
from ..core.errors import (FormatError, MissingImageError, OutputError, ParseError,
                           UnsafeInputError)
from ..core.images import UNSPLIT, Images
from ..io.images import IMAGE_SUFFIXES
from ..io.paths import FileIndex, clean_relative, resolve_inside
from . import common
from .base import ATTRIBUTES, BOXES, CLASS_ORDER, Detection, Format, ReadContext, WriteContext

FLAGS = ("truncated", "occluded", "difficult")   # annotation attrs held as ints
STANDARD_SPLITS = ("train", "val", "test")
DEFAULT_FOLDER = "JPEGImages"
DEFAULT_DEPTH = "3"
DEFAULT_SEGMENTED = "0"
LABELMAP = "labelmap.txt"
LABELMAP_HEADER = "# label:color_rgb:parts:actions\n"
_ANNOTATION_DIRS = ("Annotations", "annotations")
_ANNOTATION_DIR_NAMES = {"annotations", "annotation", "labels", "xml", "xmls"}
_IMAGE_DIRS = ("JPEGImages", "images", "Images")
_PER_CLASS_LINE = re.compile(r"^\S+\s+-?\d+$")
_XML_NAME = re.compile(r"^[A-Za-z_][\w.-]*$")
_PROLOG = re.compile(r"<\?.*?\?>|<!--.*?-->|<!DOCTYPE[^\[>]*(\[.*?\])?\s*>", re.S)
_ROOT_TAG = re.compile(r"\s*<([A-Za-z_][\w.:-]*)")


# --- detect ---------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    """Confident when a few .xml files have an <annotation> root with <object>/<bndbox> or
    <size>; CVAT XML (<annotations> root) and LabelMe JSON never match."""
    try:
        layout = _layout(path, list_files=False)
    except FormatError:
        return None
    sample_dir = next(iter(layout.split_dirs), layout.annotations_dir)
    sample = [path] if path.is_file() else _first_xml_files(sample_dir, 3)
    reasons: list[str] = []
    matched = strong = 0
    for f in sample:
        head = _head(f)
        if _root_tag(head) != "annotation":
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
    layout = _layout(Path(path), list_files=True)
    if not layout.xml_files and not (layout.root / "ImageSets" / "Main").is_dir():
        raise FormatError(f"{layout.annotations_dir}: no Pascal VOC .xml annotation files")
    labelmap, labelmap_meta = _read_labelmap(layout.root / LABELMAP, ctx)
    records: dict[Path, _Record | None] = {}
    rows: list[tuple[_Record, str]] = []  # (record, split)

    def record_of(xml: Path) -> _Record | None:
        if xml not in records:
            records[xml] = _read_xml(xml, layout, ctx)
        return records[xml]

    listed: set[Path] = set()
    for split, list_path, entries in _split_lists(layout, ctx):
        for line, image_id in entries:
            where = f"{list_path}:{line}"
            try:
                xml = resolve_inside(layout.annotations_dir, image_id + ".xml", where=where)
            except UnsafeInputError as e:
                ctx.fail(e)
                continue
            if xml.is_file():
                listed.add(xml)
                rec = record_of(xml)
            else:
                rec = _image_only_record(image_id, where, layout, ctx)
            if rec is not None:
                rows.append((rec, split))
    for xml in layout.xml_files:
        if xml not in listed:
            rec = record_of(xml)
            if rec is not None:
                rows.append((rec, layout.split_dirs.get(xml.parent, UNSPLIT)))

    rows = _fill_sizes(rows, ctx)
    return _build(rows, labelmap, labelmap_meta, layout, ctx)


@dataclass
class _Layout:
    root: Path               # every image name resolves inside this folder
    annotations_dir: Path
    xml_files: list[Path]    # sorted
    lists: bool              # ImageSets/Main lists apply
    split_dirs: dict[Path, str] = field(default_factory=dict)  # Roboflow: train/*.xml, ...

    @cached_property
    def files(self) -> FileIndex:
        """The root's files, listed once: locating an image costs no realpath."""
        return FileIndex(self.root)


@dataclass
class _Object:
    name: str
    box: tuple[float, float, float, float]
    attrs: dict[str, Any]
    where: str


@dataclass
class _Record:
    file_name: str
    width: int
    height: int
    path: str | None
    where: str
    attrs: dict[str, Any] = field(default_factory=dict)
    objects: list[_Object] = field(default_factory=list)
    zero_based: int = 0
    parts: int = 0
    ignored: Counter = field(default_factory=Counter)


def _layout(path: Path, *, list_files: bool) -> _Layout:
    if path.is_file():
        if path.suffix.lower() != ".xml":
            raise FormatError(f"{path}: not a Pascal VOC .xml file; name the dataset folder, "
                              "its Annotations folder or one .xml annotation file")
        ann_dir = path.parent
        return _Layout(_root_of(ann_dir), ann_dir, [path], lists=False)
    ann_dir = _annotation_dir(path)
    if ann_dir is None:  # a folder holding exactly one VOC dataset (bccd/ -> bccd/BCCD)
        found = [d for d in _subdirs(path) if any((d / a).is_dir() for a in _ANNOTATION_DIRS)]
        if len(found) == 1:
            path, ann_dir = found[0], _annotation_dir(found[0])
    if ann_dir is None:  # Roboflow's export: one folder of .xml + images per split
        split_dirs = {d: d.name for d in _subdirs(path) if any(True for _ in d.glob("*.xml"))}
        if split_dirs:
            files = sorted((f for d in split_dirs for f in d.glob("*.xml")
                            if not f.name.startswith(".") and f.is_file()),
                           key=lambda f: f.relative_to(path).as_posix()) if list_files else []
            return _Layout(path, path, files, lists=False, split_dirs=split_dirs)
    if ann_dir is None:
        raise FormatError(f"{path}: no Pascal VOC annotations found; expected "
                          "Annotations/*.xml or a folder of .xml files")
    root = path if ann_dir != path else _root_of(ann_dir)
    files: list[Path] = []
    if list_files:
        found_files = ann_dir.rglob("*.xml") if ann_dir != root else ann_dir.glob("*.xml")
        files = sorted((f for f in found_files if not f.name.startswith(".") and f.is_file()),
                       key=lambda f: f.relative_to(ann_dir).as_posix())
    return _Layout(root, ann_dir, files, lists=True)


def _annotation_dir(folder: Path) -> Path | None:
    for name in _ANNOTATION_DIRS:
        if (folder / name).is_dir():
            return folder / name
    if any(True for _ in folder.glob("*.xml")):
        return folder
    return None


def _root_of(ann_dir: Path) -> Path:
    """The dataset folder of an annotations folder: its parent when it is named like one."""
    return ann_dir.parent if ann_dir.name.lower() in _ANNOTATION_DIR_NAMES else ann_dir


def _subdirs(path: Path) -> list[Path]:
    try:
        return sorted(d for d in path.iterdir() if d.is_dir())
    except OSError:
        return []


def _first_xml_files(folder: Path, n: int) -> list[Path]:
    try:
        names = sorted(e.name for e in os.scandir(folder)
                       if e.name.lower().endswith(".xml") and not e.name.startswith("."))
    except OSError:
        return []
    return [folder / name for name in names[:n]]


def _head(path: Path, size: int = 65536) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return b""


def _root_tag(head: bytes) -> str | None:
    text = _PROLOG.sub("", head.decode("utf-8", "replace").lstrip("\ufeff"))
    m = _ROOT_TAG.match(text)
    return m.group(1) if m else None


def _read_labelmap(path: Path, ctx: ReadContext) -> tuple[list[str], dict[str, str]]:
    """Names in labelmap.txt order, and the rest of each line (color:parts:actions)."""
    if not path.is_file():
        return [], {}
    names: list[str] = []
    rest: dict[str, str] = {}
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as e:
        ctx.fail(ParseError(path, f"cannot read label map ({e.__class__.__name__})"))
        return [], {}
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, tail = line.partition(":")
        if name not in rest:
            names.append(name)
            rest[name] = tail
    return names, rest


def _split_lists(layout: _Layout,
                 ctx: ReadContext) -> list[tuple[str, Path, list[tuple[int, str]]]]:
    """(split, list file, [(line, image id)]) in order train, val, test, others sorted."""
    main = layout.root / "ImageSets" / "Main"
    if not layout.lists or not main.is_dir():
        return []
    found: dict[str, tuple[Path, list[tuple[int, str]]]] = {}
    for f in sorted(main.glob("*.txt")):
        try:
            lines = f.read_text(encoding="utf-8").splitlines()
        except (OSError, UnicodeDecodeError) as e:
            ctx.fail(ParseError(f, f"cannot read split list ({e.__class__.__name__})"))
            continue
        entries = [(i, s.strip()) for i, s in enumerate(lines, 1)
                   if s.strip() and not s.strip().startswith("#")]
        if entries and _PER_CLASS_LINE.match(entries[0][1]):
            continue  # "<class>_<split>.txt": per-class presence list, not a split
        found[f.stem] = (f, entries)
    if "train" in found or "val" in found:
        found.pop("trainval", None)
    order = [s for s in STANDARD_SPLITS if s in found]
    order += sorted(s for s in found if s not in STANDARD_SPLITS)
    return [(s, *found[s]) for s in order]


def _parse_xml(xml: Path) -> etree._Element:
    """The root element, refusing entity declarations; ParseError 'file:line' when malformed."""
    try:
        data = xml.read_bytes()
    except OSError as e:
        raise ParseError(xml, f"cannot read file ({e.strerror or e.__class__.__name__})") from None
    if b"<!ENTITY" in data or "<!ENTITY".encode("utf-16-le") in data \
            or "<!ENTITY".encode("utf-16-be") in data:
        raise UnsafeInputError(xml, "XML declares entities in a DOCTYPE (possible entity "
                               "expansion bomb or external entity); refused")
    try:
        parser = etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False,
                                 huge_tree=False, remove_comments=True, remove_pis=True)
        root = etree.fromstring(data, parser)  # one parser per call: lxml's are not thread-safe
    except etree.XMLSyntaxError as e:
        line = e.lineno if e.lineno else None
        raise common.parse_error_at(xml, line, f"malformed XML: {e.msg}") from None
    dtd = root.getroottree().docinfo.internalDTD
    if dtd is not None and any(True for _ in dtd.iterentities()):
        raise UnsafeInputError(xml, "XML declares entities in a DOCTYPE; refused")
    return root


def _text(el: etree._Element, tag: str) -> str | None:
    child = el.find(tag)
    if child is None:
        return None
    return (child.text or "").strip()


def _read_xml(xml: Path, layout: _Layout, ctx: ReadContext) -> _Record | None:
    try:
        root = _parse_xml(xml)
    except (ParseError, UnsafeInputError) as e:
        ctx.fail(e)
        return None
    if root.tag != "annotation":
        hint = " (CVAT XML? use --from cvat)" if root.tag == "annotations" else ""
        ctx.fail(ParseError(f"{xml}:{root.sourceline}",
                            f"root element is <{root.tag}>, expected <annotation>{hint}"))
        return None
    rec = _image_of(xml, root, layout, ctx)
    if rec is None:
        return None
    for k, obj in enumerate(root.iterfind("object"), 1):
        _read_object(obj, k, xml, rec, ctx)
    return rec


def _image_of(xml: Path, root: etree._Element, layout: _Layout,
              ctx: ReadContext) -> _Record | None:
    """The image record of one annotation file: file name, file on disk, size, attrs."""
    where = str(xml)
    filename = _text(root, "filename")
    folder = _text(root, "folder")
    base = xml.parent if xml.parent in layout.split_dirs else layout.annotations_dir
    rel_dir = xml.parent.relative_to(base).as_posix()
    rel_dir = "" if rel_dir == "." else rel_dir
    try:
        if filename:
            file_name, image = _find_image(layout, xml, clean_relative(filename, where=where),
                                           rel_dir, folder, where)
        else:
            file_name, image = _find_by_stem(
                layout, xml.relative_to(base).with_suffix("").as_posix(), where,
                xml.parent.relative_to(layout.root).as_posix())
            if file_name is None:
                ctx.fail(ParseError(f"{xml}:{root.sourceline}", "missing <filename> and no "
                                    f"image named {xml.stem}.* found"))
                return None
    except UnsafeInputError as e:
        ctx.fail(e)
        return None
    size = root.find("size")
    dims: list[int] = []
    depth = None
    for tag in ("width", "height"):
        text = _text(size, tag) if size is not None else None
        try:
            value = float(text) if text else 0.0
            if not value.is_integer():
                raise ValueError
        except ValueError:
            el = size.find(tag)
            ctx.fail(ParseError(f"{xml}:{el.sourceline}",
                                f"<size>/<{tag}> is not a whole number: {text!r}"))
            return None
        dims.append(int(value))
    if size is not None:
        depth = _text(size, "depth")
    rec = _Record(file_name, dims[0], dims[1], image, where)
    attrs = rec.attrs
    for k, v in root.attrib.items():
        attrs[f"voc.@{k}"] = v
    if folder is not None and folder != DEFAULT_FOLDER:
        attrs["voc.folder"] = folder
    if depth not in (None, DEFAULT_DEPTH):
        attrs["voc.depth"] = depth
    for child in root:
        tag = child.tag
        if tag in ("folder", "filename", "size", "object"):
            continue
        if len(child) == 0:
            value = (child.text or "").strip()
            if not (tag == "segmented" and value == DEFAULT_SEGMENTED):
                attrs[f"voc.{tag}"] = value
            continue
        for sub in child:
            if len(sub) == 0:
                attrs[f"voc.{tag}.{sub.tag}"] = (sub.text or "").strip()
            else:
                rec.ignored[f"<{tag}>/<{sub.tag}>"] += 1
    return rec


def _find_image(layout: _Layout, xml: Path, name: str, rel_dir: str, folder: str | None,
                where: str) -> tuple[str, str | None]:
    """(file_name, absolute path or None): the image named by <filename> (+ <folder>)."""
    file_name = f"{rel_dir}/{name}" if rel_dir and "/" not in name else name
    beside = xml.parent.relative_to(layout.root).as_posix()
    candidates = [f"{d}/{file_name}" for d in _IMAGE_DIRS]
    candidates.append(name if beside == "." else f"{beside}/{name}")
    if folder:
        try:
            candidates.append(f"{clean_relative(folder, where=where)}/{name}")
        except UnsafeInputError:
            pass  # <folder> is informational (often "VOC2007" or a path elsewhere)
    candidates.append(file_name)
    for rel in dict.fromkeys(candidates):
        p = layout.files.locate(rel, where=where)
        if p is not None:
            return file_name, os.path.abspath(p)
    return file_name, None


def _find_by_stem(layout: _Layout, stem: str, where: str,
                  beside: str) -> tuple[str | None, str | None]:
    """An image named <stem>.<any image suffix> in the usual places or `beside` (relative to
    the root) the annotation file."""
    for d in (*_IMAGE_DIRS, beside):
        for suffix in IMAGE_SUFFIXES:
            for s in (suffix, suffix.upper()):
                rel = f"{stem}{s}" if d == "." else f"{d}/{stem}{s}"
                p = layout.files.locate(rel, where=where)
                if p is not None:
                    return f"{stem}{s}", os.path.abspath(p)
    return None, None


def _image_only_record(image_id: str, where: str, layout: _Layout,
                       ctx: ReadContext) -> _Record | None:
    """A listed image without an annotation file: an image without objects."""
    try:
        file_name, image = _find_by_stem(
            layout, image_id, where, layout.annotations_dir.relative_to(layout.root).as_posix())
    except UnsafeInputError as e:
        ctx.fail(e)
        return None
    if file_name is None:
        ctx.fail(MissingImageError(where, f"image {image_id!r} has neither "
                                   f"{layout.annotations_dir.name}/{image_id}.xml nor an "
                                   "image file"))
        return None
    return _Record(file_name, 0, 0, image, where)


def _read_object(obj: etree._Element, k: int, xml: Path, rec: _Record,
                 ctx: ReadContext) -> None:
    where = f"{xml}:{obj.sourceline}"
    name = _text(obj, "name")
    if not name:
        ctx.fail(ParseError(where, f"object {k}: missing <name>"))
        return
    what = f"object {k} ({name!r})"
    bb = obj.find("bndbox")
    if bb is None:
        ctx.fail(ParseError(where, f"{what}: missing <bndbox>"))
        return
    values: list[float] = []
    for tag in ("xmin", "ymin", "xmax", "ymax"):
        el = bb.find(tag)
        text = (el.text or "").strip() if el is not None else ""
        if el is None or not text:
            ctx.fail(ParseError(f"{xml}:{bb.sourceline}", f"{what}: <bndbox> has no <{tag}>"))
            return
        try:
            values.append(float(text))
        except ValueError:
            ctx.fail(ParseError(f"{xml}:{el.sourceline}",
                                f"{what}: <bndbox>/<{tag}> is not a number: {text!r}"))
            return
    x1, y1, x2, y2 = values[0] - 1, values[1] - 1, values[2], values[3]
    if -1 <= x1 < 0 or -1 <= y1 < 0:
        rec.zero_based += 1
        x1, y1 = (max(x1, 0.0) if x1 >= -1 else x1), (max(y1, 0.0) if y1 >= -1 else y1)
    attrs: dict[str, Any] = {}
    for child in obj:
        tag = child.tag
        if tag in ("name", "bndbox"):
            continue
        if tag in FLAGS:
            attrs[tag] = _flag((child.text or "").strip())
        elif tag == "attributes":
            for a in child.iterfind("attribute"):
                key = _text(a, "name")
                if key:
                    attrs[key] = _typed(_text(a, "value") or "")
        elif tag == "actions":
            for a in child:
                attrs[f"voc.action.{a.tag}"] = (a.text or "").strip()
        elif tag == "part":
            rec.parts += 1
        elif len(child) == 0:
            attrs[f"voc.{tag}"] = (child.text or "").strip()
        else:
            rec.ignored[f"<object>/<{tag}>"] += 1
    rec.objects.append(_Object(name, (x1, y1, x2, y2), attrs, f"{where}: {what}"))


def _flag(text: str) -> int | str:
    """VOC's 0/1 flags as ints; anything else is kept as written."""
    low = text.lower()
    if low in ("true", "yes"):
        return 1
    if low in ("false", "no"):
        return 0
    try:
        value = float(text)
    except ValueError:
        return text
    return int(value) if value.is_integer() else text


_INT_TEXT = re.compile(r"-?(0|[1-9][0-9]*)")


def _typed(text: str) -> Any:
    """An <attributes> value: ints, floats and true/false as such when the text is exactly
    what the writer makes of that value (so "007" or "1e3" stay strings)."""
    if text in ("true", "false"):
        return text == "true"
    if _INT_TEXT.fullmatch(text):
        return int(text)
    try:
        value = float(text)
    except ValueError:
        return text
    return value if math.isfinite(value) and repr(value) == text else text


def _fill_sizes(rows: list[tuple[_Record, str]], ctx: ReadContext) -> list[tuple[_Record, str]]:
    """Header sizes for images whose annotation has no (or a zero) <size>."""
    need = list({id(r): r for r, _ in rows if r.width <= 0 or r.height <= 0}.values())
    if not need:
        return rows
    bad: set[int] = set()
    with_file = [r for r in need if r.path is not None]
    for r in need:
        if r.path is None:
            ctx.fail(MissingImageError(r.where, f"no <size> and image file {r.file_name!r} "
                                       "not found; the size cannot be known"))
            bad.add(id(r))
    sizes = common.read_sizes([r.path for r in with_file], ctx,
                              where=lambda i: with_file[i].where)
    for r, (w, h) in zip(with_file, sizes):
        if w < 0:
            bad.add(id(r))
        else:
            r.width, r.height = int(w), int(h)
    return [(r, s) for r, s in rows if id(r) not in bad]


def _build(rows: list[tuple[_Record, str]], labelmap: list[str], labelmap_meta: dict[str, str],
           layout: _Layout, ctx: ReadContext) -> Dataset:
    found = {o.name for r, _ in rows for o in r.objects}
    names = labelmap + sorted(found - set(labelmap))
    if labelmap and found - set(labelmap):
        ctx.report.add("warning", "voc.labelmap", f"class names not in {LABELMAP} were added "
                       f"after its classes: {', '.join(sorted(found - set(labelmap)))}",
                       count=len(found - set(labelmap)))
    cat_id = {n: i for i, n in enumerate(names, 1)}

    image_attr_keys = list(dict.fromkeys(k for r, _ in rows for k in r.attrs))
    images = Images.build(
        [r.file_name for r, _ in rows], [r.width for r, _ in rows],
        [r.height for r, _ in rows], split=[s for _, s in rows],
        path=[r.path for r, _ in rows],
        attrs={k: [r.attrs.get(k) for r, _ in rows] for k in image_attr_keys})

    objects = [(i, o) for i, (r, _) in enumerate(rows) for o in r.objects]
    attr_keys = list(dict.fromkeys(k for _, o in objects for k in o.attrs))
    ann = Annotations.build(
        [i for i, _ in objects], [cat_id[o.name] for _, o in objects],
        np.array([o.box for _, o in objects], dtype=np.float64).reshape(-1, 4),
        attrs={k: _objects([o.attrs.get(k) for _, o in objects]) for k in attr_keys})

    unique = list({id(r): r for r, _ in rows}.values())
    zero_based = sum(r.zero_based for r in unique)
    if zero_based:
        ctx.report.add("warning", "voc.zero_based", "boxes with xmin or ymin below 1 (a 0-based "
                       "file?); VOC indices start at 1, the box edge was clamped to 0",
                       count=zero_based)
    parts = sum(r.parts for r in unique)
    if parts:
        ctx.report.add("warning", "voc.parts", "person-layout <part> boxes are not kept",
                       count=parts)
    ignored = sum((r.ignored for r in unique), Counter())
    for what, n in sorted(ignored.items()):
        ctx.report.add("warning", "voc.ignored", f"nested element {what} is not kept", count=n)

    meta: dict[str, Any] = {}
    if labelmap_meta:
        meta["voc.labelmap"] = labelmap_meta
    ds = Dataset(images, ann, Categories.from_names(names), meta)
    where_ann = [o.where for _, o in objects]
    return common.finish_read(ds, ctx, where_annotation=lambda i: where_ann[i],
                              where_image=lambda i: rows[i][0].where)


def _objects(values: list[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


# --- write ----------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    imgs, ann = ds.images, ds.annotations
    stems = _stems(ds, out_dir)
    names = _category_names(ds, ctx)

    boxes = ann[~ann.is_label]
    with np.errstate(invalid="ignore"):
        ctx.loss("negative_coordinates", int((boxes.xyxy[:, :2] < 0).any(axis=1).sum()),
                 "box edges left of or above the image (VOC indices start at 1; written "
                 "clamped to the image edge)")
    order = np.argsort(boxes.image_index, kind="stable")
    bounds = np.searchsorted(boxes.image_index[order], np.arange(len(imgs) + 1))
    ann_dir = out_dir / "Annotations"
    with ctx.progress("Writing VOC annotations", len(imgs)) as advance:
        for i in range(len(imgs)):
            rows = order[bounds[i]:bounds[i + 1]]
            xml = ann_dir / f"{stems[i]}.xml"
            xml.parent.mkdir(parents=True, exist_ok=True)
            data = _annotation_xml_fast(ds, i, boxes, rows, names)
            xml.write_bytes(data if data is not None else
                            _annotation_xml(ds, i, boxes, rows, names))
            advance(1)

    lists: dict[str, list[str]] = {}
    for i, split in enumerate(imgs.split):
        if split != UNSPLIT:
            lists.setdefault(split, []).append(stems[i])
    if lists:
        main = out_dir / "ImageSets" / "Main"
        main.mkdir(parents=True)
        for split, entries in lists.items():
            (main / f"{split}.txt").write_text("".join(f"{e}\n" for e in entries),
                                               encoding="utf-8")
    (out_dir / LABELMAP).write_text(_labelmap_text(ds, names), encoding="utf-8")
    common.write_images(ds, lambda i: out_dir / "JPEGImages" / imgs.file_name[i], ctx)


def _stems(ds: Dataset, out_dir: Path) -> list[str]:
    """Annotation file stem per image; VOC holds one file per name, so names must be unique."""
    imgs = ds.images
    stems: list[str] = []
    seen: dict[str, int] = {}
    for i, (name, split) in enumerate(zip(imgs.file_name, imgs.split)):
        clean = clean_relative(str(name), where=f"image {name!r}")
        stem = str(PurePosixPath(clean).with_suffix("")) if PurePosixPath(clean).suffix \
            else clean
        if split != UNSPLIT and (not re.fullmatch(r"[\w.-]+", split) or split.startswith(".")):
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


def _category_names(ds: Dataset, ctx: WriteContext) -> dict[int, str]:
    names = {c.id: c.name for c in ds.categories}
    for c in ds.categories:
        if ":" in c.name or "\n" in c.name or c.name.startswith("#") or not c.name.strip():
            raise OutputError(f"category {c.id} name {c.name!r} cannot be written to "
                              f"{LABELMAP} (empty, ':', newline or leading '#'); rename it")
    dup = [n for n, k in Counter(names.values()).items() if k > 1]
    if dup:
        ctx.loss("duplicate_category_names", len(dup), "categories sharing a name (VOC "
                 f"identifies classes by name, they merge: {', '.join(sorted(dup))})")
    return names


def _image_attr_tag(key: str) -> list[str] | None:
    """The element path ("voc.source.database" -> [source, database]) of an image attr."""
    if not key.startswith("voc."):
        return None
    parts = key[4:].split(".")
    if parts[0] in ("filename", "size", "object") or (
            len(parts) == 2 and parts[0] in ("folder", "path", "segmented", "depth")):
        return None
    if key.startswith("voc.@"):
        return [key[4:]] if _XML_NAME.match(key[5:]) else None
    if len(parts) > 2 or not all(_XML_NAME.match(p) for p in parts):
        return None
    return parts


def _annotation_xml(ds: Dataset, i: int, boxes: Annotations, rows: np.ndarray,
                    names: dict[int, str]) -> bytes:
    imgs = ds.images
    attrs = {k: v[i] for k, v in imgs.attrs.items() if v[i] is not None}
    root = etree.Element("annotation")
    for key, value in sorted(attrs.items()):
        if key.startswith("voc.@") and _image_attr_tag(key):
            root.set(key[5:], _attr_text(value))
    _sub(root, "folder", attrs.get("voc.folder", DEFAULT_FOLDER))
    _sub(root, "filename", PurePosixPath(str(imgs.file_name[i])).name)
    groups: dict[str, etree._Element] = {}
    simple: list[tuple[str, Any]] = []
    for key in sorted(attrs, key=lambda k: (k.count(".") == 1, k)):
        tag = _image_attr_tag(key)
        if tag is None or key.startswith("voc.@") or key in (
                "voc.folder", "voc.depth", "voc.segmented"):
            continue
        if len(tag) == 2:
            if tag[0] not in groups:
                groups[tag[0]] = etree.SubElement(root, tag[0])
            _sub(groups[tag[0]], tag[1], attrs[key])
        elif tag[0] == "path":
            root.insert(2, _element("path", attrs[key]))
        else:
            simple.append((tag[0], attrs[key]))
    size = etree.SubElement(root, "size")
    _sub(size, "width", int(imgs.width[i]))
    _sub(size, "height", int(imgs.height[i]))
    _sub(size, "depth", attrs.get("voc.depth", DEFAULT_DEPTH))
    _sub(root, "segmented", attrs.get("voc.segmented", DEFAULT_SEGMENTED))
    for tag, value in simple:
        if tag not in groups:
            _sub(root, tag, value)
    for r in rows:
        root.append(_object_xml(boxes, int(r), names))
    etree.indent(root, space="  ")
    return etree.tostring(root, encoding="utf-8", pretty_print=True)


_UNSAFE_TEXT = re.compile(r"[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff\ufffe\uffff]")


def _annotation_xml_fast(ds: Dataset, i: int, boxes: Annotations, rows: np.ndarray,
                         names: dict[int, str]) -> bytes | None:
    """The bytes `_annotation_xml` writes, built as text for the common case (no image attrs,
    object attrs that are flags, pose or plain <attributes>, text needing no escaping); None
    for anything else, which then takes the lxml path. Same output, ~10x less time."""
    imgs = ds.images
    if any(v[i] is not None for v in imgs.attrs.values()):
        return None
    filename = PurePosixPath(str(imgs.file_name[i])).name
    parts = ["<annotation>\n  <folder>", DEFAULT_FOLDER, "</folder>\n  <filename>", filename,
             "</filename>\n  <size>\n    <width>", str(int(imgs.width[i])),
             "</width>\n    <height>", str(int(imgs.height[i])), "</height>\n    <depth>",
             DEFAULT_DEPTH, "</depth>\n  </size>\n  <segmented>", DEFAULT_SEGMENTED,
             "</segmented>\n"]
    attr_cols = list(boxes.attrs.items())
    texts = [filename]  # what came from the data: checked for characters needing escapes
    for r in rows.tolist():
        name = names[int(boxes.category_id[r])]
        texts.append(name)
        parts += ["  <object>\n    <name>", name, "</name>\n"]
        attrs = {k: v[r] for k, v in attr_cols if v[r] is not None}
        if "voc.pose" in attrs:
            texts.append(_attr_text(attrs["voc.pose"]))
            parts += ["    <pose>", texts[-1], "</pose>\n"]
        for flag in FLAGS:
            if flag in attrs:
                texts.append(_flag_text(attrs[flag]))
                parts += [f"    <{flag}>", texts[-1], f"</{flag}>\n"]
        x1, y1, x2, y2 = (float(v) for v in boxes.xyxy[r])
        x1, y1 = max(x1, 0.0), max(y1, 0.0)  # reported as loss.negative_coordinates
        parts += ["    <bndbox>\n      <xmin>", common.fmt_float(x1 + 1),
                  "</xmin>\n      <ymin>", common.fmt_float(y1 + 1), "</ymin>\n      <xmax>",
                  common.fmt_float(x2), "</xmax>\n      <ymax>", common.fmt_float(y2),
                  "</ymax>\n    </bndbox>\n"]
        others = sorted(k for k in attrs if k not in FLAGS and k != "voc.pose")
        if others:
            if any(k.startswith("voc.") for k in others):
                return None  # <voc.tag> children and <actions>: the lxml path
            parts.append("    <attributes>\n")
            for key in others:
                texts += [key, _attr_text(attrs[key])]
                parts += ["      <attribute>\n        <name>", key,
                          "</name>\n        <value>", texts[-1],
                          "</value>\n      </attribute>\n"]
            parts.append("    </attributes>\n")
        parts.append("  </object>\n")
    parts.append("</annotation>\n")
    if not all(texts) or _UNSAFE_TEXT.search("".join(texts)):
        return None  # empty text (<x/> vs <x></x>) or escapes needed: the lxml path
    return "".join(parts).encode("utf-8")


def _object_xml(ann: Annotations, r: int, names: dict[int, str]) -> etree._Element:
    obj = etree.Element("object")
    _sub(obj, "name", names[int(ann.category_id[r])])
    attrs = {k: v[r] for k, v in ann.attrs.items() if v[r] is not None}
    if "voc.pose" in attrs:
        _sub(obj, "pose", attrs["voc.pose"])
    for flag in FLAGS:
        if flag in attrs:
            _sub(obj, flag, _flag_text(attrs[flag]))
    bb = etree.SubElement(obj, "bndbox")
    x1, y1, x2, y2 = (float(v) for v in ann.xyxy[r])
    x1, y1 = max(x1, 0.0), max(y1, 0.0)  # reported as loss.negative_coordinates
    for tag, value in (("xmin", x1 + 1), ("ymin", y1 + 1), ("xmax", x2), ("ymax", y2)):
        _sub(bb, tag, common.fmt_float(value))
    actions, others = [], []
    for key in sorted(attrs):
        if key in FLAGS or key == "voc.pose":
            continue
        if key.startswith("voc.action.") and _XML_NAME.match(key[11:]):
            actions.append((key[11:], attrs[key]))
        elif key.startswith("voc.") and _XML_NAME.match(key[4:]) and "." not in key[4:] \
                and key[4:] not in ("name", "bndbox", "attributes", "actions", "part",
                                    "pose", *FLAGS):
            _sub(obj, key[4:], attrs[key])
        else:
            others.append((key, attrs[key]))
    if actions:
        el = etree.SubElement(obj, "actions")
        for tag, value in actions:
            _sub(el, tag, value)
    if others:
        el = etree.SubElement(obj, "attributes")
        for key, value in others:
            a = etree.SubElement(el, "attribute")
            _sub(a, "name", key)
            _sub(a, "value", value)
    return obj


def _element(tag: str, value: Any) -> etree._Element:
    el = etree.Element(tag)
    el.text = _attr_text(value)
    return el


def _sub(parent: etree._Element, tag: str, value: Any) -> etree._Element:
    el = etree.SubElement(parent, tag)
    try:
        el.text = _attr_text(value)
    except ValueError:  # control characters XML cannot hold
        raise OutputError(f"value {value!r} of <{tag}> cannot be written to XML") from None
    return el


def _attr_text(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return common.fmt_float(float(value)) if math.isfinite(value) else str(float(value))
    return str(value)


def _flag_text(value: Any) -> str:
    if isinstance(value, (bool, np.bool_)):
        return "1" if value else "0"
    return _attr_text(value)


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
)
