"""YOLO text labels in the darknet layout (AlexeyAB/pjreddie darknet, CVAT "YOLO 1.1" exports).

    obj.data        classes = N / train = train.txt / valid = valid.txt / names = obj.names /
                    backup = backup/
    obj.names       one class name per line (line i = class index i)
    train.txt ...   one image path per line, relative to the darknet root (the folder holding
                    obj.data), e.g. data/obj/x.jpg or data/obj_train_data/x.jpg as CVAT writes
    x.txt           the labels beside each image, the same lines as the Ultralytics layout
                    (parsed and written by the YOLO kits, _yolo_lines and _yolo_layout)

Rules:
- Paths in obj.data and in the lists are tried as written, then without a leading `data/`
  (darknet runs from the folder above data/, CVAT and Datumaro export with that prefix but put
  the files at the root). Absolute paths and paths leaving the folder are refused.
- Splits: train -> "train", valid -> "val", test -> "test", any other key naming a .txt list ->
  that name. When train and valid name the same list the images are UNSPLIT (the writer does
  that for a dataset without splits). Without obj.data: *.names + train.txt/valid.txt/test.txt.
- file_name: the listed path without a leading `data/` and without its first folder
  (data/obj/a/b.jpg -> a/b.jpg, data/obj_train_data/x.jpg -> x.jpg).
- Category ids: darknet has class indices only; ids are index + 1 unless `visionflow.yaml` (a
  sidecar darknet, CVAT and Datumaro never read) keeps the real ids, the task and kpt_shape, as
  the Ultralytics writer does in data.yaml.
- Writer: CVAT's and Datumaro's "YOLO 1.1" layout, which both import: obj.names, obj.data,
  train.txt / valid.txt / test.txt / <split>.txt, images and labels in obj_<split>_data/
  (obj_train_data/ without splits), every path in obj.data and the lists written with the
  `data/` prefix (the export is meant to be darknet's data/ folder), visionflow.yaml.
"""

from __future__ import annotations

import re
from pathlib import Path

from ..core.dataset import Dataset
from ..core.errors import ParseError, UnsafeInputError
from ..core.images import UNSPLIT
from ..io.paths import clean_relative, resolve_inside
from ..io.safe_load import text_of
from . import common
from ._yolo_layout import (ImageEntry, dump_yaml, find_data_yaml, kpt_shape_from, listed_images,
                           load_yaml, merge_split_entries, read_names_file, resolve_listed,
                           sidecar_for,
                           stem_path, write_texts, yaml_task_keys)
from ._yolo_lines import SUPPORTS, assemble, choose_task, label_texts
from .base import Detection, Format, ReadContext, WriteContext
from .writing import placements

SIDECAR = "visionflow.yaml"
DATA_FILE = "obj.data"
# obj.data keys that are not image lists (darknet's and Datumaro's reserved keys).
_NOT_LISTS = {"classes", "names", "backup", "eval", "results", "top", "map", "labels"}
_SPLIT_OF_KEY = {"train": "train", "valid": "val", "val": "val", "test": "test"}
_KEY_OF_SPLIT = {"train": "train", "val": "valid", "test": "test"}
_LINE = re.compile(r"^\s*([^=#\s]+)\s*=\s*(.*?)\s*$")


# --- detect -------------------------------------------------------------------------------

def detect(path: Path) -> Detection | None:
    if path.is_file():
        if path.name.lower().endswith(".data") and _parse_data_quiet(path):
            return Detection("yolo-darknet", 0.9, (f"{path.name} is a darknet data file",))
        return None
    if not path.is_dir():
        return None
    yaml_too = find_data_yaml(path) is not None
    if (path / DATA_FILE).is_file() and _parse_data_quiet(path / DATA_FILE):
        reasons = [f"{DATA_FILE} (darknet data file)"]
        if yaml_too:
            return Detection("yolo-darknet", 0.5, (*reasons, "but an Ultralytics data yaml too"))
        return Detection("yolo-darknet", 0.9, tuple(reasons))
    names = sorted(path.glob("*.names"))
    lists = [n for n in ("train.txt", "valid.txt", "test.txt") if (path / n).is_file()]
    if names and lists and not yaml_too:
        return Detection("yolo-darknet", 0.8, (f"{names[0].name} and {lists[0]} image list",))
    return None


# --- read ---------------------------------------------------------------------------------

def read(path: Path, ctx: ReadContext) -> Dataset:
    common.refuse_images_dir(ctx, "yolo-darknet", "each label file lies beside its image; keep "
                             "the images in the dataset folder (a linked folder is followed "
                             "with --follow-links)")
    if path.is_file():
        root, data_file = path.parent, path
    else:
        root = path
        data_file = path / DATA_FILE if (path / DATA_FILE).is_file() else None
    config = _parse_data(data_file) if data_file is not None else {}
    where = str(data_file or root)

    names_rel = _find(root, config.get("names"), where) if config.get("names") else None
    if names_rel is None:
        names_rel = next((n for n in ("obj.names", "classes.txt") if (root / n).is_file()),
                         None) or next((p.name for p in sorted(root.glob("*.names"))), None)
    if names_rel is None:
        raise ParseError(where, "no class names file (names = ... in obj.data, obj.names or "
                         "*.names)")
    names = read_names_file(root / names_rel)
    classes = config.get("classes")
    if classes is not None and classes.isdigit() and int(classes) != len(names):
        ctx.report.add("warning", "yolo_darknet.classes_mismatch",
                       f"classes = {classes} but {names_rel} has {len(names)} names",
                       where=where)

    if data_file is not None:
        lists = [(key, value) for key, value in config.items() if key not in _NOT_LISTS]
    else:
        lists = [(k, f"{k}.txt") for k in ("train", "valid", "test")
                 if (root / f"{k}.txt").is_file()]
    if not lists:
        raise ParseError(where, "no image list (train = train.txt ...)")
    resolved: list[tuple[str, str]] = []  # (split key, list rel)
    for key, value in lists:
        rel = _find(root, value, f"{where}: {key}", ctx=ctx)
        if rel is None:
            if data_file is not None and not value.endswith(".txt"):
                continue  # some other setting (darknet has a few), not a list
            ctx.fail(ParseError(where, f"{key} = {value}: list file not found inside "
                                f"{root}"))
            continue
        resolved.append((key, rel))
    by_list: dict[str, list[str]] = {}
    for key, rel in resolved:
        by_list.setdefault(rel, []).append(key)
    found: list[ImageEntry] = []
    for rel, keys in by_list.items():
        split = _SPLIT_OF_KEY.get(keys[0], keys[0]) if len(keys) == 1 else UNSPLIT
        found += _list_images(root, rel, split, ctx)
    images = merge_split_entries(found)
    for img in images:
        img.label_rel = f"{stem_path(img.rel)}.txt"

    sidecar = load_yaml(root / SIDECAR) if (root / SIDECAR).is_file() else {}
    sidecar = sidecar if isinstance(sidecar, dict) else {}
    kpt_shape = kpt_shape_from(sidecar.get("kpt_shape"), root / SIDECAR)
    meta = {"flip_idx": sidecar["flip_idx"]} if sidecar.get("flip_idx") is not None else {}
    return assemble(root, images, names, ctx, sidecar=sidecar, kpt_shape=kpt_shape,
                    names_where=str(root / names_rel), extra_meta=meta,
                    meta_key="yolo_darknet")


def _parse_data(path: Path) -> dict[str, str]:
    try:
        text = text_of(path, "utf-8-sig")
    except (UnicodeDecodeError, OSError):
        raise ParseError(path, "darknet data file is not readable UTF-8 text") from None
    out: dict[str, str] = {}
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        m = _LINE.match(line)
        if m is None:
            raise ParseError(f"{path}:{n}", f"expected 'key = value', got \"{line.strip()}\"")
        out[m.group(1)] = m.group(2)
    return out


def _parse_data_quiet(path: Path) -> dict[str, str]:
    try:
        if path.stat().st_size > 1 << 20:
            return {}
        data = _parse_data(path)
    except (OSError, ParseError):
        return {}
    return data if "names" in data or "train" in data or "classes" in data else {}


def _find(root: Path, value: str, where: str, ctx: ReadContext | None = None) -> str | None:
    """A path from obj.data, as written or without `data/`; None when neither exists."""
    try:
        rel = resolve_listed(root, value, where, ("",))
        if not (root / rel).is_file() and rel.startswith("data/"):
            rel = rel[5:]
            resolve_inside(root, rel, where=where)
    except UnsafeInputError as e:
        if ctx is None:
            raise
        ctx.fail(e)
        return None
    return rel if (root / rel).is_file() else None


def _list_images(root: Path, list_rel: str, split: str, ctx: ReadContext) -> list[ImageEntry]:
    return [ImageEntry(rel, _file_name(entry), split, at, key=list_rel)
            for entry, rel, at in listed_images(root, list_rel, ("",), ctx, comments=True)]


def _file_name(entry: str) -> str:
    parts = [p for p in entry.replace("\\", "/").split("/") if p not in ("", ".")]
    if len(parts) > 1 and parts[0] == "data":
        parts = parts[1:]
    if len(parts) > 1:
        parts = parts[1:]
    return "/".join(parts)


# --- write --------------------------------------------------------------------------------

def write(ds: Dataset, out_dir: Path, ctx: WriteContext) -> None:
    task, kpt_shape = choose_task(ds, ctx)
    splits = [str(s) for s in ds.images.split]
    for s in set(splits) - {UNSPLIT}:
        clean_relative(s, where=f"split {s!r}")
    only_unsplit = set(splits) == {UNSPLIT}
    if not only_unsplit and UNSPLIT in splits:
        ctx.loss("splits.unsplit", splits.count(UNSPLIT), "images without a split beside "
                 "images with one (listed in train.txt)")
        splits = [s or "train" for s in splits]
    names = [clean_relative(str(f), where=f"image {f!r}") for f in ds.images.file_name]
    common.refuse_names(ds.categories.names, "class name", "obj.names (one name a line)",
                        padded=True)
    common.refuse_names(names, "image name", "train.txt / valid.txt (one path a line)",
                        padded=True)
    def folder(split: str) -> str:
        return f"obj_{split or 'train'}_data"  # CVAT's and Datumaro's layout

    dest, labels = placements(names, splits, image=lambda rel, s: f"{folder(s)}/{rel}",
                              label=lambda rel, s: f"{folder(s)}/{stem_path(rel)}.txt")
    for first, texts in label_texts(ds, task, kpt_shape, ctx):
        write_texts(out_dir, list(zip(labels[first:first + len(texts)], texts)))
    common.write_images(ds, lambda i: out_dir / dest[i], ctx)

    lines = [f"classes = {len(ds.categories)}"]
    for s in sorted(set(splits), key=_order):
        key = _KEY_OF_SPLIT.get(s, s) if s else "train"
        rows = [dest[i] for i in range(len(dest)) if splits[i] == s]
        (out_dir / f"{key}.txt").write_text("".join(f"data/{r}\n" for r in rows),
                                            encoding="utf-8")
        lines.append(f"{key} = data/{key}.txt")
    if only_unsplit:
        lines.append("valid = data/train.txt")  # train and valid on one list: no split
    lines += ["names = data/obj.names", "backup = backup/"]
    (out_dir / DATA_FILE).write_text("".join(f"{line}\n" for line in lines), encoding="utf-8")
    (out_dir / "obj.names").write_text("".join(f"{n}\n" for n in ds.categories.names),
                                       encoding="utf-8")
    side = sidecar_for(ds, task)
    side.update(yaml_task_keys(ds, task, kpt_shape))
    (out_dir / SIDECAR).write_text(dump_yaml(side), encoding="utf-8")


def _order(split: str) -> tuple[int, str]:
    known = ("train", "val", "test")
    return (known.index(split) if split in known else len(known), split)


FORMAT = Format(
    name="yolo-darknet",
    description="YOLO darknet layout: obj.data + obj.names + train.txt/valid.txt lists, labels "
                "beside the images (CVAT 'YOLO 1.1')",
    supports=SUPPORTS,
    detect=detect,
    read=read,
    write=write,
    aliases=("darknet",),
)
