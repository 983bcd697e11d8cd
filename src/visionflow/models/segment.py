"""Click/box to polygons: what `visionflow segment` and the web app's click-to-segment call.

Any `Segmenter` does the cutting: GrabCut (built in, no weights: what works everywhere),
the selfie person model, or SAM named by hub id or folder (models.registry.load). The prompt is
checked once here (models/grabcut.check_prompt) so every model refuses a click outside the
image, a box of no area or an empty prompt with the same one-line error. The mask becomes
polygons by models/masks.mask_to_polygons (outer rings, holes filled, specks dropped).
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import Error, UsageError
from .base import Segmenter
from .grabcut import check_prompt
from .masks import mask_to_polygons

_LOADED: OrderedDict[tuple[str, str], Segmenter] = OrderedDict()
_LOCK = threading.Lock()
_KEEP = 3  # models kept loaded: the web app segments click after click with the same one


@dataclass
class Segmentation:
    """One object cut out of an image: its polygons (outer rings, (N, 2) x, y pixels, largest
    first), the mask they came from, its area in pixels, and the model's confidence where the
    model gives one (the selfie model's mean probability over the mask; None for GrabCut)."""
    polygons: list[np.ndarray]
    mask: np.ndarray
    area: int
    score: float | None
    width: int
    height: int
    model: str

    @property
    def xyxy(self) -> list[float] | None:
        """The polygons' bounds x1, y1, x2, y2 (None when nothing was found)."""
        if not self.polygons:
            return None
        pts = np.concatenate(self.polygons)
        return [float(v) for v in (*pts.min(axis=0), *pts.max(axis=0))]

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: rings flat [x, y, x, y, ...] as the web API's polygons (2 decimals)."""
        return {"model": self.model, "width": self.width, "height": self.height,
                "area": self.area, "score": self.score, "xyxy": self.xyxy,
                "polygons": [[round(float(v), 2) for v in ring.ravel()]
                             for ring in self.polygons]}


def get_segmenter(model: str | os.PathLike | Segmenter = "grabcut") -> Segmenter:
    """A Segmenter: `model` itself when it is one, else a registry name ("grabcut",
    "selfie"), a SAM hub id or folder, loaded once and kept (the last few)."""
    if not isinstance(model, (str, os.PathLike)):
        if not isinstance(model, Segmenter):
            raise UsageError(f"{type(model).__name__} is not a segmenter (it needs "
                             "`info` and `segment(image, box=, points=, labels=)`)")
        return model
    from .base import models_dir
    name = os.fspath(model)
    where = Path(name).expanduser()
    key = (str(where.resolve()) if where.exists() else name, str(models_dir()))
    with _LOCK:
        if key in _LOADED:
            _LOADED.move_to_end(key)
            return _LOADED[key]
    from .registry import load
    loaded = load(model)
    if not isinstance(loaded, Segmenter) or getattr(loaded.info, "task", "") != "segment":
        task = getattr(getattr(loaded, "info", None), "task", "?")
        raise UsageError(f"model {os.fspath(model)!r} is a {task} model, not a segmenter; use "
                         "grabcut, selfie or a SAM model (hub id or folder)")
    with _LOCK:
        _LOADED[key] = loaded
        while len(_LOADED) > _KEEP:
            _LOADED.popitem(last=False)
    return loaded


def parse_points(points: Any) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Clicks as given by a caller -> ((N, 2) x, y, (N,) labels): rows of (x, y) are on the
    object, rows of (x, y, label) say 1/True/"+" (object) or 0/False/"-" (background)."""
    if points is None:
        return None, None
    rows = list(points)
    if not rows:
        return None, None
    xy, lab = [], []
    for row in rows:
        row = list(row)
        if len(row) not in (2, 3):
            raise UsageError(f"a click is (x, y) or (x, y, +/-); got {row}")
        label = row[2] if len(row) == 3 else 1
        if isinstance(label, str):
            if label not in ("+", "-", "1", "0"):
                raise UsageError(f"a click's label is + or -; got {label!r}")
            label = 1 if label in ("+", "1") else 0
        try:
            xy.append((float(row[0]), float(row[1])))
        except (TypeError, ValueError):
            raise UsageError(f"a click is two numbers x, y; got {row[:2]}") from None
        if label not in (0, 1, True, False):
            raise UsageError(f"a click's label is 1 (object) or 0 (background); got {label!r}")
        lab.append(int(label))
    return np.asarray(xy, np.float64), np.asarray(lab, np.int64)


def segment_array(image: np.ndarray, *, box: Any = None, points: Any = None,
                  model: str | os.PathLike | Segmenter = "grabcut", tolerance: float = 1.0,
                  min_area: float = 16.0) -> Segmentation:
    """`segment_image` on decoded RGB pixels (H, W, 3) uint8."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
        raise UsageError(f"expected RGB uint8 pixels (H, W, 3); got {image.dtype} {image.shape}")
    h, w = image.shape[:2]
    pts, lab = parse_points(points)
    b, pts, lab = check_prompt(w, h, box, pts, lab)
    seg = get_segmenter(model)
    mask = seg.segment(image, box=b, points=pts if len(pts) else None,
                       labels=lab if len(pts) else None)
    return _result(seg, np.asarray(mask, bool), image, w, h, tolerance, min_area)


def segment_image(image_path: str | os.PathLike, *, box: Any = None, points: Any = None,
                  model: str | os.PathLike | Segmenter = "grabcut", tolerance: float = 1.0,
                  min_area: float = 16.0) -> Segmentation:
    """Cut one object out of an image file and return its polygons (+ mask, area, score).

    box: x1, y1, x2, y2 pixels of the upright image (EXIF orientation applied, as viewers and
    the boxes of a dataset see it). points: clicks (x, y) on the object or (x, y, label) with
    label 1/"+" on the object, 0/"-" on the background. At least one of the two. model:
    "grabcut" (default, no weights), "selfie", a SAM hub id or folder, or a Segmenter.
    tolerance / min_area: polygon simplification in pixels and the smallest piece kept
    (models/masks.py). A click outside the image, an unreadable image or no prompt is one
    error line."""
    from ..io.images import load_rgb
    path = Path(image_path)
    if not path.is_file():
        raise Error(f"{path}: no such image file")
    image = np.asarray(load_rgb(path))
    return segment_array(image, box=box, points=points, model=model, tolerance=tolerance,
                         min_area=min_area)


def _result(seg: Segmenter, mask: np.ndarray, image: np.ndarray, w: int, h: int,
            tolerance: float, min_area: float) -> Segmentation:
    if mask.shape != (h, w):
        raise Error(f"model {seg.info.name!r} returned a {mask.shape} mask for a {w}x{h} "
                    "image")
    score = None
    prob = getattr(seg, "probability", None)
    if callable(prob) and mask.any():
        score = round(float(np.asarray(prob(image))[mask].mean()), 4)
    return Segmentation(mask_to_polygons(mask, tolerance=tolerance, min_area=min_area), mask,
                        int(mask.sum()), score, w, h, seg.info.name)


def write_mask(result: Segmentation, path: str | os.PathLike, *,
               image_path: str | os.PathLike | None = None) -> Path:
    """Save the mask as an 8-bit PNG (255 object, 0 background; the image's size), written
    atomically; never over the image it was cut from."""
    import io

    from PIL import Image

    from ..core.errors import OutputError
    from ..io.atomic import output_errors, write_bytes_atomic
    out = Path(path).absolute()
    if out.is_dir():
        raise OutputError(f"{out}: is a folder; give a file name such as mask.png")
    if out.suffix.lower() != ".png":
        raise OutputError(f"{out}: the mask is written as PNG; give a .png file name")
    if image_path is not None and out.exists() and out.resolve() == Path(image_path).resolve():
        raise OutputError(f"{out}: is the image being segmented; the source is never modified")
    if not out.parent.is_dir():
        raise OutputError(f"{out.parent}: no such folder")
    buf = io.BytesIO()
    Image.fromarray(result.mask.astype(np.uint8) * 255, mode="L").save(buf, format="PNG")
    with output_errors(out):
        write_bytes_atomic(out, buf.getvalue())
    return out
