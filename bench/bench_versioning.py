"""Versioning at scale: a workspace of N images and ~8N boxes (250,000 and 2 million by default).

    python bench/bench_versioning.py [--images 250000] [--boxes-per-image 8] [--work DIR]

Steps, each a real `visionflow` process (wall seconds and peak RSS from the kernel):
  add rev 1 -> version create v1 -> edit the source (1% of boxes moved, 500 images removed,
  500 added, 100 repainted) -> add rev 2 -> version create v2 ->
  version list / show v2 / diff v1 v2 (also timed in-process, without Python start-up) -> verify.
A baseline process that only loads the COCO file shows how much of `add`'s memory is the
dataset itself (the canonical model in memory) and how much is the workspace's (bounded:
images are hashed and copied in a thread pool, at most 1024 in flight).

Image files are tiny real PNGs: 16 distinct contents hard-linked under N distinct names (plus
the repainted ones), so the blob store holds a few dozen files while `add` still opens,
hashes and checks every one of the N names. Results go to bench/results/versioning.json.
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
SIZE_WH = (640, 480)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter,
                                 epilog="\n".join(__doc__.splitlines()[2:]))
    ap.add_argument("--images", type=int, default=250_000)
    ap.add_argument("--boxes-per-image", type=int, default=8)
    ap.add_argument("--work", type=Path, default=REPO / "bench" / "data" / "versioning")
    ap.add_argument("--out", type=Path, default=REPO / "bench" / "results" / "versioning.json")
    ap.add_argument("--repeat", type=int, default=3, help="runs of list/show/diff (median)")
    args = ap.parse_args()

    work = args.work / str(args.images)
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    rng = np.random.default_rng(0)
    src = work / "src"
    t = time.perf_counter()
    state = _generate(src, args.images, args.boxes_per_image, rng)
    results: dict = {"images": args.images, "boxes": int(state["n_boxes"]),
                     "generate_s": round(time.perf_counter() - t, 2), "steps": {}}
    print(f"generated {args.images} images, {state['n_boxes']} boxes in "
          f"{results['generate_s']} s", file=sys.stderr)
    ws = work / "ws"
    steps = results["steps"]
    steps["init"] = _run("init", ws)
    steps["load_only_baseline"] = _run_py(
        f"import visionflow as vf; ds = vf.load({str(src)!r}); print(len(ds.annotations))")
    steps["add_rev1"] = _run("add", src, "--name", "data", "-w", ws)
    steps["version_create_v1"] = _run("version", "create", "--name", "v1", "-w", ws)
    t = time.perf_counter()
    _edit(src, state, rng)
    results["edit_s"] = round(time.perf_counter() - t, 2)
    steps["add_rev2"] = _run("add", src, "--name", "data", "-w", ws)
    steps["version_create_v2"] = _run("version", "create", "--name", "v2", "-w", ws)
    for name, cmd in (("version_list", ("version", "list", "--json")),
                      ("version_show", ("version", "show", "v2", "--json")),
                      ("version_diff", ("version", "diff", "v1", "v2", "--json"))):
        runs = [_run(*cmd, "-w", ws) for _ in range(args.repeat)]
        steps[name + "_cli"] = min(runs, key=lambda r: r["wall_s"])
    steps["python_startup_cli"] = _run("--version")
    steps.update(_in_process(ws, args.repeat))
    steps["verify"] = _run("verify", "-w", ws)
    diff = json.loads(subprocess.run(_cmd("version", "diff", "v1", "v2", "--json", "-w", ws),
                                     capture_output=True, text=True, env=_env(), check=True).stdout)
    results["diff_v1_v2"] = {"images": diff["images"], "annotations": diff["annotations"]}
    results["expected_edit"] = state["expected"]
    results["workspace_bytes"] = _du(ws / ".visionflow")
    results["blobs"] = sum(1 for _ in (ws / ".visionflow" / "blobs").rglob("*") if _.is_file())
    results["db_bytes"] = (ws / ".visionflow" / "workspace.db").stat().st_size
    results["cpu_count"] = os.cpu_count()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


# -- data ---------------------------------------------------------------------------------------

def _generate(root: Path, n: int, per_image: int, rng: np.random.Generator) -> dict:
    from PIL import Image
    pool = root / "pool"
    pool.mkdir(parents=True)
    bases = []
    for k in range(16):
        p = pool / f"base_{k}.png"
        Image.new("RGB", SIZE_WH, (k * 15, 255 - k * 15, (k * 40) % 255)).save(p)
        bases.append(p)
    img_dir = root / "images" / "train"
    img_dir.mkdir(parents=True)
    names = [f"{i:07d}.png" for i in range(n)]
    for i, name in enumerate(names):
        os.link(bases[i % 16], img_dir / name)
    counts = np.full(n, per_image)
    img_of_box = np.repeat(np.arange(n), counts)
    m = len(img_of_box)
    x = rng.uniform(0, 560, m).round(2)
    y = rng.uniform(0, 400, m).round(2)
    w = rng.uniform(4, 80, m).round(2)
    h = rng.uniform(4, 80, m).round(2)
    cats = (rng.zipf(1.6, m) % 80) + 1
    state = {"names": names, "img": img_of_box, "xywh": np.stack([x, y, w, h], 1), "cat": cats,
             "bases": bases, "n_boxes": m, "next": n}
    _write_coco(root, state)
    return state


def _write_coco(root: Path, s: dict) -> None:
    import orjson
    names = s["names"]
    doc = {
        "images": [{"id": i + 1, "file_name": nm, "width": SIZE_WH[0], "height": SIZE_WH[1]}
                   for i, nm in enumerate(names)],
        "annotations": [{"id": k + 1, "image_id": int(i) + 1, "category_id": int(c),
                         "bbox": b, "area": b[2] * b[3], "iscrowd": 0}
                        for k, (i, c, b) in enumerate(zip(s["img"].tolist(), s["cat"].tolist(),
                                                           s["xywh"].tolist()))],
        "categories": [{"id": c, "name": f"class_{c}"} for c in range(1, 81)],
    }
    (root / "annotations").mkdir(exist_ok=True)
    (root / "annotations" / "instances_train.json").write_bytes(orjson.dumps(doc))


def _edit(root: Path, s: dict, rng: np.random.Generator) -> None:
    """What a labeling session does: move 1% of boxes, delete 500 images, label 500 new ones,
    repaint 100."""
    from PIL import Image
    n = len(s["names"])
    moved = rng.choice(s["n_boxes"], s["n_boxes"] // 100, replace=False)
    s["xywh"][moved, 0] += 3.0
    drop = set(range(n - 500, n))
    keep_box = ~np.isin(s["img"], list(drop))
    img_dir = root / "images" / "train"
    for i in drop:
        (img_dir / s["names"][i]).unlink()
    new_names = [f"new_{k:05d}.png" for k in range(500)]
    for k, nm in enumerate(new_names):
        os.link(s["bases"][k % 16], img_dir / nm)
    remap = np.arange(n)
    s["names"] = s["names"][: n - 500] + new_names
    new_img = np.repeat(np.arange(n - 500, n), 4)
    s["img"] = np.concatenate([remap[s["img"][keep_box]], new_img])
    s["xywh"] = np.concatenate([s["xywh"][keep_box], np.tile([[10.0, 10.0, 20.0, 20.0]],
                                                             (len(new_img), 1))])
    s["cat"] = np.concatenate([s["cat"][keep_box], np.ones(len(new_img), np.int64)])
    for k in range(100):  # repaint: new pixels, same name
        p = img_dir / s["names"][k]
        p.unlink()
        Image.new("RGB", SIZE_WH, (k, 2 * k % 255, 7)).save(p)
    s["expected"] = {"images_added": 500, "images_removed": 500, "images_changed": 100,
                     "boxes_moved_at_most": len(moved)}
    s["n_boxes"] = len(s["img"])
    _write_coco(root, s)


# -- measuring ----------------------------------------------------------------------------------

def _env() -> dict:
    e = dict(os.environ)
    e["PYTHONPATH"] = str(REPO / "src") + os.pathsep + e.get("PYTHONPATH", "")
    return e


def _cmd(*args) -> list[str]:
    return [sys.executable, "-m", "visionflow", *map(str, args)]


def _run(*args) -> dict:
    return _measure(_cmd(*args), " ".join(map(str, args[:3])))


def _run_py(code: str) -> dict:
    return _measure([sys.executable, "-c", code], "load only")


def _measure(cmd: list[str], label: str) -> dict:
    """Wall time, CPU time and peak RSS of one process, measured by /usr/bin/time (a child
    forked from this big process would report this process's RSS as its own)."""
    stats = Path(os.environ.get("TMPDIR", "/tmp")) / f"vf-bench-{os.getpid()}.time"
    t = time.perf_counter()
    proc = subprocess.run(["/usr/bin/time", "-o", str(stats), "-f", "%M %U %S", *cmd],
                          stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=_env(),
                          check=False)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed ({proc.returncode}): "
                         f"{proc.stderr.decode(errors='replace')[-2000:]}")
    rss_kib, user, system = stats.read_text().split()[-3:]
    out = {"wall_s": round(wall, 3), "peak_rss_mib": round(int(rss_kib) / 1024, 1),
           "cpu_s": round(float(user) + float(system), 2)}
    print(f"{label:40} {out}", file=sys.stderr)
    return out


def _in_process(ws: Path, repeat: int) -> dict:
    sys.path.insert(0, str(REPO / "src"))
    from visionflow import Workspace
    out = {}
    with Workspace.open(ws) as w:
        for name, fn in (("version_list_lib", lambda: w.versions()),
                         ("version_show_lib", lambda: w.version("v2")),
                         ("version_diff_lib", lambda: w.diff("v1", "v2").to_dict())):
            times = []
            for _ in range(repeat):
                t = time.perf_counter()
                fn()
                times.append(time.perf_counter() - t)
            out[name] = {"wall_s": round(sorted(times)[len(times) // 2], 4)}
            print(f"{name:40} {out[name]}", file=sys.stderr)
    return out


def _du(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


if __name__ == "__main__":
    resource.setrlimit(resource.RLIMIT_NOFILE, resource.getrlimit(resource.RLIMIT_NOFILE))
    main()
