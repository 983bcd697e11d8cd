"""KITTI object labels on Datumaro's fixtures, our own files, and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import visionflow as vf
from visionflow.core.errors import MissingImageError, ParseError
from visionflow.formats import registry

from ..conftest import make_image, shared_path, tree_snapshot

LINE = "Car 0.50 2 -1.65 1 2 30 20 1.86 0.60 2.02 4.59 1.32 45.84 -1.55\n"


def test_datumaro_detection_fixture():
    root = shared_path("datumaro-assets", "kitti_dataset", "kitti_detection")
    ds = vf.load(root)
    assert ds.source_format == "kitti"
    assert ds.images.splits() == ["train"]  # training/
    assert ds.images.file_name.tolist() == ["000030_10.png", "000030_11.png"]
    assert ds.categories.names == ["Truck", "Van"]
    assert ds.annotations.xyxy.tolist() == [[0, 1, 2, 3], [0, 5, 1, 8], [0, 0, 2, 2],
                                            [4, 4, 6, 6], [6, 6, 7, 9]]
    assert ds.annotations.attr("truncated").tolist() == [1, 0, 1, 0, 0]
    assert ds.annotations.attr("occluded").tolist() == [0, 0, 1, 0, 1]
    assert ds.annotations.attr("kitti.dimensions").tolist() == [None] * 5  # -1 -1 -1: unknown


def test_real_3d_labels_keep_every_field_and_dontcare(tmp_path):
    src = shared_path("datumaro-assets", "kitti_dataset", "kitti_3d", "training")
    # The fixture's image is a 10x10 placeholder; give the labels a real-size image.
    (tmp_path / "src" / "training" / "label_2").mkdir(parents=True)
    (tmp_path / "src" / "training" / "label_2" / "000001.txt").write_bytes(
        (src / "label_2" / "000001.txt").read_bytes())
    make_image(tmp_path / "src" / "training" / "image_2" / "000001.png", (1242, 375))
    ds = vf.load(tmp_path / "src")
    assert ds.categories.names == ["Car", "DontCare", "Truck"]
    car = int(np.flatnonzero(ds.annotations.category_id == 1)[0])
    attrs = {k: v[car] for k, v in ds.annotations.attrs.items()}
    assert attrs == {"truncated": 0, "occluded": 3, "kitti.alpha": -1.65,
                     "kitti.dimensions": [1.86, 0.6, 2.02], "kitti.location": [4.59, 1.32, 45.84],
                     "kitti.rotation_y": -1.55}
    dontcare = ds.annotations.attr("kitti.location")[ds.annotations.category_id == 2]
    assert dontcare.tolist() == [None]
    before = tree_snapshot(tmp_path / "src" / "training")
    vf.write(ds, tmp_path / "out", "kitti")
    lines = (tmp_path / "out" / "training" / "label_2" / "000001.txt").read_text().splitlines()
    assert "Car 0 3 -1.65 650 160 700 200 1.86 0.6 2.02 4.59 1.32 45.84 -1.55" in lines
    assert "DontCare -1 -1 -10 500 170 590 190 -1 -1 -1 -1000 -1000 -1000 -10" in lines
    back = vf.load(tmp_path / "out")
    assert not ds.differences(back)
    assert tree_snapshot(tmp_path / "src" / "training") == before


def test_placeholder_image_too_small_for_its_boxes():
    root = shared_path("datumaro-assets", "kitti_dataset", "kitti_3d")
    with pytest.raises(vf.ValidationError, match=r"label_2/000001\.txt:1: box lies outside"):
        vf.load(root, "kitti")


def test_scores_names_with_spaces_and_negatives(tmp_path):
    make_image(tmp_path / "src" / "a.png", (64, 48))
    make_image(tmp_path / "src" / "b.png", (64, 48))
    ds = vf.Dataset(
        vf.Images.build(["a.png", "b.png"], [64, 64], [48, 48],
                        path=[str(tmp_path / "src" / "a.png"), str(tmp_path / "src" / "b.png")]),
        vf.Annotations.build([0, 0], [2, 1], [[1, 2, 10, 20], [3.5, 4, 5, 6]],
                             score=np.array([0.9, np.nan])),
        vf.Categories.from_names(["traffic sign", "Car"]))
    vf.write(ds, tmp_path / "out", "kitti")
    text = (tmp_path / "out" / "default" / "label_2" / "a.txt").read_text().splitlines()
    assert text[0] == "Car 0 0 -10 1 2 10 20 -1 -1 -1 -1000 -1000 -1000 -10 0.9"
    assert text[1].startswith("traffic_sign ") and len(text[1].split()) == 15
    assert (tmp_path / "out" / "default" / "label_2" / "b.txt").read_text() == ""
    back = vf.load(tmp_path / "out")
    assert back.categories.names == ["traffic sign", "Car"]
    assert back.images.splits() == [""] and len(back.images) == 2
    assert back.annotations.score[0] == 0.9 and np.isnan(back.annotations.score[1])
    assert registry.detect(tmp_path / "out").format == "kitti"


@pytest.mark.parametrize("text, error, match", [
    ("Car 0 0 -10 1 2 3\n", ParseError, r"000\.txt:1: expected 15 fields .*got 7"),
    (LINE + "Car 0 0 -10 1 2 x 4 -1 -1 -1 -1000 -1000 -1000 -10\n", ParseError,
     r"000\.txt:2: expected numbers after the type, got 'x'"),
    ("Car 0 0 -10 1 2 inf 4 -1 -1 -1 -1000 -1000 -1000 -10\n", ParseError,
     r"000\.txt:1: expected finite numbers"),
    ("Car 0 0 -10 10 2 3 4 -1 -1 -1 -1000 -1000 -1000 -10\n", vf.ValidationError,
     r"000\.txt:1: box has negative size"),
])
def test_bad_label_lines(tmp_path, text, error, match):
    make_image(tmp_path / "image_2" / "000.png", (64, 48))
    (tmp_path / "label_2").mkdir()
    (tmp_path / "label_2" / "000.txt").write_text(text)
    with pytest.raises(error, match=match):
        vf.load(tmp_path, "kitti")


def test_label_without_image(tmp_path):
    (tmp_path / "label_2").mkdir()
    (tmp_path / "label_2" / "000.txt").write_text(LINE)
    with pytest.raises(MissingImageError, match=r"000\.txt: image for '000.png' not found"):
        vf.load(tmp_path, "kitti")


def test_yolo_and_dota_lines_are_not_kitti(tmp_path):
    (tmp_path / "label_2").mkdir()
    (tmp_path / "label_2" / "a.txt").write_text("0 0.5 0.5 0.2 0.2\n")
    assert all(d.format != "kitti" for d in registry.candidates(tmp_path))
