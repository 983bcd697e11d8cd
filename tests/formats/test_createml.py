"""CreateML JSON: centre coordinates, Roboflow's layout, class order, detection against other
JSON formats, and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image, shared_path
from visionflow.core.report import Report


def createml(folder: Path, items: list, name: str = "_annotations.createml.json",
             images=("a.jpg",)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for im in images:
        make_image(folder / im, (64, 48))
    (folder / name).write_text(json.dumps(items))
    return folder / name


def box(label="cat", x=20, y=10, w=10, h=6) -> dict:
    return {"label": label, "coordinates": {"x": x, "y": y, "width": w, "height": h}}


def test_centre_coordinates_and_negatives(tmp_path):
    createml(tmp_path, [{"image": "a.jpg", "annotations": [box(), box("dog", 5.5, 4, 3, 2)]},
                        {"image": "b.jpg", "annotations": []}], images=("a.jpg", "b.jpg"))
    ds = vf.load(tmp_path)
    assert ds.source_format == "createml"
    np.testing.assert_allclose(ds.annotations.xyxy, [[15, 7, 25, 13], [4, 3, 7, 5]])
    assert list(ds.images.file_name) == ["a.jpg", "b.jpg"]          # b.jpg has no boxes
    assert (ds.images.width[0], ds.images.height[0]) == (64, 48)    # from the header
    assert ds.categories.names == ["cat", "dog"]


@pytest.mark.shared
def test_roboflow_createml_export(tmp_path):
    src = shared_path("datumaro-assets", "roboflow_dataset", "createml")
    found = vf.detect(src)
    assert found[0].format == "createml" and len(found) == 1
    # Datumaro's synthetic fixture reads x, y as the top-left corner (Datumaro's importer does);
    # CreateML's x, y are the centre, so its second box starts left of the image.
    report = Report()
    ds = vf.load(src, errors="skip", report=report)
    assert ds.images.splits() == ["train", "val"] and len(ds.images) == 3
    np.testing.assert_allclose(ds.annotations.xyxy[0], [0.5, 0.5, 3.5, 1.5])
    assert [f.where for f in report.errors] == [
        f"{src / 'train' / '_annotations.createml.json'}: [1] (train_002.jpg): annotations[0]",
        f"{src / 'val' / '_annotations.createml.json'}: [0] (val_001.jpg): annotations[1]"]
    vf.write(ds, tmp_path / "a", "createml")
    back = vf.load(tmp_path / "a")
    assert back.differences(ds) == ["annotations.id"]      # CreateML has no ids: 1..n again
    assert len(back.annotations) == len(ds.annotations) == 2


def test_write_layout_and_class_order(tmp_path):
    make_image(tmp_path / "src" / "a.jpg", (64, 48))
    make_image(tmp_path / "src" / "b.jpg", (64, 48))
    ds = vf.Dataset(vf.Images.build(["a.jpg", "b.jpg"], [64, 64], [48, 48],
                                    split=["train", "val"],
                                    path=[str(tmp_path / "src" / n) for n in ("a.jpg", "b.jpg")]),
                    vf.Annotations.build([0], [2], [[1.25, 2, 11.25, 12]]),
                    vf.Categories.from_names(["zebra", "ant", "unused"]))
    vf.write(ds, tmp_path / "out", "createml")
    doc = json.loads((tmp_path / "out" / "train" / "_annotations.createml.json").read_text())
    assert doc == [{"image": "a.jpg", "annotations": [{"label": "ant", "coordinates": {
        "x": 6.25, "y": 7, "width": 10, "height": 10}}]}]
    assert (tmp_path / "out" / "val" / "b.jpg").is_file()
    back = vf.load(tmp_path / "out")
    assert back.categories.names == ["zebra", "ant", "unused"]


@pytest.mark.parametrize("kind", ["coco", "labelme", "vott", "label-studio"])
def test_other_json_is_not_createml(tmp_path, kind):
    docs = {
        "coco": {"images": [], "annotations": [], "categories": []},
        "labelme": {"shapes": [], "imagePath": "a.jpg"},
        "vott": {"assets": {"x": {"asset": {"name": "a.jpg"}, "regions": []}}},
        "label-studio": [{"data": {"image": "a.jpg"}, "annotations": []}],
    }
    (tmp_path / "x.json").write_text(json.dumps(docs[kind]))
    assert "createml" not in [d.format for d in vf.detect(tmp_path / "x.json")]


BAD = [
    ("[{", vf.ParseError, r"x\.json:1:\d+: malformed JSON"),
    ('{"image": "a.jpg"}', vf.ParseError, r"x\.json: expected a JSON list"),
    ('[{"annotations": []}]', vf.ParseError, (r"x\.json: \[0\]: expected an object with an "
     r"'image'")),
    (json.dumps([{"image": "a.jpg", "annotations": [{"label": "c", "coordinates": {"x": 1}}]}]),
     vf.ParseError, r"x\.json: \[0\] \(a\.jpg\): annotations\[0\]: coordinates must be"),
    (json.dumps([{"image": "/etc/passwd", "annotations": []}]), vf.UnsafeInputError,
     r"x\.json: \[0\]: file name '/etc/passwd' is an absolute path"),
    (json.dumps([{"image": "gone.jpg", "annotations": []}]), vf.MissingImageError,
     r"x\.json: \[0\] \(gone\.jpg\): image file 'gone\.jpg' not found"),
    (json.dumps([{"image": "a.jpg", "annotations": [box(x=100)]}]), vf.ValidationError,
     r"x\.json: \[0\] \(a\.jpg\): annotations\[0\]: box lies outside the image"),
]


@pytest.mark.parametrize("text,error,message", BAD, ids=range(len(BAD)))
def test_bad_input(tmp_path, text, error, message):
    make_image(tmp_path / "a.jpg")
    (tmp_path / "x.json").write_text(text)
    with pytest.raises(error, match=message):
        vf.load(tmp_path / "x.json", "createml")
