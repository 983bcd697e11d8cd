"""Distillation: train a small student detector (MobileNetV2 + CenterNet head) on a teacher's
labels on CPU, evaluate it, and export it for the edge (ONNX; TF Lite when possible).

`distill()` is what `visionflow distill` calls. PyTorch is the optional extra
`visionflow[distill]`; nothing here is imported by `import visionflow`.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...core.dataset import Dataset
from ...core.errors import Error
from .train import STUDENTS, DistillResult, EpochStats

__all__ = ["distill", "DistillResult", "EpochStats", "STUDENTS"]


def distill(src: str | Path | Dataset, out: str | Path, *,
            student: str = "mobilenetv2-detector", epochs: int = 30, input_size: int = 224,
            batch: int = 16, lr: float = 1e-2, resume: bool = False, seed: int = 0,
            gt: str | Path | Dataset | None = None, workspace: str | Path | None = None,
            backbone: str | Path | None = "mobilenetv2", width: float = 1.0,
            finetune: int = 0, overwrite: bool = False, force: bool = False, tflite: bool = True,
            threads: int | None = None, progress: Callable | None = None,
            on_epoch: Callable[[EpochStats], None] | None = None) -> DistillResult:
    """`visionflow distill`: train the student on SRC's train split (SRC: teacher labels, e.g.
    `visionflow autolabel`'s output; a dataset, or with `workspace` a version), checkpoint
    each epoch in OUT/checkpoint.pt (`resume` continues from it, with the same result as an
    uninterrupted run), evaluate on the val (else test) split against SRC's labels and, with
    `gt` (human labels of the same images), against humans, next to the teacher; export
    OUT/student.onnx (+ student.json sidecar, checked against torch) and TF Lite when
    possible; write OUT/report.json and report.md.

    backbone: the registry model holding nsfwjs's MobileNetV2 weights ("mobilenetv2", pulled
    with `visionflow models pull mobilenetv2`), a folder of those TF.js files, or None /
    "none" to start from random weights (tests; students from scratch overfit small sets).
    width: the channel multiplier of a random backbone. finetune: how many of the pretrained
    backbone's top blocks (stride 32) learn, 0 to 4 (the rest stays frozen; 0 generalised
    best on raccoon). threads: torch's CPU threads (on a busy shared machine 1 is often
    faster than several competing). Raises Error for bad input or settings.
    """
    from ...io.atomic import guard_destination, source_root
    from .train import load_source

    if threads is not None:
        from .backbone import _torch
        if threads < 1:
            raise Error("--threads must be at least 1")
        _torch().set_num_threads(threads)
    if isinstance(backbone, str) and backbone.lower() == "none":
        backbone = None
    where = "SRC" if isinstance(src, Dataset) else str(src)
    ds = load_source(src, workspace)
    human = None
    if gt is not None:
        from ...api import load
        human = gt if isinstance(gt, Dataset) else load(gt)
    sources = source_root(src) if isinstance(src, (str, Path)) and workspace is None else []
    if isinstance(gt, (str, Path)):
        sources = [*sources, *source_root(gt)]
    out = Path(out)
    replaced = None
    if resume:
        out = out.absolute()
        if not (out / "checkpoint.pt").is_file():
            raise Error(f"{out}: nothing to resume (no checkpoint.pt); drop --resume")
    else:
        out = guard_destination(out, sources=sources, keep=[workspace] if workspace else [],
                                overwrite=overwrite, force=force)
        if out.exists():  # the old run waits beside OUT until this one is complete
            replaced = out.with_name(f".{out.name}.replaced-{os.getpid()}")
            os.replace(out, replaced)
    try:
        result = _run(ds, human, out, where, student, epochs, input_size, batch, lr, resume,
                      seed, backbone, width, finetune, tflite, progress, on_epoch)
    except BaseException:
        if replaced is not None:  # failed or interrupted: the previous run comes back
            shutil.rmtree(out, ignore_errors=True)
            os.replace(replaced, out)
        raise
    if replaced is not None:
        shutil.rmtree(replaced, ignore_errors=True)
    return result


def _run(ds, human, out, where, student, epochs, input_size, batch, lr, resume, seed,
         backbone, width, finetune, tflite, progress, on_epoch) -> DistillResult:
    """Train, evaluate, export and report into OUT (checked and cleared by `distill`)."""
    from ...io.atomic import MARKER, MARKER_TEXT
    from .export import compare_onnx, export_onnx, export_tflite
    from .report import evaluate_student, predict_rows, write_report
    from .train import load_image, pick_splits, train

    out.mkdir(parents=True, exist_ok=True)
    (out / MARKER).write_bytes(MARKER_TEXT)
    _, val_rows, val_split = pick_splits(ds, where)
    model, history, ran = train(ds, out, student=student, epochs=epochs,
                                input_size=input_size, batch=batch, lr=lr, resume=resume,
                                seed=seed, backbone=None if backbone is None else str(backbone),
                                width=width, finetune=finetune, where=where, progress=progress,
                                on_epoch=on_epoch)
    pred, ms = predict_rows(model, ds, val_rows, input_size)
    evaluation = evaluate_student(pred, ds.select_images(val_rows), human)
    onnx = export_onnx(model, out / "student.onnx", list(ds.classes), input_size)
    sample = np.stack([load_image(ds, r, input_size) for r in val_rows[:8]])
    check = compare_onnx(model, onnx, sample)
    if check["boxes"] > 1e-3 or check["scores"] > 1e-3 or check["labels_differ"]:
        raise Error(f"{onnx}: onnxruntime's outputs differ from torch's ({check}); "
                    "the export is wrong, do not ship it")
    exports: dict[str, Any] = {"onnx": str(onnx), "onnx_vs_torch": check}
    lite = export_tflite(model, out, list(ds.classes), input_size, sample) if tflite \
        else {"skipped": "not requested"}
    exports["tflite"] = lite
    report = {"student": student, "source": where, "epochs": epochs, "input_size": input_size,
              "seed": seed, "classes": list(ds.classes),
              "train_images": int((np.asarray(ds.images.split) == "train").sum()),
              "val_split": val_split, "val_images": len(val_rows), "evaluation": evaluation,
              "history": history, "exports": exports, "ms_per_image_torch": ms,
              "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
    write_report(out, report)
    return DistillResult(out, ran, history, onnx, lite, report)
