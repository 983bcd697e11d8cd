"""pycocotools driver: python pycocotools_drv.py load DATA OUT (it only loads: COCO(file)
parses the JSON and builds its image/category/annotation indexes)."""
import contextlib
import io
import sys
from pathlib import Path

from pycocotools.coco import COCO

task, data = sys.argv[1], Path(sys.argv[2])
if task != "load":
    sys.exit(f"pycocotools has no {task}")
with contextlib.redirect_stdout(io.StringIO()):
    COCO(str(data / "coco" / "annotations" / "instances_default.json"))
