"""datumaro driver: python datumaro_drv.py TASK DATA OUT. Public API of datumaro 1.13
(Dataset.import_from(path, format), Dataset.export(dir, format, save_media=False)): labels
only. YOLO output uses the "yolo" (darknet-style) exporter: its "yolo_ultralytics" exporter
refuses a dataset without a val split."""
import sys
from pathlib import Path

import datumaro as dm

task, data, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
subset = "poly" if task.endswith("-poly") else "coco"  # load-poly: the polygon-heavy set
task = task.removesuffix("-poly")


def from_coco():
    return dm.Dataset.import_from(str(data / subset), "coco_instances")


if task == "load":
    ds = from_coco()
    len(ds)  # datumaro imports lazily: make sure every item is parsed
    for item in ds:
        pass
elif task == "coco2yolo":
    from_coco().export(str(out), "yolo", save_media=False)
elif task == "coco2voc":
    from_coco().export(str(out), "voc_detection", save_media=False)
elif task == "yolo2coco":
    dm.Dataset.import_from(str(data / "yolo"), "yolo").export(
        str(out), "coco_instances", save_media=False)
elif task == "voc2coco":
    dm.Dataset.import_from(str(data / "voc"), "voc_detection").export(
        str(out), "coco_instances", save_media=False)
else:
    sys.exit(f"unknown task {task}")
