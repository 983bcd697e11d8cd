"""Assemble the demo dataset: real photos that ship inside scikit-image, annotated by us.

The annotations (COCO, in examples/photos/annotations/) are part of this repository; the photos
come from the installed scikit-image package, so nothing large is committed here.

    python examples/build_demo.py demo-output/photos
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import skimage

HERE = Path(__file__).resolve().parent / "photos"


def build(dest: Path) -> Path:
    data_dir = Path(skimage.__file__).parent / "data"
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(HERE / "annotations", dest / "annotations")
    for ann in sorted((HERE / "annotations").glob("instances_*.json")):
        split = ann.stem.removeprefix("instances_")
        for image in json.loads(ann.read_text())["images"]:
            target = dest / "images" / split / image["file_name"]
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(data_dir / image["file_name"], target)
    return dest


if __name__ == "__main__":
    out = build(Path(sys.argv[1] if len(sys.argv) > 1 else "demo-output/photos"))
    print(f"demo dataset ready: {out}")
