"""MobileNetV2 from nsfwjs (MIT, ImageNet-pretrained backbone fine-tuned by nsfwjs) as pulled
by `visionflow models pull mobilenetv2`: image features for "similar images", and nsfwjs' own
5-class content scores.

Preprocessing as nsfwjs' core.js: RGB stretched (bilinear) to 224 x 224, values / 255, NHWC.
The ONNX graph (models/convert_tfjs.py) has three outputs: `features` (N, 1280, the global
average pool), `feature_map` (N, 7, 7, 1280, the backbone for detection heads: distill) and
`probabilities` (N, 5: drawing, hentai, neutral, porn, sexy). The dequantized Keras weights
are beside it in weights.npz for frameworks that do not read ONNX.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..core.errors import Error
from . import _onnx
from .base import ModelInfo

PROCESSING = "mobilenetv2-nsfwjs-1"
CLASSES = ("drawing", "hentai", "neutral", "porn", "sexy")


class MobileNetV2:
    """Features (L2-normalised, 1280-d) and content scores of RGB uint8 images."""

    def __init__(self, path: str | os.PathLike, spec: Any = None, *, batch: int = 16):
        self.file = _onnx.model_file(path)
        self.session = _onnx.session(self.file, what="MobileNetV2 features")
        inp = self.session.get_inputs()[0]
        self.input_name = inp.name
        names = [o.name for o in self.session.get_outputs()]
        if "features" not in names:
            raise Error(f"{self.file}: no 'features' output (has {', '.join(names)}); "
                              "pull it again: visionflow models pull mobilenetv2 --force")
        self.has_probabilities = "probabilities" in names
        h, w = _onnx.static_hw(list(inp.shape), "nhwc")
        self.width, self.height = int(w or 224), int(h or 224)
        self.batch = max(1, int(batch))
        self.info = ModelInfo(getattr(spec, "name", "mobilenetv2"), "features",
                              tuple(getattr(spec, "classes", ()) or CLASSES),
                              (self.width, self.height),
                              _onnx.fingerprint(self.file, PROCESSING))

    def _pixels(self, images: Sequence[np.ndarray]) -> np.ndarray:
        out = np.empty((len(images), self.height, self.width, 3), np.float32)
        for i, image in enumerate(images):
            rgb = _onnx.as_rgb(image)
            out[i] = _onnx.resize(rgb, self.width, self.height).astype(np.float32) / 255.0
        return out

    def _run(self, images: Sequence[np.ndarray], output: str) -> np.ndarray:
        rows = []
        for start in range(0, len(images), self.batch):
            x = self._pixels(images[start:start + self.batch])
            rows.append(np.asarray(self.session.run([output], {self.input_name: x})[0],
                                   np.float32))
        return np.concatenate(rows) if rows else np.zeros((0, 0), np.float32)

    def embed(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 1280) float32 unit vectors: cosine similarity is their dot product."""
        if not len(images):
            return np.zeros((0, 1280), np.float32)
        f = self._run(images, "features")
        return f / np.maximum(np.linalg.norm(f, axis=1, keepdims=True), 1e-12)

    def classify(self, images: Sequence[np.ndarray]) -> np.ndarray:
        """(N, 5) nsfwjs probabilities in `info.classes` order."""
        if not self.has_probabilities:
            raise Error(f"{self.file}: no 'probabilities' output")
        if not len(images):
            return np.zeros((0, len(CLASSES)), np.float32)
        return self._run(images, "probabilities")
