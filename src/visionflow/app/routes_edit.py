"""Write routes: save edits as a new revision, create a workspace from an opened folder, and
rename or merge classes (web/API.md). Versions are never changed: every write is the next
revision of the open workspace source, through `Workspace.add_revision`.

A save carries, per edited image, the full new object list in the form the image detail
gives it (`GET /api/images/{id}`). Objects keep their `ann_id`: whatever the client did not
change of an existing object (fields equal to what the detail showed) is taken from the
stored row untouched, so a save changes exactly what the user edited, at full precision.
Everything that changes is checked (class exists, box finite and inside the image, polygon
rings of >= 3 points, ...) with one line naming the image and the object.

Two tabs (or two processes) saving from the same revision: the first wins, the second gets
409 with `current_revision` and nothing of the first is lost.
"""

from __future__ import annotations

import math
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool

from ..core.annotations import Annotations, Polygons, Polylines, object_array
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import UsageError
from .errors import Conflict

router = APIRouter()

TOL = 0.01                     # px a coordinate may pass the image border (client rounding)
MAX_IMAGES = 100_000           # per save
MAX_NAME = 200
FIELDS = ("class_id", "box", "polygon", "polyline", "keypoints", "obb", "rle", "score",
          "attrs")
COLUMN_ATTRS = ("iscrowd", "track_id")   # shown among the detail's attrs, stored as columns


class BadEdit(UsageError):
    """A save or class change the server refuses: 400, one line naming image and object."""


# -- routes -------------------------------------------------------------------------------------

@router.post("/api/save")
async def save(request: Request) -> Any:
    body = await _json_body(request)
    app = request.app
    return JSONResponse(await run_in_threadpool(save_edits, app.state.vf, body,
                                                app.state.save_lock))


@router.get("/api/classes")
def classes(request: Request) -> Any:
    return JSONResponse(class_table(request.app.state.vf))


@router.post("/api/classes")
async def change_classes(request: Request) -> Any:
    body = await _json_body(request)
    app = request.app
    return JSONResponse(await run_in_threadpool(edit_classes, app.state.vf, body,
                                                app.state.save_lock))


@router.post("/api/workspace")
async def make_workspace(request: Request) -> Any:
    body = await _json_body(request)
    app = request.app
    new_state = await run_in_threadpool(create_workspace, app.state.vf, body)
    old, app.state.vf = app.state.vf, new_state
    old.close()
    from .routes_browse import meta
    return meta(request)


# -- library functions the routes call ----------------------------------------------------------

def save_edits(state: Any, body: Any, lock: Any) -> dict:
    """Apply a save body (web/API.md, POST /api/save) to the open revision and record the
    result as the next revision of the workspace source; the app then shows it. Raises
    Conflict when the source moved on since `base_revision` (or the app is read-only),
    BadEdit for anything invalid, UnknownImage for an id not in the revision."""
    _need(body, dict, "the request body", "a JSON object")
    _writable(state)
    base = body.get("base_revision")
    images = body.get("images", [])
    new_classes = body.get("classes", [])
    _need(images, list, "images", "a list")
    _need(new_classes, list, "classes", "a list of class names")
    if len(images) > MAX_IMAGES:
        raise BadEdit(f"images: {len(images)} edited images in one save; at most {MAX_IMAGES}")
    with lock:
        ds = _base_dataset(state, base)
        new = apply_edits(ds, images, new_classes, state.image_id)
        return _commit(state, new, {"app": "save", "base": base,
                                    "images": len(images), "classes": list(new_classes)})


def edit_classes(state: Any, body: Any, lock: Any) -> dict:
    """Rename classes (`rename: {old: new}`, new must not exist) and merge classes
    (`merge: {from: into}`: objects of `from` become `into`, which keeps its id; `from` is
    removed) into the next revision."""
    _need(body, dict, "the request body", "a JSON object")
    _writable(state)
    rename = body.get("rename") or {}
    merge = body.get("merge") or {}
    for name, value in (("rename", rename), ("merge", merge)):
        if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                  for k, v in value.items()):
            raise BadEdit(f"{name}: expected an object of class name -> class name")
    if not rename and not merge:
        raise BadEdit("give rename: {old: new} and/or merge: {from: into}")
    with lock:
        ds = _base_dataset(state, body.get("base_revision"))
        new = rename_merge(ds, rename, merge)
        return _commit(state, new, {"app": "classes", "base": body.get("base_revision"),
                                    "rename": rename, "merge": merge})


def class_table(state: Any) -> dict:
    """Every class with its colour and objects per split (GET /api/classes)."""
    from ..viz.draw import category_color
    ds = state.dataset
    ann = ds.annotations
    splits = ds.images.splits()
    split_code = {s: i for i, s in enumerate(splits)}
    img_split = np.array([split_code[s] for s in ds.images.split.tolist()], np.int64)
    cats = list(ds.categories)
    position = {c.id: i for i, c in enumerate(cats)}
    cat_pos = np.array([position.get(int(c), len(cats)) for c in ann.category_id], np.int64)
    counts = np.zeros((len(cats) + 1, max(len(splits), 1)), np.int64)
    if len(ann):
        np.add.at(counts, (cat_pos, img_split[ann.image_index]), 1)
    images = np.zeros(len(cats) + 1, np.int64)
    if len(ann):
        pairs = np.unique(np.stack([cat_pos, ann.image_index]), axis=1)
        np.add.at(images, pairs[0], 1)
    out = [{"id": c.id, "name": c.name, "color": "#%02x%02x%02x" % category_color(i),
            "objects": int(counts[i].sum()), "images": int(images[i]),
            "per_split": {s: int(counts[i, j]) for j, s in enumerate(splits)}}
           for i, c in enumerate(cats)]
    return {"revision": state.revision, "read_only": state.read_only, "classes": out}


def create_workspace(state: Any, body: Any) -> Any:
    """Make a workspace at body["path"] with the opened folder as its first source (named
    body["source"], default: the folder's name) and return the AppState open on it. The
    path may not lie inside the folder (the source is never modified); a workspace already
    there is refused, and a failed import leaves nothing behind."""
    from ..io.paths import is_inside
    from ..versioning.workspace import DIR_NAME, Workspace
    from .state import AppState
    _need(body, dict, "the request body", "a JSON object")
    if state.kind != "folder":
        raise Conflict(f"{state.path} is already a workspace")
    raw = body.get("path")
    if not isinstance(raw, str) or not raw.strip():
        raise BadEdit("path: give the folder to make the workspace in")
    dest = Path(raw.strip()).expanduser()
    if not dest.is_absolute():
        raise BadEdit(f"path {raw[:200]!r}: give an absolute path")
    if is_inside(dest, state.path):
        raise BadEdit(f"path {str(dest)[:200]!r}: lies inside the dataset folder "
                      f"{state.path}, which is never modified; choose a folder outside it")
    name = body.get("source")
    if name is not None and not isinstance(name, str):
        raise BadEdit("source: the name of the new source (text), or leave it out")
    existed = dest.exists()
    ws = Workspace.init(dest)
    try:
        result = ws.add(state.path, name=name or None, errors="keep")
    except BaseException:
        ws.close()
        shutil.rmtree(dest / DIR_NAME, ignore_errors=True)     # only what we just made
        if not existed:
            try:
                dest.rmdir()
            except OSError:
                pass
        raise
    ws.close()
    return AppState.open(dest, source=result.source)


# -- building the edited dataset ----------------------------------------------------------------

def apply_edits(ds: Dataset, images: list, new_classes: list,
                image_id: Any = None) -> Dataset:
    """`ds` with each listed image's objects replaced by the given list (and its tags when
    given), plus the new classes. `image_id` checks a client id (default: a row of ds)."""
    cats = _add_classes(ds.categories, new_classes)
    by_name = {}
    for c in cats:
        by_name.setdefault(c.name, c.id)
    known = set(cats.ids)
    ann = ds.annotations
    im = ds.images
    order = np.argsort(ann.image_index, kind="stable")
    starts = np.searchsorted(ann.image_index[order], np.arange(len(im) + 1))
    next_id = int(ann.id.max()) + 1 if len(ann) else 1
    edited: dict[int, list[dict]] = {}
    tags: dict[int, list[str] | None] = {}
    for n, entry in enumerate(images):
        _need(entry, dict, f"images[{n}]", "an object with id, objects, tags")
        row = image_id(entry.get("id")) if image_id is not None else _row(entry.get("id"), im)
        where = f"image {row} ({im.file_name[row]})"
        if row in edited or row in tags:
            raise BadEdit(f"{where}: listed twice in one save")
        if "tags" in entry:
            tags[row] = _tags(entry["tags"], where)
        if "objects" not in entry:
            continue
        objs = entry["objects"]
        _need(objs, list, f"{where}: objects", "a list")
        rows = order[starts[row]:starts[row + 1]]
        by_ann_id = {int(ann.id[r]): int(r) for r in rows}
        used: set[int] = set()
        out = []
        for k, obj in enumerate(objs):
            owhere = f"{where}, object {k}"
            _need(obj, dict, owhere, "an object")
            src = None
            if obj.get("ann_id") is not None:
                aid = obj["ann_id"]
                if isinstance(aid, bool) or not isinstance(aid, int) or aid not in by_ann_id:
                    raise BadEdit(f"{owhere}: ann_id {str(aid)[:20]} is not an object of this "
                                  "image (leave ann_id out for a new object)")
                if aid in used:
                    raise BadEdit(f"{owhere}: ann_id {aid} is listed twice")
                used.add(aid)
                src = by_ann_id[aid]
            values = _object_values(ds, ann, src, obj, owhere, by_name, known,
                                    int(im.width[row]), int(im.height[row]))
            if src is None:
                values["id"] = next_id
                next_id += 1
            out.append(values)
        edited[row] = out
    if not edited and not tags and len(cats) == len(ds.categories):
        raise BadEdit("nothing to save: no edited images and no new classes")
    if edited:
        keep = ~np.isin(ann.image_index, np.fromiter(edited, np.int64, len(edited)))
        part = _annotations([(row, v) for row, objs in edited.items() for v in objs], ann)
        merged = Annotations.concat([ann[keep], part]) if len(part) else ann[keep]
        ann = merged[np.argsort(merged.image_index, kind="stable")]
    if tags:
        col = im.attr("tags").copy()
        for row, t in tags.items():
            col[row] = t
        attrs = dict(im.attrs)
        if "tags" in attrs or any(v is not None for v in col):
            attrs["tags"] = col
        im = im.replace(attrs=attrs)
    return ds.replace(images=im, annotations=ann, categories=cats)


def rename_merge(ds: Dataset, rename: dict[str, str], merge: dict[str, str]) -> Dataset:
    """Classes renamed and merged by name (see `edit_classes`)."""
    names = ds.categories.names
    for old, new in rename.items():
        if old not in names:
            raise BadEdit(f"rename: no class named {old!r} (classes: {', '.join(names)})")
        if not new.strip() or len(new) > MAX_NAME:
            raise BadEdit(f"rename {old!r}: the new name must be 1..{MAX_NAME} characters")
        if new in names and new != old:
            raise BadEdit(f"rename {old!r} -> {new!r}: class {new!r} exists; merge into it "
                          "instead")
    if len(set(rename.values())) != len(rename):
        raise BadEdit("rename: two classes would get the same name; use merge")
    for src, into in merge.items():
        if src not in names:
            raise BadEdit(f"merge: no class named {src!r} (classes: {', '.join(names)})")
        if into not in names:
            raise BadEdit(f"merge {src!r} -> {into!r}: no class named {into!r}; rename "
                          f"{src!r} instead")
        if into == src or into in merge or src in rename:
            raise BadEdit(f"merge {src!r} -> {into!r}: a class cannot be merged into itself, "
                          "into a merged class, or both renamed and merged")
    first = {}
    for c in ds.categories:
        first.setdefault(c.name, c.id)
    id_map = {}
    out = []
    for c in ds.categories:
        if c.name in merge:
            id_map[c.id] = first[merge[c.name]]
            continue
        new_name = rename.get(c.name, c.name)
        out.append(Category(c.id, new_name, c.supercategory, c.keypoints, c.skeleton))
    ann = ds.annotations
    if id_map and len(ann):
        old = np.array(sorted(id_map), np.int64)
        new = np.array([id_map[int(c)] for c in old], np.int64)
        hit = np.isin(ann.category_id, old)
        cid = ann.category_id.copy()
        cid[hit] = new[np.searchsorted(old, cid[hit])]
        ann = ann.replace(category_id=cid)
    return ds.replace(categories=Categories(out), annotations=ann)


# -- helpers ------------------------------------------------------------------------------------

async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as e:
        raise BadEdit(f"{request.url.path}: the request body is not valid JSON ({e})") from None


def _need(value: Any, kind: type, what: str, expected: str) -> None:
    if not isinstance(value, kind) or isinstance(value, bool) and kind is not bool:
        raise BadEdit(f"{what}: expected {expected}, got {_short(value)}")


def _short(v: Any) -> str:
    text = orjson.dumps(v, default=str).decode() if not isinstance(v, str) else repr(v)
    return text if len(text) <= 60 else text[:57] + "..."


def _writable(state: Any) -> None:
    if state.read_only:
        raise Conflict(f"{state.path} is a dataset folder, opened read-only: create a "
                       "workspace first (POST /api/workspace) to save edits",
                       state.revision)


def _current(state: Any) -> str:
    """The source's latest revision in the workspace database (another process may have
    saved since this app opened it)."""
    _, number, _ = state.workspace._revision(state.source)
    return f"{state.source}@{number}"


def _base_dataset(state: Any, base: Any) -> Dataset:
    """The open revision's dataset, after checking the client edited that revision and no
    one saved another since. Called under the app's save lock."""
    if not isinstance(base, str) or not base:
        raise BadEdit("base_revision: give the revision the edits were made on (from "
                      "/api/meta)")
    current = _current(state)
    if base != current:
        if state.revision != current:
            state.reload()
        raise Conflict(f"the source moved on to {current} since {base}; reload to see it, "
                       "then redo the edits", current)
    if state.revision != current:            # (defensive: the app lags the database)
        state.reload()
    return state.dataset


def _commit(state: Any, new: Dataset, origin: dict) -> dict:
    result = state.workspace.add_revision(state.source, new, origin)
    if not result.unchanged:
        state.reload(dataset=new)  # the index from what was just saved: nothing to decode
    return {"revision": f"{state.source}@{result.revision}", "unchanged": result.unchanged,
            "images": result.images, "objects": result.annotations,
            "classes": [{"id": c.id, "name": c.name} for c in new.categories]}


def _row(value: Any, im: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < len(im):
        raise BadEdit(f"image id {_short(value)}: no such image")
    return value


def _add_classes(cats: Categories, names: list) -> Categories:
    have = set(cats.names)
    next_id = max(cats.ids, default=0) + 1
    added = []
    for n, name in enumerate(names):
        if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
            raise BadEdit(f"classes[{n}]: a class name must be text of 1..{MAX_NAME} "
                          f"characters, got {_short(name)}")
        if name in have:
            continue                              # created in another tab already: reuse
        have.add(name)
        added.append(Category(next_id, name))
        next_id += 1
    return Categories([*cats, *added]) if added else cats


def _tags(value: Any, where: str) -> list[str] | None:
    _need(value, list, f"{where}: tags", "a list of text tags")
    out = []
    for t in value:
        if not isinstance(t, str) or not t.strip() or len(t) > MAX_NAME:
            raise BadEdit(f"{where}: tag {_short(t)} is not text of 1..{MAX_NAME} characters")
        if t not in out:
            out.append(t)
    return out or None


def _stored(ds: Dataset, ann: Annotations, r: int) -> dict:
    """Every column of annotation row r, absences spelled out."""
    return {
        "category_id": int(ann.category_id[r]), "id": int(ann.id[r]),
        "xyxy": ann.xyxy[r].copy(),
        "iscrowd": bool(ann.iscrowd[r]) if ann.iscrowd is not None else False,
        "score": float(ann.score[r]) if ann.score is not None else math.nan,
        "track_id": int(ann.track_id[r]) if ann.track_id is not None else -1,
        "rings": ann.polygons.rings(r) if ann.polygons is not None else [],
        "paths": ann.polylines.rings(r) if ann.polylines is not None else [],
        "rle": ann.rle[r] if ann.rle is not None else None,
        "keypoints": (ann.keypoints[r].copy() if ann.keypoints is not None
                      and not np.isnan(ann.keypoints[r]).all() else None),
        "obb": (ann.obb[r].copy() if ann.obb is not None and not np.isnan(ann.obb[r]).all()
                else None),
        "attrs": {k: c[r] for k, c in ann.attrs.items() if c[r] is not None},
    }


def _empty() -> dict:
    return {"category_id": None, "id": None, "xyxy": np.full(4, np.nan), "iscrowd": False,
            "score": math.nan, "track_id": -1, "rings": [], "paths": [], "rle": None,
            "keypoints": None, "obb": None, "attrs": {}}


def _object_values(ds: Dataset, ann: Annotations, src: int | None, obj: dict, where: str,
                   by_name: dict[str, int], known: set[int], w: int, h: int) -> dict:
    """The stored values of one object after the edit: the stored row's where the client
    sent what the detail shows for it, the client's (checked) where it changed."""
    from .routes_browse import _object
    shown = _object(ann, src) if src is not None else {}
    v = _stored(ds, ann, src) if src is not None else _empty()

    def changed(name: str) -> bool:
        return name in obj and (src is None or obj[name] != shown.get(name))

    if "class_name" in obj and obj.get("class_id") is None:
        name = obj["class_name"]
        if name not in by_name:
            raise BadEdit(f"{where}: no class named {_short(name)} (create it in the save's "
                          "classes list)")
        v["category_id"] = by_name[name]
    elif changed("class_id"):
        cid = obj["class_id"]
        if isinstance(cid, bool) or not isinstance(cid, int) or cid not in known:
            raise BadEdit(f"{where}: class id {_short(cid)} does not exist")
        v["category_id"] = cid
    if v["category_id"] is None:
        raise BadEdit(f"{where}: a new object needs class_id (or class_name)")
    ring_changed = changed("polygon")
    if ring_changed:
        v["rings"] = _rings(obj["polygon"], where, "polygon", 3, w, h)
    if changed("polyline"):
        v["paths"] = _rings(obj["polyline"], where, "polyline", 2, w, h)
    if changed("box"):
        box = obj["box"]
        if box is None:
            v["xyxy"] = np.full(4, np.nan)
        else:
            v["xyxy"] = _box(box, where, w, h)
    elif ring_changed and v["rings"]:
        pts = np.concatenate(v["rings"])
        v["xyxy"] = np.array([*pts.min(axis=0), *pts.max(axis=0)])   # the outline's bounds
    if changed("obb"):
        v["obb"] = _obb(obj["obb"], where, w, h)
    if changed("keypoints"):
        v["keypoints"] = _keypoints(obj["keypoints"], where, w, h)
    if changed("rle"):
        if obj["rle"] is not None:
            raise BadEdit(f"{where}: masks (rle) cannot be drawn here; draw a polygon, or "
                          "send rle: null to remove the mask")
        v["rle"] = None
    if changed("score"):
        s = obj["score"]
        if s is not None and (isinstance(s, bool) or not isinstance(s, (int, float))
                              or not math.isfinite(s)):
            raise BadEdit(f"{where}: score {_short(s)} is not a number")
        v["score"] = math.nan if s is None else float(s)
    if changed("attrs"):
        attrs = obj["attrs"]
        _need(attrs, dict, f"{where}: attrs", "an object")
        attrs = dict(attrs)
        crowd = attrs.pop("iscrowd", False)
        track = attrs.pop("track_id", -1)
        if not isinstance(crowd, bool):
            raise BadEdit(f"{where}: attrs.iscrowd must be true or false")
        if isinstance(track, bool) or not isinstance(track, int):
            raise BadEdit(f"{where}: attrs.track_id must be a whole number")
        if "tags" in attrs:
            attrs["tags"] = _tags(attrs["tags"], where)
        v["iscrowd"], v["track_id"] = crowd, track
        v["attrs"] = {k: x for k, x in attrs.items() if x is not None}
    xyxy = v["xyxy"]
    if np.isnan(xyxy).all() and (v["rings"] or v["obb"] is not None):
        raise BadEdit(f"{where}: an object with a polygon or oriented box needs its box")
    return v


def _number(x: Any) -> bool:
    return not isinstance(x, bool) and isinstance(x, (int, float)) and math.isfinite(x)


def _inside(xs: np.ndarray, ys: np.ndarray, w: int, h: int) -> bool:
    return bool((xs >= -TOL).all() and (ys >= -TOL).all() and (xs <= w + TOL).all()
                and (ys <= h + TOL).all())


def _box(box: Any, where: str, w: int, h: int) -> np.ndarray:
    if not isinstance(box, list) or len(box) != 4 or not all(_number(x) for x in box):
        raise BadEdit(f"{where}: box must be [x, y, width, height] of finite numbers, got "
                      f"{_short(box)}")
    x, y, bw, bh = (float(t) for t in box)
    if bw <= 0 or bh <= 0:
        raise BadEdit(f"{where}: box {_short(box)} has no area")
    if not _inside(np.array([x, x + bw]), np.array([y, y + bh]), w, h):
        raise BadEdit(f"{where}: box {_short(box)} is outside the {w}x{h} image")
    return np.array([x, y, x + bw, y + bh])


def _rings(value: Any, where: str, what: str, least: int, w: int, h: int) -> list:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BadEdit(f"{where}: {what} must be a list of rings [x, y, x, y, ...]")
    out = []
    for j, ring in enumerate(value):
        if (not isinstance(ring, list) or len(ring) % 2 or len(ring) < 2 * least
                or not all(_number(t) for t in ring)):
            raise BadEdit(f"{where}: {what} ring {j} must be >= {least} points [x, y, ...] of "
                          f"finite numbers, got {_short(ring)}")
        pts = np.asarray(ring, np.float64).reshape(-1, 2)
        if not _inside(pts[:, 0], pts[:, 1], w, h):
            raise BadEdit(f"{where}: {what} ring {j} leaves the {w}x{h} image")
        out.append(pts)
    return out


def _obb(value: Any, where: str, w: int, h: int) -> np.ndarray | None:
    if value is None:
        return None
    flat = [t for p in value for t in p] if isinstance(value, list) and value and \
        isinstance(value[0], list) else value
    if not isinstance(flat, list) or len(flat) != 8 or not all(_number(t) for t in flat):
        raise BadEdit(f"{where}: obb must be 4 corners [x1, y1, ..., x4, y4], got "
                      f"{_short(value)}")
    pts = np.asarray(flat, np.float64).reshape(4, 2)
    if not _inside(pts[:, 0], pts[:, 1], w, h):
        raise BadEdit(f"{where}: obb {_short(value)} leaves the {w}x{h} image")
    return pts


def _keypoints(value: Any, where: str, w: int, h: int) -> np.ndarray | None:
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(p, list) and len(p) == 3
                                              for p in value):
        raise BadEdit(f"{where}: keypoints must be a list of [x, y, v]")
    kp = np.full((len(value), 3), np.nan)
    for j, (x, y, vis) in enumerate(value):
        if x is None and y is None:
            continue
        if not (_number(x) and _number(y)) or (vis is not None and vis not in (0, 1, 2)):
            raise BadEdit(f"{where}: keypoint {j} {_short([x, y, vis])} must be [x, y, 0|1|2]")
        if not _inside(np.array([x]), np.array([y]), w, h):
            raise BadEdit(f"{where}: keypoint {j} ({x}, {y}) is outside the {w}x{h} image")
        kp[j] = (x, y, np.nan if vis is None else vis)
    return kp


def _annotations(items: list[tuple[int, dict]], like: Annotations) -> Annotations:
    """Annotation columns from per-object values; a column no object holds (and `like`
    lacks) stays absent."""
    n = len(items)
    if not n:
        return Annotations.empty()
    vals = [v for _, v in items]
    cols: dict[str, Any] = {}
    crowd = np.array([v["iscrowd"] for v in vals], bool)
    if like.iscrowd is not None or crowd.any():
        cols["iscrowd"] = crowd
    score = np.array([v["score"] for v in vals], np.float64)
    if like.score is not None or not np.isnan(score).all():
        cols["score"] = score
    track = np.array([v["track_id"] for v in vals], np.int64)
    if like.track_id is not None or (track >= 0).any():
        cols["track_id"] = track
    if like.polygons is not None or any(v["rings"] for v in vals):
        cols["polygons"] = Polygons.from_lists([v["rings"] for v in vals])
    if like.polylines is not None or any(v["paths"] for v in vals):
        cols["polylines"] = Polylines.from_lists([v["paths"] for v in vals])
    if like.rle is not None or any(v["rle"] is not None for v in vals):
        cols["rle"] = object_array([v["rle"] for v in vals])
    if like.keypoints is not None or any(v["keypoints"] is not None for v in vals):
        k = max([len(v["keypoints"]) for v in vals if v["keypoints"] is not None] +
                [like.keypoints.shape[1] if like.keypoints is not None else 0])
        kp = np.full((n, k, 3), np.nan)
        for i, v in enumerate(vals):
            if v["keypoints"] is not None:
                kp[i, :len(v["keypoints"])] = v["keypoints"]
        cols["keypoints"] = kp
    if like.obb is not None or any(v["obb"] is not None for v in vals):
        obb = np.full((n, 4, 2), np.nan)
        for i, v in enumerate(vals):
            if v["obb"] is not None:
                obb[i] = v["obb"]
        cols["obb"] = obb
    keys = list(dict.fromkeys([*like.attrs, *(k for v in vals for k in v["attrs"])]))
    cols["attrs"] = {k: object_array([v["attrs"].get(k) for v in vals]) for k in keys}
    return Annotations.build([row for row, _ in items], [v["category_id"] for v in vals],
                             np.stack([v["xyxy"] for v in vals]), id=[v["id"] for v in vals],
                             **cols)


__all__ = ["BadEdit", "apply_edits", "class_table", "create_workspace", "edit_classes",
           "rename_merge", "save_edits"]
