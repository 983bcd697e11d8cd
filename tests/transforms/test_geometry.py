"""Pixels and labels move together: every geometric operation of the registry (`geometric`),
applied with random parameters to an image in which an object is *drawn* (its polygon filled in
red, its keypoint a green dot), must move the drawing where it moves the object's polygon, box,
RLE mask and keypoint."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visionflow import Annotations, Categories, Category, Dataset, Images, Polygons
from visionflow.core.geometry import mask_to_rle, rle_to_mask
from visionflow.transforms import Recipe, functional as F
from visionflow.transforms.engine import Context, make_plan
from visionflow.transforms.ops import OPS
from visionflow.transforms.sample import Sample

SETTINGS = settings(max_examples=20, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def raster(ring: np.ndarray, w: int, h: int) -> np.ndarray:
    """Pixels whose centers lie inside the ring (even-odd rule)."""
    ys, xs = np.mgrid[0:h, 0:w]
    px, py = xs.ravel() + 0.5, ys.ravel() + 0.5
    inside = np.zeros(px.shape, bool)
    x0, y0 = ring[:, 0], ring[:, 1]
    x1, y1 = np.roll(x0, -1), np.roll(y0, -1)
    for a, b, c, d in zip(x0, y0, x1, y1):
        if b == d:
            continue
        cond = (b > py) != (d > py)
        xint = a + (py - b) * (c - a) / (d - b)
        inside ^= cond & (px < xint)
    return inside.reshape(h, w)


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = (a | b).sum()
    return float((a & b).sum() / union) if union else 1.0


@st.composite
def scenes(draw):
    w, h = draw(st.integers(90, 160)), draw(st.integers(90, 160))
    cx, cy = draw(st.floats(0.35, 0.65)) * w, draw(st.floats(0.35, 0.65)) * h
    k = draw(st.integers(4, 8))
    jitter = np.array(draw(st.lists(st.floats(-0.3, 0.3), min_size=k, max_size=k)))
    angles = draw(st.floats(0, 2 * np.pi)) + (np.arange(k) + jitter) * 2 * np.pi / k
    radii = np.array(draw(st.lists(st.floats(16, 26), min_size=k, max_size=k)))
    ring = np.stack([cx + radii * np.cos(angles), cy + radii * np.sin(angles)], 1)
    kx, ky = int(cx) + 0.5, int(cy) + 0.5
    return w, h, ring, (kx, ky)


def make_sample(w, h, ring, kp):
    mask = raster(ring, w, h)
    if mask.sum() < 150:
        return None, None
    img = np.zeros((h, w, 3), np.uint8)
    img[mask, 0] = 255
    ix, iy = int(kp[0]), int(kp[1])
    img[iy - 1:iy + 2, ix - 1:ix + 2, 1] = 255
    ys, xs = np.nonzero(mask)
    box = [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]  # the drawn object's box
    ann = Annotations.build([0], [1], [box], polygons=Polygons.from_lists([[ring]]),
                            rle=np.array([mask_to_rle(mask)], dtype=object),
                            keypoints=np.array([[[kp[0], kp[1], 2.0]]]))
    s = Sample("a.png", "train", w, h, ann, {}, None, 1)
    s._image = img
    return s, mask


def context(op) -> Context:
    ds = Dataset(Images.build(["a.png"], [10], [10]), Annotations.empty(),
                 Categories([Category(1, "thing", keypoints=("center",))]))
    return Context(make_plan(ds, Recipe(preprocess=(op,)), 0))


OP_PARAMS = {
    "flip": st.fixed_dictionaries({"direction": st.sampled_from(["horizontal", "vertical"])}),
    "rotate90": st.fixed_dictionaries({"turns": st.sampled_from([[1], [2], [3]])}),
    "rotate": st.fixed_dictionaries({"angle_range": st.floats(1, 180)}),
    "shear": st.fixed_dictionaries({"x_range": st.floats(0, 30), "y_range": st.floats(0, 30)}),
    "crop": st.fixed_dictionaries({"scale_range": st.just([0.5, 1.0])}),
    "zoom": st.fixed_dictionaries({"scale_range": st.sampled_from([[0.6, 0.9], [1.0, 1.6]])}),
    "resize": st.fixed_dictionaries({"size": st.tuples(st.integers(70, 220), st.integers(70, 220)),
                                     "mode": st.sampled_from(["stretch", "fit", "letterbox", "fill"])}),
    "static_crop": st.fixed_dictionaries({"xyxy_norm": st.just([0.2, 0.1, 0.95, 0.8])}),
    "tile": st.fixed_dictionaries({"grid": st.sampled_from([[2, 2], [1, 2], [3, 1]]),
                                   "overlap": st.integers(0, 20)}),
    "mosaic": st.fixed_dictionaries({"center_range": st.tuples(st.floats(0.2, 0.5), st.floats(0.5, 0.8))}),
    "isolate_objects": st.fixed_dictionaries({"padding": st.floats(0, 0.5)}),
}
GEOMETRIC = sorted(name for name, cls in OPS.items() if cls.geometric)


def test_every_geometric_op_has_random_parameters():
    assert sorted(OP_PARAMS) == GEOMETRIC


@pytest.mark.parametrize("name", GEOMETRIC)
@SETTINGS
@given(data=st.data())
def test_geometry_moves_with_pixels(name, data):
    w, h, ring, kp = data.draw(scenes())
    sample, mask = make_sample(w, h, ring, kp)
    if sample is None:
        return
    op = OPS[name](**data.draw(OP_PARAMS[name]))
    seed = data.draw(st.integers(0, 2**32 - 1))
    outs = op(sample, np.random.default_rng(seed), context(op), None)
    assert outs
    for out in outs:
        if name == "isolate_objects":
            _check_isolated(out, mask, op.padding)
        else:
            _check(out)


def _check_isolated(out: Sample, mask: np.ndarray, padding: float) -> None:
    """The crop holds the whole drawn object, grown by `padding`, labelled with its class."""
    assert out.ann.is_label.all() and out.ann.category_id.tolist() == [1]
    drawn = out.image[..., 0] > 127
    assert drawn.sum() == mask.sum(), "the crop cut the object"
    ys, xs = np.nonzero(mask)
    bw, bh = xs.max() + 1 - xs.min(), ys.max() + 1 - ys.min()
    assert out.width <= bw * (1 + 2 * padding) + 2 and out.height <= bh * (1 + 2 * padding) + 2


def _check(out: Sample) -> None:
    img = out.image
    h, w = img.shape[:2]
    assert (w, h) == (out.width, out.height)
    drawn = img[..., 0] > 127
    if len(out.ann) == 0:
        assert drawn.sum() < 40, "the object was dropped but its pixels are still visible"
        return
    ann = out.ann
    poly_mask = np.zeros((h, w), bool)  # several objects: a mosaic's copies, one per quadrant
    rle_mask = np.zeros((h, w), bool)
    for i in range(len(ann)):
        for r in ann.polygons.rings(i):
            poly_mask |= raster(r, w, h)
        rle_mask |= rle_to_mask(ann.rle[i]).astype(bool)
    if drawn.sum() < 60:  # a sliver at the border: geometry must agree it is small too
        assert poly_mask.sum() < 120
        return
    assert iou(poly_mask, drawn) > 0.8, "polygon and pixels disagree"
    assert iou(rle_mask, drawn) > 0.8, "mask and pixels disagree"
    if len(ann) > 1:
        return
    ys, xs = np.nonzero(drawn)
    pixel_box = np.array([xs.min(), ys.min(), xs.max() + 1, ys.max() + 1], float)
    assert np.abs(ann.xyxy[0] - pixel_box).max() <= 3.0, (ann.xyxy[0], pixel_box)
    x, y, v = ann.keypoints[0, 0]
    dot = img[..., 1] > 127
    if v > 0 and 3 <= x <= w - 3 and 3 <= y <= h - 3 and dot.sum() >= 3:
        dy, dx = np.nonzero(dot)
        assert abs(dx.mean() + 0.5 - x) <= 0.75 and abs(dy.mean() + 0.5 - y) <= 0.75, (dx.mean() + .5, dy.mean() + .5, x, y)
    if v == 0:
        assert x == 0 and y == 0


# --- exact functional checks -----------------------------------------------------------------

def test_quarter_turn_matrix_matches_numpy_rot90():
    img = np.arange(12, dtype=np.uint8).reshape(3, 4)
    for k in range(4):
        m, out = F.rot90(k, 4, 3)
        np.testing.assert_array_equal(F.warp_raster(img, m, out), np.rot90(img, k))


def test_flip_and_integer_crop_are_exact_numpy():
    img = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    np.testing.assert_array_equal(F.warp_raster(img, F.hflip(7), (7, 5)), img[:, ::-1])
    np.testing.assert_array_equal(F.warp_raster(img, F.translate(-2, -1), (3, 2)), img[1:3, 2:5])


def test_clip_ring_square_to_rect():
    ring = np.array([[-5.0, -5], [5, -5], [5, 5], [-5, 5]])
    out = F.clip_ring(ring, (0, 0, 10, 10))
    from visionflow.core.geometry import polygon_area
    assert polygon_area(out) == pytest.approx(25.0)
    assert F.clip_ring(ring, (20, 20, 30, 30)).shape == (0, 2)


def test_objects_below_min_visibility_are_dropped():
    ann = Annotations.build([0, 0], [1, 1], [[0, 0, 10, 10], [40, 40, 50, 50]])
    out = F.warp_annotations(ann, F.translate(-5, 0), (60, 60), min_visibility=0.6)
    assert len(out) == 1 and out.xyxy[0].tolist() == [35, 40, 45, 50]
    out = F.warp_annotations(ann, F.translate(-5, 0), (60, 60), min_visibility=0.5)
    assert len(out) == 2 and out.xyxy[0].tolist() == [0, 0, 5, 10]


def test_image_labels_pass_unchanged():
    ann = Annotations.build([0], [1], [[np.nan] * 4])
    out = F.warp_annotations(ann, F.rotate(30, 5, 5), (10, 10))
    assert len(out) == 1 and np.isnan(out.xyxy).all()


@pytest.mark.parametrize("names,expected", [
    (("nose", "left_eye", "right_eye"), [0, 2, 1]),
    (("left_hand", "right_hand", "Left Foot"), [1, 0, 2]),
    (("a", "b"), None),
])
def test_keypoint_flip_perm_by_names(names, expected):
    perm = F.keypoint_flip_perm(names)
    assert (perm is None and expected is None) or perm.tolist() == expected


def test_horizontal_flip_swaps_left_and_right_keypoints():
    cats = Categories([Category(1, "person", keypoints=("nose", "left_eye", "right_eye"))])
    ds = Dataset(Images.build(["a.png"], [100], [50]), Annotations.empty(), cats)
    op = OPS["flip"](direction="horizontal")
    ctx = Context(make_plan(ds, Recipe(preprocess=(op,)), 0))
    kp = np.array([[[50, 10, 2], [40, 10, 2], [60, 10, 2]]], float)
    ann = Annotations.build([0], [1], [[30, 0, 70, 40]], keypoints=kp)
    out = ctx.warp_annotations(ann, F.hflip(100), (100, 50))
    # left_eye (slot 1) is now the one on the image's right: 100 - 60 = 40 -> slot 1 holds x=40
    assert out.keypoints[0, :, 0].tolist() == [50, 40, 60]
    assert out.xyxy[0].tolist() == [30, 0, 70, 40]


def test_yolo_flip_idx_wins_over_names():
    assert F.keypoint_flip_perm(("a", "b", "c"), [0, 2, 1]).tolist() == [0, 2, 1]


def test_oriented_boxes_turn_with_the_image():
    obb = np.array([[[10.0, 10], [30, 10], [30, 20], [10, 20]]])
    ann = Annotations.build([0], [1], [[10, 10, 30, 20]], obb=obb)
    m, out = F.rot90(1, 100, 50)  # 100x50 -> 50x100, counter-clockwise
    moved = F.warp_annotations(ann, m, out)
    assert out == (50, 100)
    np.testing.assert_allclose(moved.obb[0], [[10, 90], [10, 70], [20, 70], [20, 90]])
    np.testing.assert_allclose(moved.xyxy[0], [10, 70, 20, 90])


def test_oriented_box_partly_outside_becomes_the_min_area_rect_of_what_is_left():
    obb = np.array([[[-10.0, 10], [30, 10], [30, 20], [-10, 20]]])
    ann = Annotations.build([0], [1], [[-10, 10, 30, 20]], obb=obb)
    moved = F.warp_annotations(ann, F.identity(), (100, 50))
    quad = moved.obb[0]
    assert quad[:, 0].min() == pytest.approx(0) and quad[:, 0].max() == pytest.approx(30)
