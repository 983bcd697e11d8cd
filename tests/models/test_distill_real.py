"""distill with the real pretrained backbone (nsfwjs' MobileNetV2, pulled with `visionflow
models pull mobilenetv2`) and real photos (../shared raccoon); skipped with the reason when
either is absent."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
ort = pytest.importorskip("onnxruntime")

import torch  # noqa: E402
from PIL import Image  # noqa: E402

import visionflow as vf  # noqa: E402
from visionflow.models.base import models_dir  # noqa: E402
from visionflow.models.distill import distill  # noqa: E402
from visionflow.models.distill.backbone import (pretrained_mobilenetv2,  # noqa: E402
                                                read_tfjs_weights)

from ..conftest import shared_path  # noqa: E402

# test_short_raccoon_run_finds_raccoons measured AP50 0.475 once (2026-12-04, seed 0, one
# thread; an untrained head scores ~0.01); the floor leaves room for other CPUs' rounding
AP50_FLOOR = 0.35


@pytest.fixture(scope="module")
def backbone_dir():
    folder = models_dir() / "mobilenetv2"
    if not (folder / "model.onnx").is_file():
        pytest.skip(f"mobilenetv2 is not pulled ({folder}): run `visionflow models pull "
                    "mobilenetv2`")
    return folder


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def _photo(size: int = 224) -> np.ndarray:
    path = shared_path("raccoon", "images", "raccoon-1.jpg")
    return np.asarray(Image.open(path).convert("RGB").resize((size, size), Image.BILINEAR))


def test_backbone_features_equal_the_pulled_onnx_model(backbone_dir):
    """Our torch MobileNetV2 + nsfwjs weights == the converted TF.js model (checked against
    TF.js itself when pulled) on a real photo, up to the 7x7x1280 feature map."""
    x = _photo().astype(np.float32) / 255
    weights = read_tfjs_weights(backbone_dir)
    model = pretrained_mobilenetv2(backbone_dir).eval()
    with torch.no_grad():
        f32 = model(torch.from_numpy(x).permute(2, 0, 1)[None])[2][0].numpy()  # (320, 7, 7)
    # the classifier's last conv (not part of the detector): 1x1 conv + BN + ReLU6
    k = weights["Conv_1/kernel"][0, 0]                                      # (320, 1280)
    y = np.einsum("chw,co->hwo", f32, k)
    bn = {n: weights[f"Conv_1_bn/{n}"] for n in ("gamma", "beta", "moving_mean",
                                                   "moving_variance")}
    y = (y - bn["moving_mean"]) / np.sqrt(bn["moving_variance"] + 1e-3) * bn["gamma"] + \
        bn["beta"]
    ours = np.clip(y, 0, 6)
    sess = ort.InferenceSession(str(backbone_dir / "model.onnx"),
                                providers=["CPUExecutionProvider"])
    theirs = sess.run(["feature_map"], {"input": x[None]})[0][0]           # (7, 7, 1280)
    assert ours.shape == theirs.shape
    assert np.abs(ours - theirs).max() < 1e-3 * max(1.0, np.abs(theirs).max()), \
        np.abs(ours - theirs).max()


def test_tfjs_bundle_and_pulled_weights_agree(backbone_dir):
    """The nsfwjs bundle (base64 in JavaScript, uint8-quantized) decodes to the weights the
    registry pulled."""
    if not (backbone_dir / "tfjs" / "model.min.js").is_file():
        pytest.skip("the pulled model has no tfjs/ copy of nsfwjs' files")
    a, b = read_tfjs_weights(backbone_dir / "tfjs"), read_tfjs_weights(backbone_dir)
    assert set(a) == set(b) and len(a) == 266
    assert all(np.array_equal(a[k], b[k]) for k in a)


def _raccoon() -> vf.Dataset:
    """Raccoon's 200 photos and human boxes, split as upstream (data/test_labels.csv)."""
    human = vf.load(shared_path("raccoon", "annotations"))
    test = vf.load(shared_path("raccoon", "data", "test_labels.csv"),
                   images_dir=shared_path("raccoon", "images"))
    names = set(test.images.file_name.tolist())
    split = np.array(["test" if n in names else "train" for n in human.images.file_name],
                     object)
    return human.replace(images=human.images.replace(split=split))


def test_short_raccoon_run_finds_raccoons(backbone_dir, tmp_path):
    """A short run on real photos (human labels as the teacher) with the pretrained backbone:
    the student finds raccoons on the 40 held-out photos; the ONNX export matches torch."""
    ds = _raccoon()
    result = distill(ds, tmp_path / "run", epochs=10, input_size=160, batch=16, lr=1e-2,
                     backbone=backbone_dir, threads=1, tflite=False)
    ev = result.report["evaluation"]["student_vs_teacher"]
    assert ev["images"] == 40
    assert ev["AP50"] > AP50_FLOOR, ev
    check = result.report["exports"]["onnx_vs_torch"]
    assert check["compared"] > 0 and check["boxes"] < 1e-4 and check["labels_differ"] == 0
