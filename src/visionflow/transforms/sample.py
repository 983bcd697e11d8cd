"""One image with its annotations while it goes through a recipe.

Pixels are decoded on first use (EXIF-upright, JPEG DCT-scaled when the first operation only
needs a smaller image) and an image whose pixels no operation changed is written as its
original bytes: no forced recompression.
"""

from __future__ import annotations

import io
import math
import os
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image, ImageOps

from ..core.annotations import Annotations
from ..core.errors import ValidationError
from ..io.images import _open, place_file
from . import functional as F

_ROTATED = {5, 6, 7, 8}
JPEG_SUFFIXES = (".jpg", ".jpeg", ".jfif")
WRITABLE_SUFFIXES = JPEG_SUFFIXES + (".png", ".bmp", ".tif", ".tiff", ".webp")


@dataclass
class Sample:
    """file_name is relative to its split; width/height is the frame annotations live in."""

    file_name: str
    split: str
    width: int
    height: int
    ann: Annotations
    attrs: dict[str, Any] = field(default_factory=dict)
    source_path: str | None = None
    image_id: int = 0
    draft_wh: tuple[int, int] | None = None  # decode no smaller than this (DCT scaling)
    _image: np.ndarray | None = None
    changed: bool = False                      # pixels differ from the source file's

    @property
    def image(self) -> np.ndarray:
        """(H, W, 3) RGB or (H, W) grayscale uint8, decoded on first use.

        May be smaller than width x height only right after a draft decode; `warp` accounts
        for that, and Resize (the only operation that asks for a draft) goes through warp.
        """
        if self._image is None:
            if self.source_path is None:
                from ..core.errors import MissingImageError
                raise MissingImageError(self.file_name, "image has no file on disk and the "
                                        "recipe needs its pixels")
            self._image = decode(self.source_path, self.draft_wh)
        return self._image

    def set_image(self, image: np.ndarray) -> None:
        self._image = image
        self.changed = True
        self.height, self.width = image.shape[:2]

    def copy(self, **changes: Any) -> Sample:
        return replace(self, **changes)

    def warp(self, m: np.ndarray, out_wh: tuple[int, int], ctx, *, fill=None,
             clip_xyxy=None, min_visibility: float | None = None) -> None:
        """Move pixels and every annotation column with the same matrix."""
        img = self.image
        h, w = img.shape[:2]
        m_img = m @ F.scale(self.width / w, self.height / h) if (w, h) != (self.width, self.height) else m
        out = F.warp_raster(img, m_img, out_wh, fill=ctx.fill if fill is None else fill)
        self.ann = ctx.warp_annotations(self.ann, m, out_wh, clip_xyxy=clip_xyxy,
                                        min_visibility=min_visibility)
        self.set_image(out)

    def output_name(self) -> str:
        stem, suffix = os.path.splitext(self.file_name)
        if suffix.lower() not in WRITABLE_SUFFIXES:
            return stem + ".png"
        return self.file_name


def decode(path: str, draft_wh: tuple[int, int] | None = None) -> np.ndarray:
    """Upright (EXIF applied) pixels; JPEGs decoded at the smallest DCT scale (1/2, 1/4, 1/8)
    that still gives at least draft_wh."""
    with _open(Path(path)) as im:
        try:
            if draft_wh is not None and im.format == "JPEG":
                dw, dh = draft_wh
                if _orientation(im) in _ROTATED:
                    dw, dh = dh, dw
                im.draft("RGB" if im.mode != "L" else "L", (max(1, dw), max(1, dh)))
            im.load()
            if _orientation(im) != 1:
                im = ImageOps.exif_transpose(im)
            if im.mode not in ("L", "RGB"):
                im = im.convert("L" if im.mode in ("1", "I;16", "I", "F", "LA") else "RGB")
            return np.asarray(im)
        except (OSError, ValueError, SyntaxError) as e:
            raise ValidationError(path, f"cannot decode image ({e})") from None


def _orientation(im: Image.Image) -> int:
    try:
        return int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - a broken EXIF block is no reason to refuse the image
        return 1


def encode(image: np.ndarray, file_name: str, jpeg_quality: int) -> bytes:
    """Deterministic encoding by suffix: fixed JPEG settings, PNG at a fixed level."""
    suffix = os.path.splitext(file_name)[1].lower()
    im = Image.fromarray(image)
    buf = io.BytesIO()
    if suffix in JPEG_SUFFIXES:
        im.save(buf, "JPEG", quality=jpeg_quality, subsampling=2,
                optimize=False, progressive=False)
    elif suffix == ".png":
        im.save(buf, "PNG", compress_level=6)
    elif suffix == ".webp":
        im.save(buf, "WEBP", quality=jpeg_quality, method=4)
    elif suffix in (".tif", ".tiff"):
        im.save(buf, "TIFF", compression="tiff_deflate")
    else:
        im.save(buf, "BMP")
    return buf.getvalue()


def output_bytes(sample: Sample, jpeg_quality: int) -> bytes | None:
    """Encoded pixels, or None when the source file can be reused as it is."""
    if not sample.changed and sample.source_path is not None \
            and sample.output_name() == sample.file_name:
        return None
    return encode(sample.image, sample.output_name(), jpeg_quality)


def place(sample: Sample, data: bytes | None, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    if data is None:  # pixels unchanged: the file as it is, never shared with the source
        place_file(sample.source_path, dest, "copy")
        return
    with open(dest, "wb") as f:
        f.write(data)


def ceil_int(x: float) -> int:
    return int(math.ceil(x - 1e-9))
