"""Version routes: the list with lineage, diffs, the "generate version" wizard (preview and
create) and export (web/API.md).

Nothing here re-implements the library: a version is made by `Workspace.create_version`,
the call `visionflow version create` makes, so the same recipe and seed give the same
version; the preview runs the recipe's own engine (`transforms.run`) on a few images, after
the recipe's split of the whole dataset, so a sample shows exactly what the version will
hold for that image; an export is `Workspace.export` / `api.write` into a temporary folder,
zipped, streamed and removed.
"""

from __future__ import annotations

import base64
import dataclasses
import io
import re
import shlex
import shutil
import tempfile
import zipfile
from collections import OrderedDict
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import numpy as np
import orjson
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse
from starlette.background import BackgroundTask
from starlette.concurrency import run_in_threadpool

from ..core.errors import Error, UsageError
from .errors import NotFound

router = APIRouter()

PREVIEW_DEFAULT, PREVIEW_MAX = 6, 24
PREVIEW_SIDE = 512
DIFF_LIMIT = 1000
_RECIPE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,100}\.(ya?ml|json)$")
COUNT_CHANGING = ("tile", "isolate_objects", "filter_empty", "filter_images")
_STORED = (".jpg", ".jpeg", ".png", ".webp", ".gif", ".zip", ".gz", ".tfrecord")
_splits: OrderedDict = OrderedDict()      # (revision, split spec, seed) -> split dataset


class BadRequest(UsageError):
    """A versions/export request the server refuses: 400 with one line."""


# -- routes -------------------------------------------------------------------------------------

@router.get("/api/versions")
def versions(request: Request) -> Any:
    return JSONResponse(list_versions(request.app.state.vf))


@router.get("/api/versions/diff")
def versions_diff(request: Request, a: str = "", b: str = "", limit: int = DIFF_LIMIT) -> Any:
    return JSONResponse(diff_versions(request.app.state.vf, a, b, limit))


@router.post("/api/versions")
async def versions_create(request: Request) -> Any:
    body = await _json_body(request)
    app = request.app
    return JSONResponse(await run_in_threadpool(create_version, app.state.vf, body,
                                                app.state.save_lock))


@router.post("/api/versions/preview")
async def versions_preview(request: Request) -> Any:
    body = await _json_body(request)
    return JSONResponse(await run_in_threadpool(preview, request.app.state.vf, body))


@router.post("/api/export")
async def export_zip(request: Request) -> Any:
    body = await _json_body(request)
    zip_path, name = await run_in_threadpool(export, request.app.state.vf, body)
    return FileResponse(zip_path, media_type="application/zip", filename=name,
                        headers={"cache-control": "no-store"},
                        background=BackgroundTask(shutil.rmtree, zip_path.parent, True))


@router.get("/api/export/command")
def export_command_route(request: Request, ref: str = "", format: str = "") -> Any:
    options = request.query_params.getlist("option")
    return JSONResponse({"command": export_command(request.app.state.vf, ref, format,
                                                   options)})


# -- library functions the routes call ----------------------------------------------------------

def list_versions(state: Any) -> dict:
    """Versions (oldest first) with their lineage, and the sources with their revisions."""
    if state.workspace is None:
        return {"kind": state.kind, "read_only": True, "versions": [], "sources": [],
                "revision": state.revision}
    ws = state.workspace
    out = []
    for v in ws.versions():
        lineage = ws.version(v["name"])["lineage"]
        recipe = lineage.get("recipe") or None
        out.append({**v, "lineage": {
            "sources": lineage["sources"], "seed": lineage["seed"],
            "recipe": None if recipe is None else {"file": recipe.get("file"),
                                                   "text": recipe.get("text"),
                                                   "sha256": recipe.get("sha256")},
            "visionflow_version": lineage.get("visionflow_version"),
            "fingerprint": lineage.get("fingerprint"), "notes": lineage.get("notes", [])}})
    return {"kind": state.kind, "read_only": False, "revision": state.revision,
            "versions": out, "sources": ws.sources()}


def diff_versions(state: Any, a: str, b: str, limit: int = DIFF_LIMIT) -> dict:
    """`Workspace.diff(a, b)` (versions or SOURCE@N) with the changed images' ids in the open
    revision (null for an image it does not hold)."""
    ws = _workspace(state)
    if not a or not b:
        raise BadRequest("give a= and b= (version names, or SOURCE@N)")
    if not 1 <= limit <= 100_000:
        raise BadRequest(f"limit={limit}: must be 1..100000")
    for ref in (a, b):
        _resolve(ws, ref)
    d = ws.diff(a, b)
    out = d.to_dict(limit=limit)
    ids = _ids_by_key(state)
    for kind in ("images_added", "images_removed", "images_changed", "images_reannotated"):
        out[kind] = [{"image": k, "id": ids.get(k)} for k in out[kind]]
    out["changed_ids"] = sorted({ids[k] for k in (d.images_added + d.images_changed +
                                                  d.images_reannotated)[:limit * 3]
                                 if k in ids})
    return out


def create_version(state: Any, body: Any, lock: Any) -> dict:
    """A version from body {name, recipe (YAML text, or an object), seed, sources,
    recipe_name}, made by `Workspace.create_version` as `visionflow version create` does.
    The recipe is kept in the lineage under `recipe_name` (default recipe.yaml/.json)."""
    ws = _workspace(state)
    body = _object(body)
    name = body.get("name")
    if not isinstance(name, str) or not name:
        raise BadRequest("name: give the new version's name")
    seed = _seed(body.get("seed", 0))
    sources = body.get("sources")
    if sources is not None and (not isinstance(sources, list)
                                or not all(isinstance(s, str) for s in sources)):
        raise BadRequest("sources: expected a list of SOURCE or SOURCE@N")
    with tempfile.TemporaryDirectory(prefix="visionflow-recipe-") as tmp:
        recipe_file = _recipe_file(body, Path(tmp))
        with lock:
            return ws.create_version(name, recipe=recipe_file, seed=seed, sources=sources)


def preview(state: Any, body: Any) -> dict:
    """A few images as the recipe (with seed) turns them out, drawn with their annotations
    (data-URI JPEGs), and how many images the whole version would hold."""
    from ..transforms import Recipe
    from ..transforms.engine import make_plan, run
    body = _object(body)
    seed = _seed(body.get("seed", 0))
    n = body.get("n", PREVIEW_DEFAULT)
    if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= PREVIEW_MAX:
        raise BadRequest(f"n: must be 1..{PREVIEW_MAX}, got {str(n)[:20]}")
    recipe = Recipe.load(_recipe_data(body.get("recipe")))
    ds = _split(state, recipe, seed)
    plan = make_plan(ds, recipe, seed)
    exact, total = _count(ds, recipe, plan)
    rows = _preview_rows(ds, plan, n, seed)
    one = dataclasses.replace(recipe, split=None)          # the split is already made
    samples, info = [], []
    with tempfile.TemporaryDirectory(prefix="visionflow-preview-") as tmp:
        out = run(ds.select_images(rows), one, Path(tmp) / "out", seed=seed, workers=1)
        if not exact and len(rows):
            expected = _count(ds.select_images(rows), recipe, make_plan(
                ds.select_images(rows), one, seed))[1]
            total = int(round(total * len(out.images) / max(expected, 1)))
        for r in range(min(n, len(out.images))):
            samples.append(_data_uri(out, r))
            info.append({"file": out.images.file_name[r], "split": out.images.split[r],
                         "width": int(out.images.width[r]), "height": int(out.images.height[r]),
                         "objects": int((out.annotations.image_index == r).sum())})
    return {"input_images": len(ds.images), "output_images": total, "exact": exact,
            "samples": samples, "sample_info": info, "revision": state.revision}


def export(state: Any, body: Any) -> tuple[Path, str]:
    """Write body {ref, format, options, filter, images} to a temporary folder and zip it;
    returns (zip path, download name). The caller removes zip_path.parent when sent.
    ref: a version or SOURCE@N (default: the open revision); filter: the grid's filter
    (a query string or an object), on the open revision only."""
    from .. import api
    from ..formats import registry
    body = _object(body)
    fmt = body.get("format")
    if not isinstance(fmt, str) or not fmt:
        raise BadRequest("format: give the format to export to (e.g. coco, yolo, voc)")
    registry.get(fmt)                                       # unknown: one line, 400
    options = body.get("options") or {}
    if not isinstance(options, dict) or not all(isinstance(k, str) for k in options):
        raise BadRequest("options: expected an object of writer option -> value")
    images = body.get("images", "copy")
    if images not in ("copy", "none"):
        raise BadRequest("images: 'copy' (default) or 'none' (annotations only)")
    ref = body.get("ref") or state.revision
    if not isinstance(ref, str):
        raise BadRequest("ref: a version name or SOURCE@N")
    flt = _filter(body.get("filter"))
    tmp = Path(tempfile.mkdtemp(prefix="visionflow-export-"))
    try:
        dest = tmp / "export"
        if ref != state.revision and flt is not None:
            raise BadRequest(f"filter: applies to the open revision {state.revision} only, "
                             f"not to {ref}")
        if ref != state.revision or (state.workspace is not None and flt is None):
            ws = _workspace(state)
            _resolve(ws, ref)
            ws.export(ref, dest, fmt, images=images, **options)
        else:
            ds = state.dataset
            if flt is not None:
                index = state.index
                if index.n != len(ds.images):
                    raise Error("the app is switching revisions; try again")
                ds = ds.select_images(index.mask(flt))
            api.write(ds, dest, fmt, images=images, **options)
        label = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{state.path.name}-{ref}-{fmt}").strip("-")
        zip_path = tmp / f"{label}.zip"
        _zip(dest, zip_path)
        shutil.rmtree(dest, ignore_errors=True)
        return zip_path, zip_path.name
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def export_command(state: Any, ref: str, fmt: str, options: list[str] | None = None) -> str:
    """The CLI line that writes the same export."""
    from ..formats import registry
    if not fmt:
        raise BadRequest("format: give the format to export to")
    registry.get(fmt)
    opts = "".join(f" -O {shlex.quote(o)}" for o in options or [])
    if state.workspace is None:
        out = f"{state.path.name}-{fmt}"
        return (f"visionflow convert {shlex.quote(str(state.path))} {shlex.quote(out)} "
                f"--to {shlex.quote(fmt)}{opts}")
    ref = ref or state.revision
    _resolve(state.workspace, ref)
    out = re.sub(r"[^A-Za-z0-9._-]+", "-", f"{ref}-{fmt}")
    return (f"visionflow version export {shlex.quote(ref)} {shlex.quote(out)} --to "
            f"{shlex.quote(fmt)}{opts} --workspace {shlex.quote(str(state.workspace.root))}")


# -- helpers ------------------------------------------------------------------------------------

async def _json_body(request: Request) -> Any:
    raw = await request.body()
    try:
        return orjson.loads(raw) if raw else {}
    except orjson.JSONDecodeError as e:
        raise BadRequest(f"{request.url.path}: the request body is not valid JSON ({e})"
                         ) from None


def _object(body: Any) -> dict:
    if not isinstance(body, dict):
        raise BadRequest("the request body must be a JSON object")
    return body


def _workspace(state: Any) -> Any:
    if state.workspace is None:
        from .errors import Conflict
        raise Conflict(f"{state.path} is a dataset folder: versions need a workspace "
                       "(create one first)", state.revision)
    return state.workspace


def _resolve(ws: Any, ref: str) -> None:
    """404 for a version or revision that does not exist."""
    try:
        ws._snapshot_id(ref)
    except Error as e:
        raise NotFound(str(e)) from None


def _seed(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < 2**63:
        raise BadRequest(f"seed: a whole number >= 0, got {str(value)[:20]}")
    return value


def _recipe_data(recipe: Any) -> Any:
    """The recipe as parsed data: YAML text (parsed safely) or an object."""
    from ..io.safe_load import parse_yaml
    if isinstance(recipe, str):
        try:
            data = parse_yaml(recipe, "recipe")
        except Exception as e:  # noqa: BLE001 - yaml's errors: one line
            if isinstance(e, Error):
                raise
            raise BadRequest(f"recipe: not valid YAML ({str(e).splitlines()[0]})") from None
        return data if data is not None else {}
    if isinstance(recipe, dict):
        return recipe
    raise BadRequest("recipe: give the recipe as YAML text or as an object")


def _recipe_file(body: dict, folder: Path) -> Path | None:
    """The request's recipe as a file, as the CLI would be given it (None: no recipe)."""
    recipe = body.get("recipe")
    if recipe is None or recipe == "" or recipe == {}:
        return None
    _recipe_data(recipe)                                    # a clear error before the lock
    name = body.get("recipe_name") or ("recipe.yaml" if isinstance(recipe, str)
                                       else "recipe.json")
    if not isinstance(name, str) or not _RECIPE_NAME.match(name):
        raise BadRequest("recipe_name: a file name ending in .yaml, .yml or .json")
    text = recipe if isinstance(recipe, str) else orjson.dumps(
        recipe, option=orjson.OPT_INDENT_2).decode()
    if isinstance(recipe, dict) and not name.endswith(".json"):
        raise BadRequest("recipe_name: an object recipe is stored as .json")
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _split(state: Any, recipe: Any, seed: int) -> Any:
    """The open revision after the recipe's split (cached: a split reads every image's
    hash for near-duplicates)."""
    ds = state.dataset
    if recipe.split is None:
        return ds
    from ..transforms.split import split as split_fn
    key = (state.revision, recipe.split.ratios, recipe.split.stratify, seed)
    hit = _splits.get(key)
    if hit is None:
        hit = split_fn(ds, recipe.split.ratios, seed=seed, stratify=recipe.split.stratify)
        _splits[key] = hit
        while len(_splits) > 4:
            _splits.popitem(last=False)
    return hit


def _count(ds: Any, recipe: Any, plan: Any) -> tuple[bool, int]:
    """(exact, images the recipe outputs): exact when every step keeps one image per
    image; otherwise the caller scales by what the sampled images gave."""
    n = len(ds.images)
    aug = recipe.augment
    n_aug = int(np.isin(ds.images.split, plan.augment_splits).sum()) if aug else 0
    per = (aug.copies + (1 if aug.keep_original else 0)) if aug else 1
    exact = not any(op.name in COUNT_CHANGING for op in recipe.ops())
    return exact, (n - n_aug) + n_aug * per


def _preview_rows(ds: Any, plan: Any, n: int, seed: int) -> np.ndarray:
    """n images to show, picked with the seed; augmented ones first when there are any."""
    rng = np.random.default_rng(seed)
    rows = np.arange(len(ds.images))
    if plan.recipe.augment is not None:
        aug = rows[np.isin(ds.images.split, plan.augment_splits)]
        if len(aug):
            rows = aug
    rows = rows[ds.images.path[rows] != None]  # noqa: E711 - object array compare
    if not len(rows):
        raise BadRequest("no image of the dataset has a file to preview")
    return np.sort(rng.choice(rows, size=min(n, len(rows)), replace=False))


def _data_uri(ds: Any, row: int) -> str:
    from ..viz.draw import draw_image
    image = draw_image(ds, row)
    image.thumbnail((PREVIEW_SIDE, PREVIEW_SIDE))
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=85)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _filter(value: Any) -> Any:
    """The grid's filter from a query string ("class=a&split=train") or an object
    ({"class": "a", "split": ["train", "val"]}); None when empty."""
    from .index import Filter
    if value in (None, "", {}):
        return None
    if isinstance(value, str):
        pairs = parse_qsl(value.lstrip("?"), keep_blank_values=True)
    elif isinstance(value, dict):
        pairs = []
        for k, v in value.items():
            for x in v if isinstance(v, list) else [v]:
                pairs.append((str(k), str(x)))
    else:
        raise BadRequest("filter: a query string or an object")
    flt = Filter.parse(pairs, ignore=("offset", "limit", "token"))
    return flt if flt.clauses or flt.pred or flt.similar is not None else None


def _ids_by_key(state: Any) -> dict[str, int]:
    """'split/file_name' (as diffs name images) -> image id in the open revision."""
    index = state.index
    ds = state.dataset
    if len(ds.images) != index.n:
        return {}
    return {(f"{s}/{f}" if s else f): i for i, (s, f) in
            enumerate(zip(ds.images.split.tolist(), ds.images.file_name.tolist()))}


def _zip(folder: Path, dest: Path) -> None:
    """folder's files into dest (images stored, the rest deflated), streamed from disk."""
    with zipfile.ZipFile(dest, "w", allowZip64=True) as zf:
        for path in sorted(p for p in folder.rglob("*")
                           if p.is_file() and not p.name.startswith(".visionflow")):
            kind = (zipfile.ZIP_STORED if path.suffix.lower() in _STORED
                    else zipfile.ZIP_DEFLATED)
            zf.write(path, path.relative_to(folder).as_posix(), compress_type=kind)


__all__ = ["create_version", "diff_versions", "export", "export_command", "list_versions",
           "preview"]
