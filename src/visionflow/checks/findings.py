"""What a check returns: findings that name the image and, where it applies, the annotation.

`CheckFinding` extends core/report.Finding (severity, code, message, count, where) with the
image's file name and split, the annotation id, the row numbers in the dataset's tables (for
drawing) and a small `details` dict of values (IoU, the other image, counts). Builders below
make many findings from numpy row indices at once.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..core.dataset import Dataset
from ..core.report import Finding, Severity

SEVERITIES: tuple[Severity, ...] = ("error", "warning", "info")
SEVERITY_RANK = {"error": 0, "warning": 1, "info": 2}


@dataclass(frozen=True)
class CheckFinding(Finding):
    """A Finding located in a dataset.

    image:          file name of the image (inside its split), None for dataset-wide findings.
    split:          the image's split ("" when the dataset has none).
    annotation_id:  the annotation's id, None when the finding is about the image or dataset.
    image_row / annotation_row: rows in ds.images / ds.annotations (None when not about one).
    details:        JSON-able values behind the message (e.g. {"iou": 0.97, "other_id": 12}).
    """

    image: str | None = None
    split: str | None = None
    annotation_id: int | None = None
    image_row: int | None = None
    annotation_row: int | None = None
    details: dict[str, Any] = field(default_factory=dict, hash=False, compare=False)

    def to_dict(self) -> dict:
        out = super().to_dict()
        for key in ("image", "split", "annotation_id", "image_row", "annotation_row"):
            value = getattr(self, key)
            if value is not None:
                out[key] = value
        if self.details:
            out["details"] = self.details
        return out


def where_of(file_name: str | None, split: str | None, annotation_id: int | None = None) -> str | None:
    if file_name is None:
        return None
    at = f"{split}/{file_name}" if split else file_name
    return at if annotation_id is None else f"{at} annotation {annotation_id}"


class Builder:
    """Makes findings for rows of one dataset (caches the columns it needs as lists)."""

    def __init__(self, ds: Dataset):
        self.ds = ds
        self._file = ds.images.file_name      # indexed per finding: building one costs O(1)
        self._split = ds.images.split
        self._ann_image = ds.annotations.image_index
        self._ann_id = ds.annotations.id

    def dataset(self, severity: Severity, code: str, message: str, *, count: int = 1,
                details: dict | None = None) -> CheckFinding:
        return CheckFinding(severity, code, message, count, None, details=details or {})

    def image(self, severity: Severity, code: str, row: int, message: str, *,
              details: dict | None = None) -> CheckFinding:
        row = int(row)
        name, split = self._file[row], self._split[row]
        return CheckFinding(severity, code, message, 1, where_of(name, split), image=name,
                            split=split, image_row=row, details=details or {})

    def images(self, severity: Severity, code: str, rows: Iterable[int],
               messages: Iterable[str], details: Iterable[dict] | None = None) -> list[CheckFinding]:
        details = details if details is not None else _empty_dicts()
        return [self.image(severity, code, r, m, details=d)
                for r, m, d in zip(rows, messages, details)]

    def annotation(self, severity: Severity, code: str, row: int, message: str, *,
                   details: dict | None = None) -> CheckFinding:
        row = int(row)
        img = int(self._ann_image[row])
        name, split, aid = self._file[img], self._split[img], int(self._ann_id[row])
        return CheckFinding(severity, code, message, 1, where_of(name, split, aid), image=name,
                            split=split, annotation_id=aid, image_row=img, annotation_row=row,
                            details=details or {})

    def annotations(self, severity: Severity, code: str, rows: Sequence[int] | np.ndarray,
                    messages: Iterable[str],
                    details: Iterable[dict] | None = None) -> list[CheckFinding]:
        details = details if details is not None else _empty_dicts()
        return [self.annotation(severity, code, r, m, details=d)
                for r, m, d in zip(np.asarray(rows).tolist(), messages, details)]

    def file_name(self, row: int) -> str:
        return self._file[int(row)]

    def split(self, row: int) -> str:
        return self._split[int(row)]

    def label(self, row: int) -> str:
        """'split/file' or 'file' of an image row, for messages."""
        split, name = self._split[int(row)], self._file[int(row)]
        return f"{split}/{name}" if split else name


def _empty_dicts():
    while True:
        yield {}


def fmt_box(b: np.ndarray) -> str:
    return "[" + ", ".join(f"{v:.6g}" for v in np.asarray(b, dtype=np.float64).tolist()) + "]"


def sort_findings(findings: list[CheckFinding]) -> list[CheckFinding]:
    """Errors first, then warnings, then infos; stable within a severity."""
    return sorted(findings, key=lambda f: SEVERITY_RANK.get(f.severity, 3))


def counts_by_severity(findings: Iterable[Finding]) -> dict[str, int]:
    out = {s: 0 for s in SEVERITIES}
    for f in findings:
        out[f.severity] = out.get(f.severity, 0) + 1
    return out
