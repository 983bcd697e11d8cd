"""Benchmark COCO bbox evaluation against pycocotools and faster-coco-eval, whole process.

    python bench/bench_evaluate.py [--images 5000 50000] [--out bench/data/evaluate]
                                   [--results bench/results/evaluate.json]

Generates (once per size; OUT/<images>/DONE marks it complete) a COCO ground truth of
<images> 640x480 images, 80 classes, ~7 boxes per image (Poisson; ~5% crowd regions, ~3% images
empty), and a results file of ~20 predictions per image: jittered copies of the objects (some
missed, some doubled, 10% in the wrong class) plus spurious boxes, scores rounded to 3 decimals
(ties happen, as with real models).

Each tool runs in a fresh Python process that reads both JSON files, evaluates and summarises
(the whole job a user waits for); wall and CPU seconds and the process's peak RSS are
recorded, and every tool's 12 summary numbers must equal pycocotools' to 1e-9. Tools:
pycocotools (COCO, loadRes, COCOeval), faster-coco-eval (its COCOeval_faster, if installed:
bench only, not a project dependency), visionflow library (load, load_predictions,
evaluate_coco) and the visionflow CLI (`visionflow evaluate GT PRED --json`, which also builds
the confusion matrix, per-class P/R/F1 and per-object outcomes). Target (issue 13): >= 5x
pycocotools on 50,000 images, with less memory.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

W, H, N_CLASSES = 640, 480, 80

DRIVERS = {
    "pycocotools": """
import contextlib, io, json, sys
from pycocotools.coco import COCO
from pycocotools.cocoeval import COCOeval
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(sys.argv[1]); dt = gt.loadRes(sys.argv[2])
    E = COCOeval(gt, dt, "bbox"); E.evaluate(); E.accumulate(); E.summarize()
stats = [float(x) for x in E.stats]
""",
    "faster-coco-eval": """
import contextlib, io, json, sys
from faster_coco_eval import COCO, COCOeval_faster
with contextlib.redirect_stdout(io.StringIO()):
    gt = COCO(sys.argv[1]); dt = gt.loadRes(sys.argv[2])
    E = COCOeval_faster(gt, dt, "bbox"); E.evaluate(); E.accumulate(); E.summarize()
stats = [float(x) for x in E.stats[:12]]
""",
    "visionflow": """
import json, sys
import visionflow as vf
from visionflow.evaluation import evaluate_coco, load_predictions
gt = vf.load(sys.argv[1], format="coco")
stats = evaluate_coco(gt, load_predictions(sys.argv[2], gt)).stats_list()
""",
}
# Peak RSS from VmHWM: getrusage's ru_maxrss of a child includes the RSS of the process it was
# started from (the harness, large while it generates the data).
_PEAK = ("next(int(l.split()[1]) for l in open('/proc/self/status') "
         "if l.startswith('VmHWM:')) / 1024")
_TAIL = f"""
print(json.dumps({{"stats": stats, "maxrss_mib": {_PEAK}}}))
"""


def generate(root: Path, n_images: int, seed: int = 0) -> tuple[Path, Path]:
    import orjson
    gt_path, res_path = root / "gt.json", root / "results.json"
    if (root / "DONE").exists():
        return gt_path, res_path
    root.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    images = [{"id": i + 1, "file_name": f"{i + 1:07d}.jpg", "width": W, "height": H}
              for i in range(n_images)]
    n_obj = rng.poisson(7, n_images)
    n_obj[rng.random(n_images) < 0.03] = 0
    img = np.repeat(np.arange(1, n_images + 1), n_obj)
    n = len(img)
    side = np.exp(rng.uniform(np.log(8), np.log(300), (n, 2)))
    xy = rng.uniform(0, 1, (n, 2)) * ([W, H] - side)
    cls = rng.zipf(1.3, n) % N_CLASSES + 1
    crowd = rng.random(n) < 0.05
    anns = [{"id": j + 1, "image_id": int(img[j]), "category_id": int(cls[j]),
             "bbox": [round(float(v), 2) for v in (*xy[j], *side[j])],
             "area": round(float(side[j, 0] * side[j, 1]), 2), "iscrowd": int(crowd[j])}
            for j in range(n)]
    cats = [{"id": c, "name": f"class{c}"} for c in range(1, N_CLASSES + 1)]
    gt_path.write_bytes(orjson.dumps({"images": images, "annotations": anns, "categories": cats}))
    copies = rng.choice([0, 1, 1, 1, 2], n)
    src = np.repeat(np.arange(n), copies)
    jit = rng.normal(0, 0.08, (len(src), 4)) * np.tile(side[src], 2)
    box = np.column_stack([xy[src] + jit[:, :2], np.maximum(1, side[src] + jit[:, 2:])])
    pcls = np.where(rng.random(len(src)) < 0.9, cls[src], rng.integers(1, N_CLASSES + 1, len(src)))
    pimg = img[src]
    n_fp = max(0, 20 * n_images - len(src))
    fside = np.exp(rng.uniform(np.log(8), np.log(300), (n_fp, 2)))
    fbox = np.column_stack([rng.uniform(0, 1, (n_fp, 2)) * ([W, H] - fside), fside])
    box = np.concatenate([box, fbox])
    pcls = np.concatenate([pcls, rng.integers(1, N_CLASSES + 1, n_fp)])
    pimg = np.concatenate([pimg, rng.integers(1, n_images + 1, n_fp)])
    score = np.round(np.concatenate([rng.uniform(0.3, 1, len(src)), rng.uniform(0, 0.7, n_fp)]), 3)
    order = rng.permutation(len(pimg))
    res = [{"image_id": int(pimg[j]), "category_id": int(pcls[j]),
            "bbox": [round(float(v), 2) for v in box[j]], "score": float(score[j])} for j in order]
    res_path.write_bytes(orjson.dumps(res))
    (root / "DONE").write_text("ok\n")
    return gt_path, res_path


def run_tool(name: str, gt: Path, res: Path) -> dict:
    if name == "visionflow-cli":
        cmd = [sys.executable, "-c", "import sys; from visionflow.cli.main import main; "
               "sys.argv = ['visionflow', 'evaluate', sys.argv[1], sys.argv[2], '--json', '--from', 'coco']; "
               "import resource, io, contextlib, json\n"
               "buf = io.StringIO()\n"
               "with contextlib.redirect_stdout(buf):\n"
               "    try: main()\n"
               "    except SystemExit: pass\n"
               "out = json.loads(buf.getvalue())\n"
               "print(json.dumps({'stats': [out[k] for k in ('AP','AP50','AP75','APs','APm',"
               "'APl','AR1','AR10','AR100','ARs','ARm','ARl')], 'maxrss_mib': "
               f"{_PEAK}}}))",
               str(gt), str(res)]
    else:
        cmd = [sys.executable, "-c", DRIVERS[name] + _TAIL, str(gt), str(res)]
    before = os.times()
    t0 = time.perf_counter()
    p = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t0
    after = os.times()
    if p.returncode:
        return {"error": (p.stderr or p.stdout).strip().splitlines()[-1:]}
    out = json.loads(p.stdout.strip().splitlines()[-1])
    return {"wall_s": round(wall, 2),
            "cpu_s": round((after.children_user - before.children_user) +
                           (after.children_system - before.children_system), 2),
            "peak_rss_mib": round(out["maxrss_mib"], 1), "stats": out["stats"]}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--images", type=int, nargs="+", default=[5000, 50000])
    ap.add_argument("--out", type=Path, default=Path("bench/data/evaluate"))
    ap.add_argument("--results", type=Path, default=Path("bench/results/evaluate.json"))
    ap.add_argument("--tools", nargs="+", default=["pycocotools", "faster-coco-eval",
                                                   "visionflow", "visionflow-cli"])
    args = ap.parse_args(argv)
    report: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                "platform": platform.platform()},
                    "load_average_before": list(os.getloadavg()), "runs": {}}
    for n in args.images:
        t0 = time.perf_counter()
        gt, res = generate(args.out / str(n), n)
        run = {"generate_s": round(time.perf_counter() - t0, 1)}
        for tool in args.tools:
            if tool == "faster-coco-eval":
                try:
                    import faster_coco_eval  # noqa: F401
                except ImportError:
                    run[tool] = {"error": "not installed"}
                    continue
            run[tool] = run_tool(tool, gt, res)
            print(n, tool, {k: v for k, v in run[tool].items() if k != "stats"}, flush=True)
        ref = run.get("pycocotools", {}).get("stats")
        for tool in args.tools:
            r = run[tool]
            if ref is not None and "stats" in r:
                r["max_abs_diff_vs_pycocotools"] = float(np.max(np.abs(np.subtract(r["stats"],
                                                                                 ref))))
                r["speedup_vs_pycocotools"] = round(run["pycocotools"]["wall_s"] / r["wall_s"], 1)
        import orjson
        run["objects"] = len(orjson.loads(gt.read_bytes())["annotations"])
        run["predictions"] = len(orjson.loads(res.read_bytes()))
        report["runs"][str(n)] = run
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report["runs"], indent=1)[:4000])
    bad = [(n, t) for n, r in report["runs"].items() for t, v in r.items()
           if isinstance(v, dict) and v.get("max_abs_diff_vs_pycocotools", 0) > 1e-9]
    if bad:
        print(f"numbers differ from pycocotools: {bad}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
