"""Read-only routes: meta, the filtered grid, facets, one image's detail, thumbnails, image
files and the health report (web/API.md). The state is `request.app.state.vf` (an AppState).

Images are addressed by their row id in the open revision, checked here; a path never comes
from the client. Errors are `{"error": "<one line>"}`: 400 for a bad filter or parameter, 404
for an unknown id, 409 for data still being computed.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, JSONResponse, Response

from ..core.errors import Error
from .index import Filter, FilterError, NotReady
from .state import AppState, UnknownImage

router = APIRouter()

PAGE_DEFAULT, PAGE_MAX = 200, 1000
FINDINGS_DEFAULT, FINDINGS_MAX = 1000, 100_000
NOT_FILTERS = ("offset", "limit", "size", "rev", "token")
FOREVER = "private, max-age=31536000, immutable"


def _state(request: Request) -> AppState:
    return request.app.state.vf


def _error(e: Exception) -> JSONResponse:
    status = (404 if isinstance(e, UnknownImage) else 409 if isinstance(e, NotReady)
              else 400)
    return JSONResponse({"error": str(e).splitlines()[0] if str(e) else type(e).__name__},
                        status_code=status)


def _answer(make: Callable[[], Any]) -> Any:
    """Run a route body; visionflow errors become {"error": ...} with their status."""
    try:
        out = make()
    except Error as e:
        return _error(e)
    return out if isinstance(out, Response) else JSONResponse(out)


def _filter(request: Request) -> Filter:
    return Filter.parse(request.query_params.multi_items(), ignore=NOT_FILTERS)


def _int_param(request: Request, name: str, default: int, lo: int, hi: int) -> int:
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        return default
    try:
        v = int(raw)
    except ValueError:
        raise FilterError(f"{name}={raw[:20]!r} is not an integer") from None
    if not lo <= v <= hi:
        raise FilterError(f"{name}={v}: must be {lo}..{hi}")
    return v


def _caching(request: Request, state: AppState) -> str:
    """Forever when the URL names the open revision (?rev=): the id then always means the
    same pixels; otherwise revalidate (ids change meaning across revisions)."""
    return FOREVER if request.query_params.get("rev") == state.revision else "no-cache"


# -- routes -------------------------------------------------------------------------------------

@router.get("/api/meta")
def meta(request: Request) -> Any:
    def body() -> dict:
        from ..viz.draw import category_color
        s = _state(request)
        idx = s.index
        classes = [{"id": cid, "name": name, "color": _hex(category_color(i))}
                   for i, (cid, name) in enumerate(zip(idx.category_ids, idx.category_names))]
        return {"name": s.path.name, "path": str(s.path), "kind": s.kind,
                "read_only": s.read_only, "source": s.source, "revision": s.revision,
                "classes": classes, "splits": idx.split_names, "images": idx.n,
                "objects": int(len(idx.obj_image)), "findings_ready": s.findings_ready,
                "loaded": s.loaded, "error": s.error, "notes": s.notes,
                "predictions": sorted(idx.predictions),
                "embeddings": idx.similarity is not None,
                "duplicates": idx.duplicates is not None, "sam": s.sam}
    return _answer(body)


@router.get("/api/images")
def images(request: Request) -> Any:
    def body() -> dict:
        s = _state(request)
        idx = s.index
        flt = _filter(request)
        offset = _int_param(request, "offset", 0, 0, 2**62)
        limit = _int_param(request, "limit", PAGE_DEFAULT, 1, PAGE_MAX)
        ids = idx.select(flt)
        return {"total": int(len(ids)), "offset": offset, "revision": idx.revision,
                "items": idx.page(ids[offset:offset + limit])}
    return _answer(body)


@router.get("/api/facets")
def facets(request: Request) -> Any:
    return _answer(lambda: {**_state(request).index.facets(_filter(request)),
                            "revision": _state(request).index.revision})


@router.get("/api/images/{image_id}")
def image_detail(request: Request, image_id: str) -> Any:
    def body() -> dict:
        s = _state(request)
        idx = s.index
        i = s.image_id(image_id)
        flt = _filter(request)
        ds = s.dataset
        if s.dataset_revision != idx.revision:
            raise NotReady(f"the app is switching to revision {s.revision}; try again")
        view = ds[i]
        objects = [_object(view.annotations, k) for k in range(len(view.annotations))]
        predictions: dict[str, list] = {}
        for name, (pa, outcome, missed) in list(s.prediction_objects.items()):
            rows = np.flatnonzero(pa.image_index == i)
            predictions[name] = [{**_object(pa, int(r)), "outcome": outcome[r] or None}
                                 for r in rows.tolist()]
            gt_rows = np.flatnonzero(ds.annotations.image_index == i)
            for k, r in enumerate(gt_rows.tolist()):
                if missed[r]:
                    objects[k].setdefault("missed_by", []).append(name)
        ids = idx.select(flt)
        prev, nxt = _neighbours(ids, i, ordered=flt.similar is None)
        dups: list[int] = []
        if idx.duplicates is not None and idx.duplicates[i] >= 0:
            dups = [int(j) for j in np.flatnonzero(idx.duplicates == idx.duplicates[i])
                    if j != i]
        return {"id": i, "file": view.file_name, "split": view.split,
                "width": int(ds.images.width[i]), "height": int(ds.images.height[i]),
                "tags": _tags(ds.images.attr("tags")[i]),
                "attrs": {k: _json(v[i]) for k, v in ds.images.attrs.items()
                          if k != "tags" and v[i] is not None},
                "objects": objects, "findings": s.findings_by_image.get(i, []),
                "findings_ready": s.findings_ready, "predictions": predictions,
                "duplicates": dups, "prev": prev, "next": nxt, "revision": s.revision}
    return _answer(body)


@router.get("/api/images/{image_id}/thumb")
def image_thumb(request: Request, image_id: str) -> Any:
    def body() -> Response:
        from .thumbs import thumb_side, thumbnail
        s = _state(request)
        i = s.image_id(image_id)
        data, etag = thumbnail(s, i, thumb_side(request.query_params.get("size")))
        headers = {"ETag": etag, "Cache-Control": _caching(request, s)}
        if request.headers.get("if-none-match") == etag:
            return Response(status_code=304, headers=headers)
        return Response(data, media_type="image/jpeg", headers=headers)
    return _answer(body)


@router.get("/api/images/{image_id}/file")
def image_file(request: Request, image_id: str) -> Any:
    def body() -> Response:
        s = _state(request)
        path = s.image_path(image_id)
        if not path.is_file():
            raise UnknownImage(f"image {image_id}: its file {path.name} is missing")
        return FileResponse(path, headers={"Cache-Control": _caching(request, s)},
                            media_type=_media_type(path.name, s.index.file_name[int(image_id)]))
    return _answer(body)


@router.get("/api/health")
def health(request: Request) -> Any:
    """The check report: counts per code (with severity and how many images), the findings
    (at most `limit`, errors first) with their image ids, and the statistics."""
    def body() -> dict:
        s = _state(request)
        limit = _int_param(request, "limit", FINDINGS_DEFAULT, 0, FINDINGS_MAX)
        report = s.findings
        if report is None:
            return {"ready": False, "revision": s.revision, "error": s.error}
        findings = [{"code": f["code"], "severity": f["severity"], "message": f["message"],
                     "image_id": f.get("image_row"), "where": f.get("where")}
                    for f in report["findings"][:limit]]
        codes = _code_summary(report)
        summary = {sev: sum(c["count"] for c in codes if c["severity"] == sev)
                   for sev in ("error", "warning", "info")}
        return {"ready": True, "revision": report["revision"], "summary": summary,
                "codes": codes, "total": len(report["findings"]), "findings": findings,
                "statistics": report["statistics"]}
    return _answer(body)


def _code_summary(report: dict) -> list[dict]:
    """Per finding code: severity, findings and distinct images (once per report)."""
    cached = report.get("_codes")
    if cached is not None:
        return cached
    codes: dict[str, dict] = {}
    for f in report["findings"]:
        c = codes.setdefault(f["code"], {"code": f["code"], "severity": f["severity"],
                                         "count": 0, "images": set()})
        c["count"] += 1
        if f.get("image_row") is not None:
            c["images"].add(f["image_row"])
    out = [{**c, "images": len(c["images"])} for c in codes.values()]
    report["_codes"] = out
    return out


# -- helpers ------------------------------------------------------------------------------------

def _neighbours(ids: np.ndarray, i: int, *, ordered: bool) -> tuple[int | None, int | None]:
    """The previous and next image ids around `i` in the filtered list (row order: also
    when `i` itself is not in it; similarity order: only when it is)."""
    if ordered:
        pos = int(np.searchsorted(ids, i))
        prev = int(ids[pos - 1]) if pos > 0 else None
        at = pos + (1 if pos < len(ids) and ids[pos] == i else 0)
        return prev, (int(ids[at]) if at < len(ids) else None)
    where = np.flatnonzero(ids == i)
    if not len(where):
        return None, None
    k = int(where[0])
    return (int(ids[k - 1]) if k > 0 else None,
            int(ids[k + 1]) if k + 1 < len(ids) else None)


def _object(ann: Any, k: int) -> dict[str, Any]:
    """One annotation as the image view draws and edits it (web/API.md)."""
    xyxy = ann.xyxy[k]
    box = None if np.isnan(xyxy).all() else [round(float(xyxy[0]), 3), round(float(xyxy[1]), 3),
                                            round(float(xyxy[2] - xyxy[0]), 3),
                                            round(float(xyxy[3] - xyxy[1]), 3)]
    out: dict[str, Any] = {"ann_id": int(ann.id[k]), "class_id": int(ann.category_id[k]),
                           "box": box, "polygon": None, "polyline": None, "keypoints": None,
                           "obb": None, "rle": None, "score": None, "attrs": {}}
    for name in ("polygons", "polylines"):
        col = getattr(ann, name)
        if col is not None and col.counts()[k]:
            out[name[:-1]] = [ring.reshape(-1).round(3).tolist() for ring in col.rings(k)]
    if ann.keypoints is not None and not np.isnan(ann.keypoints[k]).all():
        out["keypoints"] = [[_num(v) for v in p] for p in ann.keypoints[k].tolist()]
    if ann.obb is not None and not np.isnan(ann.obb[k]).all():
        out["obb"] = ann.obb[k].reshape(-1).round(3).tolist()
    if ann.rle is not None and ann.rle[k] is not None:
        out["rle"] = _json(ann.rle[k])
    if ann.score is not None and not np.isnan(ann.score[k]):
        out["score"] = float(ann.score[k])
    if ann.iscrowd is not None and ann.iscrowd[k]:
        out["attrs"]["iscrowd"] = True
    if ann.track_id is not None and ann.track_id[k] >= 0:
        out["attrs"]["track_id"] = int(ann.track_id[k])
    for key, col in ann.attrs.items():
        if col[k] is not None:
            out["attrs"][key] = _json(col[k])
    return out


def _num(v: float) -> float | None:
    return None if v != v else round(float(v), 3)


def _json(v: Any) -> Any:
    """A value as JSON can hold it (numpy scalars and arrays, bytes as text)."""
    if isinstance(v, np.ndarray):
        return v.tolist()
    if isinstance(v, np.generic):
        return v.item()
    if isinstance(v, bytes):
        return v.decode("utf-8", "replace")
    if isinstance(v, dict):
        return {str(k): _json(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_json(x) for x in v]
    return v


def _tags(v: Any) -> list[str]:
    if v is None:
        return []
    return [str(t) for t in v] if isinstance(v, (list, tuple, np.ndarray)) else [str(v)]


def _hex(rgb: tuple[int, int, int]) -> str:
    return "#%02x%02x%02x" % rgb


_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png",
          ".webp": "image/webp", ".bmp": "image/bmp", ".gif": "image/gif",
          ".tif": "image/tiff", ".tiff": "image/tiff"}


def _media_type(path_name: str, file_name: str) -> str:
    """By the image's own name (a workspace blob has no suffix)."""
    from pathlib import PurePosixPath
    for name in (file_name, path_name):
        t = _TYPES.get(PurePosixPath(name).suffix.lower())
        if t:
            return t
    return "application/octet-stream"
