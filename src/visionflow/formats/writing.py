"""What writers share: each image's annotation rows, and the one place where the paths of an
output's files are made from image names and split names and checked.

Every writer used to group rows per image and check its destinations in its own words; here
they are done once, so that a rule (no '..', no absolute names, no two images on one label
file) holds for every format alike.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..core.errors import OutputError
from ..io.paths import clean_relative

if TYPE_CHECKING:
    from ..core.annotations import Annotations
    from ..core.dataset import Dataset


def image_order(rows: Annotations | Dataset, n_images: int | None = None
                ) -> tuple[np.ndarray, np.ndarray]:
    """(order, bounds): the rows of image i are order[bounds[i]:bounds[i + 1]], in table
    order. For writers that take several images' rows in one slice (chunked emission);
    rows_by_image is the same as a list. `rows`: a Dataset (its annotations and images) or
    an annotation table (a subset, e.g. the boxes) with the number of images."""
    ann, n = _table(rows, n_images)
    order = np.argsort(ann.image_index, kind="stable")
    return order, np.searchsorted(ann.image_index[order], np.arange(n + 1))


def rows_by_image(rows: Annotations | Dataset, n_images: int | None = None) -> list[np.ndarray]:
    """The annotation rows of each image, one index array (a view) per image, empty for an
    image without any, rows in table order: one argsort, then slices, no loop over rows
    (slicing by bounds is ~3x faster than np.split for 250,000 images)."""
    order, bounds = image_order(rows, n_images)
    edges = bounds.tolist()
    return [order[a:b] for a, b in zip(edges[:-1], edges[1:])]


def _table(rows: Any, n_images: int | None) -> tuple[Annotations, int]:
    if n_images is None:  # a Dataset
        return rows.annotations, len(rows.images)
    return rows, n_images


def folder_name(name: str, out_dir: Path | str, what: str = "split name") -> str:
    """`name` where it becomes one folder of the output (a split, a subset), or an
    OutputError: '.', '..' or a path separator would put files elsewhere. An empty name (no
    split) is no folder and passes."""
    if name in (".", "..") or any(c in name for c in "/\\\x00"):
        raise OutputError(f"{out_dir}: {what} {name!r} cannot be a folder name")
    return name


def placements(names: Sequence[Any], splits: Sequence[str], *,
               image: Callable[[str, str], str],
               label: Callable[[str, str], str],
               shared: str = "one label file") -> tuple[list[str], list[str]]:
    """Output paths (relative, POSIX) of every image and of its label file, in image order.

    Each image name is made relative and clean first (an absolute name or one with '..' is
    an UnsafeInputError naming the image); image(rel, split) and label(rel, split) give the
    paths. Two images whose label files would be one file (a.jpg and a.png both want a.txt)
    are an OutputError naming both, instead of one silently overwriting the other."""
    dest: list[str] = []
    owner: dict[str, int] = {}
    for i, (name, split) in enumerate(zip(names, splits)):
        rel = clean_relative(str(name), where=f"image {name!r}")
        path = label(rel, split)
        if path in owner:
            raise OutputError(f"{path}: images {names[owner[path]]!r} and {name!r} would "
                              f"share {shared}; rename one of them")
        owner[path] = i
        dest.append(image(rel, split))
    return dest, list(owner)


def listed_once(name: Any, split: str, seen: set[tuple[str, str]], out_dir: Path | str) -> str:
    """`name` made relative and clean (an UnsafeInputError naming the image otherwise), and
    recorded in `seen`; an image already written under that name in `split` is an
    OutputError: the two would be one output file."""
    clean = clean_relative(str(name), where=f"image {name!r}")
    if (split, clean) in seen:
        raise OutputError(f"{out_dir}: image {clean!r} is listed twice in split "
                          f"{split or '(unsplit)'!r}")
    seen.add((split, clean))
    return clean
