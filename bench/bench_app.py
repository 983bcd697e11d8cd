"""The web app's data side at scale: a workspace of 250,000 images and ~1.7M boxes.

    python bench/bench_app.py [--images 250000] [--boxes 1700000] [--work DIR] [--runs 5]

Measures, with the real FastAPI app (routes_browse) driven by a TestClient in a fresh process:
- start to first grid page: `AppState.open` on the workspace + the first `/api/images` page,
  cold (no index cache: the first start after a revision was added outside the app) and warm
  (the index cached on disk by an earlier start or by the app's own save); the imports are
  timed apart (once per process), and the opening thread's CPU seconds are given too (the
  steadier number on a shared machine);
- when the full model (polygons, attributes: image view, saves) is in memory: it is decoded
  in a loader process, so the server neither stalls nor peaks while it happens;
- filter/facet updates: p50/p95 of `/api/images` (first page) and `/api/facets` over a set of
  realistic filters, with the result caches cleared after each (every request computes);
- peak RSS of the server process (kernel's ru_maxrss) after all of it, and of the loader.

The workspace is generated straight into a visionflow workspace (no COCO file to parse):
8 tiny real JPEGs, one per image size, stored once as blobs; 250,000 image rows pointing at
them, splits 70/20/10, COCO's 80 class names with long-tailed (1/rank) frequencies, ~6%
images without boxes, ~5% images tagged. Results: bench/results/app.json and a table on
stdout.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "src"))

SIZES = [(640, 480), (480, 640), (640, 427), (500, 375), (800, 600), (612, 612),
         (1024, 768), (320, 240)]
SIZE_P = np.array([30, 10, 20, 12, 8, 8, 6, 6], float) / 100
TAGS = ["review", "blurry", "night", "crowded"]

# What a user clicks through: one class, a rare class, class counts, split + class, without a
# class, empty images, tags, sizes, aspect, object size, file name, and combinations.
FILTERS = [
    "", "split=train", "split=val,test", "class=person", "class=toaster", "class=dog,cat",
    "count=person:3:", "count=car::1", "split=train&class=car", "no_class=person",
    "empty=1", "tag=review", "tag=night,blurry&split=val", "width=700:", "height=:400",
    "aspect=1.2:1.6", "area=:0.01", "area=0.3:", "q=0001", "class=person&class=car",
    "split=test&no_class=person&area=:0.02", "count=person:5:&tag=crowded",
    "class=bus&width=600:&split=train", "aspect=:1&class=giraffe",
]


def make_workspace(root: Path, n_images: int = 250_000, n_boxes: int = 1_700_000,
                   seed: int = 0) -> Path:
    """A workspace at root/ws with one source 'data' of n_images rows and ~n_boxes boxes.

    The images are stored once (one small JPEG per size) and every row points at one of
    those blobs, so the workspace costs seconds and megabytes, not the hours and gigabytes
    of 250,000 real files; everything the app reads per image (size, split, boxes, tags)
    is real."""
    import visionflow as vf
    from PIL import Image

    sys.path.insert(0, str(REPO / "bench"))
    from generate import COCO_CLASSES  # the 80 COCO names, ids with gaps
    rng = np.random.default_rng(seed)
    ws_dir = root / "ws"
    if ws_dir.exists():
        shutil.rmtree(ws_dir)
    seed_dir = root / "seed"
    shutil.rmtree(seed_dir, ignore_errors=True)
    (seed_dir / "images").mkdir(parents=True)
    names = []
    for k, (w, h) in enumerate(SIZES):
        yy, xx = np.mgrid[0:h, 0:w]
        arr = np.stack([(xx * 255 // w), (yy * 255 // h), np.full_like(xx, 40 * k % 255)],
                       -1).astype(np.uint8)
        name = f"size{k}.jpg"
        Image.fromarray(arr).save(seed_dir / "images" / name, quality=80)
        names.append(name)
    seed_ds = vf.Dataset(vf.Images.build(names, [w for w, _ in SIZES], [h for _, h in SIZES],
                                         path=[str(seed_dir / "images" / n) for n in names]),
                         vf.Annotations.empty(), vf.Categories.from_names(["x"]))
    seed_ds.export(seed_dir / "native", "visionflow", images="copy")
    ws = vf.Workspace.init(ws_dir)
    ws.add(seed_dir / "native", name="data")
    blobs = ws.load("data@latest").images.path          # one blob per size, in SIZES order

    size = rng.choice(len(SIZES), n_images, p=SIZE_P)
    wh = np.array(SIZES)[size]
    split = rng.choice(np.array(["train", "val", "test"], dtype=object), n_images,
                       p=[0.7, 0.2, 0.1])
    mean = n_boxes / n_images / 0.94
    counts = np.where(rng.random(n_images) < 0.06, 0, 1 + rng.poisson(mean - 1, n_images))
    img = np.repeat(np.arange(n_images), counts)
    m = len(img)
    W, H = wh[img, 0].astype(float), wh[img, 1].astype(float)
    bw = np.minimum(W, np.exp(rng.normal(np.log(W / 6), 0.9, m))).clip(2)
    bh = np.minimum(H, bw * np.exp(rng.normal(0, 0.4, m))).clip(2)
    x0 = (rng.random(m) * (W - bw)).round(2)
    y0 = (rng.random(m) * (H - bh)).round(2)
    xyxy = np.stack([x0, y0, x0 + bw.round(2), y0 + bh.round(2)], 1)
    classes = [name for _, name, _ in COCO_CLASSES]
    freq = 1.0 / np.arange(1, len(classes) + 1)        # long tail: rank k drawn ~ 1/k
    cls = rng.choice(len(classes), m, p=freq / freq.sum())
    tags = np.full(n_images, None, dtype=object)
    tagged = np.flatnonzero(rng.random(n_images) < 0.05)
    for i in tagged.tolist():
        tags[i] = sorted(set(rng.choice(TAGS, 1 + int(rng.random() < 0.3)).tolist()))
    images = vf.Images.build([f"{i:07d}.jpg" for i in range(n_images)], wh[:, 0], wh[:, 1],
                             split=split, path=blobs[size], attrs={"tags": tags})
    ann = vf.Annotations.build(img, cls + 1, xyxy)
    ds = vf.Dataset(images, ann, vf.Categories.from_names(classes))
    ws.add_revision("data", ds, {"generated": "bench/bench_app.py", "seed": seed})
    ws.close()
    shutil.rmtree(seed_dir, ignore_errors=True)
    return ws_dir


# -- measuring (in a child process, so RSS and start-up are the server's own) -------------------

CHILD = r"""
import json, os, resource, sys, time
t0 = time.perf_counter()
from fastapi import FastAPI
from fastapi.testclient import TestClient
from visionflow.app.state import AppState
from visionflow.app.routes_browse import router
t_import = time.perf_counter() - t0
ws, filters, runs = sys.argv[1], json.loads(sys.argv[2]), int(sys.argv[3])
t1 = time.perf_counter()
c1 = time.thread_time()
app = FastAPI(); app.include_router(router)
app.state.vf = AppState.open(ws, findings=False)   # the full model loads in a thread
open_cpu = time.thread_time() - c1
client = TestClient(app)
r = client.get("/api/images?limit=200")
assert r.status_code == 200, r.text
t_first = time.perf_counter() - t1
t = time.perf_counter()
f = client.get("/api/facets")
t_facets_loading = time.perf_counter() - t
app.state.vf.wait_loaded()
t_loaded = time.perf_counter() - t1
out = {"import_s": t_import, "open_to_first_page_s": t_first, "total": r.json()["total"],
       "open_to_full_model_s": t_loaded, "open_cpu_s": open_cpu,
       "facets_while_loading_s": t_facets_loading,
       "open_s": app.state.vf.timings}
times = {"images": [], "facets": []}
for k in range(runs):
    for f in filters:
        q = f + ("&" if f else "") + f"offset={k % 3 * 200}"
        for route in ("images", "facets"):
            t = time.perf_counter()
            r = client.get(f"/api/{route}?{q}")
            times[route].append(time.perf_counter() - t)
            assert r.status_code == 200, (f, r.text)
        app.state.vf.index.clear_cache()      # every request computes its filter afresh
# CPU of the same work on this thread (steady on a loaded machine): select + page, facets
from urllib.parse import parse_qsl
from visionflow.app.index import Filter
idx = app.state.vf.index
cpu = {"images": [], "facets": []}
for k in range(runs):
    for f in filters:
        idx.clear_cache()
        flt = Filter.parse(parse_qsl(f))
        c = time.thread_time()
        idx.page(idx.select(flt)[:200])
        cpu["images"].append(time.thread_time() - c)
        c = time.thread_time()
        idx.facets(flt)
        cpu["facets"].append(time.thread_time() - c)
out["cpu"] = cpu
thumbs = []                 # 8 distinct pictures: made once, then served from the disk cache
for k in range(200):
    i = k * 997 % app.state.vf.index.n
    t = time.perf_counter()
    r = client.get(f"/api/images/{i}/thumb?size=256")
    thumbs.append(time.perf_counter() - t)
    assert r.status_code == 200, r.text
out["thumbs"] = thumbs
totals = {f: client.get("/api/images?" + f).json()["total"] for f in filters}
out["times"] = times
out["totals"] = totals
out["rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
out["loader_rss_mib"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
out["load_average"] = os.getloadavg()
print(json.dumps(out))
"""


def run_child(ws: Path, filters: list[str], runs: int) -> dict:
    env = dict(os.environ, PYTHONPATH=str(REPO / "src"))
    proc = subprocess.run([sys.executable, "-c", CHILD, str(ws), json.dumps(filters), str(runs)],
                          capture_output=True, text=True, env=env, check=False)
    if proc.returncode:
        raise SystemExit(f"app child failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def pct(values: list[float], q: float) -> float:
    return float(np.percentile(np.asarray(values) * 1000, q))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("--images", type=int, default=250_000)
    ap.add_argument("--boxes", type=int, default=1_700_000)
    ap.add_argument("--work", type=Path, default=Path("/tmp/vf-bench-app"))
    ap.add_argument("--runs", type=int, default=5, help="passes over the filter set")
    ap.add_argument("--keep", action="store_true", help="reuse a workspace already generated")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "app.json")
    args = ap.parse_args()

    root = args.work / str(args.images)
    ws = root / "ws"
    t = time.perf_counter()
    if not (args.keep and ws.is_dir()):
        root.mkdir(parents=True, exist_ok=True)
        make_workspace(root, args.images, args.boxes)
    gen_s = time.perf_counter() - t
    from visionflow.app.state import index_cache_folder
    shutil.rmtree(index_cache_folder(ws), ignore_errors=True)
    cold = run_child(ws, FILTERS, 1)
    warm = run_child(ws, FILTERS, args.runs)
    res = {"images": cold["total"], "generate_s": round(gen_s, 1), "cpu_count": os.cpu_count(),
           "cold_start_s": round(cold["open_to_first_page_s"], 3),
           "warm_start_s": round(warm["open_to_first_page_s"], 3),
           "cold_open_cpu_s": round(cold["open_cpu_s"], 3),
           "warm_open_cpu_s": round(warm["open_cpu_s"], 3),
           "import_s": round(warm["import_s"], 3),
           "full_model_loaded_s": round(warm["open_to_full_model_s"], 2),
           "facets_while_loading_ms": round(warm["facets_while_loading_s"] * 1000),
           "open_steps_cold": cold["open_s"],
           "open_steps_warm": warm["open_s"],
           "images_p50_ms": round(pct(warm["times"]["images"], 50), 1),
           "images_p95_ms": round(pct(warm["times"]["images"], 95), 1),
           "facets_p50_ms": round(pct(warm["times"]["facets"], 50), 1),
           "facets_p95_ms": round(pct(warm["times"]["facets"], 95), 1),
           "images_cpu_p95_ms": round(pct(warm["cpu"]["images"], 95), 1),
           "thumb_cached_p50_ms": round(pct(warm["thumbs"][20:], 50), 1),
           "thumb_cached_p95_ms": round(pct(warm["thumbs"][20:], 95), 1),
           "facets_cpu_p95_ms": round(pct(warm["cpu"]["facets"], 95), 1),
           "rss_mib_cold": round(cold["rss_mib"]), "rss_mib_warm": round(warm["rss_mib"]),
           "loader_process_rss_mib": round(warm["loader_rss_mib"]),
           "load_average": [round(x, 1) for x in warm["load_average"]],
           "filter_totals": warm["totals"]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(res, indent=2) + "\n")
    rows = [("start to first grid page, cold (index built)", f"{res['cold_start_s']:.2f} s",
             "< 2 s"),
            ("start to first grid page, warm (index cached)", f"{res['warm_start_s']:.2f} s",
             "< 2 s"),
            ("open, CPU seconds of the opening thread, cold / warm",
             f"{res['cold_open_cpu_s']:.2f} / {res['warm_open_cpu_s']:.2f} s", "-"),
            ("imports (fastapi, visionflow.app), once per process", f"{res['import_s']:.2f} s",
             "-"),
            ("/api/images first page p50 / p95", f"{res['images_p50_ms']:.0f} / "
             f"{res['images_p95_ms']:.0f} ms", "p95 < 150 ms"),
            ("/api/facets p50 / p95", f"{res['facets_p50_ms']:.0f} / {res['facets_p95_ms']:.0f} ms",
             "p95 < 150 ms"),
            ("CPU per filter p95: select + page / facets",
             f"{res['images_cpu_p95_ms']:.0f} / {res['facets_cpu_p95_ms']:.0f} ms", "-"),
            ("cached thumbnail (256 px) p50 / p95",
             f"{res['thumb_cached_p50_ms']:.0f} / {res['thumb_cached_p95_ms']:.0f} ms", "-"),
            ("full model loaded (background, image view/saves)",
             f"{res['full_model_loaded_s']:.1f} s", "-"),
            ("model loader process peak RSS (exits when done)",
             f"{res['loader_process_rss_mib']} MiB", "-"),
            ("server peak RSS cold / warm", f"{res['rss_mib_cold']} / {res['rss_mib_warm']} MiB",
             "< 1.5 GB")]
    print(f"\n{res['images']:,} images, {len(FILTERS)} filters x {args.runs} runs, "
          f"{os.cpu_count()} CPUs, load average {res['load_average']}\n")
    print(f"| {'measure':52} | {'visionflow':18} | {'goal':12} |")
    print(f"|{'-' * 54}|{'-' * 20}|{'-' * 14}|")
    for a, b, c in rows:
        print(f"| {a:52} | {b:18} | {c:12} |")
    print("\nPeers, published figures only (FiftyOne did not install here, see "
          "bench/Makefile): FiftyOne's App takes minutes to open a 145k-sample dataset "
          "(voxel51/fiftyone issue #1740) and needs a MongoDB server; Label Studio's filters "
          "take 20-40 s on 10k tasks.")


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE))
    main()
