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
from .headers import header_size

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
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _bomb(path) from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        # Whether the file exists is asked only once opening failed, never per image.
        if isinstance(e, OSError) and not os.path.exists(path):
            raise MissingImageError(path, "image file not found") from None
        raise ValidationError(path, f"cannot read image ({e.__class__.__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else 'unknown format'})") from None


def _bomb(path: Path) -> UnsafeInputError:
    return UnsafeInputError(path, f"image has more than {MAX_PIXELS} pixels; refused as a "
                            "possible decompression bomb")


def image_size(path: Path | str) -> tuple[int, int]:
    """(width, height) as displayed, i.e. after EXIF orientation, read from the header only.

    Labelling tools and trainers (Ultralytics' exif_size) use the upright size, so a YOLO
    label normalized against it lands on the same pixels. Ordinary JPEG and PNG files are
    read by io.headers (plain os reads, ~20x cheaper than PIL.Image.open); everything that
    parser is not sure of goes through PIL (_pil_image_size), with the same answer.
    """
    size = header_size(path, MAX_PIXELS)
    if size is None:  # not an ordinary JPEG/PNG, or missing: PIL and _open decide
        return _pil_image_size(Path(path))
    if size[0] * size[1] > MAX_PIXELS:
        raise _bomb(Path(path))
    return size


def _pil_image_size(path: Path) -> tuple[int, int]:
    """image_size through PIL: any format, and the reference the header parser matches."""
    with _open(path) as im:
        w, h = im.size
        try:
            orientation = im.getexif().get(0x0112, 1)
        except Exception:  # noqa: BLE001 - a broken EXIF block is no reason to refuse the image
            orientation = 1
    return (h, w) if orientation in _ROTATED else (w, h)


_PROGRESS_EVERY = 256  # progress callbacks (a terminal bar) cost more than a header read


def image_sizes(paths: Sequence[Path | str], *, on_error: Callable[[int, Exception], None],
                progress: Callable[[int], None] | None = None) -> np.ndarray:
    """Sizes of many images; (N, 2) int64, -1 where on_error was called.

    One thread: a header read is a few microseconds of Python, so a pool only adds GIL and
    lock contention (measured ~20% slower on 2 cores).
    """
    sizes: list[tuple[int, int]] = []
    append = sizes.append
    done = 0
    for i, path in enumerate(paths):
        try:
            append(image_size(path))
        except (MissingImageError, ValidationError, UnsafeInputError) as e:
            append((-1, -1))
            on_error(i, e)
        if progress is not None and i - done + 1 == _PROGRESS_EVERY:
            progress(_PROGRESS_EVERY)
            done = i + 1
    if progress is not None and len(sizes) > done:
        progress(len(sizes) - done)
    return np.array(sizes, np.int64).reshape(len(sizes), 2)


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
