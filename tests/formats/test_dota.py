"""DOTA oriented boxes (images/ + labelTxt/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image, shared_path


@pytest.mark.shared
def test_datumaro_fixture():
    src = shared_path("datumaro-assets", "dota_dataset")
    top = vf.detect(src)[0]
    assert top.format == "dota" and "labelTxt" in top.reasons[0]
    ds = vf.load(src)
    assert ds.images.file_name.tolist() == ["train_001.jpg", "train_002.jpg", "val_001.jpg"]
    assert ds.images.split.tolist() == ["train", "train", "val"]
    assert ds.categories.names == ["label_0", "label_1"]
    ann = ds.annotations
    assert ann.image_index.tolist() == [0, 1, 2, 2]
    np.testing.assert_array_equal(ann.obb[3], [[1, 2], [1, 5], [10, 5], [10, 2]])
    np.testing.assert_array_equal(ann.xyxy[3], [1, 2, 10, 5])
    assert ann.attr("difficult").tolist() == [0, 0, 0, 0]
    # One split folder, or its labelTxt folder, named directly.
    assert vf.load(src / "val").images.split.tolist() == ["val"]
    assert len(vf.load(src / "train" / "labelTxt").images) == 2


def _dota(tmp: Path, text: str, name: str = "P0001", size=(100, 80)) -> Path:
    make_image(tmp / "ds" / "images" / f"{name}.png", size)
    (tmp / "ds" / "labelTxt").mkdir(parents=True, exist_ok=True)
    (tmp / "ds" / "labelTxt" / f"{name}.txt").write_text(text)
    return tmp / "ds"


def test_header_difficult_spaces_and_round_trip(tmp_path):
    src = _dota(tmp_path, "imagesource:GoogleEarth\ngsd:0.146343590398\n"
                "10 10 50.5 12 48 40 8 38 large-vehicle 1\n"
                "0 0 20 0 20 20 0 20 small vehicle 0\n"
                "1 1 5 1 5 5 1 5 plane\n")
    make_image(src / "images" / "P0002.png")  # no label file: a negative
    ds = vf.load(src)
    assert ds.images.split.tolist() == ["", ""]
    assert ds.images.attr("dota.gsd").tolist() == ["0.146343590398", None]
    assert ds.categories.names == ["large-vehicle", "plane", "small vehicle"]
    assert ds.annotations.attr("difficult").tolist() == [1, 0, None]
    np.testing.assert_array_equal(ds.annotations.xyxy[0], [8, 10, 50.5, 40])
    report = vf.write(ds, tmp_path / "out", "dota")
    assert "dota.name_spaces" in report.codes()
    out = (tmp_path / "out" / "labelTxt" / "P0001.txt").read_text()
    assert out.splitlines() == ["imagesource:GoogleEarth", "gsd:0.146343590398",
                                "10 10 50.5 12 48 40 8 38 large-vehicle 1",
                                "0 0 20 0 20 20 0 20 small vehicle 0",
                                "1 1 5 1 5 5 1 5 plane 0"]
    assert (tmp_path / "out" / "labelTxt" / "P0002.txt").read_text() == ""
    back = vf.load(tmp_path / "out")
    assert back.categories == ds.categories
    assert not back.annotations.differences(ds.annotations.replace(attrs={
        "difficult": np.array([1, 0, 0], object)}))


def test_boxes_are_written_as_corners_and_read_back_as_boxes(tmp_path):
    make_image(tmp_path / "a.png", (64, 48))
    ds = vf.Dataset(vf.Images.build(["a.png"], [64], [48], split="train",
                                    path=[str(tmp_path / "a.png")]),
                    vf.Annotations.build([0], [1], [[1, 2, 30, 40]]), vf.Categories.from_names(["car"]))
    vf.write(ds, tmp_path / "out", "dota")
    assert (tmp_path / "out" / "train" / "labelTxt" / "a.txt").read_text() == \
        "1 2 30 2 30 40 1 40 car 0\n"
    back = vf.load(tmp_path / "out")
    assert back.annotations.obb is None  # visionflow.yaml says task: detect
    np.testing.assert_array_equal(back.annotations.xyxy, [[1, 2, 30, 40]])


@pytest.mark.parametrize("line, problem", [
    ("1 2 3 4 5 6 7 plane 0", "expected 'x1 y1 x2 y2 x3 y3 x4 y4 class [difficult]'"),
    ("1 2 3 4 5 6 7 8", "expected 'x1 y1"),
    ("1 2 3 4 5 x 7 8 plane 0", "got \"1 2 3 4 5 x 7 8 plane 0\""),
    ("1 2 3 4 5 6 7 nan plane", "expected"),
    ("1 2 3 4 5 6 7 1e999 plane", "not finite"),
])
def test_bad_lines(tmp_path, line, problem):
    src = _dota(tmp_path, f"1 1 5 1 5 5 1 5 plane 0\n{line}\n")
    with pytest.raises(vf.ParseError) as e:
        vf.load(src, "dota")
    assert "P0001.txt:2" in str(e.value) and problem in str(e.value)
    report = vf.Report()
    ds = vf.load(src, "dota", errors="skip", report=report)
    assert len(ds.annotations) == 1 and report.errors


def test_box_outside_the_image_is_a_validation_error(tmp_path):
    src = _dota(tmp_path, "500 500 600 500 600 600 500 600 plane 0\n")
    with pytest.raises(vf.ValidationError, match=r"P0001.txt:1: box"):
        vf.load(src)


def test_label_without_image(tmp_path):
    src = _dota(tmp_path, "1 1 5 1 5 5 1 5 plane 0\n")
    (src / "labelTxt" / "P0009.txt").write_text("1 1 5 1 5 5 1 5 plane 0\n")
    with pytest.raises(vf.MissingImageError, match=r"P0009.txt: no image named P0009"):
        vf.load(src)


def test_symlinked_label_leaving_the_dataset_is_refused(tmp_path):
    src = _dota(tmp_path, "1 1 5 1 5 5 1 5 plane 0\n")
    (tmp_path / "secret.txt").write_text("1 1 5 1 5 5 1 5 plane 0\n")
    make_image(src / "images" / "P0002.png")
    (src / "labelTxt" / "P0002.txt").symlink_to(tmp_path / "secret.txt")
    with pytest.raises(vf.UnsafeInputError, match="outside the dataset folder"):
        vf.load(src)


def test_not_detected_for_yolo_labels(tmp_path):
    make_image(tmp_path / "images" / "a.png")
    (tmp_path / "labelTxt").mkdir()
    (tmp_path / "labelTxt" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    assert all(d.format != "dota" for d in vf.detect(tmp_path))


def test_bad_split_name_is_an_output_error(tmp_path):
    make_image(tmp_path / "a.png")
    ds = vf.Dataset(vf.Images.build(["a.png"], [64], [48], split="a/b",
                                    path=[str(tmp_path / "a.png")]),
                    vf.Annotations.empty(), vf.Categories.from_names(["car"]))
    with pytest.raises(vf.OutputError, match="split name 'a/b'"):
        vf.write(ds, tmp_path / "out", "dota")
