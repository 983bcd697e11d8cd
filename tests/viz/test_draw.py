"""Drawing annotations over images: checked on pixels."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import visionflow as vf
from visionflow.core.geometry import mask_to_rle
from visionflow.viz.draw import (BACKGROUND, FILL_ALPHA, PALETTE, PROBLEM_COLOR, Grid,
                                 category_color, draw_image, render_grid)
from tests.conftest import make_image, shared_path

GRAY = (100, 100, 100)


def flat_image(path, size=(64, 48), color=GRAY):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return str(path)


def dataset(tmp_path, annotations, *, names=("cat", "dog", "bird"), size=(64, 48),
            categories=None):
    path = flat_image(tmp_path / "a.png", size)
    images = vf.Images.build(["a.png"], [size[0]], [size[1]], path=[path])
    return vf.Dataset(images, annotations, categories or vf.Categories.from_names(names))


def px(image, x, y):
    return image.getpixel((x, y))


def blend(under, color, alpha=FILL_ALPHA):
    return tuple(round((u * (255 - alpha) + c * alpha) / 255) for u, c in zip(under, color))


def close(a, b, tol=2):
    return all(abs(x - y) <= tol for x, y in zip(a, b))


# --- draw_image -----------------------------------------------------------------------------

def test_box_outline_has_the_class_color(tmp_path):
    ds = dataset(tmp_path, vf.Annotations.build([0], [2], [[10, 10, 30, 30]]))
    im = draw_image(ds, 0, class_names=False, thickness=1)
    dog = category_color(1)
    assert px(im, 10, 20) == dog           # left edge
    assert px(im, 29, 20) == dog           # right edge: last pixel inside x < 30
    assert px(im, 20, 10) == dog and px(im, 20, 29) == dog
    assert px(im, 20, 20) == GRAY          # inside untouched
    assert px(im, 30, 20) == GRAY          # just outside
    assert im.size == (64, 48)


def test_same_category_same_color_everywhere(tmp_path):
    ann = vf.Annotations.build([0, 0, 0], [1, 1, 3], [[2, 2, 12, 12], [20, 2, 30, 12],
                                                      [40, 2, 50, 12]])
    im = draw_image(dataset(tmp_path, ann), 0, class_names=False, thickness=1)
    assert px(im, 2, 8) == px(im, 20, 8) == PALETTE[0]
    assert px(im, 40, 8) == PALETTE[2] != PALETTE[0]


def test_colors_are_distinct_and_deterministic():
    colors = [category_color(i) for i in range(60)]
    assert len(set(colors)) == 60
    assert colors == [category_color(i) for i in range(60)]


def test_thickness_scales_with_image_size(tmp_path):
    ann = vf.Annotations.build([0], [1], [[100, 100, 400, 400]])
    im = draw_image(dataset(tmp_path, ann, size=(1000, 800)), 0, class_names=False)
    assert px(im, 100, 250) == px(im, 102, 250) == PALETTE[0]  # ~3 px wide at 800 px
    assert px(im, 106, 250) == GRAY


def test_polygon_fill_and_outline(tmp_path):
    ring_a = [[5, 5], [25, 5], [25, 25], [5, 25]]
    ring_b = [[40, 5], [60, 5], [60, 25], [40, 25]]
    polys = vf.Polygons.from_lists([[np.array(ring_a), np.array(ring_b)]])
    ann = vf.Annotations.build([0], [1], [[5, 5, 60, 25]], polygons=polys)
    im = draw_image(dataset(tmp_path, ann), 0, class_names=False, thickness=1)
    cat = PALETTE[0]
    assert close(px(im, 15, 15), blend(GRAY, cat))       # inside the first ring: filled
    assert close(px(im, 50, 15), blend(GRAY, cat))       # second ring too
    assert px(im, 32, 15) == GRAY                        # between the rings: untouched
    assert px(im, 15, 5) == cat                          # outline


def test_rle_mask_is_filled(tmp_path):
    mask = np.zeros((48, 64), bool)
    mask[30:40, 10:20] = True
    ann = vf.Annotations.build([0], [3], [[10, 30, 20, 40]],
                               rle=np.array([mask_to_rle(mask)], dtype=object))
    im = draw_image(dataset(tmp_path, ann), 0, class_names=False, thickness=1)
    assert close(px(im, 15, 35), blend(GRAY, PALETTE[2]))
    assert px(im, 15, 45) == GRAY


def test_oriented_box_outline(tmp_path):
    obb = np.array([[[32, 4], [44, 16], [32, 28], [20, 16]]], np.float64)
    ann = vf.Annotations.build([0], [1], [[20, 4, 44, 28]], obb=obb)
    im = draw_image(dataset(tmp_path, ann), 0, class_names=False, thickness=1)
    assert px(im, 26, 10) == PALETTE[0]     # on the edge from (20,16) to (32,4)
    assert px(im, 20, 4) == GRAY            # the bounding box corner is not drawn


def test_keypoints_and_skeleton(tmp_path):
    kp = np.array([[[10, 10, 2], [40, 10, 2], [40, 40, 0], [np.nan, np.nan, np.nan]]])
    cats = vf.Categories([vf.Category(1, "person", keypoints=("a", "b", "c", "d"),
                                      skeleton=((1, 2), (2, 3), (1, 4)))])
    ann = vf.Annotations.build([0], [1], [[np.nan] * 4], keypoints=kp)
    ann = ann.replace(xyxy=np.array([[0.0, 0.0, 1.0, 1.0]]))  # a tiny box out of the way
    ds = dataset(tmp_path, ann, categories=cats)
    im = draw_image(ds, 0, class_names=False, thickness=1)
    color = PALETTE[0]
    assert px(im, 10, 10) == color and px(im, 40, 10) == color   # the dots
    assert px(im, 25, 10) == color                               # skeleton 1-2
    assert px(im, 40, 30) == GRAY                                # 2-3 skipped: 3 unlabelled
    assert px(im, 40, 40) == GRAY                                # no dot at visibility 0


def test_class_name_label_box(tmp_path):
    ann = vf.Annotations.build([0], [1], [[10, 30, 60, 45]])
    im = draw_image(dataset(tmp_path, ann), 0, thickness=1)
    above = np.asarray(im)[10:30, 10:60].reshape(-1, 3)
    colors = {tuple(c) for c in above}
    assert PALETTE[0] in colors                  # the filled label box above the object
    assert len(colors) > 2                       # ...with text in it
    plain = draw_image(dataset(tmp_path, ann), 0, class_names=False, thickness=1)
    assert {tuple(c) for c in np.asarray(plain)[10:29, 11:59].reshape(-1, 3)} == {GRAY}


def test_image_level_label_banner(tmp_path):
    ann = vf.Annotations.build([0], [2], [[np.nan] * 4])
    im = draw_image(dataset(tmp_path, ann, size=(160, 120)), 0)
    top = {tuple(c) for c in np.asarray(im)[:6, :40].reshape(-1, 3)}
    assert PALETTE[1] in top                     # the class chip in the banner
    assert px(im, 150, 2) != GRAY                # darkened strip across the top
    assert px(im, 80, 100) == GRAY               # the rest untouched


def test_exif_rotated_image_is_drawn_upright(tmp_path):
    path = tmp_path / "r.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90: stored 64x48, shown 48x64
    Image.new("RGB", (64, 48), GRAY).save(path, exif=exif, quality=100)
    images = vf.Images.build(["r.jpg"], [48], [64], path=[str(path)])
    ds = vf.Dataset(images, vf.Annotations.empty(), vf.Categories.from_names(["a"]))
    assert draw_image(ds, 0).size == (48, 64)


def test_missing_image_raises(tmp_path):
    images = vf.Images.build(["gone.jpg", "none.jpg"], [10, 10], [10, 10],
                             path=[str(tmp_path / "gone.jpg"), None])
    ds = vf.Dataset(images, vf.Annotations.empty(), vf.Categories.from_names(["a"]))
    with pytest.raises(vf.MissingImageError, match="gone.jpg: image file not found"):
        draw_image(ds, 0)
    with pytest.raises(vf.MissingImageError, match="none.jpg: image file not on disk"):
        draw_image(ds, 1)
    with pytest.raises(vf.Error, match="image row 5 does not exist"):
        draw_image(ds, 5)


# --- render_grid ----------------------------------------------------------------------------

def grid_dataset(tmp_path, n=5):
    paths = [str(make_image(tmp_path / f"img{i}.png", (80 + 10 * i, 60))) for i in range(n)]
    images = vf.Images.build([f"img{i}.png" for i in range(n)], [80 + 10 * i for i in range(n)],
                             [60] * n, split=["train"] * (n - 1) + ["val"], path=paths)
    # image i has class (i % 3) + 1
    ann = vf.Annotations.build(range(n), [(i % 3) + 1 for i in range(n)],
                               [[2, 2, 20, 20]] * n)
    return vf.Dataset(images, ann, vf.Categories.from_names(["cat", "dog", "bird"]))


@pytest.mark.parametrize("n, limit, columns, tile, size", [
    (5, 16, None, 100, (300, 200)),      # 5 images: 3 columns x 2 rows
    (5, 4, None, 100, (200, 200)),       # limit 4: 2 x 2
    (5, 16, 5, 64, (320, 64)),           # one row
    (5, 16, 2, 80, (160, 240)),          # 2 columns x 3 rows
    (1, 16, None, 50, (50, 50)),
])
def test_grid_size(tmp_path, n, limit, columns, tile, size):
    grid = render_grid(grid_dataset(tmp_path, n), limit=limit, columns=columns, tile_size=tile)
    assert isinstance(grid, Grid) and grid.problems == []
    assert grid.image.size == size and grid.image.mode == "RGB"


def test_tiles_are_letterboxed_with_the_image(tmp_path):
    grid = render_grid(grid_dataset(tmp_path, 1), tile_size=100)
    im = grid.image
    assert px(im, 50, 2) == BACKGROUND            # 80x60 fitted in 100 wide: bars above
    assert px(im, 75, 40) == (120, 80, 40)        # the image's dark quadrant


def test_grid_class_filter(tmp_path):
    ds = grid_dataset(tmp_path)
    full = render_grid(ds, tile_size=64, columns=1)
    dogs = render_grid(ds, tile_size=64, columns=1, class_name="dog")
    assert dogs.image.size == (64, 2 * 64)                      # images 1 and 4 only
    tiles = [full.image.crop((0, 64 * i, 64, 64 * (i + 1))).tobytes() for i in range(5)]
    assert dogs.image.crop((0, 0, 64, 64)).tobytes() == tiles[1]
    assert dogs.image.crop((0, 64, 64, 128)).tobytes() == tiles[4]


def test_grid_unknown_class_lists_the_known_ones(tmp_path):
    with pytest.raises(vf.Error, match=r"unknown class 'dgo'; did you mean 'dog'\? "
                                       r"\(known: cat, dog, bird\)"):
        render_grid(grid_dataset(tmp_path), class_name="dgo")


def test_grid_random_order_is_a_seeded_sample(tmp_path):
    ds = grid_dataset(tmp_path)
    a = render_grid(ds, limit=3, order="random", seed=1, tile_size=40)
    b = render_grid(ds, limit=3, order="random", seed=1, tile_size=40)
    assert a.image.tobytes() == b.image.tobytes()
    with pytest.raises(vf.Error, match="order must be one of dataset, random"):
        render_grid(ds, order="sideways")


def test_grid_missing_image_is_a_gray_tile_and_a_problem(tmp_path):
    ds = grid_dataset(tmp_path, 2)
    (tmp_path / "img1.png").unlink()
    grid = render_grid(ds, tile_size=100)
    assert len(grid.problems) == 1 and "img1.png: image file not found" in grid.problems[0]
    assert px(grid.image, 198, 60) == PROBLEM_COLOR        # second tile
    assert px(grid.image, 2, 60) != PROBLEM_COLOR          # first tile drawn


def test_grid_undecodable_image(tmp_path):
    ds = grid_dataset(tmp_path, 1)
    (tmp_path / "img0.png").write_bytes(b"\x89PNG\r\n\x1a\nbroken")
    grid = render_grid(ds, tile_size=100)
    assert len(grid.problems) == 1 and "img0.png: cannot" in grid.problems[0]
    assert px(grid.image, 98, 60) == PROBLEM_COLOR


@pytest.mark.parametrize("options, message", [
    ({"limit": 0}, "limit must be at least 1"),
    ({"columns": 0}, "columns must be at least 1"),
    ({"tile_size": 8}, "tile size must be at least 32"),
])
def test_grid_bad_options(tmp_path, options, message):
    with pytest.raises(vf.Error, match=message):
        render_grid(grid_dataset(tmp_path, 1), **options)


def test_real_pose_dataset(tmp_path):
    ds = vf.load(shared_path("ultralytics-hub-datasets", "coco8-pose"), "yolo")
    assert ds.annotations.has_keypoints().any()
    grid = render_grid(ds, tile_size=128, columns=4)
    assert grid.problems == [] and grid.image.size == (512, 256)
    row = int(ds.annotations.image_index[ds.annotations.has_keypoints()][0])
    ann = ds.annotations_of(row)
    k = int(np.flatnonzero(ann.has_keypoints())[0])
    kp = ann.keypoints[k]
    visible = np.flatnonzero(np.nan_to_num(kp[:, 2]) > 0)
    x, y = kp[visible[0], :2]
    color = category_color(ds.categories.index_of(int(ann.category_id[k])))
    im = draw_image(ds, row, class_names=False)
    assert close(px(im, int(x), int(y)), color, tol=8)
