"""pycocotools driver: python pycocotools_drv.py load DATA OUT (it only loads: COCO(file)
parses the JSON and builds its image/category/annotation indexes)."""
import contextlib
import io
import sys
from pathlib import Path

from pycocotools.coco import COCO

task, data = sys.argv[1], Path(sys.argv[2])
subset = "poly" if task.endswith("-poly") else "coco"  # load-poly: the polygon-heavy set
task = task.removesuffix("-poly")
if task != "load":
    sys.exit(f"pycocotools has no {task}")
with contextlib.redirect_stdout(io.StringIO()):
    COCO(str(data / subset / "annotations" / "instances_default.json"))
