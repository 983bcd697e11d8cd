"""Helpers the PNG-mask formats share (voc-seg, cityscapes, binary-masks): reading a mask PNG
safely, an object's mask from its RLE or polygon, a mask's box, and painting label maps.

A mask is a (H, W) bool array; an object's stored form is COCO RLE (Annotations.rle). Boxes of
masks follow core/geometry.py: pixel (i, j) covers [i, i+1) x [j, j+1), so a mask's box is
(min col, min row, max col + 1, max row + 1).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from ..core.annotations import Annotations
from ..core.errors import OutputError, ParseError, UnsafeInputError
from ..core.geometry import rle_to_mask
from ..io.images import MAX_PIXELS


def read_png(path: Path, *, what: str = "mask") -> tuple[np.ndarray, str]:
    """(pixels, PIL mode) of a PNG, refusing pixel bombs; unreadable files are ParseErrors."""
    try:
        with Image.open(path) as im:
            if im.width * im.height > MAX_PIXELS:
                raise UnsafeInputError(path, f"{what} has more than {MAX_PIXELS} pixels; refused")
            return np.array(im), im.mode
    except (OSError, ValueError, SyntaxError) as e:
        raise ParseError(path, f"cannot read {what} PNG ({e.__class__.__name__})") from None


def object_mask(ann: Annotations, r: int, w: int, h: int, has_rle: bool, has_poly: bool,
                image: str) -> np.ndarray | None:
    """Row r's mask on a w x h image: its RLE, else its polygons rasterized with Pillow, else
    None (a bare box). An RLE of another size is an OutputError naming the image."""
    if has_rle:
        rle = ann.rle[r]
        if list(rle.get("size", [])) != [h, w]:
            raise OutputError(f"image {image!r}: mask of annotation {ann.id[r]} is "
                              f"{rle.get('size')} (h, w), the image is [{h}, {w}]")
        return rle_to_mask(rle)
    if has_poly:
        canvas = Image.new("L", (w, h), 0)
        draw = ImageDraw.Draw(canvas)
        for ring in ann.polygons.rings(r):
            if len(ring) >= 3:
                draw.polygon([(float(x), float(y)) for x, y in ring], fill=1, outline=1)
        return np.array(canvas, dtype=bool)
    return None


def save_png(path: Path, arr: np.ndarray, *, palette: list[int] | None = None) -> None:
    """Write a label map: uint8 as grayscale (or palette when given), uint16 as 16-bit
    grayscale, (H, W, 3) uint8 as RGB. Pillow writes no timestamps, so bytes are stable."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if palette is not None:
        im = Image.fromarray(arr, mode="P")
        im.putpalette(palette)
    else:
        im = Image.fromarray(arr)
    im.save(path, format="PNG")
