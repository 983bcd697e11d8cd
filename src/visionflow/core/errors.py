"""Every error visionflow raises on purpose.

Each message is one line that says what is wrong, where (file, line or record) and, where it
helps, what was expected and how to fix it. The CLI prints the message and exits with status 1;
anything else escaping is a bug in visionflow, not in the user's data: the CLI prints one
"internal error: ... (please report)" line and exits with status 70 (the traceback only with
VISIONFLOW_DEBUG=1; see cli/app.py).

    Error
     ├── LocatedError           base of the errors about one place: `.where` (file, file:line,
     │                          record) and `.problem`; the message is "where: problem"
     ├── FormatError            the input is not what its format says (always says where)
     │    ├── UnknownFormat     no such format name (with "did you mean")
     │    ├── AmbiguousFormat   detection found several equally likely formats
     │    ├── NotDetected       detection found no format at all
     │    └── ParseError        malformed file; names path and line/record
     ├── ValidationError        well-formed but wrong values (box of NaN size, unknown class, ...)
     ├── UnsafeInputError       a path leaving the dataset folder, an XML entity bomb, a pixel bomb
     ├── MissingImageError      an image the annotations refer to is not on disk
     ├── LossError              strict mode: the target format cannot hold part of the dataset
     ├── OutputError            the destination exists or cannot be written
     └── UsageError             a call that cannot work as asked, whatever the data: text search
                                with an image-only model (a hash, DINOv2), ...

ParseError, ValidationError, UnsafeInputError, MissingImageError and FormatError are all
LocatedErrors. DataWarning is not an error: it is the warning category under which the library
reports records it skipped or kept as questionable when the caller passed no `report=`.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from pathlib import Path


class Error(Exception):
    """Base of every error that reports a user's mistake, never a bug."""


class DataWarning(UserWarning):
    """Records a read or write skipped (errors="skip") or kept as questionable
    (errors="keep") when no `report=` was passed: one warning per kind, with a count, so the
    library never drops data silently. Filter it like any warning
    (`warnings.simplefilter("error", vf.DataWarning)` makes a skipped record fatal)."""


class LocatedError(Error):
    """An error about one place: `where` (a path, 'path:line' or 'path: record ...') and
    `problem` (what is wrong there); the message is 'where: problem'. One base, so that a
    caller (the CLI, a web app) can point at the place without parsing messages."""

    def __init__(self, where: str | Path, problem: str):
        super().__init__(f"{where}: {problem}")
        self.where = str(where)
        self.problem = problem


class FormatError(LocatedError):
    """The input is not what its format says. Raised as FormatError(where, problem), or with
    one message that starts with the place, 'where: problem' (`where` is then the part before
    the first ': '); tests/core/test_errors_located.py keeps every raise in src/ located."""

    def __init__(self, where: str | Path, problem: str | None = None):
        if problem is not None:
            super().__init__(where, problem)
            return
        message = str(where)  # one message: kept exactly as written
        place, sep, rest = message.partition(": ")
        Error.__init__(self, message)
        self.where, self.problem = (place, rest) if sep else ("", message)


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
        self.name = self.where = name  # the place is the name the user gave
        self.problem = str(self)


class AmbiguousFormat(FormatError):
    def __init__(self, path: Path, candidates: list):
        lines = "; ".join(f"{c.format} ({c.confidence:.2f}: {', '.join(c.reasons)})" for c in candidates)
        super().__init__(path, f"format is ambiguous between {lines}; pass --from FORMAT")
        self.candidates = candidates


class NotDetected(FormatError):
    def __init__(self, path: Path):
        super().__init__(path, "no known dataset format found here; pass --from FORMAT "
                         "(see 'visionflow formats')")


class ParseError(FormatError):
    """Malformed input. `where` is 'path', 'path:line' or 'path: record ...'."""

    def __init__(self, where: str | Path, problem: str):
        super().__init__(where, problem)


class ValidationError(LocatedError):
    """Well-formed but wrong values (a box of NaN size, an unknown class)."""


class UnsafeInputError(LocatedError):
    """A path leaving the dataset folder, an XML entity bomb, a pixel bomb."""


class MissingImageError(LocatedError):
    """An image the annotations refer to is not on disk."""


class LossError(Error):
    pass


class OutputError(Error):
    pass


class UsageError(Error):
    """A call that cannot work as asked, whatever the data: text search with an image-only
    model (a perceptual hash, DINOv2, an image-only ONNX export), ... Its own class so that a
    caller (the web app) can tell "ask differently" from a problem in the dataset."""
