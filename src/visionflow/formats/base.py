"""What a format plugin is: a `Format` value with detect, read and write functions.

Built-in formats use exactly this API (see registry.py); a third-party package adds a format by
exposing a `Format` under the `visionflow.formats` entry-point group.

    FORMAT = Format(name="yolo", description="...", supports=frozenset({BOXES, POLYGONS}),
                    detect=detect, read=read, write=write)

- detect(path) -> Detection | None: cheap, reads at most a few files.
- read(path, ctx: ReadContext) -> Dataset: path is the folder or file the user named. Problems
  in the data go through ctx.fail(...) so that errors="skip" (--skip-errors) can report and
  go on. An image file the annotations name is located through common.image_file /
  find_image / image_index, so that --images-dir (ctx.images_dir) and --follow-links
  (ctx.follow_links) hold for every format; a reader that pairs images with labels by
  listing its own folders calls common.refuse_images_dir instead.
- write(dataset, out_dir, ctx: WriteContext) -> None: out_dir is an empty temporary folder that
  becomes the destination when write returns. Losses the generic check cannot see go through
  ctx.loss(...). Each image's rows come from writing.rows_by_image, output paths from
  writing.placements / folder_name (one check for '..', absolute names and two images on one
  label file).
- write_options / read_options: Option(name, type, default, choices, help) declarations;
  ctx.options holds the values converted to their types, defaults filled in (api.load and
  api.write refuse unknown names and values with a "did you mean").
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..core.annotations import Column
from ..core.errors import Error, LossError, OutputError
from ..core.report import Report

if TYPE_CHECKING:
    from ..core.categories import Categories, Category
    from ..core.dataset import Dataset

# api.load's / api.write's `errors`: what a bad record does (see _Context.errors).
ERRORS = ("raise", "skip", "keep")

# What a format can hold. The annotation columns are core.annotations.Column (one table,
# COLUMNS, says what each means); the values are strings, so "boxes" in supports still works.
BOXES = Column.BOXES
LABELS = Column.LABELS          # image-level class labels (classification)
POLYGONS = Column.POLYGONS
POLYLINES = Column.POLYLINES    # open paths (CVAT polylines)
MASKS = Column.MASKS
KEYPOINTS = Column.KEYPOINTS
OBB = Column.OBB
SCORES = Column.SCORES
TRACK_IDS = Column.TRACK_IDS
ISCROWD = Column.ISCROWD
# What else a format can keep of a dataset (not annotation columns).
CATEGORY_IDS = "category_ids"   # keeps the source's category ids (not just the class order)
ATTRIBUTES = "attributes"       # per-annotation attributes (see Format.attributes)
IMAGE_IDS = "image_ids"         # keeps image ids (else images are numbered 1..N as read)
ANNOTATION_IDS = "annotation_ids"  # keeps annotation ids (else 1..n as read)
CATEGORY_META = "category_meta"    # supercategory, keypoint names and skeleton
CLASS_ORDER = "class_order"     # keeps classes in the given order (else e.g. sorted by name)

Progress = Callable[[int], None]

# The visionflow extra that installs an optional import (Format.requires); a module not listed
# is named as its own pip package.
EXTRAS = {"pyarrow": "hf", "pycocotools": "eval", "onnxruntime": "autolabel", "torch": "torch",
          "supervision": "supervision", "transformers": "embed"}

# Dataset.meta key: the writer options that write a dataset back the way its reader found it
# (COCO's layout=roboflow); api.write takes them as defaults when writing the source's own
# format, so that fixing, splitting or transforming a Roboflow export keeps its layout.
SOURCE_OPTIONS = "source_options"


@dataclass(frozen=True)
class Detection:
    format: str
    confidence: float  # 0..1
    reasons: tuple[str, ...] = ()


_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")
_TYPE_NAMES = {str: "text", int: "integer", float: "number", bool: "true|false", Path: "folder"}


def _fold(text: str) -> str:
    """How a choice is compared: case, '-' and '_' do not matter (zero_based = Zero-Based)."""
    return text.strip().lower().replace("-", "").replace("_", "")


@dataclass(frozen=True)
class Option:
    """One reader or writer option of a format (`-O name=value`, `vf.write(..., name=value)`).

    Declared rather than documented, so that the CLI converts `-O` strings by `type`, a
    misspelt name or value is refused with a "did you mean", and `visionflow formats` and the
    `-O` help are generated from the same table. default None: the format decides from the
    data. aliases: other spellings of a choice ({"0": "zero-based"}). example: a value for
    help texts and tests (default: the first choice).
    """
    name: str
    type: type = str  # str, int, float, bool or Path
    default: Any = None
    choices: tuple[str, ...] = ()
    help: str = ""
    aliases: tuple[tuple[str, str], ...] | dict[str, str] = ()
    example: str | None = None

    def __post_init__(self) -> None:
        if isinstance(self.aliases, dict):
            object.__setattr__(self, "aliases", tuple(self.aliases.items()))
        if self.type not in _TYPE_NAMES:
            raise TypeError(f"option {self.name}: type must be one of str, int, float, bool, "
                            f"Path, got {self.type!r}")

    @property
    def kind(self) -> str:
        """The value's shape for help texts: 'standard|roboflow', 'integer', ..."""
        return "|".join(self.choices) if self.choices else _TYPE_NAMES[self.type]

    def sample(self) -> str:
        """A value to show (and test) with: the example, else the default, else a choice."""
        if self.example is not None:
            return self.example
        if self.choices:
            return self.choices[-1] if self.default == self.choices[0] else self.choices[0]
        if self.default is not None:
            return str(self.default).lower() if self.type is bool else str(self.default)
        return {int: "1", float: "0.5", bool: "true"}.get(self.type, "value")

    def parse(self, value: Any, where: str, error: type[Error] = Error) -> Any:
        """`value` (a `-O` string, or a Python value) as this option's type; `error` if it is
        not one (where: 'coco writer option', for the message)."""
        shown = f"{where} {self.name}={value!r}"
        if self.choices:
            text = str(value)
            folded = {_fold(c): c for c in self.choices}
            folded.update({_fold(a): c for a, c in self.aliases})
            if isinstance(value, (str, int)) and not isinstance(value, bool) \
                    and _fold(text) in folded:
                return folded[_fold(text)]
            from ..core.errors import did_you_mean
            raise error(f"{shown}: expected one of {', '.join(self.choices)}"
                        f"{did_you_mean(text, self.choices)}")
        if self.type is bool:
            if isinstance(value, bool):
                return value
            if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
                return value.strip().lower() in _TRUE
            raise error(f"{shown}: expected true or false (also yes/no, 1/0)")
        if self.type in (int, float):
            ok = (int,) if self.type is int else (int, float)
            if isinstance(value, ok) and not isinstance(value, bool):
                return self.type(value)
            try:
                if isinstance(value, str):
                    return self.type(value.strip())
            except ValueError:
                pass
            raise error(f"{shown}: {self.name} must be an {_TYPE_NAMES[self.type]}"
                        if self.type is int else f"{shown}: {self.name} must be a number")
        if self.type is Path:
            if isinstance(value, (str, Path)) and str(value).strip():
                return Path(value)
            raise error(f"{shown}: expected a folder path")
        if not isinstance(value, str):
            raise error(f"{shown}: expected text")
        return value

    def describe(self) -> dict[str, Any]:
        """The declaration as JSON (`visionflow formats --json`)."""
        default = str(self.default) if isinstance(self.default, Path) else self.default
        return {"name": self.name, "type": _TYPE_NAMES[self.type], "default": default,
                "choices": list(self.choices), "help": self.help, "example": self.sample()}


def _options(declared: Any) -> tuple[Option, ...]:
    """A format's option table; a plain {name: help} dict (the older plugin API) becomes
    text options with that help."""
    if isinstance(declared, dict):
        return tuple(Option(name, help=str(text)) for name, text in declared.items())
    return tuple(declared)


def parse_options(fmt: Format, given: dict[str, Any], kind: str) -> dict[str, Any]:
    """`given` checked against `fmt`'s declared reader or writer options (kind "reader" or
    "writer") and converted to their types, with the declared defaults filled in: a misspelt
    name is an Error with a "did you mean", never ignored; a bad writer option value an
    OutputError (the output cannot be written as asked)."""
    from ..core.errors import did_you_mean
    declared = {o.name: o for o in (fmt.read_options if kind == "reader" else
                                    fmt.write_options)}
    for key in given:
        if key not in declared:
            hint = did_you_mean(key, declared)
            accepted = f"it accepts {', '.join(sorted(declared))}" if declared else "it has none"
            raise Error(f"unknown {kind} option {key!r} for format {fmt.name}{hint} "
                        f"({accepted})")
    values = {name: o.default for name, o in declared.items() if o.default is not None}
    error = OutputError if kind == "writer" else Error
    values.update({key: declared[key].parse(value, f"{fmt.name} {kind} option", error)
                   for key, value in given.items()})
    return values


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
    # The options it takes (Option declarations). `options` is the older name of
    # write_options, folded into it: a {name: help} dict there, or in either, still works
    # (text options).
    write_options: tuple[Option, ...] = ()
    read_options: tuple[Option, ...] = ()
    options: Any = ()
    # The class map that reading this format's output gives back, one Category per input
    # category in input order, when the supports flags cannot say it (a fixed label table).
    # None: ids kept with CATEGORY_IDS else 1..N by class order; meta kept with CATEGORY_META.
    categories_after: Callable[[Categories], list[Category]] | None = None
    # Import names of the optional libraries it needs (("pyarrow",) for hf-parquet): picking
    # the format without them is one line saying what to install (see missing()).
    requires: tuple[str, ...] = ()

    def missing(self) -> str | None:
        """What to install when a module in `requires` cannot be imported, else None."""
        import importlib.util
        for module in self.requires:
            try:
                found = importlib.util.find_spec(module) is not None
            except (ImportError, ValueError):  # a parent package missing, or a broken entry
                found = False
            if not found:
                top = module.split(".")[0]
                how = f"pip install 'visionflow[{EXTRAS[top]}]'" if top in EXTRAS \
                    else f"pip install {top}"
                return f"the {self.name} format needs {module}: {how}"
        return None

    def __post_init__(self) -> None:
        write = _options(self.write_options) + _options(self.options or ())
        object.__setattr__(self, "write_options", write)
        object.__setattr__(self, "read_options", _options(self.read_options))
        object.__setattr__(self, "options", ())  # folded into write_options


@dataclass
class _Context:
    report: Report = field(default_factory=Report)
    options: dict[str, Any] = field(default_factory=dict)
    progress_factory: Callable[[str, int | None], Any] | None = None
    # What a bad record does (api.load's and api.write's `errors`, one of ERRORS): "raise"
    # stops at the first; "skip" drops it and reports it (a "skipped" finding); "keep" (reads)
    # also keeps the rows that break the model's rules, reported as "invalid" (see lenient).
    errors: str = "raise"

    @property
    def skip_errors(self) -> bool:
        """A bad record is reported and left out instead of raised (errors "skip" or "keep")."""
        return self.errors != "raise"

    def fail(self, error: Error) -> None:
        """Raise a data problem, or with errors="skip"/"keep" record it and go on."""
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

    @property
    def lenient(self) -> bool:
        """errors="keep": rows that break the model's rules (boxes outside the image, unknown
        classes, ...) are kept and reported as "invalid" findings: for `check` and `fix`."""
        return self.errors == "keep"


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
