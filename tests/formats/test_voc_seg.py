"""Pascal VOC segmentation masks (SegmentationClass/ + SegmentationObject/ PNGs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import visionflow as vf
from tests.conftest import make_image, shared_path
from visionflow.core.geometry import mask_to_rle, rle_to_mask
from visionflow.formats.voc_seg import COLORMAP


@pytest.mark.shared
def test_datumaro_fixture_rgb_masks():
    src = shared_path("datumaro-assets", "voc_dataset", "voc_dataset1")
    found = {d.format: d for d in vf.detect(src)}
    assert "voc-seg" in found and "Annotations/" in found["voc-seg"].reasons[1]
    ds = vf.load(src, "voc-seg")
    assert ds.images.file_name.tolist() == ["2007_000001.jpg", "2007_000002.jpg"]
    assert ds.images.split.tolist() == ["train", "test"]
    assert ds.categories.names[:2] == ["aeroplane", "bicycle"] and ds.categories.ids[0] == 1
    ann = ds.annotations
    # One instance (color 1 of the colormap) over the whole 20x10 image, class bicycle (2).
    assert ann.category_id.tolist() == [2] and ann.image_index.tolist() == [0]
    np.testing.assert_array_equal(ann.xyxy, [[0, 0, 20, 10]])
    assert rle_to_mask(ann.rle[0]).all()
    assert ds.images.path[1] is not None and len(ds.annotations_of(1)) == 0  # listed negative


def _masks(*rects, h=10, w=20):
    out = []
    for y0, y1, x0, x1 in rects:
        m = np.zeros((h, w), bool)
        m[y0:y1, x0:x1] = True
        out.append(m)
    return out


def _ds(tmp: Path, masks, cats=(1, 2), names=("cat", "dog"), split="train") -> vf.Dataset:
    p = make_image(tmp / "src" / "a.jpg", (20, 10))
    rle = np.empty(len(masks), object)
    rle[:] = [mask_to_rle(m) for m in masks]
    boxes = [[np.nonzero(m.any(0))[0][0], np.nonzero(m.any(1))[0][0],
              np.nonzero(m.any(0))[0][-1] + 1, np.nonzero(m.any(1))[0][-1] + 1] for m in masks]
    return vf.Dataset(vf.Images.build(["a.jpg"], [20], [10], split=split, path=[str(p)]),
                      vf.Annotations.build([0] * len(masks), list(cats), boxes, rle=rle),
                      vf.Categories.from_names(list(names)))


def test_writes_palette_pngs_and_reads_them_back(tmp_path):
    ds = _ds(tmp_path, _masks((1, 4, 2, 8), (5, 9, 10, 19)))
    report = vf.write(ds, tmp_path / "out", "voc-seg")
    assert not report.findings
    out = tmp_path / "out"
    with Image.open(out / "SegmentationClass" / "a.png") as im:
        assert im.mode == "P" and tuple(im.getpalette()[3:6]) == COLORMAP[1]
        cls = np.array(im)
    assert cls[2, 3] == 1 and cls[6, 12] == 2 and cls[0, 0] == 0
    obj = np.array(Image.open(out / "SegmentationObject" / "a.png"))
    assert obj[2, 3] == 1 and obj[6, 12] == 2
    assert (out / "labelmap.txt").read_text().splitlines()[1:] == [
        "background:0,0,0::", "cat:128,0,0::", "dog:0,128,0::"]
    assert (out / "ImageSets" / "Segmentation" / "train.txt").read_text() == "a\n"
    assert (out / "JPEGImages" / "a.jpg").is_file()
    assert vf.detect(out)[0].format == "voc-seg"
    back = vf.load(out)
    assert not back.differences(ds)


def test_polygons_are_rasterized_and_bare_boxes_reported(tmp_path):
    p = make_image(tmp_path / "src" / "a.jpg", (20, 10))
    ds = vf.Dataset(vf.Images.build(["a.jpg"], [20], [10], path=[str(p)]),
                    vf.Annotations.build([0, 0], [1, 1], [[2, 2, 6, 6], [10, 1, 12, 3]],
                                         polygons=vf.Polygons.from_lists(
                                             [[np.array([[2, 2], [6, 2], [6, 6], [2, 6]])], []])),
                    vf.Categories.from_names(["cat"]))
    report = vf.write(ds, tmp_path / "out", "voc-seg")
    assert report.codes() == ["loss.boxes"]  # the polygon is converted, not lost
    back = vf.load(tmp_path / "out")
    assert len(back.annotations) == 1
    np.testing.assert_array_equal(back.annotations.xyxy, [[2, 2, 7, 7]])  # ImageDraw fills the edge


def test_overlapping_masks_are_reported(tmp_path):
    ds = _ds(tmp_path, _masks((0, 5, 0, 10), (2, 8, 5, 15)))
    report = vf.write(ds, tmp_path / "out", "voc-seg")
    assert [f.count for f in report if f.code == "loss.masks.overlap"] == [1]
    with pytest.raises(vf.LossError, match="covered by a later object"):
        vf.write(ds, tmp_path / "strict", "voc-seg", strict=True)


def test_semantic_only_and_palette_input(tmp_path):
    root = tmp_path / "ds"
    (root / "SegmentationClass").mkdir(parents=True)
    arr = np.zeros((8, 8), np.uint8)
    arr[:4] = 15          # person
    arr[6:, 6:] = 255     # void border
    im = Image.fromarray(arr, mode="P")
    im.putpalette([v for rgb in COLORMAP for v in rgb])
    im.save(root / "SegmentationClass" / "x.png")
    ds = vf.load(root)
    assert ds.categories.by_id(15).name == "person"
    assert ds.annotations.category_id.tolist() == [15]
    np.testing.assert_array_equal(ds.annotations.xyxy, [[0, 0, 8, 4]])
    assert ds.images.file_name.tolist() == ["x.jpg"] and ds.images.path[0] is None


def _rgb_png(path: Path, color, size=(4, 4)):
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)


@pytest.mark.parametrize("setup, error, problem", [
    (lambda r: _rgb_png(r / "SegmentationClass" / "x.png", (1, 2, 3)), vf.ParseError,
     "SegmentationClass/x.png: color (1,2,3) at pixel (0, 0) is not a class color"),
    (lambda r: (_rgb_png(r / "SegmentationClass" / "x.png", (0, 0, 0)),
                _rgb_png(r / "SegmentationObject" / "x.png", (128, 0, 0))), vf.ValidationError,
     "SegmentationObject/x.png: instance 1: its pixels are background or void"),
    (lambda r: (_rgb_png(r / "SegmentationClass" / "x.png", (128, 0, 0)),
                _rgb_png(r / "SegmentationObject" / "x.png", (128, 0, 0), (5, 4))),
     vf.ValidationError, "SegmentationObject/x.png: mask is 5x4 but x.png is 4x4"),
    (lambda r: ((r / "SegmentationClass").mkdir(parents=True),
                (r / "SegmentationClass" / "x.png").write_bytes(b"\x89PNG broken")),
     vf.ParseError, "SegmentationClass/x.png: cannot read PNG mask"),
    (lambda r: (_rgb_png(r / "SegmentationClass" / "x.png", (0, 0, 0)),
                (r / "labelmap.txt").write_text("background:0,0,0::\ncat:300,0,0::\n")),
     vf.ParseError, "labelmap.txt:2: expected a color 'r,g,b' (0..255), got '300,0,0'"),
    (lambda r: (_rgb_png(r / "SegmentationClass" / "x.png", (0, 0, 0)),
                (r / "ImageSets" / "Segmentation").mkdir(parents=True),
                (r / "ImageSets" / "Segmentation" / "train.txt").write_text("x\n../../etc/passwd\n")),
     vf.UnsafeInputError, "train.txt:2: file name '../../etc/passwd' points outside"),
])
def test_bad_input(tmp_path, setup, error, problem):
    root = tmp_path / "ds"
    root.mkdir()
    setup(root)
    with pytest.raises(error) as e:
        vf.load(root, "voc-seg")
    assert problem in str(e.value)


def test_labelmap_colors_and_void_entry(tmp_path):
    root = tmp_path / "ds"
    (root / "labelmap.txt").parent.mkdir(parents=True)
    (root / "labelmap.txt").write_text("# label:color_rgb:parts:actions\nbackground:0,0,0::\n"
                                       "road:10,20,30::\nignored:224,224,192::\n")
    _rgb_png(root / "SegmentationClass" / "x.png", (10, 20, 30))
    ds = vf.load(root)
    assert ds.categories.names == ["road"] and ds.annotations.category_id.tolist() == [1]


@pytest.mark.interop
def test_datumaro_reads_our_masks(tmp_path):
    dm = pytest.importorskip("datumaro")
    ds = _ds(tmp_path, _masks((1, 4, 2, 8), (5, 9, 10, 19)))
    vf.write(ds, tmp_path / "out", "voc-seg")
    theirs = dm.Dataset.import_from(str(tmp_path / "out"), "voc_segmentation")
    labels = theirs.categories()[dm.AnnotationType.label]
    items = list(theirs)
    assert [(i.id, i.subset) for i in items] == [("a", "train")]
    masks = sorted(items[0].annotations, key=lambda a: a.get_bbox()[0])
    assert [labels[a.label].name for a in masks] == ["cat", "dog"]
    for ours, theirs_ann in zip(ds.annotations.rle, masks):
        np.testing.assert_array_equal(rle_to_mask(ours), theirs_ann.image.astype(bool))
