import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from visionflow.core import geometry as g


def test_box_conventions_round_trip():
    xyxy = np.array([[10.0, 20.0, 30.5, 60.25]])
    assert np.allclose(g.xywh_to_xyxy(g.xyxy_to_xywh(xyxy)), xyxy)
    w, h = np.array([100]), np.array([80])
    norm = g.xyxy_to_cxcywh_norm(xyxy, w, h)
    assert np.allclose(norm, [[0.2025, 0.5015625, 0.205, 0.503125]])
    assert np.allclose(g.cxcywh_norm_to_xyxy(norm, w, h), xyxy)


def test_whole_image_box_is_zero_to_size():
    # Continuous coordinates: a box over the whole W x H image is (0, 0, W, H).
    assert g.cxcywh_norm_to_xyxy([[0.5, 0.5, 1, 1]], np.array([640]), np.array([480])).tolist() \
        == [[0, 0, 640, 480]]


@pytest.mark.parametrize("ring, area", [
    ([[0, 0], [4, 0], [4, 3], [0, 3]], 12.0),
    ([[0, 0], [4, 0], [0, 3]], 6.0),
    ([[0, 0], [0, 3], [4, 0]], 6.0),  # orientation does not matter
])
def test_polygon_area(ring, area):
    assert g.polygon_area(np.array(ring)) == area


def test_iou():
    a = np.array([[0, 0, 10, 10]])
    b = np.array([[0, 0, 10, 10], [5, 0, 15, 10], [20, 20, 30, 30]])
    assert np.allclose(g.iou_xyxy(a, b), [[1.0, 1 / 3, 0.0]])


@settings(max_examples=60, deadline=None)
@given(hnp.arrays(bool, st.tuples(st.integers(1, 24), st.integers(1, 24))))
def test_rle_round_trip(mask):
    rle = g.mask_to_rle(mask)
    assert np.array_equal(g.rle_to_mask(rle), mask)
    assert g.rle_area(rle) == int(mask.sum())


@settings(max_examples=40, deadline=None)
@given(st.lists(st.integers(0, 100_000), min_size=1, max_size=40))
def test_rle_counts_codec(runs):
    assert g.rle_counts_decode(g.rle_counts_encode(np.array(runs))).tolist() == runs


def test_rle_bounds():
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:9] = True
    assert g.rle_bounds(g.mask_to_rle(mask)).tolist() == [3, 2, 9, 5]


def test_rle_size_mismatch_is_an_error():
    with pytest.raises(ValueError, match="expected 2x2"):
        g.rle_to_mask({"size": [2, 2], "counts": [1, 1]})
