"""Where a Pascal VOC dataset's files are (see voc.py for the format): the layout of its
folders, the annotation files, split lists, label map, and the image of an annotation file.

Folders are listed once (os.scandir, io.paths.FileIndex): locating 250,000 annotation files
and images costs no stat or realpath each; only names through a symlink take the careful path.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import NamedTuple

from ..core.errors import FormatError, MissingImageError, ParseError, UnsafeInputError
from ..core.images import UNSPLIT
from ..io.images import IMAGE_SUFFIXES
from ..io.paths import FileIndex, clean_relative, is_inside
from ..io.safe_load import text_of
from . import common
from ._voc_parse import Header, Record
from .base import ReadContext

LABELMAP = "labelmap.txt"
STANDARD_SPLITS = ("train", "val", "test")
IMAGE_DIRS = ("JPEGImages", "images", "Images")
_ANNOTATION_DIRS = ("Annotations", "annotations")
_ANNOTATION_DIR_NAMES = {"annotations", "annotation", "labels", "xml", "xmls"}
_PER_CLASS_LINE = re.compile(r"^\S+\s+-?\d+$")


class XmlFile(NamedTuple):
    """One annotation file: its path as str(Path) gives it, its name relative to the folder
    it was found in (Annotations/ or a Roboflow split folder), that folder relative to the
    dataset root ("." for the root itself), and the split that folder names."""
    path: str
    rel: str
    base: str
    split: str


@dataclass
class Layout:
    root: Path                  # every image name resolves inside this folder
    annotations_dir: Path
    xml_files: list[XmlFile]    # sorted
    lists: bool                 # ImageSets/Main lists apply
    split_dirs: dict[Path, str] = field(default_factory=dict)  # Roboflow: train/*.xml, ...
    linked: set[str] = field(default_factory=set)  # paths of xml_files that are symlinks

    @cached_property
    def files(self) -> FileIndex:
        """The root's files, listed once: locating an image costs no realpath."""
        return FileIndex(self.root)

    @cached_property
    def annotation_files(self) -> FileIndex:
        """The annotations folder's files: the split lists' entries resolve inside it."""
        return self.files if self.annotations_dir == self.root else \
            FileIndex(self.annotations_dir)

    @cached_property
    def root_abs(self) -> str:
        return os.path.abspath(self.root)

    @cached_property
    def annotations_rel(self) -> str:
        return posix_rel(self.annotations_dir, self.root)


def find_layout(path: Path, *, list_files: bool) -> Layout:
    """The layout of what the user named (a folder or one .xml file)."""
    if path.is_file():
        if path.suffix.lower() != ".xml":
            raise FormatError(f"{path}: not a Pascal VOC .xml file; name the dataset folder, "
                              "its Annotations folder or one .xml annotation file")
        ann_dir = path.parent
        root = _root_of(ann_dir)
        return Layout(root, ann_dir, [XmlFile(str(path), path.name, posix_rel(ann_dir, root),
                                              UNSPLIT)], lists=False)
    ann_dir = _annotation_dir(path)
    if ann_dir is None:  # a folder holding exactly one VOC dataset (bccd/ -> bccd/BCCD)
        found = [d for d in _subdirs(path) if any((d / a).is_dir() for a in _ANNOTATION_DIRS)]
        if len(found) == 1:
            path, ann_dir = found[0], _annotation_dir(found[0])
    if ann_dir is None:  # Roboflow's export: one folder of .xml + images per split
        split_dirs = {d: d.name for d in _subdirs(path) if any(True for _ in d.glob("*.xml"))}
        if split_dirs:
            links: set[str] = set()
            files = sorted((XmlFile(join(str(d), rel), rel, d.name, d.name) for d in split_dirs
                            for rel in _xml_names(d, recursive=False, links=links)),
                           key=lambda f: f"{f.base}/{f.rel}") if list_files else []
            return Layout(path, path, files, lists=False, split_dirs=split_dirs, linked=links)
    if ann_dir is None:
        raise FormatError(f"{path}: no Pascal VOC annotations found; expected "
                          "Annotations/*.xml or a folder of .xml files")
    root = path if ann_dir != path else _root_of(ann_dir)
    files: list[XmlFile] = []
    links: set[str] = set()
    if list_files:
        ann_str, ann_rel = str(ann_dir), posix_rel(ann_dir, root)
        files = [XmlFile(join(ann_str, rel), rel, ann_rel, UNSPLIT)
                 for rel in sorted(_xml_names(ann_dir, recursive=ann_dir != root, links=links))]
    return Layout(root, ann_dir, files, lists=True, linked=links)


def _xml_names(folder: Path, *, recursive: bool, links: set[str]) -> list[str]:
    """Names (relative, '/'-separated) of the .xml files in folder, as glob("*.xml") or
    rglob("*.xml") + is_file() find them, hidden names left out, from one os.scandir a
    folder (no stat per file). Like rglob, symlinked folders are not entered; symlinked
    files are kept and their paths added to `links` (the reader checks where they lead)."""
    names: list[str] = []
    stack = [("", str(folder))]
    while stack:
        prefix, current = stack.pop()
        try:
            with os.scandir(current) as it:
                entries = list(it)
        except OSError:
            continue
        for e in entries:
            name = e.name
            try:
                if name.endswith(".xml") and not name.startswith(".") and e.is_file():
                    names.append(prefix + name)
                    if e.is_symlink():
                        links.add(e.path)
                if recursive and e.is_dir() and not e.is_symlink():
                    stack.append((f"{prefix}{name}/", e.path))
            except OSError:
                continue
    return names


def leads_outside(xml: XmlFile, layout: Layout) -> UnsafeInputError | None:
    """The refusal of an annotation file found by listing a folder that is a link leading
    outside the dataset (listed split entries get theirs from `listed_xml`)."""
    if xml.path in layout.linked and not is_inside(Path(xml.path), layout.root):
        return UnsafeInputError(xml.path, "annotation file is a link that leads outside the "
                                f"dataset folder ({os.path.realpath(xml.path)})")
    return None


def join(base: str, rel: str) -> str:
    """str(Path(base) / rel) for a clean relative rel, without building the Path."""
    if base == ".":
        return rel
    return base + rel if base.endswith("/") else f"{base}/{rel}"


def posix_rel(folder: Path, root: Path) -> str:
    return folder.relative_to(root).as_posix()


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


def first_xml_files(folder: Path, n: int, *, max_dirs: int = 64) -> list[Path]:
    """Up to n .xml files of folder, or, when it holds none, of its sub-folders (breadth
    first, at most max_dirs folders looked at): Annotations/<sub>/*.xml is VOC too."""
    queue, seen = [folder], 0
    while queue and seen < max_dirs:
        current = queue.pop(0)
        seen += 1
        try:
            entries = sorted(os.scandir(current), key=lambda e: e.name)
        except OSError:
            continue
        names = [e.name for e in entries
                 if e.name.lower().endswith(".xml") and not e.name.startswith(".")]
        if names:
            return [Path(current) / name for name in names[:n]]
        queue += [Path(e.path) for e in entries if not e.name.startswith(".")
                  and e.is_dir(follow_symlinks=False)]
    return []


def read_labelmap(path: Path, ctx: ReadContext) -> tuple[list[str], dict[str, str]]:
    """Names in labelmap.txt order, and the rest of each line (color:parts:actions)."""
    if not path.is_file():
        return [], {}
    names: list[str] = []
    rest: dict[str, str] = {}
    try:
        text = text_of(path, "utf-8")
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


NO_SPLIT_LIST = "default"


def split_lists(layout: Layout,
                ctx: ReadContext) -> list[tuple[str, Path, list[tuple[int, str]]]]:
    """(split, list file, [(line, image id)]) in order train, val, test, others sorted."""
    main = layout.root / "ImageSets" / "Main"
    if not layout.lists or not main.is_dir():
        return []
    found: dict[str, tuple[Path, list[tuple[int, str]]]] = {}
    for f in sorted(main.glob("*.txt")):
        try:
            lines = text_of(f, "utf-8").splitlines()
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
    # default.txt: CVAT's and Datumaro's list of the images of no subset
    return [(UNSPLIT if s == NO_SPLIT_LIST else s, *found[s]) for s in order]


def listed_xml(layout: Layout, image_id: str, where: str) -> XmlFile | None:
    """The annotation file of a split list's entry, None when there is none."""
    rel = clean_relative(image_id + ".xml", where=where)
    if not layout.annotation_files.has(rel, where=where):
        return None
    return XmlFile(join(str(layout.annotations_dir), rel), rel, layout.annotations_rel, UNSPLIT)


def without_suffix(rel: str) -> str:
    """PurePosixPath(rel).with_suffix("").as_posix() for a clean relative name."""
    name = rel.rpartition("/")[2]
    i = name.rfind(".")
    return rel[:len(rel) - len(name) + i] if 0 < i < len(name) - 1 else rel


def find_image(layout: Layout, name: str, rel_dir: str, beside: str, folder: str | None,
               where: str) -> tuple[str, str | None]:
    """(file_name, absolute path or None): the image named by <filename> (+ <folder>)."""
    file_name = f"{rel_dir}/{name}" if rel_dir and "/" not in name else name
    first = f"{IMAGE_DIRS[0]}/{file_name}"
    image = _locate(layout, first, where)  # the usual place, before building the others
    if image is not None:
        return file_name, image
    candidates = [f"{d}/{file_name}" for d in IMAGE_DIRS[1:]]
    candidates.append(name if beside == "." else f"{beside}/{name}")
    if folder:
        try:
            candidates.append(f"{clean_relative(folder, where=where)}/{name}")
        except UnsafeInputError:
            pass  # <folder> is informational (often "VOC2007" or a path elsewhere)
    candidates.append(file_name)
    for rel in dict.fromkeys(candidates):
        if rel != first:
            image = _locate(layout, rel, where)
            if image is not None:
                return file_name, image
    return file_name, None


def find_by_stem(layout: Layout, stem: str, where: str,
                 beside: str) -> tuple[str | None, str | None]:
    """An image named <stem>.<any image suffix> in the usual places or `beside` (relative to
    the root) the annotation file."""
    for d in (*IMAGE_DIRS, beside):
        for suffix in IMAGE_SUFFIXES:
            for s in (suffix, suffix.upper()):
                image = _locate(layout, f"{stem}{s}" if d == "." else f"{d}/{stem}{s}", where)
                if image is not None:
                    return f"{stem}{s}", image
    return None, None


def _by_stem_in_images_dir(ctx: ReadContext, layout: Layout, stem: str,
                           where: str) -> tuple[str | None, str | None]:
    """find_by_stem for --images-dir: <stem>.<any image suffix> there (common.find_image)."""
    for suffix in IMAGE_SUFFIXES:
        for s in (suffix, suffix.upper()):
            image = common.find_image(ctx, layout.root, [f"{stem}{s}"], where=where)
            if image is not None:
                return f"{stem}{s}", image
    return None, None


def _locate(layout: Layout, rel: str, where: str) -> str | None:
    """os.path.abspath(root / rel) when that is a file inside the root, else None."""
    rel = clean_relative(rel, where=where)
    if not layout.files.has(rel, where=where):
        return None
    return join(layout.root_abs, rel)  # == abspath(root / rel): rel has no '.', '..', '//'


def image_record(xml: XmlFile, header: Header, layout: Layout,
                 ctx: ReadContext) -> Record | None:
    """The image of one annotation file: file name, file on disk, size, attrs."""
    where = xml.path
    rel_dir = xml.rel.rpartition("/")[0]
    beside = (rel_dir or ".") if xml.base == "." else \
        f"{xml.base}/{rel_dir}" if rel_dir else xml.base  # the file's folder, from the root
    layout.files.follow_links = ctx.follow_links  # --follow-links: links out are followed
    try:
        if header.filename and ctx.images_dir is not None:
            name = clean_relative(header.filename, where=where)
            file_name = f"{rel_dir}/{name}" if rel_dir and "/" not in name else name
            image = common.find_image(ctx, layout.root, [file_name], where=where)
        elif header.filename:
            file_name, image = find_image(layout, clean_relative(header.filename, where=where),
                                          rel_dir, beside, header.folder, where)
        elif ctx.images_dir is not None:
            file_name, image = _by_stem_in_images_dir(ctx, layout, without_suffix(xml.rel),
                                                      where)
        else:
            file_name, image = find_by_stem(layout, without_suffix(xml.rel), where, beside)
            if file_name is None:
                stem = without_suffix(xml.rel.rpartition("/")[2])
                ctx.fail(ParseError(f"{where}:{header.line}", "missing <filename> and no "
                                    f"image named {stem}.* found"))
                return None
    except UnsafeInputError as e:
        ctx.fail(e)
        return None
    if isinstance(header.size, ParseError):
        ctx.fail(header.size)
        return None
    width, height = header.size
    return Record(file_name, width, height, image, where, header.attrs, ignored=header.ignored)


def listed_image_record(image_id: str, where: str, layout: Layout,
                        ctx: ReadContext) -> Record | None:
    """A listed image without an annotation file: an image without objects."""
    try:
        file_name, image = (find_by_stem(layout, image_id, where, layout.annotations_rel)
                            if ctx.images_dir is None else
                            _by_stem_in_images_dir(ctx, layout, image_id, where))
    except UnsafeInputError as e:
        ctx.fail(e)
        return None
    if file_name is None:
        ctx.fail(MissingImageError(where, f"image {image_id!r} has neither "
                                   f"{layout.annotations_dir.name}/{image_id}.xml nor an "
                                   "image file"))
        return None
    return Record(file_name, 0, 0, image, where)
