"""The selfie person segmenter: pre/post-processing on a tiny ONNX graph with the real model's
interface (NHWC float 0..1 in, (1, 256, 256, 1) probability out), box restriction and click
selection; and the real model on COCO8-seg's large person when pulled."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")
pytest.importorskip("cv2")

from visionflow.core.errors import UsageError  # noqa: E402
from visionflow.models.base import Segmenter, models_dir  # noqa: E402
from visionflow.models.masks import mask_iou, polygons_to_mask  # noqa: E402
from visionflow.models.selfie import Selfie  # noqa: E402

from ..conftest import shared_path  # noqa: E402


def tiny_selfie(path):
    """Selfie-shaped graph: 'input_1:0' float (1, 256, 256, 3) -> 'activation_10:0'
    (1, 256, 256, 1) = channel 0 of the input: the 'person' is whatever is red, and only if
    the image comes in as RGB / 255."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper as nh
    inits = [nh.from_array(np.array([0], np.int64), "s0"),
             nh.from_array(np.array([1], np.int64), "s1"),
             nh.from_array(np.array([3], np.int64), "ax")]
    nodes = [helper.make_node("Slice", ["input_1:0", "s0", "s1", "ax"], ["activation_10:0"])]
    graph = helper.make_graph(
        nodes, "tiny-selfie",
        [helper.make_tensor_value_info("input_1:0", TensorProto.FLOAT, [1, 256, 256, 3])],
        [helper.make_tensor_value_info("activation_10:0", TensorProto.FLOAT, [1, 256, 256, 1])],
        inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def two_people(w=300, h=200):
    """Two red 'people' (the tiny model's person colour) on grey, one blue object."""
    img = np.full((h, w, 3), 90, np.uint8)
    left = np.zeros((h, w), bool)
    left[40:180, 30:100] = True
    right = np.zeros((h, w), bool)
    right[60:190, 180:260] = True
    img[left | right] = (230, 20, 20)
    img[10:30, 120:160] = (20, 20, 230)
    return img, left, right


@pytest.fixture
def selfie(tmp_path):
    return Selfie(tiny_selfie(tmp_path / "selfie" / "model.onnx"))


def test_selfie_mask_is_the_models_probability_on_the_images_pixels(selfie):
    assert isinstance(selfie, Segmenter) and selfie.info.task == "segment"
    assert selfie.info.input_size == (256, 256)
    img, left, right = two_people()
    prob = selfie.probability(img)
    assert prob.shape == (200, 300) and prob.dtype == np.float32
    assert prob[left | right].mean() > 0.85 and prob[~(left | right)].max() < 0.5
    mask = selfie.segment(img, box=[0, 0, 300, 200])
    assert mask_iou(mask, left | right) > 0.95   # resized back to 300 x 200, not 256 x 256


def test_a_box_restricts_the_mask_to_the_person_in_it(selfie):
    img, left, right = two_people()
    mask = selfie.segment(img, box=[170, 50, 270, 195])
    assert mask_iou(mask, right) > 0.95 and not (mask & left).any()


def test_clicks_pick_people(selfie):
    img, left, right = two_people()
    only_left = selfie.segment(img, points=[[60, 100]])
    assert mask_iou(only_left, left) > 0.95
    not_right = selfie.segment(img, box=[0, 0, 300, 200], points=[[220, 120]], labels=[0])
    assert mask_iou(not_right, left) > 0.95


def test_prompts_are_checked_like_every_segmenter(selfie):
    img, _, _ = two_people()
    with pytest.raises(UsageError, match="outside the 300x200 image"):
        selfie.segment(img, points=[[300, 10]])
    with pytest.raises(UsageError, match="no prompt"):
        selfie.segment(img)


def test_selfie_pickles_with_its_threshold(tmp_path):
    s = Selfie(tiny_selfie(tmp_path / "m.onnx"), threshold=0.9)
    again = pickle.loads(pickle.dumps(s))
    assert again.threshold == 0.9 and again.info == s.info


@pytest.mark.shared
def test_real_selfie_finds_the_large_person_of_coco8_seg():
    folder = models_dir() / "selfie"
    if not (folder / "model.onnx").is_file():
        pytest.skip(f"model 'selfie' is not pulled ({folder / 'model.onnx'} is absent): run "
                    "`visionflow models pull selfie` or `make models`")
    import visionflow as vf
    from visionflow.models.registry import load
    model = load("selfie")
    assert isinstance(model, Selfie)
    ds = vf.load(shared_path("ultralytics-hub-datasets", "coco8-seg"))
    a = ds.annotations
    person = next(c.id for c in ds.categories if c.name == "person")
    rows = np.flatnonzero(a.category_id == person)
    areas = [polygons_to_mask(a.polygons.rings(r), *ds[int(a.image_index[r])].size).sum()
             for r in rows]
    r = int(rows[int(np.argmax(areas))])          # the one person that fills the frame
    img = ds.image(int(a.image_index[r]))
    h, w = img.shape[:2]
    truth = polygons_to_mask(a.polygons.rings(r), w, h)
    # measured once: IoU 0.82 (the model is made for people near the camera)
    assert mask_iou(model.segment(img, box=a.xyxy[r]), truth) > 0.7
    # through segment_image: the selfie model's confidence comes with the polygons
    from visionflow.models.segment import segment_image
    path = ds.images.path[int(a.image_index[r])]
    result = segment_image(path, box=a.xyxy[r].tolist(), model="selfie")
    assert result.polygons and 0.5 <= result.score <= 1
    assert mask_iou(polygons_to_mask(result.polygons, w, h), truth) > 0.7


def test_the_network_runs_once_per_image_for_a_mask_and_its_score(selfie, monkeypatch):
    from visionflow.models.segment import segment_array
    calls = []
    run = selfie.session.run

    class Counting:
        def run(self, *a, **k):
            calls.append(1)
            return run(*a, **k)

        def __getattr__(self, name):
            return getattr(selfie.session, name)

    selfie.session = Counting()
    img, left, right = two_people()
    result = segment_array(img, box=[0, 0, 300, 200], model=selfie)
    assert len(calls) == 1 and result.score > 0.85 and len(result.polygons) == 2
    other = img.copy()
    other[left] = 90                          # another image: the network runs again
    again = segment_array(other, box=[0, 0, 300, 200], model=selfie)
    assert len(calls) == 2 and len(again.polygons) == 1
