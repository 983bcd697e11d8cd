"""Small synthetic datasets with real image files for the transform tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

import visionflow as vf


def photo(rng: np.random.Generator, w: int, h: int) -> np.ndarray:
    """Smooth gradients plus a few blobs and mild noise: compresses like a photo."""
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    img = np.stack([xs / w * 200, ys / h * 200, (xs + ys) / (w + h) * 255], -1)
    for _ in range(4):
        cx, cy, r = rng.uniform(0, w), rng.uniform(0, h), rng.uniform(5, max(6, min(w, h) / 4))
        img[(xs - cx) ** 2 + (ys - cy) ** 2 < r * r] = rng.uniform(0, 255, 3)
    img += rng.normal(0, 6, img.shape)
    return np.clip(img, 0, 255).astype(np.uint8)


def dataset(root: Path, n: int = 6, *, size=(96, 72), splits=("train", "train", "val"),
            suffix: str = ".jpg", seed: int = 0) -> vf.Dataset:
    rng = np.random.default_rng(seed)
    w, h = size
    names, paths, split_col = [], [], []
    anns = []
    for i in range(n):
        split = splits[i % len(splits)]
        name = f"img_{i:03d}{suffix}"
        p = root / "src" / split / name
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(photo(rng, w, h)).save(p)
        names.append(name)
        paths.append(str(p))
        split_col.append(split)
        for k in range(i % 3 + 1):
            x0, y0 = rng.uniform(0, w - 30), rng.uniform(0, h - 30)
            bw, bh = rng.uniform(8, 28), rng.uniform(8, 28)
            ring = np.array([[x0, y0], [x0 + bw, y0], [x0 + bw, y0 + bh], [x0, y0 + bh]])
            kp = np.array([[x0 + 2, y0 + 2, 2], [x0 + bw - 2, y0 + 2, 2]])
            anns.append((i, 1 + (i + k) % 2, [x0, y0, x0 + bw, y0 + bh], ring, kp))
    ann = vf.Annotations.build([a[0] for a in anns], [a[1] for a in anns], [a[2] for a in anns],
                               polygons=vf.Polygons.from_lists([[a[3]] for a in anns]),
                               keypoints=np.array([a[4] for a in anns], float))
    cats = vf.Categories([vf.Category(1, "cat", keypoints=("left_ear", "right_ear")),
                          vf.Category(2, "dog", keypoints=("left_ear", "right_ear"))])
    images = vf.Images.build(names, [w] * n, [h] * n, split=split_col, path=paths)
    return vf.Dataset(images, ann, cats, {"source_format": "coco"})


def tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}
