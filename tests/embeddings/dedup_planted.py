"""Real photos with planted near-duplicates for the dedup tests: originals stay where they are
(read, never copied into the repository), copies are written under a temporary folder.

Copies are what a scraped dataset holds: resized, re-encoded at low JPEG quality, cropped a
little (1-2% off each side), brightened or darkened, or several of these at once.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

from visionflow.core.annotations import Annotations
from visionflow.core.categories import Categories
from visionflow.core.dataset import Dataset
from visionflow.core.images import Images

from ..conftest import SHARED

# scikit-image's own photos (always installed with the test extras); 'cat' is 'chelsea' again
SKIMAGE = ["astronaut", "coffee", "chelsea", "rocket", "hubble_deep_field", "camera",
           "immunohistochemistry", "retina", "horse", "brick", "grass", "gravel", "page",
           "text", "moon", "colorwheel", "coins", "clock", "microaneurysms"]

# texture samples get no planted copy: a crop of a periodic texture (a brick wall) is another
# view of it, and pHash sees it so (the combined copy of 'brick' sits 20 bits away); they
# stay in as distinct images
TEXTURES = {"brick", "grass", "gravel"}

# duplicates the source datasets already hold (checked by eye): re-saved copies, a copy with
# a caption added, two pairs of blood smear frames panned by a few cells
KNOWN = [("raccoon-11.jpg", "raccoon-116.jpg"), ("raccoon-120.jpg", "raccoon-83.jpg"),
         ("raccoon-21.jpg", "raccoon-45.jpg"), ("raccoon-50.jpg", "raccoon-52.jpg"),
         ("raccoon-50.jpg", "raccoon-74.jpg"), ("raccoon-51.jpg", "raccoon-85.jpg"),
         ("raccoon-65.jpg", "raccoon-98.jpg"), ("BloodImage_00037.jpg", "BloodImage_00038.jpg"),
         ("BloodImage_00386.jpg", "BloodImage_00391.jpg")]


def skimage_photos(folder: Path) -> list[Path]:
    """scikit-image's sample photos written as JPEG files (they ship as arrays)."""
    from skimage import data
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in SKIMAGE:
        p = folder / f"{name}.jpg"
        Image.fromarray(getattr(data, name)()).convert("RGB").save(p, quality=95)
        out.append(p)
    return out


def real_photos(tmp: Path, *, shared: bool = True) -> list[Path]:
    """scikit-image photos, plus raccoon and BCCD when ../shared/datasets is present."""
    paths = skimage_photos(tmp / "skimage")
    if shared and SHARED.is_dir():
        paths += sorted((SHARED / "raccoon" / "images").glob("*.jpg"))
        paths += sorted((SHARED / "bccd" / "BCCD" / "JPEGImages").glob("*.jpg"))
    return paths


def _jpeg(im: Image.Image, quality: int) -> Image.Image:
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=quality)
    return Image.open(io.BytesIO(buf.getvalue())).convert("RGB")


def plant(im: Image.Image, kind: str, rng: np.random.Generator) -> Image.Image:
    """One planted copy of `im`."""
    w, h = im.size
    if kind == "resize":
        f = rng.uniform(0.4, 0.8)
        return im.resize((max(16, round(w * f)), max(16, round(h * f))), Image.Resampling.BILINEAR)
    if kind == "jpeg":
        return _jpeg(im, int(rng.integers(10, 30)))
    if kind == "crop":
        f = rng.uniform(0.01, 0.02)
        return im.crop((round(w * f), round(h * f), w - round(w * f), h - round(h * f)))
    if kind == "bright":
        return ImageEnhance.Brightness(im).enhance(float(rng.choice([0.8, 1.15, 1.25])))
    if kind == "combo":
        out = plant(plant(im, "crop", rng), "bright", rng)
        return _jpeg(plant(out, "resize", rng), 40)
    raise ValueError(kind)


KINDS = ("resize", "jpeg", "crop", "bright", "combo")


def planted_dataset(originals: list[Path], tmp: Path, *, every: int = 2, seed: int = 0
                    ) -> tuple[Dataset, list[tuple[int, int]]]:
    """(dataset of the originals then their copies, planted (original row, copy row) pairs).
    Every `every`-th original (textures apart) gets one copy, the kinds in turn."""
    rng = np.random.default_rng(seed)
    folder = tmp / "copies"
    folder.mkdir(parents=True, exist_ok=True)
    names, paths, sizes, pairs = [], [], [], []
    for p in originals:
        with Image.open(p) as im:
            sizes.append(im.size)
        names.append(p.name)
        paths.append(str(p))
    rows = [r for r in range(0, len(originals), every) if originals[r].stem not in TEXTURES]
    for k, row in enumerate(rows):
        src = originals[row]
        with Image.open(src) as im:
            copy = plant(im.convert("RGB"), KINDS[k % len(KINDS)], rng)
        out = folder / f"copy-{k:04d}-{KINDS[k % len(KINDS)]}.jpg"
        copy.save(out, quality=92)
        pairs.append((row, len(names)))
        names.append(out.name)
        paths.append(str(out))
        sizes.append(copy.size)
    images = Images.build(names, [s[0] for s in sizes], [s[1] for s in sizes], path=paths)
    return Dataset(images, Annotations.empty(), Categories()), pairs


def truth_labels(ds: Dataset, planted: list[tuple[int, int]]) -> np.ndarray:
    """Group label per image: planted copies and the sources' own duplicates together."""
    from visionflow.embeddings.dedup import UnionFind
    uf = UnionFind(len(ds.images))
    row = {n: i for i, n in enumerate(ds.images.file_name.tolist())}
    known = [(row[a], row[b]) for a, b in KNOWN if a in row and b in row]
    both = planted + known
    if both:
        uf.union(np.array([p[0] for p in both]), np.array([p[1] for p in both]))
    return uf.labels()


def pair_scores(groups: list[list[int]], truth: np.ndarray) -> tuple[float, float, int, int]:
    """(precision, recall, false pairs, missed pairs) over the pairs of images put together."""
    found = {(min(a, b), max(a, b)) for g in groups for i, a in enumerate(g) for b in g[i + 1:]}
    n = len(truth)
    true = set()
    for label in np.unique(truth):
        members = np.flatnonzero(truth == label).tolist()
        true |= {(a, b) for i, a in enumerate(members) for b in members[i + 1:]}
    hit = len(found & true)
    precision = hit / len(found) if found else 1.0
    recall = hit / len(true) if true else 1.0
    del n
    return precision, recall, len(found - true), len(true - found)
