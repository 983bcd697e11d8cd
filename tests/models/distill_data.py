"""A learnable synthetic detection set for the distill tests: red and blue squares of random
size and place on grey noise, split train/val, written as PNG files in a folder."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

import visionflow as vf
from visionflow.core.annotations import Annotations

COLOURS = ((220, 40, 40), (40, 60, 220))


def squares(folder: Path, n_train: int = 40, n_val: int = 12, size: int = 96,
            seed: int = 0) -> vf.Dataset:
    rng = np.random.default_rng(seed)
    names, splits, paths, rows, cats, boxes = [], [], [], [], [], []
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n_train + n_val):
        img = rng.integers(90, 140, (size, size, 3)).astype(np.uint8)
        for _ in range(int(rng.integers(1, 3))):
            s = int(rng.integers(size // 6, size // 3))
            x, y = (int(v) for v in rng.integers(0, size - s, 2))
            c = int(rng.integers(0, 2))
            img[y:y + s, x:x + s] = COLOURS[c]
            rows.append(i)
            cats.append(c + 1)
            boxes.append([x, y, x + s, y + s])
        name = f"img{i:03d}.png"
        Image.fromarray(img).save(folder / name)
        names.append(name)
        paths.append(str(folder / name))
        splits.append("train" if i < n_train else "val")
    images = vf.Images.build(names, [size] * len(names), [size] * len(names), split=splits,
                             path=paths)
    return vf.Dataset(images, Annotations.build(rows, cats, np.array(boxes, float)),
                      vf.Categories.from_names(["red", "blue"]))
