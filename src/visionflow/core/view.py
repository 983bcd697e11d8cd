"""A light per-image view of a Dataset: what `ds[i]` and `for image in ds` yield.

A view holds the dataset and a row number, and slices the annotation columns of that image on
demand (no per-box Python objects), so iterating a million-box dataset costs one argsort.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from .annotations import Annotations

if TYPE_CHECKING:
    from .dataset import Dataset


class ImageView:
    """One image of a dataset: its table row, and its annotations as column slices."""

    __slots__ = ("dataset", "row", "_rows")

    def __init__(self, dataset: Dataset, row: int, rows: np.ndarray | None = None):
        self.dataset = dataset
        self.row = int(row)
        self._rows = rows  # this image's annotation rows, when the caller already has them

    def __repr__(self) -> str:
        split = f"{self.split}/" if self.split else ""
        return (f"ImageView({split}{self.file_name}, {self.width}x{self.height}, "
                f"{len(self.annotation_rows)} annotations)")

    # --- the image row --------------------------------------------------------------------
    @property
    def id(self) -> int:
        return int(self.dataset.images.id[self.row])

    @property
    def file_name(self) -> str:
        return str(self.dataset.images.file_name[self.row])

    @property
    def path(self) -> str | None:
        return self.dataset.images.path[self.row]

    @property
    def width(self) -> int:
        return int(self.dataset.images.width[self.row])

    @property
    def height(self) -> int:
        return int(self.dataset.images.height[self.row])

    @property
    def size(self) -> tuple[int, int]:
        """(width, height), as Pillow says it."""
        return self.width, self.height

    @property
    def split(self) -> str:
        return str(self.dataset.images.split[self.row])

    @property
    def attrs(self) -> dict[str, Any]:
        """The image's attributes (absent ones left out)."""
        return {k: v[self.row] for k, v in self.dataset.images.attrs.items()
                if v[self.row] is not None}

    @property
    def tags(self) -> list:
        """The image's tags: the class names of its image-level labels (CVAT's <tag>,
        classification labels), then the values of a "tags" image attribute."""
        labels = self.dataset.annotations.is_label[self.annotation_rows]
        out = [n for n in self.class_names[labels].tolist() if n is not None]
        value = self.dataset.images.attr("tags")[self.row]
        if value is not None:
            out += [value] if isinstance(value, str) else list(value)
        return out

    def image(self) -> np.ndarray:
        """The pixels, decoded now: (H, W, 3) uint8 RGB, upright (EXIF orientation applied)."""
        return self.dataset.image(self.row)

    # --- this image's annotations ---------------------------------------------------------
    @property
    def annotation_rows(self) -> np.ndarray:
        """Rows of dataset.annotations that belong to this image, in table order."""
        if self._rows is None:
            self._rows = np.flatnonzero(self.dataset.annotations.image_index == self.row)
        return self._rows

    @property
    def annotations(self) -> Annotations:
        """This image's annotations: every column sliced at once (image_index unchanged)."""
        return self.dataset.annotations[self.annotation_rows]

    @property
    def xyxy(self) -> np.ndarray:
        """(n, 4) float64 boxes in absolute pixels (NaN rows: image-level labels)."""
        return self.dataset.annotations.xyxy[self.annotation_rows]

    @property
    def category_id(self) -> np.ndarray:
        return self.dataset.annotations.category_id[self.annotation_rows]

    @property
    def class_index(self) -> np.ndarray:
        """(n,) int64 position of each annotation's class in dataset.categories (what a
        trainer calls the label)."""
        return self.dataset.class_index(self.category_id)

    @property
    def class_names(self) -> np.ndarray:
        """(n,) object array of class names."""
        names = np.array(self.dataset.classes + [None], dtype=object)
        return names[self.class_index]

    def __len__(self) -> int:
        return len(self.annotation_rows)
