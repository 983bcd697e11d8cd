"""Binary instance masks (pycococreator): annotations/<image>_<class>_<n>.png, 0/255."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import visionflow as vf
from visionflow.core.errors import (
    FormatError,
    ParseError,
    UnsafeInputError,
    ValidationError,
)
from visionflow.core.geometry import mask_to_rle, rle_to_mask
from visionflow.formats import registry

from ..conftest import make_image, shared_path

SHAPES = ("pycococreator-shapes", "examples", "shapes")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _png(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def test_reads_pycococreator_shapes():
    root = shared_path(*SHAPES, "train")
    ds = vf.load(root)
    assert ds.source_format == "binary-masks"
    assert ds.images.file_name.tolist() == ["1000.jpeg", "1001.jpeg"]
    assert ds.images.path[0].endswith("shapes_train2018/1000.jpeg")
    assert ds.categories.names == ["circle", "square"]
    ann = ds.annotations
    # 1001: circle_0, square_1, square_2, circle_3 in the order of n
    assert ann.image_index.tolist() == [0, 1, 1, 1, 1]
    assert ann.category_id.tolist() == [2, 1, 2, 2, 1]
    raw = np.array(Image.open(root / "annotations" / "1001_square_2.png").convert("L")) > 127
    assert np.array_equal(rle_to_mask(ann.rle[3]), raw)
    ys, xs = np.nonzero(raw)
    assert ann.xyxy[3].tolist() == [xs.min(), ys.min(), xs.max() + 1, ys.max() + 1]


def test_split_folders_and_detection():
    ds = vf.load(shared_path(*SHAPES))
    assert ds.images.split.tolist() == ["train", "train"]
    for path in (shared_path(*SHAPES), shared_path(*SHAPES, "train")):
        found = registry.candidates(path)
        assert found[0].format == "binary-masks" and found[0].confidence >= 0.85
        assert len(found) == 1 or found[0].confidence - found[1].confidence >= 0.1


def test_fixture_round_trip_and_fixed_point(tmp_path):
    ds = vf.load(shared_path(*SHAPES, "train"))
    report = vf.write(ds, tmp_path / "a", "binary-masks")
    assert not report.findings
    out = tmp_path / "a"
    assert sorted(p.name for p in (out / "annotations").iterdir()) == [
        "1000_square_0.png", "1001_circle_0.png", "1001_circle_3.png", "1001_square_1.png",
        "1001_square_2.png"]
    assert (out / "images" / "1000.jpeg").is_file()
    assert (out / "classes.txt").read_text() == "circle\nsquare\n"
    mask = Image.open(out / "annotations" / "1001_square_2.png")
    assert mask.mode == "L" and set(np.unique(np.array(mask)).tolist()) == {0, 255}
    back = vf.load(out, "binary-masks")
    assert not ds.differences(back)
    vf.write(back, tmp_path / "b", "binary-masks")
    assert _files(out) == _files(tmp_path / "b")


def test_overlapping_masks_and_polygons_are_kept(tmp_path):
    img = make_image(tmp_path / "src" / "x_y.png", (8, 6))
    a = np.zeros((6, 8), bool)
    a[1:5, 1:5] = True
    rle = np.empty(2, object)
    rle[:] = [mask_to_rle(a), None]
    poly = vf.Polygons.from_lists([[], [np.array([[2, 2], [7, 2], [7, 6], [2, 6]], float)]])
    cats = vf.Categories([vf.Category(1, "big_cat"), vf.Category(2, "dog")])
    ann = vf.Annotations.build([0, 0], [2, 1], [[1, 1, 5, 5], [2, 2, 7, 6]], rle=rle,
                               polygons=poly)
    ds = vf.Dataset(vf.Images.build(["x_y.png"], [8], [6], split="val", path=[str(img)]),
                    ann, cats)
    report = vf.write(ds, tmp_path / "out", "binary-masks")
    assert not [f for f in report.findings if f.code.startswith("loss.")]
    masks = tmp_path / "out" / "val" / "annotations"
    assert sorted(p.name for p in masks.iterdir()) == ["x_y_big_cat_1.png", "x_y_dog_0.png"]
    back = vf.load(tmp_path / "out")
    assert back.categories.names == ["big_cat", "dog"]  # classes.txt keeps the order
    assert back.annotations.category_id.tolist() == [2, 1]  # stems and classes with '_'
    assert rle_to_mask(back.annotations.rle[0]).tolist() == a.tolist()
    second = rle_to_mask(back.annotations.rle[1])
    assert second[3, 3] and second[2:6, 2:7].all()  # overlaps the first, kept whole


def test_masks_without_images_use_mask_size(tmp_path):
    root = tmp_path / "ds"
    _png(root / "annotations" / "p_q_rect_0.png", np.pad(np.full((2, 3), 255, np.uint8), 1))
    (root / "classes.txt").write_text("rect\n")
    ds = vf.load(root, "binary-masks")
    assert ds.images.file_name.tolist() == ["p_q.png"]  # classes.txt tells stem from class
    assert ds.images.path.tolist() == [None]
    assert (ds.images.width[0], ds.images.height[0]) == (5, 4)
    assert ds.annotations.xyxy.tolist() == [[1, 1, 4, 3]]


def _setup(root: Path) -> Path:
    make_image(root / "images" / "a.jpg", (4, 3))
    make_image(root / "images" / "b.jpg", (4, 3))
    _png(root / "annotations" / "a_cat_0.png", np.full((3, 4), 255, np.uint8))
    return root


def _bad_name(root: Path) -> tuple[str, type]:
    _png(root / "annotations" / "a.png", np.full((3, 4), 255, np.uint8))
    return "annotations/a.png: mask file name is not <image stem>_<class>_<n>.png", ParseError


def _corrupt(root: Path) -> tuple[str, type]:
    (root / "annotations" / "b_cat_0.png").write_bytes(b"not a png")
    return "b_cat_0.png: cannot read mask PNG", ParseError


def _size_mismatch(root: Path) -> tuple[str, type]:
    _png(root / "annotations" / "a_cat_1.png", np.full((5, 5), 255, np.uint8))
    return "a_cat_1.png: mask is 5x5, other masks of 'a' are 4x3", ValidationError


def _palette(root: Path) -> tuple[str, type]:
    Image.new("P", (4, 3)).save(root / "annotations" / "b_cat_0.png")
    return "b_cat_0.png: palette PNG", ParseError


def _bad_classes(root: Path) -> tuple[str, type]:
    (root / "classes.txt").write_text("cat\n\ndog\n")
    return "classes.txt:2: empty class name", ParseError


def _escaping_link(root: Path) -> tuple[str, type]:
    outside = _png(root.parent / "elsewhere.png", np.full((3, 4), 255, np.uint8))
    os.symlink(outside, root / "annotations" / "b_cat_0.png")
    return "b_cat_0.png: file", UnsafeInputError


BAD = [_bad_name, _corrupt, _size_mismatch, _palette, _bad_classes, _escaping_link]


@pytest.mark.parametrize("make", BAD, ids=[m.__name__ for m in BAD])
def test_bad_input_names_the_file(tmp_path, make):
    root = _setup(tmp_path / "ds")
    message, error = make(root)
    with pytest.raises(error) as info:
        vf.load(root, "binary-masks")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_skip_errors_and_empty_masks(tmp_path):
    root = _setup(tmp_path / "ds")
    _corrupt(root)
    _png(root / "annotations" / "a_cat_1.png", np.zeros((3, 4), np.uint8))
    report = vf.Report()
    ds = vf.load(root, "binary-masks", errors="skip", report=report)
    assert ds.images.file_name.tolist() == ["a.jpg", "b.jpg"]  # b kept as a negative
    assert ds.annotations.image_index.tolist() == [0]
    codes = {f.code for f in report.findings}
    assert "binary_masks.empty" in codes and "skipped" in codes


def test_write_refuses_class_names_that_are_not_file_parts(tmp_path):
    img = make_image(tmp_path / "a.png")
    ds = vf.Dataset(vf.Images.build(["a.png"], [64], [48], path=[str(img)]),
                    vf.Annotations.empty(), vf.Categories.from_names(["a/b"]))
    with pytest.raises(vf.OutputError, match="which a mask file name cannot hold"):
        vf.write(ds, tmp_path / "out", "binary-masks")


def test_not_a_mask_folder(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(FormatError, match="no annotations/ folder"):
        vf.load(tmp_path / "x", "binary-masks")


def test_source_is_not_modified(tmp_path):
    src = shutil.copytree(shared_path(*SHAPES, "train"), tmp_path / "src")
    before = _files(src)
    vf.write(vf.load(src), tmp_path / "out", "binary-masks")
    assert _files(src) == before
