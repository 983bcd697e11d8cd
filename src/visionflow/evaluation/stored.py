"""Prediction sets attached to a workspace version under a name, so models can be compared.

A set is the predictions aligned to the version's images, kept in the native visionflow format
(scores, polygons, keypoints and all) under `.visionflow/predictions/<version>/<name>/`,
written atomically; the version itself, being immutable, is never touched. A fingerprint of the
version's image list is stored beside it, so a set can never be read against other images.
"""

from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..core.dataset import Dataset
from ..core.errors import Error, ValidationError
from ..core.report import Report
from .predictions import load_predictions

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
_META = "prediction-set.json"


def images_fingerprint(ds: Dataset) -> str:
    h = hashlib.sha256()
    for split, name in zip(ds.images.split.tolist(), ds.images.file_name.tolist()):
        h.update(f"{split}\0{name}\n".encode())
    return h.hexdigest()


def prediction_folder(ws: Any, version: str, name: str) -> Path:
    for what, v in (("version", version), ("prediction set", name)):
        if not _NAME.match(v):
            raise Error(f"{what} name {v!r} must be letters, digits, '.', '_' or '-' "
                        "(at most 64, not starting with a symbol)")
    return ws.dir / "predictions" / version / name


def import_predictions(ws: Any, version: str, pred: str | Path, name: str, *,
                       pred_format: str | None = None, match: str = "auto",
                       overwrite: bool = False) -> dict[str, Any]:
    """Attach predictions at `pred` to `version` of workspace `ws` as `name`."""
    gt = ws.load(version)
    ws.version(version)                      # a version, not a source revision
    aligned = load_predictions(pred, gt, pred_format, match=match)
    if aligned.annotations.score is None and len(aligned.annotations):
        raise ValidationError(str(pred), "no prediction has a score; a prediction set needs "
                              "confidences")
    return store(ws, version, gt, aligned, name, source=str(Path(pred).absolute()),
                 overwrite=overwrite)


def store(ws: Any, version: str, gt: Dataset, pred: Dataset, name: str, *, source: str,
          overwrite: bool = False) -> dict[str, Any]:
    """Store `pred` (the images of `version`, whose dataset is `gt`, with its class ids and
    scores) as prediction set `name`: what `predictions import`, `autolabel -w` and
    `predict -w` write, for evaluate, mistakes and the web app."""
    if len(gt.images) != len(pred.images) or not np.array_equal(
            gt.images.file_name.astype(str), pred.images.file_name.astype(str)):
        raise Error(f"predictions do not list the images of version {version!r}")
    dest = prediction_folder(ws, version, name)
    if dest.exists() and not overwrite:
        raise Error(f"version {version!r} already has a prediction set {name!r}; pass "
                    "--overwrite to replace it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    meta = {"version": version, "name": name, "source": source,
            "images": len(gt.images), "predictions": len(pred.annotations),
            "fingerprint": images_fingerprint(gt)}
    from ..api import write
    from ..io.atomic import write_bytes_atomic
    write(gt.replace(annotations=pred.annotations, meta={"prediction_set": meta}), dest,
          "visionflow", images="none", overwrite=overwrite, force=False)
    write_bytes_atomic(dest / _META, orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    return meta


def list_predictions(ws: Any) -> list[dict[str, Any]]:
    root = ws.dir / "predictions"
    out = []
    if root.is_dir():
        for meta in sorted(root.glob(f"*/*/{_META}")):
            try:
                out.append(orjson.loads(meta.read_bytes()))
            except orjson.JSONDecodeError:
                continue
    return out


def load_stored(ws: Any, version: str, name: str) -> tuple[Dataset, Dataset]:
    """(ground truth, predictions) of a stored prediction set, aligned row for row."""
    from ..api import load
    dest = prediction_folder(ws, version, name)
    if not (dest / _META).is_file():
        known = [f"{m['version']}/{m['name']}" for m in list_predictions(ws)]
        raise Error(f"no prediction set {name!r} on version {version!r} (stored: "
                    f"{', '.join(known) or 'none'}; add one with 'visionflow predictions "
                    "import')")
    meta = orjson.loads((dest / _META).read_bytes())
    gt = ws.load(version)
    if meta.get("fingerprint") != images_fingerprint(gt):
        raise ValidationError(dest, f"prediction set {name!r} was made for other images than "
                              f"version {version!r} holds")
    # checked when imported: what a lenient read reports again is not news (report kept)
    pred = load(dest, "visionflow", errors="keep", report=Report())
    if len(pred.images) != len(gt.images) or not np.array_equal(
            pred.images.file_name.astype(str), gt.images.file_name.astype(str)):
        raise ValidationError(dest, "stored prediction set does not list the version's images")
    return gt, gt.replace(annotations=pred.annotations, categories=gt.categories,
                          meta={**gt.meta, "predictions": f"{version}/{name}"})
