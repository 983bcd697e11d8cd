"""Pascal VOC and LabelMe as real tools write them (issue 11, items 13, 14, 15, 19): the VOC
coordinate convention of CVAT, Datumaro, LabelImg and Roboflow, labelmap.txt's "background",
LabelMe's group_id / __ignore__ / _background_, LabelMe files detected whatever their key
order, and VOC written from file names with folders."""

from __future__ import annotations

import base64
import io
import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import visionflow as vf
from tests.conftest import make_image, shared_path
from visionflow.cli.main import app
from visionflow.formats import _voc_emit as emit

runner = CliRunner()


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


def voc_file(name: str, size: tuple[int, int], objects: list[tuple[str, tuple]]) -> str:
    objs = "".join(f"<object><name>{n}</name><bndbox><xmin>{b[0]}</xmin><ymin>{b[1]}</ymin>"
                   f"<xmax>{b[2]}</xmax><ymax>{b[3]}</ymax></bndbox></object>"
                   for n, b in objects)
    return (f"<annotation><folder>JPEGImages</folder><filename>{name}</filename><size><width>"
            f"{size[0]}</width><height>{size[1]}</height><depth>3</depth></size>{objs}"
            "</annotation>")


def cvat_voc_export(root, labelmap: str, objects: list[tuple[str, tuple]]):
    """The shape of CVAT's "PASCAL VOC 1.1" export: Annotations/, JPEGImages/, labelmap.txt
    with "background" first, ImageSets/Main/default.txt."""
    (root / "Annotations").mkdir(parents=True)
    make_image(root / "JPEGImages" / "a.jpg", (64, 48))
    (root / "Annotations" / "a.xml").write_text(voc_file("a.jpg", (64, 48), objects))
    (root / "ImageSets" / "Main").mkdir(parents=True)
    (root / "ImageSets" / "Main" / "default.txt").write_text("a\n")
    (root / "labelmap.txt").write_text(labelmap)
    return root


CVAT_LABELMAP = ("# label:color_rgb:parts:actions\nbackground:0,0,0::\ncar:250,50,83::\n"
                 "person:61,61,245::\n")


# --- item 14: the coordinate convention ----------------------------------------------------

@pytest.mark.shared
def test_roboflow_voc_and_coco_exports_agree_by_default():
    """Roboflow's VOC and COCO exports of the same images (Datumaro's roboflow fixtures) give
    the same boxes only when <bndbox> is read as pixel edges, our default."""
    root = shared_path("datumaro-assets", "roboflow_dataset")
    voc = vf.load(root / "voc", "voc")
    coco = vf.load(root / "coco", "coco")

    def boxes(ds, split):
        part = ds.split(split)
        return {(str(part.images.file_name[i]), tuple(part.annotations_of(i).xyxy[0]))
                for i in range(len(part.images))}

    assert boxes(voc, "train") == boxes(coco, "train")
    assert boxes(voc, "train") == {("train_001.jpg", (2.0, 1.0, 5.0, 2.0)),
                                   ("train_002.jpg", (0.0, 0.0, 2.0, 4.0))}
    devkit = vf.load(root / "voc", "voc", coords="one-based")  # the other convention
    assert boxes(devkit, "train") != boxes(coco, "train")


@pytest.mark.shared
def test_labelimg_raccoon_reads_as_its_csv_export():
    """raccoon was drawn with LabelImg (verified="yes"); its CSV export of the same boxes and
    our VOC reading agree to the pixel; LabelImg clamps xmin below 1 up to 1, never 0."""
    root = shared_path("raccoon")
    voc = vf.load(root / "annotations", "voc")
    rows = (root / "data" / "raccoon_labels.csv").read_text().splitlines()[1:]
    csv = {(r.split(",")[0], tuple(float(v) for v in r.split(",")[4:8])) for r in rows}
    ours = {(str(voc.images.file_name[i]), tuple(float(v) for v in b))
            for i, b in zip(voc.annotations.image_index, voc.annotations.xyxy)}
    assert ours == csv and len(ours) == 217
    assert voc.annotations.xyxy[:, :2].min() == 1


def test_one_based_option_reads_and_writes_the_devkit_convention(tmp_path):
    root = tmp_path / "in"
    (root / "Annotations").mkdir(parents=True)
    (root / "Annotations" / "a.xml").write_text(voc_file("a.jpg", (64, 48),
                                                         [("cat", (1, 1, 10, 20))]))
    make_image(root / "JPEGImages" / "a.jpg")
    report = vf.Report()
    assert vf.load(root, "voc", report=report).annotations.xyxy.tolist() == [[1, 1, 10, 20]]
    assert report.codes() == ["voc.coordinates"] and "0-based" in report.findings[0].message
    devkit = vf.load(root, "voc", coords="one-based")
    assert devkit.annotations.xyxy.tolist() == [[0, 0, 10, 20]]
    out = vf.write(devkit, tmp_path / "devkit", "voc", coords="one-based", images="none")
    assert "<xmin>1</xmin>" in (tmp_path / "devkit" / "Annotations" / "a.xml").read_text()
    assert "1-based" in next(f.message for f in out if f.code == "voc.coordinates")
    vf.write(devkit, tmp_path / "edges", "voc", images="none")
    assert "<xmin>0</xmin>" in (tmp_path / "edges" / "Annotations" / "a.xml").read_text()
    with pytest.raises(vf.Error, match="coords='two'.*zero-based.*one-based"):
        vf.load(root, "voc", coords="two")
    with pytest.raises(vf.Error, match="coords='two'"):
        vf.write(devkit, tmp_path / "bad", "voc", coords="two", images="none")


def test_text_and_lxml_writers_agree_on_the_offset():
    images = vf.Images.build(["a.jpg"], [64], [48])
    ann = vf.Annotations.build([0], [1], [[1.5, 2, 30, 40]])
    ds = vf.Dataset(images, ann, vf.Categories.from_names(["cat"]))
    for offset, xmin in ((0, b"<xmin>1.5</xmin>"), (1, b"<xmin>2.5</xmin>")):
        [text] = emit.object_texts(ann, np.arange(1), {1: "cat"}, offset)
        data = "".join((emit.header_text("a.jpg", 64, 48), text, emit.FOOTER)).encode()
        assert data == emit.annotation_xml(ds, 0, ann, np.array([0]), {1: "cat"}, offset)
        assert xmin in data


def test_click_without_drag_is_one_pixel(tmp_path):
    """BCCD holds two boxes with xmin == xmax: read one pixel wide, reported, not refused."""
    root = tmp_path / "in"
    (root / "Annotations").mkdir(parents=True)
    (root / "Annotations" / "a.xml").write_text(voc_file("a.jpg", (64, 48), [
        ("cell", (20, 30, 20, 30)), ("cell", (5, 5, 9, 9))]))
    report = vf.Report()
    ds = vf.load(root, "voc", report=report)
    assert ds.annotations.xyxy.tolist() == [[20, 30, 21, 31], [5, 5, 9, 9]]
    [found] = [f for f in report if f.code == "voc.zero_size"]
    assert found.severity == "warning" and found.count == 1


def test_cli_prints_the_convention_and_takes_the_read_option(tmp_path):
    root = tmp_path / "in"
    (root / "Annotations").mkdir(parents=True)
    (root / "Annotations" / "a.xml").write_text(voc_file("a.jpg", (64, 48),
                                                         [("cat", (1, 1, 10, 20))]))
    make_image(root / "JPEGImages" / "a.jpg")
    result = run("info", root)
    assert result.exit_code == 0 and "VOC boxes read as 0-based" in result.output
    result = run("info", root, "-I", "coords=one-based", "--json")
    assert result.exit_code == 0 and "devkit" in result.output
    result = run("convert", root, tmp_path / "out", "--to", "voc", "-O", "coords=one-based")
    assert result.exit_code == 0, result.output
    assert "VOC boxes read as 0-based" in result.output
    assert "VOC boxes written as the VOC devkit's 1-based" in result.output
    assert "<xmin>2</xmin>" in (tmp_path / "out" / "Annotations" / "a.xml").read_text()
    result = run("convert", root, tmp_path / "bad", "--to", "coco", "-I", "coords=2")
    assert result.exit_code == 1 and "coords='2'" in result.output
    assert not (tmp_path / "bad").exists()


# --- item 13: labelmap background, LabelMe group_id / __ignore__ / _background_ ----------

def test_cvat_labelmap_background_is_not_a_class(tmp_path):
    root = cvat_voc_export(tmp_path / "cvat", CVAT_LABELMAP, [("car", (1, 1, 10, 10))])
    report = vf.Report()
    ds = vf.load(root, report=report)
    assert ds.categories.names == ["car", "person"]
    assert "voc.background" in report.codes()
    vf.write(ds, tmp_path / "out", "voc", images="none")
    assert "background" not in (tmp_path / "out" / "labelmap.txt").read_text()


def test_labelmap_background_used_by_objects_stays_a_class(tmp_path):
    """Datumaro's voc_dataset2 names an object "background": then it is a class."""
    root = cvat_voc_export(tmp_path / "cvat", CVAT_LABELMAP, [("background", (1, 1, 10, 10))])
    report = vf.Report()
    ds = vf.load(root, report=report)
    assert ds.categories.names == ["background", "car", "person"]
    assert "voc.background" not in report.codes()


def labelme_doc(shapes, image="a.jpg", **top):
    return {"version": "5.2.1", "flags": {}, "shapes": shapes, "imagePath": image,
            "imageData": None, "imageHeight": 48, "imageWidth": 64, **top}


def poly(label, pts, group_id=None, kind="polygon"):
    return {"label": label, "points": pts, "group_id": group_id, "description": "",
            "shape_type": kind, "flags": {}}


def labelme_example(root):
    """The shape of labelme's examples/instance_segmentation (2011_000003.json): one person in
    two parts sharing group_id 0, a person and a bottle alone, an __ignore__ region, and the
    labels.txt labelme2coco takes (__ignore__, _background_, then the classes)."""
    make_image(root / "a.jpg")
    shapes = [poly("person", [[1, 1], [10, 1], [10, 10]]),
              poly("person", [[20, 5], [30, 5], [30, 20]], group_id=0),
              poly("person", [[32, 22], [40, 22], [40, 30]], group_id=0),
              poly("bottle", [[50, 5], [60, 5], [60, 40]]),
              poly("__ignore__", [[0, 40], [10, 40], [10, 47]])]
    (root / "a.json").write_text(json.dumps(labelme_doc(shapes)))
    (root / "labels.txt").write_text("__ignore__\n_background_\nbottle\nperson\n")
    return root


def test_labelme_group_id_joins_shapes_and_ignore_is_not_an_object(tmp_path):
    report = vf.Report()
    ds = vf.load(labelme_example(tmp_path / "lm"), report=report)
    assert ds.categories.names == ["bottle", "person"]  # no __ignore__, no _background_
    ann = ds.annotations
    assert len(ann) == 3  # labelme2coco: 3 objects (the __ignore__ region left out)
    rings = ann.polygons.counts().tolist()
    assert sorted(rings) == [1, 1, 2]
    joined = int(np.flatnonzero(ann.polygons.counts() == 2)[0])
    assert ann.xyxy[joined].tolist() == [20, 5, 40, 30]  # the union of both parts
    assert {f.code: f.count for f in report if f.code.startswith("labelme.")} == {
        "labelme.ignore": 1, "labelme.group_id": 1}


def test_labelme_group_id_joins_a_rectangle_but_not_other_labels(tmp_path):
    root = tmp_path / "lm"
    make_image(root / "a.jpg")
    shapes = [poly("car", [[1, 1], [10, 10]], group_id=3, kind="rectangle"),
              poly("car", [[20, 5], [30, 5], [30, 20]], group_id=3),
              poly("wheel", [[2, 2], [4, 2], [4, 4]], group_id=3),
              poly("car", [[40, 30], [50, 40]], group_id=7, kind="rectangle")]
    (root / "a.json").write_text(json.dumps(labelme_doc(shapes)))
    ds = vf.load(root)
    names = {c.id: c.name for c in ds.categories}
    ann = ds.annotations
    got = sorted((names[int(c)], int(n)) for c, n in zip(ann.category_id, ann.polygons.counts()))
    assert got == [("car", 0), ("car", 2), ("wheel", 1)]  # a lone rectangle stays a box


def test_labelme_writer_groups_rings_and_takes_background(tmp_path):
    """Several-ring objects come back as one object (a fresh group_id), a `_background_`
    class (labelme2coco's category 0) is written, not refused, and labels.txt is the one
    labelme2coco asserts."""
    ds = vf.load(labelme_example(tmp_path / "lm"))
    coco_like = vf.Dataset(ds.images, ds.annotations, vf.Categories(
        [vf.Category(0, "_background_"), *ds.categories]))
    report = vf.write(coco_like, tmp_path / "out", "labelme")
    assert "loss.polygon_rings" not in report.codes()
    assert "loss.background_class" in report.codes()
    labels = (tmp_path / "out" / "labels.txt").read_text().splitlines()
    assert labels == ["__ignore__", "_background_", "bottle", "person"]
    doc = json.loads((tmp_path / "out" / "a.json").read_text())
    groups = [s["group_id"] for s in doc["shapes"] if s["label"] == "person"]
    assert sorted(groups, key=str) == [0, 0, None]
    back = vf.load(tmp_path / "out")
    assert len(back.annotations) == 3
    assert sorted(back.annotations.polygons.counts().tolist()) == [1, 1, 2]
    last = vf.Dataset(ds.images, ds.annotations, vf.Categories(
        [*ds.categories, vf.Category(3, "_background_")]))  # ids 1..N: only this loss
    with pytest.raises(vf.LossError, match="_background_"):
        vf.write(last, tmp_path / "strict", "labelme", strict=True)


def test_labelme_writer_refuses_an_ignore_class(tmp_path):
    images = vf.Images.build(["a.jpg"], [64], [48])
    ds = vf.Dataset(images, vf.Annotations.build([0], [1], [[1, 1, 5, 5]]),
                    vf.Categories.from_names(["__ignore__"]))
    with pytest.raises(vf.OutputError, match="__ignore__"):
        vf.write(ds, tmp_path / "out", "labelme", images="none")
    assert not (tmp_path / "out").exists()


# --- item 15: LabelMe files detected whatever their keys -----------------------------------

def embedded_png(size=300) -> str:
    rng = np.random.default_rng(0)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, (size, size, 3), np.uint8)).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def test_labelme_with_image_data_before_shapes_is_detected(tmp_path):
    data = embedded_png()
    assert len(data) > 1 << 16  # past what detection reads at first
    doc = {"version": "4.5.6", "flags": {}, "imageData": data, "imagePath": "x.png",
           "imageHeight": 300, "imageWidth": 300,
           "shapes": [poly("cat", [[10, 10], [50, 60]], kind="rectangle")]}
    (tmp_path / "lm").mkdir()
    (tmp_path / "lm" / "x.json").write_text(json.dumps(doc))
    assert vf.detect(tmp_path / "lm")[0].format == "labelme"
    ds = vf.load(tmp_path / "lm")
    assert ds.images.width.tolist() == [300] and len(ds.annotations) == 1
    result = run("info", tmp_path / "lm")
    assert result.exit_code == 0, result.output


def test_labelme_without_version_and_flags(tmp_path):
    """labelme 3 files: no version, no flags, no shape_type, imageData first."""
    make_image(tmp_path / "lm" / "x.jpg", (64, 48))
    doc = {"imageData": embedded_png(200), "shapes": [
        {"label": "dog", "line_color": None, "fill_color": None,
         "points": [[1, 1], [20, 1], [20, 30]]}],
        "lineColor": [0, 255, 0, 128], "fillColor": [255, 0, 0, 128], "imagePath": "x.jpg"}
    (tmp_path / "lm" / "x.json").write_text(json.dumps(doc))
    (tmp_path / "plain").mkdir()
    (tmp_path / "plain" / "y.json").write_text(json.dumps(
        {"shapes": [poly("cat", [[1, 1], [5, 5]], kind="rectangle")], "imagePath": "y.jpg",
         "imageHeight": 48, "imageWidth": 64}))
    make_image(tmp_path / "plain" / "y.jpg", (64, 48))
    for folder in ("lm", "plain"):
        assert vf.detect(tmp_path / folder)[0].format == "labelme"
        assert len(vf.load(tmp_path / folder).annotations) == 1


# --- item 19: VOC written from file names with folders -------------------------------------

def test_voc_from_names_under_jpegimages_is_not_nested_twice(tmp_path):
    make_image(tmp_path / "src" / "JPEGImages" / "a.jpg")
    images = vf.Images.build(["JPEGImages/a.jpg"], [64], [48],
                             path=[str(tmp_path / "src" / "JPEGImages" / "a.jpg")])
    ds = vf.Dataset(images, vf.Annotations.build([0], [1], [[1, 2, 11, 12]]),
                    vf.Categories.from_names(["cat"]))
    vf.write(ds, tmp_path / "out", "voc", images="copy")
    assert (tmp_path / "out" / "JPEGImages" / "a.jpg").is_file()
    assert (tmp_path / "out" / "Annotations" / "a.xml").is_file()
    assert not (tmp_path / "out" / "JPEGImages" / "JPEGImages").exists()
    assert vf.detect(tmp_path / "out")[0].format == "voc"
    back = vf.load(tmp_path / "out")
    assert back.images.file_name.tolist() == ["a.jpg"] and back.images.path[0] is not None
    assert back.annotations.xyxy.tolist() == [[1, 2, 11, 12]]


def test_voc_with_sub_folders_is_detected(tmp_path):
    make_image(tmp_path / "src" / "seq1" / "a.jpg")
    images = vf.Images.build(["seq1/a.jpg"], [64], [48],
                             path=[str(tmp_path / "src" / "seq1" / "a.jpg")])
    ds = vf.Dataset(images, vf.Annotations.build([0], [1], [[1, 2, 11, 12]]),
                    vf.Categories.from_names(["cat"]))
    vf.write(ds, tmp_path / "out", "voc", images="copy")
    assert (tmp_path / "out" / "Annotations" / "seq1" / "a.xml").is_file()
    assert [d.format for d in vf.detect(tmp_path / "out")][0] == "voc"
    back = vf.load(tmp_path / "out")
    assert back.images.file_name.tolist() == ["seq1/a.jpg"] and back.images.path[0] is not None
    result = run("info", tmp_path / "out")
    assert result.exit_code == 0, result.output


def test_yolo_from_names_under_images_keeps_its_labels(tmp_path):
    """The sibling in YOLO: images/train/images/a.jpg must have its label where Ultralytics
    looks (the last images/ -> labels/), or the objects are lost without a word."""
    make_image(tmp_path / "src" / "images" / "a.jpg")
    images = vf.Images.build(["images/a.jpg"], [64], [48], split=["train"],
                             path=[str(tmp_path / "src" / "images" / "a.jpg")])
    ds = vf.Dataset(images, vf.Annotations.build([0], [1], [[1, 2, 11, 12]]),
                    vf.Categories.from_names(["cat"]))
    vf.write(ds, tmp_path / "out", "yolo", images="copy")
    assert (tmp_path / "out" / "images" / "train" / "labels" / "a.txt").is_file()
    back = vf.load(tmp_path / "out")
    assert back.images.file_name.tolist() == ["images/a.jpg"]
    np.testing.assert_allclose(back.annotations.xyxy, [[1, 2, 11, 12]], atol=1e-4)


def test_devkit_files_read_as_edges_get_a_warning(tmp_path):
    """The original VOC2007/2012 files are 1-based: read without coords=one-based, say so."""
    root = tmp_path / "VOC2007"
    (root / "Annotations").mkdir(parents=True)
    text = voc_file("000005.jpg", (500, 375), [("chair", (263, 211, 324, 339))])
    text = text.replace("<size>", "<source><database>The VOC2007 Database</database>"
                                  "<annotation>PASCAL VOC2007</annotation></source><size>")
    (root / "Annotations" / "000005.xml").write_text(text)
    report = vf.Report()
    vf.load(root, "voc", report=report)
    [found] = [f for f in report if f.code == "voc.devkit_files"]
    assert found.severity == "warning" and "coords=one-based" in found.message
    report = vf.Report()
    ds = vf.load(root, "voc", report=report, coords="one-based")
    assert "voc.devkit_files" not in report.codes()
    assert ds.annotations.xyxy.tolist() == [[262, 210, 324, 339]]
