"""Structured findings: what a read dropped, what a write could not carry over.

The library never prints. Readers and writers add `Finding`s to a `Report`; the CLI renders
them. Losses are reported once per kind (with a count), not once per row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Severity = Literal["error", "warning", "info"]


@dataclass(frozen=True)
class Finding:
    severity: Severity
    code: str  # stable machine name, e.g. "loss.polygons" or "skipped.annotation"
    message: str
    count: int = 1
    where: str | None = None

    def __str__(self) -> str:
        at = f"{self.where}: " if self.where else ""
        times = f" (x{self.count})" if self.count > 1 else ""
        return f"{self.severity}: {at}{self.message}{times}"

    def to_dict(self) -> dict:
        return {"severity": self.severity, "code": self.code, "message": self.message,
                "count": self.count, "where": self.where}


@dataclass
class Report:
    findings: list[Finding] = field(default_factory=list)
    # Set by a write: {"format", "images", "annotations", "categories"} actually written.
    written: dict | None = None

    def add(self, severity: Severity, code: str, message: str, *, count: int = 1,
            where: str | None = None) -> None:
        self.findings.append(Finding(severity, code, message, count, where))

    def extend(self, other: Report) -> None:
        self.findings.extend(other.findings)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def warnings(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "warning"]

    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def __iter__(self):
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    def to_list(self) -> list[dict]:
        return [f.to_dict() for f in self.findings]


def plural(n: int, noun: str) -> str:
    """'1 class', '2 classes', '0 images': one wording for counts in messages, library and
    CLI alike."""
    if n == 1:
        return f"1 {noun}"
    return f"{n} {noun}es" if noun.endswith(("s", "sh", "ch", "x")) else f"{n} {noun}s"
