"""Helpers every format module shares: finishing a read, image sizes, placing image files,
number formatting. Kept small; anything format-specific stays in its format's module."""

from __future__ import annotations

import csv
import io
import math
import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..core.dataset import Dataset
from ..core.images import UNSPLIT, canonical_split
from ..core.errors import (Error, MissingImageError, OutputError, ParseError,
                           UnsafeInputError, ValidationError)
from ..core.validate import validate
from ..io.images import embedded_size, image_size, image_sizes, place_files
from ..io.paths import FileIndex, clean_relative, resolve_inside, tails_of
from ..io.safe_load import text_of
from .base import ReadContext, WriteContext


def finish_read(ds: Dataset, ctx: ReadContext, *, where_annotation: Callable[[int], str],
                where_image: Callable[[int], str]) -> Dataset:
    """Run the model's rules on a freshly read dataset (see core/validate.py), and check the
    image files the reader did not read itself (check_image_files; not in a lenient read:
    `check` and `fix` scan every file themselves, checks/scan.py)."""
    lenient = getattr(ctx, "lenient", False)
    return validate(ds, report=ctx.report, skip_errors=ctx.skip_errors,
                    where_annotation=where_annotation, where_image=where_image,
                    keep_invalid=lenient,
                    image_problems=None if lenient else check_image_files(ds, ctx))


def check_image_files(ds: Dataset, ctx: ReadContext) -> dict[int, str]:
    """Problems of the image files, by row: empty, not an image, truncated (no JPEG/PNG end
    marker), or a size other than the annotation declares (every box would land wrong).

    Only images that are present: a missing image is an error only when the output needs it
    (write_images), as a dataset is often read for its annotations alone. One header read and
    one 12-byte tail read per image; images read_sizes already read are skipped.
    """
    imgs = ds.images
    problems: dict[int, str] = {}
    if IMAGE_BYTES in imgs.attrs:  # embedded images (LabelMe imageData): header and size
        for i, data in enumerate(imgs.attr(IMAGE_BYTES)):
            if isinstance(data, bytes) and imgs.path[i] is None:
                try:
                    w, h = embedded_size(data, f"image {imgs.file_name[i]!r}")
                except (ValidationError, UnsafeInputError) as e:
                    problems[i] = e.problem
                    continue
                dw, dh = int(imgs.width[i]), int(imgs.height[i])
                if dw > 0 and dh > 0 and (dw, dh) != (w, h):
                    problems[i] = (f"declared size {dw}x{dh} disagrees with the embedded "
                                   f"image ({w}x{h}): every box would land wrong")
    checked = getattr(ctx, "checked_images", set())
    todo = [i for i, p in enumerate(imgs.path) if p is not None and str(p) not in checked]
    if not todo:
        return problems
    missing: list[int] = []
    found = sum(p is not None for p in imgs.path) - len(todo)  # read_sizes found these
    with ctx.progress("Checking images", len(todo)) as advance:
        for k, i in enumerate(todo):
            if k % 256 == 255:
                advance(256)
            try:
                w, h = image_size(imgs.path[i], verify=True)
            except MissingImageError:
                missing.append(i)
                continue
            except (ValidationError, UnsafeInputError) as e:
                problems[i] = e.problem
                found += 1
                continue
            found += 1
            dw, dh = int(imgs.width[i]), int(imgs.height[i])
            if dw > 0 and dh > 0 and (dw, dh) != (w, h):
                turned = ("; the size before its EXIF orientation: `visionflow fix` turns "
                          "the pixels and the annotations upright" if (dw, dh) == (h, w) else "")
                problems[i] = (f"declared size {dw}x{dh} disagrees with the image file "
                               f"{imgs.path[i]} ({w}x{h}): every box would land wrong{turned}")
        advance(len(todo) % 256)
    if found and missing:  # the reader located them, then they went: named by their record
        for i in missing:
            problems[i] = f"image file {imgs.path[i]} not found"
    return problems


def read_sizes(paths: Sequence[str | Path], ctx: ReadContext,
               where: Callable[[int], str] | None = None) -> np.ndarray:
    """(N, 2) sizes from image headers; failures go through ctx.fail and come back as -1."""
    def on_error(i: int, err: Exception) -> None:
        if where is not None and isinstance(err, MissingImageError):
            err = MissingImageError(where(i), f"image file {paths[i]} not found")
        ctx.fail(err)  # type: ignore[arg-type]

    paths = list(paths)
    checked = getattr(ctx, "checked_images", None)
    if checked is not None:
        checked.update(map(str, paths))
    with ctx.progress("Reading image sizes", len(paths)) as advance:
        return image_sizes(paths, on_error=on_error, progress=advance)


def image_file(ctx: ReadContext, base: Path, name: str, *, where: str) -> Path:
    """The path of an image an annotation names: every reader turns a file name into an image
    path here (or through image_index), so that --images-dir and --follow-links hold for all.

    base/name where the format puts it; with --images-dir, images_dir/name or else the longest
    tail of name found there ("train/x.jpg" -> "x.jpg": annotations made beside other folders).
    Symlinks leading out of the folder are refused unless --follow-links. The path may not
    exist: the caller reports a missing image as it does for any other.
    """
    follow = ctx.follow_links
    if ctx.images_dir is None:
        return resolve_inside(base, name, where=where, follow_links=follow)
    ctx.images_dir_used = True
    rel = clean_relative(name, where=where)
    for cand in (rel, *tails_of(rel)):
        p = resolve_inside(ctx.images_dir, cand, where=where, follow_links=follow)
        if p.is_file():
            return p
    return ctx.images_dir / rel


def find_image(ctx: ReadContext, base: Path, candidates: Sequence[str], *,
               where: str) -> str | None:
    """The absolute path of the first candidate (names relative to base where the format may
    put the image) that is a file, else None. With --images-dir the most specific candidate is
    looked up there instead (image_file: as named, else by its tails)."""
    if ctx.images_dir is not None:
        p = image_file(ctx, base, max(candidates, key=lambda c: c.count("/")), where=where)
        return os.path.abspath(p) if p.is_file() else None
    for rel in candidates:
        p = resolve_inside(base, rel, where=where, follow_links=ctx.follow_links)
        if p.is_file():
            return os.path.abspath(p)
    return None


def refuse_images_dir(ctx: ReadContext, fmt: str, why: str) -> None:
    """For a format that finds its images by listing its own folders: --images-dir is an
    error said up front, not an option silently ignored."""
    if ctx.images_dir is not None:
        raise Error(f"`images_dir` cannot be used with {fmt}: {why}")


def image_index(ctx: ReadContext, base: Path, root: Path | None = None) -> FileIndex:
    """A FileIndex of the folder images are looked up in (image_file's rules, for readers that
    locate many images by one listing). base must lie inside the dataset folder root, when
    given: an image folder that is a link leading out of it needs --follow-links."""
    if ctx.images_dir is None:
        if root is not None and not ctx.follow_links and base.exists():
            # from the folder both lie in down to base, no link may lead elsewhere
            top = os.path.commonpath([os.path.abspath(base), os.path.abspath(root)])
            rel = os.path.relpath(base, top)
            if rel != ".":
                resolve_inside(Path(top), rel.replace(os.sep, "/"), where=str(base))
        return FileIndex(base, follow_links=ctx.follow_links)
    ctx.images_dir_used = True
    return FileIndex(ctx.images_dir, follow_links=ctx.follow_links, tails=True)


# Image attr holding the encoded bytes of an image that has no file on disk (LabelMe's
# imageData, TFRecord's image/encoded): write_images writes them as the image file.
IMAGE_BYTES = "image_bytes"


def write_images(ds: Dataset, dest_of_row: Callable[[int], Path], ctx: WriteContext) -> None:
    """Copy (or hard-link) every image with a file to its place in the output.

    An image without a file on disk but with encoded bytes (attr IMAGE_BYTES) is written
    from them. api.write has already refused, or with --skip-errors left out, every other
    image without a file, so that no output refers to an image it lacks; a writer called
    directly still fails here. With --images none nothing is placed.
    """
    if ctx.images == "none":
        return
    pairs: list[tuple[str, Path]] = []
    embedded = ds.images.attr(IMAGE_BYTES)
    absent = ctx.absent_files

    def no_file(src: str | None) -> bool:
        return src is None or (src in absent if absent is not None else not Path(src).is_file())

    for i, src in enumerate(ds.images.path):
        if no_file(src) and isinstance(embedded[i], bytes):
            dest = dest_of_row(i)
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(embedded[i])
            continue
        if no_file(src):
            ctx.fail(MissingImageError(src or ds.images.file_name[i],
                                       "image file not found; pass --images none to write "
                                       "annotations only"))
            continue
        pairs.append((src, dest_of_row(i)))
    with ctx.progress("Placing images", len(pairs)) as advance:
        place_files(pairs, ctx.images, progress=advance)


# Every boundary str.splitlines() (and so every line-based reader) breaks a line at, and NUL.
LINE_BREAKS = "\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029\x00"


def _xml_illegal(ch: str) -> bool:
    """Not a character of XML 1.0 (lxml refuses it with a ValueError)."""
    o = ord(ch)
    return (o < 0x20 and ch not in "\t\n\r") or 0xD800 <= o <= 0xDFFF or o in (0xFFFE, 0xFFFF)


def refuse_names(names: Iterable[Any], kind: str, where: str, *, lines: bool = True,
                 padded: bool = False, whitespace: bool = False, xml: bool = False,
                 chars: str = "") -> None:
    """OutputError for the first name a format would split or change: with `lines` (default)
    a line break or NUL; with `padded` leading/trailing whitespace or an empty name (readers
    strip lines), with `whitespace` any whitespace (fields split on it), with `xml` what XML
    cannot hold (control characters), and any of `chars`. Every writer calls this rather
    than write a file that reads back different or not at all."""
    for name in names:
        text = str(name)
        bad = next((ch for ch in text if (lines and ch in LINE_BREAKS) or ch in chars
                    or (whitespace and ch.isspace()) or (xml and _xml_illegal(ch))), None)
        if bad is not None:
            problem = f"contains {bad!r}"
        elif padded and text != text.strip():
            problem = "starts or ends with whitespace"
        elif (padded or whitespace) and not text:
            problem = "is empty"
        else:
            continue
        raise OutputError(f"{kind} {text!r} {problem}, which {where} cannot hold (it would "
                          "read back different); rename it")


def fmt_float(x: float, decimals: int | None = None) -> str:
    """Shortest text that reads back as the same float; integers without '.0'."""
    if decimals is not None:
        text = f"{x:.{decimals}f}".rstrip("0").rstrip(".")
        return "0" if text in ("-0", "") else text
    if float(x).is_integer() and abs(x) < 1e15:
        return str(int(x))
    return repr(float(x))


def csv_table(file: Path, ctx: ReadContext, expected: str
              ) -> tuple[list[str], Iterator[tuple[int, list[str]]]] | None:
    """(the header's cells, stripped; a lazy (line, row) per non-blank data row) of a UTF-8
    CSV file, or None after a ctx.fail (unreadable, or no header line; `expected` names the
    header wanted). A malformed row is a ctx.fail at its line that ends the rows: those
    before it are kept, as the CSV readers of box tables (tf-csv, Open Images) agree."""
    try:
        text = text_of(file, "utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        ctx.fail(ParseError(file, f"cannot read CSV as UTF-8 ({e.__class__.__name__})"))
        return None
    reader = csv.reader(io.StringIO(text, newline=""))
    try:
        header = [c.strip() for c in next(reader)]
    except (StopIteration, csv.Error):
        ctx.fail(ParseError(f"{file}:1", f"empty file; expected the header {expected}"))
        return None

    def rows() -> Iterator[tuple[int, list[str]]]:
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as e:
                ctx.fail(ParseError(f"{file}:{reader.line_num}", f"malformed CSV ({e})"))
                return
            if row and any(c.strip() for c in row):
                yield reader.line_num, row
    return header, rows()


DEFAULT_SPLIT_NAME = "default"  # the file or folder name of the images with no split
SPLIT_ORDER = {"train": 0, "val": 1, "test": 2}  # then the other splits


def split_named(name: str) -> str:
    """The split a file or folder name stands for (DEFAULT_SPLIT_NAME: none)."""
    return UNSPLIT if name == DEFAULT_SPLIT_NAME else canonical_split(name)


def split_rank(split: str) -> int:
    """Sort key putting train, val and test first, in that order, then the other splits."""
    return SPLIT_ORDER.get(split, len(SPLIT_ORDER))


def cell_float(text: str, column: str) -> float:
    """A CSV cell as a finite number; a ValueError naming the column otherwise (the caller
    adds where)."""
    try:
        value = float(text)
    except ValueError:
        raise ValueError(f"column {column}: expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise ValueError(f"column {column}: expected a finite number, got {text!r}")
    return value


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


def undeclared(ctx: ReadContext, code: str, where: str, message: str, count: int = 1) -> None:
    """Classes a reader had to make up (used but not declared) or data it dropped for want of
    one: a warning naming the file, or, when reading strictly (convert --strict), an error."""
    if getattr(ctx, "strict", False):
        raise ValidationError(where, f"{message} (refused: strict reading)")
    ctx.report.add("warning", code, message, count=count, where=where)
