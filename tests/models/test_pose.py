"""MoveNet's pre- and post-processing on a tiny ONNX graph with MoveNet's interface (int32
NHWC input of any size -> (1, 6, 56)), and pose output: MoveNet-style keypoints written to COCO
and YOLO pose carry their names, skeleton and flip index and read back the same."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("onnxruntime")
pytest.importorskip("onnx")

import visionflow as vf  # noqa: E402
from visionflow.core.annotations import Annotations  # noqa: E402
from visionflow.core.categories import Categories, Category  # noqa: E402
from visionflow.core.dataset import Dataset  # noqa: E402
from visionflow.core.images import Images  # noqa: E402
from visionflow.models.base import Detector  # noqa: E402
from visionflow.models.movenet import MoveNet  # noqa: E402
from visionflow.models.registry import (COCO_FLIP_INDEX, COCO_KEYPOINTS,  # noqa: E402
                                        COCO_SKELETON)


def tiny_movenet(path, rows: np.ndarray):
    """MoveNet-shaped graph: input 'input' int32 (1, H, W, 3) -> 'output_0' (1, 6, 56) =
    `rows`, except person 0's score (index 55) = mean(channel 0) / 255 of what it was fed."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper as nh
    rows = np.asarray(rows, np.float32).reshape(1, 6, 56)
    mask = np.zeros_like(rows)
    mask[0, 0, 55] = 1.0
    inits = [nh.from_array(rows * (1 - mask), "base"), nh.from_array(mask, "mask"),
             nh.from_array(np.array([0], np.int64), "s0"),
             nh.from_array(np.array([1], np.int64), "s1"),
             nh.from_array(np.array([3], np.int64), "ax"),
             nh.from_array(np.array([1], np.int64), "shape1"),
             nh.from_array(np.array(1 / 255, np.float32), "scale")]
    nodes = [helper.make_node("Cast", ["input"], ["xf"], to=TensorProto.FLOAT),
             helper.make_node("Slice", ["xf", "s0", "s1", "ax"], ["ch0"]),
             helper.make_node("ReduceMean", ["ch0"], ["m4"], keepdims=1),
             helper.make_node("Reshape", ["m4", "shape1"], ["m1"]),
             helper.make_node("Mul", ["m1", "scale"], ["c0"]),
             helper.make_node("Mul", ["c0", "mask"], ["scored"]),
             helper.make_node("Add", ["base", "scored"], ["output_0"])]
    graph = helper.make_graph(
        nodes, "tiny-movenet",
        [helper.make_tensor_value_info("input", TensorProto.INT32, [1, "h", "w", 3])],
        [helper.make_tensor_value_info("output_0", TensorProto.FLOAT, [1, 6, 56])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    path.parent.mkdir(parents=True, exist_ok=True)
    onnx.save(model, str(path))
    return path


def person(kp_yx: np.ndarray, box_yx: tuple, score: float) -> np.ndarray:
    """One network row: 17 (y, x, score) normalised to the padded square, box, score."""
    row = np.zeros(56, np.float32)
    row[:51] = np.asarray(kp_yx, np.float32).reshape(51)
    row[51:55] = box_yx
    row[55] = score
    return row


@pytest.fixture
def rows():
    kp = np.zeros((17, 3), np.float32)
    kp[:, 0] = np.linspace(0.3, 0.7, 17)    # y in the padded square
    kp[:, 1] = np.linspace(0.25, 0.75, 17)  # x
    kp[:, 2] = np.linspace(0.1, 0.9, 17)
    out = np.zeros((6, 56), np.float32)
    out[0] = person(kp, (0.3, 0.25, 0.7, 0.75), 0.0)   # score from the pixels (tiny graph)
    out[1] = person(kp * [1, 0.5, 1], (0.4, 0.1, 0.6, 0.3), 0.7)
    out[2] = person(kp, (0.3, 0.25, 0.7, 0.75), 0.0)   # no person: dropped
    return out


def test_movenet_pads_to_a_centred_square_and_maps_keypoints_back(tmp_path, rows):
    model = MoveNet(tiny_movenet(tmp_path / "movenet" / "model.onnx", rows))
    assert isinstance(model, Detector)
    assert model.info.task == "pose" and model.info.keypoints == COCO_KEYPOINTS
    assert model.info.skeleton == COCO_SKELETON and model.info.flip_index == COCO_FLIP_INDEX
    image = np.zeros((200, 400, 3), np.uint8)
    image[..., 0] = 255                          # pure red, 400 wide, 200 high
    det = model.detect(image)
    # The square is 400 x 400 with 100 black rows above and below: channel 0's mean is 0.5
    # (a stretch would see 1.0, BGR 0.0).
    assert len(det) == 2
    assert det.scores[1] == pytest.approx(0.5, abs=0.01)
    assert det.scores[0] == pytest.approx(0.7)   # best first
    # person 1's row: x = 0.5 * linspace(0.25, 0.75) * 400, y = linspace(0.3, 0.7) * 400 - 100
    kp = det.keypoints[0]
    assert kp.shape == (17, 3)
    np.testing.assert_allclose(kp[:, 0], np.linspace(0.25, 0.75, 17) * 0.5 * 400, atol=1e-3)
    np.testing.assert_allclose(kp[:, 1], np.linspace(0.3, 0.7, 17) * 400 - 100, atol=1e-3)
    np.testing.assert_allclose(kp[:, 2], np.linspace(0.1, 0.9, 17), atol=1e-6)
    np.testing.assert_allclose(det.boxes[0], [40, 60, 120, 140], atol=1e-3)
    np.testing.assert_allclose(det.boxes[1], [100, 20, 300, 180], atol=1e-3)
    assert det.labels.tolist() == [0, 0]


def test_movenet_tall_image_pads_left_and_right(tmp_path, rows):
    model = MoveNet(tiny_movenet(tmp_path / "m.onnx", rows))
    image = np.zeros((300, 100, 3), np.uint8)
    image[..., 0] = 255
    x, (n, left, top) = model.preprocess(image)
    assert x.dtype == np.int32 and x.shape == (1, 256, 256, 3)
    assert (n, left, top) == (300, 100, 0)
    assert (x[0, :, :80] == 0).all() and (x[0, :, 90:160, 0] == 255).all()  # centred
    det = model.detect(image)
    # person 1's box lies left of the image once the padding is taken off: dropped
    assert len(det) == 1 and det.scores[0] == pytest.approx(1 / 3, abs=0.01)
    np.testing.assert_allclose(det.keypoints[0][:, 0],
                               np.clip(np.linspace(0.25, 0.75, 17) * 300 - 100, 0, 100),
                               atol=1e-3)
    np.testing.assert_allclose(det.keypoints[0][:, 1], np.linspace(0.3, 0.7, 17) * 300,
                               atol=1e-3)
    np.testing.assert_allclose(det.boxes[0], [0, 90, 100, 210], atol=1e-3)


def test_movenet_pickles_by_path_for_ray_workers(tmp_path, rows):
    model = MoveNet(tiny_movenet(tmp_path / "m.onnx", rows))
    again = pickle.loads(pickle.dumps(model))
    assert again.info == model.info
    image = np.full((64, 96, 3), 200, np.uint8)
    a, b = model.detect(image), again.detect(image)
    np.testing.assert_array_equal(a.keypoints, b.keypoints)


def test_movenet_refuses_a_side_that_is_not_a_multiple_of_32(tmp_path, rows):
    with pytest.raises(vf.Error, match="multiple of 32"):
        MoveNet(tiny_movenet(tmp_path / "m.onnx", rows), side=250)


def test_missing_model_file_is_one_line(tmp_path):
    with pytest.raises(vf.Error, match="no such ONNX model file"):
        MoveNet(tmp_path / "nothing.onnx")


# --- pose output -------------------------------------------------------------------------

def _pose_dataset(tmp_path, names=COCO_KEYPOINTS, skeleton=COCO_SKELETON,
                  flip=COCO_FLIP_INDEX) -> tuple[Dataset, np.ndarray]:
    """Two people on one image with keypoints as autolabel writes a pose model's (x, y,
    visibility 2 where seen, 0 0 0 where not), the class carrying names and 1-based skeleton,
    the flip index in meta."""
    p = tmp_path / "raw" / "a.png"
    p.parent.mkdir(parents=True)
    Image.fromarray(np.zeros((240, 320, 3), np.uint8)).save(p)
    k = len(names)
    kp = np.zeros((2, k, 3))
    rng = np.random.default_rng(0)
    kp[:, :, 0] = rng.uniform(10, 300, (2, k)).round(2)
    kp[:, :, 1] = rng.uniform(10, 230, (2, k)).round(2)
    kp[:, :, 2] = 2
    kp[0, 3] = 0                      # an unseen keypoint
    ann = Annotations.build([0, 0], [1, 1], [[5, 5, 310, 235], [20, 30, 200, 220]],
                            keypoints=kp, score=np.array([0.9, 0.6]))
    cat = Category(1, "person", None, tuple(names), tuple((a + 1, b + 1) for a, b in skeleton))
    images = Images.build(["a.png"], [320], [240], path=[str(p)])
    return Dataset(images, ann, Categories([cat]), meta={"flip_idx": list(flip)}), kp


def test_pose_dataset_writes_coco_keypoints_with_names_and_skeleton(tmp_path):
    ds, kp = _pose_dataset(tmp_path)
    vf.write(ds, tmp_path / "coco", "coco")
    doc = json.loads(next((tmp_path / "coco").rglob("*.json")).read_text())
    cat = doc["categories"][0]
    assert cat["keypoints"] == list(COCO_KEYPOINTS)
    assert cat["skeleton"] == [[a + 1, b + 1] for a, b in COCO_SKELETON]
    first = min(doc["annotations"], key=lambda a: a["id"])
    assert first["num_keypoints"] == 16
    assert first["keypoints"][9:12] == [0, 0, 0]
    back = vf.load(tmp_path / "coco")
    np.testing.assert_allclose(back.annotations.keypoints, kp, atol=1e-6)
    assert back.categories[0].keypoints == COCO_KEYPOINTS


def test_pose_dataset_writes_yolo_pose_with_kpt_shape_and_flip_idx(tmp_path):
    import yaml
    ds, kp = _pose_dataset(tmp_path)
    vf.write(ds, tmp_path / "yolo", "yolo")
    data = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())
    assert data["kpt_shape"] == [17, 3]
    assert data["flip_idx"] == list(COCO_FLIP_INDEX)
    back = vf.load(tmp_path / "yolo")
    np.testing.assert_allclose(back.annotations.keypoints, kp, atol=1e-3)  # normalised text
    assert back.categories[0].keypoints == COCO_KEYPOINTS
    assert back.meta["yolo"]["flip_idx"] == list(COCO_FLIP_INDEX)


def test_yolo_flip_idx_comes_from_the_models_flip_index_when_names_do_not_say(tmp_path):
    """A pose model whose keypoint names carry no left/right: the flip index autolabel puts
    in meta is what data.yaml gets (not an identity guessed from the names)."""
    import yaml
    names = ("tip_a", "tip_b", "hub", "tail_a", "tail_b")
    flip = (1, 0, 2, 4, 3)
    ds, _ = _pose_dataset(tmp_path, names, ((0, 2), (1, 2), (2, 3), (2, 4)), flip)
    vf.write(ds, tmp_path / "yolo", "yolo")
    data = yaml.safe_load((tmp_path / "yolo" / "data.yaml").read_text())
    assert data["kpt_shape"] == [5, 3]
    assert data["flip_idx"] == list(flip)


_MODEL: dict = {}


def _shared_model(tmp_path_factory) -> MoveNet:
    if "m" not in _MODEL:
        path = tmp_path_factory.mktemp("movenet") / "model.onnx"
        _MODEL["m"] = MoveNet(tiny_movenet(path, np.zeros((6, 56), np.float32)))
    return _MODEL["m"]


def test_keypoints_map_back_to_the_pixels_they_were_at_for_any_aspect(tmp_path_factory):
    """Property: a joint at image pixel (x, y), as the network reports it (normalised to the
    centred, padded square the image was placed in), decodes to (x, y) for any image size."""
    from hypothesis import given, settings, strategies as st
    model = _shared_model(tmp_path_factory)

    @settings(max_examples=80, deadline=None)
    @given(st.integers(1, 900), st.integers(1, 900), st.floats(0, 1), st.floats(0, 1))
    def check(w, h, fx, fy):
        image = np.zeros((h, w, 3), np.uint8)
        x_in, geometry = model.preprocess(image)
        n, left, top = geometry
        assert x_in.shape == (1, 256, 256, 3) and n == max(w, h)
        x, y = fx * w, fy * h
        row = np.zeros((6, 56), np.float32)
        kp = np.zeros((17, 3), np.float32)
        kp[:, 0], kp[:, 1], kp[:, 2] = (y + top) / n, (x + left) / n, 0.5
        row[0] = person(kp, ((top) / n, (left) / n, (top + h) / n, (left + w) / n), 0.9)
        det = MoveNet.decode(row[None], geometry, w, h)
        assert len(det) == 1
        np.testing.assert_allclose(det.keypoints[0, :, :2], np.tile([x, y], (17, 1)),
                                   atol=1e-5 * n + 1e-4)
        np.testing.assert_allclose(det.boxes[0], [0, 0, w, h], atol=1e-5 * n + 1e-4)

    check()
