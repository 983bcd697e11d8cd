"""pycocotools, the reference COCO implementation, reads what we write and agrees with us."""


import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import visionflow as vf
from visionflow.core import geometry as g

from ..conftest import shared_path

pytestmark = pytest.mark.interop
mask_utils = pytest.importorskip("pycocotools.mask")
COCO = pytest.importorskip("pycocotools.coco").COCO


def _check_with_pycocotools(ds: vf.Dataset, out):
    vf.write(ds, out, "coco", images="none")
    for split in ds.images.splits():
        file = out / "annotations" / f"instances_{split or 'default'}.json"
        coco = COCO(str(file))
        sub = ds.split(split)
        assert sorted(coco.getImgIds()) == sorted(sub.images.id.tolist())
        assert sorted(coco.getCatIds()) == sorted(ds.categories.ids)
        assert len(coco.getAnnIds()) == len(sub.annotations)
        a = sub.annotations
        for i in range(len(a)):
            ann = coco.anns[int(a.id[i])]
            x1, y1, x2, y2 = a.xyxy[i]
            assert ann["bbox"] == pytest.approx([x1, y1, x2 - x1, y2 - y1], abs=1e-9)
            assert coco.imgs[ann["image_id"]]["file_name"] == sub.images.file_name[a.image_index[i]]
            if a.has_rle()[i]:
                assert coco.annToMask(ann).sum() == g.rle_area(a.rle[i])
            elif a.has_polygon()[i]:
                # pycocotools rasterizes the polygons we wrote to about their exact area.
                exact = sum(g.polygon_area(r) for r in a.polygons.rings(i))
                assert coco.annToMask(ann).sum() == pytest.approx(exact, rel=0.1, abs=80)
            elif a.attr("coco.area")[i] is None:
                assert ann["area"] == pytest.approx((x2 - x1) * (y2 - y1))


def test_pycocotools_reads_our_facemask_export(tmp_path):
    ds = vf.load(shared_path("roboflow-facemask-coco"))
    _check_with_pycocotools(ds, tmp_path / "out")


def test_pycocotools_reads_polygons_and_rle(tmp_path):
    ds = vf.load(shared_path("sahi-tests", "tests", "data", "coco_utils", "terrain1_coco.json"))
    _check_with_pycocotools(ds, tmp_path / "out")
    ds = vf.load(shared_path("datumaro-assets", "coco_dataset", "coco_instances"))
    _check_with_pycocotools(ds, tmp_path / "out2")


def test_pycocotools_reads_converted_voc(tmp_path):
    ds = vf.load(shared_path("raccoon", "annotations"), "voc")
    _check_with_pycocotools(ds, tmp_path / "out")


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.uint8, st.tuples(st.integers(1, 30), st.integers(1, 30)),
                  elements=st.integers(0, 1)))
def test_our_rle_is_byte_identical_to_pycocotools(mask):
    theirs = mask_utils.encode(np.asfortranarray(mask))
    ours = g.mask_to_rle(mask.astype(bool))
    assert ours["counts"] == theirs["counts"].decode()
    assert ours["size"] == list(theirs["size"])
    assert np.array_equal(g.rle_to_mask(ours), mask_utils.decode(theirs).astype(bool))
    assert g.rle_area(ours) == int(mask_utils.area(theirs))
