"""Run the benchmark: every tool as a whole process, same run, alternating, several runs.

    python bench/run.py --images 5000 [--runs 3] [--tasks load,coco2yolo,...]
                        [--tools visionflow,globox,...] [--timeout 600]

Runs with the peers' venv (bench/.venv-peers); visionflow runs from the repo venv (.venv).
Each command is timed by wall clock here and by `/usr/bin/time -f %M` for peak RSS (whole
process, imports included). In each run the tools of a task go in a rotated order, so slow
disk moments spread over everyone. After the runs, every tool's output of the last run is
parsed and its boxes compared with visionflow's (and visionflow's with the generated truth):
see compare.py. Results: bench/results/results-<images>.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
PEERS_PY = BENCH / ".venv-peers" / "bin" / "python"
VF_PY = Path(os.environ.get("VF_PYTHON", REPO / ".venv" / "bin" / "python"))
VF_CLI = VF_PY.parent / "visionflow"

TASKS = ["load", "load-poly", "coco2yolo", "coco2voc", "yolo2coco", "voc2coco"]
TOOLS = ["visionflow", "pycocotools", "globox", "datumaro", "supervision",
         "json", "orjson", "orjson-nogc", "floor"]
FLOORS = {"json", "orjson", "orjson-nogc", "floor"}
LOAD_TASKS = {"load", "load-poly"}

# visionflow: the CLI for conversions (labels only: --images none, as the peers write labels
# only; the default --images copy would also copy every image), the library for load
_VF_CONVERT = {"coco2yolo": ("coco", "coco", "yolo"), "coco2voc": ("coco", "coco", "voc"),
               "yolo2coco": ("yolo", "yolo", "coco"), "voc2coco": ("voc", "voc", "coco")}


def command(tool: str, task: str, data: Path, out: Path, shape: Path | None) -> list[str] | None:
    """The command line of `tool` doing `task`, or None when the tool does not do it."""
    if tool == "visionflow":
        if task in LOAD_TASKS:
            return [str(VF_PY), str(BENCH / "peers" / "visionflow_drv.py"), task, str(data),
                    str(out)]
        src, fmt, to = _VF_CONVERT[task]
        # the generated VOC (and compare.py's reading of VOC output) is the devkit's 1-based
        devkit = {"voc2coco": ["-I", "coords=one-based"],
                  "coco2voc": ["-O", "coords=one-based"]}.get(task, [])
        return [str(VF_CLI), "convert", str(data / src), str(out), "--to", to, "--from", fmt,
                "--images", "none", *devkit]
    if tool in ("json", "orjson", "orjson-nogc"):
        if task not in LOAD_TASKS:
            return None
        floor_task = {"json": "load-json", "orjson": "load-orjson",
                      "orjson-nogc": "load-orjson-nogc"}[tool]
        data_arg = data if task == "load" else _poly_view(data)
        return [str(PEERS_PY), str(BENCH / "floors.py"), floor_task, str(data_arg), str(out)]
    if tool == "floor":
        if task in LOAD_TASKS or shape is None:
            return None
        return [str(PEERS_PY), str(BENCH / "floors.py"), task, str(data), str(out), str(shape)]
    if tool == "pycocotools" and task not in LOAD_TASKS:
        return None
    return [str(PEERS_PY), str(BENCH / "peers" / f"{tool}_drv.py"), task, str(data), str(out)]


def _poly_view(data: Path) -> Path:
    """A folder whose coco/ is the polygon set (the floors read DATA/coco/...)."""
    view = data / "poly-view"
    if not (view / "coco").exists():
        view.mkdir(exist_ok=True)
        os.symlink("../poly", view / "coco")
    return view


def measure(cmd: list[str], timeout: float) -> dict:
    with tempfile.NamedTemporaryFile("r", suffix=".time") as tf:
        full = ["/usr/bin/time", "-o", tf.name, "-f", "%M %S %U"] + cmd
        t0 = time.perf_counter()
        try:
            p = subprocess.run(full, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                               timeout=timeout, env={**os.environ, "PYTHONWARNINGS": "ignore"})
        except subprocess.TimeoutExpired:
            return {"wall": None, "rss_mib": None, "status": f"timeout>{timeout:.0f}s"}
        wall = time.perf_counter() - t0
        fields = tf.read().split()
    rss_kb, sys_s, user_s = (float(x) for x in fields[-3:]) if len(fields) >= 3 else (0, 0, 0)
    status = "ok" if p.returncode == 0 else f"exit {p.returncode}: " + (
        p.stderr.decode(errors="replace").strip().splitlines() or ["?"])[-1][:200]
    return {"wall": round(wall, 3), "rss_mib": round(rss_kb / 1024, 1), "user": user_s,
            "sys": sys_s, "status": status}


def output_shape(out: Path) -> list[list]:
    return sorted([str(p.relative_to(out)), p.stat().st_size] for p in out.rglob("*")
                  if p.is_file())


def loadavg() -> float:
    return os.getloadavg()[0]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--images", type=int, required=True)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--tasks", default=",".join(TASKS))
    ap.add_argument("--tools", default=",".join(TOOLS))
    ap.add_argument("--timeout", type=float, default=900)
    ap.add_argument("--data", type=Path, default=BENCH / "data")
    ap.add_argument("--results", type=Path, default=BENCH / "results")
    ap.add_argument("--merge", action="store_true",
                    help="replace only these tasks in an existing results file (a task's "
                         "tools still run together, alternating)")
    ap.add_argument("--recheck", action="store_true",
                    help="only redo the correctness comparison on the outputs left on disk")
    args = ap.parse_args(argv)
    data = args.data / str(args.images)
    if args.recheck:
        from compare import compare_task
        path = args.results / f"results-{args.images}.json"
        res = json.loads(path.read_text())
        for task, per_tool in res["tasks"].items():
            if task in LOAD_TASKS:
                continue
            outputs = {t: data / "out" / task / t for t, e in per_tool.items()
                       if t not in FLOORS and e.get("status") == "ok"
                       and (data / "out" / task / t).exists()}
            res.setdefault("correctness", {})[task] = compare_task(task, data, outputs)
        path.write_text(json.dumps(res, indent=1))
        print(f"rechecked {path}")
        return 0
    if not (data / "DONE").exists():
        sys.exit(f"{data}: not generated (python bench/generate.py --images {args.images})")
    tasks = [t for t in args.tasks.split(",") if t]
    if "load-poly" in tasks and not (data / "DONE.poly").exists():
        tasks.remove("load-poly")
    tools = [t for t in args.tools.split(",") if t]
    work = data / "out"
    args.results.mkdir(parents=True, exist_ok=True)
    results: dict = {"images": args.images, "runs": args.runs, "timeout": args.timeout,
                     "started": time.strftime("%Y-%m-%d %H:%M:%S"), "tasks": {},
                     "python": platform.python_version(), "loadavg": []}
    shapes: dict[str, Path] = {}
    # Warm-up, untimed: visionflow once per conversion (gives the floors their output shape
    # and warms the page cache for everyone).
    for task in tasks:
        if task in LOAD_TASKS or "visionflow" not in tools and "floor" not in tools:
            continue
        out = work / task / "warmup"
        shutil.rmtree(out, ignore_errors=True)
        m = measure(command("visionflow", task, data, out, None), args.timeout)
        if m["status"] == "ok":
            shape_file = work / f"shape-{task}.json"
            shape_file.write_text(json.dumps(output_shape(out)))
            shapes[task] = shape_file
        print(f"[warm-up] visionflow {task}: {m}", flush=True)
    for old_output in [p for p in work.iterdir() if p.is_dir()] if work.exists() else []:
        shutil.rmtree(old_output, ignore_errors=True)  # earlier benchmarks' and the warm-up's
    os.sync()
    time.sleep(15)  # let the file system finish the deletions before anything is timed
    # No output is deleted while tools are timed: on these disks (ext4 with online discard)
    # deleting thousands of files slows every file created in the next seconds 2-10x, which
    # would bill one tool for another's cleanup. Earlier runs write beside the last one
    # (`work/runs/<n>/`); everything is removed once, before the first timed run.
    for run in range(args.runs):
        for task in tasks:
            runnable = [t for t in tools if command(t, task, data, work, shapes.get(task))]
            k = run % len(runnable) if runnable else 0
            order = runnable[k:] + runnable[:k]
            for tool in order:
                out = (work / task / tool if run == args.runs - 1
                       else work / "runs" / str(run) / task / tool)
                cmd = command(tool, task, data, out, shapes.get(task))
                la = loadavg()
                m = measure(cmd, args.timeout)
                m["loadavg_before"] = round(la, 2)
                results["loadavg"].append(round(la, 2))
                entry = results["tasks"].setdefault(task, {}).setdefault(
                    tool, {"runs": [], "command": " ".join(cmd)})
                entry["runs"].append(m)
                print(f"[{args.images} run {run + 1}/{args.runs}] {task:10s} {tool:12s} "
                      f"{m['wall']} s {m['rss_mib']} MiB {m['status']} (load {la:.1f})",
                      flush=True)
    for task, per_tool in results["tasks"].items():
        for tool, entry in per_tool.items():
            ok = [r for r in entry["runs"] if r["status"] == "ok"]
            entry["median_wall"] = statistics.median(r["wall"] for r in ok) if ok else None
            entry["median_rss_mib"] = statistics.median(r["rss_mib"] for r in ok) if ok else None
            entry["median_cpu"] = (statistics.median(r["user"] + r["sys"] for r in ok)
                                   if ok else None)
            entry["status"] = "ok" if ok else entry["runs"][-1]["status"]
    # Correctness side by side, on the last run's outputs.
    from compare import compare_task
    for task in tasks:
        if task in LOAD_TASKS:
            continue
        outputs = {tool: work / task / tool for tool in tools
                   if tool not in FLOORS and (work / task / tool).exists()
                   and results["tasks"].get(task, {}).get(tool, {}).get("status") == "ok"}
        try:
            results.setdefault("correctness", {})[task] = compare_task(task, data, outputs)
        except Exception as e:  # a report, never a crash after an hour of measuring
            results.setdefault("correctness", {})[task] = {"error": repr(e)}
        print(f"[correctness] {task}: {json.dumps(results['correctness'][task])[:600]}",
              flush=True)
    results["finished"] = time.strftime("%Y-%m-%d %H:%M:%S")
    path = args.results / f"results-{args.images}.json"
    if args.merge and path.exists():
        old = json.loads(path.read_text())
        old["tasks"].update(results["tasks"])
        old.setdefault("correctness", {}).update(results.get("correctness", {}))
        old["loadavg"] = old.get("loadavg", []) + results["loadavg"]
        old["finished"] = results["finished"]
        old.setdefault("merged", []).append({"tasks": tasks, "started": results["started"]})
        results = old
    path.write_text(json.dumps(results, indent=1))
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(BENCH))
    sys.exit(main())
