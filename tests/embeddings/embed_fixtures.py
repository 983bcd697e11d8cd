"""Datasets of real photos and deterministic embedders that count their work, for the tests of
`embed` (local, Ray, CLI)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson
import pytest
from PIL import Image

from visionflow.core.errors import Error
from visionflow.embeddings.base import EmbedderInfo

SAMPLES = ("astronaut", "coffee", "chelsea", "rocket", "camera", "hubble_deep_field")


class CountingEmbedder:
    """Deterministic: each image shrunk to 4x4 (box filter), RGB values centred and
    normalised (48 dims). Counts calls and images, so a test sees what was computed."""

    def __init__(self, tag: str = "a", fail_after: int | None = None):
        self.info = EmbedderInfo(f"test:count-{tag}", "vector", 48, {"grid": 4})
        self.calls = 0
        self.images = 0
        self.fail_after = fail_after  # raise KeyboardInterrupt on that call (a Ctrl-C)

    def embed_images(self, images):
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt
        self.calls += 1
        self.images += len(images)
        return rows_of(images)

    def embed_texts(self, texts):
        raise Error("test:count embeds images only")


def rows_of(images) -> np.ndarray:
    out = []
    for im in images:
        v = np.asarray(im.convert("RGB").resize((4, 4), Image.Resampling.BOX),
                       np.float32).reshape(-1)
        v = v - v.mean()
        out.append(v / (np.linalg.norm(v) or 1.0))
    return np.stack(out).astype(np.float32) if out else np.zeros((0, 48), np.float32)


def photo(name: str, size: tuple[int, int] | None = None) -> Image.Image:
    data = pytest.importorskip("skimage.data", reason="scikit-image is not installed")
    im = Image.fromarray(getattr(data, name)()).convert("RGB")
    return im.resize(size) if size else im


def write_photos(root: Path, n: int = 6, *, suffix: str = ".png",
                 boxes: dict[int, list[list[float]]] | None = None) -> Path:
    """A COCO dataset of n scikit-image photos (shrunk, so tests stay fast) with one box each
    unless `boxes` gives an image's boxes (COCO xywh); returns the annotation file."""
    root.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(n):
        im = photo(SAMPLES[i % len(SAMPLES)])
        im = im.resize((96 + 8 * i, 64 + 4 * (i % 3)))
        name = f"img{i}{suffix}"
        im.save(root / name)
        images.append({"id": i + 1, "file_name": name, "width": im.width, "height": im.height})
        for b in (boxes or {}).get(i, [[10 + i, 8, 40, 30]]):
            anns.append({"id": len(anns) + 1, "image_id": i + 1, "category_id": 1 + i % 2,
                         "bbox": b, "area": b[2] * b[3], "iscrowd": 0})
    cats = [{"id": 1, "name": "a"}, {"id": 2, "name": "b"}]
    (root / "annotations.json").write_bytes(orjson.dumps(
        {"images": images, "annotations": anns, "categories": cats}))
    return root / "annotations.json"
