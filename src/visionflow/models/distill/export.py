"""Export the trained student: ONNX in visionflow's generic detector contract (see
models/onnx_detector.py: a sidecar `<model>.json` and graph outputs `boxes` (1, N, 4) xyxy in
0..1 of the input, `scores` (1, N), `labels` (1, N)), with the CenterNet decode (peak
max-pool + top-k) inside the graph; then TF Lite when a converter is available.

Each export is checked: onnxruntime's outputs on real inputs must equal torch's.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ...core.errors import Error
from .backbone import _torch
from .student import exportable

OPSET = 17


def sidecar(classes: list[str], input_size: int, *, name: str = "student") -> dict[str, Any]:
    """What OnnxDetector needs to feed the model and read its outputs."""
    return {"task": "detect", "name": name, "classes": list(classes),
            "input_size": [input_size, input_size], "layout": "nchw", "resize": "stretch",
            "normalize": {"mean": [0.0, 0.0, 0.0], "std": [1.0, 1.0, 1.0]},
            "outputs": "boxes_scores_labels"}


def export_onnx(model, path: Path, classes: list[str], input_size: int) -> Path:
    """Write path (.onnx) and its sidecar path.with_suffix('.json'), each atomically."""
    torch = _torch()
    wrapped = exportable(model)
    dummy = torch.rand(1, 3, input_size, input_size)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")      # the exporter's notes are not the user's
            torch.onnx.export(wrapped, (dummy,), str(tmp), input_names=["image"],
                              output_names=["boxes", "scores", "labels"], opset_version=OPSET,
                              dynamo=False)
        os.replace(tmp, path)
    except Error:
        raise
    except Exception as e:
        raise Error(f"{path}: ONNX export failed ({type(e).__name__}: {e})") from None
    finally:
        tmp.unlink(missing_ok=True)
    meta = path.with_suffix(".json")
    tmp = meta.with_name(f".{meta.name}.{os.getpid()}.tmp")
    tmp.write_text(json.dumps(sidecar(classes, input_size), indent=2) + "\n")
    os.replace(tmp, meta)
    return path


def onnx_session(path: Path):
    try:
        import onnxruntime as ort
    except ImportError:
        raise Error("checking the ONNX export needs onnxruntime: "
                    "pip install 'visionflow[distill]'") from None
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = min(2, os.cpu_count() or 1)
    return ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])


def match_outputs(worst: dict[str, Any], torch_out, other_out, min_score: float = 0.05
                  ) -> None:
    """Fold one image's comparison into `worst`: every torch detection scoring >= min_score
    is paired with the other runtime's detection of the same label nearest to its box (order
    free: equal scores may be ranked either way); the largest box and score differences, and
    detections with no same-label partner in the other's top-k."""
    tb, ts, tl = torch_out
    ob, os_, ol = other_out
    for i in np.flatnonzero(ts >= min_score):
        same = np.flatnonzero(ol == tl[i])
        worst["compared"] += 1
        if not len(same):
            worst["labels_differ"] += 1
            continue
        d = np.abs(ob[same] - tb[i]).max(1)
        j = same[int(np.argmin(d))]
        worst["boxes"] = max(worst["boxes"], float(d.min()))
        worst["scores"] = max(worst["scores"], float(abs(os_[j] - ts[i])))


def compare_onnx(model, path: Path, images: np.ndarray) -> dict[str, float]:
    """Run torch and onnxruntime on images (B, S, S, 3) uint8, one at a time, and compare
    their detections (see match_outputs)."""
    torch = _torch()
    sess = onnx_session(path)
    wrapped = exportable(model)
    worst = {"boxes": 0.0, "scores": 0.0, "labels_differ": 0, "compared": 0}
    for img in images:
        x = (img.astype(np.float32) / 255).transpose(2, 0, 1)[None]
        with torch.no_grad():
            out = [t.numpy()[0] for t in wrapped(torch.from_numpy(np.ascontiguousarray(x)))]
        got = [v[0] for v in sess.run(["boxes", "scores", "labels"], {"image": x})]
        match_outputs(worst, out, got)
    return worst


def export_tflite(model, out_dir: Path, classes: list[str], input_size: int,
                  calibration: np.ndarray) -> dict[str, Any]:
    """TF Lite float32 and int8 (weights and activations, float input/output) of the
    student, built as the same network in Keras (keras.applications.MobileNetV2 + the head)
    with the trained weights copied in, converted by TensorFlow's own converter, and each
    checked against torch on `calibration` images (B, S, S, 3 uint8). Input: (1, S, S, 3)
    NHWC RGB 0..1; outputs boxes, scores, labels as the ONNX model's.

    Returns {"float32": path, "int8": path, "check": {...}} or {"skipped": why}: TF Lite is
    a bonus, never a reason to fail the run."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")   # TensorFlow's C++ chatter
    try:
        import tensorflow as tf
    except ImportError:
        return {"skipped": "TF Lite export needs TensorFlow (pip install tensorflow-cpu)"}
    from . import tflite
    try:
        with warnings.catch_warnings():   # the converter's notes are not the user's
            warnings.simplefilter("ignore")
            return _export_tflite(tf, tflite, model, out_dir, classes, input_size,
                                  calibration)
    except Exception as e:   # a converter failure: say what failed, keep the ONNX
        return {"skipped": f"TF Lite conversion failed: {type(e).__name__}: "
                           f"{str(e).splitlines()[0] if str(e) else ''}"}


def _export_tflite(tf, tflite, model, out_dir: Path, classes: list[str], input_size: int,
                   calibration: np.ndarray) -> dict[str, Any]:
    """export_tflite's work; its failures are export_tflite's to report."""
    keras_model = tflite.keras_student(tf, model, input_size)
    out: dict[str, Any] = {}
    check: dict[str, Any] = {}
    for kind in ("float32", "int8"):
        data = tflite.convert(tf, keras_model, calibration if kind == "int8" else None)
        path = out_dir / f"student-{kind}.tflite"
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)
        out[kind] = str(path)
        check[kind] = tflite.compare(tf, model, path, calibration)
    meta = out_dir / "student-tflite.json"
    side = sidecar(classes, input_size) | {"layout": "nhwc"}
    meta.write_text(json.dumps(side, indent=2) + "\n")
    out["check"] = check
    return out
