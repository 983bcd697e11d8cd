"""supervision driver: python supervision_drv.py TASK DATA OUT. Public API of supervision 0.31
(DetectionDataset.from_coco / from_yolo / from_pascal_voc, as_yolo / as_pascal_voc / as_coco).
Labels only: images_directory_path=None on export (supervision still opens every image when
exporting, to learn its size)."""
import sys
from pathlib import Path

import supervision as sv

task, data, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
subset = "poly" if task.endswith("-poly") else "coco"  # load-poly: the polygon-heavy set
task = task.removesuffix("-poly")
coco = data / subset


def from_coco():
    return sv.DetectionDataset.from_coco(
        images_directory_path=str(coco / "images" / "default"),
        annotations_path=str(coco / "annotations" / "instances_default.json"))


if task == "load":
    from_coco()
elif task == "coco2yolo":
    out.mkdir(parents=True)
    from_coco().as_yolo(annotations_directory_path=str(out / "labels"),
                        data_yaml_path=str(out / "data.yaml"))
elif task == "coco2voc":
    out.mkdir(parents=True)
    from_coco().as_pascal_voc(annotations_directory_path=str(out / "Annotations"))
elif task == "yolo2coco":
    ds = sv.DetectionDataset.from_yolo(
        images_directory_path=str(data / "yolo" / "images" / "train"),
        annotations_directory_path=str(data / "yolo" / "labels" / "train"),
        data_yaml_path=str(data / "yolo" / "data.yaml"))
    out.mkdir(parents=True)
    ds.as_coco(annotations_path=str(out / "annotations.json"))
elif task == "voc2coco":
    ds = sv.DetectionDataset.from_pascal_voc(
        images_directory_path=str(data / "voc" / "JPEGImages"),
        annotations_directory_path=str(data / "voc" / "Annotations"))
    out.mkdir(parents=True)
    ds.as_coco(annotations_path=str(out / "annotations.json"))
else:
    sys.exit(f"unknown task {task}")
