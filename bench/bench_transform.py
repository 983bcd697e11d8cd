"""Benchmark `visionflow transform`: images per second per core for resize-640 plus three
augmentations (flip, rotate, brightness) on real-size JPEGs, against the floor of decode +
encode alone, and the scaling from one process to two.

    python bench/bench_transform.py [--images 1000] [--size 1600x1200] [--out bench/data/transform]
                                    [--results bench/results/transform.json]

The JPEGs are generated once (OUT/<images>_<size>/DONE marks them complete): crops of
scikit-image's sample photos (astronaut, coffee, chelsea, rocket, ...) scaled to the size,
mirrored and tinted at random, saved at quality 90 with ~7 boxes each. Timings (one run each,
page cache warm, output written to disk like a real run):

- floor_full: decode each JPEG fully (Pillow, libjpeg-turbo) + encode a 640x640 JPEG at the
  recipe's quality: the work any tool must do, without resize or augmentation.
- floor_draft: the same with Pillow's DCT-domain reduced decoding (draft) to >= 640 px: the
  floor of a pipeline that knows the output is smaller, as ours does.
- pipeline_1: visionflow.transforms.run, 1 process, resize 640x640 + 3 augmentations
  (annotations moved too); pipeline_2: the same with 2 worker processes.
Target (issue 5): pipeline_1 >= 70% of the floor.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import shutil
import sys
import time
from pathlib import Path

import numpy as np

RECIPE = {
    "preprocess": [{"resize": {"size": [640, 640], "mode": "stretch"}}],
    "augment": {"copies": 1, "splits": ["train"], "ops": [
        {"flip": {"direction": "horizontal", "p": 0.5}},
        {"rotate": {"limit": 15}},
        {"brightness": {"limit": 0.2}}]},
}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=1000)
    ap.add_argument("--size", default="1600x1200", help="WIDTHxHEIGHT of the generated JPEGs")
    ap.add_argument("--out", type=Path, default=Path("bench/data/transform"))
    ap.add_argument("--results", type=Path, default=Path("bench/results/transform.json"))
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    w, h = (int(x) for x in args.size.lower().split("x"))

    import visionflow as vf
    from visionflow.transforms import Recipe, run

    root = args.out / f"{args.images}_{w}x{h}"
    t0 = time.perf_counter()
    ds = generate(root, args.images, (w, h), args.seed)
    gen_s = time.perf_counter() - t0
    recipe = Recipe.load(RECIPE)
    quality = recipe.jpeg_quality
    n = len(ds.images)
    results: dict = {"images": n, "size": [w, h], "generate_s": round(gen_s, 2),
                     "recipe": recipe.to_dict(),
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "pillow": __import__("PIL").__version__,
                                 "libjpeg_turbo": _turbo()}}
    paths = ds.images.path.tolist()
    _read_all(paths)  # warm the page cache for everyone alike

    timings = {}
    for name, draft in (("floor_full", False), ("floor_draft", True)):
        out = root.parent / f"_floor_{name}"
        shutil.rmtree(out, ignore_errors=True)
        out.mkdir(parents=True)
        t = time.perf_counter()
        for i, p in enumerate(paths):
            _floor_one(p, out / f"{i}.jpg", quality, draft)
        timings[name] = time.perf_counter() - t
        shutil.rmtree(out, ignore_errors=True)
    for workers in (1, 2):
        out = root.parent / f"_run_{workers}"
        shutil.rmtree(out, ignore_errors=True)
        t = time.perf_counter()
        res = run(ds, recipe, out, seed=0, workers=workers)
        timings[f"pipeline_{workers}"] = time.perf_counter() - t
        assert len(res.images) == n, (len(res.images), n)
        shutil.rmtree(out, ignore_errors=True)

    rate = {k: n / v for k, v in timings.items()}
    results["seconds"] = {k: round(v, 3) for k, v in timings.items()}
    results["images_per_s"] = {k: round(v, 1) for k, v in rate.items()}
    results["per_core_vs_floor_full"] = round(rate["pipeline_1"] / rate["floor_full"], 3)
    results["per_core_vs_floor_draft"] = round(rate["pipeline_1"] / rate["floor_draft"], 3)
    results["scaling_1_to_2"] = round(rate["pipeline_2"] / rate["pipeline_1"], 3)
    results["target_met"] = results["per_core_vs_floor_full"] >= 0.7
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    json.dump(results, sys.stdout, indent=2)
    sys.stdout.write("\n")
    return 0


def _turbo() -> bool | None:
    try:
        from PIL import features
        return bool(features.check_feature("libjpeg_turbo"))
    except Exception:  # noqa: BLE001
        return None


def _read_all(paths: list[str]) -> None:
    for p in paths:
        with open(p, "rb") as f:
            f.read()


def _floor_one(src: str, dst: Path, quality: int, draft: bool) -> None:
    from PIL import Image
    with Image.open(src) as im:
        if draft:
            im.draft("RGB", (640, 640))
        im = im.convert("RGB")
    # encode an output of the same size as the pipeline's, taken without resampling
    out = im.crop((0, 0, 640, 640))
    buf = io.BytesIO()
    out.save(buf, "JPEG", quality=quality, subsampling=2, optimize=False, progressive=False)
    dst.write_bytes(buf.getvalue())


def generate(root: Path, n: int, size: tuple[int, int], seed: int):
    """n photo-like JPEGs of `size` and a dataset over them (split train)."""
    import visionflow as vf
    w, h = size
    rng = np.random.default_rng(seed)
    names = [f"img_{i:05d}.jpg" for i in range(n)]
    if not (root / "DONE").exists():
        from PIL import Image
        from skimage import data as skdata
        shutil.rmtree(root, ignore_errors=True)
        (root / "images").mkdir(parents=True)
        sources = [getattr(skdata, k)() for k in ("astronaut", "coffee", "chelsea", "rocket",
                                                   "immunohistochemistry", "retina")]
        sources = [s if s.ndim == 3 else np.stack([s] * 3, -1) for s in sources]
        sources = [Image.fromarray(np.ascontiguousarray(s[..., :3])) for s in sources]
        for i, name in enumerate(names):
            src = sources[i % len(sources)]
            sw, sh = src.size
            cw, ch = int(sw * rng.uniform(0.6, 1.0)), int(sh * rng.uniform(0.6, 1.0))
            x0, y0 = int(rng.integers(0, sw - cw + 1)), int(rng.integers(0, sh - ch + 1))
            im = src.crop((x0, y0, x0 + cw, y0 + ch)).resize((w, h), Image.Resampling.BILINEAR)
            arr = np.asarray(im).astype(np.int16)
            arr = arr + rng.integers(-20, 21, 3) + rng.normal(0, 3, arr.shape).astype(np.int16)
            if rng.random() < 0.5:
                arr = arr[:, ::-1]
            Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8)).save(root / "images" / name,
                                                                         quality=90)
        (root / "DONE").write_text("ok\n")
    rng = np.random.default_rng(seed + 1)
    rows, boxes = [], []
    for i in range(n):
        for _ in range(int(rng.integers(3, 12))):
            x0, y0 = rng.uniform(0, w - 100), rng.uniform(0, h - 100)
            bw, bh = rng.uniform(20, 300), rng.uniform(20, 300)
            rows.append(i)
            boxes.append([x0, y0, min(w, x0 + bw), min(h, y0 + bh)])
    ann = vf.Annotations.build(rows, rng.integers(1, 4, len(rows)), boxes)
    images = vf.Images.build(names, [w] * n, [h] * n, split="train",
                             path=[str((root / "images" / nm).absolute()) for nm in names])
    return vf.Dataset(images, ann, vf.Categories.from_names(["a", "b", "c"]))


if __name__ == "__main__":
    raise SystemExit(main())
