"""Every error visionflow raises on purpose.

Each message is one line that says what is wrong, where (file, line or record) and, where it
helps, what was expected and how to fix it. The CLI prints the message and exits with status 1;
anything else escaping is a bug in visionflow, not in the user's data: the CLI prints one
"internal error: ... (please report)" line and exits with status 70 (the traceback only with
VISIONFLOW_DEBUG=1; see cli/app.py).

    Error
     ├── FormatError            the input is not what its format says
     │    ├── UnknownFormat     no such format name (with "did you mean")
     │    ├── AmbiguousFormat   detection found several equally likely formats
     │    ├── NotDetected       detection found no format at all
     │    └── ParseError        malformed file; names path and line/record
     ├── ValidationError        well-formed but wrong values (box of NaN size, unknown class, ...)
     ├── UnsafeInputError       a path leaving the dataset folder, an XML entity bomb, a pixel bomb
     ├── MissingImageError      an image the annotations refer to is not on disk
     ├── LossError              strict mode: the target format cannot hold part of the dataset
     └── OutputError            the destination exists or cannot be written
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class Error(Exception):
    """Base of every error that reports a user's mistake, never a bug."""


class FormatError(Error):
    pass


def did_you_mean(name: object, known: Iterable[str]) -> str:
    """'; did you mean 'x'?' for the closest known name, '' when none is close: one wording
    for every misspelt format, option, operation, parameter or class."""
    close = difflib.get_close_matches(str(name), list(known), n=1)
    return f"; did you mean {close[0]!r}?" if close else ""


class UnknownFormat(FormatError):
    def __init__(self, name: str, known: Iterable[str]):
        known = sorted(known)
        super().__init__(f"unknown format {name!r}{did_you_mean(name, known)} "
                         f"(known: {', '.join(known)})")
        self.name = name


class AmbiguousFormat(FormatError):
    def __init__(self, path: Path, candidates: list):
        lines = "; ".join(f"{c.format} ({c.confidence:.2f}: {', '.join(c.reasons)})" for c in candidates)
        super().__init__(f"{path}: format is ambiguous between {lines}; pass --from FORMAT")
        self.candidates = candidates


class NotDetected(FormatError):
    def __init__(self, path: Path):
        super().__init__(f"{path}: no known dataset format found here; pass --from FORMAT "
                         "(see 'visionflow formats')")


class ParseError(FormatError):
    """Malformed input. `where` is 'path', 'path:line' or 'path: record ...'."""

    def __init__(self, where: str | Path, problem: str):
        super().__init__(f"{where}: {problem}")
        self.where = str(where)
        self.problem = problem


class ValidationError(Error):
    def __init__(self, where: str | Path, problem: str):
        super().__init__(f"{where}: {problem}")
        self.where = str(where)
        self.problem = problem


class UnsafeInputError(Error):
    def __init__(self, where: str | Path, problem: str):
        super().__init__(f"{where}: {problem}")
        self.where = str(where)
        self.problem = problem


class MissingImageError(Error):
    def __init__(self, where: str | Path, problem: str):
        super().__init__(f"{where}: {problem}")
        self.where = str(where)
        self.problem = problem


class LossError(Error):
    pass


class OutputError(Error):
    pass
