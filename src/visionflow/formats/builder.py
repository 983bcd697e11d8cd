"""DatasetBuilder: how a reader turns the images and objects it parses into a checked Dataset.

A format plugin's `read` parses its files and hands every image and object to a builder, which
keeps them as lists of scalars and arrays (never one Python object per box) and, in `build()`,
fills the image sizes the source does not give from the image headers, orders the classes,
builds the columns in whole-array operations and runs the model's rules (core/validate.py) so
that every problem names the file and line the reader passed as `where`:

    from visionflow.formats.builder import DatasetBuilder

    def read(path, ctx):
        b = DatasetBuilder(ctx, format="mytool")
        for name in ("cat", "dog"):                 # declared classes, in this order
            b.category(name)
        for line_no, (file_name, label, x1, y1, x2, y2) in enumerate(rows(path), 1):
            img = b.image(file_name, path=str(path / file_name), where=f"{path}:{line_no}")
            b.object(img, label, box=(x1, y1, x2, y2), where=f"{path}:{line_no}")
        return b.build()

Rules (the ones the built-in readers follow):
- every `image()` call adds a row; the same file name twice in a split is reported at build
  ("listed twice", at the second one's `where`), as for any reader;
- `size=None`: the size comes from the image file's header (`path`), else from embedded bytes
  (image attr common.IMAGE_BYTES), else it is an error at the image's `where`; images whose
  size cannot be known are left out with their objects (errors="skip") or stop the read;
- `label` is a class name or a declared category id; names not declared come after the
  declared classes (sorted by name, or in order of first use with `undeclared="first-use"`),
  with a warning "<format>.undeclared" when the format declares classes (an error when
  reading strictly); an id that no `category()` declared is an error at the object's `where`;
- `box=None` with a geometry: the box is its bounds (a polyline's padded to 1 pixel where it
  is flat); with no geometry: an image-level label (NaN box).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..core.annotations import COLUMN_OF_FIELD, Annotations, Polygons, Polylines
from ..core.categories import Categories, Category
from ..core.dataset import Dataset
from ..core.errors import Error, ParseError, UnsafeInputError, ValidationError
from ..core.geometry import pad_degenerate, points_bounds, rle_bounds
from ..core.images import UNSPLIT, Images
from ..io.images import embedded_size
from . import common
from .base import ReadContext

_NO_SIZE = "no size given and image file {file_name!r} not found; the size cannot be known"


class _Ragged:
    """Rings (or paths) of many objects as flat lists: coords chunks and sizes."""

    def __init__(self) -> None:
        self.chunks: list[np.ndarray] = []
        self.sizes: list[int] = []
        self.per_object: list[int] = []
        self.any = False

    def add(self, rings: Sequence[Any] | None, where: str, what: str, least: int) -> None:
        rings = [] if rings is None else list(rings)
        for ring in rings:
            arr = np.asarray(ring, np.float64).reshape(-1, 2)
            if len(arr) < least:
                raise ParseError(where, f"a {what} needs at least {least} points, got {len(arr)}")
            self.chunks.append(arr)
            self.sizes.append(len(arr))
        self.per_object.append(len(rings))
        self.any = self.any or bool(rings)

    def build(self, cls: type[Polygons], keep: np.ndarray) -> Polygons | None:
        if not self.any:
            return None
        coords = np.concatenate(self.chunks) if self.chunks else np.zeros((0, 2))
        ring_offsets = np.zeros(len(self.sizes) + 1, np.int64)
        np.cumsum(self.sizes, out=ring_offsets[1:])
        object_offsets = np.zeros(len(self.per_object) + 1, np.int64)
        np.cumsum(self.per_object, out=object_offsets[1:])
        out = cls(coords, ring_offsets, object_offsets).take(keep)
        return out if out.counts().any() else None  # only objects left out had one


class DatasetBuilder:
    """Collects a reader's images and objects; `build()` makes the checked Dataset.

    ctx: the read's context (errors, strict, progress); a fresh ReadContext when None.
    format: the format's name, for warning codes ("<format>.undeclared").
    undeclared: where classes used but not declared go, after the declared ones: "sorted"
    by name (the built-in labelling tools) or in order of "first-use".
    """

    def __init__(self, ctx: ReadContext | None = None, *, format: str = "",
                 undeclared: str = "sorted") -> None:
        if undeclared not in ("sorted", "first-use"):
            raise ValueError(f"undeclared must be 'sorted' or 'first-use', got {undeclared!r}")
        self.ctx = ctx if ctx is not None else ReadContext()
        self.format = format
        self.undeclared = undeclared
        self._cats: list[Category] = []
        self._cat_names: dict[str, int] = {}   # name -> position in _cats (first of a name)
        # images: one list entry per row
        self._file_name: list[str] = []
        self._split: list[str] = []
        self._path: list[str | None] = []
        self._width: list[int] = []
        self._height: list[int] = []
        self._image_id: list[int | None] = []
        self._image_where: list[str] = []
        self._image_attrs: dict[str, dict[int, Any]] = {}
        self._size_known: list[bool] = []
        self._sized = True  # every image has a size (fill_sizes has nothing to do)
        # objects
        self._image_index: list[int] = []
        self._label: list[str | int] = []
        self._box: list[float] = []  # 4 per object
        self._where: list[str] = []
        self._ann_id: list[int | None] = []
        self._rings = _Ragged()
        self._paths = _Ragged()
        self._sparse: dict[str, dict[int, Any]] = {"rle": {}, "obb": {}, "keypoints": {},
                                                   "score": {}, "track_id": {}, "iscrowd": {}}
        self._attrs: dict[str, dict[int, Any]] = {}

    # --- adding ---------------------------------------------------------------------------

    def category(self, name: str, id: int | None = None, *, supercategory: str | None = None,
                 keypoints: Sequence[str] = (), skeleton: Sequence[tuple[int, int]] = (),
                 where: str | None = None) -> int:
        """Declare a class (declared classes keep this order); returns its id. Ids default
        to 1..N in declaration order. A name declared twice without an id is one class; an
        id declared twice is a ParseError at `where`."""
        if name in self._cat_names and id is None:
            return self._cats[self._cat_names[name]].id
        cid = int(id) if id is not None else len(self._cats) + 1
        taken = next((c for c in self._cats if c.id == cid), None)
        if taken is not None:
            raise ParseError(where or f"class {name!r}", f"class id {cid} is declared twice "
                             f"({taken.name!r} and {name!r})")
        self._cat_names.setdefault(name, len(self._cats))
        self._cats.append(Category(cid, name, supercategory, tuple(keypoints),
                                   tuple(tuple(p) for p in skeleton)))
        return cid

    def image(self, file_name: str, split: str = UNSPLIT, path: str | None = None,
              size: tuple[int, int] | None = None, *, id: int | None = None,
              where: str | None = None, **extras: Any) -> int:
        """Add an image; returns its handle (its row) for `object()`. size=(width, height),
        or None to read it from the image header at build; extras become image attrs."""
        row = len(self._file_name)
        self._file_name.append(file_name)
        self._split.append(split)
        self._path.append(None if path is None else str(path))
        if size is None:
            self._width.append(0)
            self._height.append(0)
            self._sized = False
        else:
            self._width.append(int(size[0]))
            self._height.append(int(size[1]))
        self._image_id.append(id)
        self._image_where.append(where if where is not None else f"image {file_name!r}")
        for key, value in extras.items():
            if value is not None:
                self._image_attrs.setdefault(key, {})[row] = value
        self._size_known.append(size is not None)
        return row

    def object(self, img: int, label: str | int, box: Any = None, *,
               rings: Sequence[Any] | None = None, rle: dict | None = None,
               obb: Any = None, keypoints: Any = None, paths: Sequence[Any] | None = None,
               attrs: dict[str, Any] | None = None, where: str | None = None,
               id: int | None = None, score: float | None = None,
               track_id: int | None = None, iscrowd: bool | None = None) -> int:
        """Add an object (or, with no box and no geometry, an image-level label) to image
        `img`; returns its row. rings: polygon rings; paths: polyline paths; obb: 4 corners;
        keypoints: (K, 3) x, y, visibility. A malformed geometry raises ParseError at `where`
        (the reader's ctx.fail decides), and the object is not added."""
        if not 0 <= img < len(self._file_name):
            raise ValueError(f"image handle {img!r} was not returned by image()")
        row = len(self._image_index)
        where = where if where is not None else f"{self._image_where[img]}: object {row}"
        n_rings, n_paths = len(self._rings.chunks), len(self._paths.chunks)
        try:
            if obb is not None:
                obb = np.asarray(obb, np.float64).reshape(4, 2)
            if keypoints is not None:
                keypoints = np.asarray(keypoints, np.float64).reshape(-1, 3)
            xyxy = np.asarray(self._bounds(rings, paths, obb, rle) if box is None else box,
                              np.float64).reshape(4)
            self._rings.add(rings, where, "polygon ring", 3)
            self._paths.add(paths, where, "polyline", 2)
        except (ParseError, ValueError, TypeError) as e:
            for acc, n in ((self._rings, n_rings), (self._paths, n_paths)):
                del acc.chunks[n:], acc.sizes[n:]
                del acc.per_object[row:]
            if isinstance(e, ParseError):
                raise
            raise ParseError(where, f"malformed geometry ({e})") from None
        self._image_index.append(img)
        self._label.append(label)
        self._box.extend(xyxy.tolist())
        self._where.append(where)
        self._ann_id.append(id)
        for key, value in (("rle", rle), ("obb", obb), ("keypoints", keypoints),
                           ("score", score), ("track_id", track_id), ("iscrowd", iscrowd)):
            if value is not None:
                self._sparse[key][row] = value
        for key, value in (attrs or {}).items():
            self._attrs.setdefault(key, {})[row] = value
        return row

    @staticmethod
    def _bounds(rings: Any, paths: Any, obb: Any, rle: Any) -> Any:
        """The box of an object given without one: its geometry's bounds."""
        if rings is not None and len(rings):
            return points_bounds(np.concatenate([np.reshape(r, (-1, 2)) for r in rings]))
        if obb is not None:
            return points_bounds(obb)
        if rle is not None:
            return rle_bounds(rle)
        if paths is not None and len(paths):
            return pad_degenerate(points_bounds(np.concatenate(
                [np.reshape(p, (-1, 2)) for p in paths])))[0]
        return (np.nan,) * 4

    # --- sizes ----------------------------------------------------------------------------

    def size(self, img: int) -> tuple[int, int] | None:
        """The size of image `img` (after fill_sizes), None while it is not known."""
        return (self._width[img], self._height[img]) if self._size_known[img] else None

    def fill_sizes(self, no_size: str = _NO_SIZE, embedded: str = "embedded image data",
                   no_size_error: type[Error] = ParseError) -> None:
        """Give every image added without a size its size: from the image file's header, else
        from embedded bytes (image attr IMAGE_BYTES), else an error at its `where` (a
        no_size_error saying no_size, with {file_name}). Failures go through ctx.fail; those
        images stay unknown and build leaves them out. Readers that need sizes before adding
        objects (percentages) call it; build calls it otherwise."""
        if self._sized:
            return
        known = self._size_known
        need = [i for i, k in enumerate(known) if not k]
        from_file = [i for i in need if self._path[i] is not None]
        sizes = common.read_sizes([self._path[i] for i in from_file], self.ctx,
                                  where=lambda k: self._image_where[from_file[k]])
        for i, (w, h) in zip(from_file, sizes):
            if w > 0 and h > 0:
                self._width[i], self._height[i], known[i] = int(w), int(h), True
        data = self._image_attrs.get(common.IMAGE_BYTES, {})
        for i in need:
            if self._path[i] is not None:
                continue
            where = self._image_where[i]
            if isinstance(data.get(i), bytes):
                try:
                    self._width[i], self._height[i] = embedded_size(data[i], where)
                    known[i] = True
                except ValidationError:
                    self.ctx.fail(ParseError(where, f"{embedded} is not an image"))
                except UnsafeInputError as e:
                    self.ctx.fail(e)
            else:
                self.ctx.fail(no_size_error(where, no_size.format(file_name=self._file_name[i])))
        self._sized = True

    # --- build ----------------------------------------------------------------------------

    def build(self, *, meta: dict | None = None, sort_images: bool = False,
              no_size: str = _NO_SIZE, embedded: str = "embedded image data",
              no_size_error: type[Error] = ParseError,
              undeclared_message: str | None = "classes not declared were added: {names}"
              ) -> Dataset:
        """The checked Dataset: sizes filled (fill_sizes), classes ordered, columns built
        whole, the model's rules run (finish_read). sort_images: images ordered by (split,
        file_name) (formats whose order is a file listing's), objects following them;
        else images and objects stay in the order they were added.
        undeclared_message: the warning when classes are used but not declared ({names});
        None: no warning (formats whose class list is only a preferred order)."""
        self._undeclared_message = undeclared_message
        self.fill_sizes(no_size, embedded, no_size_error)
        known = np.fromiter(self._size_known, bool, len(self._size_known))
        rows = np.flatnonzero(known)
        if sort_images:
            keys = sorted(rows.tolist(), key=lambda i: (self._split[i], self._file_name[i]))
            rows = np.asarray(keys, np.int64)
        new_row = np.full(len(known), -1, np.int64)
        new_row[rows] = np.arange(len(rows))
        image_index = new_row[np.asarray(self._image_index, np.int64)]
        keep = np.flatnonzero(image_index >= 0)  # objects of the images left out go too
        if sort_images:
            keep = keep[np.argsort(image_index[keep], kind="stable")]
        cats, category_id = self._categories(keep)
        images = self._images(rows)
        ann = self._annotations(keep, image_index[keep], category_id)
        where_img = [self._image_where[i] for i in rows]
        where_ann = [self._where[i] for i in keep]
        ds = Dataset(images, ann, cats, meta or {})
        return common.finish_read(ds, self.ctx, where_annotation=where_ann.__getitem__,
                                  where_image=where_img.__getitem__)

    def _categories(self, keep: np.ndarray) -> tuple[Categories, np.ndarray]:
        """Declared classes, then the names used but not declared; the category id of each
        kept object (0 where an id label is not declared: reported here, dropped)."""
        labels = [self._label[i] for i in keep]
        names = [x for x in labels if isinstance(x, str)]
        new = [n for n in dict.fromkeys(names) if n not in self._cat_names]
        if self.undeclared == "sorted":
            new = sorted(new)
        cats = list(self._cats)
        if new and cats and self._undeclared_message is not None:
            first = next(self._where[i] for i, x in zip(keep, labels) if x in set(new))
            common.undeclared(self.ctx, f"{self.format}.undeclared", first,
                              self._undeclared_message.format(names=", ".join(new)),
                              count=len(new))
        next_id = max((c.id for c in cats), default=0) + 1
        for k, name in enumerate(new):
            self._cat_names[name] = len(cats)
            cats.append(Category(next_id + k, name))
        by_name = {name: cats[pos].id for name, pos in self._cat_names.items()}
        ids = {c.id for c in cats}
        out = np.zeros(len(labels), np.int64)
        for j, (i, x) in enumerate(zip(keep, labels)):
            if isinstance(x, str):
                out[j] = by_name[x]
            elif int(x) in ids:
                out[j] = int(x)
            else:
                self.ctx.fail(ValidationError(self._where[i], f"unknown class id {x}: no "
                                              "category() declares it"))
                out[j] = int(x)  # validate drops or keeps it (errors="keep")
        return Categories(cats), out

    def _images(self, rows: np.ndarray) -> Images:
        pick = lambda values: [values[i] for i in rows]
        ids = pick(self._image_id)
        kept = set(rows.tolist())
        attrs = {k: [col.get(int(i)) for i in rows] for k, col in self._image_attrs.items()
                 if not kept.isdisjoint(col)}
        return Images.build(pick(self._file_name), pick(self._width), pick(self._height),
                            id=None if any(i is None for i in ids) else ids,
                            split=pick(self._split), path=pick(self._path), attrs=attrs)

    def _annotations(self, keep: np.ndarray, image_index: np.ndarray,
                     category_id: np.ndarray) -> Annotations:
        n = len(keep)
        boxes = np.array(self._box, np.float64).reshape(-1, 4)[keep]
        ids = [self._ann_id[i] for i in keep]
        cols: dict[str, Any] = {
            "polygons": self._rings.build(Polygons, keep),
            "polylines": self._paths.build(Polylines, keep)}
        where_of = {int(i): j for j, i in enumerate(keep)}
        for key, values in self._sparse.items():
            kept = [(where_of[i], v) for i, v in values.items() if i in where_of]
            if not kept:  # a column no kept object uses stays None
                continue
            if key == "keypoints":
                col = np.full((n, max(len(v) for _, v in kept), 3), np.nan)
                for j, v in kept:
                    col[j, :len(v)] = v
            else:
                col = COLUMN_OF_FIELD[key].absent(n)
                for j, v in kept:
                    col[j] = v
            cols[key] = col
        attrs = {}
        for key, values in self._attrs.items():
            if all(i not in where_of for i in values):
                continue  # only objects left out had it
            col = np.full(n, None, dtype=object)
            for i, v in values.items():
                j = where_of.get(i)
                if j is not None:
                    col[j] = v
            attrs[key] = col
        return Annotations.build(image_index, category_id, boxes,
                                 id=None if any(i is None for i in ids) else ids,
                                 attrs=attrs, **cols)


def header_sizes(ctx: ReadContext, paths: Sequence[str | None], where: Sequence[str],
                 missing: Callable[[int], Error | None] | None = None) -> np.ndarray:
    """(N, 2) sizes of these images from their headers, for readers that keep their own
    records: -1 where the size cannot be read (reported through ctx.fail at where[i]) or the
    image has no path (the error missing(i) gives, reported first, in order; None: said
    elsewhere)."""
    out = np.full((len(paths), 2), -1, np.int64)
    if missing is not None:
        for i, p in enumerate(paths):
            err = missing(i) if p is None else None
            if err is not None:
                ctx.fail(err)
    have = [i for i, p in enumerate(paths) if p is not None]
    if have:
        out[have] = common.read_sizes([paths[i] for i in have], ctx,
                                      where=lambda k: where[have[k]])
    return out
