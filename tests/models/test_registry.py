"""The registry's specs and `load()`, the one entry point for every model family."""

from __future__ import annotations

import json
import re
import sys
import types
from pathlib import Path

import pytest

from visionflow.core.errors import Error, UsageError
from visionflow.models import registry
from visionflow.models.base import TASKS


def test_every_spec_is_complete_and_consistent():
    assert set(registry.SPECS) == {"centernet", "nanodet", "movenet", "selfie", "mobilenetv2",
                                   "grabcut"}
    for name, spec in registry.SPECS.items():
        assert spec.name == name and spec.task in TASKS and spec.licence
        assert re.fullmatch(r"[\w.]+:\w+", spec.loader)
        if spec.builtin:
            assert not spec.convert
            continue
        assert re.fullmatch(r"sha512-[A-Za-z0-9+/]{86}==", spec.source.integrity)
        assert spec.convert[0] in ("graph", "layers-js")
        assert spec.convert[1] in {Path(f).name for f in spec.source.files}
        assert spec.input_size and spec.classes
        json.dumps(spec.to_dict())  # JSON-ready


def test_unlicensed_weights_are_never_redistributable():
    for name in ("centernet", "nanodet"):
        spec = registry.get(name)
        assert spec.redistributable is False and "never redistributes" in spec.licence_note
    assert registry.get("movenet").redistributable is True


def test_detector_classes_and_pose_metadata():
    for name in ("centernet", "nanodet"):
        classes = registry.get(name).classes
        assert len(classes) == 80 and classes[0] == "person" and classes[21] == "bear"
    mv = registry.get("movenet")
    assert len(mv.keypoints) == 17 and mv.keypoints[5] == "left_shoulder"
    assert len(mv.skeleton) == 19
    assert all(0 <= a < 17 and 0 <= b < 17 for a, b in mv.skeleton)
    # the flip index is an involution that swaps every left_* with its right_*
    flip = mv.flip_index
    assert sorted(flip) == list(range(17)) and all(flip[flip[i]] == i for i in range(17))
    for i, name in enumerate(mv.keypoints):
        expected = name.replace("left_", "R").replace("right_", "left_").replace("R", "right_")
        assert mv.keypoints[flip[i]] == expected


def test_get_unknown_name_suggests_the_closest():
    with pytest.raises(UsageError, match="unknown model 'movnet'; did you mean 'movenet'"):
        registry.get("movnet")


def test_load_of_a_model_not_pulled_names_the_command(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFLOW_MODELS_DIR", str(tmp_path))
    with pytest.raises(Error, match=r"model 'centernet' is not pulled .*run `visionflow "
                       r"models pull centernet`"):
        registry.load("centernet")
    assert registry.status("centernet") == {"pulled": False, "builtin": False, "size": 0,
                                            "path": str(tmp_path / "centernet"),
                                            "check": "not pulled"}


@pytest.fixture
def recorder(monkeypatch):
    """A fake module `vf_fake_loader` whose `make` records how load() called it."""
    mod = types.ModuleType("vf_fake_loader")
    seen: list[tuple] = []

    def make(*args, **kwargs):
        seen.append((args, kwargs))
        return "model"
    mod.make = make
    monkeypatch.setitem(sys.modules, "vf_fake_loader", mod)
    return seen


def _pulled(folder: Path, name: str) -> None:
    folder.mkdir(parents=True)
    (folder / "model.onnx").write_bytes(b"onnx")
    (folder / "manifest.json").write_text(json.dumps(
        {"name": name, "files": {"model.onnx": {"sha256": "x", "size": 4}}}))


def test_load_calls_the_spec_loader_with_the_folder_and_spec(tmp_path, monkeypatch, recorder):
    monkeypatch.setenv("VISIONFLOW_MODELS_DIR", str(tmp_path))
    spec = registry.ModelSpec("fake", "detect", "d", "vf_fake_loader:make",
                              registry.NpmSource("p", "1", "sha512-x", ("a.json",)),
                              ("graph", "a.json"), licence="MIT")
    monkeypatch.setitem(registry.SPECS, "fake", spec)
    _pulled(tmp_path / "fake", "fake")
    assert registry.load("fake", iou=0.5) == "model"
    assert recorder[-1] == ((tmp_path / "fake", spec), {"iou": 0.5})
    # a pulled folder elsewhere is recognised by its manifest
    _pulled(tmp_path / "elsewhere", "fake")
    registry.load(tmp_path / "elsewhere")
    assert recorder[-1] == ((tmp_path / "elsewhere", spec), {})


def test_load_dispatches_onnx_files_hub_ids_and_hf_folders(tmp_path, monkeypatch, recorder):
    import visionflow.models.hf as hf
    import visionflow.models.onnx_detector as od
    monkeypatch.setattr(hf, "load", lambda *a, **k: ("hf", a, k))
    monkeypatch.setattr(od, "OnnxDetector", lambda *a, **k: ("onnx", a, k))
    f = tmp_path / "det.onnx"
    f.write_bytes(b"x")
    assert registry.load(f) == ("onnx", (f, None), {})
    assert registry.load("google/owlv2-base-patch16", classes=("cat",)) == \
        ("hf", ("google/owlv2-base-patch16",), {"classes": ("cat",)})
    cfg = tmp_path / "clip"
    cfg.mkdir()
    (cfg / "config.json").write_text("{}")
    assert registry.load(cfg)[0:2] == ("hf", (cfg,))
    exported = tmp_path / "student"
    exported.mkdir()
    (exported / "model.onnx").write_bytes(b"x")
    assert registry.load(exported) == ("onnx", (exported, None), {})


def test_load_errors_are_one_line(tmp_path, monkeypatch):
    with pytest.raises(Error, match="no such ONNX model file"):
        registry.load(tmp_path / "missing.onnx")
    (tmp_path / "empty").mkdir()
    with pytest.raises(Error, match="not a model folder"):
        registry.load(tmp_path / "empty")
    with pytest.raises(UsageError, match="did you mean 'selfie'"):
        registry.load("selfy")
    monkeypatch.setitem(registry.SPECS, "gone", registry.ModelSpec(
        "gone", "segment", "d", "visionflow.models.not_there:X", licence="MIT"))
    with pytest.raises(Error, match="this visionflow has no visionflow.models.not_there"):
        registry.load("gone")
    monkeypatch.setitem(registry.SPECS, "extra", registry.ModelSpec(
        "extra", "segment", "d", "vf_surely_not_installed_pkg:X", licence="MIT"))
    with pytest.raises(Error, match=r"needs vf_surely_not_installed_pkg.*pip install"):
        registry.load("extra")


def test_a_corrupt_manifest_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFLOW_MODELS_DIR", str(tmp_path))
    (tmp_path / "selfie").mkdir()
    (tmp_path / "selfie" / "manifest.json").write_text("{not json")
    with pytest.raises(Error, match=r"unreadable manifest .*models pull selfie --force"):
        registry.status("selfie")
    (tmp_path / "selfie" / "manifest.json").write_text("[]")
    with pytest.raises(Error, match="not a visionflow model manifest"):
        registry.load("selfie")


def test_grabcut_is_built_in_and_loads_without_weights(tmp_path, monkeypatch):
    pytest.importorskip("cv2")
    monkeypatch.setenv("VISIONFLOW_MODELS_DIR", str(tmp_path))
    seg = registry.load("grabcut")
    assert seg.info.task == "segment"
    assert registry.status("grabcut")["builtin"] is True
    assert registry.model_info("grabcut")["check"] == "built-in"


def test_the_registry_imports_nothing_heavy():
    import subprocess
    out = subprocess.run([sys.executable, "-c", "import visionflow.models.registry, "
                          "visionflow.models.pull, visionflow.cli.models, sys, json; "
                          "print(json.dumps(sorted(sys.modules)))"],
                         capture_output=True, text=True, check=True).stdout
    loaded = set(json.loads(out.splitlines()[-1]))
    assert not loaded & {"onnxruntime", "tensorflow", "torch", "cv2", "transformers", "onnx"}
