"""Polylines in Datumaro's JSON format: its own "polyline" annotation type, one open path per
annotation, the paths of one object tied by a group; checked against the real datumaro library."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import visionflow as vf
from tests.conftest import make_image
from visionflow.core.annotations import Polylines
from visionflow.core.geometry import pad_degenerate, points_bounds
from visionflow.formats import registry


def _paths(ds: vf.Dataset) -> list[list[list[list[float]]]]:
    p = ds.annotations.polylines
    return [] if p is None else [[r.tolist() for r in p.rings(i)] for i in range(len(p))]


def _ds(tmp: Path) -> vf.Dataset:
    a = make_image(tmp / "src" / "a.jpg", (40, 30))
    paths = [[np.array([[1, 1], [10, 5], [20, 2]])],
             [np.array([[2, 20], [8, 25]]), np.array([[30, 3], [35, 9], [38, 4]])],
             []]
    return vf.Dataset(
        vf.Images.build(["a.jpg"], [40], [30], split="train", path=[str(a)]),
        vf.Annotations.build([0, 0, 0], [1, 2, 1], [[1, 1, 20, 5], [2, 3, 38, 25], [5, 5, 9, 9]],
                             id=[4, 5, 6], polylines=Polylines.from_lists(paths)),
        vf.Categories.from_names(["road", "lane"]))


def test_polylines_round_trip_as_datumaro_polylines(tmp_path):
    ds = _ds(tmp_path)
    report = vf.write(ds, tmp_path / "out", "datumaro")
    assert not [f for f in report if f.code.startswith("loss.")]
    doc = json.loads((tmp_path / "out" / "annotations" / "train.json").read_text())
    anns = doc["items"][0]["annotations"]
    assert [a["type"] for a in anns] == ["polyline", "polyline", "polyline", "bbox"]
    assert anns[0]["points"] == [1, 1, 10, 5, 20, 2] and anns[0]["group"] == 0
    assert anns[1]["group"] == anns[2]["group"] != 0 and anns[1]["id"] == anns[2]["id"] == 5
    back = vf.load(tmp_path / "out", "datumaro")
    assert _paths(back) == _paths(ds)
    np.testing.assert_allclose(back.annotations.xyxy, ds.annotations.xyxy)
    assert "polylines" in registry.get("datumaro").supports


def test_an_object_with_a_polygon_and_a_polyline_keeps_the_polygon(tmp_path):
    ring = np.array([[1, 1], [9, 1], [9, 9]])
    ds = vf.Dataset(vf.Images.build(["a.jpg"], [20], [20]),
                    vf.Annotations.build([0], [1], [[1, 1, 9, 9]],
                                         polygons=vf.Polygons.from_lists([[ring]]),
                                         polylines=Polylines.from_lists([[ring[:2]]])),
                    vf.Categories.from_names(["x"]))
    report = vf.write(ds, tmp_path / "out", "datumaro", images="none")
    assert [f.count for f in report if f.code == "loss.datumaro.secondary_geometry"] == [1]
    back = vf.load(tmp_path / "out", "datumaro", report=vf.Report())
    assert back.annotations.polylines is None
    assert [r.tolist() for r in back.annotations.polygons.rings(0)] == [ring.tolist()]


@pytest.mark.parametrize("points, problem", [
    ([1, 1], "polyline needs an even number >= 4 of coordinates, got 2"),
    ([1, 1, 5], "polyline needs an even number >= 4 of coordinates, got 3"),
    ([1, "a", 3, 4], "points must be a list of numbers"),
])
def test_bad_polyline(tmp_path, points, problem):
    vf.write(_ds(tmp_path), tmp_path / "out", "datumaro")
    file = tmp_path / "out" / "annotations" / "train.json"
    doc = json.loads(file.read_text())
    doc["items"][0]["annotations"][0]["points"] = points
    file.write_text(json.dumps(doc))
    with pytest.raises(vf.ParseError) as e:
        vf.load(tmp_path / "out", "datumaro")
    assert f"{file}: item 0 ('a') annotation 0: {problem}" in str(e.value)


_c = st.integers(0, 6000).map(lambda v: v / 100)


@st.composite
def _polyline_dataset(draw) -> vf.Dataset:
    n_img = draw(st.integers(1, 3))
    rows, paths, boxes = [], [], []
    for i in range(n_img):
        for _ in range(draw(st.integers(0, 3))):
            obj = [np.array([[draw(_c), draw(_c)] for _ in range(draw(st.integers(2, 5)))])
                   for _ in range(draw(st.integers(1, 3)))]
            rows.append(i)
            paths.append(obj)
            boxes.append(pad_degenerate(points_bounds(np.concatenate(obj)))[0])
    n = len(rows)
    ann = vf.Annotations.build(rows, np.ones(n, np.int64), np.array(boxes).reshape(n, 4),
                               polylines=Polylines.from_lists(paths) if n else None)
    images = vf.Images.build([f"{i}.jpg" for i in range(n_img)], [64] * n_img, [64] * n_img)
    return vf.Dataset(images, ann, vf.Categories.from_names(["road"]))


@settings(max_examples=30, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(_polyline_dataset())
def test_datumaro_carries_any_polyline(tmp_path_factory, ds):
    out = tmp_path_factory.mktemp("dm") / "o"
    vf.write(ds, out, "datumaro", images="none")
    back = vf.load(out, "datumaro", report=vf.Report())
    assert _paths(back) == _paths(ds)
    np.testing.assert_allclose(back.annotations.xyxy, ds.annotations.xyxy)


@pytest.mark.interop
def test_datumaro_reads_our_polylines_and_we_read_theirs(tmp_path):
    dm = pytest.importorskip("datumaro")
    ds = _ds(tmp_path)
    vf.write(ds, tmp_path / "out", "datumaro")
    theirs = dm.Dataset.import_from(str(tmp_path / "out"), "datumaro")
    anns = list(theirs)[0].annotations
    lines = [a for a in anns if a.type == dm.AnnotationType.polyline]
    assert [(a.id, a.label, list(a.points)) for a in lines] == [
        (4, 0, [1, 1, 10, 5, 20, 2]), (5, 1, [2, 20, 8, 25]), (5, 1, [30, 3, 35, 9, 38, 4])]
    assert lines[1].group == lines[2].group != 0

    # A polyline made by Datumaro itself, exported by Datumaro, read by us.
    item = dm.DatasetItem(id="b", subset="val", media=dm.Image.from_numpy(
        np.zeros((30, 40, 3), np.uint8)), annotations=[
        dm.PolyLine([3, 4, 10, 12, 25, 6], label=1, id=7),
        dm.Bbox(1, 2, 3, 4, label=0, id=8)])
    made = dm.Dataset.from_iterable([item], categories=["road", "lane"])
    made.export(str(tmp_path / "theirs"), "datumaro", save_media=True)
    back = vf.load(tmp_path / "theirs", "datumaro", report=vf.Report())
    assert _paths(back) == [[[[3, 4], [10, 12], [25, 6]]], []]
    assert back.annotations.xyxy.tolist() == [[3, 4, 25, 12], [1, 2, 4, 6]]
    assert back.categories.names == ["road", "lane"]
    assert back.annotations.category_id.tolist() == [2, 1]

    # Datumaro writes what we read back unchanged.
    theirs.export(str(tmp_path / "again"), "datumaro", save_media=True)
    again = vf.load(tmp_path / "again", "datumaro")
    assert not again.annotations.differences(vf.load(tmp_path / "out").annotations, atol=1e-6)
