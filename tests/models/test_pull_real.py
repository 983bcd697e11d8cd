"""The real pulled models (`make models` / `visionflow models pull --all`): their files match
their manifests and they run in onnxruntime with the inputs and outputs the manifest records.
Skipped, with the reason, where a model is not pulled (no network to the npm registry)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from visionflow.models import registry
from visionflow.models.pull import verify_files

from ..conftest import shared_path

PULLABLE = [name for name, spec in registry.SPECS.items() if not spec.builtin]


def pulled(name: str) -> dict:
    st = registry.status(name)
    if not st["pulled"]:
        pytest.skip(f"model {name!r} is not pulled ({st['path']}): run "
                    f"`visionflow models pull {name}` or `make models`")
    return st["manifest"]


@pytest.mark.parametrize("name", PULLABLE)
def test_pulled_files_match_their_manifest_and_run(name):
    ort = pytest.importorskip("onnxruntime")
    manifest = pulled(name)
    folder = registry.model_dir(name)
    assert verify_files(folder, manifest) == []
    spec = registry.get(name)
    assert manifest["source"] == str(spec.source)
    assert manifest["integrity"] == spec.source.integrity
    assert {f"tfjs/{p.rsplit('/', 1)[-1]}" for p in spec.source.files} <= set(manifest["files"])
    sess = ort.InferenceSession(str(folder / "model.onnx"), providers=["CPUExecutionProvider"])
    assert [i.name for i in sess.get_inputs()] == [i["name"] for i in manifest["io"]["inputs"]]
    feeds = {}
    for inp in manifest["io"]["inputs"]:
        dtype = np.int32 if inp["dtype"] == "int32" else np.float32
        feeds[inp["name"]] = np.zeros([d or 1 for d in inp["shape"]], dtype)
    outs = sess.run(None, feeds)
    for out, want in zip(outs, manifest["io"]["outputs"]):
        assert list(out.shape) == want["shape"] and np.isfinite(out).all()


def _photo(*parts: str) -> np.ndarray:
    return np.asarray(Image.open(shared_path(*parts)).convert("RGB"))


@pytest.mark.shared
def test_real_centernet_sees_an_animal_in_a_raccoon_photo():
    pulled("centernet")
    image = _photo("raccoon", "images", "raccoon-89.jpg")
    det = registry.load("centernet").detect(image)
    classes = registry.get("centernet").classes
    best = int(np.argmax(det.scores))
    # CenterNet has no raccoon: the photo's best box is a furry animal (MODELS.md: bear)
    assert classes[det.labels[best]] in ("bear", "cat", "dog") and det.scores[best] > 0.3
    x1, y1, x2, y2 = det.boxes[best]
    assert (x2 - x1) * (y2 - y1) > 0.2 * image.shape[0] * image.shape[1]


@pytest.mark.shared
def test_real_mobilenetv2_features_tell_a_copy_from_another_photo():
    pulled("mobilenetv2")
    m = registry.load("mobilenetv2")
    a = _photo("raccoon", "images", "raccoon-89.jpg")
    b = _photo("ultralytics-hub-datasets", "coco8-pose", "images", "train", "000000000036.jpg")
    e = m.embed([a, b, np.ascontiguousarray(a[:, ::-1])])
    assert e.shape == (3, 1280)
    np.testing.assert_allclose(np.linalg.norm(e, axis=1), 1, atol=1e-5)
    assert e[0] @ e[2] > 0.9 > 0.5 > e[0] @ e[1]  # a mirrored copy vs a different photo
    p = m.classify([a])
    np.testing.assert_allclose(p.sum(axis=1), 1, atol=1e-4)
    assert m.info.classes[int(np.argmax(p[0]))] == "neutral"


@pytest.mark.shared
def test_the_real_converter_reproduces_a_pulled_model(tmp_path):
    """convert_tfjs.py in the converter environment, on the pulled TF.js files of the
    smallest model: the new ONNX computes what the pulled one does on a real photo."""
    import os
    import shutil

    from visionflow.models.base import models_dir
    from visionflow.models.pull import run_converter
    ort = pytest.importorskip("onnxruntime")
    pulled("selfie")
    env = Path(os.environ.get("VISIONFLOW_CONVERTER_ENV") or models_dir().parent / "converter-env")
    python = env / "bin" / "python"
    if not python.is_file():
        pytest.skip(f"no converter environment at {env} (`visionflow models pull` creates it)")
    spec = registry.get("selfie")
    shutil.copytree(registry.model_dir("selfie") / "tfjs", tmp_path / "tfjs")
    summary = run_converter(python, spec, tmp_path, tmp_path / "convert.log")
    assert summary["inputs"][0]["shape"] == [1, 256, 256, 3]
    image = _photo("ultralytics-hub-datasets", "coco8-pose", "images", "train",
                   "000000000036.jpg")
    x = np.asarray(Image.fromarray(image).resize((256, 256), Image.BILINEAR),
                   np.float32)[None] / 255
    outs = []
    for f in (tmp_path / "model.onnx", registry.model_dir("selfie") / "model.onnx"):
        sess = ort.InferenceSession(str(f), providers=["CPUExecutionProvider"])
        outs.append(sess.run(None, {sess.get_inputs()[0].name: x})[0])
    np.testing.assert_allclose(outs[0], outs[1], atol=1e-5)
    assert 0.05 < float((outs[0] > 0.5).mean()) < 0.95  # a person mask, not all or nothing
