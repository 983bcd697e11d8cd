"""visionflow's cache folder: files derived from a source that never go beside the source.

Readers of formats that embed images (TFRecord) extract them here so that every image of a
Dataset is a file (`Images.path`) other writers can link or copy. The folder is
$VISIONFLOW_CACHE_DIR, else $XDG_CACHE_HOME/visionflow, else ~/.cache/visionflow. Entries are
keyed by what they were derived from, so reading the same file again reuses them; deleting the
folder is always safe.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from pathlib import Path

from ..core.errors import OutputError


def cache_root() -> Path:
    env = os.environ.get("VISIONFLOW_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    return (Path(xdg) if xdg else Path.home() / ".cache") / "visionflow"


def source_key(*paths: Path) -> str:
    """A short key naming files by location, size and modification time."""
    h = hashlib.sha256()
    for p in paths:
        st = p.stat()
        h.update(f"{os.path.realpath(p)}\x00{st.st_size}\x00{st.st_mtime_ns}\x00".encode())
    return h.hexdigest()[:20]


def cache_dir(*parts: str) -> Path:
    """cache_root()/parts..., created; OutputError when it cannot be."""
    d = cache_root().joinpath(*parts)
    try:
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise OutputError(f"{d}: cannot create the cache folder ({e.strerror}); set "
                          "VISIONFLOW_CACHE_DIR to a writable folder") from None
    return d


def put_file(path: Path, data: bytes) -> None:
    """Write `data` at `path` unless a file of that size is already there (atomic rename)."""
    try:
        if path.stat().st_size == len(data):
            return
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name[:40]}.", suffix=".partial", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
