"""Paths named by untrusted annotation files stay inside their dataset folder."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from ..core.errors import UnsafeInputError

_DRIVE = re.compile(r"^[A-Za-z]:")


def clean_relative(name: str, *, where: str) -> str:
    """Normalize a file name from an annotation to a relative POSIX path, or refuse it."""
    if not isinstance(name, str) or not name.strip():
        raise UnsafeInputError(where, f"empty or invalid file name {name!r}")
    posix = name.replace("\\", "/")
    if posix.startswith("/") or _DRIVE.match(posix) or "\x00" in posix:
        raise UnsafeInputError(where, f"file name {name!r} is an absolute path; "
                               "annotations must name files inside the dataset folder")
    parts = [p for p in PurePosixPath(posix).parts if p not in ("", ".")]
    if ".." in parts:
        raise UnsafeInputError(where, f"file name {name!r} points outside the dataset folder")
    if not parts:
        raise UnsafeInputError(where, f"empty or invalid file name {name!r}")
    return "/".join(parts)


def resolve_inside(root: Path, relative: str, *, where: str) -> Path:
    """root/relative, refusing anything (symlinks included) that ends up outside root."""
    rel = clean_relative(relative, where=where)
    candidate = root / rel
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(candidate))
    if real != real_root and real_root not in real.parents:
        raise UnsafeInputError(where, f"file {rel!r} is a link that leads outside the dataset "
                               f"folder ({real})")
    return candidate


def is_inside(path: Path, folder: Path) -> bool:
    p, f = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return p == f or f in p.parents
