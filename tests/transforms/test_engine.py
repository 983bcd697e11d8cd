"""Running recipes: determinism, streaming through processes, real images, every operation."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import visionflow as vf
from tests.conftest import shared_path, tree_snapshot
from visionflow.transforms import OPS, Recipe, run
from visionflow.transforms.ops import Tile

from .synth import dataset, tree_bytes

AUGMENT_ALL = {
    "preprocess": [{"resize": {"size": [80, 64], "mode": "letterbox", "color": "gray"}}],
    "augment": {"copies": 2, "ops": [
        {"flip": {"p": 0.5}}, {"rotate90": {"p": 0.3}}, {"rotate": {"limit": 20}},
        {"shear": {"x": 5, "y": 5, "p": 0.5}}, {"crop": {"p": 0.5}}, {"zoom": {"p": 0.5}},
        {"brightness": {}}, {"exposure": {}}, {"contrast": {}}, {"hue": {}}, {"saturation": {}},
        {"blur": {"p": 0.5}}, {"motion_blur": {"p": 0.5}}, {"noise": {}}, {"camera_gain": {}},
        {"cutout": {"p": 0.5}}, {"mosaic": {"p": 0.5}}, {"grayscale": {"p": 0.2}}]},
}


def test_same_seed_same_bytes_any_worker_count(tmp_path):
    ds = dataset(tmp_path, 6)
    recipe = Recipe.load(AUGMENT_ALL)
    a = run(ds, recipe, tmp_path / "a", seed=3, workers=1)
    b = run(ds, recipe, tmp_path / "b", seed=3, workers=2)
    assert tree_bytes(tmp_path / "a") == tree_bytes(tmp_path / "b")
    assert not a.differences(b)
    c = run(ds, recipe, tmp_path / "c", seed=4, workers=1)
    assert tree_bytes(tmp_path / "a") != tree_bytes(tmp_path / "c")
    # train images: 2 copies each; val: preprocessed once
    n_train = int((ds.images.split == "train").sum())
    assert len(a.images) == 2 * n_train + (len(ds.images) - n_train)
    assert all(p.startswith(str(tmp_path / "a" / "images")) for p in a.images.path)
    for row in range(len(a.images)):
        with Image.open(a.images.path[row]) as im:
            assert im.size == (a.images.width[row], a.images.height[row])
    boxes = a.annotations.xyxy
    w = a.images.width[a.annotations.image_index]
    h = a.images.height[a.annotations.image_index]
    assert (boxes[:, 0] >= 0).all() and (boxes[:, 2] <= w).all() and (boxes[:, 3] <= h).all()
    assert (boxes[:, 2] > boxes[:, 0]).all() and (boxes[:, 3] > boxes[:, 1]).all()


def test_source_untouched_and_no_recompression_without_pixel_ops(tmp_path):
    ds = dataset(tmp_path, 4)
    before = tree_snapshot(tmp_path / "src")
    out = run(ds, Recipe.load({"preprocess": [{"modify_classes": {"rename": {"cat": "feline"}}}]}),
              tmp_path / "out", workers=1)
    assert tree_snapshot(tmp_path / "src") == before
    for src, dst in zip(ds.images.path, out.images.path):
        assert open(src, "rb").read() == open(dst, "rb").read()
    assert out.categories.names == ["feline", "dog"]
    assert out.images.id.tolist() == ds.images.id.tolist()


def test_resize_modes_sizes_and_draft_decoding(tmp_path):
    ds = dataset(tmp_path, 2, size=(400, 300), splits=("train",))
    for mode, expected in [("stretch", (100, 100)), ("fit", (100, 75)), ("letterbox", (100, 100)),
                           ("fill", (100, 100))]:
        out = run(ds, Recipe.load({"preprocess": [{"resize": {"size": 100, "mode": mode}}]}),
                  tmp_path / mode, workers=1)
        assert (int(out.images.width[0]), int(out.images.height[0])) == expected
    big = run(ds, Recipe.load({"preprocess": [{"resize": {"size": [800, 600]}}]}), tmp_path / "up", workers=1)
    assert big.images.width[0] == 800
    np.testing.assert_allclose(big.annotations.xyxy, ds.annotations.xyxy * 2)


def test_modify_filter_and_drop_small(tmp_path):
    ds = dataset(tmp_path, 6)
    ds = ds.replace(images=ds.images.replace(attrs={"tags": np.array(
        [["day"], ["night"], [], ["day"], [], ["night"]], dtype=object)}))
    recipe = Recipe.load({"preprocess": [
        {"modify_classes": {"merge": {"animal": ["cat", "dog"]}}},
        {"filter_images": {"tags": ["day"]}},
        {"drop_small": {"area": 200}},
        "filter_empty"]})
    out = run(ds, recipe, tmp_path / "o", workers=1)
    assert out.categories.names == ["animal"] and set(out.annotations.category_id) <= {1}
    assert set(out.images.file_name) <= {"img_000.jpg", "img_003.jpg"}
    w = out.annotations.xyxy[:, 2] - out.annotations.xyxy[:, 0]
    h = out.annotations.xyxy[:, 3] - out.annotations.xyxy[:, 1]
    assert (w * h >= 200).all()


def test_isolate_objects_makes_a_classification_dataset(tmp_path):
    ds = dataset(tmp_path, 3)
    out = run(ds, Recipe.load({"preprocess": ["isolate_objects"]}), tmp_path / "o", workers=1)
    assert len(out.images) == len(ds.annotations) == len(out.annotations)
    assert out.annotations.is_label.all()
    assert out.annotations.category_id.tolist() == ds.annotations.category_id.tolist()
    x0, y0, x1, y1 = ds.annotations.xyxy[0]
    assert out.images.width[0] == int(np.ceil(x1)) - int(np.floor(x0))


def test_unreadable_image_reported_or_fatal(tmp_path):
    ds = dataset(tmp_path, 3)
    open(ds.images.path[1], "wb").write(b"not an image")
    report = vf.Report()
    recipe = Recipe.load({"preprocess": ["grayscale"]})
    out = run(ds, recipe, tmp_path / "a", workers=1, report=report)
    assert len(out.images) == 2
    assert any("img_001.jpg" in (f.where or "") for f in report.findings)
    with pytest.raises(vf.ValidationError, match="img_001.jpg.*cannot"):
        run(ds, recipe, tmp_path / "b", workers=1, strict=True)


def test_augment_without_train_split_warns(tmp_path):
    # Splits but no train split: nothing to augment, said so. (A dataset without any split is
    # all training data and is augmented: tests/transforms/test_split_ids.py.)
    ds = dataset(tmp_path, 2, splits=("val",))
    report = vf.Report()
    out = run(ds, Recipe.load({"augment": {"ops": ["flip"]}}), tmp_path / "o", workers=1, report=report)
    assert len(out.images) == 2
    assert any(f.code == "augment.no_split" for f in report.findings)


def test_tiling_bccd_keeps_every_cell_whole_in_some_tile(tmp_path):
    root = shared_path("bccd", "BCCD")
    ds = vf.load(root, "voc")
    ds = ds.select_images(np.arange(12))
    op = Tile(tile_size=(400, 400), overlap=300)  # any cell up to 300 px fits some tile
    out = run(ds, Recipe(preprocess=(op,)), tmp_path / "t", workers=2)
    by_name = {n: i for i, n in enumerate(out.images.file_name)}
    for row in range(len(ds.images)):
        w, h = int(ds.images.width[row]), int(ds.images.height[row])
        wins = op.windows(w, h)
        ncols = len({(a, c) for a, _, c, _ in wins})
        stem = ds.images.file_name[row].rsplit(".", 1)[0]
        src = np.asarray(Image.open(ds.images.path[row]).convert("RGB"), dtype=np.int16)
        tiles = []
        for k, (x0, y0, x1, y1) in enumerate(wins):
            t = by_name[f"{stem}_tile{k // ncols}_{k % ncols}.jpg"]
            assert (out.images.width[t], out.images.height[t]) == (x1 - x0, y1 - y0)
            pixels = np.asarray(Image.open(out.images.path[t]).convert("RGB"), dtype=np.int16)
            assert np.abs(pixels - src[y0:y1, x0:x1]).mean() < 3  # the same pixels, re-encoded
            tiles.append((x0, y0, out.annotations.xyxy[out.annotations.image_index == t]))
        for box in ds.annotations.xyxy[ds.annotations.image_index == row]:
            assert max(box[2] - box[0], box[3] - box[1]) <= 300
            whole = [x0 for x0, y0, boxes in tiles
                     if (np.abs(boxes - (box - [x0, y0, x0, y0])).max(axis=1) < 1e-9).any()]
            assert whole, f"cell {box} of {stem} is not whole in any tile"


def test_jpeg_decoded_at_reduced_scale_when_output_is_smaller(tmp_path):
    from visionflow.transforms.sample import decode
    from .synth import photo
    p = tmp_path / "big.jpg"
    Image.fromarray(photo(np.random.default_rng(0), 800, 600)).save(p)
    assert decode(str(p)).shape == (600, 800, 3)
    assert decode(str(p), (200, 150)).shape == (150, 200, 3)   # 1/4 scale in the DCT domain
    assert decode(str(p), (300, 150)).shape == (300, 400, 3)   # 1/2: 1/4 would be too small
    op = OPS["resize"](size=[100, 100], mode="fit")
    assert op.draft_size(800, 600) == (100, 75)


def test_image_without_file_is_reported_when_pixels_are_needed(tmp_path):
    ds = dataset(tmp_path, 2)
    ds = ds.replace(images=ds.images.replace(path=np.array([None, ds.images.path[1]], dtype=object)))
    report = vf.Report()
    out = run(ds, Recipe.load({"preprocess": ["grayscale"]}), tmp_path / "o", workers=1, report=report)
    assert len(out.images) == 1
    assert [f.where for f in report.findings if f.code == "skipped"] == ["img_000.jpg"]
