"""YOLO's layout, a kit of yolo.py and yolo_darknet.py: the data yaml (finding, loading,
names, splits, the visionflow sidecar), image lists and folders, where an image's label file
is, and writing the label files."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..core.dataset import Dataset
from ..core.errors import Error, ParseError, UnsafeInputError
from ..core.images import UNSPLIT
from ..io.images import is_image_file
from ..io.paths import clean_relative, resolve_inside
from ..io.safe_load import text_of
from ..io.safe_load import load_yaml as safe_yaml
from . import common
from .base import ReadContext


SPLIT_KEYS = ("train", "val", "test")
# Other yaml keys Ultralytics treats as image sources.
_EXTRA_SPLIT_KEYS = ("minival",)
_SPLIT_ALIASES = {"valid": "val", "validation": "val"}
NAMES_FILES = ("classes.txt", "obj.names")
SIDECAR_KEY = "visionflow"
_DRIVE = re.compile(r"^[A-Za-z]:")


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


def _list_of(value: Any, n: int) -> list:
    return list(value) if isinstance(value, list) and len(value) == n else [None] * n


def _stem(name: str) -> str:
    return name.rsplit(".", 1)[0] if "." in name else name


def load_yaml(path: Path) -> Any:
    """data.yaml and the sidecar: io.safe_load's bounded loader (alias bombs, binary files and
    links leading out of the dataset refused; malformed YAML is a ParseError with its line)."""
    return safe_yaml(path)


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
    return [ImageEntry(rel, _listed_file_name(rel, split), split, at, key=split)
            for _, rel, at in listed_images(root, list_rel, (os.path.dirname(list_rel), ""),
                                            ctx)]


def listed_images(root: Path, list_rel: str, bases: Sequence[str], ctx: ReadContext, *,
                  comments: bool = False) -> Iterator[tuple[str, str, str]]:
    """(entry as written, path relative to root, where) per line of the image list
    root/list_rel (shared by the YOLO and darknet readers), each resolved by `resolve_listed`
    against `bases`; blank lines (and '#' lines with `comments`) are passed over. An
    unreadable list, or a line naming a path outside the dataset, is a ctx.fail."""
    list_path = root / list_rel
    try:
        text = text_of(list_path, "utf-8-sig")
    except (UnicodeDecodeError, OSError):
        ctx.fail(ParseError(list_path, "image list is not a readable UTF-8 text file"))
        return
    for n, line in enumerate(text.splitlines(), 1):
        entry = line.strip()
        if not entry or comments and entry.startswith("#"):
            continue
        at = f"{list_path}:{n}"
        try:
            rel = resolve_listed(root, entry, at, bases, ctx.follow_links)
        except UnsafeInputError as e:
            ctx.fail(e)
            continue
        yield entry, rel, at


def resolve_listed(root: Path, entry: str, where: str, bases: Sequence[str],
                   follow_links: bool = False) -> str:
    """A path named in an image list, relative to the first base where it exists (shared by
    the YOLO and darknet readers). A path found only without a leading `data/` (CVAT writes
    lists relative to the folder above the dataset) is taken without it."""
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
    rel = next((r for r in rels if (root / r).exists()), None)
    bare = posix.removeprefix("./")
    if rel is None and bare.startswith("data/"):
        return resolve_listed(root, bare[5:], where, bases, follow_links)
    rel = rel or rels[0]
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


def yaml_task_keys(ds: Dataset, task: str, kpt_shape: tuple[int, int] | None) -> dict:
    if task != "pose":
        return {}
    out: dict[str, Any] = {"kpt_shape": list(kpt_shape)}
    meta = ds.meta.get("yolo") or ds.meta.get("yolo_darknet") or {}
    flip = meta.get("flip_idx")
    if not (isinstance(flip, list) and sorted(flip) == list(range(kpt_shape[0]))):
        flip = ds.meta.get("flip_idx")  # a pose model's (autolabel), as transforms read it
    if not (isinstance(flip, (list, tuple)) and sorted(flip) == list(range(kpt_shape[0]))):
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


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(list, lambda d, v: d.represent_sequence(
    "tag:yaml.org,2002:seq", v, flow_style=True))


def stem_path(rel: str) -> str:
    head, _, tail = rel.rpartition("/")
    return f"{head}/{_stem(tail)}" if head else _stem(tail)


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
