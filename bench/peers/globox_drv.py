"""globox driver: python globox_drv.py TASK DATA OUT (TASK: load coco2yolo coco2voc yolo2coco
voc2coco). Public API of globox 2.9 (AnnotationSet.from_coco / from_yolo_v5 / from_pascal_voc,
save_yolo_v5 / save_pascal_voc / save_coco). globox never touches image files except to read
sizes (from_yolo_v5 opens each image header with PIL): labels only."""
import sys
from pathlib import Path

from globox import AnnotationSet

task, data, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
subset = "poly" if task.endswith("-poly") else "coco"  # load-poly: the polygon-heavy set
task = task.removesuffix("-poly")
coco_json = data / subset / "annotations" / "instances_default.json"
if task == "load":
    AnnotationSet.from_coco(coco_json)
elif task == "coco2yolo":
    s = AnnotationSet.from_coco(coco_json)
    # class index = position of the category in the file; without label_to_id globox writes
    # class names instead of indices
    label_to_id = {name: i for i, name in enumerate(s._id_to_label.values())}
    out.mkdir(parents=True)
    s.save_yolo_v5(out / "labels", label_to_id=label_to_id)
    (out / "classes.txt").write_text("\n".join(label_to_id) + "\n")
elif task == "coco2voc":
    out.mkdir(parents=True)
    AnnotationSet.from_coco(coco_json).save_pascal_voc(out / "Annotations")
elif task == "yolo2coco":
    s = AnnotationSet.from_yolo_v5(data / "yolo" / "labels" / "train",
                                   image_folder=data / "yolo" / "images" / "train")
    import yaml
    names = yaml.safe_load((data / "yolo" / "data.yaml").read_text())["names"]
    s = s.map_labels({str(i): n for i, n in names.items()})
    out.mkdir(parents=True)
    s.save_coco(out / "annotations.json", auto_ids=True)
elif task == "voc2coco":
    s = AnnotationSet.from_pascal_voc(data / "voc" / "Annotations")
    out.mkdir(parents=True)
    s.save_coco(out / "annotations.json", auto_ids=True)
else:
    sys.exit(f"unknown task {task}")
