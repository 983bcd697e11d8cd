"""VoTT CSV export: Datumaro's fixtures, splits, images without boxes, class order, detection
and bad input."""

from __future__ import annotations

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image, shared_path
from visionflow.core.report import Report

HEADER = '"image","xmin","ymin","xmax","ymax","label"\n'


@pytest.mark.shared
def test_datumaro_fixture_two_splits():
    src = shared_path("datumaro-assets", "vott_csv_dataset", "dataset")
    assert [d.format for d in vf.detect(src)] == ["vott-csv"]
    report = Report()
    ds = vf.load(src, errors="skip", report=report)
    assert ds.images.splits() == ["test", "train"]
    assert list(ds.images.file_name) == ["img0001.jpg", "img0002.jpg", "img0003.jpg",
                                         "img0004.jpg"]
    # only the one box inside its 5x5 image survives; the others are reported with file:line
    np.testing.assert_allclose(ds.annotations.xyxy, [[1, 2, 2, 4]])
    assert [f.where.rsplit("/", 1)[1] for f in report.errors] == [
        "test-export.csv:2", "test-export.csv:3", "train-export.csv:2", "train-export.csv:4"]


@pytest.mark.shared
def test_datumaro_meta_file_gives_class_order():
    src = shared_path("datumaro-assets", "vott_csv_dataset", "dataset_with_meta_file")
    ds = vf.load(src, "vott-csv", errors="skip")
    assert ds.categories.names == ["helmet", "person"]
    # one CSV alone in its folder: the other images there are images without boxes
    assert len(ds.images) == 4 and set(ds.images.split) == {"test"}


def test_round_trip_with_splits_and_negatives(tmp_path):
    src = tmp_path / "src"
    for n in ("a.jpg", "b.jpg", "c.jpg"):
        make_image(src / n, (64, 48))
    ds = vf.Dataset(vf.Images.build(["a.jpg", "b.jpg", "c.jpg"], [64] * 3, [48] * 3,
                                    split=["train", "train", "val"],
                                    path=[str(src / n) for n in ("a.jpg", "b.jpg", "c.jpg")]),
                    vf.Annotations.build([0, 2], [2, 1], [[1, 2, 3.5, 4], [5, 5, 9, 9]]),
                    vf.Categories.from_names(["z, \"q\"", "a"]))
    vf.write(ds, tmp_path / "out", "vott-csv")
    assert (tmp_path / "out" / "train" / "train-export.csv").read_text() == (
        HEADER + '"a.jpg",1,2,3.5,4,"a"\n')
    back = vf.load(tmp_path / "out")
    assert back.source_format == "vott-csv"
    assert not back.differences(ds)                   # b.jpg (no boxes) is still in train


BAD = [
    (HEADER + '"a.jpg",1,2,3\n', vf.ParseError, r"x\.csv:2: expected 6 fields"),
    (HEADER + '"a.jpg",1,two,3,4,"c"\n', vf.ParseError, (r"x\.csv:2: xmin\.\.ymax must be "
     r"numbers")),
    (HEADER + '"../a.jpg",1,2,3,4,"c"\n', vf.UnsafeInputError, (r"x\.csv:2: file name "
     r"'\.\./a\.jpg' points outside")),
    (HEADER + '"gone.jpg",1,2,3,4,"c"\n', vf.MissingImageError, (r"x\.csv:2: image file "
     r"'gone\.jpg' not found")),
    (HEADER + '"a.jpg",1,2,300,4,"c"\n', vf.ValidationError, r"x\.csv:2: box lies outside"),
]


@pytest.mark.parametrize("text,error,message", BAD, ids=range(len(BAD)))
def test_bad_input(tmp_path, text, error, message):
    make_image(tmp_path / "a.jpg")
    (tmp_path / "x.csv").write_text(text)
    with pytest.raises(error, match=message):
        vf.load(tmp_path / "x.csv", "vott-csv")


def test_other_csv_is_not_vott(tmp_path):
    (tmp_path / "x.csv").write_text("filename,width,height,class,xmin,ymin,xmax,ymax\n")
    assert "vott-csv" not in [d.format for d in vf.detect(tmp_path)]
    with pytest.raises(vf.FormatError, match="no VoTT CSV found"):
        vf.load(tmp_path, "vott-csv")
