"""Operations: frozen dataclasses whose fields are their parameters.

Every field is declared with `param(default, converter, help)`: its annotation is the type it
holds once built, the converter turns what a recipe may say (640, "640x480", [640, 480]) into
that type or fails with a message naming the operation, what was expected and what was
received. The declarations are the single source of the recipe's keys, `to_dict()`,
`visionflow ops` and the resize/tile command-line options. Parameters drawn at random are
`*_range: [min, max]`; a renamed parameter keeps its `old` name working (the recipe reports it
as deprecated). An operation is applied with `op(sample, rng, ctx, state) -> list[Sample]`: it
works on its own copy and returns new samples, never changing the one it was given;
parameters are drawn once from the explicit `rng`, then every column moves through the pure
functions in functional.py. No hidden state: what depends on the dataset (class maps) is
computed once by `bind(categories)` and handed in as `state`.

Any operation may stand in `preprocess` or in `augment`; `p` (default 1) is the chance that it
runs for a given output image.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any, ClassVar

import numpy as np

from ..core.annotations import Annotations
from ..core.categories import Categories, Category
from ..core.errors import Error, did_you_mean
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


@dataclass(frozen=True)
class Conv:
    """How a parameter is read: `type` is what `visionflow ops` shows, `fn(op, name, value)`
    returns the converted value or calls op.fail()."""
    type: str
    fn: Callable[[Op, str, Any], Any]
    choices: tuple[str, ...] = ()
    cli: str = "str"  # the command-line value type: str, int or float (converted from there)


@dataclass(frozen=True)
class Param:
    """One parameter as documented: by `visionflow ops`, `--help` and the recipe checker."""
    name: str
    type: str
    default: Any
    help: str
    choices: tuple[str, ...] = ()
    old: str | None = None
    cli: str = "str"


def param(default: Any, conv: Conv, help: str, *, old: str | None = None) -> Any:
    """Declare an operation parameter (a dataclass field carrying its converter and help)."""
    return field(default=default, metadata={"conv": conv, "help": help, "old": old})


def number(lo: float | None = None, hi: float | None = None, *, integer: bool = False,
           optional: bool = False) -> Conv:
    bounds = f" {lo}..{hi}" if lo is not None and hi is not None else \
        f" >= {lo}" if lo is not None else f" <= {hi}" if hi is not None else ""
    kind = ("integer" if integer else "number") + bounds + (" or null" if optional else "")

    def fn(op: Op, what: str, v: Any) -> Any:
        if v is None and optional:
            return None
        return op._number(v, what, lo, hi, integer=integer)
    return Conv(kind, fn, cli="int" if integer else "float")


def wxh(label: str = "WIDTHxHEIGHT", *, optional: bool = False) -> Conv:
    """Two whole numbers: 640, "640x480" or [640, 480]."""
    def fn(op: Op, what: str, v: Any) -> Any:
        return None if v is None and optional else op._size(v, what)
    return Conv(label + (" or null" if optional else ""), fn)


def span(lo: float | None, hi: float | None, *, scalar: str | None = None,
         cast: Callable[[float], Any] = float) -> Conv:
    """A `*_range` [min, max] within lo..hi; a single number n means [-n, n] ("symmetric",
    the default when lo < 0), [n, n] ("point") or [0, n] ("upto")."""
    scalar = scalar or ("symmetric" if lo is None or lo < 0 else "point")
    shorthand = {"symmetric": "n = [-n, n]", "point": "n = [n, n]", "upto": "n = [0, n]"}[scalar]

    def fn(op: Op, what: str, v: Any) -> Any:
        if scalar == "upto" and isinstance(v, (int, float)) and not isinstance(v, bool):
            return 0.0, op._number(v, what, lo, hi)
        return tuple(cast(x) for x in op._range(v, what, lo, hi))
    return Conv(f"[min, max] in {lo}..{hi}; {shorthand}", fn)


def choice(*choices: str) -> Conv:
    return Conv(" | ".join(choices), lambda op, what, v: op._choice(v, what, choices), choices)


COLOR = Conv("color: black, white, gray, #rrggbb, [r, g, b]", lambda op, what, v: op._color(v, what))


def _boolean(op: Op, what: str, v: Any) -> bool:
    if not isinstance(v, bool):
        op.fail(f"{what} must be true or false, got {v!r}")
    return v


BOOL = Conv("true | false", _boolean)


def _names(op: Op, what: str, v: Any) -> tuple[str, ...]:
    v = [v] if isinstance(v, str) else v
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v):
        op.fail(f"{what} must be a list of names, got {v!r}")
    return tuple(v)


NAMES = Conv("[name, ...]", _names)


def _box(hi: float | None) -> Conv:
    def fn(op: Op, what: str, v: Any) -> Any:
        if v is None:
            return None
        if not isinstance(v, (list, tuple)) or len(v) != 4:
            op.fail(f"{what} must be [x_min, y_min, x_max, y_max], got {v!r}")
        vals = tuple(op._number(x, what, 0.0, hi) for x in v)
        if vals[2] <= vals[0] or vals[3] <= vals[1]:
            op.fail(f"{what} must have x_max > x_min and y_max > y_min, got {list(v)!r}")
        return vals
    return Conv("[x_min, y_min, x_max, y_max]" + (" in 0..1" if hi else " pixels") + " or null", fn)


@dataclass(frozen=True, kw_only=True)
class Op:
    """Base of every operation. Subclasses declare fields with `param` and implement `run`,
    which gets its own copy of the sample to change."""
    name: ClassVar[str] = ""
    example: ClassVar[dict[str, Any]] = {}  # parameters for `visionflow ops`' example line
    geometric: ClassVar[bool] = False  # moves pixels and annotations with one matrix
    p: float = param(1.0, number(0.0, 1.0), "chance that the operation runs for an output image")

    def __post_init__(self) -> None:
        # The one place a frozen field is set: the declared converter's result.
        for f in fields(self):
            conv = f.metadata.get("conv")
            if conv is not None:
                object.__setattr__(self, f.name, conv.fn(self, f.name, getattr(self, f.name)))
        self.check()

    @classmethod
    def params(cls) -> list[Param]:
        """The declared parameters, operation's own first, `p` last."""
        out = [Param(f.name, f.metadata["conv"].type, _plain(f.default), f.metadata["help"],
                     f.metadata["conv"].choices, f.metadata["old"], f.metadata["conv"].cli)
               for f in fields(cls) if "conv" in f.metadata]
        return [x for x in out if x.name != "p"] + [x for x in out if x.name == "p"]

    @classmethod
    def renamed(cls) -> dict[str, str]:
        """Old parameter name -> current one."""
        return {f.metadata["old"]: f.name for f in fields(cls) if f.metadata.get("old")}

    @classmethod
    def summary(cls) -> str:
        return " ".join((cls.__doc__ or "").split())

    @classmethod
    def example_line(cls) -> str:
        """One recipe line using the operation, e.g. `- resize: {size: 640x640, mode: fit}`."""
        if not cls.example:
            return f"- {cls.name}"
        import yaml
        return f"- {cls.name}: " + yaml.safe_dump(cls.example, default_flow_style=True,
                                                  sort_keys=False, width=10_000).strip()

    # -- cross-field checks (each field is already converted) --
    def check(self) -> None:
        pass

    def fail(self, problem: str) -> None:
        raise InvalidStep(self.name, problem)

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
        """New samples; `sample` itself is left as it was."""
        return self.run(sample.copy(), rng, ctx, state)

    def run(self, sample: Sample, rng: np.random.Generator, ctx, state: Any) -> list[Sample]:
        """Change `sample` (the operation's own copy) and return the outputs."""
        raise NotImplementedError

    def to_dict(self) -> dict:
        return {self.name: {f.name: _plain(getattr(self, f.name)) for f in fields(self)}}


def catalog(names: list[str] | None = None) -> list[dict[str, Any]]:
    """Every operation (or the named ones) as `visionflow ops` shows it: name, what it does,
    whether it moves geometry, its parameters and an example recipe line."""
    for n in names or []:
        if n not in OPS:
            raise InvalidStep(n, f"unknown operation{did_you_mean(n, OPS)} "
                                 f"(known: {', '.join(sorted(OPS))})")
    return [{"name": cls.name, "description": cls.summary(), "geometric": cls.geometric,
             "parameters": [{"name": x.name, "type": x.type, "default": x.default, "help": x.help,
                             **({"choices": list(x.choices)} if x.choices else {}),
                             **({"deprecated_name": x.old} if x.old else {})}
                            for x in cls.params()],
             "example": cls.example_line()}
            for name, cls in sorted(OPS.items()) if not names or name in names]


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

    def run(self, sample, rng, ctx, state):
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
    """Resize: stretch to size; fit within size; letterbox (fit, then pad to size with
    `color`); fill (cover size, then center crop). Up and down."""
    name: ClassVar[str] = "resize"
    geometric: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {"size": "640x640", "mode": "letterbox", "color": "gray"}
    size: tuple[int, int] = param((640, 640), wxh(), "target size, e.g. 640x640")
    mode: str = param("stretch", choice(*RESIZE_MODES),
                      "how the image meets size: stretch; fit (within); letterbox (fit, then "
                      "pad with color); fill (cover, then center crop)")
    color: tuple[int, int, int] = param("black", COLOR, "letterbox padding color")

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

    def run(self, sample, rng, ctx, state):
        m, out, _ = self.plan(sample.width, sample.height)
        sample.warp(m, out, ctx, fill=self.color)
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class StaticCrop(Op):
    """Keep one rectangle: `xyxy` in pixels or `xyxy_norm` in fractions of the image."""
    name: ClassVar[str] = "static_crop"
    geometric: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {"xyxy_norm": [0.1, 0.1, 0.9, 0.9]}
    xyxy: tuple[float, float, float, float] | None = param(None, _box(None), "rectangle in pixels")
    xyxy_norm: tuple[float, float, float, float] | None = param(
        None, _box(1.0), "rectangle in fractions of the image (instead of xyxy)")

    def check(self):
        if (self.xyxy is None) == (self.xyxy_norm is None):
            self.fail("give exactly one of xyxy (pixels) or xyxy_norm (fractions 0..1)")

    def window(self, w: int, h: int) -> tuple[int, int, int, int]:
        if self.xyxy is not None:
            x0, y0, x1, y1 = self.xyxy
        else:
            x0, y0, x1, y1 = (v * s for v, s in zip(self.xyxy_norm, (w, h, w, h)))
        x0, y0 = int(math.floor(min(x0, w - 1))), int(math.floor(min(y0, h - 1)))
        x1, y1 = max(int(math.ceil(min(x1, w))), x0 + 1), max(int(math.ceil(min(y1, h))), y0 + 1)
        return x0, y0, x1, y1

    def run(self, sample, rng, ctx, state):
        x0, y0, x1, y1 = self.window(sample.width, sample.height)
        sample.warp(F.translate(-x0, -y0), (x1 - x0, y1 - y0), ctx)
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Grayscale(Op):
    """One gray channel (luminance); annotations are unchanged."""
    name: ClassVar[str] = "grayscale"

    def run(self, sample, rng, ctx, state):
        sample.set_image(F.grayscale(sample.image))
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class AutoContrast(Op):
    """Histogram equalization of the luminance, or CLAHE (adaptive, clip-limited)."""
    name: ClassVar[str] = "auto_contrast"
    example: ClassVar[dict[str, Any]] = {"method": "clahe", "clip_limit": 2.0}
    method: str = param("equalize", choice("equalize", "clahe"), "global equalization or CLAHE")
    clip_limit: float = param(2.0, number(0.01, 100), "CLAHE contrast limit")
    grid: tuple[int, int] = param((8, 8), wxh("COLUMNSxROWS"), "CLAHE tiles")

    def run(self, sample, rng, ctx, state):
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
    geometric: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {"tile_size": "640x640", "overlap": 64}
    grid: tuple[int, int] | None = param(None, wxh("COLUMNSxROWS", optional=True),
                                         "cut into this many tiles, e.g. 2x2")
    tile_size: tuple[int, int] | None = param(None, wxh(optional=True),
                                              "tile WIDTHxHEIGHT, e.g. 640x640 (instead of grid)")
    overlap: int = param(0, number(0, None, integer=True),
                         "overlap between neighbouring tiles, pixels")
    min_visibility: float | None = param(
        None, number(0, 1, optional=True),
        "drop object pieces keeping less than this fraction of their area "
        "(unset: the recipe's min_visibility, 0 unless set)")

    def check(self):
        if (self.grid is None) == (self.tile_size is None):
            self.fail("give exactly one of grid ([columns, rows]) or tile_size ([width, height])")
        if self.tile_size is not None and self.overlap >= min(self.tile_size):
            self.fail(f"overlap ({self.overlap}) must be smaller than the tile size {self.tile_size}")

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

    def run(self, sample, rng, ctx, state):
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
    geometric: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {"padding": 0.1}
    padding: float = param(0.0, number(0.0, 10.0), "grow each crop by this fraction of its box")

    def run(self, sample, rng, ctx, state):
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
                                          keypoints=None, obb=None, polylines=None)
            piece = sample.copy(file_name=f"{stem}_obj{k}{ext}", ann=Annotations.empty())
            piece.warp(F.translate(-wx0, -wy0), (wx1 - wx0, wy1 - wy0), ctx)
            piece.ann = label
            out.append(piece)
        return out


def _rename(op: Op, what: str, v: Any) -> dict[str, str]:
    v = v or {}
    if not isinstance(v, dict) or not all(isinstance(k, str) and isinstance(x, str) for k, x in v.items()):
        op.fail(f"rename must map class names to new names, got {v!r}")
    return dict(v)


def _merge(op: Op, what: str, v: Any) -> dict[str, tuple[str, ...]]:
    v = v or {}
    if not isinstance(v, dict) or not all(
            isinstance(k, str) and isinstance(x, (list, tuple)) and all(isinstance(n, str) for n in x)
            for k, x in v.items()):
        op.fail(f"merge must map a new name to a list of class names, got {v!r}")
    return {k: tuple(x) for k, x in v.items()}


@register
@dataclass(frozen=True, kw_only=True)
class ModifyClasses(Op):
    """Rename (`rename: {old: new}`; a new name that exists merges), merge
    (`merge: {new: [old, ...]}`) and drop (`drop: [name, ...]`) classes by name."""
    name: ClassVar[str] = "modify_classes"
    example: ClassVar[dict[str, Any]] = {"rename": {"car": "vehicle"}, "drop": ["person"]}
    rename: dict[str, str] = param(None, Conv("{old: new}", _rename), "rename classes by name")
    merge: dict[str, tuple[str, ...]] = param(None, Conv("{new: [old, ...]}", _merge),
                                              "merge classes into a new one")
    drop: tuple[str, ...] = param((), NAMES, "classes to drop, with their objects")

    def check(self):
        if not self.rename and not self.merge and not self.drop:
            self.fail("give at least one of rename, merge or drop")

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

    def run(self, sample, rng, ctx, state):
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

    def run(self, sample, rng, ctx, state):
        return [sample] if len(sample.ann) else []


def _tags(op: Op, what: str, v: Any) -> tuple[str, ...]:
    v = [v] if isinstance(v, str) else v
    if not isinstance(v, (list, tuple)):
        op.fail(f"tags must be a list of strings, got {v!r}")
    return tuple(str(t) for t in v)


def _values(op: Op, what: str, v: Any) -> tuple[Any, ...]:
    v = [v] if isinstance(v, (str, int, float)) else v
    if not isinstance(v, (list, tuple)):
        op.fail(f"values must be a list, got {v!r}")
    return tuple(v)


def _attribute(op: Op, what: str, v: Any) -> str | None:
    if v is not None and not isinstance(v, str):
        op.fail(f"attribute must be a name, got {v!r}")
    return v


@register
@dataclass(frozen=True, kw_only=True)
class FilterImages(Op):
    """Keep images having one of `tags` (image attribute "tags") and/or whose `attribute`
    is one of `values` (or is set, when no values); `exclude: true` drops them instead."""
    name: ClassVar[str] = "filter_images"
    example: ClassVar[dict[str, Any]] = {"tags": ["reviewed"]}
    tags: tuple[str, ...] = param((), Conv("[tag, ...]", _tags), "keep images having one of these tags")
    attribute: str | None = param(None, Conv("name or null", _attribute), "image attribute to test")
    values: tuple[Any, ...] = param((), Conv("[value, ...]", _values),
                                    "values of attribute that match (none: the attribute is set)")
    exclude: bool = param(False, BOOL, "drop the matching images instead of keeping them")

    def check(self):
        if not self.tags and self.attribute is None:
            self.fail("give tags or attribute")

    def run(self, sample, rng, ctx, state):
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
    example: ClassVar[dict[str, Any]] = {"area": 64}
    width: float = param(0.0, number(0.0, None), "minimum box width, pixels")
    height: float = param(0.0, number(0.0, None), "minimum box height, pixels")
    area: float = param(0.0, number(0.0, None), "minimum box area, square pixels")

    def check(self):
        if not (self.width or self.height or self.area):
            self.fail("give at least one of width, height or area (pixels)")

    def run(self, sample, rng, ctx, state):
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
    geometric: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {"direction": "horizontal", "p": 0.5}
    direction: str = param("horizontal", choice("horizontal", "vertical"), "mirror axis")

    def run(self, sample, rng, ctx, state):
        w, h = sample.width, sample.height
        sample.warp(F.hflip(w) if self.direction == "horizontal" else F.vflip(h), (w, h), ctx)
        return [sample]


def _turns(op: Op, what: str, v: Any) -> tuple[int, ...]:
    t = [v] if isinstance(v, int) else v
    if not isinstance(t, (list, tuple)) or not t:
        op.fail(f"turns must be a list of quarter turns (0-3), got {v!r}")
    return tuple(int(op._number(x, "turns", 0, 3, integer=True)) for x in t)


@register
@dataclass(frozen=True, kw_only=True)
class Rotate90(Op):
    """Quarter turns counter-clockwise, one of `turns` drawn at random (1, 2, 3)."""
    name: ClassVar[str] = "rotate90"
    geometric: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {"turns": [1, 3], "p": 0.5}
    turns: tuple[int, ...] = param((1, 2, 3), Conv("[quarter turns 0..3, ...]", _turns),
                                   "quarter turns to draw from")

    def run(self, sample, rng, ctx, state):
        k = self.turns[int(rng.integers(len(self.turns)))]
        m, out = F.rot90(k, sample.width, sample.height)
        sample.warp(m, out, ctx)
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Rotate(Op):
    """Rotate by an angle drawn from `angle_range` degrees about the center; corners are
    filled with `color`; objects are clipped to the image."""
    name: ClassVar[str] = "rotate"
    geometric: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {"angle_range": 15}
    angle_range: tuple[float, float] = param((-15.0, 15.0), span(-360, 360), "degrees",
                                             old="limit")
    color: tuple[int, int, int] = param("black", COLOR, "fill of the uncovered corners")

    def run(self, sample, rng, ctx, state):
        a = float(rng.uniform(*self.angle_range))
        w, h = sample.width, sample.height
        sample.warp(F.rotate(a, w / 2, h / 2), (w, h), ctx, fill=self.color)
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Shear(Op):
    """Shear horizontally by an angle from `x_range` and vertically from `y_range` (degrees)
    about the center."""
    name: ClassVar[str] = "shear"
    geometric: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {"x_range": 10, "y_range": 5}
    x_range: tuple[float, float] = param((-10.0, 10.0), span(-80, 80), "horizontal shear, degrees",
                                         old="x")
    y_range: tuple[float, float] = param((-10.0, 10.0), span(-80, 80), "vertical shear, degrees",
                                         old="y")
    color: tuple[int, int, int] = param("black", COLOR, "fill of the uncovered corners")

    def run(self, sample, rng, ctx, state):
        sx, sy = float(rng.uniform(*self.x_range)), float(rng.uniform(*self.y_range))
        w, h = sample.width, sample.height
        sample.warp(F.shear(sx, sy, w / 2, h / 2), (w, h), ctx, fill=self.color)
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Crop(Op):
    """Random crop keeping a fraction of the area drawn from `scale_range` (aspect kept),
    resized back to the image's size."""
    name: ClassVar[str] = "crop"
    geometric: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {"scale_range": [0.6, 1.0], "p": 0.5}
    scale_range: tuple[float, float] = param((0.6, 1.0), span(0.01, 1.0),
                                             "fraction of the area kept")

    def run(self, sample, rng, ctx, state):
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
    geometric: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {"scale_range": [0.8, 1.5]}
    scale_range: tuple[float, float] = param((1.0, 1.5), span(0.1, 10.0),
                                             "zoom factor (> 1 in, < 1 out)")
    color: tuple[int, int, int] = param("black", COLOR, "border color when zooming out")

    def run(self, sample, rng, ctx, state):
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
    geometric: ClassVar[bool] = True
    example: ClassVar[dict[str, Any]] = {"center_range": [0.3, 0.7], "p": 0.5}
    center_range: tuple[float, float] = param((0.25, 0.75), span(0.05, 0.95),
                                              "where the quadrants meet, fraction of the size")

    def run(self, sample, rng, ctx, state):
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

@dataclass(frozen=True, kw_only=True)
class Jitter(Op):
    """A pixel operation driven by one value drawn per image from its `drawn` range field
    (brightness, exposure, contrast, hue, saturation, blur, noise): subclasses declare that
    field and say what the value does in `jitter`."""
    drawn: ClassVar[str] = "amount_range"

    def run(self, sample, rng, ctx, state):
        v = float(rng.uniform(*getattr(self, self.drawn)))
        sample.set_image(self.jitter(sample.image, v, rng))
        return [sample]

    def jitter(self, image: np.ndarray, v: float, rng: np.random.Generator) -> np.ndarray:
        raise NotImplementedError


@register
@dataclass(frozen=True, kw_only=True)
class Brightness(Jitter):
    """Add a value drawn from `amount_range` (fraction of full scale) to every pixel."""
    name: ClassVar[str] = "brightness"
    example: ClassVar[dict[str, Any]] = {"amount_range": 0.2}
    amount_range: tuple[float, float] = param((-0.2, 0.2), span(-1, 1),
                                              "fraction of full scale added", old="limit")

    def jitter(self, image, v, rng):
        return F.brightness(image, v)


@register
@dataclass(frozen=True, kw_only=True)
class Exposure(Jitter):
    """Gamma curve 1 / (1 + e), e drawn from `amount_range`: brightens or darkens mid-tones."""
    name: ClassVar[str] = "exposure"
    example: ClassVar[dict[str, Any]] = {"amount_range": 0.2}
    amount_range: tuple[float, float] = param((-0.2, 0.2), span(-0.9, 0.9), "e of the 1 / (1 + e) gamma",
                                              old="limit")

    def jitter(self, image, v, rng):
        return F.exposure(image, 1.0 / (1.0 + v))


@register
@dataclass(frozen=True, kw_only=True)
class Contrast(Jitter):
    """Scale the distance to the mean gray by 1 + c, c drawn from `amount_range`."""
    name: ClassVar[str] = "contrast"
    example: ClassVar[dict[str, Any]] = {"amount_range": 0.2}
    amount_range: tuple[float, float] = param((-0.2, 0.2), span(-1, 10), "c of the 1 + c factor",
                                              old="limit")

    def jitter(self, image, v, rng):
        return F.contrast(image, 1.0 + v)


@register
@dataclass(frozen=True, kw_only=True)
class Hue(Jitter):
    """Rotate hue by an angle drawn from `amount_range` degrees."""
    name: ClassVar[str] = "hue"
    example: ClassVar[dict[str, Any]] = {"amount_range": 15}
    amount_range: tuple[float, float] = param((-15.0, 15.0), span(-180, 180), "degrees", old="limit")

    def jitter(self, image, v, rng):
        return F.hue_saturation(image, v, 0.0)


@register
@dataclass(frozen=True, kw_only=True)
class Saturation(Jitter):
    """Shift saturation by a value drawn from `amount_range` (fraction of full scale)."""
    name: ClassVar[str] = "saturation"
    example: ClassVar[dict[str, Any]] = {"amount_range": 0.25}
    amount_range: tuple[float, float] = param((-0.25, 0.25), span(-1, 1), "fraction of full scale",
                                              old="limit")

    def jitter(self, image, v, rng):
        return F.hue_saturation(image, 0.0, v)


@register
@dataclass(frozen=True, kw_only=True)
class Blur(Jitter):
    """Gaussian blur with sigma drawn from `sigma_range` pixels."""
    name: ClassVar[str] = "blur"
    drawn: ClassVar[str] = "sigma_range"
    example: ClassVar[dict[str, Any]] = {"sigma_range": 1.5, "p": 0.5}
    sigma_range: tuple[float, float] = param((0.0, 1.5), span(0, 50, scalar="upto"), "sigma, pixels",
                                             old="limit")

    def jitter(self, image, v, rng):
        return F.gaussian_blur(image, v)


@register
@dataclass(frozen=True, kw_only=True)
class MotionBlur(Op):
    """Linear motion blur: odd kernel size from `kernel_range`, random angle and direction."""
    name: ClassVar[str] = "motion_blur"
    example: ClassVar[dict[str, Any]] = {"kernel_range": [3, 9], "p": 0.3}
    kernel_range: tuple[int, int] = param((3, 9), span(3, 101, cast=int), "kernel size, pixels")

    def run(self, sample, rng, ctx, state):
        a, b = self.kernel_range
        k = int(rng.integers(a, b + 1)) | 1
        angle = float(rng.uniform(0, 360))
        direction = float(rng.uniform(-1, 1))
        sample.set_image(F.motion_blur(sample.image, k, angle, direction))
        return [sample]


@register
@dataclass(frozen=True, kw_only=True)
class Noise(Jitter):
    """Replace a fraction of the pixels, drawn from `amount_range`, with random colors."""
    name: ClassVar[str] = "noise"
    example: ClassVar[dict[str, Any]] = {"amount_range": 0.05}
    amount_range: tuple[float, float] = param((0.0, 0.05), span(0, 1, scalar="upto"),
                                              "fraction of the pixels", old="limit")

    def jitter(self, image, v, rng):
        return F.salt_pepper_noise(image, rng, v)


@register
@dataclass(frozen=True, kw_only=True)
class CameraGain(Op):
    """High-ISO sensor noise: luminance noise from `intensity_range`, color from
    `color_shift_range`."""
    name: ClassVar[str] = "camera_gain"
    example: ClassVar[dict[str, Any]] = {"intensity_range": [0.1, 0.5]}
    intensity_range: tuple[float, float] = param((0.1, 0.5), span(0, 5), "luminance noise")
    color_shift_range: tuple[float, float] = param((0.01, 0.05), span(0, 1), "color noise")

    def run(self, sample, rng, ctx, state):
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
    example: ClassVar[dict[str, Any]] = {"count": 3, "size": 0.1, "p": 0.5}
    count: int = param(3, number(1, 1000, integer=True), "number of squares")
    size: float = param(0.1, number(0.001, 1.0), "side, fraction of the shorter image side")
    color: tuple[int, int, int] = param("black", COLOR, "fill color")

    def run(self, sample, rng, ctx, state):
        w, h = sample.width, sample.height
        side = max(1, round(self.size * min(w, h)))
        xs = rng.integers(0, max(1, w - side + 1), self.count)
        ys = rng.integers(0, max(1, h - side + 1), self.count)
        boxes = np.stack([xs, ys, xs + side, ys + side], axis=1)
        sample.set_image(F.cutout(sample.image, boxes, self.color))
        return [sample]
