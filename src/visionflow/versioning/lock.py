"""One writer at a time: an advisory lock (fcntl.flock) on `.visionflow/lock`.

Every write (add, version create/delete/tag, merge, gc) holds it from its first blob to its
commit. Readers never take it: SQLite's WAL gives them a consistent snapshot. The holder writes
its pid and command into the file so the process that waits can say who it waits for. The lock
is released by the kernel when the holder dies, SIGKILL included.
"""

from __future__ import annotations

import fcntl
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from ..core.errors import Error


class LockTimeout(Error):
    pass


@contextmanager
def write_lock(path: Path, *, timeout: float | None = None,
               on_wait: Callable[[str], None] | None = None) -> Iterator[None]:
    """Hold the workspace's write lock. timeout None waits for as long as it takes; 0 gives up
    at once. on_wait is told once, in one line, that (and for whom) this process waits."""
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        if not _try(fd):
            holder = _holder(fd)
            if timeout is not None and timeout <= 0:
                raise LockTimeout(_busy(path, holder, timeout))
            if on_wait:
                on_wait(f"waiting for another visionflow process holding {path}"
                        + (f" ({holder})" if holder else ""))
            deadline = None if timeout is None else time.monotonic() + timeout
            delay = 0.02
            while not _try(fd):
                if deadline is not None and time.monotonic() >= deadline:
                    raise LockTimeout(_busy(path, _holder(fd) or holder, timeout))
                time.sleep(delay)
                delay = min(delay * 1.5, 0.25)
        try:
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}: {' '.join(_command())}".encode(), 0)
            yield
        finally:
            os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


def _try(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        return True
    except BlockingIOError:
        return False


def _holder(fd: int) -> str:
    try:
        return os.pread(fd, 300, 0).decode("utf-8", "replace").strip()
    except OSError:
        return ""


def _busy(path: Path, holder: str, timeout: float | None) -> str:
    who = f" ({holder})" if holder else ""
    return (f"{path}: another visionflow process is writing to this workspace{who}; gave up "
            f"after {timeout:g} s (--lock-timeout); try again when it has finished")


def _command() -> list[str]:
    argv = [os.path.basename(sys.argv[0])] + sys.argv[1:] if sys.argv and sys.argv[0] else []
    return [a if len(a) < 80 else a[:77] + "..." for a in argv][:8] or ["python"]
