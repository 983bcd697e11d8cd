"""Write BENCHMARKS.md (repo root) and docs/bench.png from bench/results/results-*.json.

    python bench/report.py

The hand-written part (profile, what changed and what it gained) lives in bench/PROFILE.md
and is copied in as is. Other benchmark scripts' results (bench/results/<area>.json from
bench/bench_<area>.py) are listed raw, then bench/FEATURES.md (the hand-written sections of
the feature benchmarks: evaluation, dedup, autolabel, distill, the web app) closes the page.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
PEERS = ["pycocotools", "globox", "datumaro", "supervision"]
FLOORS = ["json", "orjson", "orjson-nogc", "floor"]
TASK_TITLES = {"load": "load COCO", "load-poly": "load COCO (polygons)",
               "coco2yolo": "COCO→YOLO", "coco2voc": "COCO→VOC", "yolo2coco": "YOLO→COCO",
               "voc2coco": "VOC→COCO"}


def machine() -> str:
    model, cores = "?", 0
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            model = line.split(":", 1)[1].strip()
            cores += 1
    mem = subprocess.run(["free", "-m"], capture_output=True, text=True).stdout.splitlines()
    total = mem[1].split()[1] if len(mem) > 1 else "?"
    return (f"{model}, {cores} cores, {int(total) / 1024:.1f} GiB RAM, Linux "
            f"{platform.release()}, Python {platform.python_version()}")


def versions() -> str:
    out = []
    for pkg in ["datumaro", "globox", "supervision", "pycocotools", "orjson", "numpy"]:
        try:
            out.append(f"{pkg} {metadata.version(pkg)}")
        except metadata.PackageNotFoundError:
            out.append(f"{pkg} (not installed)")
    try:
        rev = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                             capture_output=True, text=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain", "src"],
                               capture_output=True, text=True).stdout.strip()
        out.insert(0, f"visionflow {rev}{'+local changes' if dirty else ''}")
    except OSError:
        pass
    return ", ".join(out)


def fmt_cell(e: dict | None) -> str:
    if e is None:
        return "–"
    if e.get("median_wall") is None:
        return e.get("status", "failed").split(":")[0]
    cpu = f" ({e['median_cpu']:.1f} cpu)" if e.get("median_cpu") is not None else ""
    return f"{e['median_wall']:.2f} s{cpu} / {e['median_rss_mib']:.0f} MiB"


def ratio(a: float | None, b: float | None) -> str:
    return f"{a / b:.2f}×" if a and b else "–"


def size_section(res: dict) -> list[str]:
    n = res["images"]
    tasks = list(res["tasks"])
    tools = [t for t in ["visionflow"] + PEERS + FLOORS
             if any(t in res["tasks"][k] for k in tasks)]
    la = res.get("loadavg") or [0]
    lines = [f"### {n:,} images ({res['runs']} run(s), median; load average during the run "
             f"{min(la):.1f}–{max(la):.1f} on {os.cpu_count()} cores)", "",
             "Wall seconds (user+sys CPU seconds) / peak RSS (whole process, imports "
             "included). On a shared, overloaded machine the CPU seconds are the steadier "
             "number; the ratios below use wall time.", "",
             "| tool | " + " | ".join(TASK_TITLES.get(t, t) for t in tasks) + " |",
             "|---" * (len(tasks) + 1) + "|"]
    for tool in tools:
        lines.append(f"| {tool} | " + " | ".join(fmt_cell(res["tasks"][t].get(tool))
                                                  for t in tasks) + " |")
    lines += ["", "Ratios: peer / visionflow (> 1: visionflow faster or leaner), and visionflow / "
              "floor (1.0 = at the floor); wall-time ratio, CPU-time ratio in brackets, peak "
              "memory ratio.", "",
              "| ratio | " + " | ".join(TASK_TITLES.get(t, t) for t in tasks) + " |",
              "|---" * (len(tasks) + 1) + "|"]
    vf = {t: res["tasks"][t].get("visionflow", {}) for t in tasks}
    for peer in PEERS:
        if not any(peer in res["tasks"][t] for t in tasks):
            continue
        cells = []
        for t in tasks:
            e = res["tasks"][t].get(peer)
            if e is None:
                cells.append("–")
            elif e.get("median_wall") is None:
                cells.append(e.get("status", "failed").split(":")[0])
            else:
                cells.append(f"{ratio(e['median_wall'], vf[t].get('median_wall'))} wall "
                             f"({ratio(e.get('median_cpu'), vf[t].get('median_cpu'))} cpu), "
                             f"{ratio(e['median_rss_mib'], vf[t].get('median_rss_mib'))} mem")
        lines.append(f"| {peer} / visionflow | " + " | ".join(cells) + " |")
    for fl in FLOORS:
        if not any(fl in res["tasks"][t] for t in tasks):
            continue
        cells = [f"{ratio(vf[t].get('median_wall'), res['tasks'][t][fl].get('median_wall'))} "
                 f"wall ({ratio(vf[t].get('median_cpu'), res['tasks'][t][fl].get('median_cpu'))}"
                 " cpu)" if fl in res["tasks"][t] else "–" for t in tasks]
        lines.append(f"| visionflow / {fl} | " + " | ".join(cells) + " |")
    lines.append("")
    corr = res.get("correctness", {})
    if corr:
        lines += ["Correctness (last run's outputs, parsed the same way; boxes matched by class "
                  "name within 0.5 px):", "",
                  "| task | tool | vs generated truth | vs visionflow | notes |",
                  "|---|---|---|---|---|"]
        for task, per_tool in corr.items():
            if "error" in per_tool:
                lines.append(f"| {TASK_TITLES.get(task, task)} | – | {per_tool['error']} | | |")
                continue
            for tool, e in per_tool.items():
                lines.append(f"| {TASK_TITLES.get(task, task)} | {tool} | "
                             f"{describe(e['vs_truth'])} | "
                             f"{describe(e['vs_visionflow']) if 'vs_visionflow' in e else '–'} | "
                             f"{notes(e['notes'])} |")
        lines.append("")
    return lines


def describe(d: dict) -> str:
    if d["ok"]:
        s = f"same {d['boxes']:,} boxes (max diff {d['max_diff_px']:g} px)"
    else:
        parts = []
        if d["images_missing"]:
            parts.append(f"{d['images_missing']:,} images missing "
                         f"({d['empty_images_missing']:,} of them without boxes)")
        if d["images_extra"]:
            parts.append(f"{d['images_extra']:,} extra images")
        if d["boxes_missing"]:
            parts.append(f"{d['boxes_missing']:,} boxes missing")
        if d["boxes_extra"]:
            parts.append(f"{d['boxes_extra']:,} extra boxes")
        if d["boxes_off"]:
            parts.append(f"{d['boxes_off']:,} boxes off by > 0.5 px (max {d['max_diff_px']:g})")
        s = "**" + "; ".join(parts) + "**"
    if d.get("order_differs"):
        s += f"; box order differs in {d['order_differs']:,} images"
    return s


def notes(n: dict) -> str:
    out = []
    if "max_decimals" in n:
        out.append(f"{n['max_decimals']} decimals")
    if n.get("class_index_is_name"):
        out.append("class names written instead of indices")
    if "whole_pixels" in n:
        out.append("whole pixels" if n["whole_pixels"] else "float coordinates")
    if n.get("categories_renumbered"):
        out.append(f"{n['categories_renumbered']} category ids differ from the source COCO ids")
    return ", ".join(out)


def plot(all_res: list[dict], path: Path) -> None:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    tools = ["visionflow"] + PEERS + ["json", "floor"]
    colors = {"visionflow": "#d62728", "pycocotools": "#7f7f7f", "globox": "#1f77b4",
              "datumaro": "#2ca02c", "supervision": "#9467bd", "json": "#bcbd22",
              "floor": "#17becf"}
    fig, axes = plt.subplots(2, len(all_res), figsize=(5.5 * len(all_res), 7), squeeze=False)
    for col, res in enumerate(all_res):
        tasks = [t for t in res["tasks"]]
        width = 0.8 / len(tools)
        for row, key in enumerate(["median_wall", "median_rss_mib"]):
            ax = axes[row][col]
            for k, tool in enumerate(tools):
                vals = [(res["tasks"][t].get(tool) or {}).get(key) or 0 for t in tasks]
                ax.bar([i + k * width for i in range(len(tasks))], vals, width,
                       label=tool, color=colors[tool])
            ax.set_xticks([i + 0.4 - width / 2 for i in range(len(tasks))])
            ax.set_xticklabels([TASK_TITLES.get(t, t) for t in tasks], rotation=30,
                               ha="right", fontsize=8)
            ax.set_yscale("log")
            ax.set_ylim(bottom=0.1 if row == 0 else 10)
            ax.set_ylabel("wall s (log)" if row == 0 else "peak RSS MiB (log)")
            ax.set_title(f"{res['images']:,} images: {'time' if row == 0 else 'memory'}",
                         fontsize=10)
            ax.grid(axis="y", alpha=0.3)
    axes[0][0].legend(fontsize=7, ncol=2)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=70)


def main() -> None:
    all_res = sorted((json.loads(p.read_text()) for p in RESULTS.glob("results-*.json")),
                     key=lambda r: r["images"])
    lines = ["# Benchmarks", "",
             "Regenerated by `make bench` (`make bench SIZES=\"5000 50000 250000\"` for the "
             "250k headline; it needs ~20 GB of disk, every output being kept until the next benchmark, and two hours). Every tool runs as a whole "
             "process, in the same run, tools alternating, median of the runs. Labels only "
             "for every tool: visionflow `convert --images none`, datumaro `save_media=False`, "
             "supervision without `images_directory_path`, globox never copies images. Data: "
             "`bench/generate.py` (deterministic; real COCO class ids with gaps, long tail, ~6% "
             "images without boxes, real JPEGs of the declared sizes). Drivers: "
             "`bench/peers/*.py`; floors: `bench/floors.py`; correctness: `bench/compare.py`.",
             "", f"Machine: {machine()}.", "", f"Versions: {versions()}.", "",
             "![time and memory per tool and size](docs/bench.png)", ""]
    for a, b in zip(all_res, all_res[1:]):
        growth = []
        for t in b["tasks"]:
            va = a["tasks"].get(t, {}).get("visionflow", {}).get("median_wall")
            vb = b["tasks"][t].get("visionflow", {}).get("median_wall")
            if va and vb:
                growth.append(f"{TASK_TITLES.get(t, t)} {vb / va:.1f}×")
        if growth:
            lines += [f"Growth of visionflow's time from {a['images']:,} to {b['images']:,} "
                      f"images ({b['images'] // a['images']}× the data): " + ", ".join(growth)
                      + ".", ""]
    for res in all_res:
        lines += size_section(res)
    profile = BENCH / "PROFILE.md"
    if profile.exists():
        lines += [profile.read_text().rstrip(), ""]
    others = [p for p in sorted(RESULTS.glob("*.json")) if not p.name.startswith("results-")]
    if others:
        lines += ["## Other benchmark scripts (bench/bench_*.py)", ""]
        for p in others:
            lines += [f"`{p.name}`:", "", "```json", p.read_text()[:3000].rstrip(), "```", ""]
    features = BENCH / "FEATURES.md"  # hand-written: one section per feature benchmark
    if features.exists():
        lines += [features.read_text().rstrip(), ""]
    (REPO / "BENCHMARKS.md").write_text("\n".join(lines) + "\n")
    if all_res:
        plot(all_res, REPO / "docs" / "bench.png")
    print(f"wrote {REPO / 'BENCHMARKS.md'}" + (" and docs/bench.png" if all_res else ""))


if __name__ == "__main__":
    main()
