"""NanoDet (80 COCO classes) over onnxruntime, as vladmandic/human runs it.

Pre- and post-processing follow the upstream source (github.com/vladmandic/human,
src/object/nanodet.ts):
- input: the RGB image stretched (bilinear, no letterbox) to the network's square side (416),
  divided by 255 (values 0..1), NCHW;
- outputs, per level k = 1, 2, 4 on a grid of G = k * side / 32 cells (13, 26, 52 at 416):
  class scores (1, G*G, 80) used as they are, and box features (1, G*G, 4 * B) read as 4 sides
  (left, top, right, bottom) x B bins of which the arg-max bin counts;
- a cell (row r, column c) with a class score above `min_score` gives a box around the centre
  ((c + 0.5) / G, (r + 0.5) / G) whose side distances are bin * 2.5 / (32 * k) of the input
  (upstream: `boxIdx * (baseSize / strideSize / size) * scaleBox / strideSize`), clipped to
  0..1; one candidate per cell and class;
- class-agnostic non-maximum suppression at IoU 0.4 over the candidates, at most
  `max_detections`; boxes scaled to the image's width and height.
Upstream also drops class index 61 (a frequent false "toilet"); we keep every class and leave
such choices to the ontology. `min_score` (0.05) only bounds the candidates (80 x 3549 cells);
thresholding is the caller's.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from . import _onnx
from .base import Detections, ModelInfo
from .centernet import COCO80, spec_value

PROCESSING = "nanodet-1"
SCALE_BOX = 2.5  # upstream's `scaleBox`
LEVELS = (1, 2, 4)


class NanoDet:
    """`Detector` for the human-models NanoDet. `path`: the pulled model's folder (model.onnx
    inside) or an .onnx file."""

    def __init__(self, path: str | os.PathLike, spec: Any = None, *, iou: float = 0.4,
                 max_detections: int = 100, min_score: float = 0.05):
        self.file = _onnx.model_file(path)
        self.session = _onnx.session(self.file, what="the NanoDet detector")
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.layout = _onnx.layout_of(list(inp.shape))
        h, w = _onnx.static_hw(list(inp.shape), self.layout)
        size = spec_value(spec, "input_size") or (416, 416)
        self.width, self.height = int(w or size[0]), int(h or size[1])
        classes = tuple(spec_value(spec, "classes", ()) or COCO80)
        self.output_names = [o.name for o in self.session.get_outputs()]
        self.iou, self.max_detections = float(iou), int(max_detections)
        self.min_score = float(min_score)
        self.info = ModelInfo(str(spec_value(spec, "name", "nanodet")), "detect", classes,
                              (self.width, self.height),
                              _onnx.fingerprint(self.file, PROCESSING))

    def __reduce__(self):
        return (_rebuild, (str(self.file), self.info, self.iou, self.max_detections,
                           self.min_score))

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        pixels, geometry = _onnx.fit(image, self.width, self.height, "stretch")
        x = pixels.astype(np.float32)[None] * np.float32(1 / 255)
        if self.layout == "nchw":
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        return x, geometry

    def candidates(self, outputs: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(boxes normalised 0..1 xyxy, scores, labels) of every cell and class above
        min_score, over the three levels (see module docstring)."""
        n_cls = len(self.info.classes)
        side = self.width
        boxes, scores, labels = [], [], []
        for k in LEVELS:
            g = round(k * side / 32)
            shaped = [np.asarray(o).reshape(g * g, -1) for o in outputs
                      if np.asarray(o).size % (g * g) == 0 and np.asarray(o).ndim >= 2
                      and np.asarray(o).shape[-2] == g * g]
            cls_out = [o for o in shaped if o.shape[1] == n_cls]
            box_out = [o for o in shaped if o.shape[1] < n_cls and o.shape[1] % 4 == 0]
            if not cls_out or not box_out:
                from ..core.errors import Error
                raise Error(f"{self.file}: no NanoDet outputs for a {g}x{g} grid (scores "
                            f"(1, {g * g}, {n_cls}) and boxes (1, {g * g}, 4 x bins))")
            sc, feat = cls_out[0], box_out[0]
            cell, cls = np.nonzero(sc > self.min_score)
            if not len(cell):
                continue
            bins = feat.reshape(g * g, 4, -1).argmax(axis=2)[cell].astype(np.float64)
            dist = bins * ((g / k / side) * SCALE_BOX / k)
            cx = (0.5 + cell % g) / g
            cy = (0.5 + cell // g) / g
            b = np.stack([cx - dist[:, 0], cy - dist[:, 1], cx + dist[:, 2], cy + dist[:, 3]], 1)
            boxes.append(np.clip(b, 0, 1))
            scores.append(sc[cell, cls])
            labels.append(cls)
        if not boxes:
            return np.zeros((0, 4)), np.zeros(0, np.float32), np.zeros(0, np.int64)
        return np.concatenate(boxes), np.concatenate(scores), np.concatenate(labels)

    def decode(self, outputs: list[np.ndarray], geometry: np.ndarray, width: int, height: int
               ) -> Detections:
        boxes, scores, labels = self.candidates(outputs)
        keep = _onnx.nms(boxes, scores, self.iou, self.max_detections)
        net = boxes[keep] * np.array([self.width, self.height] * 2)
        out = _onnx.to_image(net, geometry, width, height)
        good = (out[:, 2] > out[:, 0]) & (out[:, 3] > out[:, 1])
        return Detections(out[good], np.clip(scores[keep][good], 0, 1).astype(np.float32),
                          labels[keep][good].astype(np.int32))

    def run(self, x: np.ndarray) -> list[np.ndarray]:
        return self.session.run(self.output_names, {self.input_name: x})

    def detect(self, image: np.ndarray) -> Detections:
        image = _onnx.as_rgb(image)
        x, geometry = self.preprocess(image)
        return self.decode(self.run(x), geometry, image.shape[1], image.shape[0])


def _rebuild(file: str, info: ModelInfo, iou: float, max_detections: int, min_score: float
             ) -> NanoDet:
    return NanoDet(Path(file), {"name": info.name, "classes": info.classes,
                                "input_size": info.input_size}, iou=iou,
                   max_detections=max_detections, min_score=min_score)
