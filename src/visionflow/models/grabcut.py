"""GrabCut (OpenCV, no weights): the segmenter that always works, prompted by a box, clicks or
both. Where SAM is not configured, the web app's click-to-segment and `autolabel --masks
grabcut` run on this.

Why it is shaped this way (measured on the 30 objects of COCO8-seg, tests/models/test_grabcut.py):
- GrabCut costs ~3.5 s per object on a full-resolution photo (MODELS.md), so it runs on a crop
  around the prompt (the box, or the clicks) with a margin of background to learn from (as
  wide as the box: `margin`), downscaled so that the crop's longer side is at most `max_side`
  px; the mask is upscaled back (bilinear on the 0/1 mask, then thresholded: smooth edges, not
  blocks). ~0.3 s per object, and a better median IoU than full-resolution GrabCut (0.52
  against 0.31: a crop's background model is about the object's surroundings).
- A box says "outside is background, inside is probably object". When GrabCut then gives the
  whole box to the background (the object's colours are also the background's: an orange in
  a pile of oranges), it cuts again with the box's central ellipse (`core` of its size) as
  certain object: what a box around an object implies.
- A positive click is certain object, a negative click certain background (a disk of
  `click_radius` of the crop's size, so one click seeds the colour models); a separate piece of
  the result under a negative click is removed (GrabCut's colour models alone often keep it).
- Clicks alone: the region is around the clicks (`click_region` of the image), everything
  probably background except a disk around each positive click that is probably object;
  much weaker than a box (mean IoU 0.29; MODELS.md reported 0.43 against 0.71 for boxes, on
  a subset).
- OpenCV's random generator is seeded before each cut: the same prompt gives the same mask.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..core.errors import Error, UsageError
from .base import ModelInfo
from .masks import pick_pieces

_VERSION = "1"  # bump when pre- or post-processing changes what masks come out


def _cv2():
    try:
        import cv2
    except ImportError:
        raise Error("GrabCut needs OpenCV: pip install 'visionflow[autolabel]'") from None
    return cv2


def check_prompt(width: int, height: int, box: Any = None, points: Any = None,
                 labels: Any = None) -> tuple[np.ndarray | None, np.ndarray, np.ndarray]:
    """The prompt as float arrays (box (4,) clipped to the image, points (N, 2), labels (N,)
    of 0/1), or a one-line UsageError: no prompt, a box or click outside the image, a box of
    no area, labels that do not match the clicks. segment.py checks every model's prompt
    with it, so SAM, selfie and GrabCut refuse the same prompts the same way."""
    w, h = int(width), int(height)
    pts = np.zeros((0, 2)) if points is None else np.asarray(points, np.float64)
    if pts.size == 0:
        pts = np.zeros((0, 2))
    if pts.ndim != 2 or pts.shape[1] != 2 or not np.isfinite(pts).all():
        raise UsageError(f"clicks are (N, 2) numbers x, y; got {np.asarray(points).tolist()}")
    lab = (np.ones(len(pts), np.int64) if labels is None
           else np.asarray(labels, np.int64).reshape(-1))
    if len(lab) != len(pts):
        raise UsageError(f"{len(pts)} clicks but {len(lab)} labels")
    if not np.isin(lab, (0, 1)).all():
        raise UsageError("click labels are 1 (on the object) or 0 (background)")
    if box is None and not len(pts):
        raise UsageError("no prompt: give a box and/or clicks")
    b = None
    if box is not None:
        b = np.asarray(box, np.float64).reshape(-1)
        if b.shape != (4,) or not np.isfinite(b).all():
            raise UsageError(f"a box is x1,y1,x2,y2; got {np.asarray(box).tolist()}")
        if b[2] <= b[0] or b[3] <= b[1]:
            raise UsageError(f"box {_nums(b)} has no area (x2 > x1 and y2 > y1 needed)")
        if b[2] <= 0 or b[3] <= 0 or b[0] >= w or b[1] >= h:
            raise UsageError(f"box {_nums(b)} lies outside the {w}x{h} image")
        b = np.clip(b, 0, [w, h, w, h])
    for x, y in pts:
        if not (0 <= x < w and 0 <= y < h):
            raise UsageError(f"click ({x:g}, {y:g}) is outside the {w}x{h} image")
    if b is None and not (lab == 1).any():
        raise UsageError("only background clicks: add a click on the object, or a box")
    return b, pts, lab


def _nums(a: np.ndarray) -> str:
    return ",".join(f"{v:g}" for v in a)


class GrabCut:
    """`Segmenter` on OpenCV's GrabCut (see the module docstring for the choices)."""

    click_region = 0.5  # clicks only: the region spans this fraction of the image around them
    click_disk = 0.15   # ... and a disk of this fraction of it is probably object

    def __init__(self, *, max_side: int = 320, iterations: int = 5, margin: float = 1.0,
                 click_radius: float = 0.02, core: float = 0.3):
        cv2 = _cv2()
        self.max_side, self.iterations = int(max_side), int(iterations)
        self.margin, self.click_radius = float(margin), float(click_radius)
        self.core = float(core)
        self.info = ModelInfo(
            name="grabcut", task="segment", classes=("object",),
            fingerprint=f"opencv-grabcut-{cv2.__version__}-v{_VERSION}-{self.max_side}-"
                        f"{self.iterations}-{self.margin:g}-{self.click_radius:g}-{self.core:g}-"
                        f"{self.click_region:g}-{self.click_disk:g}",
            extra={"licence": "Apache-2.0 (OpenCV)", "weights": "none"})

    def segment(self, image: np.ndarray, *, box: np.ndarray | None = None,
                points: np.ndarray | None = None, labels: np.ndarray | None = None
                ) -> np.ndarray:
        cv2 = _cv2()
        image = np.asarray(image)
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise UsageError(f"GrabCut takes an RGB uint8 image (H, W, 3); got {image.dtype} "
                             f"{image.shape}")
        h, w = image.shape[:2]
        b, pts, lab = check_prompt(w, h, box, points, labels)
        # The working region: the box (or the clicks' extent) plus a margin of background.
        if b is not None:
            x1, y1, x2, y2 = b
        else:
            pos = pts[lab == 1]
            x1, y1 = pos.min(axis=0)
            x2, y2 = pos.max(axis=0) + 1
            # Clicks say little about the object's extent: look at `click_region` of the
            # image around them at least.
            grow = self.click_region * max(w, h)
            x1, y1, x2, y2 = x1 - grow / 2, y1 - grow / 2, x2 + grow / 2, y2 + grow / 2
        mx = max(self.margin * (x2 - x1), 8.0)
        my = max(self.margin * (y2 - y1), 8.0)
        rx1, ry1 = int(max(0, np.floor(x1 - mx))), int(max(0, np.floor(y1 - my)))
        rx2, ry2 = int(min(w, np.ceil(x2 + mx))), int(min(h, np.ceil(y2 + my)))
        crop = image[ry1:ry2, rx1:rx2]
        ch, cw = crop.shape[:2]
        s = min(1.0, self.max_side / max(ch, cw))
        sw, sh = max(1, round(cw * s)), max(1, round(ch * s))
        small = crop if s == 1.0 else cv2.resize(crop, (sw, sh), interpolation=cv2.INTER_AREA)
        small = np.ascontiguousarray(small[:, :, ::-1])  # OpenCV's BGR (its GMMs do not care,
        # but its documented input is BGR)
        sx, sy = sw / cw, sh / ch

        mask = np.full((sh, sw), cv2.GC_PR_BGD, np.uint8)
        if b is not None:
            mask[:] = cv2.GC_BGD
            bx1 = int(np.floor((b[0] - rx1) * sx))
            by1 = int(np.floor((b[1] - ry1) * sy))
            bx2 = int(np.ceil((b[2] - rx1) * sx))
            by2 = int(np.ceil((b[3] - ry1) * sy))
            mask[max(0, by1):by2, max(0, bx1):bx2] = cv2.GC_PR_FGD
        radius = max(2, round(self.click_radius * max(sw, sh)))
        if b is None:  # clicks only: probably object near a positive click
            for (x, y), lb in zip(pts, lab):
                if lb == 1:
                    cv2.circle(mask, (int((x - rx1) * sx), int((y - ry1) * sy)),
                               round(self.click_disk * max(sw, sh)) + radius,
                               int(cv2.GC_PR_FGD), -1)
        for (x, y), lb in zip(pts, lab):
            cx, cy = int((x - rx1) * sx), int((y - ry1) * sy)
            cv2.circle(mask, (cx, cy), radius, int(cv2.GC_FGD if lb else cv2.GC_BGD), -1)
        if not ((mask == cv2.GC_BGD) | (mask == cv2.GC_PR_BGD)).any():
            # The region is all object (a box over the whole image): GrabCut cannot learn a
            # background colour model; its frame is the best guess of background.
            mask[[0, -1], :] = cv2.GC_PR_BGD
            mask[:, [0, -1]] = cv2.GC_PR_BGD
        if not ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).any():
            return np.zeros((h, w), bool)
        seed = mask.copy()
        fg = self._cut(cv2, small, mask)
        if b is not None and fg.sum() < 0.05 * 255 * max(1, (seed == cv2.GC_PR_FGD).sum()):
            # GrabCut gave the whole box to the background: the object's colours are also
            # the background's (an orange in a pile of oranges). Say what a box means, that
            # the object is around its centre, and cut again from that seed.
            core = seed.copy()
            cy, cx = ((by1 + by2) / 2, (bx1 + bx2) / 2)
            cv2.ellipse(core, (int(cx), int(cy)),
                        (max(1, int((bx2 - bx1) * self.core / 2)),
                         max(1, int((by2 - by1) * self.core / 2))),
                        0, 0, 360, int(cv2.GC_FGD), -1)
            fg = self._cut(cv2, small, core)
        if s != 1.0:
            fg = cv2.resize(fg, (cw, ch), interpolation=cv2.INTER_LINEAR)
        out = np.zeros((h, w), bool)
        out[ry1:ry2, rx1:rx2] = fg >= 128
        if b is not None:  # nothing outside the box the user drew
            bx1, by1 = int(np.floor(b[0])), int(np.floor(b[1]))
            out[:by1] = False
            out[:, :bx1] = False
            out[int(np.ceil(b[3])):] = False
            out[:, int(np.ceil(b[2])):] = False
        # A background click on a separate piece means "not this": GrabCut's colour models
        # alone often keep a piece whose colour is also inside the object.
        return pick_pieces(out, pts, lab, radius=int(np.ceil((radius + 2) / s)))

    def _cut(self, cv2, small: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """GrabCut from `mask` (changed in place): the object as 0/255 uint8."""
        bgd, fgd = np.zeros((1, 65), np.float64), np.zeros((1, 65), np.float64)
        cv2.setRNGSeed(0)  # its k-means initialisation: the same prompt, the same mask
        cv2.grabCut(small, mask, None, bgd, fgd, self.iterations, cv2.GC_INIT_WITH_MASK)
        return ((mask == cv2.GC_FGD) | (mask == cv2.GC_PR_FGD)).astype(np.uint8) * 255
