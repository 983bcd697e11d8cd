"""CenterNet (MobileNetV3, 80 COCO classes) over onnxruntime, as vladmandic/human runs it.

Pre- and post-processing follow the upstream source (github.com/vladmandic/human,
src/object/centernet.ts, labels.ts), which the ONNX file was converted from unchanged:
- input: the RGB image stretched (bilinear, no letterbox) to the network's square side (read
  from the model's input shape: 512 for the human-models graph), float32 values 0..255 (no
  normalisation: human's image tensor is the canvas' 0..255 pixels), NHWC;
- output `tower_0/detections` (1, N, 6): x1, y1, x2, y2 in network pixels, score, class as a
  0-based index into the 80 COCO labels (NaN class: no object);
- class-agnostic non-maximum suppression at IoU 0.4 (human's `object.iouThreshold`) over
  every score (the caller thresholds), at most `max_detections`;
- boxes scaled back by the image's width / side and height / side, clipped to the image.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from . import _onnx
from .base import Detections, ModelInfo
from .registry import COCO80


PROCESSING = "centernet-1"  # bump when pre/post-processing changes (part of the fingerprint)


def spec_value(spec: Any, name: str, default: Any = None) -> Any:
    """A field of a registry spec (object or dict), or default."""
    if spec is None:
        return default
    if isinstance(spec, dict):
        return spec.get(name, default)
    return getattr(spec, name, default)


class CenterNet:
    """`Detector` for the human-models CenterNet. `path`: the pulled model's folder
    (model.onnx inside, as `registry.load("centernet")` passes it) or an .onnx file."""

    def __init__(self, path: str | os.PathLike, spec: Any = None, *, iou: float = 0.4,
                 max_detections: int = 100):
        self.file = _onnx.model_file(path)
        self.session = _onnx.session(self.file, what="the CenterNet detector")
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.layout = _onnx.layout_of(list(inp.shape))
        h, w = _onnx.static_hw(list(inp.shape), self.layout)
        size = spec_value(spec, "input_size") or (512, 512)
        self.width, self.height = int(w or size[0]), int(h or size[1])
        outs = self.session.get_outputs()
        named = [o.name for o in outs if "detections" in o.name]
        six = [o.name for o in outs if o.shape and o.shape[-1] == 6]
        self.output_name = (named or six or [outs[0].name])[0]
        self.iou, self.max_detections = float(iou), int(max_detections)
        classes = tuple(spec_value(spec, "classes", ()) or COCO80)
        self.info = ModelInfo(str(spec_value(spec, "name", "centernet")), "detect", classes,
                              (self.width, self.height),
                              _onnx.fingerprint(self.file, PROCESSING))

    def __reduce__(self):  # Ray ships the path, each worker opens its own session
        return (_rebuild, (type(self), str(self.file), self.info, self.iou, self.max_detections))

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pixels, geometry = _onnx.fit(image, self.width, self.height, "stretch")
        x = pixels.astype(np.float32)[None]
        if self.layout == "nchw":
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return x, geometry

    def decode(self, raw: np.ndarray, geometry: np.ndarray, width: int, height: int
               ) -> Detections:
        """(1, N, 6) network rows -> Detections in image pixels (see module docstring)."""
        rows = np.asarray(raw, np.float32).reshape(-1, 6)
        ok = np.isfinite(rows).all(axis=1) & (rows[:, 5] >= 0) & \
            (rows[:, 5] < len(self.info.classes))
        rows = rows[ok]
        keep = _onnx.nms_per_class(rows[:, :4], rows[:, 4], rows[:, 5], self.iou,
                                   self.max_detections)
        rows = rows[keep]
        boxes = _onnx.to_image(rows[:, :4], geometry, width, height)
        good = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return Detections(boxes[good], np.clip(rows[good, 4], 0, 1).astype(np.float32),
                          rows[good, 5].astype(np.int32))

    def run(self, x: np.ndarray) -> np.ndarray:
        return self.session.run([self.output_name], {self.input_name: x})[0]

    def detect(self, image: np.ndarray) -> Detections:
        image = _onnx.as_rgb(image)
        x, geometry = self.preprocess(image)
        return self.decode(self.run(x), geometry, image.shape[1], image.shape[0])


def _rebuild(cls: type, file: str, info: ModelInfo, iou: float, max_detections: int) -> Any:
    obj = cls(Path(file), {"name": info.name, "classes": info.classes,
                           "input_size": info.input_size}, iou=iou,
              max_detections=max_detections)
    return obj
