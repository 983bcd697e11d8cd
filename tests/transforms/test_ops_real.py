"""Every operation of the registry on two real BCCD images (640x480 JPEG, 36 blood cells), with
parameters that force its effect, and what it must do to the pixels and the boxes. A new
operation fails `test_every_op_has_an_expectation` until it says what it does here."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import visionflow as vf
from tests.conftest import shared_path
from visionflow.transforms import OPS, Recipe, run


def pixels(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im).astype(np.float64)


def luma(img: np.ndarray) -> np.ndarray:
    return img if img.ndim == 2 else img @ [0.299, 0.587, 0.114]


def sharpness(img: np.ndarray) -> float:
    g = luma(img)
    lap = 4 * g[1:-1, 1:-1] - g[:-2, 1:-1] - g[2:, 1:-1] - g[1:-1, :-2] - g[1:-1, 2:]
    return float(lap.var())


def boxes(ds, name) -> np.ndarray:
    row = int(np.flatnonzero(ds.images.file_name == name)[0])
    return ds.annotations.xyxy[ds.annotations.image_index == row]


def pairs(src, out):
    """(source pixels, output pixels, source boxes, output boxes) per output of a 1:1 op."""
    for row, name in enumerate(out.images.file_name):
        s = int(np.flatnonzero(src.images.file_name == name)[0])
        yield (pixels(src.images.path[s]), pixels(out.images.path[row]), boxes(src, name),
               boxes(out, name))


def same_boxes(src, out):
    assert len(out.images) == len(src.images)
    for _, _, a, b in pairs(src, out):
        np.testing.assert_array_equal(a, b)


def pixel_op(check):
    """Same size, same boxes, and `check(source pixels, output pixels)` per image."""
    def expect(src, out):
        same_boxes(src, out)
        for a, b, _, _ in pairs(src, out):
            assert a.shape == b.shape
            check(a, b)
    return expect


def _auto_orient(src, out):  # no EXIF orientation in BCCD: the very same files
    same_boxes(src, out)
    for s, o in zip(src.images.path, out.images.path):
        assert open(s, "rb").read() == open(o, "rb").read()


def _resize(src, out):
    assert set(zip(out.images.width.tolist(), out.images.height.tolist())) == {(320, 200)}
    for _, b, sb, ob in pairs(src, out):
        assert b.shape[:2] == (200, 320)
        np.testing.assert_allclose(ob, sb * [0.5, 200 / 480, 0.5, 200 / 480], atol=1e-9)


def _static_crop(src, out):
    for a, b, sb, ob in pairs(src, out):
        assert b.shape[:2] == (240, 320) and np.abs(b - a[:240, :320]).mean() < 4
        inside = sb[(sb[:, 2] <= 320) & (sb[:, 3] <= 240)]
        assert all((np.abs(ob - x).max(axis=1) < 1e-9).any() for x in inside)
        assert (ob[:, 2] <= 320).all() and (ob[:, 3] <= 240).all()


def _grayscale(src, out):
    same_boxes(src, out)
    for a, b, _, _ in pairs(src, out):
        assert b.ndim == 2 and np.abs(b - luma(a)).mean() < 3


def _auto_contrast(src, out):
    same_boxes(src, out)
    for a, b, _, _ in pairs(src, out):
        before, after = np.percentile(luma(a), [1, 99]), np.percentile(luma(b), [1, 99])
        assert after[1] - after[0] > before[1] - before[0] + 40


def _tile(src, out):
    assert len(out.images) == 4 * len(src.images)
    assert set(zip(out.images.width.tolist(), out.images.height.tolist())) == {(320, 240)}
    for name in src.images.file_name:
        stem = name.rsplit(".", 1)[0]
        for box in boxes(src, name):
            col, row = int(box[0] >= 320), int(box[1] >= 240)
            if box[0] < 320 < box[2] or box[1] < 240 < box[3]:
                continue  # cut by a tile edge
            tile = boxes(out, f"{stem}_tile{row}_{col}.jpg")
            assert (np.abs(tile - (box - [320 * col, 240 * row] * 2)).max(axis=1) < 1e-9).any()


def _isolate_objects(src, out):
    assert len(out.images) == len(src.annotations)
    assert out.annotations.is_label.all() and len(out.annotations) == len(out.images)
    for name in src.images.file_name:
        stem = name.rsplit(".", 1)[0]
        row = int(np.flatnonzero(src.images.file_name == name)[0])
        rows = np.flatnonzero(src.annotations.image_index == row)
        for k, i in enumerate(rows):
            x0, y0, x1, y1 = src.annotations.xyxy[i]
            o = int(np.flatnonzero(out.images.file_name == f"{stem}_obj{k}.jpg")[0])
            assert (out.images.width[o], out.images.height[o]) == \
                (int(np.ceil(x1)) - int(np.floor(x0)), int(np.ceil(y1)) - int(np.floor(y0)))
            assert out.categories.by_id(int(out.annotations.category_id[o])).name == \
                src.categories.by_id(int(src.annotations.category_id[i])).name


def _modify_classes(src, out):
    assert out.categories.names == ["Platelets", "RBC"]
    wbc = src.categories.by_name("WBC")[0].id
    assert len(out.annotations) == int((src.annotations.category_id != wbc).sum())


def _filter_empty(src, out):  # every BCCD image has cells: all kept, untouched
    same_boxes(src, out)


def _filter_images(src, out):
    assert out.images.file_name.tolist() == ["BloodImage_00003.jpg"]


def _drop_small(src, out):
    a = src.annotations.xyxy
    area = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    b = out.annotations.xyxy
    assert len(b) == int((area >= 8000).sum()) < len(a)
    assert ((b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1]) >= 8000).all()


def _flip(src, out):
    for a, b, sb, ob in pairs(src, out):
        assert np.abs(b - a[:, ::-1]).mean() < 4
        np.testing.assert_allclose(ob, np.stack([640 - sb[:, 2], sb[:, 1], 640 - sb[:, 0], sb[:, 3]], 1))


def _rotate90(src, out):
    for a, b, sb, ob in pairs(src, out):
        assert b.shape[:2] == (640, 480) and np.abs(b - np.rot90(a, 1)).mean() < 4
        np.testing.assert_allclose(ob, np.stack([sb[:, 1], 640 - sb[:, 2], sb[:, 3], 640 - sb[:, 0]], 1))


def _turned(src, out):
    for a, b, sb, ob in pairs(src, out):
        corners = [b[:3, :3], b[:3, -3:], b[-3:, :3], b[-3:, -3:]]
        assert b.shape == a.shape and min(c.max() for c in corners) < 30  # uncovered: black
        assert 0 < len(ob) <= len(sb) and np.abs(b - a).mean() > 10
        assert (ob[:, :2] >= 0).all() and (ob[:, 2] <= 640).all() and (ob[:, 3] <= 480).all()


def _crop(src, out):  # half the area kept, scaled back: boxes sqrt(2) wider
    for a, b, sb, ob in pairs(src, out):
        assert b.shape == a.shape and len(ob) > 0
        whole = ob[(ob[:, 0] > 0) & (ob[:, 1] > 0) & (ob[:, 2] < 640) & (ob[:, 3] < 480)]
        w_out, w_src = np.median(whole[:, 2] - whole[:, 0]), np.median(sb[:, 2] - sb[:, 0])
        assert 1.2 < w_out / w_src < 1.7


def _zoom(src, out):  # zoom out by 2 about the center, black border
    for a, b, sb, ob in pairs(src, out):
        assert b.shape == a.shape and b[:100, :100].max() < 30
        np.testing.assert_allclose(ob, sb * 0.5 + [160, 120, 160, 120], atol=1e-6)


def _mosaic(src, out):
    for a, b, sb, ob in pairs(src, out):
        assert b.shape == a.shape and np.abs(b - a).mean() > 10 and len(ob) > 0


EXPECT = {
    "auto_orient": ({}, _auto_orient),
    "resize": ({"size": [320, 200]}, _resize),
    "static_crop": ({"xyxy_norm": [0, 0, 0.5, 0.5]}, _static_crop),
    "grayscale": ({}, _grayscale),
    "auto_contrast": ({}, _auto_contrast),
    "tile": ({"grid": [2, 2]}, _tile),
    "isolate_objects": ({}, _isolate_objects),
    "modify_classes": ({"drop": ["WBC"]}, _modify_classes),
    "filter_empty": ({}, _filter_empty),
    "filter_images": ({"attribute": "voc.path",
                       "values": ["/home/pi/detection_dataset/JPEGImages/BloodImage_00003.jpg"]},
                      _filter_images),
    "drop_small": ({"area": 8000}, _drop_small),
    "flip": ({"direction": "horizontal"}, _flip),
    "rotate90": ({"turns": [1]}, _rotate90),
    "rotate": ({"angle_range": [30, 30]}, _turned),
    "shear": ({"x_range": [20, 20], "y_range": [0, 0]}, _turned),
    "crop": ({"scale_range": [0.5, 0.5]}, _crop),
    "zoom": ({"scale_range": [0.5, 0.5]}, _zoom),
    "mosaic": ({}, _mosaic),
    "brightness": ({"amount_range": [0.2, 0.2]},
                   pixel_op(lambda a, b: b.mean() - a.mean() > 15)),
    "exposure": ({"amount_range": [0.5, 0.5]},
                 pixel_op(lambda a, b: b.mean() - a.mean() > 5)),
    "contrast": ({"amount_range": [0.8, 0.8]},
                 pixel_op(lambda a, b: luma(b).std() > 1.3 * luma(a).std())),
    "hue": ({"amount_range": [90, 90]},
            pixel_op(lambda a, b: np.abs(b.mean((0, 1)) - a.mean((0, 1))).max() > 10)),
    "saturation": ({"amount_range": [-1, -1]},
                   pixel_op(lambda a, b: np.abs(np.diff(b, axis=2)).mean() < 4
                            < np.abs(np.diff(a, axis=2)).mean())),
    "blur": ({"sigma_range": [3, 3]}, pixel_op(lambda a, b: sharpness(b) * 3 < sharpness(a))),
    "motion_blur": ({"kernel_range": [15, 15]},
                    pixel_op(lambda a, b: sharpness(b) * 2 < sharpness(a))),
    "noise": ({"amount_range": [0.2, 0.2]},
              pixel_op(lambda a, b: (np.abs(b - a).max(axis=2) > 40).mean() > 0.1)),
    "camera_gain": ({"intensity_range": [1.0, 1.0]},
                    pixel_op(lambda a, b: sharpness(b) > 1.5 * sharpness(a))),
    "cutout": ({"count": 2, "size": 0.25, "color": "white"},
               pixel_op(lambda a, b: (b.min(axis=2) > 245).sum() >= 0.9 * 120 ** 2
                        > (a.min(axis=2) > 245).sum())),
}


def test_every_op_has_an_expectation():
    assert sorted(EXPECT) == sorted(OPS)


@pytest.fixture(scope="module")
def bccd():
    return vf.load(shared_path("bccd", "BCCD"), "voc").select_images(np.arange(2))


@pytest.mark.parametrize("name", sorted(EXPECT))
def test_every_op_does_its_job_on_a_real_image(name, bccd, tmp_path):
    params, expect = EXPECT[name]
    out = run(bccd, Recipe.load({"preprocess": [{name: params}]}), tmp_path / name, workers=1)
    assert len(out.images) >= 1, name
    expect(bccd, out)
