"""CVAT for images XML 1.1: Datumaro's real exports, every element kind, attributes, splits,
writer rules, detection against VOC (and CVAT's VOC export) and bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image, shared_path
from visionflow.core.geometry import mask_to_rle, rle_area
from visionflow.core.report import Report


def cvat_xml(images: str, labels: str = "<label><name>cat</name></label>") -> str:
    return (f'<?xml version="1.0" encoding="utf-8"?>\n<annotations>\n<version>1.1</version>\n'
            f"<meta><task><labels>{labels}</labels></task></meta>\n{images}\n</annotations>\n")


def image(body: str, name: str = "a.jpg", extra: str = "", size=(64, 48), id=0) -> str:
    return (f'<image id="{id}" name="{name}" width="{size[0]}" height="{size[1]}" {extra}>\n'
            f"{body}\n</image>")


def write_task(root: Path, xml: str, images=("a.jpg",), name: str = "annotations.xml") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    for im in images:
        make_image(root / "images" / im)
    (root / name).write_text(xml)
    return root


def files_of(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes()
            for p in sorted(root.rglob("*")) if p.is_file()}


# --- real files --------------------------------------------------------------------------------

@pytest.mark.shared
def test_datumaro_task_export(tmp_path):
    src = shared_path("datumaro-assets", "cvat_dataset", "for_images", "export_task")
    report = Report()
    ds = vf.load(src, report=report)
    assert ds.source_format == "cvat"
    assert list(ds.images.file_name) == ["img0.jpg", "img1.jpg"]
    assert list(ds.images.split) == ["train", "train"]            # from train.xml
    assert all(p is not None for p in ds.images.path)
    assert ds.categories.names == ["label1", "label2", ""]          # <meta> order, then unlisted
    ann = ds.annotations
    assert len(ann) == 4
    np.testing.assert_allclose(ann.xyxy[0], [0, 2, 4, 4])
    assert ann.attrs["occluded"][0] == 1 and ann.attrs["cvat.z_order"][0] == 1
    assert [ann.attrs[k][0] for k in ("a1", "a2", "a3", "a4")] == [True, "v3", "0003", 2.4]
    assert ann.attrs["cvat.shape"].tolist() == [None, None, None, "points"]
    assert ann.polylines.rings(1)[0].tolist() == [[1, 2], [3, 4], [5, 6], [7, 8]]  # a column
    np.testing.assert_allclose(ann.xyxy[1], [1, 2, 7, 8])
    assert ann.polygons.counts().tolist() == [0, 0, 1, 0]
    assert "cvat.vertices" in report.codes()
    # fixed point: writing what was read writes the same bytes
    vf.write(ds, tmp_path / "a", "cvat", images="copy")
    back = vf.load(tmp_path / "a", "cvat")
    # CVAT needs `occluded` on every shape: the writer says 0 where Datumaro's file said nothing
    assert back.differences(ds) == ["annotations.attrs['occluded']"]
    assert back.annotations.attrs["occluded"].tolist() == [1, 0, 0, 0]
    vf.write(back, tmp_path / "b", "cvat", images="copy")
    assert files_of(tmp_path / "a") == files_of(tmp_path / "b")
    out = (tmp_path / "a" / "annotations.xml").read_text()
    assert '<polyline label="" points="1,2;3,4;5,6;7,8"' in out
    assert "<input_type>checkbox</input_type>" in out              # attribute specs kept


@pytest.mark.shared
def test_datumaro_project_export_subsets():
    src = shared_path("datumaro-assets", "cvat_dataset", "for_images", "export_project")
    ds = vf.load(src, "cvat")
    assert ds.images.splits() == ["Test", "Train", "val"]            # "Validation" -> val
    assert len(ds.images) == 6 and len(ds.annotations) == 12
    assert ds.images.path[4].endswith("images/Validation/img0.jpg")


@pytest.mark.shared
def test_cvat_for_video_tracks_are_reported():
    src = shared_path("datumaro-assets", "cvat_dataset", "for_video")
    report = Report()
    ds = vf.load(src, "cvat", report=report)
    assert len(ds.annotations) == 0
    assert any(f.code == "cvat.skipped" and "<track>" in f.message for f in report)


@pytest.mark.shared
def test_cvat_voc_export_detected_as_voc_with_reason():
    src = shared_path("datumaro-assets", "voc_dataset", "voc_dataset1")
    assert vf.detect(src)[0].format == "voc"


def test_cvat_voc_export_reason(tmp_path):
    ann = tmp_path / "Annotations"
    ann.mkdir()
    (ann / "a.xml").write_text("<annotation><filename>a.jpg</filename><size><width>9</width>"
                               "<height>9</height></size></annotation>")
    (tmp_path / "ImageSets" / "Main").mkdir(parents=True)
    (tmp_path / "ImageSets" / "Main" / "default.txt").write_text("a\n")
    (tmp_path / "labelmap.txt").write_text("# label:color_rgb:parts:actions\ncat:1,2,3::\n")
    found = vf.detect(tmp_path)
    assert [d.format for d in found] == ["voc"]
    assert any("CVAT's VOC export" in r for r in found[0].reasons)


# --- elements ---------------------------------------------------------------------------------

def test_rotated_box_mask_ellipse_tag(tmp_path):
    body = (
        '<box label="cat" occluded="0" xtl="10" ytl="10" xbr="30" ybr="20" rotation="90" '
        'z_order="0"/>\n'
        '<mask label="cat" occluded="0" rle="1, 2, 1, 2" left="3" top="4" width="3" height="2" '
        'z_order="0"/>\n'
        '<ellipse label="cat" occluded="1" cx="30" cy="20" rx="5" ry="3" z_order="0"/>\n'
        '<tag label="indoor" source="manual"><attribute name="light">dim</attribute></tag>')
    write_task(tmp_path / "src", cvat_xml(image(body)))
    ds = vf.load(tmp_path / "src", "cvat")
    ann = ds.annotations
    np.testing.assert_allclose(ann.xyxy[0], [15, 5, 25, 25], atol=1e-9)   # turned 90 degrees
    assert ann.has_obb().tolist() == [True, False, False, False]
    # row-major runs inside the 3x2 crop at (3, 4): 1 off, 2 on, 1 off, 2 on -> 011 / 011
    assert rle_area(ann.rle[1]) == 4
    np.testing.assert_allclose(ann.xyxy[1], [4, 4, 6, 6])
    np.testing.assert_allclose(ann.xyxy[2], [25, 17, 35, 23])
    assert ann.is_label.tolist() == [False, False, False, True]
    assert ann.attrs["light"][3] == "dim"
    assert ds.categories.names == ["cat", "indoor"]
    vf.write(ds, tmp_path / "out", "cvat")
    text = (tmp_path / "out" / "annotations.xml").read_text()
    assert 'rotation="90"' in text
    assert 'rle="0, 4" left="4" top="4" width="2" height="2"' in text  # cropped tight
    assert '<ellipse label="cat" cx="30" cy="20" rx="5" ry="3" occluded="1"' in text
    assert '<tag label="indoor" source="manual">' in text
    back = vf.load(tmp_path / "out", "cvat")
    assert not back.differences(ds, atol=1e-6)


def test_coco_to_cvat_and_back(tmp_path):
    make_image(tmp_path / "src" / "a.jpg", (50, 40))
    mask = np.zeros((40, 50), bool)
    mask[5:9, 10:20] = True
    rle = np.empty(1, object)
    rle[0] = mask_to_rle(mask)
    ds = vf.Dataset(vf.Images.build(["a.jpg"], [50], [40], id=[7], split="train",
                                    path=[str(tmp_path / "src" / "a.jpg")]),
                    vf.Annotations.build([0, 0], [2, 1], [[1, 2, 3.5, 4], [10, 5, 20, 9]],
                                         rle=np.array([None, rle[0]], object),
                                         attrs={"occluded": np.array([1, 0], object)}),
                    vf.Categories.from_names(["b", "a"]))
    vf.write(ds, tmp_path / "out", "cvat")
    assert (tmp_path / "out" / "images" / "train" / "a.jpg").is_file()
    back = vf.load(tmp_path / "out")
    assert back.source_format == "cvat"
    assert back.categories.names == ["b", "a"] and back.images.id.tolist() == [7]
    assert not back.differences(ds)


# --- bad input --------------------------------------------------------------------------------

BAD = [
    (cvat_xml(image('<box label="cat" xtl="1" ytl="2" xbr="x" ybr="4"/>')), vf.ParseError,
     r"annotations\.xml:\d+: <box> \('cat'\): xbr is not a number: 'x'"),
    (cvat_xml(image('<box label="cat" xtl="1" ytl="2" xbr="3"/>')), vf.ParseError,
     r"annotations\.xml:\d+: <box> \('cat'\): missing 'ybr' attribute"),
    (cvat_xml(image('<polygon label="cat" points="1,2;3"/>')), vf.ParseError,
     r"<polygon> \('cat'\): points must be 'x,y;x,y;\.\.\.'"),
    (cvat_xml(image('<polygon label="cat" points="1,2;3,4"/>')), vf.ParseError,
     r"a polygon needs at least 3 points, got 2"),
    (cvat_xml(image('<box xtl="1" ytl="2" xbr="3" ybr="4"/>')), vf.ParseError,
     r"annotations\.xml:\d+: <box> has no label"),
    (cvat_xml('<image id="0" name="a.jpg" width="w" height="4"></image>'), vf.ParseError,
     r"annotations\.xml:\d+: <image> id, width and height must be integers"),
    (cvat_xml(image("", name="../../etc/passwd")), vf.UnsafeInputError,
     r"annotations\.xml:\d+: file name '\.\./\.\./etc/passwd' points outside"),
    (cvat_xml(image('<mask label="cat" rle="1, 2" left="0" top="0" width="3" height="2"/>')),
     vf.ParseError, r"mask rle covers 3 pixels, expected width x height = 3x2"),
    (cvat_xml(image('<box label="cat" xtl="1" ytl="2" xbr="300" ybr="4"/>')),
     vf.ValidationError, r"annotations\.xml:\d+: <box> \('cat'\): box lies outside the image"),
    ("<annotations><image", vf.ParseError, r"annotations\.xml:1: malformed XML"),
    ('<?xml version="1.0"?><!DOCTYPE a [<!ENTITY x "y">]><annotations>&x;</annotations>',
     vf.UnsafeInputError, r"annotations\.xml: XML declares entities"),
    ("<annotation><filename>a.jpg</filename></annotation>", vf.ParseError,
     r"root element is <annotation>, expected <annotations> \(Pascal VOC\? use --from voc\)"),
]


@pytest.mark.parametrize("text,error,message", BAD, ids=range(len(BAD)))
def test_bad_input(tmp_path, text, error, message):
    write_task(tmp_path, text)
    with pytest.raises(error, match=message):
        vf.load(tmp_path / "annotations.xml", "cvat")


def test_skip_errors_keeps_the_rest(tmp_path):
    body = ('<box label="cat" xtl="1" ytl="2" xbr="3" ybr="4"/>\n'
            '<box label="cat" xtl="1" ytl="2" xbr="q" ybr="4"/>')
    write_task(tmp_path, cvat_xml(image(body)))
    report = Report()
    ds = vf.load(tmp_path, "cvat", errors="skip", report=report)
    assert len(ds.annotations) == 1 and len(report.errors) == 1


def test_not_cvat_folder(tmp_path):
    (tmp_path / "x.xml").write_text("<annotation/>")
    with pytest.raises(vf.FormatError, match="no CVAT XML file"):
        vf.load(tmp_path, "cvat")
    assert [d.format for d in vf.detect(tmp_path)] != ["cvat"]
