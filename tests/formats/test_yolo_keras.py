"""YOLO Keras TXT (keras-yolo3 / Roboflow): 'image x1,y1,x2,y2,class' lines + class names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import visionflow as vf
from visionflow.core.errors import (
    FormatError,
    MissingImageError,
    OutputError,
    ParseError,
    UnsafeInputError,
    ValidationError,
)
from visionflow.formats import registry

from ..conftest import make_image, shared_path


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _roboflow(root: Path) -> Path:
    for split, names in (("train", ["a.jpg", "b.jpg"]), ("valid", ["c.jpg"])):
        for n in names:
            make_image(root / split / n, (64, 48))
        (root / split / "_classes.txt").write_text("cat\ndog\n")
    (root / "train" / "_annotations.txt").write_text(
        "a.jpg 1,2,30,40,0 5.5,5,10,10.25,1\nb.jpg\n")
    (root / "valid" / "_annotations.txt").write_text("c.jpg 0,0,64,48,1\n")
    return root


def test_reads_roboflow_layout_with_splits_and_negatives(tmp_path):
    ds = vf.load(_roboflow(tmp_path / "ds"))
    assert ds.source_format == "yolo-keras"
    assert ds.images.file_name.tolist() == ["a.jpg", "b.jpg", "c.jpg"]
    assert ds.images.split.tolist() == ["train", "train", "val"]
    assert ds.categories.names == ["cat", "dog"] and ds.categories.ids == [1, 2]
    assert ds.annotations.xyxy.tolist() == [[1, 2, 30, 40], [5.5, 5, 10, 10.25], [0, 0, 64, 48]]
    assert ds.annotations.category_id.tolist() == [1, 2, 2]
    assert ds.images.width.tolist() == [64, 64, 64]


def test_reads_keras_yolo3_list_with_absolute_paths_inside(tmp_path):
    root = tmp_path / "voc"
    img = make_image(root / "VOCdevkit" / "JPEGImages" / "0001.jpg", (50, 40))
    (root / "classes.txt").write_text("person\ncar\n")
    (root / "2007_train.txt").write_text(f"{img} 10,10,20,30,1\n")
    (root / "2007_val.txt").write_text("VOCdevkit/JPEGImages/0001.jpg 1,1,2,2,0\n")
    assert registry.detect(root).format == "yolo-keras"
    ds = vf.load(root)
    assert ds.images.split.tolist() == ["train", "val"]
    assert ds.images.file_name.tolist() == ["VOCdevkit/JPEGImages/0001.jpg"] * 2
    only = vf.load(root / "2007_val.txt")  # the annotation file named directly
    assert only.images.split.tolist() == ["val"] and only.categories.names == ["person", "car"]


def test_detection_is_not_confused_with_other_yolo_layouts(tmp_path):
    root = _roboflow(tmp_path / "ds")
    found = registry.candidates(root)
    assert found[0].format == "yolo-keras" and found[0].confidence >= 0.9
    assert len(found) == 1 or found[0].confidence - found[1].confidence >= 0.1
    # a darknet list of paths (no boxes) is not a keras file
    dark = tmp_path / "dark"
    make_image(dark / "data" / "obj" / "x.jpg")
    (dark / "obj.names").write_text("a\n")
    (dark / "train.txt").write_text("data/obj/x.jpg\n")
    (dark / "data" / "obj" / "x.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    assert all(d.format != "yolo-keras" for d in registry.candidates(dark))


def test_writes_roboflow_layout_and_fixed_point(tmp_path):
    ds = vf.load(_roboflow(tmp_path / "ds"))
    report = vf.write(ds, tmp_path / "a", "yolo-keras")
    assert [f.code for f in report.findings] == ["yolo_keras.fractional"]
    out = tmp_path / "a"
    assert (out / "train" / "_annotations.txt").read_text() == (
        "a.jpg 1,2,30,40,0 5.5,5,10,10.25,1\nb.jpg\n")
    assert (out / "valid" / "_annotations.txt").read_text() == "c.jpg 0,0,64,48,1\n"
    assert (out / "valid" / "_classes.txt").read_text() == "cat\ndog\n"
    assert (out / "valid" / "c.jpg").is_file()
    back = vf.load(out, "yolo-keras")
    assert not ds.differences(back)
    vf.write(back, tmp_path / "b", "yolo-keras")
    assert _files(out) == _files(tmp_path / "b")


def test_coords_int_rounds_and_reports_the_loss(tmp_path):
    ds = vf.load(_roboflow(tmp_path / "ds"))
    report = vf.write(ds, tmp_path / "out", "yolo-keras", coords="int")
    assert [(f.code, f.count) for f in report.findings] == [("loss.boxes.rounded", 1)]
    assert (tmp_path / "out" / "train" / "_annotations.txt").read_text().splitlines()[0] == \
        "a.jpg 1,2,30,40,0 6,5,10,10,1"
    with pytest.raises(OutputError, match="coords='half'"):
        vf.write(ds, tmp_path / "bad", "yolo-keras", coords="half")


def test_real_voc_boxes_survive_a_trip_through_keras_txt(tmp_path):
    src = vf.load(shared_path("bccd", "BCCD"), "voc")
    src = src.select_images(np.arange(12))
    vf.write(src, tmp_path / "k", "yolo-keras", images="copy")
    back = vf.load(tmp_path / "k", "yolo-keras")
    assert back.images.file_name.tolist() == src.images.file_name.tolist()
    assert np.array_equal(back.annotations.xyxy, src.annotations.xyxy)
    assert back.categories.names == src.categories.names


def _bad_box(root: Path) -> tuple[str, type]:
    (root / "train" / "_annotations.txt").write_text("a.jpg 1,2,30,40,0\nb.jpg 1,2,x,4,0\n")
    return "_annotations.txt:2: box 1: expected x_min,y_min,x_max,y_max,class_id", ParseError


def _five_numbers(root: Path) -> tuple[str, type]:
    (root / "train" / "_annotations.txt").write_text("a.jpg 1,2,30,40\n")
    return "_annotations.txt:1: box 1: expected", ParseError


def _class_range(root: Path) -> tuple[str, type]:
    (root / "train" / "_annotations.txt").write_text("a.jpg 1,2,30,40,7\n")
    return "_annotations.txt:1: box 1: class index 7 is not in", ValidationError


def _escape(root: Path) -> tuple[str, type]:
    (root / "train" / "_annotations.txt").write_text("../../secret.jpg 1,2,3,4,0\n")
    return "_annotations.txt:1: file name '../../secret.jpg' points outside", UnsafeInputError


def _absolute_outside(root: Path) -> tuple[str, type]:
    (root / "train" / "_annotations.txt").write_text("/etc/x.jpg 1,2,3,4,0\n")
    return "_annotations.txt:1: image path '/etc/x.jpg' is absolute and outside", \
        UnsafeInputError


def _missing_image(root: Path) -> tuple[str, type]:
    (root / "train" / "_annotations.txt").write_text("nope.jpg 1,2,3,4,0\n")
    return "_annotations.txt:1: image file", MissingImageError


def _classes_differ(root: Path) -> tuple[str, type]:
    (root / "valid" / "_classes.txt").write_text("dog\ncat\n")
    return "valid/_classes.txt: class names differ from", ValidationError


BAD = [_bad_box, _five_numbers, _class_range, _escape, _absolute_outside, _missing_image,
       _classes_differ]


@pytest.mark.parametrize("make", BAD, ids=[m.__name__ for m in BAD])
def test_bad_input_names_file_and_line(tmp_path, make):
    root = _roboflow(tmp_path / "ds")
    message, error = make(root)
    with pytest.raises(error) as info:
        vf.load(root, "yolo-keras")
    assert message in str(info.value) and "\n" not in str(info.value)


def test_skip_errors_keeps_the_other_lines(tmp_path):
    root = _roboflow(tmp_path / "ds")
    _bad_box(root)
    report = vf.Report()
    ds = vf.load(root, "yolo-keras", errors="skip", report=report)
    assert ds.images.file_name.tolist() == ["a.jpg", "c.jpg"]
    assert any("_annotations.txt:2" in (f.where or "") for f in report.findings)


def test_write_refuses_names_with_spaces(tmp_path):
    img = make_image(tmp_path / "my pic.jpg")
    ds = vf.Dataset(vf.Images.build(["my pic.jpg"], [64], [48], path=[str(img)]),
                    vf.Annotations.empty(), vf.Categories.from_names(["a"]))
    with pytest.raises(OutputError, match="split on whitespace"):
        vf.write(ds, tmp_path / "out", "yolo-keras")


def test_no_annotation_file(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(FormatError, match="no _annotations.txt"):
        vf.load(tmp_path / "x", "yolo-keras")
