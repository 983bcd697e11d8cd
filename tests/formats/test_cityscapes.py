"""Cityscapes: gtFine instanceIds/labelIds PNGs <-> one RLE mask per instance or class region."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import visionflow as vf
from visionflow.core.errors import (
    FormatError,
    ParseError,
    UnsafeInputError,
    ValidationError,
)
from visionflow.core.geometry import mask_to_rle, rle_to_mask
from visionflow.formats import registry

from ..conftest import make_image, shared_path

FIXTURE = ("datumaro-assets", "cityscapes_dataset")


def _files(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file()}


def _png(path: Path, arr: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)
    return path


def test_reads_datumaro_fixture_with_crowd_groups():
    ds = vf.load(shared_path(*FIXTURE, "dataset"), "cityscapes")
    assert list(ds.images.split) == ["train", "val", "test", "test"]
    assert ds.images.file_name[0] == "defaultcity/defaultcity_000002_000045.png"
    assert ds.images.path[0].endswith("leftImg8bit/train/defaultcity/"
                                      "defaultcity_000002_000045_leftImg8bit.png")
    assert (ds.images.width.tolist(), ds.images.height.tolist()) == ([5] * 4, [1] * 4)
    assert ds.categories.ids == list(range(1, 34))
    assert ds.categories.by_id(26).name == "car"
    assert ds.categories.by_id(26).supercategory == "vehicle"
    labels = {row["id"]: row for row in ds.meta["cityscapes"]["labels"]}
    assert labels[26]["train_id"] == 13 and labels[26]["has_instances"]
    assert labels[-1]["name"] == "license plate"
    ann = ds.annotations
    # train image: [3, 3, 24, 3, 3] -> "out of roi" region, then a person group (crowd)
    first = ann[ann.image_index == 0]
    assert first.category_id.tolist() == [3, 24]
    assert first.iscrowd.tolist() == [False, True]
    assert first.xyxy.tolist() == [[0, 0, 5, 1], [2, 0, 3, 1]]
    assert rle_to_mask(first.rle[1]).tolist() == [[False, False, True, False, False]]
    assert len(ann) == 9


def test_reads_16_bit_instances_as_separate_objects():
    ds = vf.load(shared_path(*FIXTURE, "train_dataset"), "cityscapes")
    row = list(ds.images.file_name).index("defaultcity/defaultcity_000001_000031.png")
    ann = ds.annotations[ds.annotations.image_index == row]
    # instanceIds [3, 3, 27001, 27002, 27002]: a region, then two trucks
    assert ann.category_id.tolist() == [3, 27, 27]
    assert not ann.iscrowd.any()
    assert ann.xyxy.tolist() == [[0, 0, 2, 1], [2, 0, 3, 1], [3, 0, 5, 1]]


@pytest.mark.parametrize("sub", ["", "leftImg8bit", "gtFine"])
def test_detects_the_root_and_its_two_folders(sub):
    path = shared_path(*FIXTURE, "dataset") / sub if sub else shared_path(*FIXTURE, "dataset")
    found = registry.candidates(path)
    assert found[0].format == "cityscapes" and found[0].confidence > 0.85
    assert "gtFine/" in found[0].reasons[0]
    assert all(d.format != "yolo-cls" for d in found)  # split/city folders are not classes
    assert vf.load(path).images.file_name[0] == "defaultcity/defaultcity_000002_000045.png"


@pytest.mark.parametrize("variant", ["dataset", "train_dataset"])
def test_fixture_round_trip_and_fixed_point(tmp_path, variant):
    ds = vf.load(shared_path(*FIXTURE, variant), "cityscapes")
    report = vf.write(ds, tmp_path / "a", "cityscapes")
    assert not [f for f in report.findings if f.code.startswith("loss.")]
    back = vf.load(tmp_path / "a", "cityscapes")
    if variant == "dataset":
        assert not ds.differences(back)
    vf.write(back, tmp_path / "b", "cityscapes")
    assert _files(tmp_path / "a") == _files(tmp_path / "b")
    assert not (tmp_path / "a" / "label_colors.txt").exists()  # the standard table


def test_written_pngs_follow_cityscapes_encoding(tmp_path):
    img = make_image(tmp_path / "src" / "x.png", (6, 2))
    masks = [np.zeros((2, 6), bool) for _ in range(4)]
    masks[0][:, 0:2] = True  # road (stuff)
    masks[1][:, 2] = True    # car
    masks[2][:, 3] = True    # car
    masks[3][:, 4:6] = True  # person group (crowd)
    rle = np.empty(4, object)
    rle[:] = [mask_to_rle(m) for m in masks]
    cats = vf.Categories(vf.Category(i, n) for i, n in [(7, "road"), (24, "person"), (26, "car")])
    ann = vf.Annotations.build([0] * 4, [7, 26, 26, 24], [[0, 0, 2, 2], [2, 0, 3, 2],
                                                          [3, 0, 4, 2], [4, 0, 6, 2]],
                               rle=rle, iscrowd=np.array([0, 0, 0, 1], bool))
    images = vf.Images.build(["aachen/x.png"], [6], [2], split="val", path=[str(img)])
    report = vf.write(vf.Dataset(images, ann, cats), tmp_path / "out", "cityscapes")
    # ids are kept, and the generic check knows it (FORMAT.categories_after)
    assert [f.code for f in report.findings] == []
    gt = tmp_path / "out" / "gtFine" / "val" / "aachen"
    inst = Image.open(gt / "x_gtFine_instanceIds.png")
    assert inst.mode == "I;16"
    assert np.array(inst)[0].tolist() == [7, 7, 26000, 26001, 24, 24]
    labels = Image.open(gt / "x_gtFine_labelIds.png")
    assert labels.mode == "L" and np.array(labels)[0].tolist() == [7, 7, 26, 26, 24, 24]
    color = np.array(Image.open(gt / "x_gtFine_color.png"))
    assert color[0, 0].tolist() == [128, 64, 128] and color[0, 2].tolist() == [0, 0, 142]
    assert (tmp_path / "out" / "leftImg8bit" / "val" / "aachen" / "x_leftImg8bit.png").is_file()
    back = vf.load(tmp_path / "out")
    assert back.annotations.category_id.tolist() == [7, 24, 26, 26]  # regions, then instances
    assert back.annotations.iscrowd.tolist() == [False, True, False, False]
    assert back.images.file_name.tolist() == ["aachen/x.png"]


def test_custom_classes_get_a_label_map_and_unsplit_goes_to_default(tmp_path):
    img = make_image(tmp_path / "src" / "a.png", (4, 3))
    neg = make_image(tmp_path / "src" / "b.png", (5, 5))
    mask = np.zeros((3, 4), bool)
    mask[1:, 1:3] = True
    rle = np.empty(2, object)
    diagonal = np.eye(3, 4, dtype=bool) & ~mask
    rle[:] = [mask_to_rle(mask), mask_to_rle(diagonal)]
    cats = vf.Categories([vf.Category(1, "zebra"), vf.Category(2, "ant lion")])
    ann = vf.Annotations.build([0, 0], [2, 1], [[1, 1, 3, 3], [0, 0, 1, 1]], rle=rle)
    images = vf.Images.build(["a.png", "b.png"], [4, 5], [3, 5], path=[str(img), str(neg)])
    ds = vf.Dataset(images, ann, cats)
    report = vf.write(ds, tmp_path / "out", "cityscapes")
    assert not report.findings
    assert (tmp_path / "out" / "label_colors.txt").read_text().splitlines() == [
        "0 0 0 background", "128 0 0 zebra", "0 128 0 ant lion"]
    assert (tmp_path / "out" / "gtFine" / "default" / "b_gtFine_labelIds.png").is_file()
    back = vf.load(tmp_path / "out")
    assert back.categories.names == ["zebra", "ant lion"] and back.categories.ids == [1, 2]
    assert back.images.split.tolist() == ["", ""]  # "default" is no split
    assert back.images.file_name.tolist() == ["a.png", "b.png"]
    assert back.annotations.category_id.tolist() == [2, 1]
    assert [rle_to_mask(r).tolist() for r in back.annotations.rle] == [
        mask.tolist(), diagonal.tolist()]


def test_reads_datumaro_label_map_with_inserted_background(tmp_path):
    root = tmp_path / "ds"
    (root).mkdir()
    (root / "label_colors.txt").write_text("# r g b name\n10 20 30 cat\n40 50 60 dog\n")
    _png(root / "gtFine" / "train" / "x_gtFine_instanceIds.png",
         np.array([[0, 1, 2, 2]], np.uint8))
    ds = vf.load(root)
    assert ds.categories.names == ["cat", "dog"] and ds.categories.ids == [1, 2]
    assert ds.annotations.category_id.tolist() == [1, 2]
    assert not ds.annotations.iscrowd.any()  # no thing/stuff table: plain regions


@pytest.mark.parametrize(("overlap", "code"), [("stuff", "loss.masks.merged"),
                                               ("cover", "loss.masks.overlap"),
                                               ("crowd", "loss.iscrowd")])
def test_losses_are_reported(tmp_path, overlap, code):
    img = make_image(tmp_path / "x.png", (4, 1))
    a, b = np.zeros((1, 4), bool), np.zeros((1, 4), bool)
    a[0, :2] = True
    b[0, 1:3] = overlap == "cover"
    if overlap != "cover":
        b[0, 2:] = True
    rle = np.empty(2, object)
    rle[:] = [mask_to_rle(a), mask_to_rle(b)]
    if overlap == "stuff":
        cats, ids, crowd = vf.Categories([vf.Category(7, "road")]), [7, 7], [0, 0]
    elif overlap == "cover":
        cats, ids, crowd = vf.Categories([vf.Category(26, "car")]), [26, 26], [0, 0]
    else:
        cats, ids, crowd = vf.Categories([vf.Category(1, "blob")]), [1, 1], [1, 0]
    ann = vf.Annotations.build([0, 0], ids, [[0, 0, 2, 1], [1, 0, 4, 1]], rle=rle,
                               iscrowd=np.array(crowd, bool))
    ds = vf.Dataset(vf.Images.build(["x.png"], [4], [1], path=[str(img)]), ann, cats)
    report = vf.write(ds, tmp_path / "out", "cityscapes")
    assert [f.count for f in report.findings if f.code == code] == [1]
    with pytest.raises(vf.LossError, match="cityscapes cannot hold"):
        vf.write(ds, tmp_path / "strict", "cityscapes", strict=True)


def _tiny(root: Path) -> Path:
    _png(root / "gtFine" / "train" / "c" / "c_1_gtFine_instanceIds.png",
         np.array([[7, 26000]], np.uint16))
    make_image(root / "leftImg8bit" / "train" / "c" / "c_1_leftImg8bit.png", (2, 1))
    return root


def _corrupt(root: Path) -> str:
    (root / "gtFine/train/c/c_1_gtFine_instanceIds.png").write_bytes(b"\x89PNG garbage")
    return "c_1_gtFine_instanceIds.png: cannot read instanceIds mask PNG"


def _rgb(root: Path) -> str:
    _png(root / "gtFine/train/c/c_1_gtFine_instanceIds.png", np.zeros((1, 2, 3), np.uint8))
    return "c_1_gtFine_instanceIds.png: instanceIds PNG has mode RGB; expected a grayscale"


def _unknown(root: Path) -> str:
    _png(root / "gtFine/train/c/c_1_gtFine_instanceIds.png", np.array([[7, 50001]], np.uint16))
    return "c_1_gtFine_instanceIds.png: pixel value 50001 at (1, 0) is class 50"


def _bad_label_map(root: Path) -> str:
    (root / "label_colors.txt").write_text("0 0 0 background\n1 2 car\n")
    return "label_colors.txt:2: expected 'r g b name' or 'name'"


def _escaping_link(root: Path) -> str:
    outside = root.parent / "outside.png"
    _png(outside, np.array([[7, 7]], np.uint8))
    os.symlink(outside, root / "gtFine/train/c/c_2_gtFine_labelIds.png")
    return "c_2_gtFine_labelIds.png: file"


BAD = [(_corrupt, ParseError), (_rgb, ParseError), (_unknown, ValidationError),
       (_bad_label_map, ParseError), (_escaping_link, UnsafeInputError)]


@pytest.mark.parametrize(("make", "error"), BAD, ids=[m.__name__ for m, _ in BAD])
def test_bad_input_names_the_file(tmp_path, make, error):
    root = _tiny(tmp_path / "ds")
    message = make(root)
    with pytest.raises(error) as info:
        vf.load(root, "cityscapes")
    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_skip_errors_keeps_the_good_images(tmp_path):
    root = _tiny(tmp_path / "ds")
    _png(root / "gtFine/train/c/c_2_gtFine_instanceIds.png", np.zeros((1, 2, 3), np.uint8))
    report = vf.Report()
    ds = vf.load(root, "cityscapes", errors="skip", report=report)
    assert ds.images.file_name.tolist() == ["c/c_1.png"]
    assert ds.annotations.category_id.tolist() == [7, 26]
    assert any("c_2_gtFine_instanceIds.png" in (f.where or "") for f in report.findings)


def test_not_a_cityscapes_folder(tmp_path):
    (tmp_path / "x").mkdir()
    with pytest.raises(FormatError, match="no gtFine/ or leftImg8bit/ folder"):
        vf.load(tmp_path / "x", "cityscapes")
    assert registry.get("cityscapes").detect(tmp_path / "x") is None


def test_source_is_not_modified(tmp_path):
    src = shutil.copytree(shared_path(*FIXTURE, "train_dataset"), tmp_path / "src")
    before = _files(src)
    vf.write(vf.load(src), tmp_path / "out", "cityscapes")
    assert _files(src) == before
