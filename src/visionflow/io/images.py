"""Image files: sizes from headers (never pixels), decoding on demand, placing into outputs."""

from __future__ import annotations

import os
import shutil
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

from ..core.errors import MissingImageError, UnsafeInputError, ValidationError

# A decompression bomb is refused rather than decoded: 2^30 pixels (32768^2) is larger than any
# real photo or satellite tile users convert, and 4 GiB+ of RGBA.
MAX_PIXELS = 1 << 30
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".jfif",
                  ".pgm", ".ppm", ".dng", ".mpo", ".heic")
_ROTATED = {5, 6, 7, 8}  # EXIF orientations that swap width and height
_WORKERS = min(32, (os.cpu_count() or 1) * 4)


def is_image_file(path: Path | str) -> bool:
    return str(path).lower().endswith(IMAGE_SUFFIXES)


def _open(path: Path) -> Image.Image:
    if not os.path.exists(path):
        raise MissingImageError(path, "image file not found")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise UnsafeInputError(path, f"image has more than {MAX_PIXELS} pixels; refused as a "
                               "possible decompression bomb") from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        raise ValidationError(path, f"cannot read image ({e.__class__.__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else 'unknown format'})") from None


def image_size(path: Path | str) -> tuple[int, int]:
    """(width, height) as displayed, i.e. after EXIF orientation, read from the header only.

    Labelling tools and trainers (Ultralytics' exif_size) use the upright size, so a YOLO
    label normalized against it lands on the same pixels.
    """
    with _open(Path(path)) as im:
        w, h = im.size
        try:
            orientation = im.getexif().get(0x0112, 1)
        except Exception:  # noqa: BLE001 - a broken EXIF block is no reason to refuse the image
            orientation = 1
    return (h, w) if orientation in _ROTATED else (w, h)


def image_sizes(paths: Sequence[Path | str], *, on_error: Callable[[int, Exception], None],
                progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Sizes of many images in parallel threads; (N, 2) int64, -1 where on_error was called."""
    out = np.full((len(paths), 2), -1, np.int64)

    def one(i: int) -> tuple[int, tuple[int, int] | Exception]:
        try:
            return i, image_size(paths[i])
        except (MissingImageError, ValidationError, UnsafeInputError) as e:
            return i, e

    with ThreadPoolExecutor(_WORKERS) as pool:
        for i, result in pool.map(one, range(len(paths)), chunksize=64):
            if isinstance(result, Exception):
                on_error(i, result)
            else:
                out[i] = result
            if progress:
                progress(1)
    return out


def load_rgb(path: Path | str) -> Image.Image:
    """Decode an image upright (EXIF applied) as RGB."""
    with _open(Path(path)) as im:
        try:
            im.load()
            return ImageOps.exif_transpose(im).convert("RGB")
        except (OSError, ValueError, SyntaxError) as e:
            raise ValidationError(path, f"cannot decode image ({e})") from None


def place_file(src: str, dst: Path, mode: str) -> None:
    """Hard-link src to dst where the filesystem allows, copy otherwise. Never re-encodes."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if mode == "link":
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    shutil.copyfile(src, dst)


def place_files(pairs: Sequence[tuple[str, Path]], mode: str,
                progress: Callable[[int], None] | None = None) -> None:
    """Place many files in parallel threads (I/O bound)."""
    if mode == "none" or not pairs:
        return
    for d in {dst.parent for _, dst in pairs}:
        d.mkdir(parents=True, exist_ok=True)

    def one(pair: tuple[str, Path]) -> None:
        place_file(pair[0], pair[1], mode)

    with ThreadPoolExecutor(_WORKERS) as pool:
        for _ in pool.map(one, pairs, chunksize=64):
            if progress:
                progress(1)
