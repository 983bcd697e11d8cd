"""visionflow: the ETL layer of computer vision.

Import any annotation format into one canonical dataset model, check it, transform it, and
export it to any training format.

    >>> import visionflow as vf
    >>> {"coco", "voc", "yolo"} <= {f.name for f in vf.formats()}
    True
"""

from .api import convert, detect, formats, load, write
from .core.annotations import Annotations, Polygons
from .core.categories import Categories, Category
from .core.dataset import Dataset
from .core.errors import (AmbiguousFormat, DataWarning, Error, FormatError, LocatedError,
                          LossError, MissingImageError, NotDetected, OutputError, ParseError,
                          UnknownFormat, UnsafeInputError, UsageError, ValidationError)
from .core.images import UNSPLIT, Images
from .core.report import Finding, Report
from .core.view import ImageView

# Versioning, checks and transforms pull in SQLite, image scanning and albumentations-sized
# imports; loading them on first use keeps `import visionflow` (and every CLI run) short.
_LAZY = {
    "Workspace": "visionflow.versioning", "CheckConfig": "visionflow.checks",
    "CheckFinding": "visionflow.checks", "FixOptions": "visionflow.checks",
    "load_predictions": "visionflow.evaluation",
    # one function per CLI command (commands.py), each importing its heavy modules when called
    "info": "visionflow.commands", "show": "visionflow.commands",
    "transform": "visionflow.commands", "resize": "visionflow.commands",
    "tile": "visionflow.commands", "split": "visionflow.commands",
    "check": "visionflow.commands", "fix": "visionflow.commands",
    "evaluate": "visionflow.commands", "find_mistakes": "visionflow.commands",
    "embed": "visionflow.embeddings", "load_embedder": "visionflow.embeddings",
    "dedup": "visionflow.embeddings.dedup", "find_duplicates": "visionflow.embeddings.dedup",
    # the embedding commands' library functions (embed, dedup, search, sample, map)
    "embed_path": "visionflow.embeddings", "dedup_path": "visionflow.embeddings.dedup",
    "find_images": "visionflow.embeddings.search", "pick": "visionflow.embeddings.sample",
    "write_map": "visionflow.embeddings.map2d",
    # bridges: each imports its (optional) library on first call, never on import
    "from_arrow": "visionflow.bridges.arrow", "to_supervision": "visionflow.bridges.supervision",
    "from_supervision": "visionflow.bridges.supervision", "to_hf": "visionflow.bridges.hf",
    "from_hf": "visionflow.bridges.hf", "to_tf_dataset": "visionflow.bridges.tf",
}


def __getattr__(name: str):
    import importlib
    if name == "transforms":  # Recipe, run, split, rebalance
        return importlib.import_module("visionflow.transforms")
    if name == "torch":  # DetectionDataset, collate_fn; needs torch (one line says so if absent)
        return importlib.import_module("visionflow.bridges.torch")
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'visionflow' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)


from ._version import __version__  # noqa: E402  (one place: pyproject reads it too)

__all__ = [
    "UNSPLIT", "AmbiguousFormat", "Annotations", "Categories", "Category", "CheckConfig",
    "CheckFinding", "Dataset", "Error", "FixOptions", "check", "fix",
    "Finding", "FormatError", "Images", "LossError", "MissingImageError", "NotDetected",
    "OutputError", "ParseError", "Polygons", "Report", "UnknownFormat", "UnsafeInputError",
    "UsageError",
    "ValidationError", "Workspace", "transforms", "__version__", "convert", "detect", "formats", "load", "write",
    "evaluate", "load_predictions", "find_mistakes", "info", "show", "transform", "resize",
    "tile", "split", "DataWarning", "LocatedError",
    "ImageView", "from_arrow", "to_supervision", "from_supervision", "to_hf", "from_hf",
    "to_tf_dataset", "embed", "load_embedder", "dedup", "find_duplicates",
    "embed_path", "dedup_path", "find_images", "pick", "write_map",
]
