"""Synthetic datasets shared by the YOLO tests (Ultralytics and darknet layouts)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

import visionflow as vf
from tests.conftest import make_image

SIZES = {"train": (64, 48), "val": (80, 60), "test": (50, 40)}
CATEGORY_IDS = [1, 3, 7]  # non-contiguous, COCO style


def synthetic(tmp: Path, task: str = "detect", splits=("train", "val", "test")) -> vf.Dataset:
    """Two images per split (the second of 'val' a negative), boxes of 3 categories.

    task adds polygons (segment), keypoints (pose) or oriented boxes (obb) to every object.
    Images are listed in the order a YOLO reader returns them (split order, then file name).
    """
    names, widths, heights, split_col, paths = [], [], [], [], []
    for split in splits:
        w, h = SIZES.get(split, (64, 48))
        for k in range(2):
            name = f"img_{k}.jpg" if split != "test" else f"sub/img_{k}.png"
            path = make_image(tmp / "src" / (split or "unsplit") / name, (w, h))
            names.append(name)
            widths.append(w)
            heights.append(h)
            split_col.append(split)
            paths.append(str(path))
    images = vf.Images.build(names, widths, heights, split=split_col, path=paths)
    image_index, cats, boxes, rings, kpts, obbs = [], [], [], [], [], []
    for row, (split, name) in enumerate(zip(split_col, names)):
        if split == "val" and name == "img_1.jpg":
            continue  # a negative
        w, h = widths[row], heights[row]
        for j, cid in enumerate(CATEGORY_IDS[: 2 + row % 2]):
            x0, y0 = 2.0 + 7 * j + row, 3.0 + 5 * j
            x1, y1 = x0 + 10.5 + j, y0 + 12.25
            image_index.append(row)
            cats.append(cid)
            boxes.append([x0, y0, x1, y1])
            ring = np.array([[x0, y0], [x1, y0 + 1], [x1 - 1, y1], [x0 + 2, y1]])
            rings.append([ring] if task == "segment" else [])
            kp = np.array([[x0 + 1, y0 + 1, 2], [x1 - 1, y1 - 1, 1], [0, 0, 0]], float)
            kpts.append(kp)
            obbs.append(np.array([[x0, y0 + 2], [x1 - 2, y0], [x1, y1 - 2], [x0 + 2, y1]]))
            assert x1 <= w and y1 <= h
    columns = {}
    if task == "segment":
        columns["polygons"] = vf.Polygons.from_lists(rings)
    if task == "pose":
        columns["keypoints"] = np.stack(kpts)
    if task == "obb":
        columns["obb"] = np.stack(obbs)
    ann = vf.Annotations.build(image_index, cats, boxes, **columns)
    if task == "obb":  # the box of an oriented box is its corners' bounds
        ann = ann.replace(xyxy=np.stack([np.r_[o.min(0), o.max(0)] for o in obbs]))
    if task == "segment":
        ann = ann.replace(xyxy=np.stack([np.r_[r[0].min(0), r[0].max(0)] for r in rings]))
    categories = vf.Categories([
        vf.Category(cid, name, "thing", ("nose", "left_eye", "right_eye") if task == "pose"
                    else (), ((1, 2), (1, 3)) if task == "pose" else ())
        for cid, name in zip(CATEGORY_IDS, ["person", "car", "traffic light"])])
    return vf.Dataset(images, ann, categories)


def assert_same(a: vf.Dataset, b: vf.Dataset, atol: float = 1e-3) -> None:
    """Same images (name, split, size), categories and annotations (ids aside)."""
    assert list(a.images.file_name) == list(b.images.file_name)
    assert list(a.images.split) == list(b.images.split)
    assert np.array_equal(a.images.width, b.images.width)
    assert np.array_equal(a.images.height, b.images.height)
    assert a.categories == b.categories
    diff = a.annotations.replace(id=b.annotations.id).differences(b.annotations, atol)
    assert diff == [], diff


def label_files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and p.suffix in (".txt", ".yaml", ".names", ".data")}
