"""VoTT JSON export: Datumaro's fixtures, multi-tag regions, polygons, tags order, writer
layout, detection and bad input."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image, shared_path
from visionflow.core.report import Report


def region(tags=("dog",), box=(10, 20, 30, 16), kind="RECTANGLE", points=None, id="r1"):
    left, top, w, h = box
    return {"id": id, "type": kind, "tags": list(tags),
            "boundingBox": {"left": left, "top": top, "width": w, "height": h},
            "points": points or [{"x": left, "y": top}]}


def vott(folder: Path, regions: list, name="train-export.json", tags=("dog", "cat"),
         size=(64, 48)) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    make_image(folder / "a.jpg", size)
    doc = {"name": "p", "tags": [{"name": t, "color": "#000000"} for t in tags],
           "assets": {"id1": {"asset": {"id": "id1", "name": "a.jpg", "path": "file:C:/x/a.jpg",
                                        "size": {"width": size[0], "height": size[1]}},
                              "regions": regions}}}
    (folder / name).write_text(json.dumps(doc))
    return folder / name


@pytest.mark.shared
@pytest.mark.parametrize("variant", ["dataset", "dataset_with_meta_file"])
def test_datumaro_fixtures(variant):
    # The fixture's 5x5 images are smaller than its boxes: every box is reported, none kept.
    src = shared_path("datumaro-assets", "vott_json_dataset", variant)
    found = vf.detect(src)
    assert [d.format for d in found] == ["vott-json"]
    report = Report()
    ds = vf.load(src, errors="skip", report=report)
    assert list(ds.images.file_name) == ["img0001.jpg", "img0002.jpg", "img0003.jpg"]
    assert set(ds.images.split) == {"train"}
    assert ds.categories.names == ["animal", "dog", "person"]
    assert all("box lies outside the image" in f.message for f in report.errors)
    assert "vott.skipped" in report.codes()                 # the region without tags


def test_regions_tags_polygons_round_trip(tmp_path):
    poly = [{"x": 1, "y": 1}, {"x": 20, "y": 2}, {"x": 5, "y": 30}]
    vott(tmp_path / "src", [region(("dog", "cat")),
                            region(("cat",), (0, 0, 0, 0), "POLYGON", poly, "r2")])
    ds = vf.load(tmp_path / "src")
    assert ds.source_format == "vott-json"
    ann = ds.annotations
    assert ds.categories.names == ["dog", "cat"]
    assert ann.category_id.tolist() == [1, 2, 2]               # one row per tag
    np.testing.assert_allclose(ann.xyxy, [[10, 20, 40, 36], [10, 20, 40, 36], [1, 1, 20, 30]])
    assert ann.polygons.counts().tolist() == [0, 0, 1]
    assert ann.attrs["vott.id"].tolist() == ["r1", "r1", "r2"]
    assert list(ds.images.split) == ["train"]
    vf.write(ds, tmp_path / "out", "vott-json")
    doc = json.loads((tmp_path / "out" / "train-export.json").read_text())
    regions = doc["assets"]["id1"]["regions"]
    assert [r["tags"] for r in regions] == [["dog", "cat"], ["cat"]]   # joined again
    assert regions[1]["type"] == "POLYGON"
    back = vf.load(tmp_path / "out")
    assert not back.differences(ds)


BAD = [
    ("{", vf.ParseError, r"train-export\.json:1:\d+: malformed JSON"),
    ("[]", vf.ParseError, r"train-export\.json: expected a JSON object with an 'assets'"),
    (json.dumps({"assets": {"k": {"regions": []}}}), vf.ParseError,
     r"train-export\.json: assets\['k'\]: expected"),
    (json.dumps({"assets": {"k": {"asset": {"name": "a.jpg"}, "regions": [
        {"type": "RECTANGLE", "tags": ["x"], "boundingBox": {"left": 1}}]}}}),
     vf.ParseError, r"assets\['k'\] \(a\.jpg\): regions\[0\]: boundingBox must have numbers"),
    (json.dumps({"assets": {"k": {"asset": {"name": "../a.jpg"}, "regions": []}}}),
     vf.UnsafeInputError, r"assets\['k'\]: file name '\.\./a\.jpg' points outside"),
    (json.dumps({"assets": {"k": {"asset": {"name": "b.jpg"}, "regions": []}}}),
     vf.ParseError, r"assets\['k'\] \(b\.jpg\): asset has no size"),
]


@pytest.mark.parametrize("text,error,message", BAD, ids=range(len(BAD)))
def test_bad_input(tmp_path, text, error, message):
    make_image(tmp_path / "a.jpg")
    (tmp_path / "train-export.json").write_text(text)
    with pytest.raises(error, match=message):
        vf.load(tmp_path / "train-export.json", "vott-json")
