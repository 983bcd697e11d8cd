"""The native schema version follows the newest column a file carries: 1.0 files stay
byte-identical, polylines make it 1.1, and a reader refuses a version newer than it knows."""

from __future__ import annotations

import json

import numpy as np
import pytest

import visionflow as vf
from visionflow.core.annotations import Polylines
from visionflow.formats import native


def _dataset(polylines: bool) -> vf.Dataset:
    images = vf.Images.build(["a.png"], [20], [10])
    cols = {}
    if polylines:
        cols["polylines"] = Polylines.from_lists([[np.array([[1, 1], [5, 2], [9, 8]])], []])
    ann = vf.Annotations.build([0, 0], [1, 1], [[1, 1, 9, 8], [2, 2, 4, 4]], **cols)
    return vf.Dataset(images, ann, vf.Categories.from_names(["a"]))


def _doc(ds: vf.Dataset) -> dict:
    return json.loads(native.dumps(ds))


def test_files_without_polylines_stay_at_1_0():
    doc = _doc(_dataset(polylines=False))
    assert doc["schema_version"] == "1.0"
    assert "polylines" not in doc["annotations"]


def test_polylines_make_the_file_1_1_and_round_trip(tmp_path):
    ds = _dataset(polylines=True)
    assert _doc(ds)["schema_version"] == "1.1"
    vf.write(ds, tmp_path / "n", "visionflow", images="none")
    assert ds.differences(vf.load(tmp_path / "n", "visionflow")) == []
    assert native.loads(native.dumps(ds)).differences(ds) == []


def test_dropping_polylines_goes_back_to_1_0_bytes():
    with_paths = _dataset(polylines=True)
    without = _dataset(polylines=False)
    stripped = vf.Dataset(with_paths.images, with_paths.annotations.replace(polylines=None),
                          with_paths.categories)
    assert native.dumps(stripped) == native.dumps(without)


@pytest.mark.parametrize("version", ["1.2", "1.10", "2.0"])
def test_refuses_a_newer_schema(tmp_path, version):
    vf.write(_dataset(polylines=True), tmp_path / "n", "visionflow", images="none")
    file = tmp_path / "n" / "visionflow.json"
    doc = json.loads(file.read_text())
    doc["schema_version"] = version
    file.write_text(json.dumps(doc))
    with pytest.raises(vf.ParseError, match=f"schema_version {version} .*written by a newer "
                       "visionflow.*upgrade") as err:
        vf.load(tmp_path / "n", "visionflow")
    assert "visionflow.json" in str(err.value) and "\n" not in str(err.value)
    with pytest.raises(vf.ParseError, match="written by a newer visionflow"):
        native.loads(json.dumps(doc).encode())


@pytest.mark.parametrize("version", ["0.9", "", "one", "1"])
def test_refuses_an_unknown_schema(version):
    doc = _doc(_dataset(polylines=False))
    doc["schema_version"] = version
    with pytest.raises(vf.ParseError, match="is not supported by this visionflow") as err:
        native.loads(json.dumps(doc).encode(), where="blob")
    assert "newer" not in str(err.value) and "blob" in str(err.value)


def test_reads_every_schema_it_knows():
    for version in ("1.0", "1.1"):
        doc = _doc(_dataset(polylines=False))
        doc["schema_version"] = version
        assert len(native.loads(json.dumps(doc).encode()).annotations) == 2
