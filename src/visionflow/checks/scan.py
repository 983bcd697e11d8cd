"""One pass over the image files: header size, EXIF orientation, readability, content hashes.

Each file is opened once. Without hashing only its header and its last bytes are read (a JPEG
without its end marker or a PNG without IEND is decoded to confirm it is truncated). With
hashing the bytes are hashed with SHA-256 (streamed for large files) and the pixels decoded at
reduced size (JPEG draft mode: 1/8 scale) for a 64-bit dHash; a decoding failure tells a
truncated or corrupt file. Pillow holds the GIL while decoding, so large scans run in a pool of
processes, chunk by chunk: memory stays bounded by the chunk size whatever the dataset size.
"""

from __future__ import annotations

import hashlib
import io
import os
import threading
import warnings
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from itertools import repeat
from multiprocessing import get_all_start_methods, get_context

import numpy as np
from PIL import Image, UnidentifiedImageError

from ..core.dataset import Dataset
from ..io import images as _images  # noqa: F401 - sets Image.MAX_IMAGE_PIXELS (bomb guard)

OK, MISSING, UNREADABLE, TRUNCATED = 0, 1, 2, 3
_WHOLE_READ_BYTES = 64 << 20      # files up to this size are read once for hash + decode
_SMALL_FILE_BYTES = 256 << 10    # without hashing, files up to this size are read whole
_STREAM_CHUNK = 1 << 20
_TAIL_BYTES = 4096
_CHUNK_IMAGES = 256               # images per task sent to a worker process
_PARALLEL_MIN_IMAGES = 512        # below this, scanning in-process is faster than a pool
HASH_W, HASH_H = 9, 8             # dHash: 8 rows of 9 pixels -> 64 left/right comparisons
FLAT_RANGE = 6                    # gray levels: a thumbnail varying less is a flat image


@dataclass(frozen=True, eq=False)
class ImageScan:
    """What the files say, one row per image row of the dataset.

    raw_size:    (N, 2) width, height as stored (before EXIF orientation); -1 when unknown.
    orientation: (N,) EXIF orientation 1..8 (1 when absent), 0 when unknown.
    status:      (N,) OK, MISSING, UNREADABLE or TRUNCATED.
    problem:     (N,) object: why the file is missing/unreadable/truncated, else None.
    sha256:      (N,) object hex digest, None when not hashed.
    dhash:       (N,) uint64 perceptual hash; has_dhash says which rows have one.
    hashed:      whether hashes were computed at all.
    """

    raw_size: np.ndarray
    orientation: np.ndarray
    status: np.ndarray
    problem: np.ndarray
    sha256: np.ndarray
    dhash: np.ndarray
    has_dhash: np.ndarray
    hashed: bool

    def upright_size(self) -> np.ndarray:
        """(N, 2) size as displayed (EXIF orientation 5..8 swaps width and height)."""
        out = self.raw_size.copy()
        swap = np.isin(self.orientation, (5, 6, 7, 8))
        out[swap] = out[swap][:, ::-1]
        return out


def scan_images(ds: Dataset, *, hash_images: bool = True, workers: int | None = None,
                progress: Callable[[int], None] | None = None) -> ImageScan:
    """Scan every image file of `ds` (rows without a path are MISSING)."""
    paths = ds.images.path.tolist()
    n = len(paths)
    rows: list[tuple] = [None] * n  # type: ignore[list-item]
    starts = range(0, n, _CHUNK_IMAGES)
    chunks = [paths[s:s + _CHUNK_IMAGES] for s in starts]
    n_workers = workers or os.cpu_count() or 1
    done = False
    if n >= _PARALLEL_MIN_IMAGES and n_workers > 1:
        try:
            with ProcessPoolExecutor(min(n_workers, len(chunks)),
                                     mp_context=_mp_context()) as pool:
                for s, result in zip(starts, pool.map(scan_chunk, chunks,
                                                      repeat(hash_images))):
                    rows[s:s + len(result)] = result
                    if progress:
                        progress(len(result))
            done = True
        except (OSError, BrokenProcessPool, PermissionError):
            done = False  # no processes here (sandbox, frozen app): scan in-process below
    if not done:
        for s, chunk in zip(starts, chunks):
            result = scan_chunk(chunk, hash_images)
            rows[s:s + len(result)] = result
            if progress:
                progress(len(result))
    raw = np.array([(r[0], r[1]) for r in rows], dtype=np.int64).reshape(n, 2)
    return ImageScan(
        raw_size=raw,
        orientation=np.array([r[2] for r in rows], dtype=np.int16),
        status=np.array([r[3] for r in rows], dtype=np.int8),
        problem=_objects([r[4] for r in rows]),
        sha256=_objects([r[5] for r in rows]),
        dhash=np.array([r[6] for r in rows], dtype=np.uint64),
        has_dhash=np.array([r[7] for r in rows], dtype=bool),
        hashed=hash_images,
    )


def _mp_context():
    """fork when this process runs a single thread (fast, needs no importable __main__),
    spawn otherwise (forking a process with threads can deadlock the child)."""
    if threading.active_count() == 1 and "fork" in get_all_start_methods():
        return get_context("fork")
    return get_context("spawn")


def scan_chunk(paths: Sequence[str | None], hash_images: bool) -> list[tuple]:
    """Scan some files (the unit of work of a worker process)."""
    with warnings.catch_warnings():  # once per chunk: entering it costs as much as a header
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        return [scan_file(p, hash_images) for p in paths]


def scan_file(path: str | None, hash_images: bool) -> tuple:
    """(width, height, orientation, status, problem, sha256, dhash, has_dhash) of one file.
    Call it under a warnings filter that turns DecompressionBombWarning into an error (as
    scan_chunk does) for the pixel-bomb guard to refuse large images."""
    if path is None:
        return (-1, -1, 0, MISSING, "image file not found", None, 0, False)
    data: bytes | None = None
    try:
        with open(path, "rb") as f:
            size = os.fstat(f.fileno()).st_size
            if size <= (_WHOLE_READ_BYTES if hash_images else _SMALL_FILE_BYTES):
                data = f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return (-1, -1, 0, MISSING, "image file not found", None, 0, False)
    except OSError as e:
        return (-1, -1, 0, UNREADABLE, f"cannot read file ({e.strerror or e})", None, 0, False)
    sha = None
    if hash_images:
        try:
            sha = hashlib.sha256(data).hexdigest() if data is not None else _sha256_streamed(path)
        except OSError as e:
            return (-1, -1, 0, UNREADABLE, f"cannot read file ({e.strerror or e})", None, 0,
                    False)
    try:
        im = Image.open(io.BytesIO(data) if data is not None else path)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return (-1, -1, 0, UNREADABLE, ("more pixels than allowed; refused as a possible "
                                         "decompression bomb"), sha, 0, False)
    except UnidentifiedImageError:
        return (-1, -1, 0, UNREADABLE, ("not a readable image (unknown format or corrupt "
                                         "header)"), sha, 0, False)
    except (OSError, ValueError, SyntaxError) as e:
        return (-1, -1, 0, UNREADABLE, f"not a readable image ({_reason(e)})", sha, 0, False)
    with im:
        w, h = im.size
        try:
            orientation = int(im.getexif().get(0x0112, 1))
        except Exception:  # noqa: BLE001 - a broken EXIF block is not a broken image
            orientation = 1
        if orientation not in range(1, 9):
            orientation = 1
        if hash_images:
            try:
                dhash = _dhash(im)
                return (w, h, orientation, OK, None, sha, dhash or 0, dhash is not None)
            except Exception as e:  # noqa: BLE001 - any decoder failure is the finding
                status = TRUNCATED if "truncat" in str(e).lower() else UNREADABLE
                return (w, h, orientation, status, _decode_problem(e, status), sha, 0, False)
        tail = data[-_TAIL_BYTES:] if data is not None else _tail(path, size)
        if _looks_truncated(tail, im.format):
            try:
                im.draft(im.mode, (max(1, w // 8), max(1, h // 8)))
                im.load()
            except Exception as e:  # noqa: BLE001
                status = TRUNCATED if "truncat" in str(e).lower() else UNREADABLE
                return (w, h, orientation, status, _decode_problem(e, status), None, 0, False)
        return (w, h, orientation, OK, None, None, 0, False)


def _dhash(im: Image.Image) -> int | None:
    """64-bit difference hash of the stored pixels (reduced decoding for JPEG); None for a
    flat image (blank, one color), whose hash says nothing about its content."""
    im.draft("L", (HASH_W * 2, HASH_H * 2))
    im.load()
    gray = im.convert("L") if im.mode != "L" else im
    small = np.asarray(gray.resize((HASH_W, HASH_H), Image.Resampling.BOX), dtype=np.int16)
    if int(small.max()) - int(small.min()) < FLAT_RANGE:
        return None
    bits = (small[:, 1:] > small[:, :-1]).reshape(-1)
    return int.from_bytes(np.packbits(bits).tobytes(), "big")


def _sha256_streamed(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(_STREAM_CHUNK):
            h.update(block)
    return h.hexdigest()


def _tail(path: str, size: int) -> bytes:
    with open(path, "rb") as f:
        f.seek(max(0, size - _TAIL_BYTES))
        return f.read()


def _looks_truncated(tail: bytes, fmt: str | None) -> bool:
    """A JPEG without its end-of-image marker, a PNG without IEND near the end of the file."""
    if fmt not in ("JPEG", "MPO", "PNG"):
        return False
    return (b"IEND" if fmt == "PNG" else b"\xff\xd9") not in tail


def _decode_problem(e: Exception, status: int) -> str:
    if status == TRUNCATED:
        return f"image data is truncated ({_reason(e)})"
    return f"cannot decode image ({_reason(e)})"


def _reason(e: Exception) -> str:
    text = str(e).splitlines()[0] if str(e) else e.__class__.__name__
    return text[:200]


def _objects(values: list) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = values
    return out


def popcount64(x: np.ndarray) -> np.ndarray:
    """Number of set bits of each uint64."""
    x = np.asarray(x, dtype=np.uint64)
    if hasattr(np, "bitwise_count"):
        return np.bitwise_count(x).astype(np.int64)
    as_bytes = x.view(np.uint8).reshape(-1, 8)
    return _BYTE_BITS[as_bytes].sum(axis=1).astype(np.int64)


_BYTE_BITS = np.array([bin(i).count("1") for i in range(256)], dtype=np.int64)
