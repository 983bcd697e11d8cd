"""Loading hostile text files without exhausting memory or time.

- sniff_text: refuse a text/JSON annotation file that is binary (NUL bytes in its first
  bytes: a disk image, a file of zeros) before it is read whole; a 2 GB file of zeros
  otherwise costs ~4 GB in a reader before its parser fails.
- load_yaml: PyYAML's safe loader expands aliases, so a 7-deep "billion laughs" in a
  data.yaml takes minutes and gigabytes in whatever walks the result; this one refuses a file
  above MAX_YAML_BYTES, with more than MAX_YAML_ALIASES aliases, or whose aliases expand to
  more than MAX_YAML_NODES values (real data.yaml files use no aliases at all).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

import yaml

from ..core.errors import ParseError, UnsafeInputError

SNIFF_BYTES = 4096
MAX_YAML_BYTES = 16 << 20
MAX_YAML_ALIASES = 100
MAX_YAML_NODES = 1_000_000  # values after expanding aliases
_BOM = b"\xef\xbb\xbf"


def sniff_text(path: Path | str, data: bytes | None = None) -> None:
    """ParseError when the file's first bytes hold NUL (binary, not text or JSON)."""
    if data is None:
        try:
            with open(path, "rb") as f:
                data = f.read(SNIFF_BYTES)
        except OSError:
            return  # the reader's own open says why
    head = data[:SNIFF_BYTES]
    if b"\x00" in head.removeprefix(_BOM) and not head.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ParseError(path, "not a text file (NUL bytes at its start); refused before "
                         "reading it whole")


class _Loader(yaml.SafeLoader):
    """SafeLoader counting aliases: each alias is a reference the constructor expands."""

    def __init__(self, stream: Any):
        super().__init__(stream)
        self.aliases = 0

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_YAML_ALIASES:
                raise _TooManyAliases()
        return super().compose_node(parent, index)


class _TooManyAliases(Exception):
    pass


def _expanded_nodes(data: Any, budget: int) -> int:
    """Values in `data` counted as a walk sees them (an alias counts each time it is used),
    stopping past `budget`: a few aliases nested 7 deep expand to millions."""
    count, stack = 0, [data]
    while stack and count <= budget:
        value = stack.pop()
        count += 1
        if isinstance(value, dict):
            stack.extend(value.values())
            count += len(value)
        elif isinstance(value, (list, tuple)):
            stack.extend(value)
    return count


def load_yaml(path: Path | str, text: str | None = None) -> Any:
    """yaml.safe_load with a size and alias bound; UnsafeInputError past them, ParseError for
    malformed YAML (with its line)."""
    if text is None:
        try:
            if os.path.getsize(path) > MAX_YAML_BYTES:
                raise UnsafeInputError(path, f"YAML file larger than {MAX_YAML_BYTES >> 20} "
                                       "MiB; refused")
            text = text_of(path, "utf-8-sig")  # the rules of every annotation file
        except UnicodeDecodeError:
            raise ParseError(path, "not UTF-8 text") from None
        except OSError as e:
            raise ParseError(path, f"cannot read file ({e.__class__.__name__})") from None
    try:
        return parse_yaml(text, path)
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f"{path}:{mark.line + 1}" if mark is not None else str(path)
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ParseError(where, f"invalid YAML ({problem})") from None


def parse_yaml(text: str | bytes, where: Path | str) -> Any:
    """yaml.safe_load(text) (malformed YAML still raises yaml.YAMLError), but an alias bomb,
    text above MAX_YAML_BYTES or nesting past Python's stack is an UnsafeInputError/ParseError
    naming `where`."""
    if len(text) > MAX_YAML_BYTES:
        raise UnsafeInputError(where, f"YAML larger than {MAX_YAML_BYTES >> 20} MiB; refused")
    loader = _Loader(text)
    try:
        data = loader.get_single_data()
        if loader.aliases and _expanded_nodes(data, MAX_YAML_NODES) > MAX_YAML_NODES:
            raise _TooManyAliases()
        return data
    except _TooManyAliases:
        raise UnsafeInputError(where, f"YAML aliases (&anchor/*ref) used more than "
                               f"{MAX_YAML_ALIASES} times or expanding to more than "
                               f"{MAX_YAML_NODES} values; refused as a possible alias bomb") \
            from None
    except RecursionError:
        raise ParseError(where, "YAML nested too deeply") from None
    finally:
        loader.dispose()


class _Scope:
    """The dataset folder being read: annotation files under it must not be links that lead
    out of it (the rule images follow, io/paths.resolve_inside), unless --follow-links."""

    def __init__(self, root: Path, follow_links: bool, named: Path | None = None):
        self.named = os.path.abspath(named) if named is not None else None
        self.root = os.path.abspath(root)
        self.real_root = os.path.realpath(root)
        self.follow_links = follow_links
        self._dirs: dict[str, str] = {}  # folder -> its real path, one realpath per folder

    def check(self, path: Path | str) -> None:
        if self.follow_links:
            return
        p = os.path.abspath(path)
        if p == self.named or not p.startswith(self.root + os.sep):
            return  # named outside on purpose (data.yaml's path:): not a link leaving
        folder, name = os.path.split(p)
        real_dir = self._dirs.get(folder)
        if real_dir is None:
            real_dir = self._dirs[folder] = os.path.realpath(folder)
        real = os.path.realpath(p) if os.path.islink(p) else os.path.join(real_dir, name)
        if real != self.real_root and not real.startswith(self.real_root.rstrip(os.sep) + os.sep):
            raise UnsafeInputError(path, f"annotation file is a link leading outside the dataset "
                                   f"folder (to {real}); refused, pass --follow-links to read it")


_SCOPE: ContextVar[_Scope | None] = ContextVar("visionflow_read_scope", default=None)


@contextmanager
def read_scope(path: Path | str, follow_links: bool = False) -> Iterator[None]:
    """While a dataset is read (api.load): bytes_of/text_of refuse annotation files that are
    links leading out of the dataset folder `path` (a file the user named is its folder's
    dataset, and that file itself is taken as named)."""
    path = Path(path)
    scope = (_Scope(path.parent, follow_links, named=path) if path.is_file()
             else _Scope(path, follow_links))
    token = _SCOPE.set(scope)
    try:
        yield
    finally:
        _SCOPE.reset(token)


def bytes_of(path: Path | str) -> bytes:
    """The whole file, after sniff_text on its first bytes: a binary file (a 2 GB file of
    zeros named like an annotation file) is refused before it is read whole. Inside
    read_scope, a link leading out of the dataset folder is refused too."""
    scope = _SCOPE.get()
    if scope is not None:
        scope.check(path)
    with open(path, "rb") as f:
        start = f.read(SNIFF_BYTES)
        sniff_text(path, start)
        rest = f.read()
    return start + rest if rest else start


def text_of(path: Path | str, encoding: str = "utf-8") -> str:
    """Path.read_text(encoding) (universal newlines included), after sniff_text."""
    text = bytes_of(path).decode(encoding)
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text
