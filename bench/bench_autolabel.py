"""Benchmark the auto-labelling teacher: images/s end to end (`autolabel`: read the dataset,
decode, resize, model, NMS, ontology, write) against onnxruntime's own session time on the same
images (the model alone, inputs prepared beforehand). Goal (issue 15): end to end within 80% of
the raw model time, i.e. pre- and post-processing must not dominate.

    python bench/bench_autolabel.py [--model centernet] [--src ../shared/datasets/raccoon]
                                    [--classes raccoon=bear,dog,cat] [--limit N]
                                    [--results bench/results/autolabel.json]

The images are the raccoon dataset's 200 real photos (`../shared/datasets/raccoon`, Pascal
VOC); the model must be pulled (`visionflow models pull centernet`). Timings are wall clock in
this process with a warm page cache; one warm-up image first. Recorded: raw session seconds
and images/s, the detector's per-image phases (preprocess, session, decode), end-to-end
seconds and images/s, their ratio, and the AP50 of the labels against the human ones.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--model", default="centernet")
    ap.add_argument("--src", type=Path, default=REPO.parent / "shared" / "datasets" / "raccoon"
                    / "annotations")
    ap.add_argument("--images-dir", type=Path, default=None)
    ap.add_argument("--classes", default="raccoon=bear,dog,cat")
    ap.add_argument("--limit", type=int, default=None, help="only the first N images")
    ap.add_argument("--chunk", type=int, default=25,
                    help="images per alternating raw / end-to-end round")
    ap.add_argument("--results", type=Path, default=REPO / "bench" / "results" /
                    "autolabel.json")
    args = ap.parse_args(argv)

    import visionflow as vf
    from visionflow.models.autolabel import autolabel
    from visionflow.models.predict import load_detector

    if not args.src.exists():
        print(f"skipped: {args.src} is absent (real datasets not available)", file=sys.stderr)
        return 0
    images_dir = args.images_dir or (args.src.parent / "images"
                                     if (args.src.parent / "images").is_dir() else None)
    ds = vf.load(args.src, images_dir=images_dir)
    if args.limit:
        ds = ds.select_images(np.arange(min(args.limit, len(ds.images))))
    try:
        det = load_detector(args.model)
    except vf.Error as e:
        print(f"skipped: {e}", file=sys.stderr)
        return 0
    n = len(ds.images)

    # Raw and end-to-end runs alternate chunk by chunk, so that load from other work on a
    # shared machine falls on both alike (a ratio taken minutes apart measures the neighbours).
    chunk = max(1, args.chunk)
    raw_s = pre_s = post_s = e2e_s = model_s = 0.0
    first = det.preprocess(ds.image(0))[0]
    det.run(first)  # warm-up
    preds = []
    with tempfile.TemporaryDirectory(prefix="bench-autolabel-") as tmp:
        for c, start in enumerate(range(0, n, chunk)):
            rows = np.arange(start, min(n, start + chunk))
            # 1. raw: the model alone on inputs prepared beforehand (what onnxruntime costs)
            pixels = [ds.image(int(i)) for i in rows]
            t0 = time.perf_counter()
            prepared = [det.preprocess(p) for p in pixels]
            pre_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            raw_out = [det.run(x) for x, _ in prepared]
            raw_s += time.perf_counter() - t0
            t0 = time.perf_counter()
            for out, (_, geo), p in zip(raw_out, prepared, pixels):
                det.decode(out, geo, p.shape[1], p.shape[0])
            post_s += time.perf_counter() - t0
            del pixels, prepared, raw_out
            # 2. end to end: the autolabel call a user makes (read, decode, model, write)
            part = ds.select_images(rows)
            t0 = time.perf_counter()
            result = autolabel(part, Path(tmp) / f"out{c}", det, args.classes, threshold=0.01,
                               to="coco", images="none")
            e2e_s += time.perf_counter() - t0
            model_s += result.seconds
            labelled = vf.load(Path(tmp) / f"out{c}")
            keep = ~np.isnan(labelled.annotations.score)
            ann = labelled.annotations[keep]
            preds.append(ann.replace(image_index=rows[ann.image_index]))
    from visionflow.core.annotations import Annotations
    all_preds = Annotations.concat(preds)
    all_preds = all_preds.replace(id=np.arange(1, len(all_preds) + 1))
    cats = labelled.categories
    ap50 = vf.evaluate(ds, ds.replace(annotations=all_preds, categories=cats)
                       ).to_json()["AP50"]

    record = {
        "model": det.info.name, "images": n, "classes": args.classes,
        "raw_session_s": round(raw_s, 6), "raw_images_per_s": round(n / raw_s, 2),
        "preprocess_ms_per_image": round(1000 * pre_s / n, 2),
        "session_ms_per_image": round(1000 * raw_s / n, 2),
        "postprocess_ms_per_image": round(1000 * post_s / n, 2),
        "model_phase_s": round(model_s, 3),
        "model_phase_images_per_s": round(n / model_s, 2),
        "end_to_end_s": round(e2e_s, 6), "end_to_end_images_per_s": round(n / e2e_s, 2),
        "end_to_end_vs_raw": round(raw_s / e2e_s, 4),
        "goal_end_to_end_vs_raw": 0.8, "ap50_vs_human_labels": ap50,
        "threads": int(os.environ.get("VISIONFLOW_ONNX_THREADS") or len(os.sched_getaffinity(0))),
        "python": platform.python_version(), "machine": platform.machine(),
    }
    args.results.parent.mkdir(parents=True, exist_ok=True)
    args.results.write_text(json.dumps(record, indent=2) + "\n")
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
