"""Running the checks: `check(ds)` on a Dataset in memory, `check_path(path)` on a dataset on
disk (read leniently, so defects the reader would refuse are found instead)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..core.dataset import Dataset
from ..core.report import Report
from .config import CheckConfig
from .distribution import check_distribution, statistics
from .duplicates import check_duplicates
from .files import check_files, check_references, read_problems
from .findings import SEVERITY_RANK, CheckFinding, counts_by_severity, sort_findings
from .geometry import check_geometry
from .scan import ImageScan, scan_images

FAIL_LEVELS = ("error", "warning", "never")


def check(ds: Dataset, config: CheckConfig | None = None, *, progress=None,
          scan: ImageScan | None = None, **options: Any) -> list[CheckFinding]:
    """Every health check on `ds`; findings as data, errors first. Nothing is printed.

    config: thresholds (CheckConfig); keyword options override its fields, e.g.
    `check(ds, iou=0.9, hash_images=False)`. Image files are read (headers, hashes) unless
    read_images=False. progress: a progress_factory(description, total) as in load().

    Examples:
        >>> import visionflow as vf
        >>> images = vf.Images.build(["a.jpg"], [100], [50])
        >>> ann = vf.Annotations.build([0], [1], [[10, 10, 120, 40]])
        >>> ds = vf.Dataset(images, ann, vf.Categories.from_names(["cat"]))
        >>> [f.code for f in vf.check(ds, read_images=False)]
        ['box.out_of_bounds']
    """
    config = (config or CheckConfig()).replace(**options) if options else (config or CheckConfig())
    findings = check_references(ds, config)
    if config.read_images and len(ds.images):
        if scan is None:
            scan = _scan(ds, config, progress)
        findings += check_files(ds, config, scan)
    findings += check_geometry(ds, config)
    findings += check_distribution(ds, config)
    if scan is not None and config.hash_images:
        findings += check_duplicates(ds, config, scan)
    return sort_findings(findings)


@dataclass
class CheckResult:
    """What `check_path` returns: the dataset as read, the findings and the statistics."""

    dataset: Dataset
    findings: list[CheckFinding]
    statistics: dict[str, Any]
    config: CheckConfig
    scan: ImageScan | None = None
    source: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        return counts_by_severity(self.findings)

    def __iter__(self):
        """The findings, errors first (`for finding in vf.check(ds)`)."""
        return iter(self.findings)

    def __len__(self) -> int:
        return len(self.findings)

    def codes(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for f in self.findings:
            out[f.code] = out.get(f.code, 0) + 1
        return out

    def fails(self, level: str) -> bool:
        """Whether a finding at `level` ("error" or "warning") or worse exists."""
        if level not in FAIL_LEVELS:
            from ..core.errors import Error
            raise Error(f"--fail-on must be one of {', '.join(FAIL_LEVELS)}, got {level!r}")
        if level == "never":
            return False
        limit = SEVERITY_RANK[level]
        return any(SEVERITY_RANK.get(f.severity, 3) <= limit for f in self.findings)

    def to_dict(self) -> dict[str, Any]:
        return {"source": self.source, "format": self.dataset.source_format,
                "summary": self.counts(), "codes": self.codes(),
                "config": self.config.to_dict(),
                "findings": [f.to_dict() for f in self.findings],
                "statistics": self.statistics}


def check_path(path: str | Path, config: CheckConfig | None = None, *,
               format: str | None = None, progress=None, images_dir: str | Path | None = None,
               follow_links: bool = False, read_options: dict | None = None,
               **options: Any) -> CheckResult:
    """Read the dataset at `path` leniently (errors="keep") and check it (see `check`);
    images_dir, follow_links, read_options (the reader's options): as for `vf.load`."""
    from ..api import load
    config = (config or CheckConfig()).replace(**options) if options else (config or CheckConfig())
    report = Report()
    ds = load(path, format, errors="keep", report=report, progress=progress,
              images_dir=images_dir, follow_links=follow_links, **(read_options or {}))
    scan = _scan(ds, config, progress) if config.read_images and len(ds.images) else None
    findings = read_problems(ds, report) + check(ds, config, scan=scan)
    return CheckResult(ds, sort_findings(findings), statistics(ds, config), config, scan,
                       str(path))


def _scan(ds: Dataset, config: CheckConfig, progress: Callable | None) -> ImageScan:
    what = "Reading and hashing images" if config.hash_images else "Reading image headers"
    if progress is None:
        return scan_images(ds, hash_images=config.hash_images, workers=config.workers)
    with progress(what, len(ds.images)) as advance:
        return scan_images(ds, hash_images=config.hash_images, workers=config.workers,
                           progress=advance)
