"""Image and annotation ids when images change split.

The model allows an id to repeat across splits (COCO and Roboflow number each split's file on
its own: train and valid both start at 0). Re-cutting or combining splits would then put two
images with one id into the same split, which no reader accepts. `unique_ids` renumbers a
table 1..N, in row order, whenever its ids are not unique across the whole dataset: whether ids
change depends only on the input, never on the seed or the ratios, and ids that are already
unique (standard COCO numbers across splits) are kept as the source wrote them.
"""

from __future__ import annotations

import numpy as np

from .dataset import Dataset


def unique_ids(ds: Dataset) -> tuple[Dataset, list[str]]:
    """`ds` with image and annotation ids unique across all splits, and a note per table
    renumbered (empty when nothing changed)."""
    notes: list[str] = []
    images, ann = ds.images, ds.annotations
    if _repeats(images.id):
        images = images.replace(id=np.arange(1, len(images) + 1, dtype=np.int64))
        notes.append(f"image ids repeat across splits ({_repeats(ds.images.id)} shared); "
                     f"renumbered 1..{len(images)} so that every split's ids stay unique")
    if _repeats(ann.id):
        ann = ann.replace(id=np.arange(1, len(ann) + 1, dtype=np.int64))
        notes.append(f"annotation ids repeat across splits ({_repeats(ds.annotations.id)} "
                     f"shared); renumbered 1..{len(ann)} so that every split's ids stay unique")
    if not notes:
        return ds, notes
    return ds.replace(images=images, annotations=ann), notes


def _repeats(ids: np.ndarray) -> int:
    """How many rows repeat an id of an earlier row."""
    return int(len(ids) - len(np.unique(ids))) if len(ids) > 1 else 0
