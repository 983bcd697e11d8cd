"""The vectorized geometry against plain loops (and shapely where installed)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from PIL import Image

import visionflow as vf
from visionflow.checks.fixes import orient_points
from visionflow.checks.geometry import (duplicate_box_pairs, ring_defects,
                                        self_intersecting_rings)
from visionflow.core.geometry import iou_xyxy


def _random_dataset(seed: int, n_images=40, n_boxes=600) -> vf.Dataset:
    rng = np.random.default_rng(seed)
    img = rng.integers(0, n_images, n_boxes)
    cat = rng.integers(1, 4, n_boxes)
    xy = rng.uniform(0, 200, (n_boxes, 2))
    wh = rng.uniform(5, 60, (n_boxes, 2))
    boxes = np.concatenate([xy, xy + wh], axis=1)
    # plant near copies of some boxes (jittered by less than 1 px) and exact copies
    src = rng.choice(n_boxes, 80, replace=False)
    jitter = rng.uniform(-0.6, 0.6, (80, 4)) * (rng.random(80) < 0.5)[:, None]
    boxes = np.concatenate([boxes, boxes[src] + jitter])
    img, cat = np.concatenate([img, img[src]]), np.concatenate([cat, cat[src]])
    images = vf.Images.build([f"{i}.jpg" for i in range(n_images)], [300] * n_images,
                             [300] * n_images)
    return vf.Dataset(images, vf.Annotations.build(img, cat, boxes),
                      vf.Categories.from_names(["a", "b", "c"]))


def _brute_pairs(ds, t):
    ann = ds.annotations
    first: dict[int, tuple[int, float]] = {}
    for i, j in itertools.combinations(range(len(ann)), 2):
        if ann.image_index[i] != ann.image_index[j] or ann.category_id[i] != ann.category_id[j]:
            continue
        v = float(iou_xyxy(ann.xyxy[i], ann.xyxy[j])[0, 0])
        if v >= t and (j not in first or i < first[j][0]):
            first[j] = (i, v)
    return first


@pytest.mark.parametrize("seed, t", [(0, 0.95), (1, 0.9), (2, 0.5), (3, 0.99)])
def test_duplicate_pairs_match_brute_force(seed, t):
    ds = _random_dataset(seed)
    later, earlier, iou = duplicate_box_pairs(ds, t)
    expected = _brute_pairs(ds, t)
    assert dict(zip(later.tolist(), earlier.tolist())) == {j: i for j, (i, _) in
                                                           expected.items()}
    assert np.allclose(iou, [expected[j][1] for j in later.tolist()])
    assert len(later) > 0


def _brute_crossing(ring):
    k = len(ring)
    edges = [(ring[i], ring[(i + 1) % k]) for i in range(k)]

    def orient(a, b, c):
        v = (b[0] - a[0]) * (c[1] - a[1]) - (b[1] - a[1]) * (c[0] - a[0])
        return int(v > 0) - int(v < 0)

    for i, j in itertools.combinations(range(k), 2):
        if j == i + 1 or (i == 0 and j == k - 1):
            continue
        (p1, p2), (q1, q2) = edges[i], edges[j]
        if (orient(p1, p2, q1) * orient(p1, p2, q2) < 0
                and orient(q1, q2, p1) * orient(q1, q2, p2) < 0):
            return True
    return False


def test_self_intersection_matches_brute_force():
    rng = np.random.default_rng(5)
    rings = [rng.uniform(0, 100, (int(k), 2)).round() for k in rng.integers(3, 12, 300)]
    polys = vf.Polygons.from_lists([[r] for r in rings])
    found = set(self_intersecting_rings(polys).tolist())
    expected = {i for i, r in enumerate(rings) if _brute_crossing(r)}
    assert found == expected and 0 < len(found) < len(rings)


def test_self_intersection_agrees_with_shapely_on_star_shapes():
    shapely = pytest.importorskip("shapely")
    rng = np.random.default_rng(9)
    rings = []
    for _ in range(200):  # star-shaped rings are simple; shuffling vertices makes crossings
        k = int(rng.integers(4, 10))
        angles = np.sort(rng.uniform(0, 2 * np.pi, k))
        radius = rng.uniform(20, 50, k)
        ring = np.stack([50 + radius * np.cos(angles), 50 + radius * np.sin(angles)], axis=1)
        if rng.random() < 0.5:
            ring = ring[rng.permutation(k)]
        rings.append(ring)
    polys = vf.Polygons.from_lists([[r] for r in rings])
    found = set(self_intersecting_rings(polys).tolist())
    expected = {i for i, r in enumerate(rings) if not shapely.LinearRing(r).is_simple}
    assert found == expected


@pytest.mark.parametrize("ring, degenerate, crossing", [
    ([[10, 10], [20, 20], [30, 30]], True, False),            # collinear
    ([[10, 10], [20, 20], [10, 10], [20, 20]], True, False),  # back and forth
    ([[10, 10], [30, 10]], True, False),                      # two points
    ([[10, 10], [30, 30], [30, 10], [10, 30]], False, True),  # bow-tie: zero area, crossing
    ([[0, 0], [10, 0], [10, 10], [0, 10]], False, False),     # square
    ([[0, 0], [10, 0], [10, 10], [10, 10], [0, 10]], False, False),  # repeated vertex: fine
])
def test_ring_defects(ring, degenerate, crossing):
    polys = vf.Polygons.from_lists([[np.array(ring, float)]])
    deg, cross = ring_defects(polys)
    assert (bool(deg[0]), bool(cross[0])) == (degenerate, crossing)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_orient_points_follows_pillow_exif_transpose(orientation):
    """A marked pixel lands where ImageOps.exif_transpose puts it."""
    w, h, x, y = 7, 5, 1, 3
    arr = np.zeros((h, w), np.uint8)
    arr[y, x] = 255
    im = Image.fromarray(arr)
    if orientation > 1:
        exif = Image.Exif()
        exif[0x0112] = orientation
        im.info["exif"] = exif.tobytes()
        im.getexif()[0x0112] = orientation
    from PIL import ImageOps
    out = np.asarray(ImageOps.exif_transpose(im))
    ys, xs = np.nonzero(out)
    # the pixel's square [x, x+1) x [y, y+1) maps onto the new pixel's square
    corners = orient_points(np.array([[x, y], [x + 1, y + 1]], float), orientation, w, h)
    assert corners.min(axis=0).tolist() == [xs[0], ys[0]]
    assert corners.max(axis=0).tolist() == [xs[0] + 1, ys[0] + 1]
