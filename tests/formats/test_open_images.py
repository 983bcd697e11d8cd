"""Open Images CSV on Datumaro's V5/V6 fixtures, our own files, and bad input."""

from __future__ import annotations

import math
import os
import re
import shutil

import numpy as np
import orjson
import pytest

import visionflow as vf
from visionflow.core.errors import (
    MissingImageError,
    OutputError,
    ParseError,
    UnsafeInputError,
    ValidationError,
)
from visionflow.formats import open_images, registry

from ..conftest import make_image, shared_path, tree_snapshot

BOX_HEADER = ",".join(open_images.BOX_FIELDS)
NAN = [math.nan] * 4


def _files(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_datumaro_v6_fixture():
    root = shared_path("datumaro-assets", "open_images_dataset", "v6")
    ds = vf.load(root)
    assert ds.source_format == "open-images"
    assert ds.categories.names == [f"Generic label #{k}" for k in range(4)]
    assert ds.meta["open-images"]["label_names"] == {"1": "/m/0", "2": "/m/1", "3": "/m/2",
                                                     "4": "/m/3"}
    # bbox_labels_600_hierarchy.json: /m/1 under /m/0; /m/0's parent /m/x is not a class.
    assert [c.supercategory for c in ds.categories] == [None, "Generic label #0", None, None]
    assert ds.images.file_name.tolist() == ["a.jpg", "b.jpg", "d.png", "c.jpg"]
    assert ds.images.split.tolist() == ["train", "train", "val", "test"]
    # b's size comes from images.meta ("b 2 8": height, width), the others from headers.
    assert ds.images.width.tolist() == [6, 8, 5, 5]
    assert ds.images.height.tolist() == [8, 2, 1, 10]
    ann = ds.annotations
    assert ann.image_index.tolist() == [0, 1, 1, 3, 3, 3]
    assert ann.category_id.tolist() == [1, 1, 1, 2, 4, 4]
    assert np.allclose(ann.xyxy, [NAN, NAN, [1.6, 0.6, 8, 1], NAN, NAN, [3.5, 0, 4, 5]],
                       equal_nan=True)
    assert ann.is_label.tolist() == [True, True, False, True, True, False]
    # Confidence "1" is a human annotation (no score); 0 is a verified absent label.
    assert np.allclose(ann.score, [math.nan, 0, math.nan, math.nan, math.nan, 0.7],
                       equal_nan=True)
    assert ann.attr("occluded").tolist() == [None] * 5 + [1]
    assert ann.attr("truncated").tolist() == [None] * 5 + [0]
    assert ann.attr("open-images.is_group_of").tolist() == [None] * 5 + [1]
    assert ann.attr("open-images.source").tolist() == ["verification"] * 2 + ["xclick"] + [
        "verification"] * 2 + ["xclick"]


def test_datumaro_v6_fixture_reports_unread_masks():
    report = vf.Report()
    vf.load(shared_path("datumaro-assets", "open_images_dataset", "v6"), report=report)
    # "validation" is also reported as read under visionflow's one name for it, "val"
    assert sorted(f.code for f in report.findings) == ["open-images.masks", "split.renamed"]


def test_datumaro_v5_fixture():
    ds = vf.load(shared_path("datumaro-assets", "open_images_dataset", "v5"))
    assert ds.source_format == "open-images"
    assert ds.categories.names == ["Generic label #0", "Generic label #1"]  # no header in V5
    assert sorted(zip(ds.images.split, ds.images.file_name)) == [("test", "cc.jpg"),
                                                                ("train", "aa.jpg")]
    assert len(ds.annotations) == 0


def test_one_file_reads_that_file_and_its_subset():
    root = shared_path("datumaro-assets", "open_images_dataset", "v6")
    ds = vf.load(root / "annotations" / "test-annotations-bbox.csv")
    assert ds.images.file_name.tolist() == ["c.jpg"]
    assert ds.annotations.xyxy.tolist() == [[3.5, 0, 4, 5]]
    assert len(ds.categories) == 4


def test_fixture_round_trip_and_fixed_point(tmp_path):
    root = shared_path("datumaro-assets", "open_images_dataset", "v6")
    before = tree_snapshot(root)
    ds = vf.load(root, "open-images", report=vf.Report())
    vf.write(ds, tmp_path / "a", "open-images")
    out = tmp_path / "a" / "annotations"
    assert (out / "class-descriptions-boxable.csv").read_text().splitlines()[0] == \
        "/m/0,Generic label #0"
    assert (out / "test-annotations-bbox.csv").read_text().splitlines() == [
        BOX_HEADER, "c,xclick,/m/3,0.7,0.7,0.8,0,0.5,1,0,1,0,0"]
    assert (out / "train-annotations-bbox.csv").read_text().splitlines()[1] == \
        "b,xclick,/m/0,1,0.2,1,0.3,0.5,-1,-1,-1,-1,-1"
    assert (out / "train-annotations-human-imagelabels.csv").read_text().splitlines()[1:] == [
        "a,verification,/m/0,1", "b,verification,/m/0,0"]
    assert (out / "images.meta").read_text() == "a 8 6\nb 2 8\nc 10 5\nd 1 5\n"
    assert (tmp_path / "a" / "images" / "validation" / "d.png").is_file()
    back = vf.load(tmp_path / "a")
    assert not ds.differences(back, atol=1e-9)
    assert back.meta["open-images"] == ds.meta["open-images"]
    vf.write(back, tmp_path / "b", "open-images")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert tree_snapshot(root) == before


def test_hierarchy_written_for_supercategories_naming_classes(tmp_path):
    ds = _dataset(tmp_path, names=("animal", "cat", "dog"))
    ds = ds.replace(categories=vf.Categories([
        vf.Category(1, "animal"), vf.Category(2, "cat", "animal"),
        vf.Category(3, "dog", "pet")]))
    report = vf.write(ds, tmp_path / "out", "open-images")
    assert [(f.code, f.count) for f in report.findings] == [("loss.category_meta", 1)]
    tree = orjson.loads((tmp_path / "out" / "annotations" / open_images.HIERARCHY).read_bytes())
    assert tree == {"LabelName": "/m/0", "Subcategory": [
        {"LabelName": "animal", "Subcategory": [{"LabelName": "cat"}]}]}
    back = vf.load(tmp_path / "out")
    assert [c.supercategory for c in back.categories] == [None, "animal", None]


def _dataset(tmp_path, names=("cat", "dog"), score=None):
    make_image(tmp_path / "src" / "x.jpg", (100, 50))
    make_image(tmp_path / "src" / "sub" / "y.png", (40, 40))
    imgs = vf.Images.build(["x.jpg", "sub/y.png"], [100, 40], [50, 40], split=["", ""],
                           path=[str(tmp_path / "src" / "x.jpg"),
                                 str(tmp_path / "src" / "sub" / "y.png")])
    ann = vf.Annotations.build([0, 0], [1, 2], [[10, 5, 30, 25], [0, 0, 100, 50]],
                               score=score)
    return vf.Dataset(imgs, ann, vf.Categories.from_names(names))


def test_mids_for_categories_from_other_formats(tmp_path):
    ds = _dataset(tmp_path, names=("cat", "cat"))
    vf.write(ds, tmp_path / "out", "open-images")
    out = tmp_path / "out" / "annotations"
    # Datumaro's convention: the name is the MID; a repeated name gets "#<id>".
    assert (out / "class-descriptions-boxable.csv").read_text() == "cat,cat\ncat#2,cat\n"
    assert (out / "default-images-with-rotation.csv").read_text().splitlines()[1:] == [
        "x,default" + "," * 10, "sub/y,default" + "," * 10]
    assert (tmp_path / "out" / "images" / "default" / "sub" / "y.png").is_file()
    back = vf.load(tmp_path / "out")
    assert back.images.split.tolist() == ["", ""]  # "default" is unsplit
    assert back.images.file_name.tolist() == ["x.jpg", "sub/y.png"]
    assert back.annotations.xyxy.tolist() == [[10, 5, 30, 25], [0, 0, 100, 50]]
    assert back.categories.names == ["cat", "cat"]


def test_scores_keep_one_apart_from_no_score(tmp_path):
    ds = _dataset(tmp_path, score=np.array([1.0, math.nan]))
    vf.write(ds, tmp_path / "out", "open-images")
    rows = (tmp_path / "out" / "annotations" / "default-annotations-bbox.csv").read_text()
    assert [r.split(",")[3] for r in rows.splitlines()[1:]] == ["1.0", "1"]
    back = vf.load(tmp_path / "out")
    assert np.array_equal(back.annotations.score, [1.0, math.nan], equal_nan=True)


def test_same_image_id_in_two_splits_is_refused(tmp_path):
    ds = _dataset(tmp_path)
    ds = ds.replace(images=ds.images.replace(
        file_name=np.array(["x.jpg", "x.png"], object)))
    with pytest.raises(OutputError, match=r"'x\.jpg' \(unsplit\) and 'x\.png'.*ImageID 'x'"):
        vf.write(ds, tmp_path / "out", "open-images", images="none")


@pytest.mark.parametrize("name, text", [
    ("train_labels.csv", "filename,width,height,class,xmin,ymin,xmax,ymax\na.jpg,4,4,c,0,0,1,1\n"),
    ("default-export.csv", "image,xmin,ymin,xmax,ymax,label\na.jpg,0,0,1,1,c\n"),
    ("labels.csv", "ImageID,LabelName\na,/m/0\n"),
    ("train-annotations-bbox.txt", BOX_HEADER + "\n"),
])
def test_look_alike_csvs_are_not_open_images(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    assert open_images.detect(tmp_path) is None
    assert all(d.format != "open-images" for d in registry.candidates(tmp_path))


def test_detects_our_layout_and_one_file(tmp_path):
    root = shared_path("datumaro-assets", "open_images_dataset", "v6")
    d = open_images.detect(root)
    assert d and d.confidence >= 0.9 and "oidv6-train-annotations-bbox.csv" in d.reasons[0]
    assert registry.detect(root / "annotations" / "test-annotations-bbox.csv").format == \
        "open-images"
    assert registry.detect(shared_path("datumaro-assets", "open_images_dataset",
                                       "v5")).format == "open-images"


# --- bad input --------------------------------------------------------------------------------

def _write_oid(tmp_path, box_rows, *, classes="/m/0,Cat\n", images=None, meta="a 50 100\n"):
    ann = tmp_path / "d" / "annotations"
    ann.mkdir(parents=True)
    (ann / "class-descriptions-boxable.csv").write_text(classes)
    (ann / "train-annotations-bbox.csv").write_text(BOX_HEADER + "\n" + box_rows)
    if images is not None:
        (ann / "train-images-with-rotation.csv").write_text(images)
    if meta is not None:
        (ann / "images.meta").write_text(meta)
    return tmp_path / "d"


GOOD = "a,xclick,/m/0,1,0.1,0.5,0.2,0.6,0,0,0,0,0\n"
BAD_CASES = [
    ("bad-number", {"box_rows": GOOD + "a,xclick,/m/0,1,zero,0.5,0.2,0.6,0,0,0,0,0\n"},
     ParseError, r"train-annotations-bbox\.csv:3: column XMin: expected a number, got 'zero'"),
    ("bad-flag", {"box_rows": GOOD + "a,xclick,/m/0,1,0.1,0.5,0.2,0.6,2,0,0,0,0\n"},
     ParseError, r"train-annotations-bbox\.csv:3: column IsOccluded: expected 1, 0 or -1"),
    ("short-row", {"box_rows": GOOD + "a,xclick,/m/0,1,0.1\n"},
     ParseError, r"train-annotations-bbox\.csv:3: expected 13 fields"),
    ("unknown-mid", {"box_rows": GOOD + "a,xclick,/m/9,1,0.1,0.5,0.2,0.6,0,0,0,0,0\n"},
     ValidationError, (r"train-annotations-bbox\.csv:3: LabelName '/m/9' is not in the class "
                      r"descriptions \(class-descriptions-boxable\.csv\)")),
    ("empty-mid", {"box_rows": GOOD + "a,xclick,,1,0.1,0.5,0.2,0.6,0,0,0,0,0\n"},
     ParseError, r"train-annotations-bbox\.csv:3: empty LabelName"),
    ("escape", {"box_rows": GOOD + "../../etc/x,xclick,/m/0,1,0.1,0.5,0.2,0.6,0,0,0,0,0\n"},
     UnsafeInputError, (r"train-annotations-bbox\.csv:3: file name '\.\./\.\./etc/x' points "
                       r"outside")),
    ("absolute", {"box_rows": GOOD + "/etc/x,xclick,/m/0,1,0.1,0.5,0.2,0.6,0,0,0,0,0\n"},
     UnsafeInputError, r"train-annotations-bbox\.csv:3: file name '/etc/x' is an absolute"),
    ("no-image", {"box_rows": GOOD + "b,xclick,/m/0,1,0.1,0.5,0.2,0.6,0,0,0,0,0\n"},
     MissingImageError, (r"train-annotations-bbox\.csv:3: image images/train/b\.\* not found "
                        r"and not in images\.meta")),
    ("outside", {"box_rows": GOOD + "a,xclick,/m/0,1,0.1,1.5,0.2,0.6,0,0,0,0,0\n"},
     ValidationError, r"train-annotations-bbox\.csv:3: box lies outside the image"),
    ("bad-class-row", {"box_rows": GOOD, "classes": "/m/0,Cat\n/m/1,Dog,extra\n"},
     ParseError, r"class-descriptions-boxable\.csv:2: expected LabelName,DisplayName"),
    ("dup-class", {"box_rows": GOOD, "classes": "/m/0,Cat\n/m/0,Kitten\n"},
     ValidationError, r"class-descriptions-boxable\.csv:2: LabelName '/m/0' listed twice"),
    ("bad-meta", {"box_rows": GOOD, "meta": "a 50 100\nb fifty 100\n"},
     ParseError, r"images\.meta:2: expected '<ImageID> <height> <width>'"),
    ("dup-image", {"box_rows": GOOD, "images": "ImageID,Subset\na,train\na,train\n"},
     ValidationError, (r"train-images-with-rotation\.csv:3: ImageID 'a' listed twice \(first "
                      r"at .*train-images-with-rotation\.csv:2\)")),
    ("bad-subset", {"box_rows": GOOD, "images": "ImageID,Subset\na,train\nc,..\n"},
     UnsafeInputError, (r"train-images-with-rotation\.csv:3: subset '\.\.' cannot name a "
                       r"folder")),
    ("no-header-cols", {"box_rows": "", "images": "ImageID,Split\na,train\n"},
     ParseError, r"train-images-with-rotation\.csv:1: header lacks Subset"),
]


@pytest.mark.parametrize("case, kwargs, error, message", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input(tmp_path, case, kwargs, error, message):
    root = _write_oid(tmp_path, **kwargs)
    with pytest.raises(error, match=message):
        vf.load(root, "open-images")


@pytest.mark.parametrize("case, kwargs, error, message",
                         [c for c in BAD_CASES if c[0] not in ("bad-meta", "bad-class-row",
                                                               "dup-class", "no-header-cols")],
                         ids=[c[0] for c in BAD_CASES if c[0] not in (
                             "bad-meta", "bad-class-row", "dup-class", "no-header-cols")])
def test_bad_input_skipped(tmp_path, case, kwargs, error, message):
    root = _write_oid(tmp_path, **kwargs)
    report = vf.Report()
    ds = vf.load(root, "open-images", errors="skip", report=report)
    assert report.errors and any(
        re.search(message, f"{f.where}: {f.message}") for f in report.errors)
    # The good row is kept.
    assert ds.annotations.xyxy.tolist() == [[10, 10, 50, 30]]


def test_not_utf8(tmp_path):
    root = _write_oid(tmp_path, GOOD)
    (root / "annotations" / "train-annotations-bbox.csv").write_bytes(
        BOX_HEADER.encode() + b"\n\xff\xfe,x\n")
    with pytest.raises(ParseError, match=r"train-annotations-bbox\.csv: cannot read CSV as "
                                         r"UTF-8"):
        vf.load(root, "open-images")


def test_image_link_leading_outside_is_refused(tmp_path):
    root = _write_oid(tmp_path, GOOD, meta=None)
    make_image(tmp_path / "outside" / "a.jpg", (100, 50))
    (root / "images" / "train").mkdir(parents=True)
    os.symlink(tmp_path / "outside" / "a.jpg", root / "images" / "train" / "a.jpg")
    with pytest.raises(UnsafeInputError, match=r"train-annotations-bbox\.csv:2: file "
                                               r"'train/a\.jpg' is a link that leads outside"):
        vf.load(root, "open-images")


def test_sizes_from_image_headers_when_no_meta(tmp_path):
    root = _write_oid(tmp_path, GOOD, meta=None,
                      images="ImageID,Subset\na,train\nneg,train\n")
    make_image(root / "images" / "train" / "a.jpg", (100, 50))
    make_image(root / "images" / "train" / "neg.png", (20, 10))
    ds = vf.load(root)
    assert ds.images.file_name.tolist() == ["a.jpg", "neg.png"]  # the negative is kept
    assert ds.images.width.tolist() == [100, 20]
    assert ds.annotations.xyxy.tolist() == [[10, 10, 50, 30]]
    assert ds.images.path[0] == str((root / "images" / "train" / "a.jpg").absolute())


def test_the_source_is_not_modified(tmp_path):
    src = shared_path("datumaro-assets", "open_images_dataset", "v6")
    shutil.copytree(src, tmp_path / "v6")
    before = tree_snapshot(tmp_path / "v6")
    vf.convert(tmp_path / "v6", tmp_path / "coco", to="coco")
    assert tree_snapshot(tmp_path / "v6") == before
