"""Grid thumbnails: made on demand, JPEG, cached on disk by what the pixels are.

The cache key is the image's content hash in a workspace (a blob never changes) or its
location, size and modification time for a folder, plus the side, so an edited file gets a
new thumbnail and the same picture in two revisions is made once. Files live under the app's
cache folder (the workspace's .visionflow/cache or visionflow's cache for a folder), written
atomically; deleting them is always safe. Sides snap up to a few sizes so the cache holds at
most one file per size bucket.
"""

from __future__ import annotations

import io
from pathlib import Path

from ..core.errors import Error
from ..io.cache import put_file
from .index import FilterError
from .state import AppState, UnknownImage

SIDES = (64, 128, 192, 256, 384, 512, 768, 1024)
QUALITY = 80


def thumb_side(value: str | int | None) -> int:
    """The cached side for a requested size (16..1024, snapped up to one of SIDES)."""
    if value is None or value == "":
        return 256
    try:
        side = int(value)
    except (TypeError, ValueError):
        raise FilterError(f"size={str(value)[:20]!r} is not an integer") from None
    if not 16 <= side <= SIDES[-1]:
        raise FilterError(f"size={side}: thumbnails are 16..{SIDES[-1]} pixels")
    return next(s for s in SIDES if s >= side)


def thumbnail(state: AppState, image_id: int, side: int) -> tuple[bytes, str]:
    """(JPEG bytes, ETag) of image `image_id` at most side x side, upright (EXIF applied).
    UnknownImage when the id is bad or the file cannot be decoded."""
    path = state.image_path(image_id)
    key = state.image_key(image_id)
    etag = f'"{key[:40]}-{side}"'
    cached = state.cache_dir / "thumbs" / str(side) / key[:2] / f"{key}.jpg"
    try:
        return cached.read_bytes(), etag
    except OSError:
        pass
    data = make_thumbnail(path, side)
    if data is None:
        raise UnknownImage(f"image {image_id} ({state.index.file_name[image_id]}): "
                           f"{path.name} cannot be decoded")
    try:
        put_file(cached, data)
    except OSError:
        pass                              # a read-only cache folder: served, not kept
    return data, etag


def make_thumbnail(path: Path, side: int) -> bytes | None:
    """JPEG bytes of the picture shrunk to fit side x side; None when it cannot be read."""
    from ..viz.thumbs import thumbnail as shrink
    try:
        image = shrink(str(path), side)
    except Error:
        return None
    if image is None:
        return None
    buf = io.BytesIO()
    image.save(buf, "JPEG", quality=QUALITY)
    return buf.getvalue()
