"""visionflow driver for the load task (conversions use the `visionflow convert` CLI):
python visionflow_drv.py load DATA OUT -> visionflow.load(<coco json>, "coco")."""
import sys
from pathlib import Path

import visionflow as vf

task, data = sys.argv[1], Path(sys.argv[2])
name = "poly" if task == "load-poly" else "coco"
if task not in ("load", "load-poly"):
    sys.exit(f"unknown task {task}")
vf.load(data / name / "annotations" / "instances_default.json", "coco")
