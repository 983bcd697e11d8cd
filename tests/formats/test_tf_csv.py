"""TensorFlow Object Detection CSV on raccoon's and BCCD's real files, and bad input."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest

import visionflow as vf
from visionflow.core.errors import MissingImageError, ParseError, UnsafeInputError
from visionflow.formats import registry

from ..conftest import make_image, shared_path, tree_snapshot


def _rows(path: Path) -> list[dict]:
    return list(csv.DictReader(open(path, encoding="utf-8")))


def test_raccoon_split_files_with_label_map_and_images():
    data = shared_path("raccoon", "data")
    ds = vf.load(data, "tf-csv")
    assert ds.images.splits() == ["train", "test"]  # raccoon_labels.csv (the union) skipped
    assert (len(ds.images), len(ds.annotations)) == (200, 217)
    assert ds.categories.ids == [1] and ds.categories.names == ["raccoon"]  # training/*.pbtxt
    assert all(Path(p).is_file() for p in ds.images.path)
    test = ds.split("test")
    rows = _rows(data / "test_labels.csv")
    assert len(test.annotations) == len(rows)
    first = rows[0]
    i = list(test.images.file_name).index(first["filename"])
    assert test.annotations_of(i).xyxy[0].tolist() == [
        float(first[k]) for k in ("xmin", "ymin", "xmax", "ymax")]
    # The same boxes as the TFRecord made from this CSV.
    rec = vf.load(data / "test.record")
    key = lambda d: sorted((d.images.file_name[r], *b) for r, b in
                           zip(d.annotations.image_index, d.annotations.xyxy.tolist()))
    assert key(test) == key(rec)


def test_raccoon_union_file_is_unsplit():
    ds = vf.load(shared_path("raccoon", "data", "raccoon_labels.csv"))
    assert ds.source_format == "tf-csv" and ds.images.splits() == [""]
    assert len(ds.annotations) == 217


def test_bccd_other_header_and_a_real_zero_size_box():
    csv_path = shared_path("bccd", "test.csv")
    with pytest.raises(vf.ValidationError, match=r"test\.csv:3952: box has zero size"):
        vf.load(csv_path, "tf-csv")
    report = vf.Report()
    ds = vf.load(csv_path, "tf-csv", errors="skip", report=report)
    assert [f.where.rsplit(':', 1)[1] for f in report.errors] == ['3952', '4006']
    assert len(ds.annotations) == 4886
    assert ds.categories.names == ["Platelets", "RBC", "WBC"]
    # filename,cell_type,xmin,xmax,ymin,ymax: columns by name, not position
    assert ds.annotations.xyxy[0].tolist() == [260, 177, 491, 376]
    assert ds.images.path[0].endswith("BCCD/JPEGImages/BloodImage_00000.jpg")
    assert ds.images.width[0] == 640  # from the JPEG header: the CSV has no size


def test_write_read_with_negatives_and_splits(tmp_path):
    src = shared_path("raccoon")
    before = tree_snapshot(src / "data")
    ds = vf.load(src / "data", "tf-csv")
    ds = ds.select_images(np.arange(6))
    ann = ds.annotations[ds.annotations.image_index != 2]
    ds = ds.replace(annotations=ann.replace(id=np.arange(1, len(ann) + 1)))
    vf.write(ds, tmp_path / "out", "tf-csv")
    lines = (tmp_path / "out" / "train" / "_annotations.csv").read_text().splitlines()
    assert lines[0] == "filename,width,height,class,xmin,ymin,xmax,ymax"
    assert any(line.endswith(",,,,,") for line in lines)  # the negative image
    assert (tmp_path / "out" / "train" / ds.images.file_name[0]).is_file()
    assert registry.detect(tmp_path / "out").format == "tf-csv"
    back = vf.load(tmp_path / "out")
    assert not ds.differences(back)
    assert tree_snapshot(src / "data") == before


def test_label_map_gives_ids_and_order(tmp_path):
    make_image(tmp_path / "a.jpg", (20, 10))
    (tmp_path / "labels.csv").write_text("filename,width,height,class,xmin,ymin,xmax,ymax\n"
                                         "a.jpg,20,10,cat,1,1,5,5\na.jpg,20,10,emu,2,2,4,4\n")
    (tmp_path / "label_map.pbtxt").write_text("item { id: 7 name: 'dog' }\n"
                                              "item { id: 3 name: 'cat' }\n")
    ds = vf.load(tmp_path)
    assert [(c.id, c.name) for c in ds.categories] == [(7, "dog"), (3, "cat"), (8, "emu")]
    assert ds.annotations.category_id.tolist() == [3, 8]


def test_vott_csv_is_not_tf_csv():
    path = shared_path("datumaro-assets", "vott_csv_dataset", "dataset")
    assert all(d.format != "tf-csv" for d in registry.candidates(path))


HEADER = "filename,width,height,class,xmin,ymin,xmax,ymax\n"


@pytest.mark.parametrize("text, error, match", [
    ("filename,class,x,y\na.jpg,cat,1,2\n", ParseError, r"labels\.csv:1: header .* lacks"),
    (HEADER + "a.jpg,20,10,cat,1,1,5\n", ParseError, r"labels\.csv:2: expected 8 fields, got 7"),
    (HEADER + "a.jpg,20,10,cat,1,1,5,5\na.jpg,20,10,cat,1,x,5,5\n", ParseError,
     r"labels\.csv:3: column ymin: expected a number, got 'x'"),
    (HEADER + "a.jpg,20,10,cat,1,1,nan,5\n", ParseError, r":2: column xmax: expected a finite"),
    (HEADER + "a.jpg,2.5,10,cat,1,1,2,5\n", ParseError, r":2: column width: expected an integer"),
    (HEADER + "a.jpg,20,10,,1,1,5,5\n", ParseError, r":2: empty class for a box"),
    (HEADER + "a.jpg,20,10,cat,1,1,5,5\na.jpg,30,10,cat,1,1,5,5\n", ParseError,
     r":3: a.jpg is 30x10 here but 20x10 at .*labels\.csv:2"),
    (HEADER + "../../x.jpg,20,10,cat,1,1,5,5\n", UnsafeInputError, r":2: .*outside the dataset"),
    (HEADER + "a.jpg,20,10,cat,1,1,25,5\n", vf.ValidationError, r":2: box lies outside"),
    ("filename,class,xmin,ymin,xmax,ymax\nnothere.jpg,cat,1,1,2,2\n", MissingImageError,
     r"labels\.csv:2: no width/height columns and image file 'nothere.jpg' not found"),
])
def test_bad_input(tmp_path, text, error, match):
    (tmp_path / "labels.csv").write_text(text)
    with pytest.raises(error, match=match):
        vf.load(tmp_path / "labels.csv", "tf-csv")
