"""Detection names the right format on real datasets, explains itself, and refuses to guess."""

import json

import pytest

import visionflow as vf
from visionflow.formats import registry

from ..conftest import make_image, shared_path


@pytest.mark.parametrize("parts, expected", [
    (("raccoon",), "voc"),
    (("raccoon", "annotations"), "voc"),
    (("raccoon", "annotations", "raccoon-1.xml"), "voc"),
    (("bccd", "BCCD"), "voc"),
    (("ultralytics-hub-datasets", "coco8"), "yolo"),
    (("ultralytics-hub-datasets", "coco8-pose", "coco8-pose.yaml"), "yolo"),
    (("ultralytics-hub-datasets", "dota8"), "yolo"),
    (("ultralytics-hub-datasets", "imagenet10"), "yolo-cls"),
    (("roboflow-facemask-coco",), "coco"),
    (("roboflow-facemask-coco", "train", "_annotations.coco.json"), "coco"),
    (("datumaro-assets", "coco_dataset", "coco"), "coco"),
    (("datumaro-assets", "voc_dataset", "voc_dataset1"), "voc"),
])
def test_real_datasets_are_recognized(parts, expected):
    top = registry.detect(shared_path(*parts))
    assert top.format == expected and top.reasons


def test_ambiguous_folder_lists_candidates_and_asks_for_from(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "instances_train.json").write_text(json.dumps(
        {"images": [], "annotations": [], "categories": []}))
    (tmp_path / "data.yaml").write_text("train: images/train\nval: images/train\nnames: {0: a}\n")
    make_image(tmp_path / "images" / "train" / "a.jpg")
    (tmp_path / "labels" / "train").mkdir(parents=True)
    with pytest.raises(vf.AmbiguousFormat) as e:
        vf.load(tmp_path)
    message = str(e.value)
    assert "coco" in message and "yolo" in message and "--from" in message
    assert vf.load(tmp_path, "coco").images.splits() == []


def test_nothing_recognizable(tmp_path):
    (tmp_path / "notes.txt").write_text("hello")
    with pytest.raises(vf.NotDetected, match="no known dataset format found"):
        vf.load(tmp_path)
    assert vf.detect(tmp_path) == []


def test_unknown_format_suggests():
    with pytest.raises(vf.UnknownFormat, match="did you mean 'yolo'"):
        registry.get("yolov")


def test_doctests():
    import doctest

    import visionflow
    import visionflow.api
    for module in (visionflow, visionflow.api):
        result = doctest.testmod(module)
        assert result.failed == 0 and result.attempted > 0
