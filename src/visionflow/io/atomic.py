"""Outputs appear whole or not at all.

Everything is written into a hidden temporary folder beside the destination and renamed into
place when complete, so a crash, Ctrl-C or error leaves no half-written dataset behind.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.errors import OutputError

PARTIAL_SUFFIX = ".partial"


def check_destination(dest: Path, *, overwrite: bool = False) -> None:
    if dest.is_symlink() or (dest.exists() and not dest.is_dir()):
        raise OutputError(f"{dest}: exists and is not a folder; choose another destination")
    if dest.is_dir() and any(dest.iterdir()) and not overwrite:
        raise OutputError(f"{dest}: already exists and is not empty; choose another destination "
                          "or pass --overwrite")


@contextmanager
def atomic_dir(dest: str | Path, *, overwrite: bool = False) -> Iterator[Path]:
    """Yield a temporary folder that becomes `dest` when the block completes."""
    dest = Path(dest).absolute()
    check_destination(dest, overwrite=overwrite)
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=PARTIAL_SUFFIX, dir=dest.parent))
    except OSError as e:
        raise OutputError(f"{dest}: cannot write here ({e.strerror or e})") from None
    try:
        yield tmp
        os.chmod(tmp, 0o777 & ~_umask())
        if dest.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{dest.name}.", suffix=".old", dir=dest.parent))
            os.rename(dest, old / "x")
            os.rename(tmp, dest)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.rename(tmp, dest)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_bytes_atomic(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Write one file via a temporary sibling and rename; `data` may come in pieces, so a
    large document never has to exist as one bytes object."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=PARTIAL_SUFFIX, dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            if isinstance(data, bytes):
                f.write(data)
            else:
                for piece in data:
                    f.write(piece)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
