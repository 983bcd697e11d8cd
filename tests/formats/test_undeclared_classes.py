"""Classes made up or data dropped without a word (issue 11, item 34): every reader that has a
class declaration (a label map, <labels>, dataset_meta.json, label_config.xml, names) reports
a class it had to add, naming the file, and refuses it when reading strictly (convert
--strict); a YOLO label file without an image is reported, not dropped silently."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

import visionflow as vf
from tests.conftest import make_image
from visionflow.cli.main import app

runner = CliRunner()


def findings(report: vf.Report, code: str) -> list:
    return [f for f in report if f.code == code]


def assert_reported_and_strict_refuses(root, fmt: str, code: str, where: str, words: str):
    report = vf.Report()
    ds = vf.load(root, fmt, report=report)
    [found] = findings(report, code)
    assert found.severity == "warning" and where in found.where and words in found.message
    with pytest.raises(vf.ValidationError, match="strict"):
        vf.load(root, fmt, strict=True)
    return ds, found


# --- MOT ---------------------------------------------------------------------------------------

def mot_seq(root, lines: str, labels: str | None = None):
    make_image(root / "img1" / "000001.jpg")
    (root / "gt").mkdir(parents=True)
    (root / "gt" / "gt.txt").write_text(lines)
    if labels is not None:
        (root / "gt" / "labels.txt").write_text(labels)
    return root


def test_mot_class_beyond_the_names_is_one_class_not_forty(tmp_path):
    root = mot_seq(tmp_path / "seq", "1,1,1,1,5,5,1,1,1\n1,2,10,10,5,5,1,42,1\n")
    ds, found = assert_reported_and_strict_refuses(root, "mot", "mot.undeclared", "gt.txt:2",
                                                   "class_42")
    assert len(ds.categories) == 13  # MOT's 12 classes + class 42, no class_13..class_41
    assert ds.categories.ids[-1] == 42 and ds.categories.names[-1] == "class_42"
    assert ds.annotations.category_id.tolist() == [1, 42]


def test_mot_declared_classes_are_quiet(tmp_path):
    root = mot_seq(tmp_path / "seq", "1,1,1,1,5,5,1,2,1\n", labels="walker\nrider\n")
    report = vf.Report()
    ds = vf.load(root, "mot", report=report)
    assert ds.categories.names == ["walker", "rider"] and not findings(report, "mot.undeclared")


# --- CVAT --------------------------------------------------------------------------------------

def test_cvat_label_not_in_meta(tmp_path):
    make_image(tmp_path / "images" / "a.jpg")
    (tmp_path / "annotations.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version>\n'
        "<meta><task><labels><label><name>cat</name></label></labels></task></meta>\n"
        '<image id="0" name="a.jpg" width="64" height="48">\n'
        '<box label="cat" xtl="1" ytl="1" xbr="5" ybr="5" occluded="0"/>\n'
        '<box label="dog" xtl="2" ytl="2" xbr="9" ybr="9" occluded="0"/>\n'
        "</image></annotations>\n")
    ds, _ = assert_reported_and_strict_refuses(tmp_path, "cvat", "cvat.undeclared",
                                               "annotations.xml:6", "dog")
    assert ds.categories.names == ["cat", "dog"]


# --- KITTI -------------------------------------------------------------------------------------

LINE = "{} 0.50 2 -1.65 1 2 30 20 1.86 0.60 2.02 4.59 1.32 45.84 -1.55\n"


def test_kitti_type_not_in_dataset_meta(tmp_path):
    make_image(tmp_path / "image_2" / "000.png")
    (tmp_path / "label_2").mkdir()
    (tmp_path / "label_2" / "000.txt").write_text(LINE.format("Car") + LINE.format("Tram"))
    (tmp_path / "dataset_meta.json").write_text(json.dumps({"label_map": {"0": "Car"}}))
    ds, _ = assert_reported_and_strict_refuses(tmp_path, "kitti", "kitti.undeclared",
                                               "000.txt:2", "Tram")
    assert ds.categories.names == ["Car", "Tram"]


# --- Label Studio ------------------------------------------------------------------------------

def test_label_studio_label_not_in_config(tmp_path):
    make_image(tmp_path / "a.jpg", (200, 100))
    results = [{"id": f"r{k}", "type": "rectanglelabels", "from_name": "label",
                "to_name": "image", "original_width": 200, "original_height": 100,
                "value": {"x": 10, "y": 20, "width": 30, "height": 40, "rotation": 0,
                          "rectanglelabels": [name]}} for k, name in enumerate(("Car", "Boat"))]
    (tmp_path / "result.json").write_text(json.dumps([
        {"id": 1, "data": {"image": "a.jpg"},
         "annotations": [{"id": 1, "was_cancelled": False, "result": results}]}]))
    (tmp_path / "label_config.xml").write_text(
        '<View><Image name="image" value="$image"/><RectangleLabels name="label" '
        'toName="image"><Label value="Car"/><Label value="Plane"/></RectangleLabels></View>')
    ds, _ = assert_reported_and_strict_refuses(tmp_path, "label-studio",
                                               "label_studio.undeclared", "result.json", "Boat")
    assert ds.categories.names == ["Car", "Plane", "Boat"]


# --- TFRecord ----------------------------------------------------------------------------------

def tfrecord_with_label_map(tmp_path, label_map: str):
    make_image(tmp_path / "src" / "a.jpg")
    images = vf.Images.build(["a.jpg"], [64], [48], path=[str(tmp_path / "src" / "a.jpg")])
    ds = vf.Dataset(images, vf.Annotations.build([0, 0], [1, 2], [[1, 1, 9, 9], [2, 2, 20, 20]]),
                    vf.Categories.from_names(["raccoon", "fox"]))
    vf.write(ds, tmp_path / "tf", "tfrecord")
    (tmp_path / "tf" / "label_map.pbtxt").write_text(label_map)
    return tmp_path / "tf"


def test_tfrecord_label_missing_from_the_label_map(tmp_path):
    root = tfrecord_with_label_map(tmp_path, "item {\n  id: 1\n  name: 'raccoon'\n}\n")
    ds, _ = assert_reported_and_strict_refuses(root, "tfrecord", "tfrecord.undeclared",
                                               ".tfrecord", "'fox' (label 2)")
    assert ds.categories.names == ["raccoon", "fox"]


def test_tfrecord_label_whose_text_the_label_map_names_is_not_a_duplicate(tmp_path):
    """The record says label 2 / text 'fox'; the label map calls fox 7: one class 'fox'."""
    root = tfrecord_with_label_map(tmp_path, "item { id: 1 name: 'raccoon' }\n"
                                             "item { id: 7 name: 'fox' }\n")
    report = vf.Report()
    ds = vf.load(root, "tfrecord", report=report)
    assert ds.categories.names == ["raccoon", "fox"]  # not a second 'fox'
    assert sorted(ds.annotations.category_id.tolist()) == [1, 7]
    [found] = findings(report, "tfrecord.undeclared")
    assert "label 2 taken as the label map's class" in found.message


# --- YOLO --------------------------------------------------------------------------------------

def test_yolo_label_file_without_image_is_reported(tmp_path):
    root = tmp_path / "y"
    make_image(root / "images" / "train" / "a.jpg")
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "labels" / "train" / "gone.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "labels" / "train" / "classes.txt").write_text("cat\n")  # LabelImg's, not labels
    (root / "data.yaml").write_text("train: images/train\nval: images/train\nnames: [cat]\n")
    ds, found = assert_reported_and_strict_refuses(root, "yolo", "yolo.orphan_labels",
                                                   "gone.txt", "labels/train/gone.txt")
    assert found.count == 1 and "classes.txt" not in found.message
    assert len(ds.images) == 1 and len(ds.annotations) == 1


def test_yolo_without_orphans_is_quiet(tmp_path):
    root = tmp_path / "y"
    make_image(root / "images" / "train" / "a.jpg")
    (root / "labels" / "train").mkdir(parents=True)
    (root / "labels" / "train" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    (root / "data.yaml").write_text("train: images/train\nval: images/train\nnames: [cat]\n")
    report = vf.Report()
    vf.load(root, "yolo", report=report)
    assert not findings(report, "yolo.orphan_labels")


# --- the CLI -----------------------------------------------------------------------------------

def test_convert_strict_refuses_an_undeclared_class(tmp_path):
    root = mot_seq(tmp_path / "seq", "1,1,1,1,5,5,1,42,1\n")
    result = runner.invoke(app, ["convert", str(root), str(tmp_path / "out"), "--to", "coco",
                                 "--strict"], catch_exceptions=False)
    assert result.exit_code == 1 and "class_42" in result.output and "strict" in result.output
    assert "Traceback" not in result.output and not (tmp_path / "out").exists()
    result = runner.invoke(app, ["convert", str(root), str(tmp_path / "out"), "--to", "coco"],
                           catch_exceptions=False)
    assert result.exit_code == 0 and "class_42" in result.output
    assert np.isin(["class_42"], vf.load(tmp_path / "out").categories.names).all()


def test_tfrecord_background_item_zero_is_not_a_class(tmp_path):
    """The TF OD API reserves label map id 0 for 'background' (a sibling of VOC's labelmap
    background, item 13): not a class."""
    root = tfrecord_with_label_map(tmp_path, "item { id: 0 name: 'background' }\n"
                                             "item { id: 1 name: 'raccoon' }\n"
                                             "item { id: 2 name: 'fox' }\n")
    report = vf.Report()
    ds = vf.load(root, "tfrecord", report=report)
    assert ds.categories.names == ["raccoon", "fox"] and "tfrecord.background" in report.codes()
    assert not findings(report, "tfrecord.undeclared")


def test_api_convert_strict_refuses_an_undeclared_class(tmp_path):
    root = mot_seq(tmp_path / "seq", "1,1,1,1,5,5,1,42,1\n")
    with pytest.raises(vf.ValidationError, match="class_42"):
        vf.convert(root, tmp_path / "out", "coco", strict=True)
    assert not (tmp_path / "out").exists()
