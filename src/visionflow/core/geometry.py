"""Geometry conventions and pure functions. The one place the convention is written down.

Convention (every column of the canonical model):
- Absolute pixels, float64, origin at the top-left corner of the image.
- Continuous coordinates: pixel (i, j) covers [i, i+1) x [j, j+1); a box covering a whole
  W x H image is (0, 0, W, H).
- Boxes are `xyxy` = (x_min, y_min, x_max, y_max). An image-level label (classification) has an
  all-NaN box and no other geometry.
- Polygons are rings of (x, y) vertices, not repeated at the end; an object may have several.
- Oriented boxes are 4 corners (4, 2) in drawing order. Keypoints are (K, 3): x, y, visibility
  with COCO's meaning (0 not labelled, 1 labelled but hidden, 2 visible).
- Masks are COCO RLE: column-major run lengths starting with a run of zeros.

Formats convert at their edge: YOLO's normalized centers, COCO's xywh and VOC's <bndbox> (pixel
edges by default, the devkit's 1-based indices on request) are translated in their own modules
with the helpers below.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def xywh_to_xyxy(xywh: np.ndarray) -> np.ndarray:
    xywh = np.asarray(xywh, dtype=np.float64).reshape(-1, 4)
    out = xywh.copy()
    out[:, 2:] += xywh[:, :2]
    return out


def xyxy_to_xywh(xyxy: np.ndarray, *, wh_decimals: int | None = None) -> np.ndarray:
    """[x, y, w, h]. wh_decimals: round w and h, for writers: x2 - x1 leaves 1e-16 noise
    (0.82 + 1 - 0.82 = 1.0000000000000002), and a file written from what was read back would
    then differ from the first in its last digits; 10 decimals is far below a pixel."""
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    out = xyxy.copy()
    out[:, 2:] -= xyxy[:, :2]
    if wh_decimals is not None:
        out[:, 2:] = np.round(out[:, 2:], wh_decimals)
    return out


def cxcywh_norm_to_xyxy(cxcywh: np.ndarray, width: np.ndarray, height: np.ndarray) -> np.ndarray:
    c = np.asarray(cxcywh, dtype=np.float64).reshape(-1, 4)
    scale = np.stack([width, height, width, height], axis=-1).astype(np.float64).reshape(-1, 4)
    half = c[:, 2:] / 2
    return np.concatenate([c[:, :2] - half, c[:, :2] + half], axis=1) * scale


def xyxy_to_cxcywh_norm(xyxy: np.ndarray, width: np.ndarray, height: np.ndarray) -> np.ndarray:
    b = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    scale = np.stack([width, height, width, height], axis=-1).astype(np.float64).reshape(-1, 4)
    b = b / scale
    return np.concatenate([(b[:, :2] + b[:, 2:]) / 2, b[:, 2:] - b[:, :2]], axis=1)


def box_area(xyxy: np.ndarray) -> np.ndarray:
    xyxy = np.asarray(xyxy, dtype=np.float64).reshape(-1, 4)
    return (xyxy[:, 2] - xyxy[:, 0]) * (xyxy[:, 3] - xyxy[:, 1])


def points_bounds(points: np.ndarray) -> np.ndarray:
    """xyxy bounds of an (m, 2) array of points."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return np.concatenate([points.min(axis=0), points.max(axis=0)])


def pad_degenerate(xyxy: np.ndarray) -> np.ndarray:
    """A box of points or lines has zero width or height; give it 1 pixel around its centre
    along that axis so that it is a valid box (the exact vertices are kept elsewhere)."""
    out = np.asarray(xyxy, np.float64).copy().reshape(-1, 4)
    for a, b in ((0, 2), (1, 3)):
        flat = out[:, b] - out[:, a] <= 0
        mid = (out[flat, a] + out[flat, b]) / 2
        out[flat, a], out[flat, b] = mid - 0.5, mid + 0.5
    return out


def path_length(path: np.ndarray) -> float:
    """Length of one open path (a polyline): the sum of its segments, not closed."""
    path = np.asarray(path, dtype=np.float64).reshape(-1, 2)
    return float(np.hypot(*np.diff(path, axis=0).T).sum()) if len(path) > 1 else 0.0


def polygon_area(ring: np.ndarray) -> float:
    """Shoelace area of one ring (absolute value)."""
    ring = np.asarray(ring, dtype=np.float64).reshape(-1, 2)
    x, y = ring[:, 0], ring[:, 1]
    return float(abs(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1))) / 2)


def iou_xyxy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pairwise IoU, (n, 4) x (m, 4) -> (n, m)."""
    a = np.asarray(a, dtype=np.float64).reshape(-1, 4)
    b = np.asarray(b, dtype=np.float64).reshape(-1, 4)
    lt = np.maximum(a[:, None, :2], b[None, :, :2])
    rb = np.minimum(a[:, None, 2:], b[None, :, 2:])
    inter = np.clip(rb - lt, 0, None).prod(axis=2)
    union = box_area(a)[:, None] + box_area(b)[None, :] - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, inter / union, 0.0)


# --- COCO RLE -----------------------------------------------------------------------------
# COCO stores run lengths either as a list of ints ("uncompressed") or as a string in a
# LEB128-like code where each count after the second is delta-coded against the count two
# before it. These helpers follow the published maskApi.c description.


def rle_counts_decode(counts: str) -> np.ndarray:
    """COCO compressed RLE string -> run lengths (int64). ValueError on a string maskApi
    would misread: a character outside its alphabet ('0'..'o') or a count cut short."""
    out: list[int] = []
    try:
        data = counts.encode("ascii")
    except UnicodeEncodeError:
        raise ValueError("compressed RLE counts hold a non-ASCII character") from None
    p, n = 0, len(data)
    while p < n:
        x, k, more = 0, 0, True
        while more:
            if p >= n:
                raise ValueError("compressed RLE counts end in the middle of a count")
            c = data[p] - 48
            if not 0 <= c < 64 or k > 11:
                raise ValueError(f"compressed RLE counts hold {chr(data[p])!r} at {p} "
                                 "(not a COCO RLE string)")
            x |= (c & 0x1F) << (5 * k)
            more = bool(c & 0x20)
            p += 1
            k += 1
            if not more and (c & 0x10):
                x |= -1 << (5 * k)
        if len(out) > 2:
            x += out[-2]
        if not -(1 << 62) < x < 1 << 62:
            raise ValueError("compressed RLE counts hold a run too long for any image")
        out.append(x)
    return np.asarray(out, dtype=np.int64)


def rle_counts_encode(runs: np.ndarray) -> str:
    """Run lengths -> COCO compressed RLE string."""
    runs = [int(r) for r in runs]
    chars: list[str] = []
    for i, x in enumerate(runs):
        if i > 2:
            x -= runs[i - 2]
        more = True
        while more:
            c = x & 0x1F
            x >>= 5
            more = not ((c & 0x10) == 0 and x == 0 or (c & 0x10) != 0 and x == -1)
            if more:
                c |= 0x20
            chars.append(chr(c + 48))
    return "".join(chars)


def rle_area(rle: dict) -> int:
    counts = rle["counts"]
    runs = rle_counts_decode(counts) if isinstance(counts, str) else np.asarray(counts)
    return int(runs[1::2].sum())


def rle_problem(rle: Any, width: int, height: int) -> str | None:
    """Why an RLE mask cannot be the mask of a width x height image, or None.

    Checked on read (core/validate.py) so that a wrong size, counts running past the mask
    or a garbage string is one clear error, not a 37 GB allocation in a writer."""
    if not isinstance(rle, dict) or "size" not in rle or "counts" not in rle:
        return "RLE mask needs 'size' and 'counts'"
    size = rle["size"]
    if (not isinstance(size, (list, tuple)) or len(size) != 2
            or not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool)
                       for v in size)):
        return f"RLE size must be [height, width], got {size!r}"
    h, w = int(size[0]), int(size[1])
    if (h, w) != (int(height), int(width)):
        return f"RLE size {h}x{w} (height x width) disagrees with the image ({height}x{width})"
    counts = rle["counts"]
    if isinstance(counts, str):
        try:
            runs = rle_counts_decode(counts)
        except ValueError as e:
            return str(e)
    else:
        try:
            runs = np.asarray(counts, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            return "RLE counts must be a list of integers or a COCO RLE string"
        if not np.isfinite(runs).all() or (runs != np.floor(runs)).any():
            return "RLE counts must be whole numbers"
    if (runs < 0).any():
        return "RLE counts hold a negative run"
    total = float(runs.sum())
    if total != h * w:  # pycocotools leaves the rest of the mask uninitialized when short
        return (f"RLE counts cover {total:.0f} pixels, the {h}x{w} mask has {h * w}"
                + (" (they run past the mask)" if total > h * w else ""))
    return None


def rle_to_mask(rle: dict) -> np.ndarray:
    """COCO RLE -> (H, W) bool mask."""
    h, w = rle["size"]
    counts = rle["counts"]
    runs = rle_counts_decode(counts) if isinstance(counts, str) else np.asarray(counts, dtype=np.int64)
    values = np.zeros(len(runs), dtype=bool)
    values[1::2] = True
    flat = np.repeat(values, runs)
    if flat.size != h * w:
        raise ValueError(f"RLE covers {flat.size} pixels, expected {h}x{w}={h * w}")
    return flat.reshape(w, h).T


def mask_to_rle(mask: np.ndarray) -> dict:
    """(H, W) bool mask -> COCO RLE with compressed counts."""
    mask = np.asarray(mask, dtype=bool)
    h, w = mask.shape
    flat = mask.T.reshape(-1)
    change = np.flatnonzero(flat[1:] != flat[:-1]) + 1
    edges = np.concatenate([[0], change, [flat.size]])
    runs = np.diff(edges)
    if flat.size and flat[0]:
        runs = np.concatenate([[0], runs])
    return {"size": [int(h), int(w)], "counts": rle_counts_encode(runs)}


def mask_bounds(mask: np.ndarray) -> np.ndarray:
    """xyxy of the set pixels of an (H, W) bool mask (NaN if empty): the pixel edges, so a
    one-pixel mask is a 1x1 box. Projections on both axes, not every set pixel's index."""
    cols, rows = np.flatnonzero(mask.any(axis=0)), np.flatnonzero(mask.any(axis=1))
    if cols.size == 0:
        return np.full(4, np.nan)
    return np.array([cols[0], rows[0], cols[-1] + 1, rows[-1] + 1], dtype=np.float64)


def rle_bounds(rle: dict) -> np.ndarray:
    """xyxy of the set pixels of an RLE mask (NaN if empty)."""
    return mask_bounds(rle_to_mask(rle))
