"""distill on a tiny random backbone and learnable synthetic data: the loss falls and the
squares are found, a resumed run equals an uninterrupted one, the ONNX export equals torch
and runs through the generic OnnxDetector, and bad input is one clear error."""

from __future__ import annotations

import json

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("onnxruntime")

import torch  # noqa: E402

from visionflow.core.errors import Error  # noqa: E402
from visionflow.models.distill import distill  # noqa: E402
from visionflow.models.distill.train import encode, gaussian_radius  # noqa: E402

from .distill_data import squares  # noqa: E402

TINY = dict(backbone=None, width=0.35, input_size=96, batch=8, threads=1)


@pytest.fixture(autouse=True)
def one_thread():
    """Two shared cores: one torch thread is faster than two fighting others."""
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    root = tmp_path_factory.mktemp("distill")
    ds = squares(root / "images")
    result = distill(ds, root / "out", epochs=14, lr=1e-2, seed=0, tflite=False, **TINY)
    return ds, result


def test_training_learns_the_squares(trained):
    ds, result = trained
    losses = [h["loss"] for h in result.history]
    assert len(losses) == 14 and result.epochs_run == 14
    assert losses[-1] < 0.4 * losses[0], losses
    ev = result.report["evaluation"]["student_vs_teacher"]
    assert ev["images"] == 12
    assert ev["AP50"] > 0.45, ev            # untrained weights score ~0 here
    report = json.loads((result.out / "report.json").read_text())
    assert report["evaluation"] == result.report["evaluation"]
    md = (result.out / "report.md").read_text()
    assert "student vs teacher labels" in md and f"{ev['AP50']:.3f}" in md


def test_onnx_export_equals_torch_and_runs_as_a_generic_detector(trained):
    ds, result = trained
    check = result.report["exports"]["onnx_vs_torch"]
    assert check["compared"] > 0 and check["boxes"] < 1e-4 and check["scores"] < 1e-4
    assert check["labels_differ"] == 0
    side = json.loads(result.onnx.with_suffix(".json").read_text())
    assert side["classes"] == ["red", "blue"] and side["input_size"] == [96, 96]
    from visionflow.models.onnx_detector import OnnxDetector
    det = OnnxDetector(result.onnx)
    row = int(np.flatnonzero(ds.images.split == "val")[0])
    found = det.detect(ds.image(row))
    truth = ds.annotations.xyxy[ds.annotations.image_index == row]
    best = found.select(np.argsort(-found.scores)[:len(truth)])
    # each square is found by one of the best detections (IoU > 0.5) in image pixels
    for box in truth:
        ix = np.clip(np.minimum(best.boxes[:, 2:], box[2:]) -
                     np.maximum(best.boxes[:, :2], box[:2]), 0, None).prod(1)
        union = (box[2:] - box[:2]).prod() + (best.boxes[:, 2:] - best.boxes[:, :2]).prod(1) - ix
        assert (ix / union).max() > 0.5, (box, best.boxes)


def test_resume_continues_bit_for_bit(tmp_path):
    ds = squares(tmp_path / "images", n_train=16, n_val=4)
    kw = dict(lr=3e-3, seed=3, tflite=False, **TINY)
    full = distill(ds, tmp_path / "full", epochs=3, **kw)

    class Interrupted(Exception):
        pass

    def stop_after_two(stats):
        if stats.epoch == 2:
            raise Interrupted            # as Ctrl-C would, after the checkpoint is written

    with pytest.raises(Interrupted):
        distill(ds, tmp_path / "part", epochs=3, on_epoch=stop_after_two, **kw)
    resumed = distill(ds, tmp_path / "part", epochs=3, resume=True, **kw)
    assert resumed.epochs_run == 1
    assert [h["loss"] for h in resumed.history] == [h["loss"] for h in full.history]
    a = torch.load(tmp_path / "full" / "checkpoint.pt", weights_only=False)["model"]
    b = torch.load(tmp_path / "part" / "checkpoint.pt", weights_only=False)["model"]
    assert all(torch.equal(a[k], b[k]) for k in a)
    # resuming a finished run trains nothing more
    again = distill(ds, tmp_path / "part", epochs=3, resume=True, **kw)
    assert again.epochs_run == 0


def test_resume_refuses_other_settings(tmp_path):
    ds = squares(tmp_path / "images", n_train=8, n_val=2)
    distill(ds, tmp_path / "out", epochs=1, tflite=False, **TINY)
    with pytest.raises(Error, match="other settings.*seed"):
        distill(ds, tmp_path / "out", epochs=2, resume=True, seed=5, tflite=False, **TINY)
    with pytest.raises(Error, match="nothing to resume"):
        distill(ds, tmp_path / "new", epochs=1, resume=True, **TINY)
    with pytest.raises(Error, match="not empty|exists|overwrite"):
        distill(ds, tmp_path / "out", epochs=1, tflite=False, **TINY)


def test_bad_input_is_one_clear_error(tmp_path):
    ds = squares(tmp_path / "images", n_train=4, n_val=2)
    unsplit = ds.replace(images=ds.images.replace(split=np.full(len(ds), "", object)))
    with pytest.raises(Error, match="no 'train' split"):
        distill(unsplit, tmp_path / "a", epochs=1, **TINY)
    no_val = ds.split("train")
    with pytest.raises(Error, match="no 'val' or 'test' split"):
        distill(no_val, tmp_path / "b", epochs=1, **TINY)
    with pytest.raises(Error, match="multiple of 32"):
        distill(ds, tmp_path / "c", epochs=1, **{**TINY, "input_size": 100})
    with pytest.raises(Error, match="unknown student"):
        distill(ds, tmp_path / "d", epochs=1, student="resnet", **TINY)
    with pytest.raises(Error, match="not pulled|no TF.js"):
        distill(ds, tmp_path / "e", epochs=1, **{**TINY, "backbone": "no-such-model"})


def test_encode_puts_one_peak_per_object_with_its_size():
    boxes = np.array([[0.1, 0.2, 0.5, 0.6], [0.7, 0.7, 0.9, 0.95]], np.float32)
    heat, reg, mask = encode([(boxes, np.array([0, 1]))], 2, 16)
    assert mask.sum() == 2 and (heat == 1).sum() == 2
    iy, ix = np.argwhere(heat[0, 0] == 1)[0]
    assert (ix, iy) == (4, 6)                        # centre (0.3, 0.4) * 16 = (4.8, 6.4)
    np.testing.assert_allclose(reg[0, :, iy, ix], [6.4, 6.4, 0.8, 0.4], atol=1e-5)
    flipped, _, _ = encode([(boxes, np.array([0, 1]))], 2, 16, np.array([True]))
    assert np.argwhere(flipped[0, 0] == 1)[0].tolist() == [6, 11]   # 1 - 0.3 -> 0.7 * 16
    assert 0 < gaussian_radius(10, 10) < 10


def _keras_weights(model) -> dict[str, np.ndarray]:
    """A torch MobileNetV2's weights under Keras's names and layouts (the inverse of
    backbone.load_keras_weights), as a TF.js model would hold them."""
    from visionflow.models.distill.backbone import _bn_name, keras_names
    out = {}
    for name, layer in keras_names(model):
        k = layer.conv.weight.detach().numpy()
        if name.endswith("_depthwise"):
            out[f"{name}/depthwise_kernel"] = k.transpose(2, 3, 0, 1)
        else:
            out[f"{name}/kernel"] = k.transpose(2, 3, 1, 0)
        bn = layer.bn
        for key, t in (("gamma", bn.weight), ("beta", bn.bias),
                       ("moving_mean", bn.running_mean), ("moving_variance", bn.running_var)):
            out[f"{_bn_name(name)}/{key}"] = t.detach().numpy().copy()
    return out


def test_tfjs_weights_load_into_the_torch_backbone(tmp_path):
    """A TF.js layers model (model.json + shard) of Keras-named weights loads into a fresh
    torch MobileNetV2 and gives the same features as the network it came from."""
    from visionflow.models.distill.backbone import (build_mobilenetv2, load_keras_weights,
                                                    read_tfjs_weights)
    torch.manual_seed(1)
    source = build_mobilenetv2(0.35).eval()
    with torch.no_grad():                 # non-trivial BatchNorm statistics
        for m in source.modules():
            if isinstance(m, torch.nn.BatchNorm2d):
                m.running_mean.uniform_(-0.5, 0.5)
                m.running_var.uniform_(0.5, 2.0)
    weights = _keras_weights(source)
    manifest = [{"paths": ["group1-shard1of1.bin"], "weights": [
        {"name": k, "shape": list(v.shape), "dtype": "float32"} for k, v in weights.items()]}]
    (tmp_path / "model.json").write_text(json.dumps({"modelTopology": {},
                                                     "weightsManifest": manifest}))
    (tmp_path / "group1-shard1of1.bin").write_bytes(
        b"".join(v.astype(np.float32).tobytes() for v in weights.values()))
    target = build_mobilenetv2(0.35).eval()
    load_keras_weights(target, read_tfjs_weights(tmp_path))
    x = torch.rand(1, 3, 64, 64)
    with torch.no_grad():
        for a, b in zip(source(x), target(x)):
            assert torch.equal(a, b)
    # a truncated shard is one clear error
    data = (tmp_path / "group1-shard1of1.bin").read_bytes()
    (tmp_path / "group1-shard1of1.bin").write_bytes(data[:-8])
    with pytest.raises(Error, match="too short"):
        read_tfjs_weights(tmp_path)


def test_nsfwjs_bundle_is_decoded_and_dequantized(tmp_path):
    """nsfwjs ships its TF.js model as JavaScript: the manifest as an object literal and the
    weights as base64; uint8 weights are value * scale + min."""
    import base64

    from visionflow.models.distill.backbone import read_tfjs_weights
    (tmp_path / "model.min.js").write_text(
        '!function(e){}({1:[function(e,a,n){a.exports={modelTopology:{keras_version:"2.2.4"},'
        'weightsManifest:[{paths:["group1-shard1of1"],weights:[{name:"Conv1/kernel",shape:'
        '[8,8],dtype:"float32",quantization:{min:-.5,scale:.25,dtype:"uint8"}},{name:"b/bias",'
        'shape:[1],dtype:"float32"}]}]}},{}]},{},[1])(1)});')
    raw = bytes(range(64)) + np.float32(1.5).tobytes()
    (tmp_path / "group1-shard1of1.min.js").write_text(
        '!function(e){}({1:[function(e,h,n){h.exports="' +
        base64.b64encode(raw).decode() + '"},{}]},{},[1])(1)});')
    w = read_tfjs_weights(tmp_path)
    np.testing.assert_array_equal(w["Conv1/kernel"],
                                  np.arange(64, dtype=np.float32).reshape(8, 8) * 0.25 - 0.5)
    np.testing.assert_array_equal(w["b/bias"], [1.5])
