"""A detector exported to ONNX under visionflow's generic contract (what `distill` exports and
`predict`/`autolabel` run), so any model that follows it needs no code of its own.

The contract: `<model>.onnx` with a JSON sidecar beside it, `<model>.json` (or `model.json`
in the model's folder):

    {"task": "detect",
     "classes": ["raccoon", ...],             # what `labels` index
     "input_size": [w, h],                    # the network's input, pixels
     "layout": "nchw" | "nhwc",               # of the single float32 image input (batch 1)
     "normalize": {"mean": [r, g, b], "std": [r, g, b]},   # applied to 0..1 RGB
     "resize": "stretch" | "letterbox",       # optional, default "stretch"; letterbox pads
                                              # with grey 114, centred
     "outputs": "boxes_scores_labels"}

The graph's outputs are named `boxes` (1, N, 4): x1, y1, x2, y2 normalised to 0..1 of the
network input (the padded square when letterboxed), `scores` (1, N) in 0..1 and `labels`
(1, N) integer class indices. Decoding (peaks, top-k, NMS) happens inside the graph; here
the boxes are only mapped back to the image (letterbox offsets removed, scaled, clipped) and
rows with a NaN box or a label outside `classes` dropped. No thresholding: the caller's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import orjson

from ..core.errors import Error, ValidationError
from . import _onnx
from .base import Detections, ModelInfo

OUTPUTS = ("boxes", "scores", "labels")
PROCESSING = "onnx-detector-1"


def sidecar_path(file: Path) -> Path:
    own = file.with_suffix(".json")
    return own if own.is_file() or file.name != "model.onnx" else file.parent / "model.json"


def read_sidecar(file: Path) -> dict[str, Any]:
    """The sidecar of `file`, checked: every problem is one line naming the sidecar."""
    side = sidecar_path(file)
    if not side.is_file():
        raise Error(f"{file}: no sidecar {side.name} beside it; an exported detector needs "
                    '{"task": "detect", "classes": [...], "input_size": [w, h], "layout", '
                    '"normalize", "outputs": "boxes_scores_labels"} (see '
                    "visionflow.models.onnx_detector)")
    try:
        meta = orjson.loads(side.read_bytes())
    except orjson.JSONDecodeError as e:
        raise ValidationError(side, f"not valid JSON ({e})") from None
    if not isinstance(meta, dict):
        raise ValidationError(side, "must be a JSON object")
    if meta.get("task", "detect") != "detect":
        raise ValidationError(side, f"task is {meta.get('task')!r}; this runs detectors "
                              "('detect')")
    classes = meta.get("classes")
    if not isinstance(classes, list) or not classes or \
            not all(isinstance(c, str) and c for c in classes):
        raise ValidationError(side, "'classes' must be a non-empty list of names")
    size = meta.get("input_size")
    if not (isinstance(size, list) and len(size) == 2 and
            all(isinstance(v, int) and v > 0 for v in size)):
        raise ValidationError(side, f"'input_size' must be [width, height], got {size!r}")
    layout = str(meta.get("layout", "nchw")).lower()
    if layout not in ("nchw", "nhwc"):
        raise ValidationError(side, f"'layout' must be 'nchw' or 'nhwc', got {layout!r}")
    norm = meta.get("normalize") or {}
    mean, std = norm.get("mean", [0.0, 0.0, 0.0]), norm.get("std", [1.0, 1.0, 1.0])
    for key, v in (("mean", mean), ("std", std)):
        if not (isinstance(v, list) and len(v) == 3 and
                all(isinstance(x, int | float) for x in v)):
            raise ValidationError(side, f"'normalize.{key}' must be 3 numbers, got {v!r}")
    if any(s == 0 for s in std):
        raise ValidationError(side, "'normalize.std' may not hold 0")
    resize = meta.get("resize", "stretch")
    if resize not in ("stretch", "letterbox"):
        raise ValidationError(side, f"'resize' must be 'stretch' or 'letterbox', got "
                              f"{resize!r}")
    if meta.get("outputs", "boxes_scores_labels") != "boxes_scores_labels":
        raise ValidationError(side, f"'outputs' {meta.get('outputs')!r} is not a known "
                              "contract (known: 'boxes_scores_labels')")
    return {"classes": tuple(classes), "input_size": (size[0], size[1]), "layout": layout,
            "mean": np.asarray(mean, np.float32), "std": np.asarray(std, np.float32),
            "resize": resize, "sidecar": side}


class OnnxDetector:
    """`Detector` for an .onnx file (or a folder with model.onnx) following the contract in
    this module's docstring."""

    def __init__(self, path: str | os.PathLike, spec: Any = None, **_: Any):
        self.file = _onnx.model_file(path)
        if not self.file.is_file():
            raise Error(f"{self.file}: no such ONNX model file")
        self.meta = read_sidecar(self.file)
        self.session = _onnx.session(self.file, what="running an exported detector")
        names = {o.name for o in self.session.get_outputs()}
        missing = [n for n in OUTPUTS if n not in names]
        if missing:
            raise ValidationError(self.file, f"the graph has no output {', '.join(missing)} "
                                  f"(has: {', '.join(sorted(names))}); the contract needs "
                                  "boxes, scores, labels")
        self.input_name = self.session.get_inputs()[0].name
        self.width, self.height = self.meta["input_size"]
        side_digest = _onnx.file_sha256(self.meta["sidecar"])
        self.info = ModelInfo(self.file.name if self.file.name != "model.onnx"
                              else self.file.parent.name, "detect", self.meta["classes"],
                              (self.width, self.height),
                              _onnx.fingerprint(self.file, f"{PROCESSING}:{side_digest}"))

    def __reduce__(self):
        return (OnnxDetector, (str(self.file),))

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pixels, geometry = _onnx.fit(image, self.width, self.height, self.meta["resize"])
        x = (pixels.astype(np.float32) * np.float32(1 / 255) - self.meta["mean"]) \
            / self.meta["std"]
        x = x[None]
        if self.meta["layout"] == "nchw":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x, np.float32), geometry

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        """The graph's boxes, scores and labels for one prepared input."""
        return self.session.run(list(OUTPUTS), {self.input_name: x})

    def decode(self, outputs: list[np.ndarray], geometry: np.ndarray, width: int, height: int
               ) -> Detections:
        boxes, scores, labels = outputs
        b = np.asarray(boxes, np.float64).reshape(-1, 4)
        s = np.asarray(scores, np.float32).reshape(-1)
        lab = np.asarray(labels).reshape(-1)
        if not (len(b) == len(s) == len(lab)):
            raise ValidationError(self.file, f"outputs disagree in length: boxes {len(b)}, "
                                  f"scores {len(s)}, labels {len(lab)}")
        ok = np.isfinite(b).all(axis=1) & np.isfinite(s) & (lab >= 0) & \
            (lab < len(self.info.classes))
        net = b[ok] * np.array([self.width, self.height] * 2)
        out = _onnx.to_image(net, geometry, width, height)
        good = (out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])
        return Detections(out[good], np.clip(s[ok][good], 0, 1),
                          lab[ok][good].astype(np.int32))

    def detect(self, image: np.ndarray) -> Detections:
        image = _onnx.as_rgb(image)
        x, geometry = self.preprocess(image)
        return self.decode(self.run(x), geometry, image.shape[1], image.shape[0])


def write_sidecar(onnx_file: str | os.PathLike, classes: list[str], input_size: tuple[int, int],
                  *, layout: str = "nchw", mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0),
                  resize: str = "stretch") -> Path:
    """Write `<model>.json` for an exported detector (what `distill` calls); returns its path."""
    from ..io.atomic import write_bytes_atomic
    file = Path(onnx_file)
    meta = {"task": "detect", "classes": list(classes), "input_size": list(input_size),
            "layout": layout, "normalize": {"mean": list(mean), "std": list(std)},
            "resize": resize, "outputs": "boxes_scores_labels"}
    side = file.with_suffix(".json")
    write_bytes_atomic(side, orjson.dumps(meta, option=orjson.OPT_INDENT_2))
    return side
