"""Benchmark near-duplicate search: `visionflow dedup --method hash` end to end on generated
real-photo datasets with planted near-duplicates, against pairwise SSIM (the seed's approach).

    python bench/bench_dedup.py [--sizes 10000 50000] [--ssim-sizes 1000 2000 5000]
                                [--data /tmp/vf-near-dups] [--keep-data] [--workers N]
                                [--results bench/results/dedup.json]

Data: bench/gen_near_dups.py (N image files, 10% planted near-duplicates: resized, re-encoded,
cropped <= 5% per side, brightened/darkened; distinct images are mosaics of real photos), made
once per size under --data (reused while its ground truth file exists).

Hash dedup: `python -m visionflow dedup SRC DST --method hash --json --images none` as a
child process, timed wall-clock; its peak memory is the peak over time of the summed VmRSS of
the process tree (sampled every 20 ms from /proc) and, per process, VmHWM (the kernel's
high-water mark, read from /proc/<pid>/status while it runs). Quality: precision and recall
of the pairs inside the printed groups against the planted pairs (a group of k files is
k(k-1)/2 pairs; a planted group counts as found pair by pair).

SSIM: what the seed did, scikit-image `structural_similarity` of every pair of 32x32 grey
thumbnails (default 7x7 window), pairs above a threshold grouped by union-find; all cores
(process pool over rows). Timed at each --ssim-sizes n and fitted to t = a * n^b to
extrapolate, as is the hash run (whose pairs come from an index, not from all pairs).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
THUMB = 32
SSIM_THRESHOLDS = (0.5, 0.6, 0.7, 0.8, 0.9)


# --- data ----------------------------------------------------------------------------------------

def dataset(data: Path, n: int, seed: int) -> tuple[Path, dict]:
    """The generated set of n images (made once), and its ground truth."""
    src = data / f"n{n}"
    truth = data / f"n{n}.truth.json"
    if not truth.exists():
        if src.exists():
            shutil.rmtree(src)   # a generation that did not finish; ours, under --data
        t = time.perf_counter()
        subprocess.run([sys.executable, str(BENCH / "gen_near_dups.py"), str(n), str(src),
                        "--seed", str(seed)], check=True)
        print(f"generated {n} images in {time.perf_counter() - t:.0f} s", flush=True)
    return src, json.loads(truth.read_text())


def _pairs(k: int) -> int:
    return k * (k - 1) // 2


def score(found_groups, truth_groups) -> dict:
    """Pair precision and recall, counted per group (a chained group of 10,000 images is 50
    million pairs: never listed). Files are matched by base name."""
    truth_of = {Path(p).name: t for t, g in enumerate(truth_groups) for p in g}
    truth = sum(_pairs(len({Path(p).name for p in g})) for g in truth_groups)
    found = hit = 0
    for g in found_groups:
        names = {Path(p).name for p in g}
        found += _pairs(len(names))
        per_truth: dict[int, int] = {}
        for n in names:
            if n in truth_of:
                per_truth[truth_of[n]] = per_truth.get(truth_of[n], 0) + 1
        hit += sum(_pairs(m) for m in per_truth.values())
    return {"found_pairs": found, "planted_pairs": truth, "true_pairs": hit,
            "largest_group": max((len(g) for g in found_groups), default=0),
            "precision": round(hit / found, 4) if found else 1.0,
            "recall": round(hit / truth, 4) if truth else 1.0}


# --- the hash dedup, as a user runs it -----------------------------------------------------------

def _tree(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def _status_kb(pid: int) -> tuple[int, int]:
    """(VmRSS, VmHWM) in kB; (0, 0) once the process is gone."""
    rss = hwm = 0
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
                elif line.startswith("VmHWM:"):
                    hwm = int(line.split()[1])
    except OSError:
        pass
    return rss, hwm


def run_measured(cmd: list[str], stdout_path: Path, env: dict | None = None) -> dict:
    """Run cmd; wall time, peak summed RSS of its process tree, per-process VmHWM."""
    peak_tree_kb, hwm = 0, {}
    with open(stdout_path, "wb") as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, cwd=REPO,
                                env={**os.environ, **(env or {})})
        done = threading.Event()

        def sample() -> None:
            nonlocal peak_tree_kb
            while not done.is_set():
                total = 0
                for p in _tree(proc.pid):
                    rss, h = _status_kb(p)
                    total += rss
                    if h:
                        hwm[p] = max(hwm.get(p, 0), h)
                peak_tree_kb = max(peak_tree_kb, total)
                done.wait(0.02)

        th = threading.Thread(target=sample, daemon=True)
        th.start()
        # wait4 reaps it and gives its CPU time (its reaped descendants included)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        rc = proc.returncode = os.waitstatus_to_exitcode(status)
        done.set()
        th.join()
        err.seek(0)
        stderr = err.read().decode(errors="replace")
    return {"rc": rc, "wall_s": round(wall, 2),
            "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
            "peak_tree_rss_mb": round(peak_tree_kb / 1024, 1),
            "peak_process_hwm_mb": round(max(hwm.values(), default=0) / 1024, 1),
            "processes": len(hwm), "stderr_tail": stderr[-2000:]}


def bench_hash(src: Path, truth: dict, extra: list[str]) -> dict:
    with tempfile.TemporaryDirectory(prefix="vf-dedup-", dir=src.parent) as tmp:
        dst = Path(tmp) / "out"
        stdout = Path(tmp) / "stdout.json"
        cmd = [sys.executable, "-m", "visionflow", "dedup", str(src), str(dst), "--method",
               "hash", "--json", "--images", "none", *extra]
        # a cold run: hashes are stored per image content in the cache, which a second run
        # would read back; a fresh cache per run measures decoding and hashing every time
        res = run_measured(cmd, stdout, {"VISIONFLOW_CACHE_DIR": str(Path(tmp) / "cache")})
        res["command"] = " ".join(["visionflow"] + cmd[3:])
        if res["rc"] != 0:
            raise SystemExit(f"dedup failed (exit {res['rc']}):\n{res['stderr_tail']}")
        doc = json.loads(stdout.read_bytes())
        res["groups"] = len(doc["groups"])
        res["removed"] = len(doc["removed"])
        res.update(score(doc["groups"], truth["groups"]))
        # which file of each planted group was kept: the original (more boxes) with
        # --keep most-labelled
        kept = {Path(p).name for p in doc["kept"]}
        res["planted_originals_kept"] = round(
            sum(Path(g[0]).name in kept for g in truth["groups"]) / max(1, len(truth["groups"])), 4)
        res.pop("stderr_tail")
    return res


# --- the seed's pairwise SSIM --------------------------------------------------------------------

def _thumb(path: str) -> np.ndarray:
    from PIL import Image
    with Image.open(path) as im:
        return np.asarray(im.convert("L").resize((THUMB, THUMB), Image.Resampling.BILINEAR),
                          np.float64) / 255.0


_THUMBS: np.ndarray | None = None


def _init_ssim(thumbs: np.ndarray) -> None:
    global _THUMBS
    _THUMBS = thumbs


def _ssim_rows(rows: list[int]) -> list[tuple[int, int, float]]:
    """SSIM of row i against every j > i; pairs above the lowest threshold."""
    from skimage.metrics import structural_similarity
    t = _THUMBS
    out = []
    lo = min(SSIM_THRESHOLDS)
    for i in rows:
        a = t[i]
        for j in range(i + 1, len(t)):
            s = structural_similarity(a, t[j], data_range=1.0)
            if s >= lo:
                out.append((i, j, s))
    return out


def _groups(n: int, pairs, names: list[str]) -> list[list[str]]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            parent[x] = parent[parent[x]]
            x = parent[x]
        return x
    for i, j in pairs:
        a, b = find(i), find(j)
        if a != b:
            parent[max(a, b)] = min(a, b)
    by: dict[int, list[str]] = {}
    for k in range(n):
        by.setdefault(find(k), []).append(names[k])
    return [g for g in by.values() if len(g) > 1]


def bench_ssim(src: Path, truth: dict, workers: int) -> dict:
    paths = sorted(str(p) for p in src.glob("images/*/*.jpg"))
    names = [Path(p).name for p in paths]
    t0 = time.perf_counter()
    thumbs = np.stack([_thumb(p) for p in paths])
    decode = time.perf_counter() - t0
    n = len(paths)
    cpu0 = _children_cpu()
    # interleave rows so every worker gets the same share of the triangle
    chunks = [list(range(k, n, workers * 8)) for k in range(workers * 8)]
    with ProcessPoolExecutor(workers, initializer=_init_ssim, initargs=(thumbs,)) as pool:
        scored = [p for part in pool.map(_ssim_rows, chunks) for p in part]
    wall = time.perf_counter() - t0
    cpu = _children_cpu() - cpu0 + decode
    res = {"images": n, "pairs": n * (n - 1) // 2, "wall_s": round(wall, 2),
           "cpu_s": round(cpu, 2),
           "decode_s": round(decode, 2), "workers": workers,
           "pairs_per_s": round(n * (n - 1) / 2 / (wall - decode))}
    by_t = {}
    for thr in SSIM_THRESHOLDS:
        by_t[str(thr)] = score(_groups(n, [(i, j) for i, j, s in scored if s >= thr], names),
                               truth["groups"])
    res["by_threshold"] = by_t
    return res


def _children_cpu() -> float:
    """CPU seconds of this process's reaped children (the SSIM pool's workers once it is shut
    down): on a shared machine, cpu / workers bounds the wall time the run would take alone."""
    import resource
    u = resource.getrusage(resource.RUSAGE_CHILDREN)
    return u.ru_utime + u.ru_stime


def fit_power(ns, ts) -> dict:
    """t = a * n^b by least squares in log-log."""
    b, log_a = np.polyfit(np.log(ns), np.log(ts), 1)
    return {"a": float(math.exp(log_a)), "b": round(float(b), 3)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=int, nargs="*", default=[10_000, 50_000])
    ap.add_argument("--ssim-sizes", type=int, nargs="*", default=[1000, 2000, 5000])
    ap.add_argument("--data", type=Path, default=Path(tempfile.gettempdir()) / "vf-near-dups")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--keep", default="most-labelled", help="dedup --keep")
    ap.add_argument("--dedup-args", default="",
                    help="more dedup options, e.g. '--threshold 12 --confirm ssim'")
    ap.add_argument("--keep-data", action="store_true",
                    help="leave the generated datasets under --data (default: delete each "
                         "after its run)")
    ap.add_argument("--results", type=Path, default=BENCH / "results" / "dedup.json")
    args = ap.parse_args(argv)
    args.data.mkdir(parents=True, exist_ok=True)
    results: dict = {"machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                                 "platform": platform.platform()},
                     "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
                     "load_average_before": os.getloadavg(), "hash": {}, "ssim": {}}
    if args.results.exists():   # keep figures of sizes not rerun this time
        old = json.loads(args.results.read_text())
        results["hash"] = old.get("hash", {})
        results["ssim"] = old.get("ssim", {})

    def save() -> None:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(results, indent=2) + "\n")

    for n in args.ssim_sizes:
        src, truth = dataset(args.data, n, args.seed)
        r = bench_ssim(src, truth, args.workers)
        best = max(r["by_threshold"].items(), key=lambda kv: min(kv[1]["precision"],
                                                                  kv[1]["recall"]))
        print(f"ssim {n:>7} images: {r['wall_s']:8.1f} s  best threshold {best[0]}: "
              f"precision {best[1]['precision']} recall {best[1]['recall']}", flush=True)
        results["ssim"][str(n)] = r
        save()
        if not args.keep_data and n not in args.sizes:
            _remove(args.data, n)
    for n in args.sizes:
        src, truth = dataset(args.data, n, args.seed)
        r = bench_hash(src, truth, ["--keep", args.keep, *args.dedup_args.split()])
        print(f"hash {n:>7} images: {r['wall_s']:8.1f} s  peak tree RSS "
              f"{r['peak_tree_rss_mb']} MB  precision {r['precision']} recall {r['recall']}",
              flush=True)
        results["hash"][str(n)] = r
        save()
        if not args.keep_data:
            _remove(args.data, n)
    for kind in ("hash", "ssim"):
        for measure in ("wall_s", "cpu_s"):
            done = sorted((int(k), v[measure]) for k, v in results[kind].items()
                          if measure in v)
            if len(done) < 2:
                continue
            f = fit_power([n for n, _ in done], [t for _, t in done])
            f["extrapolated_s"] = {str(n): round(f["a"] * n ** f["b"], 1)
                                   for n in (5_000, 50_000, 250_000, 1_000_000)}
            results[f"{kind}_fit_{measure[:-2]}"] = f
            print(f"{kind} {measure[:-2]}: t ~ n^{f['b']}; extrapolated {f['extrapolated_s']}")
    results["load_average_after"] = os.getloadavg()
    save()
    print(f"wrote {args.results}")
    return 0


def _remove(data: Path, n: int) -> None:
    shutil.rmtree(data / f"n{n}", ignore_errors=True)
    (data / f"n{n}.truth.json").unlink(missing_ok=True)


if __name__ == "__main__":
    sys.exit(main())
