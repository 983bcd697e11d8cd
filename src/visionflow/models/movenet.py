"""MoveNet MultiPose Lightning over onnxruntime: up to 6 people, 17 COCO keypoints each.

Pre- and post-processing follow the upstream source the ONNX file was converted from
(github.com/vladmandic/human, src/body/movenet.ts and movenetfix.ts):
- input: the RGB image padded to a square with black, centred (human: (long - short) // 2 on
  each side), resized bilinearly to `side` (256; the graph takes any multiple of 32) and cast
  to int32 0..255, NHWC;
- output (1, 6, 56): per person 17 x (y, x, score) normalised to the padded square, then
  ymin, xmin, ymax, xmax and the person's score;
- keypoints and boxes are mapped back through the padding and scale to the image's pixels.

Left and right are the person's own (COCO's convention; MoveNet is trained on COCO). human's
`bodyParts` re-orders left/right pairs by their x in the image, which assumes everyone faces
the camera; it is not applied here: on COCO8-pose it lowered PCK (people seen from behind get
their sides swapped), see tests/models/test_pose_real.py.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np

from . import _onnx
from .base import Detections, ModelInfo
from .registry import COCO_FLIP_INDEX, COCO_KEYPOINTS, COCO_SKELETON

PROCESSING = "movenet-1"  # bump when pre/post-processing changes (part of the fingerprint)
MAX_PEOPLE = 6


def _spec(spec: Any, name: str, default: Any = None) -> Any:
    if spec is None:
        return default
    if isinstance(spec, dict):
        return spec.get(name, default)
    return getattr(spec, name, default)


class MoveNet:
    """`Detector` (task "pose") for MoveNet MultiPose. `path`: the pulled model's folder
    (model.onnx inside, as `registry.load("movenet")` passes it) or an .onnx file. `side`:
    the square the network sees (a multiple of 32; larger finds smaller people, slower)."""

    def __init__(self, path: str | os.PathLike, spec: Any = None, *, side: int | None = None):
        self.file = _onnx.model_file(path)
        self.session = _onnx.session(self.file, what="the MoveNet pose model")
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.output_name = self.session.get_outputs()[0].name
        self.int_input = "int" in str(inp.type)
        fixed = [d for d in list(inp.shape)[1:3] if isinstance(d, int) and d > 0]
        size = _spec(spec, "input_size") or (256, 256)
        self.side = int(fixed[0] if fixed else (side or size[0]))
        if self.side % 32 or self.side < 32:
            from ..core.errors import Error
            raise Error(f"MoveNet's input side must be a multiple of 32, got {self.side}")
        self.info = ModelInfo(
            str(_spec(spec, "name", "movenet")), "pose", ("person",), (self.side, self.side),
            _onnx.fingerprint(self.file, f"{PROCESSING}-{self.side}"),
            keypoints=tuple(_spec(spec, "keypoints", ()) or COCO_KEYPOINTS),
            skeleton=tuple(tuple(p) for p in (_spec(spec, "skeleton", ()) or COCO_SKELETON)),
            flip_index=tuple(_spec(spec, "flip_index", ()) or COCO_FLIP_INDEX))

    def __reduce__(self):  # Ray ships the path, each worker opens its own session
        return (_rebuild, (str(self.file), self.info, self.side))

    def preprocess(self, image: np.ndarray) -> tuple[np.ndarray, tuple[int, int, int]]:
        """The network's input and (square side, left pad, top pad) in image pixels."""
        h, w = image.shape[:2]
        n = max(h, w)
        left, top = (n - w) // 2, (n - h) // 2
        if n != w or n != h:
            square = np.zeros((n, n, 3), np.uint8)
            square[top:top + h, left:left + w] = image
        else:
            square = image
        x = _onnx.resize(square, self.side, self.side)[None]
        return x.astype(np.int32 if self.int_input else np.float32), (n, left, top)

    @staticmethod
    def decode(raw: np.ndarray, geometry: tuple[int, int, int], width: int, height: int
               ) -> Detections:
        """(1, 6, 56) network rows -> Detections (boxes, person scores, keypoints x, y, score)
        in image pixels, best person first; rows of no person (score 0) are dropped."""
        rows = np.asarray(raw, np.float32).reshape(-1, 56)[:MAX_PEOPLE]
        rows = rows[np.isfinite(rows).all(axis=1) & (rows[:, 55] > 0)]
        rows = rows[np.argsort(-rows[:, 55], kind="stable")]
        n, left, top = geometry
        kp = rows[:, :51].reshape(-1, 17, 3)
        keypoints = np.empty_like(kp)
        keypoints[:, :, 0] = np.clip(kp[:, :, 1] * n - left, 0, width)
        keypoints[:, :, 1] = np.clip(kp[:, :, 0] * n - top, 0, height)
        keypoints[:, :, 2] = np.clip(kp[:, :, 2], 0, 1)
        boxes = np.empty((len(rows), 4), np.float32)
        boxes[:, 0] = np.clip(rows[:, 52] * n - left, 0, width)
        boxes[:, 1] = np.clip(rows[:, 51] * n - top, 0, height)
        boxes[:, 2] = np.clip(rows[:, 54] * n - left, 0, width)
        boxes[:, 3] = np.clip(rows[:, 53] * n - top, 0, height)
        good = (boxes[:, 2] > boxes[:, 0]) & (boxes[:, 3] > boxes[:, 1])
        return Detections(boxes[good], np.clip(rows[good, 55], 0, 1).astype(np.float32),
                          np.zeros(int(good.sum()), np.int32), keypoints[good])

    def detect(self, image: np.ndarray) -> Detections:
        image = _onnx.as_rgb(image)
        x, geometry = self.preprocess(image)
        raw = self.session.run([self.output_name], {self.input_name: x})[0]
        return self.decode(raw, geometry, image.shape[1], image.shape[0])


def _rebuild(file: str, info: ModelInfo, side: int) -> MoveNet:
    return MoveNet(Path(file), {"name": info.name, "keypoints": info.keypoints,
                                "skeleton": info.skeleton, "flip_index": info.flip_index},
                   side=side)
