"""Outputs other tools must accept (issue 11, items 20, 21): Datumaro imports our yolo-darknet
output (CVAT's "YOLO 1.1" layout, obj_<subset>_data/) and our VOC / VOC segmentation outputs
without splits (ImageSets/*/default.txt); pycocotools reads COCO keypoint categories we write
for a dataset without keypoint names."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

import visionflow as vf
from tests.conftest import make_image
from visionflow.core.geometry import mask_to_rle

pytestmark = pytest.mark.interop


def _dataset(root: Path, splits: list[str], *, masks: bool = False) -> vf.Dataset:
    names = [f"im{i}.jpg" for i in range(len(splits))]
    paths = [str(make_image(root / "src" / n)) for n in names]
    n = len(names)
    boxes = [[2, 3, 20, 30], [30, 5, 60, 40]] * n
    rows, cats = [i // 2 for i in range(2 * n)], [1 + (i % 2) for i in range(2 * n)]
    extra = {}
    if masks:
        rle = np.empty(2 * n, object)
        out = []
        for x1, y1, x2, y2 in boxes:
            m = np.zeros((48, 64), bool)
            m[y1:y2, x1:x2] = True
            out.append(mask_to_rle(m))
        rle[:] = out
        extra["rle"] = rle
    ann = vf.Annotations.build(rows, cats, boxes, **extra)
    images = vf.Images.build(names, [64] * n, [48] * n, split=splits, path=paths)
    return vf.Dataset(images, ann, vf.Categories.from_names(["cat", "dog"]))


def _datumaro_labels(path: Path, fmt: str) -> dict[tuple[str, str], list[str]]:
    dm = pytest.importorskip("datumaro")
    ds = dm.Dataset.import_from(str(path), fmt)
    labels = ds.categories()[dm.AnnotationType.label]
    out: dict[tuple[str, str], list[str]] = {}
    for item in ds:
        kinds = (dm.AnnotationType.bbox, dm.AnnotationType.mask)
        out[(item.subset, str(item.id))] = sorted(labels[a.label].name for a in item.annotations
                                                  if a.type in kinds and a.label is not None)
    return out


def _expected(ds: vf.Dataset, subset_of) -> dict[tuple[str, str], list[str]]:
    names = {c.id: c.name for c in ds.categories}
    return {(subset_of(ds.images.split[r]), Path(ds.images.file_name[r]).stem):
            sorted(names[int(c)] for c in ds.annotations.category_id[
                ds.annotations.image_index == r]) for r in range(len(ds.images))}


@pytest.mark.parametrize("splits", [["train", "train", "val"], ["", "", ""]])
def test_datumaro_imports_our_yolo_darknet_output(splits, tmp_path):
    ds = _dataset(tmp_path, splits)
    vf.write(ds, tmp_path / "out", "yolo-darknet")
    assert (tmp_path / "out" / "obj_train_data").is_dir()
    theirs = _datumaro_labels(tmp_path / "out", "yolo")
    if splits[0]:
        assert theirs == _expected(ds, lambda s: {"val": "valid"}.get(s, s))
    else:  # train and valid name one list: the same items in both subsets
        assert {k: v for k, v in theirs.items() if k[0] == "train"} == _expected(
            ds, lambda s: "train")
    assert len(vf.load(tmp_path / "out").annotations) == len(ds.annotations)


@pytest.mark.parametrize("splits", [["", "", ""], ["train", "val", "val"]])
def test_datumaro_imports_our_voc_output_with_or_without_splits(splits, tmp_path):
    ds = _dataset(tmp_path, splits)
    vf.write(ds, tmp_path / "out", "voc")
    theirs = _datumaro_labels(tmp_path / "out", "voc_detection")
    assert theirs == _expected(ds, lambda s: s or "default")
    assert vf.load(tmp_path / "out").images.split.tolist() == splits


def test_datumaro_imports_our_voc_segmentation_output_without_splits(tmp_path):
    ds = _dataset(tmp_path, ["", ""], masks=True)
    vf.write(ds, tmp_path / "out", "voc-seg")
    assert (tmp_path / "out" / "ImageSets" / "Segmentation" / "default.txt").read_text() == (
        "im0\nim1\n")
    dm = pytest.importorskip("datumaro")
    theirs = dm.Dataset.import_from(str(tmp_path / "out"), "voc_segmentation")
    assert sorted((item.subset, str(item.id)) for item in theirs) == [("default", "im0"),
                                                                      ("default", "im1")]
    assert set(vf.load(tmp_path / "out").images.split) == {vf.UNSPLIT}


def test_pycocotools_reads_keypoint_categories_we_name(tmp_path):
    pytest.importorskip("pycocotools")
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval

    image = make_image(tmp_path / "src" / "a.png")
    kps = np.array([[[5, 5, 2], [8, 6, 2], [0, 0, 0]]], np.float64)
    ds = vf.Dataset(vf.Images.build(["a.png"], [64], [48], split="val", path=[str(image)]),
                    vf.Annotations.build([0], [1], [[1, 1, 20, 20]], keypoints=kps),
                    vf.Categories.from_names(["person"]))  # no keypoint names
    vf.write(ds, tmp_path / "out", "coco")
    gt = COCO(str(tmp_path / "out" / "annotations" / "instances_val.json"))
    (cat,) = gt.loadCats(gt.getCatIds())
    assert cat["keypoints"] == ["kp0", "kp1", "kp2"] and cat["skeleton"] == []
    det = gt.loadRes([{**a, "score": 1.0} for a in gt.dataset["annotations"]])
    ev = COCOeval(gt, det, "keypoints")
    ev.params.kpt_oks_sigmas = np.full(3, 0.05)
    ev.evaluate()
    ev.accumulate()
    ev.summarize()
    assert ev.stats[0] == pytest.approx(1.0)  # our own keypoints match themselves
    assert vf.load(tmp_path / "out").categories[0].keypoints == ("kp0", "kp1", "kp2")


@pytest.mark.parametrize("splits", [["train", "train"], ["val", "test"]])
def test_yolo_data_yaml_meets_ultralytics_check(splits, tmp_path):
    """ultralytics/data/utils.py check_det_dataset: 'train' and 'val' keys are required, and
    each must name existing images (ultralytics itself is not a test dependency)."""
    ds = _dataset(tmp_path, splits)
    vf.write(ds, tmp_path / "out", "yolo")
    doc = yaml.safe_load((tmp_path / "out" / "data.yaml").read_text())
    for key in ("train", "val"):
        folder = tmp_path / "out" / doc[key]
        assert any(folder.glob("*.jpg")), key
    assert doc["nc"] == 2 and list(doc["names"].values()) == ["cat", "dog"]
