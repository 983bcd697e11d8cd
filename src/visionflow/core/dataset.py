"""Dataset: images table + annotations table + categories + meta. The one canonical model.

Every reader produces a Dataset and every writer consumes one; no format ever talks to another
directly. A Dataset is immutable: operations return new ones.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .annotations import Annotations
from .categories import Categories
from .errors import MissingImageError
from .images import Images
from .view import ImageView

if TYPE_CHECKING:
    from .report import Report


@dataclass(frozen=True, eq=False)
class Dataset:
    images: Images
    annotations: Annotations
    categories: Categories
    meta: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.annotations) and (self.annotations.image_index.min() < 0 or
                                      self.annotations.image_index.max() >= len(self.images)):
            raise ValueError("annotations refer to image rows outside the images table")

    def __repr__(self) -> str:
        return (f"Dataset({len(self.images)} images, {len(self.annotations)} annotations, "
                f"{len(self.categories)} categories, splits={self.images.splits()})")

    def replace(self, **changes: Any) -> Dataset:
        return replace(self, **changes)

    @property
    def source_format(self) -> str | None:
        return self.meta.get("source_format")

    def select_images(self, keep: np.ndarray) -> Dataset:
        """Keep the given image rows (mask or indices) and their annotations."""
        keep = np.asarray(keep)
        rows = np.flatnonzero(keep) if keep.dtype == bool else keep.astype(np.int64)
        new_row = np.full(len(self.images), -1, np.int64)
        new_row[rows] = np.arange(len(rows))
        ann = self.annotations[new_row[self.annotations.image_index] >= 0]
        ann = ann.replace(image_index=new_row[ann.image_index])
        return replace(self, images=self.images[rows], annotations=ann)

    def split(self, name: str) -> Dataset:
        return self.select_images(self.images.split == name)

    def annotations_of(self, image_row: int) -> Annotations:
        return self.annotations[self.annotations.image_index == image_row]

    # --- the Python API: len, indexing, iteration, filter (views slice the columns) ------
    def __len__(self) -> int:
        """Number of images."""
        return len(self.images)

    def __iter__(self) -> Iterator[ImageView]:
        """One light view per image, in table order; one argsort for all their annotations."""
        order = np.argsort(self.annotations.image_index, kind="stable")
        bounds = np.searchsorted(self.annotations.image_index[order],
                                 np.arange(len(self.images) + 1))
        for i in range(len(self.images)):
            yield ImageView(self, i, order[bounds[i]:bounds[i + 1]])

    def __getitem__(self, key: Any) -> Any:
        """ds[i] or ds["file.jpg"] / ds["split/file.jpg"]: one ImageView; ds[mask],
        ds[indices] or ds[a:b]: a Dataset of those images and their annotations."""
        if isinstance(key, str):
            return ImageView(self, self._row_named(key))
        if isinstance(key, (int, np.integer)) and not isinstance(key, bool):
            n = len(self.images)
            if not -n <= key < n:
                raise IndexError(f"image index {key} is out of range for {n} images")
            return ImageView(self, int(key) % n)
        if isinstance(key, slice):
            return self.select_images(np.arange(len(self.images))[key])
        arr = np.asarray(key)
        if arr.dtype == bool:
            if arr.shape != (len(self.images),):
                raise IndexError(f"boolean mask has shape {arr.shape}, expected "
                                 f"({len(self.images)},): one value per image")
            return self.select_images(arr)
        if arr.ndim == 1 and (arr.dtype.kind in "iu" or arr.size == 0):
            n = len(self.images)
            if arr.size and (arr.min() < -n or arr.max() >= n):
                raise IndexError(f"image indices must be in -{n}..{n - 1}, got "
                                 f"{int(arr.min())}..{int(arr.max())}")
            return self.select_images(arr.astype(np.int64) % max(n, 1))
        raise TypeError(f"a Dataset is indexed by an int, a file name, a slice, a boolean mask "
                        f"or an integer array, not {type(key).__name__}")

    def _row_named(self, key: str) -> int:
        imgs = self.images
        rows = [i for i, f in enumerate(imgs.file_name) if f == key]
        if not rows and "/" in key:  # "split/file.jpg"
            split, name = key.split("/", 1)
            rows = [i for i, (f, s) in enumerate(zip(imgs.file_name, imgs.split))
                    if f == name and s == split]
        if len(rows) == 1:
            return rows[0]
        if not rows:
            raise KeyError(f"no image named {key!r} (names are file names within a split, "
                           "e.g. 'x.jpg' or 'sub/x.jpg'; 'split/x.jpg' where names repeat)")
        where = sorted(f"{imgs.split[i]}/{key}" for i in rows)
        raise KeyError(f"{len(rows)} images are named {key!r}, one per split: use one of "
                       f"{where}")

    @property
    def classes(self) -> list[str]:
        """Class names in class-index order (what trainers call labels 0..N-1)."""
        return self.categories.names

    @property
    def splits(self) -> list[str]:
        """Split names in first-seen order ("" for images without a split)."""
        return self.images.splits()

    def class_index(self, category_id: Any) -> np.ndarray:
        """Positions in `categories` of these category ids (-1 for an undeclared id)."""
        ids = np.asarray(self.categories.ids, np.int64)
        cid = np.asarray(category_id, np.int64)
        if not len(ids):
            return np.full(cid.shape, -1, np.int64)
        order = np.argsort(ids)
        pos = np.clip(np.searchsorted(ids[order], cid), 0, len(ids) - 1)
        return np.where(ids[order][pos] == cid, order[pos], -1)

    def filter(self, *, classes: Any = None, split: Any = None, tag: str | None = None,
               attr: dict[str, Any] | None = None, mask: Any = None) -> Dataset:
        """The images that pass every given test, with all their annotations.

        classes: names or ids; images holding at least one annotation of one of them.
        split: a name or several. tag: images with an image-level label of that class
        (CVAT's <tag>) or whose "tags" attribute holds it.
        attr: {name: value}: images whose attribute equals value (value None: has the
        attribute at all). mask: a boolean array with one value per image.
        """
        keep = np.ones(len(self.images), bool)
        if classes is not None:
            wanted = self._category_ids([classes] if isinstance(classes, (str, int)) else classes)
            hit = np.isin(self.annotations.category_id, wanted)
            has = np.zeros(len(self.images), bool)
            has[self.annotations.image_index[hit]] = True
            keep &= has
        if split is not None:
            names = [split] if isinstance(split, str) else list(split)
            keep &= np.isin(self.images.split.astype(str), names)
        if tag is not None:  # an image-level label of that class, or a "tags" attribute value
            tags = self.images.attr("tags")
            has = np.fromiter((t == tag if isinstance(t, str) else
                               (t is not None and tag in t) for t in tags), bool, len(tags))
            ann = self.annotations
            named = np.array(self.classes + [None], dtype=object)[self.class_index(
                ann.category_id)] == tag
            has[ann.image_index[ann.is_label & named]] = True
            keep &= has
        for name, value in (attr or {}).items():
            col = self.images.attr(name)
            keep &= np.fromiter(((v is not None) if value is None else bool(v == value)
                                 for v in col), bool, len(col))
        if mask is not None:
            m = np.asarray(mask)
            if m.dtype != bool or m.shape != (len(self.images),):
                raise ValueError(f"mask must be a boolean array of shape ({len(self.images)},),"
                                 f" got {m.dtype} {m.shape}")
            keep &= m
        return self.select_images(keep)

    def _category_ids(self, classes: Any) -> np.ndarray:
        out = []
        for c in classes:
            if isinstance(c, str):
                found = self.categories.by_name(c)
                if not found:
                    raise KeyError(f"no class named {c!r}; classes are {self.classes}")
                out += [f.id for f in found]
            elif self.categories.has_id(int(c)):
                out.append(int(c))
            else:
                raise KeyError(f"no class with id {c!r}; ids are {self.categories.ids}")
        return np.asarray(out, np.int64)

    def image(self, i: int | str) -> np.ndarray:
        """The pixels of image `i` (row or name), decoded now: (H, W, 3) uint8 RGB, upright
        (EXIF orientation applied, as the boxes assume)."""
        from ..io.images import load_rgb
        view = self[i]
        if not isinstance(view, ImageView):
            raise TypeError("ds.image takes one image: an int or a file name")
        if view.path is None:
            raise MissingImageError(view.file_name, "this dataset has no file for the image")
        return np.asarray(load_rgb(view.path))

    def to_arrow(self) -> Any:
        """One row per annotation with its image's columns (images without annotations: one
        row, annotation columns null); geometry as list columns. `vf.from_arrow` reverses it
        exactly. Needs pyarrow (`pip install 'visionflow[hf]'`)."""
        from ..bridges.arrow import to_arrow
        return to_arrow(self)

    def to_pandas(self) -> Any:
        """`to_arrow()` as a pandas DataFrame (needs pandas); `vf.from_arrow` takes it back."""
        from ..bridges.arrow import to_pandas
        return to_pandas(self)

    def export(self, path: str | Path, format: str, **options: Any) -> Report:
        """Write this dataset in `format` (see `visionflow.write` for the options). A thin
        alias: api is imported on call, core/ imports nothing above it."""
        from ..api import write
        return write(self, path, format, **options)

    def check(self, config: Any = None, **options: Any) -> list:
        """Health checks as data (see `visionflow.checks.check`); nothing is printed. A thin
        alias: checks is imported on call, core/ imports nothing above it."""
        from ..checks import check
        return check(self, config, **options)

    def info(self) -> dict[str, Any]:
        """Counts per split and class, and the kinds of geometry held."""
        ann, imgs = self.annotations, self.images
        names = {c.id: c.name for c in self.categories}
        ann_split = imgs.split[ann.image_index] if len(ann) else np.array([], dtype=object)
        per_class: dict[str, dict[str, int]] = {}
        for split_name in imgs.splits():
            counts = Counter(ann.category_id[ann_split == split_name].tolist())
            per_class[split_name] = {names.get(cid, str(cid)): counts.get(cid, 0)
                                     for cid in self.categories.ids}
        annotated = np.zeros(len(imgs), bool)
        annotated[ann.image_index] = True
        return {
            "format": self.source_format,
            "images": len(imgs),
            "annotations": len(ann),
            "categories": [c.to_dict() for c in self.categories],
            "splits": {s: {"images": int((imgs.split == s).sum()),
                           "annotations": int((ann_split == s).sum()),
                           "images_without_annotations": int(((imgs.split == s) & ~annotated).sum())}
                       for s in imgs.splits()},
            "annotations_per_class": per_class,
            "geometry": ann.geometry_counts(),
        }

    def differences(self, other: Dataset, atol: float = 0.0) -> list[str]:
        """What differs from `other` (empty when equal); meta is not compared."""
        out = [f"images.{d}" for d in self.images.differences(other.images)]
        out += [f"annotations.{d}" for d in self.annotations.differences(other.annotations, atol)]
        if self.categories != other.categories:
            out.append("categories")
        return out
