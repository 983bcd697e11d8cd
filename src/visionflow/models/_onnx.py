"""One way to open an ONNX model with onnxruntime, shared by every model family here.

- onnxruntime (and OpenCV, for resizing) are imported on first use: the core install never
  needs them; a missing one is one line saying what to `pip install`.
- Threads: `$VISIONFLOW_ONNX_THREADS`, else every core the process may use (intra-op); one
  session per process is the fast path on a CPU, so autolabel runs images one after another
  through it rather than racing sessions against each other.
- Providers: `$VISIONFLOW_ONNX_PROVIDERS` (comma-separated) else CUDA when onnxruntime has it,
  then the CPU. A file that is not a model is one line naming it.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import Error

EXTRA = "pip install 'visionflow[autolabel]'"


def require_onnxruntime(what: str = "running ONNX models") -> Any:
    try:
        import onnxruntime as ort
    except ImportError:
        raise Error(f"{what} needs onnxruntime: {EXTRA}") from None
    return ort


def threads() -> int:
    env = os.environ.get("VISIONFLOW_ONNX_THREADS", "").strip()
    if env:
        try:
            return max(1, int(env))
        except ValueError:
            raise Error(f"VISIONFLOW_ONNX_THREADS must be a whole number, got {env!r}") from None
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def providers(ort: Any) -> list[str]:
    env = os.environ.get("VISIONFLOW_ONNX_PROVIDERS", "").strip()
    available = list(ort.get_available_providers())
    if env:
        wanted = [p.strip() for p in env.split(",") if p.strip()]
        unknown = [p for p in wanted if p not in available]
        if unknown:
            raise Error(f"VISIONFLOW_ONNX_PROVIDERS: {', '.join(unknown)} not available in this "
                        f"onnxruntime (available: {', '.join(available)})")
        return wanted
    return [p for p in ("CUDAExecutionProvider", "CPUExecutionProvider") if p in available]


def session(path: str | os.PathLike, *, what: str = "running ONNX models") -> Any:
    """An onnxruntime InferenceSession over the file `path`, or one error line."""
    ort = require_onnxruntime(what)
    file = Path(path)
    if not file.is_file():
        raise Error(f"{file}: no such ONNX model file")
    opts = ort.SessionOptions()
    opts.log_severity_level = 3
    opts.intra_op_num_threads = threads()
    opts.inter_op_num_threads = 1
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    try:
        return ort.InferenceSession(str(file), opts, providers=providers(ort))
    except Exception as e:  # noqa: BLE001 - onnxruntime raises its own unrelated types
        text = str(e).strip().splitlines()
        raise Error(f"{file}: cannot load the ONNX model ({text[0] if text else type(e).__name__})"
                    ) from None


def model_file(path: str | os.PathLike) -> Path:
    """The .onnx file of `path`: the file itself, or model.onnx inside a folder."""
    p = Path(path).expanduser()
    return p / "model.onnx" if p.is_dir() else p


def file_sha256(path: Path) -> str:
    from ..embeddings.models import file_digest  # memoised per (path, size, mtime)
    return file_digest(path)


def fingerprint(path: Path, processing: str) -> str:
    """sha256 of the weights and of the pre/post-processing version: what makes two runs'
    predictions comparable."""
    return hashlib.sha256(f"{file_sha256(path)}\0{processing}".encode()).hexdigest()


def resize(image: np.ndarray, width: int, height: int) -> np.ndarray:
    """Bilinear resize of an (H, W, C) uint8 image to (height, width, C) (OpenCV when
    installed, else Pillow), no copy when it already has that size."""
    if image.shape[1] == width and image.shape[0] == height:
        return image
    try:
        import cv2
    except ImportError:
        from PIL import Image
        return np.asarray(Image.fromarray(image).resize((width, height),
                                                        Image.Resampling.BILINEAR))
    return cv2.resize(image, (width, height), interpolation=cv2.INTER_LINEAR)


def as_rgb(image: np.ndarray, where: str = "image") -> np.ndarray:
    """The (H, W, 3) uint8 RGB a Detector takes; greyscale and RGBA are converted."""
    a = np.asarray(image)
    if a.dtype != np.uint8:
        raise Error(f"{where}: a detector takes uint8 pixels, got {a.dtype}")
    if a.ndim == 2:
        a = np.repeat(a[:, :, None], 3, axis=2)
    if a.ndim != 3 or a.shape[2] not in (3, 4) or a.shape[0] < 1 or a.shape[1] < 1:
        raise Error(f"{where}: a detector takes an (H, W, 3) RGB image, got shape {a.shape}")
    return a[:, :, :3]


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float, max_out: int,
        min_score: float = 0.0) -> np.ndarray:
    """Indices kept by greedy non-maximum suppression, best first, as tf.image's
    nonMaxSuppression (which the upstream models use): boxes above `min_score` visited by
    falling score, each dropped when its IoU with a kept one exceeds `iou`; at most `max_out`."""
    order = np.flatnonzero(scores > min_score)
    order = order[np.argsort(-scores[order], kind="stable")]
    if not len(order) or max_out <= 0:
        return np.zeros(0, np.int64)
    b = boxes[order].astype(np.float64)
    x1, y1 = np.minimum(b[:, 0], b[:, 2]), np.minimum(b[:, 1], b[:, 3])
    x2, y2 = np.maximum(b[:, 0], b[:, 2]), np.maximum(b[:, 1], b[:, 3])
    area = (x2 - x1) * (y2 - y1)
    alive = np.ones(len(order), bool)
    keep: list[int] = []
    for i in range(len(order)):
        if not alive[i]:
            continue
        keep.append(i)
        if len(keep) >= max_out:
            break
        rest = np.flatnonzero(alive[i + 1:]) + i + 1
        if not len(rest):
            break
        w = np.clip(np.minimum(x2[i], x2[rest]) - np.maximum(x1[i], x1[rest]), 0, None)
        h = np.clip(np.minimum(y2[i], y2[rest]) - np.maximum(y1[i], y1[rest]), 0, None)
        inter = w * h
        union = area[i] + area[rest] - inter
        overlap = np.where(union > 0, inter / np.where(union > 0, union, 1), 0.0)
        alive[rest[overlap > iou]] = False
    return order[np.asarray(keep, np.int64)]


def fit(image: np.ndarray, width: int, height: int, mode: str = "stretch", pad: int = 114
        ) -> tuple[np.ndarray, np.ndarray]:
    """`image` resized to the network's (width, height), and the map back: (sx, sy, ox, oy)
    such that an image pixel x = (x_net - ox) / sx, y = (y_net - oy) / sy.

    stretch: both axes scaled independently (what the upstream CenterNet and NanoDet do);
    letterbox: one scale keeping the aspect ratio, the rest padded with `pad` grey, centred.
    """
    h, w = image.shape[:2]
    if mode == "stretch":
        return resize(image, width, height), np.array([width / w, height / h, 0.0, 0.0])
    if mode != "letterbox":
        raise Error(f"resize mode must be 'stretch' or 'letterbox', got {mode!r}")
    s = min(width / w, height / h)
    nw, nh = max(1, min(width, round(w * s))), max(1, min(height, round(h * s)))
    ox, oy = (width - nw) // 2, (height - nh) // 2
    out = np.full((height, width, image.shape[2]), pad, np.uint8)
    out[oy:oy + nh, ox:ox + nw] = resize(image, nw, nh)
    return out, np.array([nw / w, nh / h, float(ox), float(oy)])


def to_image(boxes: np.ndarray, geometry: np.ndarray, width: int, height: int) -> np.ndarray:
    """Network-pixel xyxy boxes -> image pixels (see `fit`), clipped to the image."""
    sx, sy, ox, oy = geometry
    out = np.empty((len(boxes), 4), np.float32)
    out[:, 0::2] = np.clip((boxes[:, 0::2] - ox) / sx, 0, width)
    out[:, 1::2] = np.clip((boxes[:, 1::2] - oy) / sy, 0, height)
    return out


def static_hw(shape: list, layout: str) -> tuple[int | None, int | None]:
    """(height, width) of an image input's shape when fixed, None where dynamic."""
    dims = shape[1:3] if layout == "nhwc" else shape[2:4]
    return tuple(d if isinstance(d, int) and d > 0 else None for d in dims)  # type: ignore


def layout_of(shape: list) -> str:
    """'nhwc' when the last axis has 3 channels, else 'nchw'."""
    return "nhwc" if len(shape) == 4 and shape[3] == 3 else "nchw"


def nms_per_class(boxes: np.ndarray, scores: np.ndarray, labels: np.ndarray, iou: float,
                  max_out: int) -> np.ndarray:
    """`nms` within each class (boxes of different classes never suppress each other), the
    kept indices best first, at most `max_out`."""
    if not len(scores):
        return np.zeros(0, np.int64)
    # one call: shift each class's boxes far apart, so only same-class boxes overlap
    b = np.asarray(boxes, np.float64)
    span = float(np.abs(b).max()) + 1.0 if b.size else 1.0
    offset = np.asarray(labels, np.float64)[:, None] * (2 * span + 1)
    return nms(b + offset, scores, iou, max_out)
