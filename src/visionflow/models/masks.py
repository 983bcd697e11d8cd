"""A model's mask -> the polygons COCO, YOLO-seg, LabelMe and the web app's editor store.

Decisions, so that a mask from GrabCut, selfie or SAM becomes the same polygons everywhere:
- Outer boundaries only: holes are filled (dropped). COCO polygons and YOLO-seg lines have no
  way to say "this ring is a hole" (a second ring is another piece of the object), so a ring
  for a hole would paint it in. Keep the mask itself (core/geometry.mask_to_rle) where holes
  matter. Each separate piece of the mask is its own polygon (COCO: several rings, one object).
- Coordinates follow core/geometry.py: pixel (i, j) covers [i, i+1) x [j, j+1); rings follow
  the pixels' outer edges (traced at 4x: 1/8 px inside), so pycocotools, which fills the pixels
  whose centre is inside, gives the mask back.
- `tolerance` (pixels) is the Douglas-Peucker distance (cv2.approxPolyDP). The default 1 px
  turns a disc of radius 70 into 24 points (IoU with its mask 0.994; radius 10: 8 points,
  0.94); below ~0.75 px every pixel step of the outline survives (252 points at 0.5 px);
  0 keeps every corner (exact).
- Pieces smaller than `min_area` pixels (specks GrabCut and thresholded probabilities leave)
  are dropped, as are rings that simplify to fewer than 3 points.
"""

from __future__ import annotations

import numpy as np



def _cv2():
    try:
        import cv2
    except ImportError:
        from ..core.errors import Error
        raise Error("masks to polygons needs OpenCV: pip install 'visionflow[autolabel]'"
                    ) from None
    return cv2


def mask_to_polygons(mask: np.ndarray, *, tolerance: float = 1.0, min_area: float = 16.0
                     ) -> list[np.ndarray]:
    """Outer rings ((N, 2) float64 x, y in pixels, N >= 3) of the pieces of a (H, W) mask,
    largest piece first; holes filled, pieces under `min_area` pixels dropped (see above)."""
    m = np.asarray(mask)
    if m.ndim != 2:
        raise ValueError(f"a mask is (H, W); got shape {m.shape}")
    if not m.any():
        return []
    cv2 = _cv2()
    rows, cols = np.flatnonzero(m.any(axis=1)), np.flatnonzero(m.any(axis=0))
    y0, x0 = int(rows[0]), int(cols[0])
    crop = m[y0:rows[-1] + 1, x0:cols[-1] + 1].astype(np.uint8)
    # Traced at k x the resolution, contours through the centres of the boundary's sub-pixels
    # lie 0.5 / k px inside the pixels' outer edges (0.5 px at 1x: pycocotools would then
    # lose half of every boundary pixel; on a large object that half pixel no longer matters,
    # the cost of tracing 16x the pixels does). A zero border keeps edge pieces closed.
    k = 4 if crop.size <= 250_000 else 2 if crop.size <= 2_000_000 else 1
    up = np.pad(np.kron(crop, np.ones((k, k), np.uint8)), 1)
    contours, _ = cv2.findContours(up, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_NONE)
    rings: list[tuple[float, np.ndarray]] = []
    for c in contours:
        # A piece's pixel count, not the contour's area (a 1-pixel-wide line has area 0).
        x, y, w, h = cv2.boundingRect(c)
        piece = np.zeros((h, w), np.uint8)
        cv2.drawContours(piece, [c - (x, y)], -1, 1, thickness=cv2.FILLED)
        pixels = float((piece & up[y:y + h, x:x + w]).sum()) / (k * k)
        if pixels < min_area:
            continue
        if tolerance > 0:
            c = cv2.approxPolyDP(c, tolerance * k, True)
        ring = (c.reshape(-1, 2).astype(np.float64) - 1.0 + 0.5) / k + (x0, y0)
        if len(ring) < 3:
            continue
        rings.append((pixels, ring))
    rings.sort(key=lambda t: -t[0])
    return [r for _, r in rings]


def polygons_to_mask(rings: list[np.ndarray], width: int, height: int) -> np.ndarray:
    """(height, width) bool mask of rings (as mask_to_polygons writes them): a pixel is in when
    its centre is inside a ring (pycocotools' rule), so mask -> polygons -> mask round-trips."""
    cv2 = _cv2()
    out = np.zeros((height, width), np.uint8)
    shift = 4  # fixed-point sub-pixel precision of cv2.fillPoly
    pts = [np.round((np.asarray(r, np.float64) - 0.5) * (1 << shift)).astype(np.int32)
           for r in rings if len(r) >= 3]
    if pts:
        cv2.fillPoly(out, pts, 1, lineType=cv2.LINE_8, shift=shift)
    return out.astype(bool)


def mask_iou(a: np.ndarray, b: np.ndarray) -> float:
    """Intersection over union of two bool masks (1.0 when both are empty)."""
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def pick_pieces(mask: np.ndarray, points: np.ndarray, labels: np.ndarray, *,
                only_clicked: bool = False, radius: int = 0) -> np.ndarray:
    """What clicks mean for the separate pieces (8-connected) of a mask: a piece under a
    background click (and under no object click) is removed; with `only_clicked`, pieces no
    object click touches are removed too (a person model's mask of everyone -> the person
    clicked), unless no object click touches the mask at all. `radius`: a background click
    also names the pieces within this many pixels (GrabCut cuts a hole where it was)."""
    m = np.asarray(mask, bool)
    if not m.any() or not len(points):
        return m
    cv2 = _cv2()
    _, comp = cv2.connectedComponents(m.astype(np.uint8), connectivity=8)
    h, w = m.shape
    pts = np.asarray(points, np.float64)
    lab = np.asarray(labels)
    xs = np.clip(pts[:, 0].astype(int), 0, w - 1)
    ys = np.clip(pts[:, 1].astype(int), 0, h - 1)
    keep = {int(c) for c in comp[ys[lab == 1], xs[lab == 1]] if c > 0}
    drop: set[int] = set()
    for x, y in zip(xs[lab == 0], ys[lab == 0]):
        near = comp[max(0, y - radius):y + radius + 1, max(0, x - radius):x + radius + 1]
        drop |= {int(c) for c in np.unique(near) if c > 0}
    drop -= keep
    if only_clicked and keep:
        return np.isin(comp, sorted(keep))
    return m & ~np.isin(comp, sorted(drop)) if drop else m
