"""Mask -> polygons (models/masks.py): with no simplification the polygons give the mask back
exactly (our rasteriser and pycocotools', which COCO tools use), holes are filled on purpose,
specks dropped, pieces ordered largest first, edges kept in place; simplification keeps the
shape with far fewer points."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st

cv2 = pytest.importorskip("cv2")

from visionflow.models.masks import (mask_iou, mask_to_polygons, pick_pieces,  # noqa: E402
                                     polygons_to_mask)


def _fill_holes(m: np.ndarray) -> np.ndarray:
    """The mask with every enclosed hole filled (what outer rings describe)."""
    padded = np.pad(m.astype(np.uint8), 1)
    flood = padded.copy()
    cv2.floodFill(flood, None, (0, 0), 2)
    return (flood != 2)[1:-1, 1:-1]


shapes = st.lists(st.tuples(st.sampled_from(["rect", "ellipse"]),
                            st.integers(0, 79), st.integers(0, 59),
                            st.integers(1, 30), st.integers(1, 30), st.integers(0, 179)),
                  min_size=1, max_size=5)


def _draw(spec, w=80, h=60) -> np.ndarray:
    m = np.zeros((h, w), np.uint8)
    for kind, x, y, a, b, angle in spec:
        if kind == "rect":
            m[y:y + b, x:x + a] = 1
        else:
            cv2.ellipse(m, (x, y), (a, b), angle, 0, 360, 1, -1)
    return m.astype(bool)


@settings(max_examples=60, deadline=None)
@given(shapes)
def test_exact_polygons_give_the_mask_back(spec):
    m = _draw(spec)
    rings = mask_to_polygons(m, tolerance=0, min_area=1)
    filled = _fill_holes(m)
    np.testing.assert_array_equal(polygons_to_mask(rings, 80, 60), filled)
    for r in rings:
        assert r.ndim == 2 and r.shape[1] == 2 and len(r) >= 3
        assert (r >= 0).all() and (r[:, 0] <= 80).all() and (r[:, 1] <= 60).all()


@settings(max_examples=40, deadline=None)
@given(shapes)
def test_pycocotools_rasterises_the_polygons_to_the_same_pixels(spec):
    mu = pytest.importorskip("pycocotools.mask")
    m = _draw(spec)
    rings = mask_to_polygons(m, tolerance=0, min_area=1)
    rle = mu.merge(mu.frPyObjects([r.ravel().tolist() for r in rings], 60, 80))
    assert mask_iou(mu.decode(rle).astype(bool), _fill_holes(m)) > 0.97


@settings(max_examples=40, deadline=None)
@given(shapes)
def test_simplified_polygons_keep_the_shape_with_fewer_points(spec):
    m = _draw(spec)
    exact = mask_to_polygons(m, tolerance=0, min_area=1)
    simple = mask_to_polygons(m, tolerance=1.0, min_area=1)
    assert sum(map(len, simple)) <= sum(map(len, exact))
    if _fill_holes(m).sum() >= 100:   # a pixel's worth of error matters on specks only
        assert mask_iou(polygons_to_mask(simple, 80, 60), _fill_holes(m)) > 0.8


def test_a_smooth_blob_is_a_few_dozen_points_at_the_default_tolerance():
    m = np.zeros((200, 200), np.uint8)
    cv2.circle(m, (100, 100), 70, 1, -1)
    rings = mask_to_polygons(m.astype(bool))
    assert len(rings) == 1 and 12 <= len(rings[0]) <= 60
    assert mask_iou(polygons_to_mask(rings, 200, 200), m.astype(bool)) > 0.985


def test_holes_are_filled_and_specks_dropped_largest_piece_first():
    m = np.zeros((100, 120), bool)
    m[10:60, 10:60] = True
    m[25:45, 25:45] = False          # a hole
    m[70:90, 80:115] = True          # a second, smaller piece
    m[5, 100] = m[5, 101] = True     # a speck
    rings = mask_to_polygons(m, tolerance=0)
    assert len(rings) == 2
    first = polygons_to_mask(rings[:1], 120, 100)
    assert first.sum() == 50 * 50   # the hole is painted in: outer rings only
    assert polygons_to_mask(rings[1:], 120, 100).sum() == 20 * 35
    assert len(mask_to_polygons(m, tolerance=0, min_area=1)) == 3


def test_pieces_touching_the_image_edge_stay_in_place():
    m = np.ones((30, 40), bool)
    (ring,) = mask_to_polygons(m, tolerance=0)
    x1, y1 = ring.min(axis=0)
    x2, y2 = ring.max(axis=0)
    assert x1 < 0.2 and y1 < 0.2 and x2 > 39.8 and y2 > 29.8  # the pixels' outer edges
    assert x1 >= 0 and y1 >= 0 and x2 <= 40 and y2 <= 30


def test_one_pixel_lines_become_polygons_too():
    m = np.zeros((20, 40), bool)
    m[10, 5:35] = True
    (ring,) = mask_to_polygons(m, tolerance=0.5, min_area=1)
    np.testing.assert_array_equal(polygons_to_mask([ring], 40, 20), m)


def test_empty_and_bad_masks():
    assert mask_to_polygons(np.zeros((10, 10), bool)) == []
    with pytest.raises(ValueError, match="a mask is"):
        mask_to_polygons(np.zeros((10, 10, 3), bool))


def test_clicks_pick_and_drop_pieces():
    m = np.zeros((50, 100), bool)
    m[10:40, 5:30] = True
    m[10:40, 60:90] = True
    a, b = m.copy(), m.copy()
    a[:, 50:] = False
    b[:, :50] = False
    assert (pick_pieces(m, np.array([[70, 20]]), np.array([0])) == a).all()
    assert (pick_pieces(m, np.array([[10, 20]]), np.array([1]), only_clicked=True) == a).all()
    # a click just beside a piece names it only within the radius
    assert (pick_pieces(m, np.array([[57, 20]]), np.array([0])) == m).all()
    assert (pick_pieces(m, np.array([[57, 20]]), np.array([0]), radius=3) == a).all()
    # a piece under both kinds of click stays
    both = pick_pieces(m, np.array([[70, 20], [75, 30]]), np.array([0, 1]))
    assert (both == m).all()
