"""Helpers every format module shares: finishing a read, image sizes, placing image files,
number formatting. Kept small; anything format-specific stays in its format's module."""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.dataset import Dataset
from ..core.errors import MissingImageError, ParseError
from ..core.validate import validate
from ..io.images import image_sizes, place_files
from .base import ReadContext, WriteContext


def finish_read(ds: Dataset, ctx: ReadContext, *, where_annotation: Callable[[int], str],
                where_image: Callable[[int], str]) -> Dataset:
    """Run the model's rules on a freshly read dataset (see core/validate.py)."""
    return validate(ds, report=ctx.report, skip_errors=ctx.skip_errors,
                    where_annotation=where_annotation, where_image=where_image,
                    keep_invalid=getattr(ctx, "lenient", False))


def read_sizes(paths: Sequence[str | Path], ctx: ReadContext,
               where: Callable[[int], str] | None = None) -> np.ndarray:
    """(N, 2) sizes from image headers; failures go through ctx.fail and come back as -1."""
    def on_error(i: int, err: Exception) -> None:
        if where is not None and isinstance(err, MissingImageError):
            err = MissingImageError(where(i), f"image file {paths[i]} not found")
        ctx.fail(err)  # type: ignore[arg-type]

    with ctx.progress("Reading image sizes", len(paths)) as advance:
        return image_sizes(list(paths), on_error=on_error, progress=advance)


# Image attr holding the encoded bytes of an image that has no file on disk (LabelMe's
# imageData, TFRecord's image/encoded): write_images writes them as the image file.
IMAGE_BYTES = "image_bytes"


def write_images(ds: Dataset, dest_of_row: Callable[[int], Path], ctx: WriteContext) -> None:
    """Hard-link or copy every image with a file to its place in the output.

    An image without a file on disk but with encoded bytes (attr IMAGE_BYTES) is written
    from them. Any other image without a file is an error (--skip-errors: reported,
    annotations still written); with --images none nothing is placed.
    """
    if ctx.images == "none":
        return
    pairs: list[tuple[str, Path]] = []
    embedded = ds.images.attr(IMAGE_BYTES)
    for i, src in enumerate(ds.images.path):
        if (src is None or not Path(src).is_file()) and isinstance(embedded[i], bytes):
            dest = dest_of_row(i)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(embedded[i])
            continue
        if src is None or not Path(src).is_file():
            ctx.fail(MissingImageError(src or ds.images.file_name[i],
                                       "image file not found; pass --images none to write "
                                       "annotations only"))
            continue
        pairs.append((src, dest_of_row(i)))
    with ctx.progress("Placing images", len(pairs)) as advance:
        place_files(pairs, ctx.images, progress=advance)


def fmt_float(x: float, decimals: int | None = None) -> str:
    """Shortest text that reads back as the same float; integers without '.0'."""
    if decimals is not None:
        text = f"{x:.{decimals}f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


def head(path: Path, size: int = 1 << 16) -> bytes:
    """The first bytes of a file, for detection; empty when it cannot be read."""
    try:
        with open(path, "rb") as f:
            return f.read(size)
    except OSError:
        return b""


def attr_text(value: Any) -> str:
    """An attribute value as XML text (VOC <attributes>, CVAT <attribute>): true/false,
    integers without '.0', floats as fmt_float, anything else as str."""
    if isinstance(value, (bool, np.bool_)):
        return "true" if value else "false"
    if isinstance(value, (int, np.integer)):
        return str(int(value))
    if isinstance(value, (float, np.floating)):
        return fmt_float(float(value)) if math.isfinite(value) else str(float(value))
    return str(value)


def parse_error_at(path: Path, line: int | None, problem: str) -> ParseError:
    return ParseError(f"{path}:{line}" if line is not None else path, problem)
