"""MediaPipe selfie segmentation over onnxruntime: a person mask, as a `Segmenter`.

Pre- and post-processing follow the upstream source the ONNX file was converted from
(github.com/vladmandic/human, src/segmentation/selfie.ts): the RGB image stretched bilinearly
to the network's input (256 x 256, no letterbox), float32 / 255, NHWC; the output is a
(1, h, w, 1) person probability, resized bilinearly back to the image and thresholded at
`threshold`.

The model marks every person in the frame, so a box prompt restricts the mask to the box (the
person the user pointed at; autolabel's boxes rely on it). A selfie model cannot be steered
by clicks, so clicks choose which connected pieces of the person mask are kept: positive
clicks keep the pieces they touch, negative clicks drop theirs.
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np

from . import _onnx
from .base import ModelInfo
from .grabcut import check_prompt
from .masks import pick_pieces

PROCESSING = "selfie-1"  # bump when pre/post-processing changes (part of the fingerprint)


class Selfie:
    """`Segmenter` for the selfie model. `path`: the pulled model's folder (model.onnx
    inside, as `registry.load("selfie")` passes it) or an .onnx file."""

    def __init__(self, path: str | os.PathLike, spec: Any = None, *, threshold: float = 0.5):
        self.file = _onnx.model_file(path)
        self.session = _onnx.session(self.file, what="the selfie segmentation model")
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        self.output_name = self.session.get_outputs()[0].name
        self.layout = _onnx.layout_of(list(inp.shape))
        h, w = _onnx.static_hw(list(inp.shape), self.layout)
        self.width, self.height = int(w or 256), int(h or 256)
        self.threshold = float(threshold)
        self._last: tuple | None = None
        name = spec.get("name") if isinstance(spec, dict) else getattr(spec, "name", None)
        self.info = ModelInfo(str(name or "selfie"), "segment", ("person",),
                              (self.width, self.height),
                              _onnx.fingerprint(self.file, f"{PROCESSING}-{self.threshold:g}"))

    def __reduce__(self):  # Ray ships the path, each worker opens its own session
        return (_rebuild, (str(self.file), self.info.name, self.threshold))

    def probability(self, image: np.ndarray) -> np.ndarray:
        """(H, W) float32 person probability on the image's pixels. The last image's is kept
        (by a digest of its pixels): a mask and then its score, or several boxes on one
        image, run the network once."""
        image = _onnx.as_rgb(image)
        key = (image.shape, hashlib.blake2b(np.ascontiguousarray(image).data,
                                            digest_size=16).digest())
        last = self._last
        if last is not None and last[0] == key:
            return last[1]
        prob = self._probability(image)
        prob.setflags(write=False)  # shared with the next caller of the same image
        self._last = (key, prob)
        return prob

    def _probability(self, image: np.ndarray) -> np.ndarray:
        x = _onnx.resize(image, self.width, self.height).astype(np.float32)[None] / 255.0
        if self.layout == "nchw":
            x = np.ascontiguousarray(x.transpose(0, 3, 1, 2))
        out = np.asarray(self.session.run([self.output_name], {self.input_name: x})[0],
                         np.float32)
        prob = out[0, :, :, 0] if out.shape[-1] in (1, 2) else out[0, 0]
        if out.shape[-1] == 2:  # a two-channel variant: background, person
            prob = out[0, :, :, 1]
        h, w = image.shape[:2]
        return np.array(_onnx.resize(prob[:, :, None], w, h), np.float32).reshape(h, w)

    def segment(self, image: np.ndarray, *, box: np.ndarray | None = None,
                points: np.ndarray | None = None, labels: np.ndarray | None = None
                ) -> np.ndarray:
        image = _onnx.as_rgb(image)
        b, pts, lab = check_prompt(image.shape[1], image.shape[0], box, points, labels)
        mask = self.probability(image) >= self.threshold
        if b is not None:
            x1, y1 = int(np.floor(b[0])), int(np.floor(b[1]))
            x2, y2 = int(np.ceil(b[2])), int(np.ceil(b[3]))
            inside = np.zeros_like(mask)
            inside[y1:y2, x1:x2] = True
            mask &= inside
        return pick_pieces(mask, pts, lab, only_clicked=True)


def _rebuild(file: str, name: str, threshold: float) -> Selfie:
    return Selfie(file, {"name": name}, threshold=threshold)
