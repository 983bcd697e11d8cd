"""Tiny ONNX graphs with the real models' interfaces (built with onnx.helper, no weights), so the
detectors' session, pre- and post-processing are tested without the pulled models.

Each graph returns fixed boxes but computes one score from the input pixels: the mean of input
channel 0 (divided by 255 where the model takes 0..255). A red image then scores 1 and a blue
one 0 only if the detector feeds RGB in the value range the model expects.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import orjson


def _helpers():
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    return onnx, TensorProto, helper, numpy_helper


def _channel0_mean(helper, numpy_helper, nodes, inits, x: str, axis: int, scale: float) -> str:
    """Nodes computing mean(x[channel 0]) * scale as a (1,) tensor named 'c0'."""
    inits += [numpy_helper.from_array(np.array([0], np.int64), "s0"),
              numpy_helper.from_array(np.array([1], np.int64), "s1"),
              numpy_helper.from_array(np.array([axis], np.int64), "ax"),
              numpy_helper.from_array(np.array([1], np.int64), "shape1"),
              numpy_helper.from_array(np.array(scale, np.float32), "scale")]
    nodes += [helper.make_node("Slice", [x, "s0", "s1", "ax"], ["ch0"]),
              helper.make_node("ReduceMean", ["ch0"], ["m4"], keepdims=1),
              helper.make_node("Reshape", ["m4", "shape1"], ["m1"]),
              helper.make_node("Mul", ["m1", "scale"], ["c0"])]
    return "c0"


def _save(path: Path, nodes, inits, inputs, outputs) -> Path:
    onnx, _, helper, _ = _helpers()
    graph = helper.make_graph(nodes, "tiny", inputs, outputs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def centernet(path: Path, rows: np.ndarray, side: int = 64) -> Path:
    """CenterNet-shaped: NHWC (1, side, side, 3) 0..255 -> 'tower_0/detections' (1, N, 6) =
    `rows`, except row 0's score, which is mean(channel 0) / 255."""
    onnx, TP, helper, nh = _helpers()
    rows = np.asarray(rows, np.float32)[None]
    mask = np.zeros_like(rows)
    mask[0, 0, 4] = 1.0
    base = rows * (1 - mask)
    nodes, inits = [], [nh.from_array(base, "base"), nh.from_array(mask, "mask")]
    c0 = _channel0_mean(helper, nh, nodes, inits, "tower_0/images", 3, 1 / 255)
    nodes += [helper.make_node("Mul", [c0, "mask"], ["scored"]),
              helper.make_node("Add", ["base", "scored"], ["tower_0/detections"])]
    return _save(path, nodes, inits,
                 [helper.make_tensor_value_info("tower_0/images", TP.FLOAT, [1, side, side, 3])],
                 [helper.make_tensor_value_info("tower_0/detections", TP.FLOAT,
                                                list(rows.shape))])


def nanodet(path: Path, levels: list[tuple[np.ndarray, np.ndarray]], side: int = 64) -> Path:
    """NanoDet-shaped: NCHW (1, 3, side, side) 0..1 -> per level (scores (1, g*g, 80), boxes
    (1, g*g, 4*B)) = `levels`, except scores[0][0, 0, 0] += mean(channel 0)."""
    onnx, TP, helper, nh = _helpers()
    nodes, inits, outputs = [], [], []
    c0 = _channel0_mean(helper, nh, nodes, inits, "data", 1, 1.0)
    for k, (scores, boxes) in enumerate(levels):
        scores = np.asarray(scores, np.float32)[None]
        boxes = np.asarray(boxes, np.float32)[None]
        inits += [nh.from_array(scores, f"sc{k}"), nh.from_array(boxes, f"bx{k}")]
        if k == 0:
            mask = np.zeros_like(scores)
            mask[0, 0, 0] = 1.0
            inits.append(nh.from_array(mask, "mask"))
            nodes += [helper.make_node("Mul", [c0, "mask"], ["add0"]),
                      helper.make_node("Add", ["sc0", "add0"], ["scores0"])]
        else:
            nodes.append(helper.make_node("Identity", [f"sc{k}"], [f"scores{k}"]))
        nodes.append(helper.make_node("Identity", [f"bx{k}"], [f"boxes{k}"]))
        outputs += [helper.make_tensor_value_info(f"scores{k}", TP.FLOAT, list(scores.shape)),
                    helper.make_tensor_value_info(f"boxes{k}", TP.FLOAT, list(boxes.shape))]
    return _save(path, nodes, inits,
                 [helper.make_tensor_value_info("data", TP.FLOAT, [1, 3, side, side])], outputs)


def exported(path: Path, boxes: np.ndarray, labels: np.ndarray, classes: list[str], *,
             size: tuple[int, int] = (64, 48), layout: str = "nchw", resize: str = "stretch",
             mean=(0.0, 0.0, 0.0), std=(1.0, 1.0, 1.0), sidecar: dict | None = None) -> Path:
    """The generic exported-detector contract: outputs boxes (1, N, 4) normalised, scores
    (1, N) (score 0 = mean of normalised channel 0, the rest 0.9), labels (1, N) int64; and
    its sidecar JSON."""
    onnx, TP, helper, nh = _helpers()
    boxes = np.asarray(boxes, np.float32)[None]
    n = boxes.shape[1]
    w, h = size
    shape = [1, 3, h, w] if layout == "nchw" else [1, h, w, 3]
    nodes, inits = [], [nh.from_array(boxes, "bx"),
                        nh.from_array(np.asarray(labels, np.int64)[None], "lb")]
    base = np.full((1, n), 0.9, np.float32)
    base[0, 0] = 0.0
    mask = np.zeros((1, n), np.float32)
    mask[0, 0] = 1.0
    inits += [nh.from_array(base, "base"), nh.from_array(mask, "mask")]
    c0 = _channel0_mean(helper, nh, nodes, inits, "images", 1 if layout == "nchw" else 3, 1.0)
    nodes += [helper.make_node("Mul", [c0, "mask"], ["sc0"]),
              helper.make_node("Add", ["base", "sc0"], ["scores"]),
              helper.make_node("Identity", ["bx"], ["boxes"]),
              helper.make_node("Identity", ["lb"], ["labels"])]
    _save(path, nodes, inits, [helper.make_tensor_value_info("images", TP.FLOAT, shape)],
          [helper.make_tensor_value_info("boxes", TP.FLOAT, [1, n, 4]),
           helper.make_tensor_value_info("scores", TP.FLOAT, [1, n]),
           helper.make_tensor_value_info("labels", TP.INT64, [1, n])])
    meta = sidecar if sidecar is not None else {
        "task": "detect", "classes": classes, "input_size": [w, h], "layout": layout,
        "normalize": {"mean": list(mean), "std": list(std)}, "resize": resize,
        "outputs": "boxes_scores_labels"}
    path.with_suffix(".json").write_bytes(orjson.dumps(meta))
    return path
