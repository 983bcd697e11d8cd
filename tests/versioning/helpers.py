"""Small COCO datasets written on the fly, and a runner for real `visionflow` processes."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from ..conftest import REPO, make_image

CATS = [(1, "cat"), (2, "dog")]


def write_coco(root: Path, boxes, *, names=("a.png", "b.png", "c.png"), cats=CATS,
               colors=None, split="train", raw_images: dict | None = None,
               segmentation: dict | None = None) -> Path:
    """COCO at root: boxes = [(image_index, category_id, [x, y, w, h]), ...]; images are real
    PNGs of distinct colors (or raw bytes from raw_images, name -> bytes)."""
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    images = [{"id": i + 1, "file_name": n, "width": 64, "height": 48} for i, n in enumerate(names)]
    anns = []
    for k, (im, cid, b) in enumerate(boxes):
        a = {"id": k + 1, "image_id": im + 1, "category_id": cid, "bbox": b, "iscrowd": 0,
             "area": b[2] * b[3]}
        if segmentation and k in segmentation:
            a["segmentation"] = [segmentation[k]]
        anns.append(a)
    doc = {"images": images, "annotations": anns,
           "categories": [{"id": i, "name": n} for i, n in cats]}
    (root / "annotations" / f"instances_{split}.json").write_text(json.dumps(doc))
    folder = root / "images" / split
    for i, n in enumerate(names):
        if raw_images and n in raw_images:
            folder.mkdir(parents=True, exist_ok=True)
            (folder / n).write_bytes(raw_images[n])
        elif not (folder / n).exists() or colors is not None:
            color = colors[i] if colors is not None else (20 * i % 255, 40, 90)
            make_image(folder / n, color=color)
    return root


def cli(*args, cwd=None, timeout=120, **popen) -> subprocess.CompletedProcess:
    """Run `python -m visionflow ARGS` as a real process."""
    return subprocess.run([sys.executable, "-m", "visionflow", *map(str, args)], cwd=cwd,
                          capture_output=True, text=True, timeout=timeout, env=env(), check=False,
                          **popen)


def spawn(*args, **popen) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "visionflow", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env(), **popen)


def env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO / "src") + os.pathsep + e.get("PYTHONPATH", "")
    e["VISIONFLOW_AUTHOR"] = "tester"
    e["COLUMNS"] = "200"
    return e
