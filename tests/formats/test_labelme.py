"""LabelMe JSON: real sahi files, every shape type, embedded imageData, layouts, writer rules,
detection against VOC/COCO and bad input."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import visionflow as vf
from tests.conftest import make_image, shared_path
from visionflow.core.report import Report
from visionflow.formats import registry


def shape(label="cat", points=((1, 2), (30, 40)), shape_type="rectangle", **extra) -> dict:
    return {"label": label, "points": [list(p) for p in points], "group_id": None,
            "description": "", "shape_type": shape_type, "flags": {}, **extra}


def labelme(folder: Path, name: str, shapes: list, image: str | None = "a.jpg",
            size=(64, 48), make=True, **top) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    doc = {"version": "5.2.1", "flags": {}, "shapes": shapes, "imagePath": image,
           "imageData": None, "imageHeight": size[1], "imageWidth": size[0], **top}
    if make and image:
        make_image(folder / image, size)
    p = folder / name
    p.write_text(json.dumps(doc))
    return p


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


# --- real files --------------------------------------------------------------------------------

@pytest.mark.shared
def test_sahi_terrain_files(tmp_path):
    src = shared_path("sahi-tests", "tests", "data", "coco_utils")
    report = Report()
    ds = vf.load(src, "labelme", report=report)
    assert list(ds.images.file_name) == ["terrain1.png", "terrain2.png", "terrain3.png"]
    assert len(ds.annotations) == 22
    assert ds.categories.names == ["car", "human"]
    assert ds.annotations.geometry_counts() == {"boxes": 22, "polygons": 22}
    assert (ds.images.width[0], ds.images.height[0]) == (2048, 1365)
    # only terrain2.png is on disk (terrain1 is a .jpg, terrain3.png is absent)
    assert [p is not None for p in ds.images.path] == [False, True, False]
    # the COCO files in the same folder are skipped with a warning, not an error
    assert "labelme.skipped" in report.codes()
    # each box is the bounds of its polygon
    ann = ds.annotations
    for r in range(len(ann)):
        np.testing.assert_allclose(ann.xyxy[r], ann.polygons.bounds(r))
    # detection: a LabelMe file, not COCO
    assert registry.detect(src / "terrain1.json").format == "labelme"
    # fixed point on real data
    vf.write(ds, tmp_path / "a", "labelme", images="none")
    back = vf.load(tmp_path / "a", "labelme")
    assert not back.differences(ds)
    vf.write(back, tmp_path / "b", "labelme", images="none")
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b")


@pytest.mark.shared
def test_labelme_to_coco_keeps_polygons(tmp_path):
    src = shared_path("sahi-tests", "tests", "data", "coco_utils", "terrain2.json")
    vf.convert(src, tmp_path / "coco", "coco", images="none", from_format="labelme")
    back = vf.load(tmp_path / "coco", "coco")
    assert len(back.annotations) == len(vf.load(src, "labelme").annotations)
    assert back.annotations.geometry_counts()["polygons"] == len(back.annotations)


@pytest.mark.shared
def test_labelme_xml_is_not_read_as_voc_or_labelme():
    # Datumaro's labelme_dataset is the older LabelMe XML (<annotation> with <imagesize>):
    # VOC detection refuses it (Datumaro #658) and LabelMe JSON detection does not claim it.
    folder = shared_path("datumaro-assets", "labelme_dataset", "Annotations", "subset1")
    assert [d.format for d in vf.detect(folder)] == []


# --- shapes -----------------------------------------------------------------------------------

def test_every_shape_type(tmp_path):
    mask = np.zeros((4, 6), np.uint8)
    mask[1:3, 2:5] = 1
    buf = io.BytesIO()
    Image.fromarray(mask * 255).save(buf, "PNG")
    shapes = [
        shape("box", [(30, 40), (1, 2)]),
        shape("poly", [(1, 1), (20, 1), (10, 15)], "polygon", group_id=3, description="d"),
        shape("circle", [(20, 20), (25, 20)], "circle"),
        shape("pt", [(5, 6)], "point", flags={"hard": True}),
        shape("line", [(1, 10), (40, 10)], "line"),
        shape("strip", [(1, 1), (5, 5), (9, 2)], "linestrip"),
        shape("m", [(10, 20), (15, 23)], "mask", mask=base64.b64encode(buf.getvalue()).decode()),
        shape("box", attributes={"occluded": 1, "color": "red"}),
    ]
    labelme(tmp_path / "src", "a.json", shapes)
    report = Report()
    ds = vf.load(tmp_path / "src", report=report)
    ann = ds.annotations
    names = {c.id: c.name for c in ds.categories}
    assert [names[c] for c in ann.category_id] == ["box", "poly", "circle", "pt", "line", "strip",
                                                   "m", "box"]
    np.testing.assert_allclose(ann.xyxy[0], [1, 2, 30, 40])
    np.testing.assert_allclose(ann.xyxy[2], [15, 15, 25, 25])            # centre +- radius
    assert len(ann.polygons.rings(2)[0]) == 32                            # circle polygon
    np.testing.assert_allclose(ann.xyxy[3], [4.5, 5.5, 5.5, 6.5])         # point: 1 px box
    np.testing.assert_allclose(ann.xyxy[4], [1, 9.5, 40, 10.5])           # flat line padded
    np.testing.assert_allclose(ann.xyxy[6], [12, 21, 15, 23])             # set pixels of mask
    assert vf.core.geometry.rle_area(ann.rle[6]) == 6
    assert ann.attrs["labelme.group_id"][1] == 3
    assert ann.attrs["labelme.description"][1] == "d"
    assert ann.attrs["labelme.flags"][3] == {"hard": True}
    assert ann.polylines.rings(4)[0].tolist() == [[1.0, 10.0], [40.0, 10.0]]  # a polyline
    assert ann.polylines.rings(5)[0].tolist() == [[1, 1], [5, 5], [9, 2]]
    assert ann.attrs["occluded"][7] == 1 and ann.attrs["color"][7] == "red"
    assert "labelme.vertices" in report.codes()
    # LabelMe -> LabelMe writes the same shapes back
    vf.write(ds, tmp_path / "out", "labelme")
    doc = json.loads((tmp_path / "out" / "a.json").read_text())
    assert [s["shape_type"] for s in doc["shapes"]] == [
        "rectangle", "polygon", "circle", "point", "line", "linestrip", "mask", "rectangle"]
    assert doc["shapes"][2]["points"] == [[20, 20], [25, 20]]
    assert doc["shapes"][7]["attributes"] == {"color": "red", "occluded": 1}
    back = vf.load(tmp_path / "out")
    assert not back.differences(ds)


def test_embedded_image_data_is_written_as_a_file(tmp_path):
    buf = io.BytesIO()
    Image.new("RGB", (40, 30), (1, 2, 3)).save(buf, "PNG")
    data = base64.b64encode(buf.getvalue()).decode()
    p = labelme(tmp_path / "src", "x.json", [shape(points=((1, 1), (9, 9)))], image="x.png",
                make=False, imageData=data)
    doc = json.loads(p.read_text())
    del doc["imageWidth"], doc["imageHeight"]      # size must come from the embedded bytes
    p.write_text(json.dumps(doc))
    ds = vf.load(tmp_path / "src", "labelme")
    assert ds.images.path[0] is None
    assert (ds.images.width[0], ds.images.height[0]) == (40, 30)
    vf.write(ds, tmp_path / "coco", "coco", images="copy")
    written = list((tmp_path / "coco").rglob("x.png"))
    assert len(written) == 1 and written[0].read_bytes() == buf.getvalue()


def test_image_path_relative_to_json_and_split_folders(tmp_path):
    root = tmp_path / "ds"
    make_image(root / "train" / "images" / "a.jpg")
    labelme(root / "train" / "ann", "a.json", [shape()], image="../images/a.jpg", make=False)
    labelme(root / "valid", "b.json", [], image="b.jpg")
    ds = vf.load(root, "labelme")
    assert list(ds.images.file_name) == ["images/a.jpg", "b.jpg"]
    assert list(ds.images.split) == ["train", "val"]
    assert all(p is not None for p in ds.images.path)
    assert len(ds.annotations) == 1


def test_labels_txt_gives_class_order_and_unused_classes(tmp_path):
    labelme(tmp_path / "src", "a.json", [shape("zebra"), shape("ant")])
    (tmp_path / "src" / "labels.txt").write_text("__ignore__\n_background_\nzebra\nyak\n")
    report = Report()
    ds = vf.load(tmp_path / "src", "labelme", report=report)
    assert ds.categories.names == ["zebra", "yak", "ant"]
    vf.write(ds, tmp_path / "out", "labelme")
    # labelme's own --labels layout (labelme2coco asserts the first two lines)
    assert (tmp_path / "out" / "labels.txt").read_text() == \
        "__ignore__\n_background_\nzebra\nyak\nant\n"


def test_writer_refuses_two_images_sharing_a_json(tmp_path):
    ds = vf.Dataset(vf.Images.build(["a.jpg", "a.png"], [10, 10], [10, 10]),
                    vf.Annotations.empty(), vf.Categories.from_names(["x"]))
    with pytest.raises(vf.OutputError, match="a.json"):
        vf.write(ds, tmp_path / "out", "labelme", images="none")


def test_detection_labelme_vs_voc(tmp_path):
    labelme(tmp_path / "lm", "a.json", [shape()])
    found = vf.detect(tmp_path / "lm")
    assert found[0].format == "labelme" and len(found) == 1
    assert "shapes" in found[0].reasons[0]
    voc_dir = tmp_path / "voc" / "Annotations"
    voc_dir.mkdir(parents=True)
    (voc_dir / "a.xml").write_text("<annotation><filename>a.jpg</filename><size><width>9"
                                   "</width><height>9</height></size></annotation>")
    assert [d.format for d in vf.detect(tmp_path / "voc")] == ["voc"]


# --- bad input --------------------------------------------------------------------------------

BAD = [
    ('{"shapes": [', vf.ParseError, r"a\.json:1:\d+: malformed JSON"),
    (json.dumps({"shapes": [shape(points=[(1, 2)])], "imagePath": "a.jpg", "imageWidth": 64,
                 "imageHeight": 48}), vf.ParseError, (r"a\.json: shapes\[0\] \('cat'\): a "
     r"rectangle needs 2 points, got 1")),
    (json.dumps({"shapes": [shape(points=[("x", 2), (3, 4)])], "imagePath": "a.jpg"}),
     vf.ParseError, r"shapes\[0\] \('cat'\): points must be a list of \[x, y\] numbers"),
    (json.dumps({"shapes": [{"points": [[1, 2], [3, 4]]}], "imagePath": "a.jpg"}),
     vf.ParseError, r"shapes\[0\]: label must be a string"),
    (json.dumps({"shapes": [], "imagePath": "../../etc/passwd"}), vf.UnsafeInputError,
     r"a\.json: imagePath '\.\./\.\./etc/passwd' points outside"),
    (json.dumps({"shapes": [], "imagePath": "a.jpg", "imageWidth": -3}), vf.ParseError,
     r"a\.json: imageWidth must be a positive integer"),
    (json.dumps({"shapes": [], "imagePath": "b.jpg", "imageData": "@@@"}), vf.ParseError,
     r"a\.json: imageData is not valid base64"),
    (json.dumps({"shapes": [], "imagePath": "gone.jpg"}), vf.ParseError,
     r"a\.json: no imageWidth/imageHeight, no imageData and image file 'gone.jpg' not found"),
    (json.dumps({"shapes": [shape(points=[(1, 2), (300, 40)])], "imagePath": "a.jpg",
                 "imageWidth": 64, "imageHeight": 48}), vf.ValidationError,
     r"a\.json: shapes\[0\] \('cat'\): box lies outside the image"),
]


@pytest.mark.parametrize("text,error,message", BAD, ids=range(len(BAD)))
def test_bad_input(tmp_path, text, error, message):
    make_image(tmp_path / "a.jpg")
    (tmp_path / "a.json").write_text(text)
    with pytest.raises(error, match=message):
        vf.load(tmp_path / "a.json", "labelme")


def test_skip_errors_keeps_the_good_shapes(tmp_path):
    labelme(tmp_path, "a.json", [shape(), shape(points=[(1, 2)]), shape("dog")])
    report = Report()
    ds = vf.load(tmp_path, "labelme", errors="skip", report=report)
    assert len(ds.annotations) == 2
    assert [f.where for f in report.errors] == [f"{tmp_path / 'a.json'}: shapes[1] ('cat')"]


def test_folder_without_labelme_files(tmp_path):
    (tmp_path / "x.json").write_text("{}")
    with pytest.raises(vf.FormatError, match="no LabelMe JSON files"):
        vf.load(tmp_path, "labelme")
