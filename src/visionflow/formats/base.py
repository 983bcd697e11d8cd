"""What a format plugin is: a `Format` value with detect, read and write functions.

Built-in formats use exactly this API (see registry.py); a third-party package adds a format by
exposing a `Format` under the `visionflow.formats` entry-point group.

    FORMAT = Format(name="yolo", description="...", supports=frozenset({BOXES, POLYGONS}),
                    detect=detect, read=read, write=write)

- detect(path) -> Detection | None: cheap, reads at most a few files.
- read(path, ctx: ReadContext) -> Dataset: path is the folder or file the user named. Problems
  in the data go through ctx.fail(...) so that --skip-errors can report and go on. An image
  file the annotations name is located through common.image_file / find_image / image_index,
  so that --images-dir (ctx.images_dir) and --follow-links (ctx.follow_links) hold for every
  format; a reader that pairs images with labels by listing its own folders calls
  common.refuse_images_dir instead.
- write(dataset, out_dir, ctx: WriteContext) -> None: out_dir is an empty temporary folder that
  becomes the destination when write returns. Losses the generic check cannot see go through
  ctx.loss(...).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.errors import Error, LossError
from ..core.report import Report

if TYPE_CHECKING:
    from ..core.categories import Categories, Category
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
    read_options: dict[str, str] = field(default_factory=dict)  # reader option -> help text
    # The class map that reading this format's output gives back, one Category per input
    # category in input order, when the supports flags cannot say it (a fixed label table).
    # None: ids kept with CATEGORY_IDS else 1..N by class order; meta kept with CATEGORY_META.
    categories_after: Callable[[Categories], list[Category]] | None = None


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
    # Refuse what a reader would otherwise make up or drop with a warning (classes used but
    # not declared, label files without an image): `convert --strict`.
    strict: bool = False
    follow_links: bool = False
    # --images-dir: the folder the images are in when not where the format puts them (boxes-only
    # TFRecords, CSVs, COCO files kept apart from their images); see common.image_file.
    images_dir: Path | None = None
    images_dir_used: bool = False  # a reader looked images up there (api.load checks it)
    # Image paths whose header and end were already read (common.read_sizes): finish_read
    # checks only the others, so no image is read twice.
    checked_images: set[str] = field(default_factory=set)


# How every read in this context finds its images (--images-dir, --follow-links): set once by
# the CLI for a whole command (whatever function ends up calling api.load), read by api.load.
READ_DEFAULTS: ContextVar[dict[str, Any]] = ContextVar("visionflow_read_defaults", default={})


@contextmanager
def read_defaults(**values: Any) -> Iterator[None]:
    """api.load's images_dir / follow_links defaults while the block runs."""
    token = READ_DEFAULTS.set({k: v for k, v in values.items() if v is not None})
    try:
        yield
    finally:
        READ_DEFAULTS.reset(token)


@dataclass
class WriteContext(_Context):
    strict: bool = False
    images: str = "copy"  # copy | link | none
    format: str = ""
    # What was written, for the summary; None: the images and every annotation of a kind the
    # format holds. A writer that drops more (merged, hidden, refused rows) sets these.
    written_images: int | None = None
    written_annotations: int | None = None
    # Image paths api.write found without a file (listed once there); None: not checked yet.
    absent_files: frozenset[str] | None = None

    def loss(self, kind: str, count: int, message: str) -> None:
        """Report something the target format cannot hold, once per kind."""
        if count <= 0:
            return
        if self.strict:
            raise LossError(f"{self.format} cannot hold {message} ({count}); "
                            "drop --strict to convert anyway")
        self.report.add("warning", f"loss.{kind}", message, count=count)
