"""Reading and writing build millions of small containers (dicts, lists, structs) and make no
reference cycles; Python's cyclic collector would still walk the whole heap again and again
while they are made (60-70% of a plain json.load of a large COCO file). Readers and writers
run with it paused; whatever cycles a run leaves are collected when it resumes."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()
