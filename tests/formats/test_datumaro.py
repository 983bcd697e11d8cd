"""Datumaro's own JSON format."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image, shared_path
from visionflow.core.geometry import mask_to_rle, rle_to_mask


@pytest.mark.shared
def test_legacy_fixture():
    src = shared_path("datumaro-assets", "datumaro_dataset", "legacy")
    assert vf.detect(src)[0].format == "datumaro"
    report = vf.Report()
    ds = vf.load(src, report=report)
    assert ds.categories.names == ["car", "bicycle", "tom", "mary"]
    assert ds.images.file_name.tolist() == ["c.jpg", "a.jpg", "b.jpg", "d.jpg"]
    assert ds.images.split.tolist() == ["test", "train", "train", "validation"]
    assert ds.images.path[1].endswith("images/train/a.jpg")
    assert ds.annotations.is_label.all()
    assert ds.annotations.category_id.tolist() == [2, 4, 1, 1, 2, 3, 4]
    assert ds.annotations.attr("score").tolist()[:3] == [1.0, 1.0, 1.0]
    assert "datumaro.annotation_ids" in report.codes()  # ids 0, 0 in one subset


def _ds(tmp: Path) -> vf.Dataset:
    a = make_image(tmp / "src" / "a.jpg", (20, 10))
    mask = np.zeros((10, 20), bool)
    mask[2:5, 3:9] = True
    rle = np.empty(4, object)
    rle[:] = [None, None, mask_to_rle(mask), None]
    rings = [[], [np.array([[1, 1], [5, 1], [5, 5]]), np.array([[10, 1], [12, 1], [12, 4]])],
             [], []]
    kps = np.full((4, 2, 3), np.nan)
    kps[3] = [[2, 3, 2], [0, 0, 0]]
    occluded = np.array([1, None, None, 0], object)
    return vf.Dataset(
        vf.Images.build(["a.jpg"], [20], [10], split="train", path=[str(a)]),
        vf.Annotations.build([0] * 4, [1, 2, 1, 2], [[1, 2, 4, 6], [1, 1, 12, 5], [3, 2, 9, 5],
                                                     [1, 1, 6, 6]], id=[5, 6, 7, 8],
                             polygons=vf.Polygons.from_lists(rings), rle=rle, keypoints=kps,
                             attrs={"occluded": occluded}),
        vf.Categories.from_names(["cat", "dog"]))


def test_round_trip_all_geometries(tmp_path):
    ds = _ds(tmp_path)
    report = vf.write(ds, tmp_path / "out", "datumaro")
    assert not [f for f in report if f.code.startswith("loss.")]
    doc = json.loads((tmp_path / "out" / "annotations" / "train.json").read_text())
    types = [a["type"] for a in doc["items"][0]["annotations"]]
    assert types == ["bbox", "polygon", "polygon", "mask", "bbox", "points"]
    assert doc["items"][0]["image"] == {"path": "a.jpg", "size": [10, 20]}
    assert vf.detect(tmp_path / "out")[0].format == "datumaro"
    back = vf.load(tmp_path / "out")
    diff = back.annotations.replace(attrs={"occluded": back.annotations.attr("occluded")})
    assert not diff.differences(ds.annotations)
    assert back.annotations.attr("datumaro.group").tolist() == [None, 1, None, 2]


@pytest.mark.parametrize("mutate, problem", [
    (lambda d: d["items"][0]["annotations"][0].update(type="cuboid"),
     "item 0 ('a') annotation 0: expected an annotation of type"),
    (lambda d: d["items"][0]["annotations"][0].update(label_id=9),
     "annotation 0: label_id 9 is not an index into the 2 labels"),
    (lambda d: d["items"][0]["annotations"][0].update(bbox=[1, 2, 3]),
     "annotation 0: bbox must be 4 numbers"),
    (lambda d: d["items"][0]["annotations"][1].update(points=[1, 1, 5]),
     "annotation 1: polygon needs an even number >= 6"),
    (lambda d: d["items"][0]["image"].update(path="../../x.jpg"),
     "item 0 ('a'): file name '../../x.jpg' points outside"),
    (lambda d: d.pop("items"), "expected {\"categories\""),
])
def test_bad_input(tmp_path, mutate, problem):
    vf.write(_ds(tmp_path), tmp_path / "out", "datumaro")
    file = tmp_path / "out" / "annotations" / "train.json"
    doc = json.loads(file.read_text())
    mutate(doc)
    file.write_text(json.dumps(doc))
    with pytest.raises(vf.Error) as e:
        vf.load(tmp_path / "out", "datumaro")
    assert str(file) in str(e.value) and problem in str(e.value)


def test_invalid_json(tmp_path):
    (tmp_path / "annotations").mkdir()
    (tmp_path / "annotations" / "train.json").write_text('{"items": [')
    with pytest.raises(vf.ParseError, match=r"train.json: invalid JSON"):
        vf.load(tmp_path, "datumaro")


@pytest.mark.interop
def test_datumaro_reads_our_export_and_we_read_theirs(tmp_path):
    dm = pytest.importorskip("datumaro")
    ds = _ds(tmp_path)
    vf.write(ds, tmp_path / "out", "datumaro")
    theirs = dm.Dataset.import_from(str(tmp_path / "out"), "datumaro")
    items = list(theirs)
    assert [(i.id, i.subset) for i in items] == [("a", "train")]
    anns = items[0].annotations
    boxes = [a for a in anns if a.type == dm.AnnotationType.bbox]
    assert [list(b.get_bbox()) for b in boxes] == [[1, 2, 3, 4], [1, 1, 5, 5]]
    masks = [a for a in anns if a.type == dm.AnnotationType.mask]
    np.testing.assert_array_equal(masks[0].image.astype(bool), rle_to_mask(ds.annotations.rle[2]))
    # Datumaro writes what we read back unchanged.
    theirs.export(str(tmp_path / "theirs"), "datumaro", save_media=True)
    back = vf.load(tmp_path / "theirs", "datumaro")
    assert not back.annotations.differences(vf.load(tmp_path / "out").annotations, atol=1e-6)
