"""Images and masks that cannot be what the annotations say (issue 11, items 26-29, 36):
empty, truncated or non-image files, declared sizes that disagree with the file, RLE masks
that do not fit, polygons wholly outside, LabelMe pixel bombs, annotation files that are links
leaving the dataset, a BOM before a COCO file. Each is one clear visionflow error naming the
annotation file and record (or, with --skip-errors, the record is dropped and reported); the
CLI never prints a traceback."""

from __future__ import annotations

import base64
import io
import json
import struct
import zlib
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.main import app

from ..conftest import make_image

runner = CliRunner()


def _coco(root: Path, *, images=None, annotations=None, categories=None,
          size=(104, 68)) -> Path:
    """A one-image COCO dataset: a.jpg of `size` beside annotations.json."""
    root.mkdir(parents=True, exist_ok=True)
    make_image(root / "a.jpg", size)
    doc = {"images": images or [{"id": 1, "file_name": "a.jpg", "width": size[0],
                                 "height": size[1]}],
           "annotations": annotations if annotations is not None else
           [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10], "area": 100,
             "iscrowd": 0}],
           "categories": categories or [{"id": 1, "name": "cat"}]}
    (root / "annotations.json").write_text(json.dumps(doc))
    return root


def _convert(src: Path, dst: Path, *args: str):
    result = runner.invoke(app, ["convert", str(src), str(dst), "--to", "labelme", *args])
    assert "Traceback" not in result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), \
        repr(result.exception)
    return result


# ---- item 27: image files ---------------------------------------------------------------

def _damage(kind: str, image: Path) -> None:
    data = image.read_bytes()
    image.write_bytes({"empty": b"", "truncated": data[: len(data) // 2],
                       "not-an-image": b"hello, I am a text file\n" * 20}[kind])


@pytest.mark.parametrize("kind, message", [
    ("empty", "the file is empty"),
    ("truncated", "truncated"),
    ("not-an-image", "cannot read image"),
])
def test_broken_image_files_are_refused_naming_the_record(tmp_path, kind, message):
    src = _coco(tmp_path / "src")
    _damage(kind, src / "a.jpg")
    with pytest.raises(vf.ValidationError, match=rf"annotations\.json: image id 1: .*{message}"):
        vf.load(src)
    result = _convert(src, tmp_path / "out")
    assert result.exit_code == 1 and message in result.stderr
    assert not (tmp_path / "out").exists()


def test_broken_image_is_dropped_and_reported_with_skip_errors(tmp_path):
    src = _coco(tmp_path / "src", images=[
        {"id": 1, "file_name": "a.jpg", "width": 104, "height": 68},
        {"id": 2, "file_name": "b.jpg", "width": 104, "height": 68}], annotations=[
        {"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10]},
        {"id": 2, "image_id": 2, "category_id": 1, "bbox": [1, 2, 10, 10]}])
    make_image(src / "b.jpg", (104, 68))
    _damage("truncated", src / "b.jpg")
    report = vf.Report()
    ds = vf.load(src, errors="skip", report=report)
    assert ds.images.file_name.tolist() == ["a.jpg"] and len(ds.annotations) == 1
    [skipped] = [f for f in report if f.code == "skipped"]
    assert "image id 2" in skipped.where and "truncated" in skipped.message
    result = _convert(src, tmp_path / "out", "--skip-errors")
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in (tmp_path / "out").glob("*.jpg")) == ["a.jpg"]


def test_declared_size_that_disagrees_with_the_file_is_refused(tmp_path):
    """The finding: the annotation says 104x68, the JPEG is 416x272: every box lands wrong."""
    src = _coco(tmp_path / "src", size=(416, 272), images=[
        {"id": 1, "file_name": "a.jpg", "width": 104, "height": 68}])
    with pytest.raises(vf.ValidationError, match=r"image id 1: declared size 104x68 disagrees "
                       r"with the image file .*a\.jpg \(416x272\)"):
        vf.load(src)
    assert _convert(src, tmp_path / "out").exit_code == 1


def test_declared_size_checked_in_voc_too(tmp_path):
    make_image(tmp_path / "JPEGImages" / "a.jpg", (416, 272))
    (tmp_path / "Annotations").mkdir()
    (tmp_path / "Annotations" / "a.xml").write_text(
        "<annotation><filename>a.jpg</filename><size><width>104</width><height>68</height>"
        "<depth>3</depth></size><object><name>cat</name><bndbox><xmin>1</xmin><ymin>1</ymin>"
        "<xmax>9</xmax><ymax>9</ymax></bndbox></object></annotation>")
    with pytest.raises(vf.ValidationError, match=r"a\.xml.*declared size 104x68 disagrees"):
        vf.load(tmp_path, "voc")


def test_image_checks_leave_annotation_only_reads_alone(tmp_path):
    """A missing image is an error where an output needs it (convert), not on read: datasets
    are often read for their annotations alone. Only files that are there are checked."""
    src = _coco(tmp_path / "src", images=[
        {"id": 1, "file_name": "a.jpg", "width": 104, "height": 68},
        {"id": 7, "file_name": "gone.jpg", "width": 104, "height": 68}])
    assert len(vf.load(src).images) == 2
    _damage("empty", src / "a.jpg")
    with pytest.raises(vf.ValidationError, match="image id 1: cannot read image"):
        vf.load(src)


def test_utf8_bom_before_a_coco_file_is_read(tmp_path):
    src = _coco(tmp_path / "src")
    path = src / "annotations.json"
    path.write_bytes(b"\xef\xbb\xbf" + path.read_bytes())
    ds = vf.load(src)  # detected and read, as Python's utf-8-sig and pycocotools do
    assert ds.source_format == "coco" and len(ds.annotations) == 1


# ---- items 26 and 28: values that cannot be what they claim ----------------------------

@pytest.mark.parametrize("segmentation, message", [
    ({"size": [200000, 200000], "counts": [0, 100]}, "RLE size 200000x200000"),
    ({"size": [68, 104], "counts": [0, 100000]}, "run past the mask"),
    ({"size": [68, 104], "counts": "\x7f\x7f~~garbage!!"}, "not a COCO RLE string"),
    ({"size": [68, 104], "counts": "0"}, "cover 0 pixels"),
    ([[500, 500, 600, 500, 600, 600]], "polygon lies wholly outside the image"),
])
def test_masks_and_polygons_that_do_not_fit_the_image(tmp_path, segmentation, message):
    src = _coco(tmp_path / "src", annotations=[
        {"id": 5, "image_id": 1, "category_id": 1, "bbox": [1, 2, 10, 10], "area": 100,
         "iscrowd": int(isinstance(segmentation, dict)), "segmentation": segmentation}])
    with pytest.raises(vf.ValidationError, match=rf"annotations\[0\] \(id 5\): .*{message}"):
        vf.load(src)
    result = _convert(src, tmp_path / "out")  # 200000x200000 once asked for 37 GB here
    assert result.exit_code == 1 and message.split()[0] in result.stderr


def test_infinite_and_deeply_nested_json_are_parse_errors(tmp_path):
    src = _coco(tmp_path / "inf")
    path = src / "annotations.json"
    path.write_text(path.read_text().replace("[1, 2, 10, 10]", "[1, 2, 1e999, 10]"))
    with pytest.raises(vf.ParseError, match=r"annotations\[0\]: invalid JSON value "
                       r"\(Number out of range"):
        vf.load(src)
    assert _convert(src, tmp_path / "out").exit_code == 1
    deep = _coco(tmp_path / "deep")
    (deep / "annotations.json").write_text('{"images": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(vf.ParseError, match="depth limit|nested"):
        vf.load(deep, "coco")


def test_empty_class_name_is_reported(tmp_path):
    src = _coco(tmp_path / "src", categories=[{"id": 1, "name": ""}])
    report = vf.Report()
    vf.load(src, report=report)
    assert "class.empty_name" in report.codes()


def test_yolo_label_line_of_huge_length_gives_a_short_message(tmp_path):
    make_image(tmp_path / "images" / "a.jpg")
    (tmp_path / "labels").mkdir()
    (tmp_path / "labels" / "a.txt").write_text("0 0.5 0.5 0.2 0.2 " + "x" * 5_000_000 + "\n")
    (tmp_path / "data.yaml").write_text("names: [cat]\ntrain: images\nval: images\n")
    with pytest.raises(vf.ParseError) as e:
        vf.load(tmp_path, "yolo")
    assert "a.txt:1: expected numbers" in str(e.value) and len(str(e.value)) < 400


# ---- LabelMe pixel bombs ------------------------------------------------------------------

def _png_header(width: int, height: int) -> bytes:
    """A PNG whose header declares width x height (the pixels are never needed to refuse it)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    ihdr = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(b""))
            + chunk(b"IEND", b""))


def _labelme(root: Path, **doc) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    base = {"version": "5.4.1", "flags": {}, "imagePath": "a.png", "imageData": None,
            "imageHeight": 48, "imageWidth": 64,
            "shapes": [{"label": "cat", "points": [[1, 1], [20, 20]], "group_id": None,
                        "description": "", "shape_type": "rectangle", "flags": {}}]}
    base.update(doc)
    (root / "a.json").write_text(json.dumps(base))
    return root


def test_labelme_embedded_image_over_the_pixel_limit_is_refused(tmp_path):
    src = _labelme(tmp_path / "src", imageHeight=40000, imageWidth=40000,
                   imageData=base64.b64encode(_png_header(40000, 40000)).decode())
    with pytest.raises(vf.UnsafeInputError, match="decompression bomb"):
        vf.load(src, "labelme")
    src2 = _labelme(tmp_path / "src2", imageHeight=None, imageWidth=None,
                    imageData=base64.b64encode(_png_header(40000, 40000)).decode())
    with pytest.raises(vf.UnsafeInputError, match="decompression bomb"):
        vf.load(src2, "labelme")
    assert _convert(src2, tmp_path / "out").exit_code == 1


def test_labelme_embedded_image_must_match_its_declared_size(tmp_path):
    buf = io.BytesIO()
    Image.fromarray(np.zeros((30, 40, 3), np.uint8)).save(buf, "PNG")
    src = _labelme(tmp_path / "src", imageData=base64.b64encode(buf.getvalue()).decode())
    with pytest.raises(vf.ValidationError, match=r"declared size 64x48 disagrees with the "
                       r"embedded image \(40x30\)"):
        vf.load(src, "labelme")


def test_labelme_mask_bombs_and_huge_declared_sizes_are_refused(tmp_path):
    mask = {"label": "cat", "points": [[0, 0], [10, 10]], "group_id": None, "description": "",
            "shape_type": "mask", "flags": {},
            "mask": base64.b64encode(_png_header(100_000, 100_000)).decode()}
    src = _labelme(tmp_path / "bomb", shapes=[mask])
    with pytest.raises(vf.Error, match="decompression bomb|does not fit"):
        vf.load(src, "labelme")
    src = _labelme(tmp_path / "huge", imageHeight=1_000_000, imageWidth=1_000_000,
                   shapes=[{**mask, "mask": base64.b64encode(_png_header(4, 4)).decode()}])
    with pytest.raises(vf.UnsafeInputError, match="1000000x1000000 is more than"):
        vf.load(src, "labelme")
    assert _convert(src, tmp_path / "out").exit_code == 1


# ---- item 29: annotation files that are links leaving the dataset --------------------------

def _kitti(root: Path) -> Path:
    make_image(root / "image_2" / "a.png")
    (root / "label_2").mkdir(parents=True)
    (root / "label_2" / "a.txt").write_text(
        "Car 0.00 0 0.00 1.00 2.00 30.00 40.00 0 0 0 0 0 0 0\n")
    return root


@pytest.mark.parametrize("fmt", ["coco", "labelme", "kitti"])
def test_annotation_file_linking_outside_the_dataset_is_refused(tmp_path, fmt):
    outside = tmp_path / "outside"
    if fmt == "coco":
        _coco(outside)
        rel = "annotations.json"
    elif fmt == "labelme":
        make_image(outside / "a.png")
        _labelme(outside)
        rel = "a.json"
    else:
        _kitti(outside)
        rel = "label_2/a.txt"
    ds_dir = tmp_path / "ds"
    for p in outside.rglob("*"):  # the same dataset, with copies of everything but rel
        if p.is_file():
            (ds_dir / p.relative_to(outside)).parent.mkdir(parents=True, exist_ok=True)
            if str(p.relative_to(outside)) == rel:
                (ds_dir / rel).symlink_to(p)
            else:
                (ds_dir / p.relative_to(outside)).write_bytes(p.read_bytes())
    with pytest.raises(vf.UnsafeInputError, match="link leading outside the dataset folder"):
        vf.load(ds_dir, fmt)
    result = runner.invoke(app, ["info", str(ds_dir), "--from", fmt])
    assert result.exit_code == 1 and "--follow-links" in result.output
    assert len(vf.load(ds_dir, fmt, follow_links=True).annotations) == 1  # the explicit flag


def test_label_studio_brush_claiming_billions_of_values_is_refused(tmp_path):
    """A 6-byte brush RLE may claim 4 billion values: refused before they are allocated."""
    header = "1" * 32 + "00111" + "0010" + "0011" + "0111" + "1111"  # count 2^32-1, 8-bit words
    bits = header + "0" * (-len(header) % 8)
    rle = [int(bits[i:i + 8], 2) for i in range(0, len(bits), 8)]
    result = {"id": "b", "type": "brushlabels", "from_name": "tag", "to_name": "image",
              "original_width": 20, "original_height": 10,
              "value": {"format": "rle", "rle": rle, "brushlabels": ["road"]}}
    task = {"id": 1, "data": {"image": "/data/upload/1/a.jpg"},
            "annotations": [{"id": 1, "was_cancelled": False, "result": [result]}]}
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "t.json").write_text(json.dumps([task]))
    with pytest.raises(vf.ParseError, match="brush rle is not valid"):
        vf.load(tmp_path / "src" / "t.json", "label-studio")


def test_cvat_mask_on_an_image_of_huge_declared_size_is_refused(tmp_path):
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "annotations.xml").write_text(
        '<?xml version="1.0" encoding="utf-8"?>\n<annotations><version>1.1</version>'
        "<meta><task><labels><label><name>cat</name></label></labels></task></meta>"
        '<image id="0" name="a.jpg" width="1000000" height="1000000">'
        '<mask label="cat" rle="1, 2, 1, 2" left="3" top="4" width="3" height="2"/>'
        "</image></annotations>")
    with pytest.raises(vf.UnsafeInputError, match="1000000x1000000 is more than"):
        vf.load(tmp_path / "src", "cvat")


def test_missing_image_error_names_the_record_and_the_dataset(tmp_path):
    """Item 36: not the file name alone, but which record of which dataset names it."""
    src = _coco(tmp_path / "src", images=[
        {"id": 1, "file_name": "a.jpg", "width": 104, "height": 68},
        {"id": 7, "file_name": "gone.jpg", "width": 104, "height": 68}])
    result = _convert(src, tmp_path / "out")
    assert result.exit_code == 1
    assert f"gone.jpg: image file not found (image id 7 of the coco dataset {src})" \
        in " ".join(result.stderr.split())
