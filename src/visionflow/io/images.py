"""Image files: sizes from headers (never pixels), decoding on demand, placing into outputs."""

from __future__ import annotations

import errno
import io
import os
import shutil
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

try:
    import fcntl
except ImportError:  # Windows: plain copies
    fcntl = None  # type: ignore[assignment]

from ..core.errors import MissingImageError, UnsafeInputError, ValidationError
from .headers import TruncatedImage, header_size

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


def _open(path: Path, data: bytes | None = None) -> Image.Image:
    """The image file at `path`, or its bytes `data` when they were already read (named by
    `path` in messages), opened with the pixel-bomb check."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(path if data is None else io.BytesIO(data))
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _bomb(path) from None
    except (UnidentifiedImageError, OSError, ValueError) as e:
        # Whether the file exists is asked only once opening failed, never per image.
        if data is None and isinstance(e, OSError) and not os.path.exists(path):
            raise MissingImageError(path, "image file not found") from None
        if (not data) if data is not None else (os.path.isfile(path)
                                                and os.path.getsize(path) == 0):
            raise ValidationError(path, "cannot read image: the file is empty (0 bytes)") \
                from None
        verb = "read" if data is None else "decode"  # bytes in hand: the file was read
        raise ValidationError(path, f"cannot {verb} image ({e.__class__.__name__}: "
                              f"{str(e).splitlines()[0] if str(e) else 'unknown format'})") from None


def _bomb(path: Path | str) -> UnsafeInputError:
    return UnsafeInputError(path, f"image has more than {MAX_PIXELS} pixels; refused as a "
                            "possible decompression bomb")


def image_size(path: Path | str, verify: bool = False) -> tuple[int, int]:
    """(width, height) as displayed, i.e. after EXIF orientation, read from the header only.

    Labelling tools and trainers (Ultralytics' exif_size) use the upright size, so a YOLO
    label normalized against it lands on the same pixels. Ordinary JPEG and PNG files are
    read by io.headers (plain os reads, ~20x cheaper than PIL.Image.open); everything that
    parser is not sure of goes through PIL (_pil_image_size), with the same answer.

    verify: also refuse a JPEG or PNG whose body was cut (no end marker): readers do, so a
    truncated image is not linked into an output (one extra 12-byte read per file).
    """
    try:
        size = header_size(path, MAX_PIXELS, check_tail=verify)
    except TruncatedImage as e:
        raise ValidationError(path, str(e)) from None
    if size is None:  # not an ordinary JPEG/PNG, or missing: PIL and _open decide
        return _pil_image_size(Path(path))
    if size[0] * size[1] > MAX_PIXELS:
        raise _bomb(Path(path))
    return size


def embedded_size(data: bytes, where: str) -> tuple[int, int]:
    """(width, height) of an image held in memory (LabelMe imageData, a mask PNG), from its
    header; UnsafeInputError above MAX_PIXELS (checked before any pixel is decoded),
    ValidationError when the bytes are no image. `where` names the record in messages."""
    import io

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                w, h = im.size
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise _bomb(where) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as e:
        raise ValidationError(where, f"embedded image cannot be read ({e.__class__.__name__})"
                              ) from None
    if w * h > MAX_PIXELS:
        raise _bomb(where)
    return w, h


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
            append(image_size(path, verify=True))
        except (MissingImageError, ValidationError, UnsafeInputError) as e:
            append((-1, -1))
            on_error(i, e)
        if progress is not None and i - done + 1 == _PROGRESS_EVERY:
            progress(_PROGRESS_EVERY)
            done = i + 1
    if progress is not None and len(sizes) > done:
        progress(len(sizes) - done)
    return np.array(sizes, np.int64).reshape(len(sizes), 2)


def load_rgb(path: Path | str, min_side: int | None = None, *,
             data: bytes | None = None) -> Image.Image:
    """Decode an image upright (EXIF applied) as RGB. min_side: a JPEG may be decoded at a
    reduced scale (Pillow's draft: a DCT-domain downscale, several times faster) as long as
    both sides stay >= min_side (thumbnails, hashes). data: the file's bytes when the caller
    has read them already (to hash them, say)."""
    with _open(Path(path), data) as im:
        try:
            if min_side and im.format == "JPEG":
                im.draft("RGB", (min_side, min_side))
            im.load()
            return ImageOps.exif_transpose(im).convert("RGB")
        except (OSError, ValueError, SyntaxError, EOFError) as e:
            raise ValidationError(path, f"cannot decode image ({e})") from None


def missing_files(paths: Sequence[str | None]) -> list[int]:
    """Rows of `paths` that name no file: each folder is listed once (os.scandir), so 250,000
    images cost a few listings rather than 250,000 stats; names not listed are stat'ed."""
    listed: dict[str, set[str] | None] = {}
    missing = []
    for i, p in enumerate(paths):
        if not p:
            missing.append(i)
            continue
        folder, name = os.path.split(p)
        if folder not in listed:
            try:
                with os.scandir(folder or ".") as entries:
                    listed[folder] = {e.name for e in entries if e.is_file()}
            except OSError:
                listed[folder] = None
        names = listed[folder]
        if (names is None or name not in names) and not os.path.isfile(p):
            missing.append(i)
    return missing


def place_file(src: str, dst: Path, mode: str) -> None:
    """Put src at dst without re-encoding. "copy" (the default) never shares a writable file
    with the source: a copy-on-write clone where the filesystem can (btrfs, XFS, ...), a plain
    copy otherwise. "link" hard-links (copies where impossible): cheap, but editing the output
    file in place then edits the source image too."""
    dst.parent.mkdir(parents=True, exist_ok=True)
    if mode == "link":
        try:
            os.link(src, dst)
            return
        except OSError:
            pass
    elif _clone(src, dst):
        return
    shutil.copyfile(src, dst)


_FICLONE = 0x40049409  # Linux ioctl: share the data blocks, copy on the next write
_NO_CLONE: set[tuple[int, int]] = set()  # (source device, destination device) that cannot


def _clone(src: str, dst: Path) -> bool:
    """Copy-on-write clone of src as dst (Linux FICLONE); False where the filesystem cannot."""
    if fcntl is None:
        return False
    with open(src, "rb") as s:
        key = (os.fstat(s.fileno()).st_dev, dst.parent.stat().st_dev)
        if key in _NO_CLONE:
            return False
        with open(dst, "wb") as d:
            try:
                fcntl.ioctl(d.fileno(), _FICLONE, s.fileno())
                return True
            except OSError as e:
                if e.errno not in (errno.EOPNOTSUPP, errno.ENOTTY, errno.EXDEV, errno.EINVAL,
                                   errno.ENOSYS, errno.EPERM):
                    raise
                _NO_CLONE.add(key)
                return False


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
