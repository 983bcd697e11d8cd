"""The few types every model family speaks, so that autolabel, predict, segment, the web app
and distill never care which model produced a result.

- A `Detector` turns one RGB image (H, W, 3 uint8) into `Detections` in that image's pixels:
  boxes, scores, class indices into `info.classes`, and optionally keypoints and masks.
- A `Segmenter` turns an image and a prompt (a box, positive/negative clicks) into a mask.
- `ModelInfo` says what a loaded model is: its name, task, classes, input size and the
  fingerprint of its weights (what makes two runs comparable).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

import numpy as np

TASKS = ("detect", "pose", "segment", "classify", "features")


@dataclass(frozen=True)
class ModelInfo:
    name: str                      # registry name, hub id or file name
    task: str                      # one of TASKS
    classes: tuple[str, ...] = ()  # what `Detections.labels` index
    input_size: tuple[int, int] | None = None  # (width, height) the network sees, if fixed
    fingerprint: str = ""          # sha256 of the weights (+ pre/post-processing version)
    keypoints: tuple[str, ...] = ()            # keypoint names (pose)
    skeleton: tuple[tuple[int, int], ...] = ()  # 0-based joint pairs (pose)
    flip_index: tuple[int, ...] = ()           # left/right swap for horizontal flips (pose)
    extra: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)


@dataclass
class Detections:
    """One image's detections, in the pixels of the image given to the model.

    boxes: (N, 4) float32 x1, y1, x2, y2. scores: (N,) float32 in [0, 1]. labels: (N,) int32
    indices into ModelInfo.classes. keypoints: (N, K, 3) float32 x, y, score, or None.
    masks: list of N (H, W) bool arrays (full image size), or None.
    """
    boxes: np.ndarray
    scores: np.ndarray
    labels: np.ndarray
    keypoints: np.ndarray | None = None
    masks: list[np.ndarray] | None = None

    def __len__(self) -> int:
        return len(self.scores)

    @classmethod
    def empty(cls, n_keypoints: int = 0) -> Detections:
        return cls(np.zeros((0, 4), np.float32), np.zeros(0, np.float32), np.zeros(0, np.int32),
                   np.zeros((0, n_keypoints, 3), np.float32) if n_keypoints else None)

    def select(self, keep: np.ndarray) -> Detections:
        """The detections at `keep` (a boolean mask or indices)."""
        idx = np.flatnonzero(keep) if np.asarray(keep).dtype == bool else np.asarray(keep)
        return Detections(self.boxes[idx], self.scores[idx], self.labels[idx],
                          None if self.keypoints is None else self.keypoints[idx],
                          None if self.masks is None else [self.masks[i] for i in idx])


@runtime_checkable
class Detector(Protocol):
    info: ModelInfo

    def detect(self, image: np.ndarray) -> Detections:
        """Detections on one RGB uint8 image (H, W, 3), all scores (thresholding is the
        caller's: autolabel's --threshold)."""
        ...


@runtime_checkable
class Segmenter(Protocol):
    info: ModelInfo

    def segment(self, image: np.ndarray, *, box: np.ndarray | None = None,
                points: np.ndarray | None = None, labels: np.ndarray | None = None
                ) -> np.ndarray:
        """A (H, W) bool mask for one object given a box (x1, y1, x2, y2) and/or clicks
        `points` (N, 2) in pixels with `labels` (N,) 1 = on the object, 0 = background."""
        ...


def models_dir() -> Path:
    """Where pulled and converted models live: $VISIONFLOW_MODELS_DIR, else
    <cache root>/models (the tests keep this path while they point the rest of the cache at
    a temporary folder, so models pulled once by `make models` are found)."""
    env = os.environ.get("VISIONFLOW_MODELS_DIR")
    if env:
        return Path(env)
    from ..io.cache import cache_root
    return cache_root() / "models"
