"""Generate a YOLO dataset of N real-photo images with planted near-duplicates, for dedup.

    python bench/gen_near_dups.py N OUT --seed S [--dup-rate 0.1] [--size 160x120]
                                  [--workers K] [--no-shared] [--truth PATH] [--verify 20000]

N is the number of image files written. `round(N * dup-rate)` of them are planted near-duplicates
of other images (about 15% of the originals get two); the rest are distinct. A distinct image is
a mosaic of 4-6 tiles, each a random crop (random scale 0.4-3x, random flips) of a real photo
(scikit-image's sample photos, shipped in the package, plus the photos of ../shared/datasets
when present, unless --no-shared) with its own colour gain and brightness, on a random grid:
no two distinct images share content, so any group a dedup finds beyond the planted ones is a
false positive. A planted duplicate is its original re-rendered from the seed, then resized
(0.6-1.4x), cropped a little (<= 5% per side), brightened or darkened (0.8-1.2x), in some
combination (at least one of them), and always re-encoded at another JPEG quality.

Each mosaic tile is a box labelled with the photo family it came from (YOLO layout: data.yaml,
images/{train,val}, labels/{train,val}); a duplicate keeps the boxes still visible after its
crop and drops one of them half of the time, so `--keep most-labelled` keeps the original.

The ground truth goes to `OUT.truth.json` (beside OUT, so that it is never read as part of
the dataset): the planted groups as file paths relative to OUT, the original first, with
every duplicate's edit. Everything derives from the seed: the same N, seed, size and photo
pool give the same bytes. Images are written by a process pool in chunks, each worker
re-rendering what it needs from the seed, so memory does not grow with N (the plan is two
int arrays of N). `--verify K` computes 64-bit pHashes of up to K images and prints the
histogram of Hamming distances between distinct images and between planted pairs.
"""

from __future__ import annotations

import argparse
import io
import json
import math
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np
from PIL import Image, ImageEnhance

SHARED = Path(os.environ.get("VISIONFLOW_SHARED",
                             Path(__file__).resolve().parents[2] / "shared" / "datasets"))
# scikit-image sample photos (BSD licence, in the package): real photographs and micrographs;
# the drawn or binary samples (logo, horse, checkerboard, ...) are left out.
SKIMAGE_PHOTOS = ("astronaut", "brick", "camera", "cell", "chelsea", "clock", "coffee", "coins",
                  "grass", "gravel", "hubble_deep_field", "immunohistochemistry", "moon",
                  "retina", "rocket")
# photo folders of ../shared/datasets (real photos only; datumaro's fixtures are synthetic)
SHARED_FOLDERS = ("raccoon", "bccd", "roboflow-facemask-coco", "ultralytics-hub-datasets",
                  "sahi-tests", "label-studio-converter-tests")
MAX_SIDE = 320          # photos are kept at most this large in each worker
MAX_SHARED = 400        # photos taken from ../shared (evenly spaced over the sorted list)
ORIGINAL_QUALITY = 90
CHUNK = 250             # slots per worker task


# --- photo pool ---------------------------------------------------------------------------------

def photo_sources(use_shared: bool) -> list[tuple[str, str]]:
    """(family, source) of every photo in the pool, in a fixed order: 'skimage:<name>' or a
    path under ../shared/datasets. The family is the YOLO class of a tile cut from it."""
    out = [(name, f"skimage:{name}") for name in SKIMAGE_PHOTOS]
    if use_shared and SHARED.is_dir():
        found = []
        for folder in SHARED_FOLDERS:
            root = SHARED / folder
            if root.is_dir():
                found += [(folder, str(p)) for p in sorted(root.rglob("*"))
                          if p.suffix.lower() in (".jpg", ".jpeg", ".png") and p.is_file()]
        if len(found) > MAX_SHARED:
            found = [found[i] for i in np.linspace(0, len(found) - 1, MAX_SHARED).astype(int)]
        out += found
    return out


def _load_photo(source: str) -> np.ndarray | None:
    if source.startswith("skimage:"):
        import skimage.data
        arr = np.asarray(getattr(skimage.data, source.split(":", 1)[1])())
        im = Image.fromarray(arr if arr.dtype == np.uint8 else (arr * 255).astype(np.uint8))
    else:
        try:
            im = Image.open(source)
            im.load()
        except OSError:
            return None
    im = im.convert("RGB")
    if min(im.size) < 64:
        return None
    scale = MAX_SIDE / max(im.size)
    if scale < 1:
        im = im.resize((max(1, round(im.width * scale)), max(1, round(im.height * scale))),
                       Image.Resampling.BILINEAR)
    return np.asarray(im)


_POOL: list[tuple[int, np.ndarray]] = []   # (class index, RGB array), per worker process


def _init_worker(sources: list[tuple[str, str]], families: list[str]) -> None:
    _POOL.clear()
    for family, src in sources:
        arr = _load_photo(src)
        if arr is not None:
            _POOL.append((families.index(family), arr))


# --- rendering ----------------------------------------------------------------------------------

def _splits(rng: np.random.Generator, length: int, parts: int) -> list[int]:
    """Cut positions of `length` into `parts` pieces of random, comparable lengths."""
    cum = np.cumsum(rng.uniform(0.6, 1.4, parts))
    return [0] + [int(round(v)) for v in cum / cum[-1] * length]


def render(seed: int, slot: int, size: tuple[int, int]) -> tuple[Image.Image, list]:
    """The distinct image of `slot`: a mosaic of tiles, and its boxes (class, x0, y0, x1, y1)
    in pixels. Depends only on (seed, slot, size, photo pool)."""
    w, h = size
    rng = np.random.default_rng([seed, slot])
    cols, rows = [(2, 2), (3, 2), (2, 3), (3, 3)][rng.integers(4)]
    xs, ys = _splits(rng, w, cols), _splits(rng, h, rows)
    canvas = np.empty((h, w, 3), np.uint8)
    boxes = []
    for r in range(rows):
        for c in range(cols):
            x0, x1, y0, y1 = xs[c], xs[c + 1], ys[r], ys[r + 1]
            tw, th = x1 - x0, y1 - y0
            cls, photo = _POOL[rng.integers(len(_POOL))]
            ph, pw = photo.shape[:2]
            s = float(np.exp(rng.uniform(math.log(0.4), math.log(3.0))))
            cw, ch = min(pw, max(4, round(tw * s))), min(ph, max(4, round(th * s)))
            px, py = rng.integers(0, pw - cw + 1), rng.integers(0, ph - ch + 1)
            tile = Image.fromarray(photo[py:py + ch, px:px + cw]).resize(
                (tw, th), Image.Resampling.BILINEAR)
            t = np.asarray(tile, np.float32)
            if rng.random() < 0.5:
                t = t[:, ::-1]
            if rng.random() < 0.3:
                t = t[::-1]
            gain = rng.uniform(0.55, 1.45, 3) * rng.uniform(0.6, 1.4)
            t = t * gain + rng.uniform(-40, 40)
            canvas[y0:y1, x0:x1] = np.clip(t, 0, 255).astype(np.uint8)
            boxes.append((cls, x0, y0, x1, y1))
    return Image.fromarray(canvas), boxes


def variant_params(seed: int, slot: int) -> dict:
    """The edit that makes duplicate `slot` from its original: at least one of resize, crop,
    brightness, always a different JPEG quality."""
    rng = np.random.default_rng([seed, slot, 1])
    ops = [k for k in ("resize", "crop", "brightness") if rng.random() < 0.5]
    if not ops:
        ops = [("resize", "crop", "brightness")[rng.integers(3)]]
    p: dict = {"quality": int(rng.integers(40, 80))}
    if "resize" in ops:
        f = float(rng.uniform(0.6, 1.4))
        p["resize"] = [round(f, 4), round(f, 4)]
    if "crop" in ops:
        p["crop"] = [round(float(v), 4) for v in rng.uniform(0.0, 0.05, 4)]  # l, t, r, b
    if "brightness" in ops:
        b = float(rng.uniform(0.1, 0.2)) * (1 if rng.random() < 0.5 else -1)
        p["brightness"] = round(1 + b, 4)
    p["drop_box"] = bool(rng.random() < 0.5)
    return p


def apply_variant(im: Image.Image, boxes: list, p: dict, rng_seed: tuple) -> tuple[Image.Image,
                                                                                     list]:
    """Apply `variant_params` to an original; boxes follow the crop and resize."""
    w, h = im.size
    if "crop" in p:
        l, t, r, b = p["crop"]
        box = (round(l * w), round(t * h), w - round(r * w), h - round(b * h))
        im = im.crop(box)
        boxes = [(c, max(x0, box[0]) - box[0], max(y0, box[1]) - box[1],
                  min(x1, box[2]) - box[0], min(y1, box[3]) - box[1])
                 for c, x0, y0, x1, y1 in boxes]
        boxes = [bx for bx in boxes if bx[3] - bx[1] >= 2 and bx[4] - bx[2] >= 2]
    if "resize" in p:
        fx, fy = p["resize"]
        nw, nh = max(8, round(im.width * fx)), max(8, round(im.height * fy))
        sx, sy = nw / im.width, nh / im.height
        im = im.resize((nw, nh), Image.Resampling.LANCZOS)
        boxes = [(c, x0 * sx, y0 * sy, x1 * sx, y1 * sy) for c, x0, y0, x1, y1 in boxes]
    if "brightness" in p:
        im = ImageEnhance.Brightness(im).enhance(p["brightness"])
    if p["drop_box"] and len(boxes) > 1:
        rng = np.random.default_rng(list(rng_seed))
        boxes.pop(int(rng.integers(len(boxes))))
    return im, boxes


def _yolo_lines(boxes: list, w: int, h: int) -> str:
    return "".join(f"{c} {(x0 + x1) / 2 / w:.6f} {(y0 + y1) / 2 / h:.6f} {(x1 - x0) / w:.6f} "
                   f"{(y1 - y0) / h:.6f}\n" for c, x0, y0, x1, y1 in boxes)


def _write_chunk(job: tuple) -> int:
    """Render and write the slots of one chunk; returns bytes written."""
    out, seed, size, slots, origs, splits = job
    out = Path(out)
    written = 0
    for slot, orig, split in zip(slots, origs, splits):
        if orig < 0:
            im, boxes = render(seed, slot, size)
            quality = ORIGINAL_QUALITY
        else:
            im, boxes = render(seed, orig, size)
            p = variant_params(seed, slot)
            im, boxes = apply_variant(im, boxes, p, (seed, slot, 2))
            quality = p["quality"]
        buf = io.BytesIO()
        im.save(buf, "JPEG", quality=quality)
        name = file_stem(slot)
        (out / "images" / split / f"{name}.jpg").write_bytes(buf.getvalue())
        (out / "labels" / split / f"{name}.txt").write_text(
            _yolo_lines(boxes, im.width, im.height))
        written += buf.tell()
    return written


# --- plan ---------------------------------------------------------------------------------------

def file_stem(slot: int) -> str:
    return f"{slot:07d}"


def plan(n: int, seed: int, dup_rate: float) -> tuple[np.ndarray, np.ndarray]:
    """orig[k] = -1 for a distinct image, else the slot of its original; split[k] 0=train 1=val.
    Originals and duplicates are scattered over the slots (names say nothing)."""
    rng = np.random.default_rng([seed, 0x5EED])
    n_dup = int(round(n * dup_rate))
    n_groups = min(n - n_dup, int(math.ceil(n_dup / 1.15))) if n_dup else 0
    if n_dup and n_groups < 1:
        raise ValueError(f"--dup-rate {dup_rate} leaves no distinct images among {n}")
    perm = rng.permutation(n)
    orig = np.full(n, -1, np.int64)
    originals = perm[:n_groups]
    dups = perm[n_groups:n_groups + n_dup]
    orig[dups] = originals[np.arange(n_dup) % max(n_groups, 1)]
    split = (rng.random(n) < 0.1).astype(np.int8)
    return orig, split


def groups_of(orig: np.ndarray, split: np.ndarray) -> list[list[str]]:
    """Planted groups, each [original, duplicate, ...] as paths relative to OUT."""
    def rel(k: int) -> str:
        return f"images/{('train', 'val')[split[k]]}/{file_stem(k)}.jpg"
    by: dict[int, list[int]] = {}
    for k in np.flatnonzero(orig >= 0):
        by.setdefault(int(orig[k]), []).append(int(k))
    return [[rel(o)] + [rel(d) for d in ds] for o, ds in sorted(by.items())]


def generate(n: int, out: Path, seed: int, dup_rate: float = 0.1,
             size: tuple[int, int] = (160, 120), workers: int | None = None,
             use_shared: bool = True, truth: Path | None = None,
             progress: bool = False) -> dict:
    """Write the dataset and its ground truth; returns the ground truth document."""
    if out.exists() and any(out.iterdir()):
        raise SystemExit(f"{out} exists and is not empty: choose a new folder")
    truth = truth or out.with_name(out.name + ".truth.json")
    sources = photo_sources(use_shared)
    families = sorted({f for f, _ in sources})
    orig, split = plan(n, seed, dup_rate)
    for s in ("train", "val"):
        (out / "images" / s).mkdir(parents=True, exist_ok=True)
        (out / "labels" / s).mkdir(parents=True, exist_ok=True)
    (out / "data.yaml").write_text(
        "path: .\ntrain: images/train\nval: images/val\nnames:\n"
        + "".join(f"  {i}: {json.dumps(f)}\n" for i, f in enumerate(families)))
    split_names = np.array(["train", "val"])
    jobs = ((str(out), seed, size, list(range(a, min(a + CHUNK, n))),
             orig[a:a + CHUNK].tolist(), split_names[split[a:a + CHUNK]].tolist())
            for a in range(0, n, CHUNK))
    t0 = time.perf_counter()
    total = done = 0
    with ProcessPoolExecutor(workers or os.cpu_count() or 1, initializer=_init_worker,
                             initargs=(sources, families)) as pool:
        # map() submits every chunk at once; the jobs are small (slot lists), the results ints
        for nbytes in pool.map(_write_chunk, jobs):
            total += nbytes
            done = min(done + CHUNK, n)
            if progress:
                print(f"  {done}/{n} images ({time.perf_counter() - t0:.0f} s)", end="\r",
                      file=sys.stderr, flush=True)
    if progress:
        print(file=sys.stderr)
    groups = groups_of(orig, split)
    doc = {"generator": "bench/gen_near_dups.py", "n": n, "seed": seed, "dup_rate": dup_rate,
           "size": list(size), "distinct": int((orig < 0).sum()),
           "duplicates": int((orig >= 0).sum()), "photos": [s for _, s in sources],
           "names": families, "jpeg_bytes": total,
           "seconds": round(time.perf_counter() - t0, 2),
           "groups": groups,
           "edits": {f"{file_stem(int(k))}.jpg": variant_params(seed, int(k))
                     for k in np.flatnonzero(orig >= 0)}}
    tmp = truth.with_name(truth.name + ".tmp")
    tmp.write_text(json.dumps(doc, indent=0))
    tmp.replace(truth)
    return doc


# --- verification -------------------------------------------------------------------------------

def phash(path: Path) -> int:
    """64-bit DCT perceptual hash (imagehash's pHash: 32x32 grey, 8x8 lowest frequencies
    against their median)."""
    from scipy.fft import dctn
    grey = np.asarray(Image.open(path).convert("L").resize((32, 32), Image.Resampling.LANCZOS),
                      np.float64)
    low = dctn(grey, norm="ortho")[:8, :8].ravel()
    bits = low > np.median(low)
    return int(np.packbits(bits).view(">u8")[0])


def distance_histograms(out: Path, doc: dict, limit: int = 20_000) -> dict:
    """Hamming distances of pHashes: every pair of the first `limit` distinct images (their
    minimum and histogram) and every planted (original, duplicate) pair."""
    in_group = {p for g in doc["groups"] for p in g}
    distinct = sorted(str(p.relative_to(out)) for p in (out / "images").rglob("*.jpg"))
    distinct = [p for p in distinct if p not in in_group][:limit]
    # originals are distinct images too: include them, their duplicates not
    distinct += [g[0] for g in doc["groups"]][: max(0, limit - len(distinct))]
    h = np.array([phash(out / p) for p in distinct], np.uint64)
    hist = np.zeros(65, np.int64)
    for i in range(0, len(h), 2048):
        d = np.bitwise_count(h[i:i + 2048, None] ^ h[None, :])
        iu = np.arange(i, min(i + 2048, len(h)))[:, None] < np.arange(len(h))[None, :]
        hist += np.bincount(d[iu].astype(np.int64), minlength=65)
    pairs = np.zeros(65, np.int64)
    for g in doc["groups"]:
        a = phash(out / g[0])
        for p in g[1:]:
            pairs[(a ^ phash(out / p)).bit_count()] += 1
    return {"distinct_images": len(h), "distinct_pairs": int(hist.sum()),
            "distinct_min": int(np.flatnonzero(hist)[0]) if hist.any() else None,
            "distinct_hist": hist.tolist(), "planted_pairs": int(pairs.sum()),
            "planted_max": int(np.flatnonzero(pairs)[-1]) if pairs.any() else None,
            "planted_hist": pairs.tolist()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int, help="number of image files")
    ap.add_argument("out", type=Path, help="new folder for the YOLO dataset")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--dup-rate", type=float, default=0.1,
                    help="fraction of the images that are planted near-duplicates")
    ap.add_argument("--size", default="160x120", help="WxH of the distinct images")
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--no-shared", action="store_true",
                    help="only scikit-image's photos, even when ../shared/datasets exists")
    ap.add_argument("--truth", type=Path, default=None, help="default: OUT.truth.json")
    ap.add_argument("--verify", type=int, default=0, metavar="K",
                    help="print pHash distance histograms over up to K distinct images")
    args = ap.parse_args(argv)
    try:
        w, h = (int(v) for v in args.size.lower().split("x"))
    except ValueError:
        ap.error(f"--size {args.size!r}: expected WxH, e.g. 160x120")
    if args.n < 1 or not 0 <= args.dup_rate < 1 or w < 32 or h < 32:
        ap.error("N must be >= 1, --dup-rate in [0, 1), --size at least 32x32")
    doc = generate(args.n, args.out, args.seed, args.dup_rate, (w, h), args.workers,
                   not args.no_shared, args.truth, progress=True)
    print(f"{args.n} images ({doc['distinct']} distinct, {doc['duplicates']} planted duplicates "
          f"in {len(doc['groups'])} groups) from {len(doc['photos'])} photos, "
          f"{doc['jpeg_bytes'] / 1e6:.1f} MB of JPEG in {doc['seconds']} s -> {args.out}")
    if args.verify:
        v = distance_histograms(args.out, doc, args.verify)
        print(json.dumps({k: v[k] for k in v if not k.endswith("hist")}))
        nz = lambda hist: {d: c for d, c in enumerate(hist) if c}  # noqa: E731
        print("planted pair distances:", nz(v["planted_hist"]))
        print("distinct pair distances (lowest 12 bins):",
              dict(list(nz(v["distinct_hist"]).items())[:12]))
    return 0


if __name__ == "__main__":
    sys.exit(main())
