"""WIDER Face on Datumaro's fixture, the official layout, Datumaro's variant, and bad input."""

from __future__ import annotations

import os
import re
import shutil

import pytest

import visionflow as vf
from visionflow.core.errors import (
    MissingImageError,
    OutputError,
    ParseError,
    UnsafeInputError,
    ValidationError,
)
from visionflow.formats import registry, wider_face

from ..conftest import make_image, shared_path, tree_snapshot


def _files(root):
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def test_datumaro_fixture():
    root = shared_path("datumaro-assets", "widerface_dataset")
    ds = vf.load(root)
    assert ds.source_format == "wider-face"
    assert ds.images.file_name.tolist() == ["0--Parade/0_Parade_image_01.jpg",
                                            "1--Handshaking/1_Handshaking_image_02.jpg",
                                            "0--Parade/0_Parade_image_03.jpg"]
    assert ds.images.split.tolist() == ["train", "train", "val"]
    # dataset_meta.json lists the events (Parade, Handshaking): they stay folders, not classes.
    assert ds.categories.names == ["face"]
    ann = ds.annotations
    assert ann.image_index.tolist() == [0, 1, 1, 2, 2, 2]
    assert ann.xyxy.tolist() == [[1, 2, 3, 4], [1, 1, 3, 3], [5, 1, 7, 3], [0, 0, 1, 1],
                                 [3, 2, 4, 4], [5, 6, 6, 7]]
    # val line 2: "3 2 1 2 0 0 0 1 0 0" -> invalid 1; line 1: "... 2 0 0 0 2 0" -> occlusion 2
    assert ann.attr("wider-face.invalid").tolist() == [0, 0, 0, 0, 1, 0]
    assert ann.attr("occluded").tolist() == [0, 0, 0, 2, 0, 2]
    assert ann.attr("wider-face.blur").tolist() == [0, 0, 0, 2, 0, 2]
    assert ann.attr("wider-face.illumination").tolist() == [0, 1, 1, 0, 0, 0]


def test_fixture_round_trip_and_fixed_point(tmp_path):
    root = shared_path("datumaro-assets", "widerface_dataset")
    before = tree_snapshot(root)
    ds = vf.load(root)
    vf.write(ds, tmp_path / "a", "wider-face")
    assert (tmp_path / "a" / "wider_face_split" / "wider_face_train_bbx_gt.txt").read_text() == (
        root / "wider_face_split" / "wider_face_train_bbx_gt.txt").read_text()
    assert (tmp_path / "a" / "WIDER_val" / "images" / "0--Parade" /
            "0_Parade_image_03.jpg").is_file()
    assert (tmp_path / "a" / "labels.txt").read_text() == "face\n"
    back = vf.load(tmp_path / "a")
    assert not ds.differences(back)
    vf.write(back, tmp_path / "b", "wider-face")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert tree_snapshot(root) == before


def _official(tmp_path, text, *, split="train", images=("0--Parade/a.jpg",), size=(64, 48)):
    root = tmp_path / "wf"
    (root / "wider_face_split").mkdir(parents=True)
    gt = root / "wider_face_split" / f"wider_face_{split}_bbx_gt.txt"
    gt.write_text(text)
    for name in images:
        make_image(root / f"WIDER_{split}" / "images" / name, size)
    return root


def test_official_zero_face_block_and_filelist(tmp_path):
    root = _official(tmp_path, "0--Parade/a.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n"
                               "0--Parade/b.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n",
                     images=("0--Parade/a.jpg", "0--Parade/b.jpg"))
    (root / "wider_face_split" / "wider_face_test_filelist.txt").write_text(
        "9--Press/t.jpg\n")
    make_image(root / "WIDER_test" / "images" / "9--Press" / "t.jpg")
    ds = vf.load(root)
    assert ds.images.file_name.tolist() == ["0--Parade/a.jpg", "0--Parade/b.jpg",
                                            "9--Press/t.jpg"]
    assert ds.images.split.tolist() == ["train", "train", "test"]
    assert ds.annotations.image_index.tolist() == [1]
    assert ds.annotations.xyxy.tolist() == [[1, 2, 4, 6]]
    vf.write(ds, tmp_path / "out", "wider-face")
    assert (tmp_path / "out" / "wider_face_split" / "wider_face_train_bbx_gt.txt").read_text() \
        == (root / "wider_face_split" / "wider_face_train_bbx_gt.txt").read_text()
    assert (tmp_path / "out" / "wider_face_split" / "wider_face_test_bbx_gt.txt").read_text() \
        == "9--Press/t.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n"


def test_datumaro_variant(tmp_path):
    # Datumaro's exporter: no count for an image without faces, "-" for a missing attribute,
    # a class name after the numbers, labels.txt, and no_label/ for images without an event.
    root = _official(tmp_path, "no_label/a.jpg\n0--Parade/b.jpg\n2\n1 2 3 4 - - 1 - - - \n"
                               "5 5 2 2 mask face\n",
                     images=("no_label/a.jpg", "0--Parade/b.jpg"))
    (root / "labels.txt").write_text("face\nmask face\nParade")
    ds = vf.load(root)
    assert ds.images.file_name.tolist() == ["a.jpg", "0--Parade/b.jpg"]
    assert ds.categories.names == ["face", "mask face"]  # Parade is the event
    assert ds.annotations.category_id.tolist() == [1, 2]
    assert ds.annotations.attr("wider-face.illumination").tolist() == [1, None]
    assert ds.annotations.attr("occluded").tolist() == [None, None]
    vf.write(ds, tmp_path / "out", "wider-face")
    text = (tmp_path / "out" / "wider_face_split" / "wider_face_train_bbx_gt.txt").read_text()
    assert text == ("no_label/a.jpg\n0\n0 0 0 0 0 0 0 0 0 0\n0--Parade/b.jpg\n2\n"
                    "1 2 3 4 0 0 1 0 0 0\n5 5 2 2 0 0 0 0 0 0 mask face\n")
    assert (tmp_path / "out" / "WIDER_train" / "images" / "no_label" / "a.jpg").is_file()
    back = vf.load(tmp_path / "out")
    assert back.images.file_name.tolist() == ["a.jpg", "0--Parade/b.jpg"]
    assert back.categories.names == ["face", "mask face"]
    assert back.annotations.xyxy.tolist() == ds.annotations.xyxy.tolist()


def test_unsplit_is_default_and_classes_in_order(tmp_path):
    make_image(tmp_path / "src" / "x.png", (32, 32))
    ds = vf.Dataset(vf.Images.build(["x.png"], [32], [32], path=[str(tmp_path / "src" / "x.png")]),
                    vf.Annotations.build([0, 0], [2, 1], [[1, 1, 5.5, 6], [0, 0, 32, 32]]),
                    vf.Categories.from_names(["person", "face"]))
    vf.write(ds, tmp_path / "out", "wider-face")
    assert (tmp_path / "out" / "wider_face_split" / "wider_face_default_bbx_gt.txt").read_text() \
        == "no_label/x.png\n2\n1 1 4.5 5 0 0 0 0 0 0\n0 0 32 32 0 0 0 0 0 0 person\n"
    back = vf.load(tmp_path / "out")
    assert back.images.split.tolist() == [""]
    # Attributes a box lacks are written as WIDER's 0 ("typical"/"none") and read back so.
    assert [d for d in ds.differences(back) if "attrs" not in d] == []
    assert back.annotations.attr("occluded").tolist() == [0, 0]


@pytest.mark.parametrize("name, file_name, error, message", [
    ("new\nline", "x.jpg", OutputError, r"class name 'new\\nline' contains '\\n', which "
                                        r"labels\.txt"),
    (" padded", "x.jpg", OutputError, r"class name ' padded' starts or ends with whitespace"),
    ("face", "x.txt", OutputError, r"image 'x\.txt': WIDER Face image lines need an image"),
])
def test_writer_refuses_what_cannot_be_read_back(tmp_path, name, file_name, error, message):
    ds = vf.Dataset(vf.Images.build([file_name], [32], [32]),
                    vf.Annotations.build([0], [1], [[1, 1, 5, 6]]),
                    vf.Categories.from_names([name]))
    with pytest.raises(error, match=message):
        vf.write(ds, tmp_path / "out", "wider-face", images="none")


@pytest.mark.parametrize("layout", ["mot", "kitti", "yolo"])
def test_look_alikes_are_not_wider_face(tmp_path, layout):
    if layout == "mot":
        (tmp_path / "gt").mkdir()
        (tmp_path / "gt" / "gt.txt").write_text("1,1,10,10,20,20,1,1,1\n")
    elif layout == "kitti":
        (tmp_path / "label_2").mkdir()
        (tmp_path / "label_2" / "0.txt").write_text(
            "Car 0 0 0 1 2 3 4 1 1 1 1 1 1 0\n")
    else:
        (tmp_path / "labels").mkdir()
        (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.1 0.1\n")
    # A txt of paths and numbers that is not in wider_face_split/ is not WIDER Face either.
    (tmp_path / "list.txt").write_text("0--Parade/a.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n")
    assert wider_face.detect(tmp_path) is None
    assert all(d.format != "wider-face" for d in registry.candidates(tmp_path))


def test_detects_folder_split_folder_and_file():
    root = shared_path("datumaro-assets", "widerface_dataset")
    for p in (root, root / "wider_face_split",
              root / "wider_face_split" / "wider_face_val_bbx_gt.txt"):
        assert registry.detect(p).format == "wider-face"
    ds = vf.load(root / "wider_face_split" / "wider_face_val_bbx_gt.txt")
    assert ds.images.split.tolist() == ["val"] and len(ds.annotations) == 3


# --- bad input --------------------------------------------------------------------------------

GT = "wider_face_train_bbx_gt.txt"
GOOD = "0--Parade/a.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n"
BAD_CASES = [
    ("not-a-path", "hello\n" + GOOD, ParseError,
     rf"{GT}:1: expected an image path .*got 'hello'"),
    ("bad-count", GOOD + "0--Parade/b.jpg\nmany\n1 2 3 4 0 0 0 0 0 0\n", ParseError,
     rf"{GT}:5: expected the number of faces of 0--Parade/b\.jpg, got 'many'"),
    ("negative-count", GOOD + "0--Parade/b.jpg\n-2\n", ParseError,
     rf"{GT}:5: expected the number of faces of 0--Parade/b\.jpg, got '-2'"),
    ("too-few-lines", "0--Parade/b.jpg\n2\n1 2 3 4 0 0 0 0 0 0\n" + GOOD, ParseError,
     rf"{GT}:2: 0--Parade/b\.jpg has 2 faces but 1 face lines follow"),
    ("bad-numbers", GOOD + "0--Parade/b.jpg\n1\n1 2 three 4 0 0 0 0 0 0\n", ParseError,
     rf"{GT}:6: expected 'x y w h blur expression illumination invalid occlusion pose'"),
    ("wrong-field-count", GOOD + "0--Parade/b.jpg\n1\n1 2 3 4 0 0 0\n", ParseError,
     rf"{GT}:6: expected 4 or 10 numbers .*got 7 fields"),
    ("escape", GOOD + "../../etc/b.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n", UnsafeInputError,
     rf"{GT}:4: file name '\.\./\.\./etc/b\.jpg' points outside"),
    ("absolute", GOOD + "/etc/b.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n", UnsafeInputError,
     rf"{GT}:4: file name '/etc/b\.jpg' is an absolute path"),
    ("missing-image", GOOD + "0--Parade/zz.jpg\n1\n1 2 3 4 0 0 0 0 0 0\n", MissingImageError,
     rf"{GT}:4: image .*WIDER_train/images/0--Parade/zz\.jpg not found"),
    ("zero-size", GOOD + "0--Parade/b.jpg\n1\n1 2 0 4 0 0 0 0 0 0\n", ValidationError,
     rf"{GT}:6: box has zero size"),
    ("outside", GOOD + "0--Parade/b.jpg\n1\n60 2 30 4 0 0 0 0 0 0\n", ValidationError,
     rf"{GT}:6: box lies outside the image"),
    ("listed-twice", GOOD + GOOD, ValidationError,
     rf"{GT}:4: image '0--Parade/a\.jpg' listed twice"),
]


@pytest.mark.parametrize("case, text, error, message", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input(tmp_path, case, text, error, message):
    root = _official(tmp_path, text, images=("0--Parade/a.jpg", "0--Parade/b.jpg"))
    with pytest.raises(error, match=message):
        vf.load(root, "wider-face")


@pytest.mark.parametrize("case, text, error, message", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_bad_input_skipped(tmp_path, case, text, error, message):
    root = _official(tmp_path, text, images=("0--Parade/a.jpg", "0--Parade/b.jpg"))
    report = vf.Report()
    ds = vf.load(root, "wider-face", errors="skip", report=report)
    assert any(re.search(message, f"{f.where}: {f.message}") for f in report.errors), \
        report.errors
    first = ds.images.file_name.tolist().index("0--Parade/a.jpg")
    assert [ds.annotations.xyxy[k].tolist() for k in range(len(ds.annotations))
            if ds.annotations.image_index[k] == first] == [[1, 2, 4, 6]]


def test_not_utf8(tmp_path):
    root = _official(tmp_path, GOOD)
    (root / "wider_face_split" / GT).write_bytes(b"\xff\xfe0--Parade/a.jpg\n")
    with pytest.raises(ParseError, match=rf"{GT}: cannot read as UTF-8"):
        vf.load(root, "wider-face")


def test_bad_dataset_meta(tmp_path):
    root = _official(tmp_path, GOOD)
    (root / "dataset_meta.json").write_text("{not json")
    with pytest.raises(ParseError, match=r"dataset_meta\.json: expected \{\"label_map\""):
        vf.load(root, "wider-face")


def test_image_link_leading_outside_is_refused(tmp_path):
    root = _official(tmp_path, GOOD, images=())
    make_image(tmp_path / "outside" / "a.jpg")
    (root / "WIDER_train" / "images" / "0--Parade").mkdir(parents=True)
    os.symlink(tmp_path / "outside" / "a.jpg", root / "WIDER_train" / "images" / "0--Parade" /
               "a.jpg")
    with pytest.raises(UnsafeInputError, match=rf"{GT}:1: file '0--Parade/a\.jpg' is a link "
                                               "that leads outside"):
        vf.load(root, "wider-face")


def test_the_source_is_not_modified(tmp_path):
    shutil.copytree(shared_path("datumaro-assets", "widerface_dataset"), tmp_path / "wf")
    before = tree_snapshot(tmp_path / "wf")
    vf.convert(tmp_path / "wf", tmp_path / "yolo", to="yolo")
    assert tree_snapshot(tmp_path / "wf") == before
