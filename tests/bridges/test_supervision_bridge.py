"""vf.to_supervision / vf.from_supervision against the real supervision library: boxes exact,
masks pixel-exact, both ways, on real data."""

from __future__ import annotations

import os

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image, shared_path
from visionflow.formats.masks import object_mask

pytestmark = pytest.mark.interop
sv = pytest.importorskip("supervision")


@pytest.mark.shared
def test_polygon_dataset_both_ways_on_coco8_seg():
    ds = vf.load(shared_path("ultralytics-hub-datasets", "coco8-seg"))
    assert ds.annotations.has_polygon().all()
    ours = vf.to_supervision(ds)
    assert isinstance(ours, sv.DetectionDataset) and len(ours) == len(ds)
    assert ours.classes == ds.classes
    ann = ds.annotations
    for view in ds:
        det = ours.annotations[view.path]
        assert np.array_equal(det.xyxy, view.xyxy)  # float64, not rounded
        assert det.class_id.tolist() == view.class_index.tolist()
        assert det.data["annotation_id"].tolist() == view.annotations.id.tolist()
        assert det.mask.shape == (len(view), view.height, view.width)
        for k, r in enumerate(view.annotation_rows):
            expected = object_mask(ann, r, view.width, view.height, False, True, view.file_name)
            assert np.array_equal(det.mask[k], expected) and expected.any()
    back = vf.from_supervision(ours)
    assert np.array_equal(back.annotations.xyxy, ann.xyxy[np.argsort(ann.image_index,
                                                                        kind="stable")])
    assert back.categories.names == ds.categories.names
    again = vf.to_supervision(back)  # masks now travel as RLE: the same pixels
    for p in ours.image_paths:
        assert np.array_equal(again.annotations[p].mask, ours.annotations[p].mask)
        assert np.array_equal(again.annotations[p].xyxy, ours.annotations[p].xyxy)
        assert np.array_equal(again.annotations[p].class_id, ours.annotations[p].class_id)


@pytest.mark.shared
def test_boxes_equal_supervisions_own_coco_reader():
    root = shared_path("roboflow-facemask-coco", "valid")
    theirs = sv.DetectionDataset.from_coco(str(root), str(root / "_annotations.coco.json"))
    ds = vf.load(root.parent)
    ours = vf.to_supervision(ds, split="val")
    assert ours.classes == theirs.classes  # the duplicate "Mask" name included
    # supervision resolves links in paths (../shared may be one); visionflow keeps them as read
    real = {os.path.realpath(p): p for p in theirs.image_paths}
    assert {os.path.realpath(p) for p in ours.image_paths} == set(real)
    for p in ours.image_paths:
        a, b = ours.annotations[p], theirs.annotations[real[os.path.realpath(p)]]
        # supervision computes x + w in float32: equal to ours within two float32 roundings
        assert a.xyxy.dtype == np.float64
        np.testing.assert_allclose(a.xyxy, b.xyxy, rtol=2.0 ** -22, atol=0)
        assert a.class_id.tolist() == b.class_id.tolist()
    back = vf.from_supervision(theirs, split="val")
    mine = ds.split("val")
    assert len(back) == len(mine) and len(back.annotations) == len(mine.annotations)


def test_rle_masks_and_images_without_objects_round_trip(tmp_path):
    paths = [str(make_image(tmp_path / "imgs" / n, (40, 30))) for n in ("a.png", "sub/b.png")]
    m1 = np.zeros((30, 40), bool)
    m1[3:9, 5:20] = True
    m1[20:25, 30:33] = True  # two pieces: only a mask holds it exactly
    rle = np.empty(2, object)
    rle[:] = [vf.core.geometry.mask_to_rle(m1), None]
    ds = vf.Dataset(vf.Images.build(["a.png", "sub/b.png"], [40, 40], [30, 30], path=paths),
                    vf.Annotations.build([0, 0], [7, 9], [[5, 3, 33, 25], [0.5, 1.25, 10, 11]],
                                         id=[4, 8], rle=rle),
                    vf.Categories([vf.Category(9, "b"), vf.Category(7, "a")]))
    ours = vf.to_supervision(ds)
    det = ours.annotations[paths[0]]
    assert np.array_equal(det.mask[0], m1) and not det.mask[1].any()
    assert det.class_id.tolist() == [1, 0] and len(ours.annotations[paths[1]]) == 0
    assert vf.to_supervision(ds, masks=False).annotations[paths[0]].mask is None
    back = vf.from_supervision(ours)
    assert back.images.file_name.tolist() == ["a.png", "sub/b.png"]
    assert back.annotations.id.tolist() == [4, 8]
    assert np.array_equal(back.annotations.xyxy, ds.annotations.xyxy)
    assert back.annotations.rle[0] == rle[0] and back.annotations.rle[1] is None
    assert back.categories.names == ["b", "a"]


def test_refusals_are_one_clear_error(tmp_path):
    ds = vf.Dataset(vf.Images.build(["a.png"], [40], [30]),
                    vf.Annotations.build([0], [1], [[0, 0, 4, 4]]), vf.Categories.from_names(["x"]))
    with pytest.raises(vf.MissingImageError, match="a.png"):
        vf.to_supervision(ds)
    with pytest.raises(vf.Error, match="no split 'train'"):
        vf.to_supervision(ds, split="train")
    p = str(make_image(tmp_path / "a.png", (40, 30)))
    bad = sv.DetectionDataset(classes=["x"], images=[p], annotations={p: sv.Detections(
        xyxy=np.array([[0, 0, 4, 4.0]]), class_id=np.array([0]))})
    bad.annotations[p].class_id = np.array([3])
    with pytest.raises(vf.ValidationError, match="class_id 3 is not an index into 1 classes"):
        vf.from_supervision(bad)
