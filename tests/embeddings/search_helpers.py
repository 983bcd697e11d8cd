"""Deterministic embedders and a dataset with planted near-copies, for the search, sample and
map tests (no model weights: the numbers follow from the pixels alone)."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import orjson
from PIL import Image, ImageEnhance

from visionflow.core.dataset import Dataset
from visionflow.core.errors import Error
from visionflow.embeddings.base import EmbedderInfo, Embeddings
from visionflow.io.images import load_rgb

COLOURS = {"red": (1.0, 0.0, 0.0), "green": (0.0, 1.0, 0.0), "blue": (0.0, 0.0, 1.0)}


class ThumbEmbedder:
    """An 8x6 RGB thumbnail, centred and L2-normalised: near-copies stay near."""

    info = EmbedderInfo("test:thumb", "vector", 144, {"size": [8, 6]})

    def embed_images(self, images):
        rows = []
        for im in images:
            v = np.asarray(im.convert("RGB").resize((8, 6), Image.Resampling.BILINEAR),
                           np.float32).reshape(-1)
            v = v - v.mean()
            rows.append(v / (np.linalg.norm(v) or 1.0))
        return np.stack(rows).astype(np.float32)

    def embed_texts(self, texts):
        raise Error("test:thumb embeds images only")


class ColourEmbedder:
    """Mean colour, normalised; the texts 'red', 'green', 'blue' embed as pure colours."""

    info = EmbedderInfo("test:colour", "vector", 3, {}, text=True)

    def embed_images(self, images):
        v = np.stack([np.asarray(im.convert("RGB"), np.float64).reshape(-1, 3).mean(axis=0)
                      for im in images])
        return (v / np.linalg.norm(v, axis=1, keepdims=True)).astype(np.float32)

    def embed_texts(self, texts):
        return np.array([COLOURS[t] for t in texts], np.float32)


def embeddings_of(ds: Dataset, embedder, *, patches: bool = False) -> Embeddings:
    """What `embed` returns: one row per image, then one per object crop with patches."""
    vecs, img_rows, obj_rows, shas = [], [], [], []
    ann = ds.annotations
    for row, path in enumerate(ds.images.path.tolist()):
        image = load_rgb(path)
        sha = hashlib.sha256(Path(path).read_bytes()).hexdigest()
        vecs.append(embedder.embed_images([image])[0])
        img_rows.append(row)
        obj_rows.append(-1)
        shas.append(sha)
        if patches:
            for j in np.flatnonzero(ann.image_index == row).tolist():
                box = tuple(int(round(v)) for v in ann.xyxy[j])
                vecs.append(embedder.embed_images([image.crop(box)])[0])
                img_rows.append(row)
                obj_rows.append(j)
                shas.append(sha)
    return Embeddings(embedder.info, np.stack(vecs), np.array(img_rows, np.int64),
                      np.array(obj_rows, np.int64), np.array(shas, dtype=object))


def base_image(i: int, size=(64, 48)) -> Image.Image:
    """A distinct image per i: random colour blocks, smoothly upsampled."""
    rng = np.random.default_rng(1000 + i)
    blocks = rng.integers(0, 256, (3, 4, 3), dtype=np.uint8)
    return Image.fromarray(blocks).resize(size, Image.Resampling.BILINEAR)


def altered(image: Image.Image, j: int) -> Image.Image:
    """A near-copy: brightened a little, cropped by two pixels and resized back."""
    w, h = image.size
    out = ImageEnhance.Brightness(image).enhance(1.0 + 0.04 * (j + 1))
    return out.crop((j + 1, j + 1, w - j - 1, h - j - 1)).resize((w, h))


def write_planted(root: Path, n_base: int = 6, copies: int = 2,
                  colour: dict[int, tuple[int, int, int]] | None = None) -> Path:
    """A COCO dataset: base_i.png and its `copies` near-copies base_i_copyj.png, one box each
    (class c<i % 3>), split train/val alternately. colour: base i as a flat colour instead."""
    root.mkdir(parents=True, exist_ok=True)
    images, anns = [], []
    for i in range(n_base):
        base = (Image.new("RGB", (64, 48), colour[i]) if colour and i in colour
                else base_image(i))
        for j in range(-1, copies):
            name = f"base_{i}.png" if j < 0 else f"base_{i}_copy{j}.png"
            (base if j < 0 else altered(base, j)).save(root / name)
            image_id = len(images) + 1
            images.append({"id": image_id, "file_name": name, "width": 64, "height": 48})
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": i % 3 + 1,
                         "bbox": [4 + i, 4, 30, 20], "area": 600, "iscrowd": 0})
    cats = [{"id": k + 1, "name": f"c{k}"} for k in range(3)]
    (root / "annotations.json").write_bytes(orjson.dumps(
        {"images": images, "annotations": anns, "categories": cats}))
    return root / "annotations.json"
