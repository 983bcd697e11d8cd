"""Classification CSV (multi-class, multi-label lists, one-hot) and its text variant."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image, shared_path

KAGGLE = ("datumaro-assets", "kaggle_dataset")


@pytest.mark.shared
@pytest.mark.parametrize("rel", ["image_csv/ann.csv", "image_csv/ann_wo_ext.csv",
                                 "image_txt/ann.txt", "image_txt/ann_wo_ext.txt"])
def test_kaggle_multi_class(rel):
    src = shared_path(*KAGGLE, *rel.split("/"))
    ds = vf.load(src, "cls-csv")
    assert ds.images.file_name.tolist() == ["1.jpg", "2.jpg", "3.jpg", "4.jpg", "5.jpg"]
    assert ds.categories.names == ["cat", "dog"]
    names = [ds.categories.by_id(int(c)).name for c in ds.annotations.category_id]
    assert names == ["dog", "cat", "dog", "cat", "cat"]
    assert ds.annotations.is_label.all() and ds.images.path[0].endswith("images/1.jpg")
    if rel.endswith(".csv") or rel == "image_txt/ann.txt":
        assert vf.detect(src)[0].format == "cls-csv"


@pytest.mark.shared
@pytest.mark.parametrize("rel", ["ann.csv", "ann_wo_ext.csv"])
def test_kaggle_one_hot(rel):
    ds = vf.load(shared_path(*KAGGLE, "image_csv_multi_label", rel))
    assert ds.categories.names == ["dog", "cat", "person"]  # column order
    by_image = {}
    for i, c in zip(ds.annotations.image_index, ds.annotations.category_id):
        by_image.setdefault(ds.images.file_name[i], []).append(ds.categories.by_id(int(c)).name)
    assert by_image == {"1.jpg": ["dog"], "2.jpg": ["cat"], "3.jpg": ["person"],
                        "4.jpg": ["dog", "cat"], "5.jpg": ["dog", "person"],
                        "6.jpg": ["cat", "person"]}


@pytest.mark.shared
def test_detection_csv_is_not_classification():
    src = shared_path(*KAGGLE, "image_csv_det", "ann.csv")
    assert all(d.format != "cls-csv" for d in vf.detect(src))
    with pytest.raises(vf.ParseError, match=r"ann.csv:1: header .* has box columns"):
        vf.load(src, "cls-csv")


def _multi(tmp: Path) -> vf.Dataset:
    paths = [str(make_image(tmp / "src" / f"{n}.jpg")) for n in ("a", "b", "c")]
    nan = [np.nan] * 4
    return vf.Dataset(vf.Images.build(["a.jpg", "b.jpg", "c.jpg"], [64] * 3, [48] * 3,
                                      split=["train", "train", "val"], path=paths),
                      vf.Annotations.build([0, 0, 1], [2, 1, 2], [nan] * 3),
                      vf.Categories.from_names(["zebra", "ant"]))


@pytest.mark.parametrize("style, header, row_a", [
    ("auto", "filename,labels", "a.jpg,ant;zebra"),
    ("onehot", "filename,zebra,ant", "a.jpg,1,1"),
])
def test_multi_label_round_trip(tmp_path, style, header, row_a):
    ds = _multi(tmp_path)
    vf.write(ds, tmp_path / "out", "cls-csv", style=style)
    lines = (tmp_path / "out" / "train.csv").read_text().splitlines()
    assert lines[0] == header and lines[1] == row_a
    assert (tmp_path / "out" / "images" / "val" / "c.jpg").is_file()
    assert (tmp_path / "out" / "classes.txt").read_text() == "zebra\nant\n"
    back = vf.load(tmp_path / "out")
    assert back.categories == ds.categories
    assert back.images.split.tolist() == ["train", "train", "val"]
    assert back.images.file_name.tolist() == ["a.jpg", "b.jpg", "c.jpg"]
    pairs = sorted(zip(back.annotations.image_index.tolist(), back.annotations.category_id.tolist()))
    assert pairs == [(0, 1), (0, 2), (1, 2)]  # c.jpg is a negative, kept
    assert vf.detect(tmp_path / "out")[0].format == "cls-csv"


def test_style_label_refuses_multi_label(tmp_path):
    with pytest.raises(vf.OutputError, match="several labels"):
        vf.write(_multi(tmp_path), tmp_path / "out", "cls-csv", style="label")


def _csv(tmp: Path, text: str) -> Path:
    make_image(tmp / "images" / "a.jpg")
    (tmp / "labels.csv").write_text(text)
    return tmp / "labels.csv"


@pytest.mark.parametrize("text, error, problem", [
    ("filename,label\na.jpg,cat,extra\n", vf.ParseError, "labels.csv:2: expected 2 columns"),
    ("filename,label\n,cat\n", vf.ParseError, "labels.csv:2: empty image name"),
    ("filename,cat,dog\na.jpg,1,2\n", vf.ParseError, "labels.csv:2: one-hot columns must hold"),
    ("filename\na.jpg\n", vf.ParseError, "labels.csv:1: expected an image column"),
    ("filename,label\nmissing.jpg,cat\n", vf.MissingImageError,
     "labels.csv:2: image 'missing.jpg' not found"),
    ("filename,label\n../a.jpg,cat\n", vf.UnsafeInputError, "labels.csv:2: file name '../a.jpg'"),
    ("filename,label\n/etc/hosts,cat\n", vf.UnsafeInputError, "is an absolute path"),
])
def test_bad_input(tmp_path, text, error, problem):
    src = _csv(tmp_path, text)
    with pytest.raises(error) as e:
        vf.load(src, "cls-csv")
    assert problem in str(e.value)


def test_skip_errors_keeps_good_rows(tmp_path):
    src = _csv(tmp_path, "filename,label\na.jpg,cat\nb.jpg,dog,x\n")
    report = vf.Report()
    ds = vf.load(src, "cls-csv", errors="skip", report=report)
    assert len(ds.images) == 1 and report.errors[0].where.endswith("labels.csv:3")
