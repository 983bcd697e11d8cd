"""What a format plugin is: a `Format` value with detect, read and write functions.

Built-in formats use exactly this API (see registry.py); a third-party package adds a format by
exposing a `Format` under the `visionflow.formats` entry-point group.

    FORMAT = Format(name="yolo", description="...", supports=frozenset({BOXES, POLYGONS}),
                    detect=detect, read=read, write=write)

- detect(path) -> Detection | None: cheap, reads at most a few files.
- read(path, ctx: ReadContext) -> Dataset: path is the folder or file the user named. Problems
  in the data go through ctx.fail(...) so that --skip-errors can report and go on.
- write(dataset, out_dir, ctx: WriteContext) -> None: out_dir is an empty temporary folder that
  becomes the destination when write returns. Losses the generic check cannot see go through
  ctx.loss(...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import Error, LossError
from ..core.report import Report

if TYPE_CHECKING:
    from ..core.dataset import Dataset

# What a format can hold. Geometry kinds match Annotations.geometry_counts().
BOXES = "boxes"
LABELS = "labels"               # image-level class labels (classification)
POLYGONS = "polygons"
MASKS = "masks"
KEYPOINTS = "keypoints"
OBB = "oriented_boxes"
SCORES = "scores"
TRACK_IDS = "track_ids"
ISCROWD = "iscrowd"
CATEGORY_IDS = "category_ids"   # keeps the source's category ids (not just the class order)
ATTRIBUTES = "attributes"       # per-annotation attributes (see Format.attributes)
IMAGE_IDS = "image_ids"         # keeps image ids (else images are numbered 1..N as read)
ANNOTATION_IDS = "annotation_ids"  # keeps annotation ids (else 1..n as read)
CATEGORY_META = "category_meta"    # supercategory, keypoint names and skeleton
CLASS_ORDER = "class_order"     # keeps classes in the given order (else e.g. sorted by name)

Progress = Callable[[int], None]


@dataclass(frozen=True)
class Detection:
    format: str
    confidence: float  # 0..1
    reasons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Format:
    name: str
    description: str
    supports: frozenset[str]
    detect: Callable[[Path], Detection | None]
    read: Callable[[Path, ReadContext], Dataset] | None = None
    write: Callable[[Dataset, Path, WriteContext], None] | None = None
    aliases: tuple[str, ...] = ()
    # Per-annotation attrs it writes: None = any key, else the keys it holds.
    attributes: frozenset[str] | None = frozenset()
    options: dict[str, str] = field(default_factory=dict)  # writer option -> help text


@dataclass
class _Context:
    report: Report = field(default_factory=Report)
    options: dict[str, Any] = field(default_factory=dict)
    progress_factory: Callable[[str, int | None], Any] | None = None
    skip_errors: bool = False

    def fail(self, error: Error) -> None:
        """Raise a data problem, or with --skip-errors record it and let the work go on."""
        if not self.skip_errors:
            raise error
        self.report.add("error", "skipped", getattr(error, "problem", str(error)),
                        where=getattr(error, "where", None))

    @contextmanager
    def progress(self, description: str, total: int | None) -> Iterator[Progress]:
        """Advance-callback for a long step; the CLI shows it as a progress bar."""
        if self.progress_factory is None:
            yield lambda n=1: None
            return
        with self.progress_factory(description, total) as advance:
            yield advance


@dataclass
class ReadContext(_Context):
    # Keep rows that break the model's rules (boxes outside the image, unknown classes, ...)
    # and report them as "invalid" findings instead of failing: for `visionflow check`/`fix`.
    lenient: bool = False


@dataclass
class WriteContext(_Context):
    strict: bool = False
    images: str = "link"  # link | copy | none
    format: str = ""

    def loss(self, kind: str, count: int, message: str) -> None:
        """Report something the target format cannot hold, once per kind."""
        if count <= 0:
            return
        if self.strict:
            raise LossError(f"{self.format} cannot hold {message} ({count}); "
                            "drop --strict to convert anyway")
        self.report.add("warning", f"loss.{kind}", message, count=count)
