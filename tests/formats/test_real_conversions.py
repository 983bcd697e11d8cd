"""Real datasets through every foundation format and back: the same boxes and classes.

raccoon and BCCD (Pascal VOC) -> COCO -> YOLO -> VOC; the boxes must come back to within the
precision of YOLO's normalized text (6 decimals), and integer VOC coordinates exactly after
rounding."""

import numpy as np
import pytest

import visionflow as vf

from ..conftest import shared_path, tree_snapshot


def _boxes_by_image(ds: vf.Dataset) -> dict[str, list[tuple[str, tuple[float, ...]]]]:
    names = {c.id: c.name for c in ds.categories}
    out: dict[str, list] = {}
    a = ds.annotations
    for i in range(len(a)):
        key = ds.images.file_name[a.image_index[i]]
        box = tuple(np.round(a.xyxy[i], 2))  # sort key robust to YOLO's 6-decimal noise
        out.setdefault(key, []).append((names[int(a.category_id[i])], box))
    for k in out:
        out[k].sort()
    for name in ds.images.file_name:
        out.setdefault(name, [])
    return out


@pytest.mark.parametrize("dataset, source, images, boxes", [
    ("raccoon", ("raccoon", "annotations"), 200, 217),
    ("bccd", ("bccd", "BCCD"), 364, 4888),
])
def test_voc_coco_yolo_voc_keeps_boxes_and_classes(tmp_path, dataset, source, images, boxes):
    src = shared_path(*source)
    before = tree_snapshot(src)
    original = vf.load(src, "voc")
    assert (len(original.images), len(original.annotations)) == (images, boxes)

    vf.convert(src, tmp_path / "coco", "coco", from_format="voc")
    vf.convert(tmp_path / "coco", tmp_path / "yolo", "yolo")
    vf.convert(tmp_path / "yolo", tmp_path / "voc", "voc")
    back = vf.load(tmp_path / "voc", "voc")

    assert back.categories.names == original.categories.names
    assert sorted(back.images.splits()) == sorted(original.images.splits())
    want, got = _boxes_by_image(original), _boxes_by_image(back)
    assert want.keys() == got.keys()
    for name in want:
        assert [c for c, _ in want[name]] == [c for c, _ in got[name]], name
        a = np.array([b for _, b in want[name]]).reshape(-1, 4)
        b = np.array([b for _, b in got[name]]).reshape(-1, 4)
        assert np.abs(a - b).max(initial=0) < 0.01, name
    # The VOC we write reads back to the same integer coordinates the annotators drew.
    xml = (tmp_path / "voc" / "Annotations").glob("*.xml")
    first = next(iter(sorted(xml))).read_text()
    assert "<xmin>" in first
    assert tree_snapshot(src) == before


def test_coco_ids_survive_yolo(tmp_path):
    src = shared_path("roboflow-facemask-coco")
    original = vf.load(src)
    vf.convert(src, tmp_path / "yolo", "yolo")  # YOLO finds labels through its images
    vf.convert(tmp_path / "yolo", tmp_path / "coco", "coco", images="none")
    back = vf.load(tmp_path / "coco")
    assert back.categories.ids == original.categories.ids == [0, 1, 2, 3, 4, 5]
    assert back.categories.names == original.categories.names
    assert len(back.annotations) == len(original.annotations)
    assert np.bincount(back.annotations.category_id).tolist() == \
        np.bincount(original.annotations.category_id).tolist()
