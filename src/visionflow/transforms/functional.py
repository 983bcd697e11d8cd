"""Pure functions per target: rasters (images, masks), points (boxes, polygons, keypoints,
oriented boxes) and the 3x3 matrices that tie them together.

Every geometric operation is ONE 3x3 matrix `m` in the continuous pixel convention of
core/geometry.py (pixel (i, j) covers [i, i+1) x [j, j+1)), mapping input coordinates to output
coordinates, plus an output size. `warp_raster` moves pixels with it and `warp_annotations`
moves every annotation column with the same matrix, so pixels and labels cannot disagree.
Flips, 90-degree turns, integer crops and pads are done exactly with numpy slicing; scaling
with cv2.resize (area filter when shrinking); anything else with cv2.warpAffine.

Pixel-level functions (color, blur, noise) come from albumentations' functional API where it
has one (hue/saturation, gamma, CLAHE, equalization, camera noise, motion kernels) and are
plain numpy/cv2 otherwise. Randomness is never drawn here: callers pass sampled values.
"""

from __future__ import annotations

import math
import random
from dataclasses import replace

import numpy as np

from ..core.annotations import Annotations, Polygons, Polylines
from ..core.errors import Error
from ..core.geometry import (mask_to_rle, pad_degenerate, path_length, points_bounds,
                             polygon_area, rle_to_mask)

_EPS = 1e-9


def require_cv2():
    """OpenCV, imported on first use (albumentations pulls opencv-python-headless)."""
    try:
        import cv2
    except ImportError:  # pragma: no cover - exercised only without the extra
        raise Error("transforms need OpenCV and albumentations: "
                    "pip install 'visionflow[transforms]'") from None
    return cv2


# --- matrices ---------------------------------------------------------------------------------

def identity() -> np.ndarray:
    return np.eye(3)


def translate(tx: float, ty: float) -> np.ndarray:
    return np.array([[1.0, 0, tx], [0, 1.0, ty], [0, 0, 1]])


def scale(sx: float, sy: float) -> np.ndarray:
    return np.array([[sx, 0, 0], [0, sy, 0], [0, 0, 1.0]])


def hflip(width: float) -> np.ndarray:
    return np.array([[-1.0, 0, width], [0, 1, 0], [0, 0, 1]])


def vflip(height: float) -> np.ndarray:
    return np.array([[1.0, 0, 0], [0, -1, height], [0, 0, 1]])


def rot90(turns: int, width: float, height: float) -> tuple[np.ndarray, tuple[int, int]]:
    """`turns` quarter turns counter-clockwise as displayed (np.rot90's direction)."""
    turns %= 4
    if turns == 0:
        return identity(), (int(width), int(height))
    if turns == 1:
        return np.array([[0.0, 1, 0], [-1, 0, width], [0, 0, 1]]), (int(height), int(width))
    if turns == 2:
        return np.array([[-1.0, 0, width], [0, -1, height], [0, 0, 1]]), (int(width), int(height))
    return np.array([[0.0, -1, height], [1, 0, 0], [0, 0, 1]]), (int(height), int(width))


def rotate(angle_deg: float, cx: float, cy: float) -> np.ndarray:
    """Counter-clockwise as displayed (y points down), about (cx, cy)."""
    t = math.radians(angle_deg)
    c, s = math.cos(t), math.sin(t)
    return translate(cx, cy) @ np.array([[c, s, 0], [-s, c, 0], [0, 0, 1.0]]) @ translate(-cx, -cy)


def shear(x_deg: float, y_deg: float, cx: float, cy: float) -> np.ndarray:
    kx, ky = math.tan(math.radians(x_deg)), math.tan(math.radians(y_deg))
    return translate(cx, cy) @ np.array([[1.0, kx, 0], [ky, 1, 0], [0, 0, 1]]) @ translate(-cx, -cy)


def is_axis_aligned(m: np.ndarray) -> bool:
    """No rotation or shear: boxes stay boxes (possibly transposed by a quarter turn)."""
    return (abs(m[0, 1]) < _EPS and abs(m[1, 0]) < _EPS) or (abs(m[0, 0]) < _EPS and abs(m[1, 1]) < _EPS)


def is_mirror(m: np.ndarray) -> bool:
    """True when the matrix reverses handedness (a flip): left and right swap."""
    return float(np.linalg.det(m[:2, :2])) < 0


# --- rasters ----------------------------------------------------------------------------------

def warp_raster(arr: np.ndarray, m: np.ndarray, out_wh: tuple[int, int], *,
                nearest: bool = False, fill: float | tuple = 0) -> np.ndarray:
    """Move pixels of an (H, W) or (H, W, C) array with the continuous-coordinate matrix `m`.

    The array may be smaller than the annotation frame `m` was built for only when the caller
    has already folded that scale into `m` (see Resize with draft decoding).
    """
    w2, h2 = int(out_wh[0]), int(out_wh[1])
    m = np.asarray(m, dtype=np.float64)
    if _is_signed_permutation(m):
        return _warp_exact(arr, m, (w2, h2), fill)
    if is_axis_aligned(m) and m[0, 0] > 0 and m[1, 1] > 0:
        h, w = arr.shape[:2]
        sw, sh = m[0, 0] * w, m[1, 1] * h
        tx, ty = m[0, 2], m[1, 2]
        if (abs(sw - round(sw)) < 1e-6 and abs(sh - round(sh)) < 1e-6
                and abs(tx - round(tx)) < 1e-6 and abs(ty - round(ty)) < 1e-6
                and round(sw) > 0 and round(sh) > 0):
            sw, sh = int(round(sw)), int(round(sh))
            if (sw, sh) != (w, h):
                cv2 = require_cv2()
                if nearest:
                    interp = cv2.INTER_NEAREST
                else:
                    # area averaging where shrinking by 2x or more (after a draft decode
                    # that is rare); bilinear is as good and much faster below that
                    interp = cv2.INTER_AREA if sw * 2 <= w and sh * 2 <= h else cv2.INTER_LINEAR
                arr = cv2.resize(arr, (sw, sh), interpolation=interp)
            return _paste(arr, int(round(tx)), int(round(ty)), (w2, h2), fill)
    cv2 = require_cv2()
    # cv2 puts pixel centers on integers: conjugate by a half-pixel shift.
    p = translate(-0.5, -0.5) @ m @ translate(0.5, 0.5)
    flags = cv2.INTER_NEAREST if nearest else cv2.INTER_LINEAR
    squeeze = arr.ndim == 3 and arr.shape[2] == 1
    out = cv2.warpAffine(arr, p[:2], (w2, h2), flags=flags, borderMode=cv2.BORDER_CONSTANT,
                         borderValue=_cv_fill(fill, arr))
    return out[..., None] if squeeze and out.ndim == 2 else out


def _cv_fill(fill, arr: np.ndarray):
    if isinstance(fill, (tuple, list)):
        channels = arr.shape[2] if arr.ndim == 3 else 1
        vals = [float(v) for v in fill][:channels]
        if channels == 1 and len(fill) == 3:
            vals = [0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2]]
        return tuple(vals) + (0.0,) * (4 - len(vals))
    return (float(fill),) * 4


def _is_signed_permutation(m: np.ndarray) -> bool:
    a = m[:2, :2]
    if not np.all(np.isin(np.round(a, 12), (-1.0, 0.0, 1.0))):
        return False
    if not (np.abs(a).sum(axis=0) == 1).all() or not (np.abs(a).sum(axis=1) == 1).all():
        return False
    t = m[:2, 2]
    return bool(np.all(np.abs(t - np.round(t)) < 1e-9))


def _warp_exact(arr: np.ndarray, m: np.ndarray, out_wh: tuple[int, int], fill) -> np.ndarray:
    m = m.copy()
    if abs(m[0, 0]) < 0.5:  # transposed: swap axes first
        arr = arr.swapaxes(0, 1)
        m = m @ np.array([[0.0, 1, 0], [1, 0, 0], [0, 0, 1]])
    h, w = arr.shape[:2]
    if m[0, 0] < 0:
        arr = arr[:, ::-1]
        m = m @ hflip(w)
    if m[1, 1] < 0:
        arr = arr[::-1]
        m = m @ vflip(h)
    return _paste(np.ascontiguousarray(arr), int(round(m[0, 2])), int(round(m[1, 2])), out_wh, fill)


def _paste(arr: np.ndarray, tx: int, ty: int, out_wh: tuple[int, int], fill) -> np.ndarray:
    """Place arr with its top-left corner at (tx, ty) on an out_wh canvas of `fill`."""
    w2, h2 = out_wh
    h, w = arr.shape[:2]
    if (tx, ty, w, h) == (0, 0, w2, h2):
        return arr
    out = np.empty((h2, w2) + arr.shape[2:], dtype=arr.dtype)
    out[...] = _fill_value(fill, arr)
    x0, y0 = max(tx, 0), max(ty, 0)
    x1, y1 = min(tx + w, w2), min(ty + h, h2)
    if x1 > x0 and y1 > y0:
        out[y0:y1, x0:x1] = arr[y0 - ty:y1 - ty, x0 - tx:x1 - tx]
    return out


def _fill_value(fill, arr: np.ndarray):
    if isinstance(fill, (tuple, list)):
        if arr.ndim == 2:
            return 0.299 * fill[0] + 0.587 * fill[1] + 0.114 * fill[2] if len(fill) == 3 else fill[0]
        return np.asarray(fill[:arr.shape[2]], dtype=arr.dtype)
    return fill


# --- points and polygons ----------------------------------------------------------------------

def transform_points(points: np.ndarray, m: np.ndarray) -> np.ndarray:
    """(k, 2) points through a 3x3 affine matrix."""
    points = np.asarray(points, dtype=np.float64).reshape(-1, 2)
    return points @ m[:2, :2].T + m[:2, 2]


def box_corners(xyxy: np.ndarray) -> np.ndarray:
    """(n, 4) boxes -> (n, 4, 2) corners in drawing order."""
    x0, y0, x1, y1 = (xyxy[:, i] for i in range(4))
    return np.stack([np.stack([x0, y0], 1), np.stack([x1, y0], 1),
                     np.stack([x1, y1], 1), np.stack([x0, y1], 1)], axis=1)


def clip_ring(ring: np.ndarray, rect: tuple[float, float, float, float]) -> np.ndarray:
    """Sutherland-Hodgman clip of one polygon ring to an axis-aligned rectangle (xyxy).

    Each of the four half-planes is one vectorized pass over the ring's edges.
    """
    pts = np.asarray(ring, dtype=np.float64).reshape(-1, 2)
    x0, y0, x1, y1 = rect
    for axis, bound, keep_below in ((0, x0, False), (0, x1, True), (1, y0, False), (1, y1, True)):
        if len(pts) == 0:
            break
        v = pts[:, axis]
        inside = v <= bound if keep_below else v >= bound
        if inside.all():
            continue
        if not inside.any():
            return np.zeros((0, 2))
        nxt = np.roll(pts, -1, axis=0)
        nxt_inside = np.roll(inside, -1)
        crosses = inside != nxt_inside
        dv = nxt[:, axis] - v
        with np.errstate(divide="ignore", invalid="ignore"):
            t = np.where(crosses, (bound - v) / np.where(dv == 0, 1, dv), 0.0)
        cross_pts = pts + t[:, None] * (nxt - pts)
        cross_pts[:, axis] = bound  # exact on the boundary
        # Per edge (p -> next): emit p if inside, then the crossing if the edge crosses.
        emit = np.stack([inside, crosses], axis=1).reshape(-1)
        cand = np.stack([pts, cross_pts], axis=1).reshape(-1, 2)
        pts = cand[emit]
    return _dedupe_ring(pts)


def clip_path(path: np.ndarray, rect: tuple[float, float, float, float]) -> list[np.ndarray]:
    """Liang-Barsky clip of one open path (a polyline) to an axis-aligned rectangle (xyxy):
    the pieces inside, each of at least 2 points. A path that leaves and re-enters the
    rectangle becomes several pieces. One vectorized pass over the segments."""
    pts = np.asarray(path, dtype=np.float64).reshape(-1, 2)
    if len(pts) < 2:
        return []
    p0, d = pts[:-1], np.diff(pts, axis=0)
    x0, y0, x1, y1 = rect
    p = np.stack([-d[:, 0], d[:, 0], -d[:, 1], d[:, 1]], axis=1)
    q = np.stack([p0[:, 0] - x0, x1 - p0[:, 0], p0[:, 1] - y0, y1 - p0[:, 1]], axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        r = q / np.where(p == 0, 1, p)
    t0 = np.max(np.where(p < 0, r, 0.0), axis=1)
    t1 = np.min(np.where(p > 0, r, 1.0), axis=1)
    keep = (t0 <= t1) & ~((p == 0) & (q < 0)).any(axis=1)
    a, b = p0 + t0[:, None] * d, p0 + t1[:, None] * d
    pieces: list[np.ndarray] = []
    current: list[np.ndarray] = []
    joined = -2  # the last kept segment whose end was not clipped: the next one continues it
    for k in np.flatnonzero(keep):
        if current and not (joined == k - 1 and t0[k] == 0.0):
            pieces.append(np.array(current))
            current = []
        if not current:
            current.append(a[k])
        current.append(b[k])
        joined = k if t1[k] == 1.0 else -2
    if current:
        pieces.append(np.array(current))
    return [c for c in (_dedupe_path(piece) for piece in pieces) if len(c) >= 2]


def _dedupe_path(pts: np.ndarray) -> np.ndarray:
    keep = np.ones(len(pts), bool)
    keep[1:] = np.any(np.abs(np.diff(pts, axis=0)) > 1e-12, axis=1)
    return pts[keep]


def _dedupe_ring(pts: np.ndarray) -> np.ndarray:
    if len(pts) < 2:
        return pts
    keep = np.any(np.abs(pts - np.roll(pts, 1, axis=0)) > 1e-12, axis=1)
    return pts[keep] if keep.any() else pts[:1]


# --- annotations ------------------------------------------------------------------------------

def warp_annotations(ann: Annotations, m: np.ndarray, out_wh: tuple[int, int], *,
                     clip_xyxy: tuple[float, float, float, float] | None = None,
                     min_visibility: float = 0.0,
                     keypoint_perm: np.ndarray | None = None) -> Annotations:
    """Move every column of one image's annotations with `m`, clip them to `clip_xyxy`
    (the output image by default) and drop objects whose visible fraction is below
    `min_visibility` or whose visible area is zero. Image-level labels pass unchanged.

    Visibility is measured on the richest geometry an object has: polygon, then mask, then
    oriented box, then box. `keypoint_perm` reorders keypoint slots when `m` mirrors the image
    (left_eye <-> right_eye); callers build it with `keypoint_flip_perm`.
    """
    n = len(ann)
    if n == 0:
        return ann
    m = np.asarray(m, dtype=np.float64)
    w2, h2 = out_wh
    rect = (0.0, 0.0, float(w2), float(h2)) if clip_xyxy is None else tuple(map(float, clip_xyxy))
    is_label = ann.is_label
    has_poly, has_rle, has_obb = ann.has_polygon(), ann.has_rle(), ann.has_obb()
    aligned = is_axis_aligned(m)
    det = abs(float(np.linalg.det(m[:2, :2])))

    # Boxes: exact when axis-aligned, else the bounds of the moved corners.
    corners = transform_points(box_corners(np.nan_to_num(ann.xyxy)).reshape(-1, 2), m).reshape(n, 4, 2)
    moved = np.concatenate([corners.min(axis=1), corners.max(axis=1)], axis=1)
    clipped = np.stack([np.clip(moved[:, 0], rect[0], rect[2]), np.clip(moved[:, 1], rect[1], rect[3]),
                        np.clip(moved[:, 2], rect[0], rect[2]), np.clip(moved[:, 3], rect[1], rect[3])], 1)
    area_before = (moved[:, 2] - moved[:, 0]) * (moved[:, 3] - moved[:, 1])
    area_after = (clipped[:, 2] - clipped[:, 0]) * (clipped[:, 3] - clipped[:, 1])
    new_xyxy = clipped

    polygons = ann.polygons
    if polygons is not None and has_poly.any():
        objects = polygons.to_lists()
        out_objects: list[list[np.ndarray]] = []
        for i, rings in enumerate(objects):
            if not rings:
                out_objects.append([])
                continue
            moved_rings = [transform_points(r, m) for r in rings]
            before = sum(polygon_area(r) for r in moved_rings)
            kept = [c for c in (clip_ring(r, rect) for r in moved_rings) if len(c) >= 3]
            after = sum(polygon_area(r) for r in kept)
            out_objects.append(kept)
            area_before[i], area_after[i] = before, after
            if kept and (not aligned or after < before - 1e-9):
                pts = np.concatenate(kept)
                pb = np.concatenate([pts.min(axis=0), pts.max(axis=0)])
                new_xyxy[i] = pb if not aligned else np.concatenate(
                    [np.maximum(pb[:2], clipped[i, :2]), np.minimum(pb[2:], clipped[i, 2:])])
        polygons = Polygons.from_lists(out_objects)

    polylines, has_line = ann.polylines, ann.has_polyline()
    if polylines is not None and has_line.any():
        lines_out: list[list[np.ndarray]] = []
        for i, paths in enumerate(polylines.to_lists()):
            moved_paths = [transform_points(p, m) for p in paths]
            kept_paths = [c for p in moved_paths for c in clip_path(p, rect)]
            lines_out.append(kept_paths)
            if not paths or has_poly[i] or has_rle[i] or has_obb[i]:
                continue
            # visibility of a line: its length inside; its box: the bounds of what is left
            area_before[i] = sum(path_length(p) for p in moved_paths)
            area_after[i] = sum(path_length(p) for p in kept_paths)
            if kept_paths:
                new_xyxy[i] = pad_degenerate(points_bounds(np.concatenate(kept_paths)))[0]
        polylines = Polylines.from_lists(lines_out)

    rle = ann.rle
    if rle is not None and has_rle.any():
        rle = rle.copy()
        for i in np.flatnonzero(has_rle):
            mask = rle_to_mask(rle[i])
            count = int(mask.sum())
            warped = warp_raster(mask.astype(np.uint8), m, (w2, h2), nearest=True)
            if clip_xyxy is not None:
                keep_box = np.zeros_like(warped)
                x0, y0 = int(math.floor(rect[0])), int(math.floor(rect[1]))
                keep_box[max(y0, 0):int(math.ceil(rect[3])), max(x0, 0):int(math.ceil(rect[2]))] = 1
                warped = warped * keep_box
            warped = warped.astype(bool)
            rle[i] = mask_to_rle(warped)
            if not has_poly[i]:
                area_before[i], area_after[i] = count * det, float(warped.sum())
                ys, xs = np.nonzero(warped)
                if xs.size and not aligned:
                    new_xyxy[i] = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]

    obb = ann.obb
    if obb is not None and has_obb.any():
        obb = obb.copy()
        for i in np.flatnonzero(has_obb):
            quad = transform_points(obb[i], m)
            before = polygon_area(quad)
            clipped_quad = clip_ring(quad, rect)
            after = polygon_area(clipped_quad) if len(clipped_quad) >= 3 else 0.0
            if after < before - 1e-9 and len(clipped_quad) >= 3:
                cv2 = require_cv2()
                quad = cv2.boxPoints(cv2.minAreaRect(clipped_quad.astype(np.float32))).astype(np.float64)
            obb[i] = quad
            if not has_poly[i] and not has_rle[i]:
                area_before[i], area_after[i] = before, after

    keypoints = ann.keypoints
    if keypoints is not None:
        keypoints = keypoints.copy()
        labelled = (~np.isnan(keypoints[..., 2])) & (np.nan_to_num(keypoints[..., 2]) > 0)
        if labelled.any():
            xy = transform_points(keypoints[..., :2][labelled], m)
            inside = ((xy[:, 0] >= rect[0]) & (xy[:, 0] <= rect[2])
                      & (xy[:, 1] >= rect[1]) & (xy[:, 1] <= rect[3]))
            vals = keypoints[labelled]
            vals[:, :2] = np.where(inside[:, None], xy, 0.0)
            vals[:, 2] = np.where(inside, vals[:, 2], 0.0)
            keypoints[labelled] = vals
        if keypoint_perm is not None and is_mirror(m):
            keypoints = keypoints[:, keypoint_perm]

    with np.errstate(divide="ignore", invalid="ignore"):
        visibility = np.where(area_before > 0, area_after / area_before, 0.0)
    widths = new_xyxy[:, 2] - new_xyxy[:, 0]
    heights = new_xyxy[:, 3] - new_xyxy[:, 1]
    keep = (area_after > 0) & (visibility >= min_visibility - 1e-12) & (widths > 0) & (heights > 0)
    keep |= is_label
    new_xyxy = np.where(is_label[:, None], ann.xyxy, new_xyxy)
    out = replace(ann, xyxy=new_xyxy, polygons=polygons, rle=rle, obb=obb, keypoints=keypoints,
                  polylines=polylines)
    return out if keep.all() else out[keep]


def keypoint_flip_perm(names: tuple[str, ...] | list[str], flip_idx=None) -> np.ndarray | None:
    """Slot permutation applied on a mirror: YOLO's flip_idx when given, else left_/right_
    (and left/right anywhere in the name) pairs swapped; None when nothing swaps."""
    if flip_idx is not None:
        perm = np.asarray(flip_idx, dtype=np.int64)
        return None if np.array_equal(perm, np.arange(len(perm))) else perm
    names = list(names)
    if not names:
        return None
    index = {n: i for i, n in enumerate(names)}
    perm = np.arange(len(names))
    for i, n in enumerate(names):
        for a, b in (("left", "right"), ("Left", "Right"), ("LEFT", "RIGHT"), ("l_", "r_")):
            other = None
            if n.startswith(a):
                other = b + n[len(a):]
            elif n.startswith(b):
                other = a + n[len(b):]
            elif f"_{a}" in n:
                other = n.replace(f"_{a}", f"_{b}")
            elif f"_{b}" in n:
                other = n.replace(f"_{b}", f"_{a}")
            if other is not None and other in index:
                perm[i] = index[other]
                break
    return None if np.array_equal(perm, np.arange(len(perm))) else perm


# --- pixels -----------------------------------------------------------------------------------

def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x), 0, 255).astype(np.uint8)


def grayscale(img: np.ndarray) -> np.ndarray:
    """RGB -> (H, W) luma (ITU-R 601, like Pillow's 'L')."""
    if img.ndim == 2:
        return img
    cv2 = require_cv2()
    return cv2.cvtColor(img, cv2.COLOR_RGB2GRAY)


def brightness(img: np.ndarray, delta: float) -> np.ndarray:
    """Add delta * 255 to every channel."""
    return _lut(img, to_uint8(np.arange(256) + delta * 255.0))


def _lut(img: np.ndarray, table: np.ndarray) -> np.ndarray:
    cv2 = require_cv2()
    return cv2.LUT(img, table)


def contrast(img: np.ndarray, factor: float) -> np.ndarray:
    """Scale the distance to the image's mean gray by `factor` (1 = unchanged)."""
    mean = float(grayscale(img).mean()) if img.ndim == 3 else float(img.mean())
    return _lut(img, to_uint8((np.arange(256) - mean) * factor + mean))


def exposure(img: np.ndarray, gamma: float) -> np.ndarray:
    from albumentations.augmentations.pixel import functional as fpixel
    return fpixel.gamma_transform(img, gamma)


def hue_saturation(img: np.ndarray, hue_deg: float, saturation: float) -> np.ndarray:
    """Rotate hue by hue_deg degrees and shift saturation by saturation * 255 (RGB only)."""
    if img.ndim == 2:
        return img
    from albumentations.augmentations.pixel import functional as fpixel
    return fpixel.shift_hsv(img, hue_deg / 2.0, saturation * 255.0, 0.0)


def equalize(img: np.ndarray) -> np.ndarray:
    """Histogram equalization of the luminance (colors keep their hue)."""
    from albumentations.augmentations.pixel import functional as fpixel
    return fpixel.equalize(img, mode="cv", by_channels=False)


def clahe(img: np.ndarray, clip_limit: float, grid: tuple[int, int]) -> np.ndarray:
    from albumentations.augmentations.pixel import functional as fpixel
    return fpixel.clahe(img, clip_limit, tuple(grid))


def gaussian_blur(img: np.ndarray, sigma: float) -> np.ndarray:
    if sigma <= 0:
        return img
    cv2 = require_cv2()
    k = int(2 * math.ceil(3 * sigma) + 1)
    return cv2.GaussianBlur(img, (k, k), sigmaX=sigma, sigmaY=sigma,
                            borderType=cv2.BORDER_REFLECT_101)


def motion_blur(img: np.ndarray, kernel_size: int, angle_deg: float, direction: float) -> np.ndarray:
    cv2 = require_cv2()
    from albumentations.augmentations.blur import functional as fblur
    kernel = fblur.create_motion_kernel(kernel_size, angle_deg, direction, False, random.Random(0))
    kernel = kernel / kernel.sum()
    return cv2.filter2D(img, -1, kernel, borderType=cv2.BORDER_REFLECT_101)


def salt_pepper_noise(img: np.ndarray, rng: np.random.Generator, fraction: float) -> np.ndarray:
    """Replace `fraction` of the pixels with random colors (Roboflow's 'noise')."""
    if fraction <= 0:
        return img
    h, w = img.shape[:2]
    k = int(round(fraction * h * w))
    if k == 0:
        return img
    idx = rng.choice(h * w, size=k, replace=False)
    out = img.copy()
    flat = out.reshape(h * w, -1)
    flat[idx] = rng.integers(0, 256, size=(k, flat.shape[1]), dtype=np.uint8)
    return out


def gaussian_noise(img: np.ndarray, rng: np.random.Generator, std: float) -> np.ndarray:
    return to_uint8(img + rng.normal(0.0, std * 255.0, size=img.shape))


def camera_gain(img: np.ndarray, rng: np.random.Generator, color_shift: float,
                intensity: float) -> np.ndarray:
    """Sensor noise of a high ISO (albumentations' ISO noise); grayscale gets luminance noise."""
    from albumentations.augmentations.pixel import functional as fpixel
    if img.ndim == 2:
        rgb = np.repeat(img[..., None], 3, axis=2)
        return grayscale(fpixel.iso_noise(rgb, color_shift, intensity, rng))
    return fpixel.iso_noise(img, color_shift, intensity, rng)


def cutout(img: np.ndarray, boxes_xyxy: np.ndarray, fill) -> np.ndarray:
    """Fill integer rectangles with `fill`."""
    out = img.copy()
    value = _fill_value(fill, img)
    for x0, y0, x1, y1 in np.asarray(boxes_xyxy, dtype=np.int64).reshape(-1, 4):
        out[max(y0, 0):max(y1, 0), max(x0, 0):max(x1, 0)] = value
    return out
