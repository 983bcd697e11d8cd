"""Pictures of a dataset: annotations drawn over their image, and grids of such images.

Pure functions returning PIL images; nothing is printed or shown. Every category has one color
everywhere (a fixed palette indexed by the category's position in `ds.categories`), so the same
class looks the same in every image and every grid.

    >>> import visionflow as vf
    >>> from visionflow.viz.draw import render_grid
    >>> grid = render_grid(vf.load("coco8"), limit=8)      # doctest: +SKIP
    >>> grid.image.save("coco8.png"); grid.problems         # doctest: +SKIP
    []
"""

from __future__ import annotations

import colorsys
import math
from functools import lru_cache
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ..core.dataset import Dataset
from ..core.errors import Error, MissingImageError, did_you_mean
from ..core.geometry import rle_to_mask
from ..io.images import load_rgb

# 20 colors that stay apart from each other on photos (bright, saturated, mixed hues).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (230, 25, 75), (60, 180, 75), (255, 225, 25), (0, 130, 200), (245, 130, 48),
    (145, 30, 180), (70, 240, 240), (240, 50, 230), (210, 245, 60), (250, 190, 212),
    (0, 128, 128), (220, 190, 255), (170, 110, 40), (255, 250, 200), (128, 0, 0),
    (170, 255, 195), (128, 128, 0), (255, 215, 180), (0, 0, 128), (255, 255, 255),
)
UNKNOWN_COLOR = (160, 160, 160)      # an annotation whose category id is not in the table
FILL_ALPHA = 96                      # opacity (0..255) of polygon and mask fills
PROBLEM_COLOR = (128, 128, 128)      # tile of an image that could not be drawn
BACKGROUND = (24, 24, 24)            # grid background and letterbox
ORDERS = ("dataset", "random")


class Grid(NamedTuple):
    """What render_grid returns: the picture and one line per image that could not be drawn."""
    image: Image.Image
    problems: list[str]


def category_color(position: int) -> tuple[int, int, int]:
    """Color of the category at `position` in ds.categories (-1: unknown category)."""
    if position < 0:
        return UNKNOWN_COLOR
    if position < len(PALETTE):
        return PALETTE[position]
    # Past the palette: hues spread by the golden ratio, deterministic per position.
    hue = (position * 0.618033988749895) % 1.0
    r, g, b = colorsys.hsv_to_rgb(hue, 0.75 + 0.25 * (position % 2), 0.95)
    return (round(r * 255), round(g * 255), round(b * 255))


def line_thickness(width: int, height: int) -> int:
    """Outline width in pixels for an image of this size (1 for thumbnails, 2 for 480 px)."""
    return max(1, round(min(width, height) / 200))


def font_size(width: int, height: int) -> int:
    return max(10, round(min(width, height) / 32))


def draw_image(ds: Dataset, row: int, *, class_names: bool = True,
               thickness: int | None = None) -> Image.Image:
    """Image row `row` of `ds`, upright (EXIF applied), with all its annotations drawn.

    Boxes, polygons (translucent fill + outline, every ring), RLE masks (translucent), oriented
    boxes, polylines (open paths), keypoints with the category's skeleton, image-level labels (a caption banner at the
    top) and, with class_names, each object's class in a filled label box.
    Raises MissingImageError / ValidationError when the image cannot be read.
    """
    if not 0 <= row < len(ds.images):
        raise Error(f"image row {row} does not exist (the dataset has {len(ds.images)} images)")
    path = ds.images.path[row]
    if path is None:
        raise MissingImageError(ds.images.file_name[row], "image file not on disk (the source "
                                "has no file for it)")
    base = load_rgb(path)
    w, h = base.size
    t = thickness if thickness is not None else line_thickness(w, h)
    font = _font(font_size(w, h))
    ann = ds.annotations_of(row)
    position = ds.categories.index_map()
    colors = [category_color(position.get(int(c), -1)) for c in ann.category_id]
    is_label = ann.is_label
    has_poly, has_rle = ann.has_polygon(), ann.has_rle()
    has_obb, has_kp = ann.has_obb(), ann.has_keypoints()

    # 1. translucent fills, composited once
    overlay = Image.new("RGBA", base.size, (0, 0, 0, 0))
    fill = ImageDraw.Draw(overlay)
    for i in np.flatnonzero(has_poly):
        for ring in ann.polygons.rings(int(i)):
            if len(ring) >= 3:
                fill.polygon([tuple(p) for p in ring.tolist()], fill=(*colors[i], FILL_ALPHA))
    for i in np.flatnonzero(has_rle):
        mask = _mask(ann.rle[i], w, h)
        if mask is not None:
            layer = Image.new("RGBA", base.size, (*colors[i], FILL_ALPHA))
            overlay.paste(layer, (0, 0), Image.fromarray(mask.astype(np.uint8) * 255, "L"))
    image = Image.alpha_composite(base.convert("RGBA"), overlay).convert("RGB")

    # 2. image-level labels: a banner at the top, under the objects' own labels
    labels = np.flatnonzero(is_label)
    top = 0  # object labels stay below the banner
    if len(labels):
        top = _banner(image, [(_label_text(ds, ann, i) if class_names else "", colors[i])
                        for i in labels], font, t)

    # 3. outlines, keypoints, labels
    draw = ImageDraw.Draw(image)
    for i in np.flatnonzero(has_poly):
        for ring in ann.polygons.rings(int(i)):
            if len(ring) >= 2:
                pts = [tuple(p) for p in ring.tolist()]
                draw.line(pts + [pts[0]], fill=colors[i], width=t, joint="curve")
    for i in np.flatnonzero(ann.has_polyline()):  # open paths: not closed, not filled
        for path in ann.polylines.rings(int(i)):
            draw.line([tuple(p) for p in path.tolist()], fill=colors[i], width=t, joint="curve")
    for i in np.flatnonzero(has_obb):
        pts = [tuple(p) for p in ann.obb[i].tolist()]
        draw.line(pts + [pts[0]], fill=colors[i], width=t, joint="curve")
    for i in np.flatnonzero(~is_label & ~has_obb):
        x0, y0, x1, y1 = ann.xyxy[i]
        if np.isfinite([x0, y0, x1, y1]).all():
            draw.rectangle([x0, y0, max(x0, x1 - 1), max(y0, y1 - 1)], outline=colors[i],
                           width=t)
    for i in np.flatnonzero(has_kp):
        cid = int(ann.category_id[i])
        skeleton = ds.categories.by_id(cid).skeleton if ds.categories.has_id(cid) else ()
        _keypoints(draw, ann.keypoints[i], skeleton, colors[i], t)
    if class_names:
        for i in np.flatnonzero(~is_label):
            anchor = ann.obb[i].min(axis=0) if has_obb[i] else ann.xyxy[i][:2]
            if np.isfinite(anchor).all():
                _label_box(draw, _label_text(ds, ann, i), anchor, colors[i], font, w, h, top)
    return image


def render_grid(ds: Dataset, *, limit: int | None = 16, class_name: str | None = None,
                columns: int | None = None, tile_size: int = 320, order: str = "dataset",
                seed: int = 0, class_names: bool = True) -> Grid:
    """Up to `limit` images of every split drawn with draw_image, in one grid picture.

    Images are taken in dataset order (order="random": a sample drawn with `seed`, shown in
    dataset order), optionally only those with an annotation of class `class_name`. Each image
    is fitted into a tile_size x tile_size tile (aspect ratio kept, letterboxed) with its file
    name and split written in a strip at the tile's bottom; the grid is exactly
    columns*tile_size wide and rows*tile_size high (columns defaults to a near-square layout).
    An image that cannot be read becomes a gray tile with the reason, and the reason is also
    listed in Grid.problems.
    """
    if limit is not None and limit < 1:
        raise Error(f"limit must be at least 1, got {limit}")
    if tile_size < 32:
        raise Error(f"tile size must be at least 32 pixels, got {tile_size}")
    if columns is not None and columns < 1:
        raise Error(f"columns must be at least 1, got {columns}")
    if order not in ORDERS:
        raise Error(f"order must be one of {', '.join(ORDERS)}, got {order!r}")
    rows = _pick_rows(ds, class_name)
    if limit is not None and len(rows) > limit:
        if order == "random":
            rows = np.sort(np.random.default_rng(seed).choice(rows, limit, replace=False))
        else:
            rows = rows[:limit]
    n = len(rows)
    cols = columns or max(1, math.ceil(math.sqrt(n)))
    grid_rows = max(1, math.ceil(n / cols))
    grid = Image.new("RGB", (cols * tile_size, grid_rows * tile_size), BACKGROUND)
    problems: list[str] = []
    for k, row in enumerate(rows):
        try:
            tile = _tile(draw_image(ds, int(row), class_names=class_names), tile_size)
        except Error as e:
            problems.append(str(e))
            tile = _problem_tile(str(e), tile_size)
        _caption(tile, _caption_text(ds, int(row)))
        grid.paste(tile, ((k % cols) * tile_size, (k // cols) * tile_size))
    return Grid(grid, problems)


# --- picking images -------------------------------------------------------------------------

def _pick_rows(ds: Dataset, class_name: str | None) -> np.ndarray:
    if class_name is None:
        if not len(ds.images):
            raise Error("the dataset has no images to show")
        return np.arange(len(ds.images))
    ids = [c.id for c in ds.categories.by_name(class_name)]
    if not ids:
        known = ds.categories.names
        raise Error(f"unknown class {class_name!r}{did_you_mean(class_name, known)} "
                    f"(known: {', '.join(known) or 'none'})")
    ann = ds.annotations
    rows = np.unique(ann.image_index[np.isin(ann.category_id, ids)])
    if not len(rows):
        raise Error(f"no image has an annotation of class {class_name!r}")
    return rows


# --- drawing helpers ------------------------------------------------------------------------

@lru_cache(maxsize=32)
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _text_color(color: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black on light colors, white on dark ones."""
    r, g, b = color
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)


def _label_text(ds: Dataset, ann, i: int) -> str:
    cid = int(ann.category_id[i])
    name = ds.categories.by_id(cid).name if ds.categories.has_id(cid) else f"id {cid}"
    if ann.score is not None and not np.isnan(ann.score[i]):
        name += f" {ann.score[i]:.2f}"
    return name


def _label_box(draw: ImageDraw.ImageDraw, text: str, anchor: np.ndarray,
               color: tuple[int, int, int], font, w: int, h: int, top: int = 0) -> None:
    """Filled box with the class name, above the object's top-left corner (inside if no room
    above it, `top` being the first free row)."""
    pad = max(1, font.size // 6) if hasattr(font, "size") else 2
    left, top, right, bottom = draw.textbbox((0, 0), text, font=font)
    tw, th = right - left + 2 * pad, bottom - top + 2 * pad
    x = min(max(0.0, float(anchor[0])), max(0.0, w - tw))
    y = float(anchor[1]) - th
    if y < top:
        y = min(max(float(top), float(anchor[1])), max(0.0, h - th))
    draw.rectangle([x, y, x + tw - 1, y + th - 1], fill=color)
    draw.text((x + pad - left, y + pad - top), text, fill=_text_color(color), font=font)


def _banner(image: Image.Image, labels: list[tuple[str, tuple[int, int, int]]], font,
            t: int) -> int:
    """Image-level labels: a dark translucent strip across the top holding one chip each;
    returns the strip's height."""
    draw = ImageDraw.Draw(image, "RGBA")
    pad = max(2, t)
    chip_h = (draw.textbbox((0, 0), "Ag", font=font)[3] if any(text for text, _ in labels)
              else 0) + 2 * pad
    chip_h = max(chip_h, 4 * t + 2 * pad)
    draw.rectangle([0, 0, image.width - 1, chip_h + 2 * pad - 1], fill=(0, 0, 0, 150))
    x = pad
    for text, color in labels:
        if text:
            left, top, right, _ = draw.textbbox((0, 0), text, font=font)
            cw = right - left + 2 * pad
        else:
            left, top, cw = 0, 0, chip_h
        draw.rectangle([x, pad, x + cw - 1, pad + chip_h - 1], fill=color)
        if text:
            draw.text((x + pad - left, 2 * pad - top), text, fill=_text_color(color), font=font)
        x += cw + pad
    return chip_h + 2 * pad


def _keypoints(draw: ImageDraw.ImageDraw, kp: np.ndarray, skeleton, color, t: int) -> None:
    visible = ~np.isnan(kp).any(axis=1) & (np.nan_to_num(kp[:, 2]) > 0)
    for a, b in skeleton:  # 1-based pairs, as in COCO
        if 1 <= a <= len(kp) and 1 <= b <= len(kp) and visible[a - 1] and visible[b - 1]:
            draw.line([tuple(kp[a - 1, :2]), tuple(kp[b - 1, :2])], fill=color, width=t)
    r = max(3.0, 2.0 * t)
    for x, y in kp[visible, :2]:
        draw.ellipse([x - r, y - r, x + r, y + r], fill=color, outline=(255, 255, 255),
                     width=max(1, t // 2))


def _mask(rle: dict, w: int, h: int) -> np.ndarray | None:
    try:
        mask = rle_to_mask(rle)
    except (ValueError, KeyError, TypeError):
        return None
    if mask.shape != (h, w):
        mask = np.asarray(Image.fromarray(mask.astype(np.uint8) * 255, "L")
                          .resize((w, h), Image.Resampling.NEAREST)) > 0
    return mask


# --- grid helpers ---------------------------------------------------------------------------

def _caption_font(tile_size: int):
    return _font(max(10, tile_size // 22))


def _caption_height(tile_size: int) -> int:
    font = _caption_font(tile_size)
    return font.getbbox("Ag")[3] + 6


def _caption_text(ds: Dataset, row: int) -> str:
    name, split = str(ds.images.file_name[row]), str(ds.images.split[row])
    return f"{name} ({split})" if split else name


def _tile(image: Image.Image, tile_size: int) -> Image.Image:
    """Fit the image above the caption strip, keeping its aspect ratio (letterbox)."""
    area_h = tile_size - _caption_height(tile_size)
    scale = min(tile_size / image.width, area_h / image.height)
    size = (max(1, round(image.width * scale)), max(1, round(image.height * scale)))
    fitted = image.resize(size, Image.Resampling.LANCZOS if scale < 1 else
                          Image.Resampling.NEAREST)
    tile = Image.new("RGB", (tile_size, tile_size), BACKGROUND)
    tile.paste(fitted, ((tile_size - size[0]) // 2, (area_h - size[1]) // 2))
    return tile


def _problem_tile(message: str, tile_size: int) -> Image.Image:
    tile = Image.new("RGB", (tile_size, tile_size), PROBLEM_COLOR)
    draw = ImageDraw.Draw(tile)
    font = _caption_font(tile_size)
    y = 6
    line_h = font.getbbox("Ag")[3] + 2
    bottom = tile_size - _caption_height(tile_size) - line_h
    for line in _wrap(message, font, tile_size - 12):
        if y > bottom:
            break
        draw.text((6, y), line, fill=(0, 0, 0), font=font)
        y += line_h
    return tile


def _caption(tile: Image.Image, text: str) -> None:
    size = tile.width
    font = _caption_font(size)
    ch = _caption_height(size)
    draw = ImageDraw.Draw(tile)
    draw.rectangle([0, size - ch, size - 1, size - 1], fill=(0, 0, 0))
    text = _fit(text, font, size - 8)
    draw.text((4, size - ch + 3 - font.getbbox("Ag")[1]), text, fill=(255, 255, 255), font=font)


def _fit(text: str, font, width: int) -> str:
    """Shorten from the left ("...name.jpg") until it fits: a name ends with its telling part."""
    if font.getlength(text) <= width:
        return text
    while text and font.getlength("..." + text) > width:
        text = text[1:]
    return "..." + text


def _wrap(text: str, font, width: int) -> list[str]:
    lines: list[str] = []
    line = ""
    for word in text.split(" "):
        candidate = f"{line} {word}" if line else word
        if font.getlength(candidate) <= width:
            line = candidate
            continue
        if line:
            lines.append(line)
        while font.getlength(word) > width and len(word) > 1:  # a long path: cut it
            cut = len(word)
            while cut > 1 and font.getlength(word[:cut]) > width:
                cut -= 1
            lines.append(word[:cut])
            word = word[cut:]
        line = word
    if line:
        lines.append(line)
    return lines
