"""Dataset: images table + annotations table + categories + meta. The one canonical model.

Every reader produces a Dataset and every writer consumes one; no format ever talks to another
directly. A Dataset is immutable: operations return new ones.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from .annotations import Annotations
from .categories import Categories
from .images import Images

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

    def export(self, path: str | Path, format: str, **options: Any) -> Report:
        """Write this dataset in `format` (see `visionflow.write` for the options)."""
        from ..api import write
        return write(self, path, format, **options)

    def check(self, config: Any = None, **options: Any) -> list:
        """Health checks as data (see `visionflow.checks.check`); nothing is printed."""
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
