"""CenterNet, NanoDet and the generic exported detector on tiny ONNX graphs with the real models'
interfaces: boxes placed at known network pixels / grid cells decode to known image pixels
(stretch and letterbox), colour order and value range are proven by a score computed from the
input's channel 0, NMS keeps what tf.image.nonMaxSuppression keeps."""

from __future__ import annotations

import pickle
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

from visionflow.core.errors import Error, ValidationError  # noqa: E402
from visionflow.models import _onnx  # noqa: E402
from visionflow.models.base import Detector  # noqa: E402
from visionflow.models.centernet import COCO80, CenterNet  # noqa: E402
from visionflow.models.nanodet import NanoDet  # noqa: E402
from visionflow.models.onnx_detector import OnnxDetector, write_sidecar  # noqa: E402

from . import tiny_detectors as tiny  # noqa: E402

RED = (255, 0, 0)
BLUE = (0, 0, 255)


def _image(w: int, h: int, color) -> np.ndarray:
    a = np.zeros((h, w, 3), np.uint8)
    a[...] = color
    return a


# --- CenterNet ------------------------------------------------------------------------------

def _centernet(tmp_path, side=64):
    rows = np.array([[16, 16, 48, 32, 0.0, 21],       # bear; score = mean(R) / 255
                     [0, 0, 8, 8, 0.6, 0],            # person, fixed score
                     [1, 1, 9, 9, 0.9, np.nan],       # no class: dropped
                     [30, 30, 40, 40, 0.8, 80]], np.float32)  # class out of range: dropped
    return CenterNet(tiny.centernet(tmp_path / "centernet" / "model.onnx", rows, side))


def test_centernet_box_scales_back_to_image_pixels_and_reads_rgb_0_255(tmp_path):
    det = _centernet(tmp_path)
    assert isinstance(det, Detector)
    assert det.info.classes == COCO80 and det.info.input_size == (64, 64)
    out = det.detect(_image(200, 100, RED))
    assert len(out) == 2
    bear = int(np.flatnonzero(out.labels == COCO80.index("bear"))[0])
    # network (16, 16, 48, 32) on a 64 px square, stretched from 200 x 100
    np.testing.assert_allclose(out.boxes[bear], [50, 25, 150, 50], atol=1e-4)
    assert out.scores[bear] == pytest.approx(1.0, abs=1e-6)      # R channel, 0..255
    assert list(out.scores) == sorted(out.scores, reverse=True)   # NMS order: best first
    blue = det.detect(_image(200, 100, BLUE))
    assert COCO80.index("bear") not in blue.labels.tolist()      # score 0: nothing there


def test_centernet_folder_and_file_and_pickle_agree(tmp_path):
    det = _centernet(tmp_path)
    same = CenterNet(tmp_path / "centernet")   # what registry.load passes: the folder
    again = pickle.loads(pickle.dumps(det))    # what Ray ships
    img = _image(90, 70, (200, 10, 10))
    a, b, c = det.detect(img), same.detect(img), again.detect(img)
    for other in (b, c):
        np.testing.assert_array_equal(a.boxes, other.boxes)
        np.testing.assert_array_equal(a.labels, other.labels)
    assert det.info.fingerprint == same.info.fingerprint == again.info.fingerprint
    assert len(det.info.fingerprint) == 64


def test_centernet_nms_runs_within_each_class(tmp_path):
    """A "bear" box under a better "cat" box on the same animal survives (the ontology may
    want bears); a second box of the same class on the same object does not."""
    rows = np.array([[10, 10, 40, 40, 0.9, 15],
                     [11, 11, 41, 41, 0.8, 21],   # another class, same object: kept
                     [12, 12, 42, 42, 0.7, 15],   # same class, same object: suppressed
                     [45, 45, 60, 60, 0.6, 15]], np.float32)
    det = CenterNet(tiny.centernet(tmp_path / "m.onnx", rows, 64))
    out = det.decode(rows[None], np.array([1.0, 1.0, 0.0, 0.0]), 64, 64)
    assert out.labels.tolist() == [15, 21, 15]
    np.testing.assert_allclose(out.scores, [0.9, 0.8, 0.6])


def test_grey_and_rgba_images_are_accepted_and_bad_ones_are_one_line(tmp_path):
    det = _centernet(tmp_path)
    assert len(det.detect(np.full((30, 40), 255, np.uint8))) == 2
    assert len(det.detect(np.full((30, 40, 4), 255, np.uint8))) == 2
    with pytest.raises(Error, match="uint8"):
        det.detect(np.zeros((30, 40, 3), np.float32))
    with pytest.raises(Error, match="shape"):
        det.detect(np.zeros((30, 40, 2), np.uint8))


# --- NanoDet --------------------------------------------------------------------------------

def _nanodet_levels(side=64, bins=8):
    levels = []
    for k in (1, 2, 4):
        g = k * side // 32
        levels.append((np.zeros((g * g, 80), np.float32),
                       np.zeros((g * g, 4 * bins), np.float32)))
    scores, boxes = levels[0]
    scores[3, 5] = 0.7                      # level 1 (2 x 2 grid), row 1 col 1, class 5
    feat = boxes[3].reshape(4, bins)
    for side_i, b in enumerate((2, 1, 3, 0)):  # arg-max bins: left, top, right, bottom
        feat[side_i, b] = 5.0
    return levels


def test_nanodet_cell_and_bins_decode_to_known_pixels(tmp_path):
    det = NanoDet(tiny.nanodet(tmp_path / "nanodet" / "model.onnx", _nanodet_levels()))
    out = det.detect(_image(320, 160, BLUE))      # channel 0 = 0: only the fixed score
    assert out.labels.tolist() == [5]
    # centre (1.5 / 2, 1.5 / 2); a bin is 2.5 / 32 of the input at level 1 (upstream's
    # boxIdx * (baseSize / strideSize / size) * scaleBox / strideSize)
    step = 2.5 / 32
    expect = [0.75 - 2 * step, 0.75 - step, 0.75 + 3 * step, 0.75]
    np.testing.assert_allclose(out.boxes[0], np.array(expect) * [320, 160, 320, 160],
                               atol=1e-3)
    assert out.scores[0] == pytest.approx(0.7)


def test_nanodet_reads_rgb_divided_by_255_in_nchw(tmp_path):
    levels = _nanodet_levels()
    levels[0][1][0].reshape(4, 8)[:, 1] = 5.0   # cell 0: one bin on every side
    det = NanoDet(tiny.nanodet(tmp_path / "m.onnx", levels))
    out = det.detect(_image(64, 64, RED))
    person = out.labels == 0
    assert person.sum() == 1 and out.scores[person][0] == pytest.approx(1.0)
    step = 2.5 / 32 * 64
    np.testing.assert_allclose(out.boxes[person][0], [16 - step, 16 - step, 16 + step,
                                                      16 + step], atol=1e-3)
    assert not (det.detect(_image(64, 64, BLUE)).labels == 0).any()   # below min_score


def test_nanodet_missing_level_is_one_line(tmp_path):
    levels = _nanodet_levels()[:2]
    det = NanoDet(tiny.nanodet(tmp_path / "m.onnx", levels))
    with pytest.raises(Error, match="8x8 grid"):
        det.detect(_image(64, 64, BLUE))


# --- exported detectors (the generic contract) -----------------------------------------------

def test_exported_letterbox_offsets_are_removed(tmp_path):
    path = tiny.exported(tmp_path / "student.onnx", [[0.25, 0.5, 0.75, 0.75], [0, 0, 1, 1]],
                         [1, 0], ["cat", "raccoon"], size=(64, 64), resize="letterbox",
                         mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))
    det = OnnxDetector(path)
    assert det.info.classes == ("cat", "raccoon") and det.info.input_size == (64, 64)
    out = det.detect(_image(200, 100, RED))
    # 200 x 100 -> scale 0.32 -> 64 x 32, padded 16 px above and below
    np.testing.assert_allclose(out.boxes[0], [50, 50, 150, 100], atol=1e-3)
    np.testing.assert_allclose(out.boxes[1], [0, 0, 200, 100], atol=1e-3)  # padding clipped
    assert out.labels.tolist() == [1, 0]
    # channel 0 = RGB red, 0..1, normalised: (1 - 0.5) / 0.5 = 1 on the image's half of the
    # input, (114 / 255 - 0.5) / 0.5 on the grey padding
    pad = (114 / 255 - 0.5) / 0.5
    assert out.scores[0] == pytest.approx(0.5 * 1.0 + 0.5 * pad, abs=1e-4)
    assert det.detect(_image(200, 100, BLUE)).scores[0] == pytest.approx(0.0, abs=1e-5)


def test_exported_stretch_nhwc(tmp_path):
    path = tiny.exported(tmp_path / "m.onnx", [[0.1, 0.2, 0.5, 0.6]], [0], ["a"], size=(32, 16),
                         layout="nhwc")
    out = OnnxDetector(path).detect(_image(100, 50, RED))
    np.testing.assert_allclose(out.boxes[0], [10, 10, 50, 30], atol=1e-3)
    assert out.scores[0] == pytest.approx(1.0, abs=1e-5)


def test_exported_drops_rows_with_unknown_labels_or_nan(tmp_path):
    path = tiny.exported(tmp_path / "m.onnx",
                         [[0.1, 0.1, 0.5, 0.5], [np.nan, 0, 1, 1], [0.2, 0.2, 0.3, 0.3]],
                         [0, 0, 7], ["a"], size=(32, 32))
    out = OnnxDetector(path).detect(_image(64, 64, RED))
    assert len(out) == 1


def test_write_sidecar_is_what_the_detector_reads(tmp_path):
    path = tiny.exported(tmp_path / "m.onnx", [[0.1, 0.1, 0.5, 0.5]], [0], ["x"], size=(32, 32))
    write_sidecar(path, ["raccoon"], (32, 32), mean=(0.1, 0.2, 0.3), std=(0.5, 0.5, 0.5))
    det = OnnxDetector(path)
    assert det.info.classes == ("raccoon",)
    np.testing.assert_allclose(det.meta["mean"], [0.1, 0.2, 0.3])


@pytest.mark.parametrize("sidecar, problem", [
    ({"task": "detect", "classes": [], "input_size": [32, 32]}, "classes"),
    ({"task": "detect", "classes": ["a"], "input_size": [32]}, "input_size"),
    ({"task": "pose", "classes": ["a"], "input_size": [32, 32]}, "task"),
    ({"task": "detect", "classes": ["a"], "input_size": [32, 32], "layout": "chw"}, "layout"),
    ({"task": "detect", "classes": ["a"], "input_size": [32, 32],
      "normalize": {"std": [1, 0, 1]}}, "std"),
    ({"task": "detect", "classes": ["a"], "input_size": [32, 32], "outputs": "yolo"},
     "outputs"),
])
def test_bad_sidecar_is_one_line_naming_it(tmp_path, sidecar, problem):
    path = tiny.exported(tmp_path / "m.onnx", [[0.1, 0.1, 0.5, 0.5]], [0], ["a"], size=(32, 32),
                         sidecar=sidecar)
    with pytest.raises(ValidationError, match=problem) as e:
        OnnxDetector(path)
    assert "m.json" in str(e.value) and "\n" not in str(e.value)


def test_missing_sidecar_or_file_or_outputs(tmp_path):
    path = tiny.exported(tmp_path / "m.onnx", [[0.1, 0.1, 0.5, 0.5]], [0], ["a"], size=(32, 32))
    path.with_suffix(".json").unlink()
    with pytest.raises(Error, match="no sidecar m.json"):
        OnnxDetector(path)
    with pytest.raises(Error, match="no such ONNX model file"):
        OnnxDetector(tmp_path / "absent.onnx")
    cn = tiny.centernet(tmp_path / "cn.onnx", np.zeros((1, 6), np.float32))
    write_sidecar(cn, ["a"], (64, 64))
    with pytest.raises(ValidationError, match="no output boxes, scores, labels"):
        OnnxDetector(cn)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    write_sidecar(junk, ["a"], (64, 64))
    with pytest.raises(Error, match="cannot load the ONNX model"):
        OnnxDetector(junk)


def test_missing_onnxruntime_is_one_line_with_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(Error, match=r"pip install 'visionflow\[autolabel\]'"):
        _onnx.session(tmp_path / "x.onnx")


def test_thread_and_provider_settings(monkeypatch):
    import onnxruntime as ort
    monkeypatch.setenv("VISIONFLOW_ONNX_THREADS", "3")
    assert _onnx.threads() == 3
    monkeypatch.setenv("VISIONFLOW_ONNX_THREADS", "many")
    with pytest.raises(Error, match="whole number"):
        _onnx.threads()
    monkeypatch.setenv("VISIONFLOW_ONNX_PROVIDERS", "NoSuchProvider")
    with pytest.raises(Error, match="NoSuchProvider not available"):
        _onnx.providers(ort)
    monkeypatch.delenv("VISIONFLOW_ONNX_PROVIDERS")
    assert _onnx.providers(ort)[-1] == "CPUExecutionProvider"


# --- NMS and letterbox geometry, as properties ----------------------------------------------

def _iou(a, b):
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return inter / union if union > 0 else 0.0


boxes_st = st.lists(st.tuples(st.integers(0, 50), st.integers(0, 50), st.integers(1, 30),
                              st.integers(1, 30), st.integers(1, 99)), min_size=0, max_size=25)


@settings(max_examples=150, deadline=None)
@given(boxes_st, st.sampled_from([0.3, 0.4, 0.5, 0.7]))
def test_nms_is_greedy_by_score(items, iou):
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h, _ in items], np.float64).reshape(-1, 4)
    scores = np.array([s / 100 + i * 1e-6 for i, (*_, s) in enumerate(items)])
    keep = _onnx.nms(boxes, scores, iou, 1000).tolist()
    # the reference: greedy by falling score
    ref: list[int] = []
    for i in np.argsort(-scores, kind="stable"):
        if all(_iou(boxes[i], boxes[j]) <= iou + 1e-12 for j in ref):
            ref.append(int(i))
    assert keep == ref
    assert _onnx.nms(boxes, scores, iou, 2).tolist() == ref[:2]


@settings(max_examples=100, deadline=None)
@given(boxes_st, st.lists(st.integers(0, 3), min_size=25, max_size=25))
def test_nms_per_class_is_nms_within_each_class(items, classes):
    boxes = np.array([[x, y, x + w, y + h] for x, y, w, h, _ in items], np.float64).reshape(-1, 4)
    scores = np.array([s / 100 + i * 1e-6 for i, (*_, s) in enumerate(items)])
    labels = np.array(classes[:len(items)])
    keep = _onnx.nms_per_class(boxes, scores, labels, 0.4, 1000)
    expect = []
    for c in np.unique(labels):
        idx = np.flatnonzero(labels == c)
        expect += idx[_onnx.nms(boxes[idx], scores[idx], 0.4, 1000)].tolist()
    assert sorted(keep.tolist()) == sorted(expect)
    assert list(scores[keep]) == sorted(scores[keep], reverse=True)


@settings(max_examples=100, deadline=None)
@given(st.integers(8, 400), st.integers(8, 400), st.integers(16, 96), st.integers(16, 96),
       st.sampled_from(["stretch", "letterbox"]))
def test_fit_maps_network_pixels_back_to_the_image(w, h, nw, nh, mode):
    img = np.zeros((h, w, 3), np.uint8)
    out, geo = _onnx.fit(img, nw, nh, mode)
    assert out.shape == (nh, nw, 3)
    sx, sy, ox, oy = geo
    # the image's corners land inside the network input and map back exactly
    corners = np.array([[ox, oy, ox + w * sx, oy + h * sy]])
    assert corners[0, 2] <= nw + 1e-9 and corners[0, 3] <= nh + 1e-9
    np.testing.assert_allclose(_onnx.to_image(corners, geo, w, h)[0], [0, 0, w, h], atol=1e-3)
    if mode == "letterbox":
        assert sx == pytest.approx(sy, rel=0.2, abs=2 / min(w, h))
