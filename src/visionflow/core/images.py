"""The images table: one column per field, one row per image.

`file_name` is the image's name inside its split, as users and formats know it
("img_001.jpg", "sub/dir/x.png"); writers place the file under their own layout with that
name. `path` is where the pixels are on disk now (absolute), or None when the source has no
file for it. Pixels are never loaded here.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field, fields, replace
from typing import Any

import numpy as np

from .errors import ValidationError

UNSPLIT = ""  # split of images whose source has no split
_SPLIT_ALIASES = {"valid": "val", "validation": "val", "training": "train", "testing": "test"}


# (source name, canonical name) pairs met while reading; api.load collects them into a finding.
_renamed: ContextVar[set[tuple[str, str]] | None] = ContextVar("renamed_splits", default=None)


def canonical_split(name: str) -> str:
    """One name per split: Roboflow's 'valid' and others' 'validation' are 'val'."""
    key = name.strip()
    out = _SPLIT_ALIASES.get(key.lower(), key)
    seen = _renamed.get()
    if seen is not None and out != name:
        seen.add((name, out))
    return out


@contextmanager
def split_renames() -> Iterator[set[tuple[str, str]]]:
    """Collect the split names `canonical_split` changes inside the block (for a report)."""
    token = _renamed.set(set())
    try:
        yield _renamed.get()  # type: ignore[misc]
    finally:
        _renamed.reset(token)


@dataclass(frozen=True, eq=False)
class Images:
    id: np.ndarray          # (N,) int64, the source's image id or 1..N
    file_name: np.ndarray   # (N,) object str, POSIX, relative, unique within a split
    width: np.ndarray       # (N,) int64
    height: np.ndarray      # (N,) int64
    split: np.ndarray       # (N,) object str; UNSPLIT when the source has none
    path: np.ndarray        # (N,) object str | None: absolute location of the pixels
    attrs: dict[str, np.ndarray] = field(default_factory=dict)

    def __post_init__(self) -> None:
        n = len(self.id)
        for f in fields(self):
            v = getattr(self, f.name)
            cols = v.items() if f.name == "attrs" else [(f.name, v)]
            for name, col in cols:
                if len(col) != n:
                    raise ValueError(f"images column {name} has {len(col)} rows, expected {n}")
            if f.name != "attrs":
                _contiguous(self, f.name, v)

    @classmethod
    def build(cls, file_name: Sequence[str], width: Sequence[int], height: Sequence[int], *,
              id: Sequence[int] | None = None, split: Sequence[str] | str = UNSPLIT,
              path: Sequence[str | None] | None = None,
              attrs: dict[str, Sequence[Any]] | None = None) -> Images:
        n = len(file_name)
        ids = (np.arange(1, n + 1, dtype=np.int64) if id is None
               else as_int64(id, "id", file_name))
        splits = np.full(n, split, dtype=object) if isinstance(split, str) else _objects(split)
        paths = np.full(n, None, dtype=object) if path is None else _objects(path)
        return cls(ids, _objects(file_name), as_int64(width, "width", file_name).reshape(-1),
                   as_int64(height, "height", file_name).reshape(-1), splits, paths,
                   {k: _objects(v) for k, v in (attrs or {}).items()})

    @classmethod
    def empty(cls) -> Images:
        return cls.build([], [], [])

    def __len__(self) -> int:
        return len(self.id)

    def __getitem__(self, index: Any) -> Images:
        index = np.asarray(index)
        if index.dtype == bool:
            index = np.flatnonzero(index)
        return Images(self.id[index], self.file_name[index], self.width[index],
                      self.height[index], self.split[index], self.path[index],
                      {k: v[index] for k, v in self.attrs.items()})

    def replace(self, **changes: Any) -> Images:
        return replace(self, **changes)

    def attr(self, name: str) -> np.ndarray:
        col = self.attrs.get(name)
        return col if col is not None else np.full(len(self), None, dtype=object)

    def splits(self) -> list[str]:
        """Split names in first-seen order."""
        return list(dict.fromkeys(self.split.tolist()))

    def differences(self, other: Images, *, paths: bool = False) -> list[str]:
        if len(self) != len(other):
            return [f"length {len(self)} != {len(other)}"]
        out = [name for name in ("id", "width", "height") if not np.array_equal(
            getattr(self, name), getattr(other, name))]
        out += [name for name in ("file_name", "split") + (("path",) if paths else ())
                if list(getattr(self, name)) != list(getattr(other, name))]
        for key in sorted(set(self.attrs) | set(other.attrs)):
            if list(self.attr(key)) != list(other.attr(key)):
                out.append(f"attrs[{key!r}]")
        return out

    @staticmethod
    def concat(parts: Sequence[Images]) -> Images:
        parts = list(parts)
        if not parts:
            return Images.empty()
        if len(parts) == 1:
            return parts[0]
        keys = sorted({k for p in parts for k in p.attrs})
        return Images(*(np.concatenate([getattr(p, n) for p in parts])
                        for n in ("id", "file_name", "width", "height", "split", "path")),
                      attrs={k: np.concatenate([p.attr(k) for p in parts]) for k in keys})


def _contiguous(obj: Any, name: str, col: Any) -> None:
    """Columns are C-contiguous: a reader's column slice (sizes[:, 0]) is copied once here, so
    writers may hand any column to orjson/numpy buffers (orjson refuses strided arrays)."""
    if isinstance(col, np.ndarray) and not col.flags.c_contiguous:
        object.__setattr__(obj, name, np.ascontiguousarray(col))


def as_int64(values: Any, what: str, names: Sequence[Any] | None = None) -> np.ndarray:
    """np.asarray(values, int64), or a ValidationError naming the first value that is no
    64-bit integer (a declared width of 1e308 must be a message, not an OverflowError)."""
    try:
        return np.asarray(values, np.int64)
    except (OverflowError, ValueError, TypeError):
        pass
    for i, v in enumerate(values):
        try:
            np.int64(v)
        except (OverflowError, ValueError, TypeError):
            name = (f"image {names[i]!r}" if names is not None and i < len(names)
                    else f"annotation row {i}")
            raise ValidationError(name, f"{what} {v!r} is not a 64-bit integer") from None
    return np.asarray(values, np.int64)


def _objects(values: Sequence[Any]) -> np.ndarray:
    out = np.empty(len(values), dtype=object)
    out[:] = list(values)
    return out
