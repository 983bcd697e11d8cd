"""The student rebuilt in Keras for TensorFlow's TF Lite converter: the same layers as the
torch model (keras.applications.MobileNetV2 is the network the backbone weights came from),
the trained weights copied across, and the CenterNet decode written with tf ops that TF Lite
runs (max-pool, top-k, gather). TensorFlow is imported by the caller, only when exporting.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .backbone import BN_EPS, keras_names
from .student import exportable


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy()


def _set_bn(layer, bn) -> None:
    layer.set_weights([_np(bn.weight), _np(bn.bias), _np(bn.running_mean),
                       _np(bn.running_var)])


def keras_student(tf, model, size: int):
    """A Keras model image (1, S, S, 3) 0..1 -> boxes (1, K, 4), scores (1, K), labels
    (1, K), numerically the torch `model`."""
    keras = tf.keras
    L = keras.layers
    base = keras.applications.MobileNetV2(input_shape=(size, size, 3), include_top=False,
                                          weights=None, alpha=model.backbone.width)
    for name, layer in keras_names(model.backbone):
        k = _np(layer.conv.weight)
        kl = base.get_layer(name)
        kl.set_weights([k.transpose(2, 3, 0, 1) if name.endswith("_depthwise")
                        else k.transpose(2, 3, 1, 0)])
        _set_bn(base.get_layer("bn_Conv1" if name == "Conv1" else f"{name}_BN"), layer.bn)
    f8, f16, f32 = (base.get_layer(n).output for n in
                    ("block_5_add", "block_12_add", "block_16_project_BN"))

    def conv1x1(t, torch_conv):
        w = _np(torch_conv.weight)
        layer = L.Conv2D(w.shape[0], 1, use_bias=torch_conv.bias is not None)
        y = layer(t)
        weights = [w.transpose(2, 3, 1, 0)]
        if torch_conv.bias is not None:
            weights.append(_np(torch_conv.bias))
        layer.set_weights(weights)
        return y

    def sep(t, seq):
        dw, bn1, _, pw, bn2, _ = seq
        layer = L.DepthwiseConv2D(3, padding="same", use_bias=False)
        y = layer(t)
        layer.set_weights([_np(dw.weight).transpose(2, 3, 0, 1)])
        bn = L.BatchNormalization(epsilon=bn1.eps)
        y = bn(y)
        _set_bn(bn, bn1)
        y = L.ReLU()(y)
        y = conv1x1(y, pw)
        bn = L.BatchNormalization(epsilon=bn2.eps)
        y = bn(y)
        _set_bn(bn, bn2)
        return L.ReLU()(y)

    p = conv1x1(f32, model.lat32)
    p = sep(L.Add()([conv1x1(f16, model.lat16), L.UpSampling2D(2)(p)]), model.smooth16)
    p = sep(L.Add()([conv1x1(f8, model.lat8), L.UpSampling2D(2)(p)]), model.smooth8)
    heat = conv1x1(sep(p, model.heat[0]), model.heat[1])
    size_map = conv1x1(sep(p, model.size[0]), model.size[1])
    net = keras.Model(base.input, [heat, size_map])
    top_k = model.top_k

    @tf.function(input_signature=[tf.TensorSpec([1, size, size, 3], tf.float32)])
    def detect(image):
        logits, reg = net(image, training=False)
        heat_nchw = tf.transpose(tf.sigmoid(logits), [0, 3, 1, 2])   # torch's flat order
        pooled = tf.transpose(tf.nn.max_pool2d(tf.sigmoid(logits), 3, 1, "SAME"),
                              [0, 3, 1, 2])
        peaks = heat_nchw * tf.cast(tf.equal(pooled, heat_nchw), tf.float32)
        c, h, w = peaks.shape[1], peaks.shape[2], peaks.shape[3]
        k = min(top_k, c * h * w)
        scores, idx = tf.math.top_k(tf.reshape(peaks, [1, -1]), k)
        labels = idx // (h * w)
        cell = idx - labels * (h * w)
        ys, xs = cell // w, cell - (cell // w) * w
        reg_flat = tf.reshape(reg, [1, h * w, 4])
        r = tf.gather(reg_flat, cell, batch_dims=1)                 # (1, K, 4)
        cx = (tf.cast(xs, tf.float32) + r[..., 2]) / w
        cy = (tf.cast(ys, tf.float32) + r[..., 3]) / h
        bw = tf.maximum(r[..., 0], 0.0) / w
        bh = tf.maximum(r[..., 1], 0.0) / h
        boxes = tf.clip_by_value(tf.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2,
                                           cy + bh / 2], -1), 0.0, 1.0)
        return {"boxes": boxes, "scores": scores, "labels": labels}

    detect.keras_model = net
    return detect


def convert(tf, detect, calibration: np.ndarray | None) -> bytes:
    """TF Lite bytes: float32, or int8 (post-training, calibrated on those images) with
    float input and output and float fallback for ops without an int8 kernel."""
    from tensorflow.python.framework.convert_to_constants import (
        convert_variables_to_constants_v2)
    # weights as constants: TF Lite's variable ops are for on-device training, not this
    frozen = convert_variables_to_constants_v2(detect.get_concrete_function())
    conv = tf.lite.TFLiteConverter.from_concrete_functions([frozen])
    if calibration is not None:
        def representative():
            for img in calibration:
                yield [img[None].astype(np.float32) / 255]
        conv.optimizations = [tf.lite.Optimize.DEFAULT]
        conv.representative_dataset = representative
        conv.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8,
                                          tf.lite.OpsSet.TFLITE_BUILTINS]
    return conv.convert()


def run_tflite(tf, path: Path, image01: np.ndarray) -> dict[str, np.ndarray]:
    """boxes, scores, labels of one 0..1 image; outputs told apart by shape and type (a
    frozen graph keeps no signature names): boxes (1, K, 4), labels integer, scores."""
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")                  # tf.lite.Interpreter's deprecation
        interp = tf.lite.Interpreter(str(path), num_threads=1)
    interp.allocate_tensors()
    interp.set_tensor(interp.get_input_details()[0]["index"],
                      image01[None].astype(np.float32))
    interp.invoke()
    out = {}
    for d in interp.get_output_details():
        v = interp.get_tensor(d["index"])
        key = "boxes" if v.ndim == 3 else "labels" if v.dtype.kind in "iu" else "scores"
        out[key] = v
    return out


def compare(tf, model, path: Path, images: np.ndarray) -> dict[str, Any]:
    """The TF Lite model's detections against torch's on `images` (export.match_outputs)."""
    import torch

    from .export import match_outputs
    net = exportable(model)
    worst: dict[str, Any] = {"boxes": 0.0, "scores": 0.0, "labels_differ": 0, "compared": 0}
    for img in images:
        x = img.astype(np.float32) / 255
        with torch.no_grad():
            out = [t.numpy()[0] for t in
                   net(torch.from_numpy(x.transpose(2, 0, 1).copy())[None])]
        got = run_tflite(tf, path, x)
        match_outputs(worst, out, [got[k][0] for k in ("boxes", "scores", "labels")])
    return worst


__all__ = ["keras_student", "convert", "compare", "run_tflite", "BN_EPS"]
