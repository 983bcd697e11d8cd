"""Content-addressed blobs: every file is stored once, named by the SHA-256 of its bytes.

    .visionflow/blobs/sha256/ab/cdef0123...   (the first two hex digits are a folder)

A blob is written to a temporary file in `.visionflow/tmp/` (same filesystem), made read-only
and renamed into place, so a blob either exists whole or not at all. Its name is its hash, so
a reader can always check what it got (`read_bytes` does; `verify` checks them all). Blobs are
read-only files: an export copies them (or with --images link hard-links them, and then a tool
editing an exported image in place fails, except as root, instead of silently changing the
stored original).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from ..core.errors import Error, MissingImageError

CHUNK = 1 << 20
WORKERS = min(16, (os.cpu_count() or 1) * 4)
BATCH = 1024  # paths in flight at once: memory stays bounded however many images there are


class CorruptBlobError(Error):
    """A stored blob is missing or its content no longer matches its hash."""


class BlobStore:
    def __init__(self, root: Path, tmp_dir: Path):
        self.root = root          # .../blobs/sha256
        self.tmp_dir = tmp_dir    # .../tmp (same filesystem, for atomic renames)

    def path(self, sha: str) -> Path:
        return self.root / sha[:2] / sha[2:]

    def has(self, sha: str) -> bool:
        return self.path(sha).is_file()

    # -- writing -------------------------------------------------------------------------------

    def put_bytes(self, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        if not self.has(sha):
            self._install(sha, lambda f: f.write(data))
        return sha

    def put_file(self, src: str | Path, *, move: bool = False) -> str:
        """Store a file's content; returns its hash. `move` renames the file in (it must be a
        temporary file of ours on the same filesystem)."""
        return self._put_file(src, move)[0]

    def _put_file(self, src: str | Path, move: bool = False) -> tuple[str, bool]:
        sha = hash_file(src)
        if self.has(sha):
            if move:
                os.unlink(src)
            return sha, False
        if move:
            os.chmod(src, 0o444)
            dest = self.path(sha)
            dest.parent.mkdir(parents=True, exist_ok=True)
            os.replace(src, dest)
            return sha, True

        def copy(f) -> None:
            h = hashlib.sha256()
            with open(src, "rb") as s:
                while chunk := s.read(CHUNK):
                    h.update(chunk)
                    f.write(chunk)
            if h.hexdigest() != sha:
                raise Error(f"{src}: file changed while it was being added; add it again")
        self._install(sha, copy)
        return sha, True

    def put_files(self, paths: Sequence[str], progress: Callable[[int], None] | None = None,
                  *, move: bool = False) -> tuple[list[str], int]:
        """Store many files in parallel threads, at most BATCH in flight (memory stays bounded
        however many there are); returns their hashes in order and how many were new."""
        out: list[str] = []
        new: set[str] = set()  # two threads may store the same new content at once
        one = _guard(lambda p: self._put_file(p, move))
        with ThreadPoolExecutor(WORKERS) as pool:
            for start in range(0, len(paths), BATCH):
                chunk = paths[start:start + BATCH]
                for sha, is_new in pool.map(one, chunk):
                    out.append(sha)
                    if is_new:
                        new.add(sha)
                if progress:
                    progress(len(chunk))
        return out, len(new)

    def sha_of_path(self, path: str | Path) -> str | None:
        """The hash a blob path stands for, or None when the path is not one of our blobs."""
        p = Path(path)
        if p.parent.parent != self.root:
            return None
        sha = p.parent.name + p.name
        return sha if len(sha) == 64 else None

    def shas_of_paths(self, paths: Sequence[str | Path]) -> list[str | None]:
        """`sha_of_path` for many paths: a string test for the usual spelling of a blob path
        (250,000 paths in a fraction of a second), `sha_of_path` for any other."""
        prefix = str(self.root) + os.sep
        n = len(prefix)
        out: list[str | None] = []
        for p in paths:
            s = str(p)
            if len(s) == n + 65 and s.startswith(prefix) and s[n + 2] == os.sep:
                out.append(s[n:n + 2] + s[n + 3:])
            else:
                out.append(self.sha_of_path(s))
        return out

    def _install(self, sha: str, write: Callable) -> None:
        dest = self.path(sha)
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f"{sha[:12]}.", suffix=".blob", dir=self.tmp_dir)
        try:
            with os.fdopen(fd, "wb") as f:
                write(f)
            os.chmod(tmp, 0o444)
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise

    # -- reading -------------------------------------------------------------------------------

    def read_bytes(self, sha: str, what: str = "") -> bytes:
        """A blob's bytes, checked against its hash."""
        p = self.path(sha)
        label = f" ({what})" if what else ""
        try:
            data = p.read_bytes()
        except FileNotFoundError:
            raise CorruptBlobError(f"{p}: blob{label} is missing; run 'visionflow verify'") from None
        got = hashlib.sha256(data).hexdigest()
        if got != sha:
            raise CorruptBlobError(f"{p}: blob{label} is corrupted (content hash {got[:12]}..., "
                                   f"expected {sha[:12]}...); run 'visionflow verify'")
        return data

    def check(self, shas: Sequence[str], progress: Callable[[int], None] | None = None,
              ) -> list[tuple[str, str]]:
        """(sha, problem) for each blob that is missing or whose content does not match."""
        def one(sha: str) -> tuple[str, str] | None:
            try:
                got = hash_file(self.path(sha))
            except FileNotFoundError:
                return sha, "missing"
            except OSError as e:
                return sha, f"unreadable ({e.strerror or e})"
            return None if got == sha else (sha, f"corrupted (content hash {got})")

        bad: list[tuple[str, str]] = []
        with ThreadPoolExecutor(WORKERS) as pool:
            for start in range(0, len(shas), BATCH):
                chunk = shas[start:start + BATCH]
                bad.extend(r for r in pool.map(one, chunk) if r is not None)
                if progress:
                    progress(len(chunk))
        return bad

    def all(self) -> Iterator[str]:
        """Every blob hash on disk (names that are not hashes are skipped)."""
        if not self.root.is_dir():
            return
        for d in sorted(self.root.iterdir()):
            if len(d.name) != 2 or not d.is_dir():
                continue
            for f in sorted(d.iterdir()):
                sha = d.name + f.name
                if len(sha) == 64 and all(c in "0123456789abcdef" for c in sha):
                    yield sha

    def remove(self, shas: Iterable[str]) -> tuple[int, int]:
        """Delete blobs; returns (count, bytes)."""
        n = size = 0
        for sha in shas:
            p = self.path(sha)
            try:
                size += p.stat().st_size
                p.unlink()
                n += 1
            except FileNotFoundError:
                pass
        return n, size

    def clear_tmp(self) -> int:
        """Remove leftovers of interrupted writes (call only while holding the write lock)."""
        n = 0
        if self.tmp_dir.is_dir():
            for p in self.tmp_dir.iterdir():
                if p.is_dir() and not p.is_symlink():
                    shutil.rmtree(p, ignore_errors=True)
                else:
                    p.unlink(missing_ok=True)
                n += 1
        return n


def hash_file(path: str | Path) -> str:
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def _guard(fn: Callable[[str], tuple[str, bool]]) -> Callable[[str], tuple[str, bool]]:
    def run(path: str) -> tuple[str, bool]:
        try:
            return fn(path)
        except FileNotFoundError:
            raise MissingImageError(path, "image file not found") from None
        except IsADirectoryError:
            raise MissingImageError(path, "is a folder, not an image file") from None
        except PermissionError as e:
            raise Error(f"{path}: cannot read ({e.strerror})") from None
    return run
