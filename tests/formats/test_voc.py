"""Pascal VOC reader/writer: real datasets, layouts, coordinates, attributes, splits, class
order, writer rules, detection and every kind of bad input."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import visionflow as vf
from tests.conftest import make_image, shared_path

# --- helpers ---------------------------------------------------------------------------------


def obj(name: str, box=(11, 21, 30, 40), extra: str = "") -> str:
    coords = "".join(f"<{t}>{v}</{t}>" for t, v in zip(("xmin", "ymin", "xmax", "ymax"), box))
    return f"<object><name>{name}</name>{extra}<bndbox>{coords}</bndbox></object>"


def xml(filename: str = "a.jpg", objects: str = "", size=(64, 48), folder: str | None = None,
        extra: str = "", prolog: str = "") -> str:
    size_xml = "" if size is None else (f"<size><width>{size[0]}</width><height>{size[1]}"
                                        "</height><depth>3</depth></size>")
    folder_xml = "" if folder is None else f"<folder>{folder}</folder>"
    return (f"{prolog}<annotation>\n{folder_xml}<filename>{filename}</filename>\n{size_xml}\n"
            f"{extra}{objects}\n</annotation>\n")


def voc(root: Path, files: dict[str, str], images: tuple[str, ...] = (),
        lists: dict[str, str] | None = None, labelmap: str | None = None) -> Path:
    """A standard VOC folder: Annotations/<name>, JPEGImages/<image>, ImageSets/Main lists."""
    for name, text in files.items():
        p = root / "Annotations" / name
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text, encoding="utf-8")
    for name in images:
        make_image(root / "JPEGImages" / name)
    for split, text in (lists or {}).items():
        p = root / "ImageSets" / "Main" / f"{split}.txt"
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(text)
    if labelmap is not None:
        (root / "labelmap.txt").write_text(labelmap)
    return root


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


# --- real datasets ---------------------------------------------------------------------------

REAL = [
    # (path parts, images, annotations, classes, {split: images})
    (("raccoon",), 200, 217, ["raccoon"], {"": 200}),
    (("raccoon", "annotations"), 200, 217, ["raccoon"], {"": 200}),
    (("bccd",), 364, 4888, ["Platelets", "RBC", "WBC"], {"train": 205, "val": 87, "test": 72}),
    (("bccd", "BCCD"), 364, 4888, ["Platelets", "RBC", "WBC"],
     {"train": 205, "val": 87, "test": 72}),
    (("bccd", "BCCD", "Annotations"), 364, 4888, ["Platelets", "RBC", "WBC"],
     {"train": 205, "val": 87, "test": 72}),
    (("datumaro-assets", "voc_dataset", "voc_dataset1"), 2, 2, ["cat", "person"],
     {"train": 1, "test": 1}),
    (("datumaro-assets", "voc_dataset", "voc_dataset3"), 1, 1, ["cat"], {"train": 1}),
    # Roboflow's VOC export: train/ and val/ folders of .xml + .jpg
    (("datumaro-assets", "roboflow_dataset", "voc"), 3, 4, ["label_0", "label_1"],
     {"train": 2, "val": 1}),
    # Kaggle-style relaxed layouts: annotations/ + images/, and .xml beside the images
    (("datumaro-assets", "kaggle_dataset", "relaxed_voc1"), 1, 2, ["cat", "person"], {"": 1}),
    (("datumaro-assets", "kaggle_dataset", "relaxed_voc2"), 1, 2, ["cat", "person"], {"": 1}),
]


@pytest.mark.shared
@pytest.mark.parametrize("parts,n_images,n_ann,classes,splits", REAL)
def test_real_dataset_counts(parts, n_images, n_ann, classes, splits):
    ds = vf.load(shared_path(*parts), "voc")
    assert len(ds.images) == n_images
    assert len(ds.annotations) == n_ann
    assert ds.categories.names == classes
    assert ds.categories.ids == list(range(1, len(classes) + 1))
    assert {s: int((ds.images.split == s).sum()) for s in ds.images.splits()} == splits
    assert all(p is not None and Path(p).is_file() for p in ds.images.path)


@pytest.mark.shared
def test_raccoon_values():
    ds = vf.load(shared_path("raccoon"), "voc")
    row = list(ds.images.file_name).index("raccoon-1.jpg")
    assert (ds.images.width[row], ds.images.height[row]) == (650, 417)
    boxes = ds.annotations_of(row)
    # <xmin>81 <ymin>88 <xmax>522 <ymax>408: pixel edges, as LabelImg wrote them (the default)
    np.testing.assert_array_equal(boxes.xyxy, [[81, 88, 522, 408]])
    assert boxes.attr("voc.pose").tolist() == ["Unspecified"]
    assert boxes.attr("difficult").tolist() == [0]
    assert ds.images.attr("voc.folder")[row] == "images"
    assert vf.load(shared_path("raccoon", "annotations", "raccoon-1.xml"), "voc").annotations \
        .xyxy.tolist() == [[81, 88, 522, 408]]
    # the devkit's 1-based indices, on request
    assert vf.load(shared_path("raccoon", "annotations", "raccoon-1.xml"), "voc",
                   coords="one-based").annotations.xyxy.tolist() == [[80, 87, 522, 408]]


@pytest.mark.shared
def test_bccd_one_pixel_boxes_are_valid():
    ds = vf.load(shared_path("bccd"), "voc")
    b = ds.annotations.xyxy
    one = (b[:, 2] - b[:, 0]) == 1
    assert one.sum() == 2  # xmin == xmax in VOC: one pixel wide
    names = sorted(ds.images.file_name[ds.annotations.image_index[one]])
    assert names == ["BloodImage_00338.jpg", "BloodImage_00343.jpg"]


@pytest.mark.shared
def test_datumaro_voc_dataset1_details():
    report = vf.Report()
    ds = vf.load(shared_path("datumaro-assets", "voc_dataset", "voc_dataset1"), "voc",
                 report=report)
    train = ds.split("train")
    ann = train.annotations
    np.testing.assert_array_equal(ann.xyxy, [[1, 2, 3, 4], [4, 5, 6, 7]])  # as Datumaro reads
    assert ann.attr("truncated").tolist() == [1, None]
    assert ann.attr("voc.pose").tolist() == ["Unspecified", None]
    assert ann.attr("voc.action.jumping").tolist() == [None, "0"]
    assert ann.attr("voc.action.phoning").tolist() == [None, "1"]
    assert train.images.attr("voc.segmented").tolist() == ["1"]
    # 2007_000002 is listed in test.txt but has no .xml: an image without objects, header size
    test = ds.split("test")
    assert test.images.file_name.tolist() == ["2007_000002.jpg"]
    assert len(test.annotations) == 0 and test.images.width[0] > 0
    # the person's <part> (head) cannot be held; reported, not silently dropped
    assert "voc.parts" in report.codes()


@pytest.mark.shared
def test_datumaro_voc_dataset2_labelmap_and_missing_images(tmp_path):
    """voc_dataset2 has no <size> and no images: the size cannot be known, an error naming the
    file. With images beside it, labelmap.txt gives the class order (22 classes)."""
    src = shared_path("datumaro-assets", "voc_dataset", "voc_dataset2")
    with pytest.raises(vf.MissingImageError, match=r"@\.xml: no <size> and image file '@\.jpg'"):
        vf.load(src, "voc")
    report = vf.Report()
    assert len(vf.load(src, "voc", errors="skip", report=report).images) == 0
    assert len(report.errors) == 5

    root = tmp_path / "voc2"
    shutil.copytree(src, root)
    for stem in "@abcd":
        make_image(root / "JPEGImages" / f"{stem}.jpg", (12, 10))
    ds = vf.load(root, "voc")
    assert ds.categories.names[:3] == ["background", "aeroplane", "bicycle"]
    assert len(ds.categories) == 22 and ds.categories.names[-1] == "ignored"
    assert ds.images.split.tolist() == ["trainval"] * 5  # only trainval.txt exists
    assert ds.images.file_name.tolist() == ["@.jpg", "a.jpg", "b.jpg", "c.jpg", "d.jpg"]
    assert (ds.images.width == 12).all()
    assert len(ds.annotations) == 4
    assert ds.annotations.attr("occluded").tolist() == [1, 1, 0, 0]
    assert ds.images.attr("voc.source.database").tolist() == ["Unknown"] * 5
    out = tmp_path / "out"
    vf.write(ds, out, "voc", images="copy")
    labelmap = (out / "labelmap.txt").read_text().splitlines()
    assert labelmap[1:3] == ["background:0,0,0::", "aeroplane:128,0,0::"]  # colors kept
    assert vf.load(out, "voc").differences(ds) == []


REAL_ROUND_TRIP = [("raccoon",), ("bccd",), ("datumaro-assets", "voc_dataset", "voc_dataset1"),
                   ("datumaro-assets", "voc_dataset", "voc_dataset3")]


@pytest.mark.shared
@pytest.mark.parametrize("parts", REAL_ROUND_TRIP)
def test_real_round_trip_and_fixed_point(tmp_path, parts):
    src = vf.load(shared_path(*parts), "voc")
    report = vf.write(src, tmp_path / "one", "voc", images="copy")
    assert report.errors == [] and report.warnings == []
    back = vf.load(tmp_path / "one", "voc")
    assert back.differences(src) == []
    assert back.categories == src.categories
    vf.write(back, tmp_path / "two", "voc", images="copy")
    assert files_of(tmp_path / "one") == files_of(tmp_path / "two")


# --- coordinates -----------------------------------------------------------------------------


def test_float_coordinates_kept_exactly(tmp_path):
    root = voc(tmp_path / "in", {"a.xml": xml(objects=obj("cat", (10.5, 2.25, 30.125, 40))
                                              + obj("cat", (1, 1, 64, 48)))}, ("a.jpg",))
    ds = vf.load(root, "voc")
    np.testing.assert_array_equal(ds.annotations.xyxy, [[10.5, 2.25, 30.125, 40], [1, 1, 64, 48]])
    vf.write(ds, tmp_path / "out", "voc", images="none")
    text = (tmp_path / "out" / "Annotations" / "a.xml").read_text()
    assert "<xmin>10.5</xmin>" in text and "<ymin>2.25</ymin>" in text
    assert "<xmax>30.125</xmax>" in text and "<ymax>40</ymax>" in text  # no ".0"
    assert "<xmin>1</xmin>" in text and "<xmax>64</xmax>" in text


def test_writer_uses_shortest_repr(tmp_path):
    images = vf.Images.build(["a.jpg"], [100], [100])
    ann = vf.Annotations.build([0], [1], [[0.1, 1 / 3, 50.7, 99.99999]])
    ds = vf.Dataset(images, ann, vf.Categories.from_names(["x"]))
    vf.write(ds, tmp_path / "out", "voc", images="none")
    text = (tmp_path / "out" / "Annotations" / "a.xml").read_text()
    assert "<xmin>0.1</xmin>" in text and f"<ymin>{1 / 3!r}</ymin>" in text
    assert "<xmax>50.7</xmax>" in text and "<ymax>99.99999</ymax>" in text
    back = vf.load(tmp_path / "out", "voc")
    np.testing.assert_allclose(back.annotations.xyxy, ann.xyxy, rtol=0, atol=1e-12)
    vf.write(ds, tmp_path / "devkit", "voc", images="none", coords="one-based")
    text = (tmp_path / "devkit" / "Annotations" / "a.xml").read_text()
    assert f"<xmin>{0.1 + 1!r}</xmin>" in text and f"<ymin>{1 / 3 + 1!r}</ymin>" in text
    back = vf.load(tmp_path / "devkit", "voc", coords="one-based")
    np.testing.assert_allclose(back.annotations.xyxy, ann.xyxy, rtol=0, atol=1e-12)


def test_writer_clamps_negative_edges_and_reports_it(tmp_path):
    images = vf.Images.build(["a.jpg"], [100], [100])
    ann = vf.Annotations.build([0, 0], [1, 1], [[-0.5, 2, 10, 10], [1, -1, 5, 5]])
    ds = vf.Dataset(images, ann, vf.Categories.from_names(["x"]))
    report = vf.write(ds, tmp_path / "out", "voc", images="none")
    assert [(f.code, f.count) for f in report if f.severity != "info"] == [
        ("loss.negative_coordinates", 2)]
    report = vf.Report()
    back = vf.load(tmp_path / "out", "voc", report=report)
    np.testing.assert_array_equal(back.annotations.xyxy, [[0, 2, 10, 10], [1, 0, 5, 5]])
    assert report.codes() == ["voc.coordinates"]
    with pytest.raises(vf.LossError, match="negative_coordinates|left of or above"):
        vf.write(ds, tmp_path / "strict", "voc", images="none", strict=True)


def test_zero_based_file_is_clamped_with_one_warning(tmp_path):
    root = voc(tmp_path / "in", {"a.xml": xml(objects=obj("cat", (0, 0, 10, 10))
                                              + obj("cat", (0, 5, 10, 10))
                                              + obj("cat", (3, 5, 10, 10)))}, ("a.jpg",))
    report = vf.Report()
    ds = vf.load(root, "voc", report=report, coords="one-based")
    np.testing.assert_array_equal(ds.annotations.xyxy[:, :2], [[0, 0], [0, 4], [2, 4]])
    found = [f for f in report if f.code == "voc.zero_based"]
    assert len(found) == 1 and found[0].count == 2 and found[0].severity == "warning"


# --- attributes ------------------------------------------------------------------------------


def test_attributes_read_and_written_back(tmp_path):
    extra = ("<pose>Left</pose><truncated>1</truncated><occluded>0</occluded>"
             "<difficult>1</difficult><score>0.9</score>"
             "<attributes><attribute><name>color</name><value>red</value></attribute>"
             "<attribute><name>parked</name><value>true</value></attribute>"
             "<attribute><name>seats</name><value>5</value></attribute>"
             "<attribute><name>code</name><value>007</value></attribute>"
             "<attribute><name>speed</name><value>2.5</value></attribute></attributes>")
    root = voc(tmp_path / "in", {"a.xml": xml(objects=obj("car", extra=extra) + obj("car"),
                                              extra="<segmented>1</segmented>")}, ("a.jpg",))
    ds = vf.load(root, "voc")
    a = ds.annotations
    assert a.attr("truncated").tolist() == [1, None]
    assert a.attr("occluded").tolist() == [0, None]
    assert a.attr("difficult").tolist() == [1, None]
    assert a.attr("voc.pose").tolist() == ["Left", None]
    assert a.attr("voc.score").tolist() == ["0.9", None]
    assert a.attr("color").tolist() == ["red", None]
    assert a.attr("parked").tolist() == [True, None]
    assert a.attr("seats").tolist() == [5, None] and a.attr("code").tolist() == ["007", None]
    assert a.attr("speed").tolist() == [2.5, None]
    assert ds.images.attr("voc.segmented").tolist() == ["1"]
    report = vf.write(ds, tmp_path / "out", "voc", images="copy")
    assert report.warnings == []  # Format.attributes is None: every key is held
    back = vf.load(tmp_path / "out", "voc")
    assert back.differences(ds) == []


def test_foreign_attribute_values_are_written(tmp_path):
    images = vf.Images.build(["a.jpg"], [100], [100])
    attrs = {"difficult": np.array([True], object), "occluded": np.array([np.int64(1)], object),
             "custom.weight": np.array([2.5], object)}
    ann = vf.Annotations.build([0], [1], [[1, 1, 5, 5]], attrs=attrs)
    ds = vf.Dataset(images, ann, vf.Categories.from_names(["x"]))
    vf.write(ds, tmp_path / "out", "voc", images="none")
    back = vf.load(tmp_path / "out", "voc").annotations
    assert back.attr("difficult").tolist() == [1]
    assert back.attr("occluded").tolist() == [1]
    assert back.attr("custom.weight").tolist() == [2.5]


# --- layouts ---------------------------------------------------------------------------------


def test_flat_folder_with_images_beside(tmp_path):
    make_image(tmp_path / "a.jpg")
    (tmp_path / "a.xml").write_text(xml(objects=obj("dog")))
    (tmp_path / "b.xml").write_text(xml("b.jpg"))
    ds = vf.load(tmp_path, "voc")
    assert ds.images.file_name.tolist() == ["a.jpg", "b.jpg"]
    assert ds.images.path[0] == os.path.abspath(tmp_path / "a.jpg")
    assert ds.images.path[1] is None  # missing image: no error, size from <size>
    assert ds.images.split.tolist() == ["", ""]


def test_sibling_images_folder_and_folder_element(tmp_path):
    (tmp_path / "annotations").mkdir()
    make_image(tmp_path / "images" / "a.jpg")
    make_image(tmp_path / "pics" / "b.jpg")
    (tmp_path / "annotations" / "a.xml").write_text(xml(folder="whatever"))
    (tmp_path / "annotations" / "b.xml").write_text(xml("b.jpg", folder="pics"))
    for path in (tmp_path, tmp_path / "annotations"):
        ds = vf.load(path, "voc")
        assert ds.images.path.tolist() == [os.path.abspath(tmp_path / "images" / "a.jpg"),
                                           os.path.abspath(tmp_path / "pics" / "b.jpg")]
    one = vf.load(tmp_path / "annotations" / "b.xml", "voc")
    assert one.images.path.tolist() == [os.path.abspath(tmp_path / "pics" / "b.jpg")]


def test_unsafe_folder_element_is_ignored(tmp_path):
    make_image(tmp_path / "outside" / "a.jpg")
    root = voc(tmp_path / "ds", {"a.xml": xml(folder="../outside")})
    assert vf.load(root, "voc").images.path.tolist() == [None]


def test_missing_size_read_from_image_header(tmp_path):
    root = voc(tmp_path, {"a.xml": xml(size=None, objects=obj("cat")),
                          "b.xml": xml("b.jpg", size=(0, 0))}, ("a.jpg", "b.jpg"))
    ds = vf.load(root, "voc")
    assert ds.images.width.tolist() == [64, 64] and ds.images.height.tolist() == [48, 48]


def test_nested_annotation_folders(tmp_path):
    root = voc(tmp_path / "in", {"x/a.xml": xml(objects=obj("cat")), "y/a.xml": xml()},
               ("x/a.jpg", "y/a.jpg"))
    ds = vf.load(root, "voc")
    assert ds.images.file_name.tolist() == ["x/a.jpg", "y/a.jpg"]
    assert all(p is not None for p in ds.images.path)
    vf.write(ds, tmp_path / "out", "voc", images="copy")
    assert (tmp_path / "out" / "Annotations" / "y" / "a.xml").is_file()
    assert vf.load(tmp_path / "out", "voc").differences(ds) == []


# --- splits and class order ------------------------------------------------------------------


def test_split_lists(tmp_path):
    files = {f"{s}.xml": xml(f"{s}.jpg", obj("cat")) for s in "abcde"}
    root = voc(tmp_path, files, lists={
        "train": "# comment\nb\n\na\n", "val": "c\n", "trainval": "a\nb\nc\nd\n",
        "cat_train": "a  1\nb -1\n"})
    ds = vf.load(root, "voc")
    assert ds.images.file_name.tolist() == ["b.jpg", "a.jpg", "c.jpg", "d.jpg", "e.jpg"]
    assert ds.images.split.tolist() == ["train", "train", "val", "", ""]


def test_trainval_used_without_train_and_val(tmp_path):
    root = voc(tmp_path, {"a.xml": xml(), "b.xml": xml("b.jpg")},
               lists={"trainval": "a\n", "test": "b\n"})
    assert vf.load(root, "voc").images.split.tolist() == ["test", "trainval"]


def test_labelmap_gives_class_order(tmp_path):
    root = voc(tmp_path, {"a.xml": xml(objects=obj("zebra") + obj("ant") + obj("cow"))},
               labelmap="# label:color_rgb:parts:actions\nzebra:1,2,3::\nbee:::\nant:::\n")
    report = vf.Report()
    ds = vf.load(root, "voc", report=report)
    assert ds.categories.names == ["zebra", "bee", "ant", "cow"]
    assert ds.annotations.category_id.tolist() == [1, 3, 4]
    assert "voc.labelmap" in report.codes()
    # one file of the dataset: the dataset's label map still applies
    assert vf.load(root / "Annotations" / "a.xml", "voc").categories == ds.categories
    (root / "labelmap.txt").unlink()
    assert vf.load(root, "voc").categories.names == ["ant", "cow", "zebra"]


# --- writer ----------------------------------------------------------------------------------


def _dataset(file_names, splits, classes=("b", "a")) -> vf.Dataset:
    images = vf.Images.build(file_names, [50] * len(file_names), [40] * len(file_names),
                             split=splits)
    ann = vf.Annotations.build([0, 0], [2, 1], [[1, 2, 10, 20], [0, 0, 50, 40]])
    return vf.Dataset(images, ann, vf.Categories.from_names(classes))


def test_writer_layout_negatives_unsplit_and_class_order(tmp_path):
    ds = _dataset(["a.jpg", "b.png", "c.jpg"], ["train", "", "val"], ("zz", "aa", "unused"))
    vf.write(ds, tmp_path / "out", "voc", images="none")
    out = tmp_path / "out"
    assert sorted(p.name for p in (out / "Annotations").iterdir()) == ["a.xml", "b.xml",
                                                                        "c.xml"]
    assert (out / "ImageSets" / "Main" / "train.txt").read_text() == "a\n"
    assert (out / "ImageSets" / "Main" / "val.txt").read_text() == "c\n"
    # images without a split are listed in default.txt, as CVAT and Datumaro expect
    assert (out / "ImageSets" / "Main" / "default.txt").read_text() == "b\n"
    assert sorted(p.name for p in (out / "ImageSets" / "Main").iterdir()) == [
        "default.txt", "train.txt", "val.txt"]
    assert (out / "labelmap.txt").read_text().splitlines()[1:] == ["zz:::", "aa:::",
                                                                   "unused:::"]
    text = (out / "Annotations" / "b.xml").read_text()
    assert text.startswith("<annotation>\n  <folder>JPEGImages</folder>\n"
                           "  <filename>b.png</filename>\n  <size>\n    <width>50</width>")
    assert "<object>" not in text and "<segmented>0</segmented>" in text
    back = vf.load(out, "voc")
    assert back.categories.names == ["zz", "aa", "unused"]
    assert back.images.split.tolist() == ["train", "val", ""]
    assert len(back.annotations) == 2 and back.annotations.category_id.tolist() == [2, 1]


@pytest.mark.parametrize("names,splits,message", [
    (["a.jpg", "a.jpg"], ["train", "val"],
     "image 'a.jpg' is in split 'train' and split 'val'; VOC holds one annotation file"),
    (["a.jpg", "a.png"], ["train", "train"],
     "images 'a.jpg' and 'a.png' would both be written as Annotations/a.xml"),
    (["a.jpg", "b.jpg"], ["tr/ain", ""], "split name 'tr/ain' cannot be a VOC list file name"),
])
def test_writer_refuses_name_collisions(tmp_path, names, splits, message):
    with pytest.raises(vf.OutputError, match=message.replace("(", r"\(").replace(".", r"\.")):
        vf.write(_dataset(names, splits), tmp_path / "out", "voc", images="none")
    assert not (tmp_path / "out").exists()


def test_writer_refuses_labelmap_breaking_names(tmp_path):
    with pytest.raises(vf.OutputError, match="name 'a:b' contains ':', which labelmap.txt"):
        vf.write(_dataset(["a.jpg"], [""], ("a:b", "c")), tmp_path / "out", "voc",
                 images="none")


def test_writer_reports_duplicate_class_names(tmp_path):
    report = vf.write(_dataset(["a.jpg"], [""], ("x", "x")), tmp_path / "out", "voc",
                      images="none")
    assert "loss.duplicate_category_names" in report.codes()


def test_writer_output_is_deterministic(tmp_path):
    ds = _dataset(["a.jpg", "b.jpg"], ["train", "train"])
    vf.write(ds, tmp_path / "one", "voc", images="none")
    vf.write(ds, tmp_path / "two", "voc", images="none")
    assert files_of(tmp_path / "one") == files_of(tmp_path / "two")


# --- detection -------------------------------------------------------------------------------


def test_detect_voc_folder_and_file(tmp_path):
    root = voc(tmp_path / "voc", {"a.xml": xml(objects=obj("cat"))}, ("a.jpg",))
    found = [d for d in vf.detect(root) if d.format == "voc"]
    assert found and found[0].confidence >= 0.9
    assert any("<bndbox>" in r for r in found[0].reasons)
    assert [d.format for d in vf.detect(root / "Annotations" / "a.xml")][:1] == ["voc"]


@pytest.mark.parametrize("name,text", [
    ("cvat.xml", "<annotations><version>1.1</version><meta><task/></meta>"
                 "<image id='0' name='a.jpg'/></annotations>"),
    ("a.json", '{"version": "5.0.1", "shapes": [], "imagePath": "a.jpg"}'),
    ("notes.xml", "<?xml version='1.0'?><!-- x --><rss><channel/></rss>"),
])
def test_detect_ignores_other_formats(tmp_path, name, text):
    (tmp_path / name).write_text(text)
    assert all(d.format != "voc" for d in vf.detect(tmp_path))


@pytest.mark.shared
@pytest.mark.parametrize("parts", [("cvat_dataset", "for_images", "export_task"),
                                   ("cvat_dataset", "for_images", "export_project"),
                                   ("labelme_dataset",)])
def test_detect_ignores_datumaro_cvat_and_labelme_xml(parts):
    path = shared_path("datumaro-assets", *parts)
    assert all(d.format != "voc" for d in vf.detect(path))


@pytest.mark.shared
def test_roboflow_voc_boxes():
    ds = vf.load(shared_path("datumaro-assets", "roboflow_dataset", "voc"), "voc")
    # train_001.xml: xmin 2, xmax 5, ymin 1, ymax 2 (children in an unusual order), the box
    # Roboflow's COCO export of the same image gives as [2, 1, 3, 1]
    np.testing.assert_array_equal(ds.annotations_of(0).xyxy, [[2, 1, 5, 2]])
    assert ds.images.file_name.tolist() == ["train_001.jpg", "train_002.jpg", "val_001.jpg"]


# --- bad input -------------------------------------------------------------------------------

BOMB = ('<?xml version="1.0"?>\n<!DOCTYPE lolz [\n <!ENTITY lol "lol">\n'
        ' <!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">\n]>\n')
XXE = '<?xml version="1.0"?>\n<!DOCTYPE a [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'

# (name, bad.xml text, error type, message parts, under --skip-errors: images, boxes kept)
BAD = [
    ("malformed", "<annotation>\n<filename>bad.jpg</filename>\n<size></annotation>\n",
     vf.ParseError, ["bad.xml:3:", "malformed XML"], 1, 1),
    ("entity bomb", xml("bad.jpg", obj("&lol2;"), prolog=BOMB),
     vf.UnsafeInputError, ["bad.xml", "declares entities"], 1, 1),
    ("xxe", xml("bad.jpg", obj("&xxe;"), prolog=XXE),
     vf.UnsafeInputError, ["bad.xml", "external entity"], 1, 1),
    ("parent filename", xml("../x.jpg", obj("cat")),
     vf.UnsafeInputError, ["bad.xml", "'../x.jpg' points outside the dataset folder"], 1, 1),
    ("absolute filename", xml("/etc/passwd", obj("cat")),
     vf.UnsafeInputError, ["bad.xml", "'/etc/passwd' is an absolute path"], 1, 1),
    ("windows absolute filename", xml("C:\\data\\x.jpg", obj("cat")),
     vf.UnsafeInputError, ["bad.xml", "is an absolute path"], 1, 1),
    ("non-numeric coordinate", xml("bad.jpg", obj("cat") + obj("cat", (1, 2, "abc", 4))),
     vf.ParseError, ["bad.xml:4:", "object 2 ('cat'): <bndbox>/<xmax> is not a number: 'abc'"],
     2, 2),
    ("missing bndbox", xml("bad.jpg", "<object><name>cat</name></object>" + obj("cat")),
     vf.ParseError, ["bad.xml:4:", "object 1 ('cat'): missing <bndbox>"], 2, 2),
    ("missing ymax", xml("bad.jpg", obj("cat").replace("<ymax>40</ymax>", "")),
     vf.ParseError, ["bad.xml:4:", "object 1 ('cat'): <bndbox> has no <ymax>"], 2, 1),
    ("missing name", xml("bad.jpg", obj("")),
     vf.ParseError, ["bad.xml:4:", "object 1: missing <name>"], 2, 1),
    ("non-numeric size", xml("bad.jpg", obj("cat"), size=("wide", 48)),
     vf.ParseError, ["bad.xml:3:", "<size>/<width> is not a whole number: 'wide'"], 1, 1),
    ("wrong root", "<annotations><meta/></annotations>",
     vf.ParseError, ["bad.xml:1:", "root element is <annotations>", "CVAT"], 1, 1),
    ("negative size box", xml("bad.jpg", obj("cat", (30, 2, 10, 4))),
     vf.ValidationError, ["bad.xml:4: object 1 ('cat'):", "box has negative size"], 2, 1),
    ("NaN box", xml("bad.jpg", obj("cat", (1, 2, "nan", 4))),
     vf.ValidationError, ["bad.xml:4: object 1 ('cat'):", "box has a NaN coordinate"], 2, 1),
    ("box outside image", xml("bad.jpg", obj("cat", (1, 2, 500, 4))),
     vf.ValidationError, ["bad.xml:4:", "box lies outside the image"], 2, 1),
]


def _bad_dataset(root: Path, text: str) -> Path:
    return voc(root, {"good.xml": xml("good.jpg", obj("cat")), "bad.xml": text})


@pytest.mark.parametrize("name,text,error,parts,n_images,n_boxes", BAD, ids=[b[0] for b in BAD])
def test_bad_input_raises(tmp_path, name, text, error, parts, n_images, n_boxes):
    root = _bad_dataset(tmp_path, text)
    with pytest.raises(error) as info:
        vf.load(root, "voc")
    message = str(info.value)
    assert "\n" not in message
    for part in parts:
        assert part in message


@pytest.mark.parametrize("name,text,error,parts,n_images,n_boxes", BAD, ids=[b[0] for b in BAD])
def test_bad_input_skip_errors_keeps_the_rest(tmp_path, name, text, error, parts, n_images,
                                              n_boxes):
    root = _bad_dataset(tmp_path, text)
    report = vf.Report()
    ds = vf.load(root, "voc", errors="skip", report=report)
    assert len(ds.images) == n_images
    assert len(ds.annotations) == n_boxes
    assert "good.jpg" in ds.images.file_name.tolist()
    assert len(report.errors) == 1
    assert "bad.xml" in report.errors[0].where


def test_entity_is_never_expanded(tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOPSECRET")
    text = xml("bad.jpg", obj("&xxe;"), prolog=XXE.replace("/etc/passwd", str(secret)))
    root = _bad_dataset(tmp_path / "ds", text)
    ds = vf.load(root, "voc", errors="skip")
    assert "TOPSECRET" not in repr(ds.categories) + repr(ds.annotations.attrs)


def test_symlinked_image_leading_outside(tmp_path):
    outside = make_image(tmp_path / "outside" / "secret.jpg")
    root = voc(tmp_path / "ds", {"a.xml": xml(objects=obj("cat")),
                                 "b.xml": xml("b.jpg", obj("cat"))}, ("b.jpg",))
    (root / "JPEGImages" / "a.jpg").symlink_to(outside)
    with pytest.raises(vf.UnsafeInputError, match=r"a\.xml: file 'JPEGImages/a\.jpg' is a link "
                       "that leads outside the dataset folder"):
        vf.load(root, "voc")
    ds = vf.load(root, "voc", errors="skip")
    assert ds.images.file_name.tolist() == ["b.jpg"]


def test_missing_size_and_missing_image(tmp_path):
    root = voc(tmp_path, {"a.xml": xml(size=None), "b.xml": xml("b.jpg")})
    with pytest.raises(vf.MissingImageError, match=r"a\.xml: no <size> and image file 'a\.jpg' "
                       "not found"):
        vf.load(root, "voc")
    assert vf.load(root, "voc", errors="skip").images.file_name.tolist() == ["b.jpg"]


def test_listed_image_without_xml_or_file(tmp_path):
    root = voc(tmp_path, {"a.xml": xml()}, lists={"train": "a\nghost\n"})
    with pytest.raises(vf.MissingImageError, match=r"train\.txt:2: image 'ghost' has neither"):
        vf.load(root, "voc")


def test_unsafe_list_entry(tmp_path):
    root = voc(tmp_path, {"a.xml": xml()}, lists={"train": "a\n../../etc/passwd\n"})
    with pytest.raises(vf.UnsafeInputError, match=r"train\.txt:2: .*points outside"):
        vf.load(root, "voc")


def test_not_a_voc_folder(tmp_path):
    (tmp_path / "x.txt").write_text("hello")
    with pytest.raises(vf.FormatError, match="no Pascal VOC annotations found"):
        vf.load(tmp_path, "voc")


# --- property: any float box survives write -> read, and the second write is a fixed point ----

_coord = st.floats(0, 2000, allow_nan=False, allow_infinity=False)


@settings(max_examples=60, deadline=None)
@given(boxes=st.lists(st.tuples(_coord, _coord, _coord, _coord), min_size=1, max_size=6))
def test_float_boxes_round_trip(boxes):
    xyxy = np.array([[min(a, c), min(b, d), max(a, c) + 1, max(b, d) + 1]
                     for a, b, c, d in boxes])
    images = vf.Images.build(["a.jpg"], [2001], [2001])
    ann = vf.Annotations.build([0] * len(xyxy), [1] * len(xyxy), xyxy)
    ds = vf.Dataset(images, ann, vf.Categories.from_names(["x"]))
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        vf.write(ds, tmp / "a", "voc", images="none")
        back = vf.load(tmp / "a", "voc")
        np.testing.assert_allclose(back.annotations.xyxy, xyxy, rtol=0, atol=1e-9)
        vf.write(back, tmp / "b", "voc", images="none")
        assert files_of(tmp / "a") == files_of(tmp / "b")
