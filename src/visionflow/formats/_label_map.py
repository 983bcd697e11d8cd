"""The TF Object Detection API's label map (label_map.pbtxt: `item { id: 1 name: "cat" }`), a
kit of tfrecord.py and tf_csv.py, which both keep their classes in one: finding it beside
the data, reading it with lines for the errors, and writing it."""

from __future__ import annotations

import re
from pathlib import Path

from ..core.dataset import Dataset
from ..core.errors import ParseError
from ..io import tfrecord as tfr
from ..io.safe_load import text_of
from .base import ReadContext, WriteContext

LABEL_MAP = "label_map.pbtxt"
_LABEL_MAP_DIRS = ("training", "annotations", "data", "config", "configs", "label_maps")


def find_label_map(folder: Path, root: Path) -> Path | None:
    """label_map.pbtxt (else the only .pbtxt) beside the records, in the root or its
    subfolders, or in a folder named like a config folder beside the records' folder
    (raccoon: data/test.record + training/object-detection.pbtxt)."""
    candidates = [folder, root]
    try:
        candidates += sorted(d for d in root.iterdir() if d.is_dir()
                             and not d.name.startswith("."))
    except OSError:
        pass
    candidates += [folder.parent / name for name in _LABEL_MAP_DIRS
                   if (folder.parent / name).is_dir()]
    for d in dict.fromkeys(candidates):
        if (d / LABEL_MAP).is_file():
            return d / LABEL_MAP
        found = sorted(d.glob("*.pbtxt"))
        if len(found) == 1:
            return found[0]
        named = [p for p in found if "label" in p.name.lower()]
        if len(named) == 1:
            return named[0]
    return None


def read_label_map(p: Path, ctx: ReadContext,
                   out: dict[int, tuple[str, str]] | None = None) -> dict[int, tuple[str, str]]:
    """A TF OD label map's items as id -> (name, "file:line"), added to `out` in file order."""
    out = {} if out is None else out
    try:
        items = tfr.parse_text_proto(text_of(p, "utf-8-sig"))
    except (OSError, UnicodeDecodeError) as e:
        ctx.fail(ParseError(p, f"cannot read label map ({e.__class__.__name__})"))
        return out
    except ValueError as e:
        m = re.match(r"line (\d+): (.*)", str(e))
        ctx.fail(ParseError(f"{p}:{m.group(1)}" if m else p,
                            f"malformed label map: {m.group(2) if m else e}"))
        return out
    for key, item, line in items:
        if key != "item" or not isinstance(item, list):
            continue
        fields = {k: v for k, v, _ in item}
        where = f"{p}:{line}"
        cid, name = fields.get("id"), fields.get("name", fields.get("display_name"))
        if not isinstance(cid, int) or not isinstance(name, str):
            ctx.fail(ParseError(where, "label map item needs an integer id and a name, got "
                                f"id={cid!r} name={name!r}"))
            continue
        if cid in out and out[cid][0] != name:
            ctx.fail(ParseError(where, f"id {cid} is {name!r} here but {out[cid][0]!r} at "
                                f"{out[cid][1]}"))
            continue
        out.setdefault(cid, (name, where))
    return out


def label_ids(ds: Dataset, ctx: WriteContext) -> tuple[list[tuple[int, str]], dict[int, int]]:
    """(id, name) for the label map and category id -> label id; TF OD ids start at 1."""
    cats = list(ds.categories)
    if all(c.id >= 1 for c in cats):
        return [(c.id, c.name) for c in cats], {c.id: c.id for c in cats}
    ctx.loss("category_ids", len(cats), "category ids below 1 (the TF Object Detection API "
             "reserves 0 for the background; classes renumbered 1..N in order)")
    return ([(k, c.name) for k, c in enumerate(cats, 1)],
            {c.id: k for k, c in enumerate(cats, 1)})


def label_map_text(cats: list[tuple[int, str]]) -> str:
    return "\n".join(f"item {{\n  id: {cid}\n  name: {tfr.quote_text(name)}\n}}\n"
                     for cid, name in cats)
