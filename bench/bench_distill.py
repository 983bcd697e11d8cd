"""Benchmark the distilled student on CPU: training seconds per step and inference ms/image.

    python bench/bench_distill.py [--input-size 224] [--batch 16] [--threads 1 2]
                                  [--results bench/results/distill.json]

Measured on the real architecture (MobileNetV2 + CenterNet head; the pretrained weights when
`visionflow models pull mobilenetv2` was run, else random ones: the timings do not depend on
the weights):
- feature extraction: the frozen backbone part, once per image and flip (ms/image);
- training step: what `distill` runs per step (top blocks + head, forward + backward + AdamW
  on cached features), batch B;
- full step, for reference: the same step with the whole backbone trainable;
- student ONNX in onnxruntime, batch 1 (ms/image), and TF Lite when exported files are given
  with --tflite.
Median of several repeats after a warm-up; the numbers for the lead go to --results.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np


def timed(fn, repeats: int) -> float:
    fn()                                            # warm-up
    samples = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        samples.append(time.perf_counter() - t0)
    return statistics.median(samples)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--input-size", type=int, default=224)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--tflite", type=Path, nargs="*", default=[])
    ap.add_argument("--results", type=Path)
    args = ap.parse_args()

    import torch

    from visionflow.models.base import models_dir
    from visionflow.models.distill.export import export_onnx
    from visionflow.models.distill.student import build_student
    from visionflow.models.distill.train import centernet_loss, encode

    pulled = (models_dir() / "mobilenetv2").is_dir()
    s, b = args.input_size, args.batch
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.random((b, 3, s, s), np.float32)).contiguous(
        memory_format=torch.channels_last)
    boxes = [(np.array([[0.2, 0.2, 0.6, 0.7]], np.float32), np.array([0]))] * b
    heat, reg, mask = (torch.from_numpy(a) for a in encode(boxes, 1, s // 8))
    out = {"input_size": s, "batch": b, "pretrained": pulled, "cpus": os.cpu_count(),
           "machine": platform.machine(), "python": sys.version.split()[0],
           "torch": torch.__version__, "threads": {}}
    for threads in args.threads:
        torch.set_num_threads(threads)
        torch.manual_seed(0)
        model = build_student(1, backbone="mobilenetv2" if pulled else None)
        model = model.to(memory_format=torch.channels_last)
        model.train()
        model.backbone.eval()
        for p in model.backbone.parameters():
            p.requires_grad_(False)
        upper = [p for blk in model.backbone.blocks[13:] for p in blk.parameters()]
        for p in upper:
            p.requires_grad_(True)
        opt = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], 1e-3)
        with torch.no_grad():
            f8, f16 = model.backbone.lower(x)

        def extract():
            with torch.no_grad():
                model.backbone.lower(x)

        def step():
            logits, size = model.head(f8, f16)
            loss = centernet_loss(logits, size, heat, reg, mask)
            opt.zero_grad()
            loss.backward()
            opt.step()

        def full_step():
            for p in model.backbone.parameters():
                p.requires_grad_(True)
            logits, size = model(x)
            loss = centernet_loss(logits, size, heat, reg, mask)
            loss.backward()
            model.zero_grad()

        r = {"features_ms_per_image": 1000 * timed(extract, args.repeats) / b,
             "step_s": timed(step, args.repeats),
             "full_step_s": timed(full_step, max(1, args.repeats // 2))}
        model.eval()
        with tempfile.TemporaryDirectory() as tmp:
            path = export_onnx(model, Path(tmp) / "student.onnx", ["object"], s)
            import onnxruntime as ort
            opts = ort.SessionOptions()
            opts.intra_op_num_threads = threads
            sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
            one = rng.random((1, 3, s, s), np.float32)
            r["onnx_ms_per_image"] = 1000 * timed(lambda: sess.run(None, {"image": one}),
                                                  args.repeats * 4)
            r["onnx_mb"] = path.stat().st_size / 2 ** 20
        for lite in args.tflite:
            import tensorflow as tf
            interp = tf.lite.Interpreter(str(lite), num_threads=threads)
            interp.allocate_tensors()
            inp = interp.get_input_details()[0]
            data = (rng.random(inp["shape"]) * (255 if inp["dtype"] != np.float32 else 1)
                    ).astype(inp["dtype"])

            def run_lite():
                interp.set_tensor(inp["index"], data)
                interp.invoke()
            r[f"tflite_ms_per_image[{lite.name}]"] = 1000 * timed(run_lite, args.repeats * 4)
        out["threads"][str(threads)] = r
        print(threads, "threads:", json.dumps({k: round(v, 4) for k, v in r.items()}),
              flush=True)
    if args.results:
        args.results.parent.mkdir(parents=True, exist_ok=True)
        args.results.write_text(json.dumps(out, indent=2) + "\n")


if __name__ == "__main__":
    main()
