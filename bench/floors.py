"""Floors: the least any tool must do for a task, with no logic at all.

    python floors.py load-json DATA OUT        json.load of the COCO file (stdlib, GC on)
    python floors.py load-orjson DATA OUT      orjson.loads of the same bytes (GC on)
    python floors.py load-orjson-nogc DATA OUT orjson.loads with the cyclic GC paused
    python floors.py coco2yolo DATA OUT SHAPE  orjson parse + write the files listed in SHAPE
    python floors.py coco2voc  DATA OUT SHAPE  (a JSON list of [relative path, size] taken
                                               from visionflow's own output) as filler bytes
    python floors.py yolo2coco DATA OUT SHAPE  read every label file's bytes + write SHAPE
    python floors.py voc2coco  DATA OUT SHAPE  read every XML file's bytes + write SHAPE

"Writing the output bytes with no logic": the same number of files of the same sizes as the
real output, so the floor pays the file-system cost of the output and nothing else. The
YOLO->COCO floor does not read image headers (YOLO has no sizes; every real tool must).
"""
import gc
import json
import os
import sys
from pathlib import Path

task, data, out = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3])
coco_json = data / "coco" / "annotations" / "instances_default.json"


def write_shape(shape_file: str) -> None:
    made: set[str] = set()
    for rel, size in json.loads(Path(shape_file).read_text()):
        p = out / rel
        d = os.path.dirname(p)
        if d not in made:
            os.makedirs(d, exist_ok=True)
            made.add(d)
        with open(p, "wb") as f:
            f.write(b"x" * size)


def read_all(folder: Path, suffix: str) -> int:
    total = 0
    with os.scandir(folder) as it:
        for e in it:
            if e.name.endswith(suffix):
                with open(e.path, "rb") as f:
                    total += len(f.read())
    return total


if task == "load-json":
    with open(coco_json) as f:
        json.load(f)
elif task in ("load-orjson", "load-orjson-nogc"):
    import orjson
    if task.endswith("nogc"):
        gc.disable()
    orjson.loads(coco_json.read_bytes())
elif task in ("coco2yolo", "coco2voc"):
    import orjson
    orjson.loads(coco_json.read_bytes())
    write_shape(sys.argv[4])
elif task == "yolo2coco":
    read_all(data / "yolo" / "labels" / "train", ".txt")
    write_shape(sys.argv[4])
elif task == "voc2coco":
    read_all(data / "voc" / "Annotations", ".xml")
    write_shape(sys.argv[4])
else:
    sys.exit(f"unknown task {task}")
