"""Evaluate the student on the validation split and write the report: student against the
teacher's labels (did it learn what it was taught?), and with human labels (--gt) student
against humans and teacher against humans (what the shipped model is really worth, next to
the teacher it came from). Numbers come from visionflow's evaluate (COCO AP as pycocotools).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from ...core.annotations import Annotations
from ...core.dataset import Dataset
from ...core.errors import Error
from .backbone import _torch
from .train import load_image

MIN_SCORE = 0.01


def predict_rows(model, ds: Dataset, rows: np.ndarray, input_size: int, *,
                 batch: int = 16, progress=None) -> tuple[Dataset, float]:
    """The student's detections on ds's `rows` as a predictions Dataset (scores set, boxes
    in each image's pixels), and the mean ms per image of the network alone."""
    torch = _torch()
    from .student import exportable
    net = exportable(model)
    image_index, cats, boxes, scores = [], [], [], []
    ids = np.asarray(ds.categories.ids, np.int64)
    seconds = 0.0
    for s in range(0, len(rows), batch):
        part = rows[s:s + batch]
        x = np.stack([load_image(ds, r, input_size) for r in part])
        x = torch.from_numpy(x).permute(0, 3, 1, 2).float().div(255)
        t0 = time.perf_counter()
        with torch.no_grad():
            b, sc, lb = (t.numpy() for t in net(x.contiguous(memory_format=torch.channels_last)))
        seconds += time.perf_counter() - t0
        for k, r in enumerate(part):
            keep = sc[k] >= MIN_SCORE
            w, h = float(ds.images.width[r]), float(ds.images.height[r])
            image_index.extend([k + s] * int(keep.sum()))
            cats.extend(ids[lb[k][keep]].tolist())
            boxes.append(b[k][keep].astype(np.float64) * [w, h, w, h])
            scores.extend(sc[k][keep].tolist())
    images = ds.images[rows]
    ann = Annotations.build(image_index, cats, np.concatenate(boxes) if boxes else
                            np.zeros((0, 4)), score=np.asarray(scores, np.float64))
    pred = Dataset(images, ann, ds.categories, {**ds.meta, "source_format": None})
    return pred, 1000 * seconds / max(1, len(rows))


def _summary(ev) -> dict[str, Any]:
    j = ev.to_json()
    return {k: j.get(k) for k in ("AP", "AP50", "AP75", "AR100")} | {"images": j.get("images")}


def _with_scores(ds: Dataset) -> Dataset:
    """The teacher's labels as predictions: a label without a score counts as certain."""
    ann = ds.annotations
    score = ann.score if ann.score is not None else np.full(len(ann), np.nan)
    return ds.replace(annotations=ann.replace(score=np.where(np.isnan(score), 1.0, score)))


def evaluate_student(pred: Dataset, teacher_val: Dataset, gt: Dataset | None) -> dict[str, Any]:
    """AP of student vs teacher, and with gt: student vs humans, teacher vs humans."""
    from ...evaluation.run import evaluate
    out: dict[str, Any] = {"student_vs_teacher": _summary(evaluate(teacher_val, pred))}
    if gt is not None:
        names = set(teacher_val.images.file_name.tolist())
        keep = np.array([n in names for n in gt.images.file_name.tolist()], bool)
        if not keep.any():
            raise Error("--gt: shares no image file names with SRC's validation split")
        human = gt.select_images(keep)
        inside = set(human.images.file_name.tolist())
        rows = np.array([n in inside for n in pred.images.file_name.tolist()], bool)
        if set(human.classes) - set(pred.classes) or set(pred.classes) - set(human.classes):
            raise Error(f"--gt: classes {sorted(human.classes)} differ from SRC's "
                        f"{sorted(pred.classes)}")
        out["student_vs_human"] = _summary(evaluate(human, pred.select_images(rows)))
        out["teacher_vs_human"] = _summary(evaluate(human,
                                                    _with_scores(teacher_val).select_images(rows)))
        out["human_images"] = int(keep.sum())
    return out


def write_report(out: Path, report: dict[str, Any]) -> tuple[Path, Path]:
    """report.json and report.md in out, each written atomically."""
    paths = out / "report.json", out / "report.md"
    for path, text in zip(paths, (json.dumps(report, indent=2) + "\n", markdown(report))):
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_text(text)
        os.replace(tmp, path)
    return paths


def _fmt(x: Any) -> str:
    return "-" if x is None else f"{x:.3f}" if isinstance(x, float) else str(x)


def markdown(report: dict[str, Any]) -> str:
    ev = report["evaluation"]
    lines = [f"# Distilled student: {report['student']}", "",
             f"Trained on {report['train_images']} images of {report['source']} "
             f"({report['epochs']} epochs, input {report['input_size']} px, seed "
             f"{report['seed']}); evaluated on the {report['val_split']!r} split "
             f"({report['val_images']} images).", "",
             "| comparison | AP | AP50 | AP75 | AR100 | images |", "|---|---|---|---|---|---|"]
    for key, what in (("student_vs_teacher", "student vs teacher labels"),
                      ("student_vs_human", "student vs human labels"),
                      ("teacher_vs_human", "teacher vs human labels")):
        if key in ev:
            r = ev[key]
            lines.append(f"| {what} | " + " | ".join(_fmt(r.get(k)) for k in
                                                       ("AP", "AP50", "AP75", "AR100",
                                                        "images")) + " |")
    lines += ["", "## Training", "", "| epoch | loss | s/step |", "|---|---|---|"]
    lines += [f"| {h['epoch']} | {h['loss']:.4f} | {h['seconds_per_step']:.3f} |"
              for h in report["history"]]
    lines += ["", "## Exports", ""]
    for kind, value in report["exports"].items():
        lines.append(f"- {kind}: {value}")
    lines += ["", f"Student speed (torch, CPU): {report['ms_per_image_torch']:.1f} ms/image", ""]
    return "\n".join(lines)
