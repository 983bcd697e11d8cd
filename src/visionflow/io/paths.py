"""Paths named by untrusted annotation files stay inside their dataset folder."""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from ..core.errors import UnsafeInputError

_DRIVE = re.compile(r"^[A-Za-z]:")
_NAME_MAX = 255  # bytes in one path part (ext4, APFS, NTFS): longer names cannot exist
# Plain relative names: no leading slash, no backslash, NUL or drive colon, no '.'/'..'
# segments, no empty segments.
_SIMPLE = re.compile(r"(?!\.{1,2}(?:/|$))[^/\\:\x00]+(?:/(?!\.{1,2}(?:/|$))[^/\\:\x00]+)*")


def is_simple(name: object) -> bool:
    """A plain relative name that clean_relative would return unchanged (checked in bulk)."""
    return type(name) is str and _SIMPLE.fullmatch(name) is not None


def clean_relative(name: str, *, where: str) -> str:
    """Normalize a file name from an annotation to a relative POSIX path, or refuse it."""
    if (isinstance(name, str) and name and _SIMPLE.fullmatch(name)) and len(name) <= 63:
        return name  # the common case, checked without building path objects
    if isinstance(name, str) and any(len(part.encode("utf-8", "surrogatepass")) > _NAME_MAX
                                     for part in name.replace("\\", "/").split("/")):
        raise UnsafeInputError(where, f"file name {name[:60]!r}... has a part longer than "
                               f"{_NAME_MAX} bytes, which no file system holds")
    if (isinstance(name, str) and name and _SIMPLE.fullmatch(name)):
        return name
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


def resolve_inside(root: Path, relative: str, *, where: str, follow_links: bool = False) -> Path:
    """root/relative, refusing anything (symlinks included) that ends up outside root.

    follow_links (the user's explicit --follow-links): symlinks are followed wherever they lead;
    the name itself must still be relative and stay inside root ('..' and absolute names are
    refused either way)."""
    rel = clean_relative(relative, where=where)
    candidate = root / rel
    if follow_links:
        return candidate
    real_root = Path(os.path.realpath(root))
    real = Path(os.path.realpath(candidate))
    if real != real_root and real_root not in real.parents:
        raise UnsafeInputError(where, f"file {rel!r} is a link that leads outside the dataset "
                               f"folder ({real}); pass --follow-links to follow it")
    return candidate


def is_inside(path: Path, folder: Path) -> bool:
    p, f = Path(os.path.realpath(path)), Path(os.path.realpath(folder))
    return p == f or f in p.parents


class FileIndex:
    """The regular files under a folder (symlinks not followed), listed once.

    Locating 250,000 images by `resolve_inside` costs a realpath each; a listed regular file is
    inside the folder by construction, so only names not in the listing (missing files and
    symlinks) take the slow, careful path.
    """

    def __init__(self, root: Path, *, follow_links: bool = False, tails: bool = False):
        self.root = root
        self.root_text = str(root)
        self.follow_links = follow_links  # symlinks leading out of root are followed
        # A name not found as given is looked up by its tails ("a/b/x.jpg": "b/x.jpg", "x.jpg"):
        # for --images-dir, a folder the annotations' sub-folders may not exist in.
        self.tails = tails
        self._files: set[str] | None = None
        self._links: set[str] = set()

    def _list(self) -> set[str]:
        files: set[str] = set()
        stack = [("", str(self.root))]
        while stack:
            prefix, folder = stack.pop()
            try:
                entries = list(os.scandir(folder))
            except OSError:
                continue
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    stack.append((prefix + e.name + "/", e.path))
                elif e.is_file(follow_symlinks=False):
                    files.add(prefix + e.name)
                elif e.is_symlink():
                    self._links.add(prefix + e.name)
        return files

    def listed(self, relative: str) -> bool:
        """Whether `relative` (already clean) is a regular file found by the listing."""
        if self._files is None:
            self._files = self._list() if self.root.is_dir() else set()
        return relative in self._files

    def locate(self, relative: str, *, where: str) -> Path | None:
        """root/relative if it is a file inside root, None if missing; refuses escapes."""
        rel = clean_relative(relative, where=where)
        if self.has(rel, where=where):
            return self.root / rel
        if self.tails:
            for tail in tails_of(rel):
                if self.has(tail, where=where):
                    return self.root / tail
        return None

    def has(self, relative: str, *, where: str) -> bool:
        """Whether `locate` finds a file, without building its Path (~5 us less a name, for
        callers that join clean names to a root string themselves)."""
        rel = clean_relative(relative, where=where)
        if self._files is None:
            self._files = self._list() if self.root.is_dir() else set()
        if rel in self._files:
            return True
        if not self._links or not self._through_link(rel):
            return False  # not on disk, and no symlink on its way: simply missing
        return resolve_inside(self.root, rel, where=where,
                              follow_links=self.follow_links).is_file()

    def _through_link(self, rel: str) -> bool:
        parts = rel.split("/")
        return any("/".join(parts[:k]) in self._links for k in range(1, len(parts) + 1))


def tails_of(rel: str) -> list[str]:
    """The shorter names a clean relative name ends with: "a/b/x.jpg" -> ["b/x.jpg", "x.jpg"]."""
    parts = rel.split("/")
    return ["/".join(parts[k:]) for k in range(1, len(parts))]
