"""Outputs appear whole or not at all, and never at the cost of something the user owns.

Everything is written into a hidden temporary folder beside the destination and put in place
when complete, so a crash, Ctrl-C or error leaves no half-written dataset behind. Before that,
`guard_destination` refuses a destination that is, contains or lies inside the source, and a
non-empty folder visionflow did not write (no MARKER file) unless the caller forces it. The old
output is replaced by one atomic exchange (Linux renameat2 RENAME_EXCHANGE) where the platform
allows, and removed only once the new one is in place.

Temporary folders are named `.<dest>.vf-<host>-<pid>-<start>.<random>.partial`: a later run for
the same destination removes those whose process is gone (the process start time guards
against a reused PID), so a SIGKILL leaves nothing behind for long.
"""

from __future__ import annotations

import ctypes
import errno
import hashlib
import os
import re
import shutil
import socket
import sys
import tempfile
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.errors import OutputError
from .paths import is_inside

PARTIAL_SUFFIX = ".partial"
# Written into every output folder visionflow creates: --overwrite may replace a folder holding
# it; any other non-empty folder needs force (--force), as it may hold the user's own files.
MARKER = ".visionflow-output"
MARKER_TEXT = (b"This folder was written by visionflow; 'visionflow ... --overwrite' may "
               b"replace it as a whole.\n")
# Errors of the destination's filesystem, not of visionflow: one line, never a traceback.
WRITE_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES,
                          errno.EPERM, errno.EIO, errno.ENAMETOOLONG, errno.EMLINK})
_NAME_KEEP = 100  # characters of the destination's name kept in temporary names (255 max)


# --- where an output may go ------------------------------------------------------------------

def guard_destination(dest: str | Path, *, sources: Iterable[str | Path] = (),
                      images: Iterable[str | Path] = (), keep: Iterable[str | Path] = (),
                      overwrite: bool = False, force: bool = False) -> Path:
    """Refuse a destination folder whose writing would destroy input or the user's files.

    sources: folders read from; the destination may not be one, contain one or lie inside one
    (the source is never modified). images: folders of source images; keep: workspaces; the
    destination may not be or contain any of them, nor the current folder. A non-empty
    destination needs `overwrite`, and `force` as well when it lacks the MARKER file.
    Returns the destination as an absolute path.
    """
    dest = output_path(dest)
    sources = [Path(os.path.abspath(src)) for src in sources]
    for src in sources:
        if is_inside(src, dest):
            what = "is" if is_inside(dest, src) else "contains"
            raise OutputError(f"{dest}: {what} the source dataset {src}; writing there would "
                              "replace it, choose another destination")
    for src in sources:
        if is_inside(dest, src):
            raise OutputError(f"{dest}: destination lies inside the source dataset {src}; "
                              "the source is never modified, choose a folder outside it")
    for what, folders in (("the source images", images), ("the workspace", keep),
                          ("the current folder", [Path.cwd()])):
        for folder in folders:
            if is_inside(Path(folder), dest):
                raise OutputError(f"{dest}: is or contains {what} ({os.path.abspath(folder)}); "
                                  "writing there would replace it, choose another destination")
    check_destination(dest, overwrite=overwrite, force=force)
    return dest


def source_root(src: str | Path) -> list[Path]:
    """The folder a source path stands for (itself, or a file's folder) as a `sources` list;
    empty when it does not exist (reading it will say so)."""
    src = Path(src)
    if not src.exists():
        return []
    return [src if src.is_dir() else src.parent]


def output_path(dest: str | Path) -> Path:
    """`dest` made absolute, with a real last name: 'data/..' or '.' is resolved, since the
    hidden folders beside an output are named after it and made in its parent."""
    dest = Path(dest).absolute()
    if dest.name in ("", ".", ".."):
        dest = Path(os.path.realpath(dest))
    return dest


def check_destination(dest: Path, *, overwrite: bool = False, force: bool = False) -> None:
    """The destination as it is now: absent, an empty folder, or replaceable."""
    if dest.is_symlink():
        raise OutputError(f"{dest}: is a symbolic link; choose another destination")
    if dest.exists() and not dest.is_dir():
        raise OutputError(f"{dest}: exists and is not a folder; choose another destination")
    try:
        entries = sorted(os.listdir(dest)) if dest.is_dir() else []
    except OSError as e:
        raise OutputError(f"{dest}: cannot read this folder ({e.strerror or e})") from None
    if not entries:
        return
    if not overwrite:
        raise OutputError(f"{dest}: already exists and is not empty; choose another destination "
                          "or pass --overwrite")
    if MARKER not in entries and not force:
        shown = ", ".join(repr(e) for e in entries[:3]) + (", ..." if len(entries) > 3 else "")
        count = "1 entry" if len(entries) == 1 else f"{len(entries)} entries"
        raise OutputError(f"{dest}: was not written by visionflow (no {MARKER} file) and holds "
                          f"{count} ({shown}) that --overwrite would delete; "
                          "choose another destination, or add --force to delete them")


def guard_file(path: str | Path, *, sources: Iterable[str | Path] = (),
               into_source: bool = False) -> Path:
    """Refuse a single output file (a report, a picture) that would land in the source.

    Inside a source folder it is written only with `into_source`, and even then never over a
    file that is already there: adding a file is the most the user can allow.
    """
    path = Path(path).absolute()
    if path.is_dir():
        raise OutputError(f"{path}: is a folder; give a file name")
    for src in sources:
        if is_inside(path, Path(src)):
            if not into_source:
                raise OutputError(f"{path}: lies inside the source dataset {src}; the source "
                                  "is never modified: write it elsewhere, or pass "
                                  "--into-source to add it there")
            if path.exists() or path.is_symlink():
                raise OutputError(f"{path}: would replace a file of the source dataset {src}; "
                                  "choose another name")
    return path


# --- writing ---------------------------------------------------------------------------------

@contextmanager
def output_errors(dest: str | Path) -> Iterator[None]:
    """Turn a failure of the destination's filesystem (full disk, file-size limit, read-only,
    permissions) into one OutputError line naming the file."""
    try:
        yield
    except OSError as e:
        if e.errno not in WRITE_ERRNOS:
            raise
        where = e.filename2 or e.filename or dest  # a copy's target, else the file named
        raise OutputError(f"{where}: {e.strerror or e} (while writing {dest}; nothing was "
                          "written there)") from None


@contextmanager
def atomic_dir(dest: str | Path, *, overwrite: bool = False, force: bool = False,
               sources: Iterable[str | Path] = (), images: Iterable[str | Path] = (),
               keep: Iterable[str | Path] = ()) -> Iterator[Path]:
    """Yield a temporary folder that becomes `dest` when the block completes (rules of
    guard_destination, checked again just before the old output is replaced)."""
    dest = guard_destination(dest, sources=sources, images=images, keep=keep,
                             overwrite=overwrite, force=force)
    with output_errors(dest):
        tmp = make_temp_dir(dest)
    try:
        with output_errors(dest):
            yield tmp
            (tmp / MARKER).write_bytes(MARKER_TEXT)
            os.chmod(tmp, 0o777 & ~_umask())
            _put_in_place(tmp, dest, overwrite=overwrite, force=force)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _put_in_place(tmp: Path, dest: Path, *, overwrite: bool, force: bool) -> None:
    """Rename tmp to dest; an old dest is swapped out in one step, then removed."""
    for _ in range(3):
        check_destination(dest, overwrite=overwrite, force=force)  # it may have changed
        if dest.exists():
            if _renameat2(tmp, dest, _RENAME_EXCHANGE):
                shutil.rmtree(tmp, ignore_errors=True)  # tmp holds the old output now
                return
            _replace_in_two_steps(tmp, dest)
            return
        try:
            if _renameat2(tmp, dest, _RENAME_NOREPLACE):
                return
            os.rename(tmp, dest)  # no renameat2: replaces at most an empty folder
            return
        except FileExistsError:
            continue  # created meanwhile: check again
        except OSError as e:
            if e.errno != errno.ENOTEMPTY:
                raise
    raise OutputError(f"{dest}: keeps being created by something else; try again")


def _replace_in_two_steps(tmp: Path, dest: Path) -> None:
    """Where no atomic exchange exists: old aside, new in, old removed; undone on failure."""
    old = make_temp_dir(dest, ".old")
    try:
        os.rename(dest, old / "x")
        try:
            os.rename(tmp, dest)
        except BaseException:
            os.rename(old / "x", dest)
            raise
    finally:
        shutil.rmtree(old, ignore_errors=True)


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
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; a report is an ordinary file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


# --- temporary folders and their leftovers ---------------------------------------------------

def make_temp_dir(dest: Path, kind: str = "") -> Path:
    """A hidden folder beside `dest` named after this process, after removing the leftovers of
    dead processes for the same destination. kind: e.g. '.fix-images' (ends in .partial)."""
    dest = output_path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale(dest)
    return Path(tempfile.mkdtemp(prefix=f"{_temp_prefix(dest)}{_me()}.",
                                 suffix=f"{kind}{PARTIAL_SUFFIX}", dir=dest.parent))


def remove_stale(dest: Path) -> list[Path]:
    """Remove the temporary folders (and files) beside `dest` left by processes of this host
    that are gone; returns what was removed. Others' and live ones are left alone."""
    prefix = _temp_prefix(dest)
    pattern = re.compile(re.escape(prefix) + r"vf-([0-9a-f]{8})-(\d+)-(\d+)\.[A-Za-z0-9_]+"
                         r"(?:\.[a-z-]+)?" + re.escape(PARTIAL_SUFFIX))
    host = _host_tag()
    removed = []
    try:
        names = [n for n in os.listdir(dest.parent) if n.startswith(prefix)]
    except OSError:
        return removed
    for name in names:
        m = pattern.fullmatch(name)
        if m is None or m.group(1) != host or _alive(int(m.group(2)), int(m.group(3))):
            continue
        p = dest.parent / name
        if p.is_dir() and not p.is_symlink():
            shutil.rmtree(p, ignore_errors=True)
        else:
            p.unlink(missing_ok=True)
        removed.append(p)
    return removed


_TEMP_NAME = re.compile(r"\..*\.vf-[0-9a-f]{8}-\d+-\d+\.[A-Za-z0-9_]+(?:\.[a-z-]+)?"
                        + re.escape(PARTIAL_SUFFIX))


def in_temp_dir(path: str | Path) -> bool:
    """Whether `path` lies in one of visionflow's own temporary folders (make_temp_dir)."""
    return any(_TEMP_NAME.fullmatch(part) for part in Path(path).parts)


def _temp_prefix(dest: Path) -> str:
    return f".{dest.name[:_NAME_KEEP]}."


def _me() -> str:
    return f"vf-{_host_tag()}-{os.getpid()}-{_start_time(os.getpid()) or 0}"


def _host_tag() -> str:
    """PIDs mean something only on the host (and PID namespace) that made them."""
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _start_time(pid: int) -> int | None:
    """The process's start time in clock ticks after boot (Linux); 0 when unknown, None when
    there is no such process."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except FileNotFoundError:
        return None if os.path.isdir("/proc/self") else 0
    except OSError:
        return 0
    try:
        return int(data.rsplit(b")", 1)[1].split()[19])  # field 22; the name may hold spaces
    except (IndexError, ValueError):
        return 0


def _alive(pid: int, start: int) -> bool:
    now = _start_time(pid)
    if now is None:
        return False
    if now and start:
        return now == start  # a different start time: the PID was reused
    return pid_alive(pid)


def pid_alive(pid: int) -> bool:
    """Whether a process with this PID exists (one we may not signal counts as alive)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:
        return True
    return True


# --- one-step exchange -----------------------------------------------------------------------

_RENAME_NOREPLACE, _RENAME_EXCHANGE = 1, 2
_AT_FDCWD = -100
_renameat2_fn = None


def _renameat2(src: Path, dst: Path, flags: int) -> bool:
    """Linux renameat2(2): True when done, False when this platform or filesystem lacks it."""
    global _renameat2_fn
    if not sys.platform.startswith("linux"):
        return False
    if _renameat2_fn is None:
        try:
            fn = ctypes.CDLL(None, use_errno=True).renameat2
            fn.argtypes = (ctypes.c_int, ctypes.c_char_p, ctypes.c_int, ctypes.c_char_p,
                           ctypes.c_uint)
            fn.restype = ctypes.c_int
        except (AttributeError, OSError):
            fn = False  # glibc < 2.28 or another libc
        _renameat2_fn = fn
    if not _renameat2_fn:
        return False
    if _renameat2_fn(_AT_FDCWD, os.fsencode(src), _AT_FDCWD, os.fsencode(dst), flags) == 0:
        return True
    err = ctypes.get_errno()
    if err in (errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP):
        return False  # the kernel or this filesystem cannot: fall back to plain renames
    raise OSError(err, os.strerror(err), str(src), None, str(dst))
