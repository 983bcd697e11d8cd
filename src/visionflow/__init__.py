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
from .core.errors import (AmbiguousFormat, Error, FormatError, LossError, MissingImageError,
                          NotDetected, OutputError, ParseError, UnknownFormat, UnsafeInputError,
                          ValidationError)
from .core.images import UNSPLIT, Images
from .core.report import Finding, Report
from .versioning import Workspace
from .checks import CheckConfig, CheckFinding, FixOptions, check, fix
from . import transforms  # noqa: E402  (Recipe, run, split, rebalance)

__version__ = "0.1.0"

__all__ = [
    "UNSPLIT", "AmbiguousFormat", "Annotations", "Categories", "Category", "CheckConfig",
    "CheckFinding", "Dataset", "Error", "FixOptions", "check", "fix",
    "Finding", "FormatError", "Images", "LossError", "MissingImageError", "NotDetected",
    "OutputError", "ParseError", "Polygons", "Report", "UnknownFormat", "UnsafeInputError",
    "ValidationError", "Workspace", "transforms", "__version__", "convert", "detect", "formats", "load", "write",
]
