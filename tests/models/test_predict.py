"""load_detector: what `autolabel --model` and `predict MODEL` accept, and what they refuse; the
ontology's prompts reach open-vocabulary models only."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from visionflow.core.errors import Error  # noqa: E402
from visionflow.models import predict as mod  # noqa: E402
from visionflow.models.base import Detections, ModelInfo  # noqa: E402
from visionflow.models.onnx_detector import OnnxDetector  # noqa: E402

from . import tiny_detectors as tiny  # noqa: E402


class _Fake:
    def __init__(self, name, classes=()):
        self.info = ModelInfo(name, "detect", tuple(classes))

    def detect(self, image):
        return Detections.empty()


def test_a_detector_object_is_used_as_it_is():
    det = _Fake("x")
    assert mod.load_detector(det) is det
    with pytest.raises(Error, match="not int"):
        mod.load_detector(3)


def test_onnx_files_and_folders_are_exported_detectors(tmp_path):
    path = tiny.exported(tmp_path / "student.onnx", [[0.1, 0.1, 0.5, 0.5]], [0], ["raccoon"],
                         size=(32, 32))
    assert isinstance(mod.load_detector(str(path)), OnnxDetector)
    folder = tmp_path / "export"
    tiny.exported(folder / "model.onnx", [[0.1, 0.1, 0.5, 0.5]], [0], ["raccoon"], size=(32, 32))
    det = mod.load_detector(folder)
    assert isinstance(det, OnnxDetector) and det.info.name == "export"


def test_prompts_go_to_open_vocabulary_models_only(monkeypatch):
    registry = pytest.importorskip("visionflow.models.registry")
    seen = []

    def load(name, **kw):
        seen.append((str(name), kw))
        return _Fake(str(name), kw.get("classes", ("bear",)))

    monkeypatch.setattr(registry, "load", load)
    mod.load_detector("centernet", ("bear", "dog"))
    mod.load_detector("google/owlv2-base-patch16", ("a raccoon", "a dog"))
    assert seen == [("centernet", {}),
                    ("google/owlv2-base-patch16", {"classes": ("a raccoon", "a dog")})]


def test_open_vocabulary_autolabel_maps_prompts_to_classes(tmp_path, monkeypatch):
    """An OWL-like detector built with the ontology's prompts: its class k is prompt k."""
    registry = pytest.importorskip("visionflow.models.registry")
    from .test_autolabel import make_source
    import visionflow as vf
    from visionflow.models.autolabel import autolabel

    class _Prompted:
        def __init__(self, classes):
            self.info = ModelInfo("owl", "detect", tuple(classes))

        def detect(self, image):
            # one box per prompt, prompt k scoring 0.9 - 0.1 k
            n = len(self.info.classes)
            boxes = np.array([[2 + 10 * k, 2, 8 + 10 * k, 8] for k in range(n)], np.float32)
            return Detections(boxes, np.array([0.9 - 0.1 * k for k in range(n)], np.float32),
                              np.arange(n, dtype=np.int32))

    monkeypatch.setattr(registry, "load", lambda name, **kw: _Prompted(kw["classes"]))
    src = make_source(tmp_path)
    result = autolabel(src, tmp_path / "out", "org/owl", "raccoon=a raccoon,a bear; dog=a dog",
                       threshold=0.5, to="visionflow")
    assert result.per_class == {"raccoon": 8, "dog": 4}
    assert vf.load(tmp_path / "out").classes == ["raccoon", "dog"]


def test_models_that_do_not_detect_are_refused(monkeypatch):
    registry = pytest.importorskip("visionflow.models.registry")

    class _Seg:
        info = ModelInfo("grabcut", "segment")

        def segment(self, image, *, box=None, points=None, labels=None):
            return np.zeros(image.shape[:2], bool)

    monkeypatch.setattr(registry, "load", lambda name, **kw: _Seg())
    with pytest.raises(Error, match="a segment model, not a detector"):
        mod.load_detector("grabcut")


def test_unknown_names_are_one_line():
    with pytest.raises(Error, match="unknown model 'centernett'.*did you mean 'centernet'"):
        mod.load_detector("centernett")
