"""Operations: frozen dataclasses whose fields are their parameters.

Fields are validated and normalized in `__post_init__` (plain code, messages that say what was
expected and what was received, naming the operation); the same fields are the recipe's keys
and `to_dict()` writes them back. An operation is applied with
`op(sample, rng, ctx, state) -> list[Sample]`: parameters are drawn once from the explicit
`rng`, then every column moves through the pure functions in functional.py. No hidden state:
what depends on the dataset (class maps) is computed once by `bind(categories)` and handed in
as `state`.

Any operation may stand in `preprocess` or in `augment`; `p` (default 1) is the chance that it
runs for a given output image.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, fields
from typing import Any, ClassVar

import numpy as np

from ..core.annotations import Annotations
from ..core.categories import Categories, Category
from ..core.errors import Error
from . import functional as F
from .sample import Sample

OPS: dict[str, type[Op]] = {}


class InvalidStep(Error):
    """A bad parameter of one operation; the recipe adds which step it is."""

    def __init__(self, op: str, problem: str):
        super().__init__(f"{op}: {problem}")
        self.op = op
        self.problem = problem


def register(cls: type[Op]) -> type[Op]:
    OPS[cls.name] = cls
    return cls


@dataclass(frozen=True, kw_only=True)
class Op:
    name: ClassVar[str] = ""
    p: float = 1.0

    def __post_init__(self) -> None:
        self._set("p", self._number(self.p, "p", 0.0, 1.0))
        self.check()

    # -- validation helpers (normalize in place; frozen dataclass) --
    def check(self) -> None:
        pass

    def fail(self, problem: str) -> None:
        raise InvalidStep(self.name, problem)

    def _set(self, field_name: str, value: Any) -> None:
        object.__setattr__(self, field_name, value)

    def _number(self, v: Any, what: str, lo: float | None = None, hi: float | None = None,
                *, integer: bool = False) -> float:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or (isinstance(v, float) and not math.isfinite(v)):
            self.fail(f"{what} must be a number, got {v!r}")
        if integer and int(v) != v:
            self.fail(f"{what} must be a whole number, got {v!r}")
        if lo is not None and v < lo or hi is not None and v > hi:
            bounds = f"between {lo} and {hi}" if lo is not None and hi is not None else \
                f">= {lo}" if lo is not None else f"<= {hi}"
            self.fail(f"{what} must be {bounds}, got {v!r}")
        return int(v) if integer else float(v)

    def _size(self, v: Any, what: str) -> tuple[int, int]:
        """640, "640x480", [640, 480] -> (width, height)."""
        if isinstance(v, str):
            parts = v.lower().replace(",", "x").split("x")
            try:
                v = [int(x) for x in parts]
            except ValueError:
                self.fail(f"{what} must be WIDTHxHEIGHT like 640x640, got {v!r}")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = [v, v]
        if not isinstance(v, (list, tuple)) or len(v) != 2:
            self.fail(f"{what} must be [width, height] or WIDTHxHEIGHT, got {v!r}")
        w, h = (self._number(x, what, 1, None, integer=True) for x in v)
        return int(w), int(h)

    def _range(self, v: Any, what: str, lo: float | None, hi: float | None) -> tuple[float, float]:
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            v = [-abs(v), abs(v)] if lo is None or lo < 0 else [v, v]
        if not isinstance(v, (list, tuple)) or len(v) != 2:
            self.fail(f"{what} must be [min, max], got {v!r}")
        a, b = (self._number(x, what, lo, hi) for x in v)
        if a > b:
            self.fail(f"{what} must be [min, max] with min <= max, got {list(v)!r}")
        return a, b

    def _choice(self, v: Any, what: str, choices: tuple[str, ...]) -> str:
        if v not in choices:
            self.fail(f"{what} must be one of {', '.join(choices)}, got {v!r}")
        return v

    def _color(self, v: Any, what: str = "color") -> tuple[int, int, int]:
        named = {"black": (0, 0, 0), "white": (255, 255, 255), "gray": (114, 114, 114),
                 "grey": (114, 114, 114)}
        if isinstance(v, str):
            s = v.strip().lower()
            if s in named:
                return named[s]
            if s.startswith("#") and len(s) == 7:
                try:
                    return tuple(int(s[i:i + 2], 16) for i in (1, 3, 5))  # type: ignore[return-value]
                except ValueError:
                    pass
            self.fail(f"{what} must be a name (black, white, gray), #rrggbb or [r, g, b], got {v!r}")
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            g = int(self._number(v, what, 0, 255, integer=True))
            return g, g, g
        if isinstance(v, (list, tuple)) and len(v) == 3:
            return tuple(int(self._number(x, what, 0, 255, integer=True)) for x in v)  # type: ignore[return-value]
        self.fail(f"{what} must be a name (black, white, gray), #rrggbb or [r, g, b], got {v!r}")
        raise AssertionError

    # -- behaviour --
    def bind(self, categories: Categories) -> tuple[Categories, Any]:
        """Output categories and the state __call__ needs (e.g. a class map)."""
        return categories, None

    def __call__(self, sample: Sample, rng: np.random.Generator, ctx, state: Any) -> list[Sample]:
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {self.name: {f.name: _plain(getattr(self, f.name)) for f in fields(self)}}


def _plain(v: Any) -> Any:
    if isinstance(v, tuple):
        return [_plain(x) for x in v]
    if isinstance(v, dict):
        return {k: _plain(x) for k, x in v.items()}
    return v


def _stem_ext(file_name: str) -> tuple[str, str]:
    stem, ext = os.path.splitext(file_name)
    return stem, ext


# --- preprocessing ----------------------------------------------------------------------------

@register
@dataclass(frozen=True, kw_only=True)
class AutoOrient(Op):
    """Apply EXIF orientation to the pixels and drop the tag (annotations are already upright)."""
    name: ClassVar[str] = "auto_orient"

    def __call__(self, sample, rng, ctx, state):
        if sample.source_path is not None and not sample.changed and _orientation(sample.source_path) != 1:
            sample.set_image(sample.image)
        return [sample]


def _orientation(path: str) -> int:
    from PIL import Image
    try:
        with Image.open(path) as im:
            return int(im.getexif().get(0x0112, 1))
    except Exception:  # noqa: BLE001 - unreadable images fail later, with a proper message
        return 1


RESIZE_MODES = ("stretch", "fit", "letterbox", "fill")


@register
@dataclass(frozen=True, kw_only=True)
class Resize(Op):
    """stretch to size; fit within size; letterbox (fit, then pad to size with `color`); fill
    (cover size, then center crop). Up and down."""
    name: ClassVar[str] = "resize"
    size: Any = (640, 640)
    mode: str = "stretch"
    color: Any = "black"

    def check(self):
        self._set("size", self._size(self.size, "size"))
        self._set("mode", self._choice(self.mode, "mode", RESIZE_MODES))
        self._set("color", self._color(self.color))

    def plan(self, w: int, h: int) -> tuple[np.ndarray, tuple[int, int], tuple[int, int]]:
        """(matrix, output size, size the source is scaled to before pad/crop)."""
        tw, th = self.size
        if self.mode == "stretch":
            return F.scale(tw / w, th / h), (tw, th), (tw, th)
        if self.mode in ("fit", "letterbox"):
            s = min(tw / w, th / h)
            sw, sh = max(1, round(w * s)), max(1, round(h * s))
            m = F.scale(sw / w, sh / h)
            if self.mode == "fit":
                return m, (sw, sh), (sw, sh)
            return F.translate((tw - sw) // 2, (th - sh) // 2) @ m, (tw, th), (sw, sh)
        s = max(tw / w, th / h)
        sw, sh = max(tw, round(w * s)), max(th, round(h * s))
        return F.translate(-((sw - tw) // 2), -((sh - th) // 2)) @ F.scale(sw / w, sh / h), (tw, th), (sw, sh)

    def draft_size(self, w: int, h: int) -> tuple[int, int] | None:
        _, _, (sw, sh) = self.plan(w, h)
        return (sw, sh) if sw < w and sh < h else None

    def __call__(self, sample, rng, ctx, state):
        m, out, _ = self.plan(sample.width, sample.height)
        sample.warp(m, out, ctx, fill=self.color)
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class StaticCrop(Op):
    """Keep one rectangle: `xyxy` in pixels or `xyxy_norm` in fractions of the image."""
    name: ClassVar[str] = "static_crop"
    xyxy: Any = None
    xyxy_norm: Any = None

    def check(self):
        if (self.xyxy is None) == (self.xyxy_norm is None):
            self.fail("give exactly one of xyxy (pixels) or xyxy_norm (fractions 0..1)")
        key = "xyxy" if self.xyxy is not None else "xyxy_norm"
        v = getattr(self, key)
        if not isinstance(v, (list, tuple)) or len(v) != 4:
            self.fail(f"{key} must be [x_min, y_min, x_max, y_max], got {v!r}")
        hi = None if key == "xyxy" else 1.0
        vals = tuple(self._number(x, key, 0.0, hi) for x in v)
        if vals[2] <= vals[0] or vals[3] <= vals[1]:
            self.fail(f"{key} must have x_max > x_min and y_max > y_min, got {list(v)!r}")
        self._set(key, vals)

    def window(self, w: int, h: int) -> tuple[int, int, int, int]:
        if self.xyxy is not None:
            x0, y0, x1, y1 = self.xyxy
        else:
            x0, y0, x1, y1 = (v * s for v, s in zip(self.xyxy_norm, (w, h, w, h)))
        x0, y0 = int(math.floor(min(x0, w - 1))), int(math.floor(min(y0, h - 1)))
        x1, y1 = max(int(math.ceil(min(x1, w))), x0 + 1), max(int(math.ceil(min(y1, h))), y0 + 1)
        return x0, y0, x1, y1

    def __call__(self, sample, rng, ctx, state):
        x0, y0, x1, y1 = self.window(sample.width, sample.height)
        sample.warp(F.translate(-x0, -y0), (x1 - x0, y1 - y0), ctx)
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Grayscale(Op):
    name: ClassVar[str] = "grayscale"

    def __call__(self, sample, rng, ctx, state):
        sample.set_image(F.grayscale(sample.image))
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class AutoContrast(Op):
    """Histogram equalization of the luminance, or CLAHE (adaptive, clip-limited)."""
    name: ClassVar[str] = "auto_contrast"
    method: str = "equalize"
    clip_limit: float = 2.0
    grid: Any = (8, 8)

    def check(self):
        self._set("method", self._choice(self.method, "method", ("equalize", "clahe")))
        self._set("clip_limit", self._number(self.clip_limit, "clip_limit", 0.01, 100))
        self._set("grid", self._size(self.grid, "grid"))

    def __call__(self, sample, rng, ctx, state):
        img = sample.image
        sample.set_image(F.equalize(img) if self.method == "equalize"
                         else F.clahe(img, self.clip_limit, self.grid))
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Tile(Op):
    """Cut each image into a grid (`grid: [columns, rows]`) or fixed-size tiles
    (`tile_size: [w, h]`) overlapping by `overlap` pixels. Objects are clipped per tile;
    pieces keeping less than `min_visibility` of their area are dropped."""
    name: ClassVar[str] = "tile"
    grid: Any = None
    tile_size: Any = None
    overlap: int = 0
    min_visibility: float | None = None

    def check(self):
        if (self.grid is None) == (self.tile_size is None):
            self.fail("give exactly one of grid ([columns, rows]) or tile_size ([width, height])")
        if self.grid is not None:
            self._set("grid", self._size(self.grid, "grid"))
        else:
            self._set("tile_size", self._size(self.tile_size, "tile_size"))
        self._set("overlap", int(self._number(self.overlap, "overlap", 0, None, integer=True)))
        if self.tile_size is not None and self.overlap >= min(self.tile_size):
            self.fail(f"overlap ({self.overlap}) must be smaller than the tile size {self.tile_size}")
        if self.min_visibility is not None:
            self._set("min_visibility", self._number(self.min_visibility, "min_visibility", 0, 1))

    def windows(self, w: int, h: int) -> list[tuple[int, int, int, int]]:
        """Tile rectangles (xyxy, integers), row by row."""
        if self.grid is not None:
            cols, rows = self.grid
            xs = _grid_edges(w, cols, self.overlap)
            ys = _grid_edges(h, rows, self.overlap)
        else:
            xs = _sliding(w, self.tile_size[0], self.overlap)
            ys = _sliding(h, self.tile_size[1], self.overlap)
        return [(x0, y0, x1, y1) for y0, y1 in ys for x0, x1 in xs]

    def __call__(self, sample, rng, ctx, state):
        stem, ext = _stem_ext(sample.file_name)
        out = []
        vis = ctx.min_visibility if self.min_visibility is None else self.min_visibility
        wins = self.windows(sample.width, sample.height)
        ncols = len({(x0, x1) for x0, _, x1, _ in wins})
        for k, (x0, y0, x1, y1) in enumerate(wins):
            piece = sample.copy(file_name=f"{stem}_tile{k // ncols}_{k % ncols}{ext}")
            piece.warp(F.translate(-x0, -y0), (x1 - x0, y1 - y0), ctx, min_visibility=vis)
            out.append(piece)
        return out


def _grid_edges(size: int, n: int, overlap: int) -> list[tuple[int, int]]:
    edges = [round(i * size / n) for i in range(n + 1)]
    return [(max(0, edges[i] - overlap // 2), min(size, edges[i + 1] + (overlap - overlap // 2)))
            if n > 1 else (0, size) for i in range(n)]


def _sliding(size: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    if size <= tile:
        return [(0, size)]
    stride = tile - overlap
    starts = list(range(0, size - tile, stride)) + [size - tile]
    starts = sorted(set(starts))
    return [(s, s + tile) for s in starts]


@register
@dataclass(frozen=True, kw_only=True)
class IsolateObjects(Op):
    """Crop every object into an image of its own labelled with its class (a classification
    dataset). `padding` grows each crop by that fraction of the box on every side."""
    name: ClassVar[str] = "isolate_objects"
    padding: float = 0.0

    def check(self):
        self._set("padding", self._number(self.padding, "padding", 0.0, 10.0))

    def __call__(self, sample, rng, ctx, state):
        ann = sample.ann
        stem, ext = _stem_ext(sample.file_name)
        out = []
        objects = np.flatnonzero(~ann.is_label)
        for k, i in enumerate(objects):
            x0, y0, x1, y1 = ann.xyxy[i]
            px, py = (x1 - x0) * self.padding, (y1 - y0) * self.padding
            wx0, wy0 = max(0, int(math.floor(x0 - px))), max(0, int(math.floor(y0 - py)))
            wx1 = min(sample.width, int(math.ceil(x1 + px)))
            wy1 = min(sample.height, int(math.ceil(y1 + py)))
            if wx1 <= wx0 or wy1 <= wy0:
                continue
            label = ann[[int(i)]].replace(xyxy=np.full((1, 4), np.nan), polygons=None, rle=None,
                                          keypoints=None, obb=None)
            piece = sample.copy(file_name=f"{stem}_obj{k}{ext}", ann=Annotations.empty())
            piece.warp(F.translate(-wx0, -wy0), (wx1 - wx0, wy1 - wy0), ctx)
            piece.ann = label
            out.append(piece)
        return out


@register
@dataclass(frozen=True, kw_only=True)
class ModifyClasses(Op):
    """Rename (`rename: {old: new}`; a new name that exists merges), merge
    (`merge: {new: [old, ...]}`) and drop (`drop: [name, ...]`) classes by name."""
    name: ClassVar[str] = "modify_classes"
    rename: Any = None
    merge: Any = None
    drop: Any = ()

    def check(self):
        rename = self.rename or {}
        merge = self.merge or {}
        if not isinstance(rename, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                   for k, v in rename.items()):
            self.fail(f"rename must map class names to new names, got {self.rename!r}")
        if not isinstance(merge, dict) or not all(
                isinstance(k, str) and isinstance(v, (list, tuple)) and all(isinstance(x, str) for x in v)
                for k, v in merge.items()):
            self.fail(f"merge must map a new name to a list of class names, got {self.merge!r}")
        drop = [self.drop] if isinstance(self.drop, str) else self.drop
        if not isinstance(drop, (list, tuple)) or not all(isinstance(x, str) for x in drop):
            self.fail(f"drop must be a list of class names, got {self.drop!r}")
        if not rename and not merge and not drop:
            self.fail("give at least one of rename, merge or drop")
        self._set("rename", dict(rename))
        self._set("merge", {k: tuple(v) for k, v in merge.items()})
        self._set("drop", tuple(drop))

    def bind(self, categories):
        names = set(categories.names)
        wanted = list(self.rename) + [n for v in self.merge.values() for n in v] + list(self.drop)
        unknown = [n for n in wanted if n not in names]
        if unknown:
            self.fail(f"unknown class {unknown[0]!r} (classes: {', '.join(categories.names)})")
        target = {old: new for new, olds in self.merge.items() for old in olds}
        target.update(self.rename)
        by_name: dict[str, Category] = {}
        out: list[Category] = []
        id_map: dict[int, int] = {}
        for c in categories:
            if c.name in self.drop:
                id_map[c.id] = -1
                continue
            new_name = target.get(c.name, c.name)
            if new_name in by_name:
                id_map[c.id] = by_name[new_name].id
                continue
            cat = Category(c.id, new_name, c.supercategory, c.keypoints, c.skeleton)
            by_name[new_name] = cat
            out.append(cat)
            id_map[c.id] = c.id
        return Categories(out), id_map

    def __call__(self, sample, rng, ctx, state):
        ann = sample.ann
        if len(ann):
            new = np.array([state.get(int(c), int(c)) for c in ann.category_id], np.int64)
            ann = ann.replace(category_id=new)
            sample.ann = ann[new >= 0]
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class FilterEmpty(Op):
    """Drop images without annotations (negatives)."""
    name: ClassVar[str] = "filter_empty"

    def __call__(self, sample, rng, ctx, state):
        return [sample] if len(sample.ann) else []


@register
@dataclass(frozen=True, kw_only=True)
class FilterImages(Op):
    """Keep images having one of `tags` (image attribute "tags") and/or whose `attribute`
    is one of `values` (or is set, when no values); `exclude: true` drops them instead."""
    name: ClassVar[str] = "filter_images"
    tags: Any = ()
    attribute: str | None = None
    values: Any = ()
    exclude: bool = False

    def check(self):
        tags = [self.tags] if isinstance(self.tags, str) else self.tags
        if not isinstance(tags, (list, tuple)):
            self.fail(f"tags must be a list of strings, got {self.tags!r}")
        values = [self.values] if isinstance(self.values, (str, int, float)) else self.values
        if not isinstance(values, (list, tuple)):
            self.fail(f"values must be a list, got {self.values!r}")
        if self.attribute is not None and not isinstance(self.attribute, str):
            self.fail(f"attribute must be a name, got {self.attribute!r}")
        if not tags and self.attribute is None:
            self.fail("give tags or attribute")
        if not isinstance(self.exclude, bool):
            self.fail(f"exclude must be true or false, got {self.exclude!r}")
        self._set("tags", tuple(str(t) for t in tags))
        self._set("values", tuple(values))

    def __call__(self, sample, rng, ctx, state):
        match = True
        if self.tags:
            have = sample.attrs.get("tags")
            have = [have] if isinstance(have, str) else list(have or [])
            match = any(t in have for t in self.tags)
        if self.attribute is not None:
            v = sample.attrs.get(self.attribute)
            match = match and (v in self.values if self.values else v not in (None, False, "", 0))
        return [sample] if match != self.exclude else []


@register
@dataclass(frozen=True, kw_only=True)
class DropSmall(Op):
    """Drop objects narrower than `width`, shorter than `height` or smaller than `area` px."""
    name: ClassVar[str] = "drop_small"
    width: float = 0.0
    height: float = 0.0
    area: float = 0.0

    def check(self):
        for k in ("width", "height", "area"):
            self._set(k, self._number(getattr(self, k), k, 0.0, None))
        if not (self.width or self.height or self.area):
            self.fail("give at least one of width, height or area (pixels)")

    def __call__(self, sample, rng, ctx, state):
        ann = sample.ann
        if len(ann):
            w = ann.xyxy[:, 2] - ann.xyxy[:, 0]
            h = ann.xyxy[:, 3] - ann.xyxy[:, 1]
            small = (w < self.width) | (h < self.height) | (w * h < self.area)
            sample.ann = ann[~small | ann.is_label]
        return [sample]


# --- augmentation: geometry -------------------------------------------------------------------

@register
@dataclass(frozen=True, kw_only=True)
class Flip(Op):
    """Mirror the image; keypoints named left_*/right_* (or YOLO's flip_idx) swap."""
    name: ClassVar[str] = "flip"
    direction: str = "horizontal"

    def check(self):
        self._set("direction", self._choice(self.direction, "direction", ("horizontal", "vertical")))

    def __call__(self, sample, rng, ctx, state):
        w, h = sample.width, sample.height
        sample.warp(F.hflip(w) if self.direction == "horizontal" else F.vflip(h), (w, h), ctx)
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Rotate90(Op):
    """Quarter turns counter-clockwise, one of `turns` drawn at random (1, 2, 3)."""
    name: ClassVar[str] = "rotate90"
    turns: Any = (1, 2, 3)

    def check(self):
        t = [self.turns] if isinstance(self.turns, int) else self.turns
        if not isinstance(t, (list, tuple)) or not t:
            self.fail(f"turns must be a list of quarter turns (0-3), got {self.turns!r}")
        self._set("turns", tuple(int(self._number(x, "turns", 0, 3, integer=True)) for x in t))

    def __call__(self, sample, rng, ctx, state):
        k = self.turns[int(rng.integers(len(self.turns)))]
        m, out = F.rot90(k, sample.width, sample.height)
        sample.warp(m, out, ctx)
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Rotate(Op):
    """Rotate by an angle drawn from [-limit, limit] degrees about the center; corners are
    filled with `color`; objects are clipped to the image."""
    name: ClassVar[str] = "rotate"
    limit: Any = 15.0
    color: Any = "black"

    def check(self):
        self._set("limit", self._range(self.limit, "limit", -360, 360))
        self._set("color", self._color(self.color))

    def __call__(self, sample, rng, ctx, state):
        a = float(rng.uniform(*self.limit))
        w, h = sample.width, sample.height
        sample.warp(F.rotate(a, w / 2, h / 2), (w, h), ctx, fill=self.color)
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Shear(Op):
    """Shear horizontally by [-x, x] and vertically by [-y, y] degrees about the center."""
    name: ClassVar[str] = "shear"
    x: Any = 10.0
    y: Any = 10.0
    color: Any = "black"

    def check(self):
        self._set("x", self._range(self.x, "x", -80, 80))
        self._set("y", self._range(self.y, "y", -80, 80))
        self._set("color", self._color(self.color))

    def __call__(self, sample, rng, ctx, state):
        sx, sy = float(rng.uniform(*self.x)), float(rng.uniform(*self.y))
        w, h = sample.width, sample.height
        sample.warp(F.shear(sx, sy, w / 2, h / 2), (w, h), ctx, fill=self.color)
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Crop(Op):
    """Random crop keeping a fraction of the area drawn from `scale_range` (aspect kept),
    resized back to the image's size."""
    name: ClassVar[str] = "crop"
    scale_range: Any = (0.6, 1.0)

    def check(self):
        self._set("scale_range", self._range(self.scale_range, "scale_range", 0.01, 1.0))

    def __call__(self, sample, rng, ctx, state):
        w, h = sample.width, sample.height
        f = math.sqrt(float(rng.uniform(*self.scale_range)))
        cw, ch = max(1, round(w * f)), max(1, round(h * f))
        x0 = int(rng.integers(0, w - cw + 1))
        y0 = int(rng.integers(0, h - ch + 1))
        sample.warp(F.scale(w / cw, h / ch) @ F.translate(-x0, -y0), (w, h), ctx)
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Zoom(Op):
    """Scale by a factor from `scale_range` (>1 zooms in at a random point, <1 zooms out
    around the center with `color` borders); the size stays the same."""
    name: ClassVar[str] = "zoom"
    scale_range: Any = (1.0, 1.5)
    color: Any = "black"

    def check(self):
        self._set("scale_range", self._range(self.scale_range, "scale_range", 0.1, 10.0))
        self._set("color", self._color(self.color))

    def __call__(self, sample, rng, ctx, state):
        w, h = sample.width, sample.height
        z = float(rng.uniform(*self.scale_range))
        if z > 1:
            cx = float(rng.uniform(w / (2 * z), w - w / (2 * z)))
            cy = float(rng.uniform(h / (2 * z), h - h / (2 * z)))
        else:
            cx, cy = w / 2, h / 2
        m = F.translate(w / 2, h / 2) @ F.scale(z, z) @ F.translate(-cx, -cy)
        sample.warp(m, (w, h), ctx, fill=self.color)
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Mosaic(Op):
    """Four images of the same split (this one and three drawn at random) in the quadrants
    around a random center, each scaled to cover its quadrant; objects clipped to it."""
    name: ClassVar[str] = "mosaic"
    center_range: Any = (0.25, 0.75)

    def check(self):
        self._set("center_range", self._range(self.center_range, "center_range", 0.05, 0.95))

    def __call__(self, sample, rng, ctx, state):
        w, h = sample.width, sample.height
        cx = int(round(w * float(rng.uniform(*self.center_range))))
        cy = int(round(h * float(rng.uniform(*self.center_range))))
        quads = [(0, 0, cx, cy), (cx, 0, w, cy), (0, cy, cx, h), (cx, cy, w, h)]
        others = [ctx.other_sample(sample, rng) for _ in range(3)]
        parts = [sample] + others
        color = any(p.image.ndim == 3 for p in parts)
        canvas = np.zeros((h, w, 3) if color else (h, w), np.uint8)
        anns = []
        for part, (x0, y0, x1, y1) in zip(parts, quads):
            qw, qh = x1 - x0, y1 - y0
            if qw <= 0 or qh <= 0:
                continue
            s = max(qw / part.width, qh / part.height)
            m = F.translate(x0 + (qw - s * part.width) / 2, y0 + (qh - s * part.height) / 2) @ F.scale(s, s)
            img = part.image
            if color and img.ndim == 2:
                img = np.repeat(img[..., None], 3, axis=2)
            ih, iw = img.shape[:2]
            m_img = m @ F.scale(part.width / iw, part.height / ih)
            warped = F.warp_raster(img, m_img, (w, h), fill=ctx.fill)
            canvas[y0:y1, x0:x1] = warped[y0:y1, x0:x1]
            a = ctx.warp_annotations(part.ann, m, (w, h), clip_xyxy=(x0, y0, x1, y1))
            anns.append(a.replace(image_index=np.zeros(len(a), np.int64)))
        sample.ann = Annotations.concat(anns) if anns else Annotations.empty()
        sample.set_image(canvas)
        return [sample]


# --- augmentation: pixels ---------------------------------------------------------------------

@register
@dataclass(frozen=True, kw_only=True)
class Brightness(Op):
    """Add a value drawn from [-limit, limit] (fraction of full scale) to every pixel."""
    name: ClassVar[str] = "brightness"
    limit: Any = 0.2

    def check(self):
        self._set("limit", self._range(self.limit, "limit", -1, 1))

    def __call__(self, sample, rng, ctx, state):
        sample.set_image(F.brightness(sample.image, float(rng.uniform(*self.limit))))
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Exposure(Op):
    """Gamma curve 1 / (1 + e), e drawn from [-limit, limit]: brightens or darkens mid-tones."""
    name: ClassVar[str] = "exposure"
    limit: Any = 0.2

    def check(self):
        self._set("limit", self._range(self.limit, "limit", -0.9, 0.9))

    def __call__(self, sample, rng, ctx, state):
        e = float(rng.uniform(*self.limit))
        sample.set_image(F.exposure(sample.image, 1.0 / (1.0 + e)))
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Contrast(Op):
    """Scale the distance to the mean gray by 1 + c, c drawn from [-limit, limit]."""
    name: ClassVar[str] = "contrast"
    limit: Any = 0.2

    def check(self):
        self._set("limit", self._range(self.limit, "limit", -1, 10))

    def __call__(self, sample, rng, ctx, state):
        sample.set_image(F.contrast(sample.image, 1.0 + float(rng.uniform(*self.limit))))
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Hue(Op):
    """Rotate hue by [-limit, limit] degrees."""
    name: ClassVar[str] = "hue"
    limit: Any = 15.0

    def check(self):
        self._set("limit", self._range(self.limit, "limit", -180, 180))

    def __call__(self, sample, rng, ctx, state):
        sample.set_image(F.hue_saturation(sample.image, float(rng.uniform(*self.limit)), 0.0))
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Saturation(Op):
    """Shift saturation by [-limit, limit] of full scale."""
    name: ClassVar[str] = "saturation"
    limit: Any = 0.25

    def check(self):
        self._set("limit", self._range(self.limit, "limit", -1, 1))

    def __call__(self, sample, rng, ctx, state):
        sample.set_image(F.hue_saturation(sample.image, 0.0, float(rng.uniform(*self.limit))))
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Blur(Op):
    """Gaussian blur with sigma drawn from [0, limit] pixels."""
    name: ClassVar[str] = "blur"
    limit: Any = 1.5

    def check(self):
        v = self.limit
        self._set("limit", (0.0, self._number(v, "limit", 0, 50)) if isinstance(v, (int, float))
                  and not isinstance(v, bool) else self._range(v, "limit", 0, 50))

    def __call__(self, sample, rng, ctx, state):
        sample.set_image(F.gaussian_blur(sample.image, float(rng.uniform(*self.limit))))
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class MotionBlur(Op):
    """Linear motion blur: odd kernel size from `kernel_range`, random angle and direction."""
    name: ClassVar[str] = "motion_blur"
    kernel_range: Any = (3, 9)

    def check(self):
        a, b = self._range(self.kernel_range, "kernel_range", 3, 101)
        self._set("kernel_range", (int(a), int(b)))

    def __call__(self, sample, rng, ctx, state):
        a, b = self.kernel_range
        k = int(rng.integers(a, b + 1)) | 1
        angle = float(rng.uniform(0, 360))
        direction = float(rng.uniform(-1, 1))
        sample.set_image(F.motion_blur(sample.image, k, angle, direction))
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Noise(Op):
    """Replace up to `limit` of the pixels with random colors."""
    name: ClassVar[str] = "noise"
    limit: float = 0.05

    def check(self):
        self._set("limit", self._number(self.limit, "limit", 0, 1))

    def __call__(self, sample, rng, ctx, state):
        frac = float(rng.uniform(0, self.limit))
        sample.set_image(F.salt_pepper_noise(sample.image, rng, frac))
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class CameraGain(Op):
    """High-ISO sensor noise: luminance noise from `intensity_range`, color from
    `color_shift_range`."""
    name: ClassVar[str] = "camera_gain"
    intensity_range: Any = (0.1, 0.5)
    color_shift_range: Any = (0.01, 0.05)

    def check(self):
        self._set("intensity_range", self._range(self.intensity_range, "intensity_range", 0, 5))
        self._set("color_shift_range", self._range(self.color_shift_range, "color_shift_range", 0, 1))

    def __call__(self, sample, rng, ctx, state):
        i = float(rng.uniform(*self.intensity_range))
        c = float(rng.uniform(*self.color_shift_range))
        sample.set_image(F.camera_gain(sample.image, rng, c, i))
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Cutout(Op):
    """`count` squares of side `size` (fraction of the shorter side) filled with `color`;
    annotations are kept (the object is still there, hidden)."""
    name: ClassVar[str] = "cutout"
    count: int = 3
    size: float = 0.1
    color: Any = "black"

    def check(self):
        self._set("count", int(self._number(self.count, "count", 1, 1000, integer=True)))
        self._set("size", self._number(self.size, "size", 0.001, 1.0))
        self._set("color", self._color(self.color))

    def __call__(self, sample, rng, ctx, state):
        w, h = sample.width, sample.height
        side = max(1, round(self.size * min(w, h)))
        xs = rng.integers(0, max(1, w - side + 1), self.count)
        ys = rng.integers(0, max(1, h - side + 1), self.count)
        boxes = np.stack([xs, ys, xs + side, ys + side], axis=1)
        sample.set_image(F.cutout(sample.image, boxes, self.color))
        return [sample]
