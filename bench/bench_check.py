"""Benchmark `visionflow check`: a 50,000-image / ~350,000-box COCO dataset of real, distinct
small JPEG files, checked annotations-only, with image headers, and fully (headers + SHA-256 +
dHash); plus the annotation-only checks on 1,000,000 boxes in memory.

    python bench/bench_check.py [--images 50000] [--out bench/data/check] [--million]
                                [--workers N] [--results bench/results/check.json]

The dataset is generated once (OUT/<images>/DONE marks it complete): COCO standard layout,
train 80% / val 20%, 80 COCO classes with Zipf frequencies, ~6% images without boxes, ~7 boxes
per image, JPEGs of 320x240, 240x320 and 320x180 pixels, each of distinct random content. A
few defects are planted (boxes outside the image, duplicate boxes, val copies of train
images, truncated files) so the findings are realistic; their counts are checked.

Each timing is one run in this process (page cache warm: the images were just written or
read); `--cold` tries to drop the page cache first (needs root) before the full check. CPU
seconds (this process and its worker processes) are recorded beside wall seconds: on a
machine shared with other work, cpu / cores bounds what the wall time would be alone.
Targets from issue 4: full check of 50k images < 30 s, annotation-only 1M boxes < 3 s.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

SIZES = [(320, 240), (240, 320), (320, 180)]
N_CLASSES = 80


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, default=50_000)
    ap.add_argument("--out", type=Path, default=Path("bench/data/check"))
    ap.add_argument("--results", type=Path, default=Path("bench/results/check.json"))
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--million", action="store_true",
                    help="also time the annotation-only checks on 1,000,000 boxes in memory")
    ap.add_argument("--cold", action="store_true",
                    help="drop the page cache before the full check (root only)")
    args = ap.parse_args(argv)

    import visionflow as vf
    from visionflow.checks import CheckConfig, check, check_path
    from visionflow.checks.distribution import statistics

    root = args.out / str(args.images)
    t0 = time.perf_counter()
    planted = generate(root, args.images, args.seed)
    gen_s = time.perf_counter() - t0
    results: dict = {"images": args.images, "generate_s": round(gen_s, 2),
                     "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "platform": platform.platform()},
                     "planted": planted}

    def timed(name, fn):
        c = _cpu_seconds()
        t = time.perf_counter()
        out = fn()
        results[name] = round(time.perf_counter() - t, 3)
        cpu = round(_cpu_seconds() - c, 3)
        results[name[:-2] + "_cpu_s"] = cpu
        print(f"{name:34} {results[name]:8.2f} s wall {cpu:8.2f} s cpu (this process and its "
              "workers)", flush=True)
        return out

    results["load_average_before"] = os.getloadavg()

    report = vf.Report()
    ds = timed("load_lenient_s", lambda: vf.load(root, errors="keep", report=report))
    results["boxes"] = len(ds.annotations)
    print(f"dataset: {len(ds.images)} images, {len(ds.annotations)} boxes")
    cfg = CheckConfig(workers=args.workers)
    timed("annotation_checks_s", lambda: check(ds, cfg.replace(read_images=False)))
    timed("statistics_s", lambda: statistics(ds, cfg))
    timed("header_checks_s", lambda: check(ds, cfg.replace(hash_images=False)))
    if args.cold:
        results["cold_cache"] = _drop_caches()
    full = timed("check_path_full_s", lambda: check_path(root, cfg))
    codes = full.codes()
    results["findings"] = codes
    results["counts"] = full.counts()
    expect = {"box.out_of_bounds": planted["out_of_bounds"],
              "box.duplicate": planted["duplicate_boxes"],
              "split.leakage": planted["leaked_images"],
              "image.truncated": planted["truncated"]}
    # random boxes may coincide too (a real duplicate): at least the planted ones
    results["planted_found"] = {k: codes.get(k, 0) >= v for k, v in expect.items()}
    from visionflow.checks.report_html import render_html
    timed("html_report_s", lambda: render_html(full))

    if args.million:
        big = million_boxes(args.seed)
        print(f"in memory: {len(big.images)} images, {len(big.annotations)} boxes")
        results["million_boxes"] = len(big.annotations)
        timed("million_annotation_checks_s", lambda: check(big, read_images=False))
        timed("million_statistics_s", lambda: statistics(big))

    results["load_average_after"] = os.getloadavg()
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(results, indent=2) + "\n")
    print(f"wrote {args.results}")
    ok = all(results["planted_found"].values())
    if not ok:
        print(f"planted defects not found as expected: {results['planted_found']} vs {codes}",
              file=sys.stderr)
    return 0 if ok else 1


# --- data ------------------------------------------------------------------------------------

def generate(root: Path, n_images: int, seed: int) -> dict:
    """Write the dataset (once); returns the planted defect counts."""
    done = root / "DONE"
    if done.exists():
        return json.loads(done.read_text())
    rng = np.random.default_rng(seed)
    split = np.where(rng.random(n_images) < 0.8, "train", "val")
    size_idx = rng.integers(0, len(SIZES), n_images)
    wh = np.array(SIZES)[size_idx]
    zipf = 1.0 / np.arange(1, N_CLASSES + 1) ** 1.1
    zipf /= zipf.sum()
    ids = [c for c in range(1, 91) if c not in (12, 26, 29, 30, 45, 66, 68, 69, 71, 83)]
    names = [f"class_{c}" for c in ids]
    n_boxes = np.where(rng.random(n_images) < 0.06, 0, rng.poisson(7.4, n_images))

    docs = {s: {"images": [], "annotations": [], "categories": [
        {"id": c, "name": n, "supercategory": "thing"} for c, n in zip(ids, names)]}
        for s in ("train", "val")}
    jobs = []
    ann_id = 1
    planted = {"out_of_bounds": 0, "duplicate_boxes": 0, "leaked_images": 0, "truncated": 0}
    for i in range(n_images):
        w, h = (int(v) for v in wh[i])
        s = str(split[i])
        name = f"{i:012d}.jpg"
        docs[s]["images"].append({"id": i + 1, "file_name": name, "width": w, "height": h})
        jobs.append((str(root / "images" / s / name), w, h, seed * 1_000_003 + i))
        k = int(n_boxes[i])
        bw = rng.uniform(0.05, 0.5, k) * w
        bh = rng.uniform(0.05, 0.5, k) * h
        x = rng.uniform(0, 1, k) * (w - bw)
        y = rng.uniform(0, 1, k) * (h - bh)
        cats = rng.choice(ids, k, p=zipf)
        for j in range(k):
            docs[s]["annotations"].append({
                "id": ann_id, "image_id": i + 1, "category_id": int(cats[j]),
                "bbox": [round(float(x[j]), 2), round(float(y[j]), 2), round(float(bw[j]), 2),
                         round(float(bh[j]), 2)], "area": round(float(bw[j] * bh[j]), 2),
                "iscrowd": 0, "segmentation": []})
            ann_id += 1
    # planted defects, a few per ten thousand
    train_anns = docs["train"]["annotations"]
    pick = rng.permutation(len(train_anns))
    for k in pick[:40]:
        train_anns[k]["bbox"][0] += 400  # far past the right edge
        planted["out_of_bounds"] += 1
    for k in pick[40:70]:
        a = train_anns[k]
        train_anns.append({**a, "id": ann_id, "bbox": list(a["bbox"])})
        ann_id += 1
        planted["duplicate_boxes"] += 1
    (root / "images" / "train").mkdir(parents=True, exist_ok=True)
    (root / "images" / "val").mkdir(parents=True, exist_ok=True)
    t = time.perf_counter()
    with ProcessPoolExecutor(os.cpu_count() or 1) as pool:
        for start in range(0, len(jobs), 2000):
            list(pool.map(_write_jpeg, jobs[start:start + 2000], chunksize=100))
            print(f"  images {min(start + 2000, len(jobs))}/{len(jobs)} "
                  f"({time.perf_counter() - t:.0f} s)", end="\r", flush=True)
    print()
    val_images = docs["val"]["images"]
    train_images = docs["train"]["images"]
    for k in range(20):  # val images replaced by byte copies of train images: leakage
        dst = val_images[k * 11]
        src = next(t for t in train_images[k * 7:]
                   if (t["width"], t["height"]) == (dst["width"], dst["height"]))
        data = (root / "images" / "train" / src["file_name"]).read_bytes()
        (root / "images" / "val" / dst["file_name"]).write_bytes(data)
        planted["leaked_images"] += 1
    for k in range(5):  # truncated files
        im = train_images[1000 + k * 13]
        path = root / "images" / "train" / im["file_name"]
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
        planted["truncated"] += 1
    (root / "annotations").mkdir(parents=True, exist_ok=True)
    for s, doc in docs.items():
        (root / "annotations" / f"instances_{s}.json").write_text(json.dumps(doc))
    done.write_text(json.dumps(planted))
    return planted


def _write_jpeg(job) -> None:
    from PIL import Image
    path, w, h, seed = job
    rng = np.random.default_rng(seed)
    grid = rng.integers(0, 256, (6, 8, 3), dtype=np.uint8)
    im = Image.fromarray(grid).resize((w, h), Image.Resampling.BILINEAR)
    buf = io.BytesIO()
    im.save(buf, "JPEG", quality=85)
    Path(path).write_bytes(buf.getvalue())


def million_boxes(seed: int, n_boxes: int = 1_000_000, per_image: int = 7):
    """A Dataset of 1M boxes in memory (no files): what the annotation-only checks get."""
    import visionflow as vf
    rng = np.random.default_rng(seed)
    n_images = n_boxes // per_image
    w = rng.choice([640, 480, 1280], n_images)
    h = rng.choice([480, 640, 720], n_images)
    images = vf.Images.build([f"{i}.jpg" for i in range(n_images)], w, h,
                             split=np.where(rng.random(n_images) < 0.8, "train", "val").tolist())
    img = np.sort(rng.integers(0, n_images, n_boxes))
    bw = rng.uniform(0.03, 0.4, n_boxes) * w[img]
    bh = np.minimum(bw * np.exp(rng.normal(0, 0.5, n_boxes)), 0.9 * h[img])
    x = rng.uniform(0, 1, n_boxes) * (w[img] - bw)
    y = rng.uniform(0, 1, n_boxes) * (h[img] - bh)
    boxes = np.stack([x, y, x + bw, y + bh], axis=1)
    zipf = 1.0 / np.arange(1, N_CLASSES + 1) ** 1.1
    cats = rng.choice(np.arange(1, N_CLASSES + 1), n_boxes, p=zipf / zipf.sum())
    ann = vf.Annotations.build(img, cats, boxes)
    return vf.Dataset(images, ann, vf.Categories.from_names(
        [f"class_{c}" for c in range(1, N_CLASSES + 1)]))


def _cpu_seconds() -> float:
    """User + system CPU seconds of this process and of its finished child processes."""
    import resource
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def _drop_caches() -> bool:
    try:
        os.sync()
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


if __name__ == "__main__":
    sys.exit(main())
