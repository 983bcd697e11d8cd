"""`fix`: safe repairs into a new dataset, every change listed, the source untouched."""

from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

import visionflow as vf
from visionflow.checks import FixOptions, check_path, fix, fix_path

from ..conftest import tree_snapshot
from . import planted


def _boxes_of(ds, file_name):
    row = int(np.flatnonzero(ds.images.file_name == file_name)[0])
    return ds.annotations_of(row)


def test_fix_all_planted_defects(tmp_path):
    src = planted.build(tmp_path / "src", list(planted.KINDS))
    before = tree_snapshot(src)
    result = fix_path(src, tmp_path / "out")
    assert tree_snapshot(src) == before  # the source is never touched

    out = vf.load(tmp_path / "out")  # strict read: what made the reader refuse is repaired
    counts = result.counts()
    assert counts == {
        "fix.drop_record": 1,          # the annotation of an unknown image (not representable)
        "fix.image_size": 1, "fix.exif": 2, "fix.drop_box": 2,
        "fix.drop_annotation": 2,      # an unknown class; a mask of another size than its image
        "fix.drop_image": 3,           # unreadable, truncated, declared size not the file's
        "fix.drop_polygon": 1, "fix.clip_box": 1, "fix.clip_polygon": 1,
        "fix.drop_duplicate_box": 1, "fix.drop_duplicate_image": 1,
        "fix.kept_duplicate_image": 2, "fix.renumber_id": 2}
    assert [80, 40, 96, 50] in _boxes_of(out, "img_005.jpg").xyxy.tolist()  # clipped
    poly = _boxes_of(out, "img_010.jpg").polygons
    assert max(r[:, 0].max() for rings in poly.to_lists() for r in rings) == 96
    source = vf.load(src, errors="keep")
    for name, dropped in [("img_006.jpg", 1),   # negative box
                          ("img_007.jpg", 1),   # zero-size box
                          ("img_008.jpg", 1),   # degenerate polygon
                          ("img_009.jpg", 0),   # self-intersecting polygon: kept
                          ("img_011.jpg", 1),   # duplicate box
                          ("img_005.jpg", 0)]:  # clipped, kept
        assert len(_boxes_of(out, name)) == len(_boxes_of(source, name)) - dropped, name
    assert list(out.images.file_name).count("img_004.jpg") == 1  # second listing dropped
    zero = int(np.flatnonzero(out.images.file_name == "zero_size.jpg")[0])
    assert (out.images.width[zero], out.images.height[zero]) == (96, 72)

    recheck = {f.code for f in check_path(tmp_path / "out").findings}
    fixed = {"box.out_of_bounds", "box.zero_size", "box.negative_size", "polygon.degenerate",
             "polygon.out_of_bounds", "annotation.unknown_class", "annotation.duplicate_id",
             "image.duplicate_id", "image.duplicate_name", "image.invalid_size",
             "image.exif_rotation", "image.exif_orientation", "box.duplicate",
             "mask.size_mismatch", "image.unreadable", "image.truncated", "image.size_mismatch"}
    assert not recheck & fixed, recheck & fixed
    # what no rule can fix safely is still reported
    assert {"polygon.self_intersecting", "split.leakage"} <= recheck


def test_every_change_names_where_and_is_json(tmp_path):
    src = planted.build(tmp_path / "src", ["out_of_bounds", "duplicate_box"])
    result = fix_path(src, tmp_path / "out")
    data = json.loads(json.dumps(result.to_dict()))
    assert data["counts"] == {"fix.clip_box": 1, "fix.drop_duplicate_box": 1}
    clip = next(c for c in data["changes"] if c["code"] == "fix.clip_box")
    assert clip["image"] == "img_005.jpg" and clip["split"] == "train"
    assert clip["details"] == {"before": [80, 40, 110, 50], "after": [80, 40, 96, 50]}
    assert data["destination"] == str((tmp_path / "out").absolute())


def _oriented_jpeg(orientation: int, size=(96, 64), square=(10, 20, 30, 40)) -> bytes:
    """A dark JPEG with a bright square at `square` (stored pixels), EXIF orientation set."""
    arr = np.full((size[1], size[0], 3), 30, np.uint8)
    x0, y0, x1, y1 = square
    arr[y0:y1, x0:x1] = 240
    exif = Image.Exif()
    exif[0x0112] = orientation
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, "JPEG", quality=95, exif=exif.tobytes())
    return buf.getvalue()


def _exif_dataset(tmp_path, orientation, declared):
    spec = planted.Spec(tmp_path / "src")
    im = spec.add_image("train", name="photo.jpg", data=_oriented_jpeg(orientation),
                        declared=declared)
    spec.add_box("train", im["id"], 1, [10, 20, 20, 20],
                 segmentation=[[10, 20, 30, 20, 30, 40, 10, 40]], keypoints=[12, 22, 2])
    return spec.write()


@pytest.mark.parametrize("orientation, expected_box", [
    (6, [24, 10, 44, 30]),   # 90° clockwise: (x, y) -> (H - y, x), H = 64
    (8, [20, 66, 40, 86]),   # 90° counter-clockwise: (x, y) -> (y, W - x), W = 96
    (3, [66, 24, 86, 44]),   # 180°: (W - x, H - y)
])
def test_exif_applied_to_pixels_and_annotations_together(tmp_path, orientation, expected_box):
    src = _exif_dataset(tmp_path, orientation, declared=(96, 64))  # boxes on stored pixels
    assert any(f.code in ("image.exif_rotation", "image.exif_orientation")
               for f in check_path(src).findings)
    result = fix_path(src, tmp_path / "out")
    assert result.counts()["fix.exif"] == 1
    out = vf.load(tmp_path / "out")
    box = out.annotations.xyxy[0].tolist()
    if orientation == 3:
        # 180° keeps the size: annotations are taken to follow the upright view (nothing
        # tells otherwise) and stay; the pixels are written upright.
        assert box == [10, 20, 30, 40]
        return
    assert box == expected_box
    path = out.images.path[0]
    with Image.open(path) as im:
        assert im.getexif().get(0x0112, 1) == 1
        assert im.size == (64, 96) == (out.images.width[0], out.images.height[0])
        pixels = np.asarray(im.convert("L"), dtype=np.int64)
    x0, y0, x1, y1 = (int(v) for v in expected_box)
    assert pixels[y0 + 2:y1 - 2, x0 + 2:x1 - 2].min() > 200   # the square is inside the box
    outside = pixels.copy()
    outside[y0 - 2:y1 + 2, x0 - 2:x1 + 2] = 0
    assert outside.max() < 80                                 # and nowhere else
    ring = out.annotations.polygons.rings(0)[0]
    assert [ring[:, 0].min(), ring[:, 1].min(), ring[:, 0].max(), ring[:, 1].max()] == box
    kx, ky = out.annotations.keypoints[0, 0, :2]
    assert x0 <= kx <= x1 and y0 <= ky <= y1
    assert not any(f.code.startswith("image.exif") for f in check_path(tmp_path / "out").findings)


def test_exif_with_upright_annotations_rotates_pixels_only(tmp_path):
    src = _exif_dataset(tmp_path, 6, declared=(64, 96))  # annotations follow the upright view
    result = fix_path(src, tmp_path / "out")
    change = next(c for c in result.changes if c.code == "fix.exif")
    assert change.details["annotations_moved"] == 0
    out = vf.load(tmp_path / "out")
    assert out.annotations.xyxy[0].tolist() == [10, 20, 30, 40]
    with Image.open(out.images.path[0]) as im:
        assert im.size == (64, 96) and im.getexif().get(0x0112, 1) == 1


def test_remap_merge_and_drop_classes(tmp_path):
    spec = planted.clean(tmp_path / "src")
    spec.categories.append({"id": 3, "name": "bird"})
    spec.add_box("train", 1, 3, [60, 5, 10, 10])
    src = spec.write()
    result = fix_path(src, tmp_path / "out", FixOptions(remap={"cat": "feline",
                                                               "dog": "feline"},
                                                        drop_classes=("bird",)))
    out = vf.load(tmp_path / "out")
    assert out.categories.names == ["feline"]
    assert out.categories.ids == [1]
    assert len(out.annotations) == 28 and set(out.annotations.category_id.tolist()) == {1}
    assert [c.code for c in result.changes] == ["fix.remap_class", "fix.remap_class",
                                                "fix.drop_class"]
    assert "14 annotations" in result.changes[1].message


def test_merge_classes_sharing_a_name(tmp_path):
    spec = planted.clean(tmp_path / "src")
    planted.plant_duplicate_class_name(spec)
    src = spec.write()
    fix_path(src, tmp_path / "out", FixOptions(remap={"cat": "cat"}))
    out = vf.load(tmp_path / "out")
    assert out.categories.names == ["cat", "dog"]
    assert not any(f.code == "class.duplicate_name" for f in check_path(tmp_path / "out").findings)


@pytest.mark.parametrize("options, message", [
    (FixOptions(remap={"horse": "x"}), "--remap horse=x: no class named 'horse'"),
    (FixOptions(drop_classes=("horse",)), "--drop-class horse: no class named 'horse'"),
])
def test_unknown_class_names_are_user_errors(tmp_path, options, message):
    src = planted.build(tmp_path / "src", [])
    with pytest.raises(vf.Error, match=message):
        fix_path(src, tmp_path / "out", options)
    assert not (tmp_path / "out").exists()


def test_duplicate_images_dropped_only_when_annotations_agree(tmp_path):
    src = planted.build(tmp_path / "src", ["exact_duplicate", "exact_leak"])
    result = fix_path(src, tmp_path / "out")
    assert result.counts() == {"fix.drop_duplicate_image": 2}
    out = vf.load(tmp_path / "out")
    assert "copy.jpg" not in set(out.images.file_name) and len(out.images) == 14
    # a copy whose annotations differ stays, with the reason listed
    spec = planted.clean(tmp_path / "src2")
    planted.plant_exact_duplicate(spec)
    spec.docs["train"]["annotations"][-1]["bbox"] = [1, 1, 5, 5]
    result = fix_path(spec.write(), tmp_path / "out2")
    assert result.counts() == {"fix.kept_duplicate_image": 1}


def test_destination_inside_source_is_refused(tmp_path):
    src = planted.build(tmp_path / "src", ["out_of_bounds"])
    with pytest.raises(vf.OutputError, match="inside the source"):
        fix_path(src, src / "fixed")


def test_fix_in_memory_without_files():
    images = vf.Images.build(["a.jpg"], [100], [50])
    ann = vf.Annotations.build([0, 0, 0], [1, 1, 1],
                               [[10, 10, 120, 40], [5, 5, 5, 9], [10, 10, 120, 40]])
    result = fix(vf.Dataset(images, ann, vf.Categories.from_names(["cat"])))
    assert result.dataset.annotations.xyxy.tolist() == [[10, 10, 100, 40]]
    assert [c.code for c in result.changes] == ["fix.drop_box", "fix.clip_box", "fix.clip_box",
                                                "fix.drop_duplicate_box"]
