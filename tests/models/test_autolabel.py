"""autolabel on real image files with a tiny CenterNet-shaped ONNX graph: the ontology, the
threshold, ground truth kept, scores and `source` on new objects, image sizes, only_unlabelled,
masks, keypoints, workspace prediction sets, one-line errors, and the Ray engine giving the
same rows as the local one."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import visionflow as vf  # noqa: E402
from visionflow.core.annotations import Annotations  # noqa: E402
from visionflow.core.categories import Categories  # noqa: E402
from visionflow.core.dataset import Dataset  # noqa: E402
from visionflow.core.errors import Error  # noqa: E402
from visionflow.core.images import Images  # noqa: E402
from visionflow.core.report import Report  # noqa: E402
from visionflow.models.autolabel import autolabel  # noqa: E402
from visionflow.models.base import Detections, ModelInfo  # noqa: E402
from visionflow.models.centernet import COCO80, CenterNet  # noqa: E402

from ..conftest import tree_snapshot  # noqa: E402
from . import tiny_detectors as tiny  # noqa: E402

SIZES = [(200, 100), (200, 100), (120, 80), (64, 64)]
COLORS = [(255, 0, 0), (0, 0, 255), (255, 0, 0), (255, 0, 0)]
BEAR, PERSON, DOG = COCO80.index("bear"), COCO80.index("person"), COCO80.index("dog")


def make_source(root, fmt="coco"):
    """Four real JPEGs (red, blue, red, red) as a `fmt` dataset of class raccoon; one ground
    truth box on the first image."""
    paths = []
    for i, ((w, h), c) in enumerate(zip(SIZES, COLORS)):
        p = root / "raw" / f"img{i}.png"
        p.parent.mkdir(parents=True, exist_ok=True)
        a = np.zeros((h, w, 3), np.uint8)
        a[...] = c
        Image.fromarray(a).save(p)
        paths.append(str(p))
    images = Images.build([f"img{i}.png" for i in range(4)], [s[0] for s in SIZES],
                          [s[1] for s in SIZES], path=paths)
    ann = Annotations.build([0], [1], [[5, 5, 60, 60]])
    ds = Dataset(images, ann, Categories.from_names(["raccoon"]))
    vf.write(ds, root / "src", fmt)
    return root / "src"


@pytest.fixture
def model(tmp_path):
    rows = np.array([[16, 16, 48, 32, 0.0, BEAR],     # score = mean(R) / 255: red 1, blue 0
                     [0, 0, 8, 8, 0.6, PERSON],
                     [40, 40, 60, 60, 0.25, DOG]], np.float32)
    return CenterNet(tiny.centernet(tmp_path / "m" / "model.onnx", rows, 64))


def test_autolabel_maps_thresholds_keeps_ground_truth_and_marks_new_objects(tmp_path, model):
    src = make_source(tmp_path)
    before = tree_snapshot(src)
    result = autolabel(src, tmp_path / "out", model, "raccoon=bear,dog", threshold=0.3,
                       to="visionflow")
    assert tree_snapshot(src) == before
    assert (result.images, result.labelled, result.objects) == (4, 4, 3)
    assert result.per_class == {"raccoon": 3} and result.images_per_second > 0
    out = vf.load(tmp_path / "out")
    assert out.classes == ["raccoon"] and len(out.annotations) == 4
    a = out.annotations
    gt = np.isnan(a.score)
    assert gt.sum() == 1 and a.xyxy[gt].tolist() == [[5, 5, 60, 60]]
    assert a.attr("source")[~gt].tolist() == ["centernet"] * 3
    assert a.attr("source")[gt].tolist() == [None]
    new = {out.images.file_name[i]: (box.tolist(), s) for i, box, s in
           zip(a.image_index[~gt], a.xyxy[~gt], a.score[~gt])}
    assert set(new) == {"img0.png", "img2.png", "img3.png"}       # blue: score 0
    np.testing.assert_allclose(new["img2.png"][0], [30, 20, 90, 40], atol=1e-3)   # 120 x 80
    np.testing.assert_allclose(new["img3.png"][0], [16, 16, 48, 32], atol=1e-3)   # 64 x 64
    assert all(s == pytest.approx(1.0) for _, s in new.values())
    assert len(set(a.id.tolist())) == len(a)                      # ids stay unique


def test_threshold_lets_lower_scores_in_and_unmapped_classes_stay_out(tmp_path, model):
    src = make_source(tmp_path)
    result = autolabel(src, tmp_path / "out", model, "raccoon=bear,dog; person",
                       threshold=0.2, to="coco")
    assert result.per_class == {"raccoon": 3 + 4, "person": 4}
    out = vf.load(tmp_path / "out")
    assert out.classes == ["raccoon", "person"]
    assert np.nanmin(out.annotations.score) == pytest.approx(0.25)


def test_only_unlabelled_skips_images_with_annotations(tmp_path, model):
    src = make_source(tmp_path)
    result = autolabel(src, tmp_path / "out", model, "raccoon=bear", only_unlabelled=True,
                       to="visionflow")
    assert (result.labelled, result.skipped_labelled, result.objects) == (3, 1, 2)
    out = vf.load(tmp_path / "out")
    first = out.annotations.image_index == 0
    assert np.isnan(out.annotations.score[first]).all()


def test_predict_writes_model_objects_only_in_a_format_with_scores(tmp_path, model):
    from visionflow.models.predict import predict
    src = make_source(tmp_path, "voc")
    report = Report()
    result = predict(model, src, tmp_path / "preds", classes="raccoon=bear", report=report)
    assert "predict.format" in report.codes()          # VOC holds no scores: COCO instead
    preds = vf.load(tmp_path / "preds")
    assert preds.source_format == "coco" and result.objects == 3
    assert not np.isnan(preds.annotations.score).any()
    ap50 = vf.evaluate(vf.load(src), preds).to_json()["AP50"]
    assert ap50 == pytest.approx(0.0)     # the one raccoon box is not where the model looks


def test_unknown_model_class_and_bad_parameters_are_one_line(tmp_path, model):
    src = make_source(tmp_path)
    with pytest.raises(Error, match="did you mean 'bear'"):
        autolabel(src, tmp_path / "o", model, "raccoon=baer")
    with pytest.raises(Error, match="threshold"):
        autolabel(src, tmp_path / "o", model, "raccoon=bear", threshold=1.5)
    with pytest.raises(Error, match="engine"):
        autolabel(src, tmp_path / "o", model, "raccoon=bear", engine="spark")
    with pytest.raises(Error, match="destination folder, a workspace"):
        autolabel(src, None, model, "raccoon=bear")
    with pytest.raises(Error, match="is not pulled|unknown model|not pulled"):
        autolabel(src, tmp_path / "o", "no-such-model", "raccoon=bear")
    assert not (tmp_path / "o").exists()


def test_an_undecodable_image_stops_or_is_skipped(tmp_path, model):
    src = make_source(tmp_path)
    ds = vf.load(src)
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40)
    ds = ds.replace(images=ds.images.replace(path=np.array([str(bad)] + list(ds.images.path[1:]),
                                                           dtype=object)))
    with pytest.raises(Error, match="bad.png"):
        autolabel(ds, tmp_path / "o", model, "raccoon=bear", to="visionflow")
    report = Report()
    result = autolabel(ds, tmp_path / "o2", model, "raccoon=bear", to="visionflow",
                       errors="skip", report=report)
    assert result.failed == ["img0.png"] and "skipped" in report.codes()
    assert len(vf.load(tmp_path / "o2").images) == 3


class _FullImageSegmenter:
    """Every pixel is the object (what a whole-image person mask does): autolabel must cut the
    mask to each box."""
    info = ModelInfo("full", "segment")

    def segment(self, image, *, box=None, points=None, labels=None):
        return np.ones(image.shape[:2], bool)


def test_masks_become_polygons_inside_their_box(tmp_path, model, monkeypatch):
    from visionflow.models import autolabel as mod
    monkeypatch.setattr(mod, "_load_segmenter", lambda name: _FullImageSegmenter())
    src = make_source(tmp_path)
    autolabel(src, tmp_path / "out", model, "raccoon=bear", masks="full", to="coco")
    out = vf.load(tmp_path / "out")
    new = ~np.isnan(out.annotations.score)
    assert out.annotations.polygons is not None
    for i in np.flatnonzero(new):
        (ring,) = out.annotations.polygons.rings(i)
        x1, y1, x2, y2 = out.annotations.xyxy[i]
        assert ring[:, 0].min() >= np.floor(x1) - 1e-6 and ring[:, 0].max() <= np.ceil(x2) + 1e-6
        assert ring[:, 1].min() >= np.floor(y1) - 1e-6 and ring[:, 1].max() <= np.ceil(y2) + 1e-6
        assert ring[:, 0].max() - ring[:, 0].min() > 0.8 * (x2 - x1)


def test_grabcut_masks_through_the_registry(tmp_path, model):
    pytest.importorskip("cv2")
    pytest.importorskip("visionflow.models.registry")
    src = make_source(tmp_path)
    result = autolabel(src, tmp_path / "out", model, "raccoon=bear", masks="grabcut",
                       to="visionflow")
    assert result.objects == 3
    out = vf.load(tmp_path / "out")
    new = np.flatnonzero(~np.isnan(out.annotations.score))
    assert out.annotations.polygons is not None
    for i in new:   # a flat red image: whatever GrabCut outlines stays inside the box
        for ring in out.annotations.polygons.rings(i):
            x1, y1, x2, y2 = out.annotations.xyxy[i]
            assert ring[:, 0].min() >= np.floor(x1) - 1e-6
            assert ring[:, 0].max() <= np.ceil(x2) + 1e-6


def test_masks_that_are_not_a_segmenter_are_one_line(tmp_path, model):
    pytest.importorskip("visionflow.models.registry")
    src = make_source(tmp_path)
    with pytest.raises(Error, match="not a segmenter|unknown model|not pulled"):
        autolabel(src, tmp_path / "out", model, "raccoon=bear", masks="nanodet")
    with pytest.raises(Error, match="unknown model"):
        autolabel(src, tmp_path / "out", model, "raccoon=bear", masks="grabcutt")


class _Pose:
    """A pose model's interface: two people with 3 keypoints, one keypoint unsure."""
    info = ModelInfo("pose", "pose", ("person",), keypoints=("nose", "left_eye", "right_eye"),
                     skeleton=((0, 1), (0, 2)), flip_index=(0, 2, 1))

    def detect(self, image):
        kp = np.array([[[10, 10, 0.9], [8, 8, 0.8], [12, 8, 0.1]],
                       [[30, 30, 0.9], [28, 28, 0.9], [32, 28, 0.9]]], np.float32)
        return Detections(np.array([[0, 0, 20, 20], [20, 20, 40, 40]], np.float32),
                          np.array([0.9, 0.8], np.float32), np.zeros(2, np.int32), kp)


def test_pose_models_write_keypoints_with_names_skeleton_and_flip_index(tmp_path):
    src = make_source(tmp_path)
    autolabel(src, tmp_path / "out", _Pose(), "person", to="coco")
    out = vf.load(tmp_path / "out")
    person = out.categories.by_name("person")[0]
    assert person.keypoints == ("nose", "left_eye", "right_eye")
    assert person.skeleton == ((1, 2), (1, 3))                   # COCO: 1-based
    new = ~np.isnan(out.annotations.score)
    kp = out.annotations.keypoints[new]
    assert kp.shape == (8, 3, 3)
    first = kp[0]
    assert first[:, 2].tolist() == [2, 2, 0] and first[2, :2].tolist() == [0, 0]
    autolabel(src, tmp_path / "yolo", _Pose(), "person", to="yolo")
    yaml_text = next((tmp_path / "yolo").glob("*.yaml")).read_text()
    assert "flip_idx" in yaml_text


def test_workspace_prediction_set_is_evaluable(tmp_path, model):
    from visionflow.evaluation.stored import load_stored
    from visionflow.versioning import Workspace
    src = make_source(tmp_path)
    ws = Workspace.init(tmp_path / "ws")
    try:
        ws.add(str(src), "raccoon")
        ws.create_version("v1")
        result = autolabel("v1", None, model, "raccoon=bear", workspace=ws)
        assert result.prediction_set["name"] == "centernet"
        assert result.prediction_set["predictions"] == 3
        gt, pred = load_stored(ws, "v1", "centernet")
        assert len(pred.annotations) == 3 and not np.isnan(pred.annotations.score).any()
        assert vf.evaluate(gt, pred).to_json()["AP50"] == pytest.approx(0.0)
        with pytest.raises(Error, match="already has a prediction set"):
            autolabel("v1", None, model, "raccoon=bear", workspace=ws)
        with pytest.raises(Error, match="not one of the version's classes"):
            autolabel("v1", None, model, "bear", workspace=ws, name="other")
    finally:
        ws.close()


def test_ray_engine_gives_the_same_rows(tmp_path, model):
    pytest.importorskip("ray")
    src = make_source(tmp_path)
    autolabel(src, tmp_path / "local", model, "raccoon=bear,dog", threshold=0.2,
              to="visionflow")
    autolabel(src, tmp_path / "ray", model, "raccoon=bear,dog", threshold=0.2,
              to="visionflow", engine="ray", workers=1)
    a, b = vf.load(tmp_path / "local"), vf.load(tmp_path / "ray")
    assert a.annotations.equals(b.annotations)
    assert len(a.annotations) == 1 + 7


class _Counting:
    """Counts the images it sees (to prove what is refused is refused before any work)."""
    info = ModelInfo("counting", "detect", ("bear",))

    def __init__(self):
        self.calls = 0

    def detect(self, image):
        self.calls += 1
        return Detections(np.array([[1, 1, 5, 5]], np.float32), np.ones(1, np.float32),
                          np.zeros(1, np.int32))


def test_bad_destination_format_or_set_name_is_refused_before_the_model_runs(tmp_path):
    from visionflow.core.errors import OutputError, UnknownFormat
    src = make_source(tmp_path)
    model = _Counting()
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "mine.txt").write_text("keep me")
    with pytest.raises(OutputError):
        autolabel(src, busy, model, "raccoon=bear")
    with pytest.raises(OutputError, match="source"):
        autolabel(src, src / "inside", model, "raccoon=bear")
    with pytest.raises(UnknownFormat, match="did you mean"):
        autolabel(src, tmp_path / "o", model, "raccoon=bear", to="cocoo")
    assert model.calls == 0 and (busy / "mine.txt").read_text() == "keep me"


def test_errors_raise_stops_at_the_first_bad_image(tmp_path):
    src = make_source(tmp_path)
    ds = vf.load(src)
    paths = list(ds.images.path)
    paths[1] = str(tmp_path / "gone.png")
    ds = ds.replace(images=ds.images.replace(path=np.array(paths, dtype=object)))
    model = _Counting()
    with pytest.raises(Error, match="gone.png|img1.png"):
        autolabel(ds, tmp_path / "o", model, "raccoon=bear", to="visionflow")
    assert model.calls == 1 and not (tmp_path / "o").exists()


def test_without_classes_only_the_model_classes_found_are_added(tmp_path, model):
    src = make_source(tmp_path)
    result = autolabel(src, tmp_path / "out", model, None, threshold=0.2, to="visionflow")
    assert result.per_class == {"bear": 3, "person": 4, "dog": 4}
    assert vf.load(tmp_path / "out").classes == ["raccoon", "person", "dog", "bear"]  # model order
