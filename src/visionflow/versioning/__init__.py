"""Non-destructive dataset versions: a local workspace with content-addressed images,
immutable versions with lineage, diffs and merges (see workspace.py)."""

from .combine import MergeConflict
from .diff import Diff
from .lock import LockTimeout
from .store import CorruptBlobError
from .workspace import AddResult, GcResult, VerifyResult, Workspace

__all__ = ["AddResult", "CorruptBlobError", "Diff", "GcResult", "LockTimeout", "MergeConflict",
           "VerifyResult", "Workspace"]
