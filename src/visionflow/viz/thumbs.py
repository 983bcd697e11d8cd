"""Small pictures for the self-contained HTML reports (check, evaluate, dedup, the embedding
map): decoded upright at reduced scale, shrunk, and inlined as JPEG data URIs (no files beside
the report, no external URLs)."""

from __future__ import annotations

import base64
import io

from PIL import Image

from ..core.errors import Error
from ..io.images import load_rgb


def thumbnail(path: str | None, side: int) -> Image.Image | None:
    """The image file upright as RGB, at most side x side; None when it cannot be read."""
    if path is None:
        return None
    try:
        image = load_rgb(path, min_side=side)
    except (Error, OSError, ValueError, SyntaxError):
        return None
    image.thumbnail((side, side), Image.Resampling.LANCZOS)
    return image


def data_uri(image: Image.Image, quality: int = 75) -> str:
    """'data:image/jpeg;base64,...' of the picture."""
    buf = io.BytesIO()
    image.convert("RGB").save(buf, "JPEG", quality=quality)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")
