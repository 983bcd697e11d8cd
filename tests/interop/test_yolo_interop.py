"""Peers read our YOLO output: supervision's DetectionDataset.from_yolo."""

from __future__ import annotations

import numpy as np
import pytest

import visionflow as vf
from tests.formats.yolo_synth import synthetic

sv = pytest.importorskip("supervision")

pytestmark = pytest.mark.interop


def _expected(ds: vf.Dataset, split: str) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """file name -> (xyxy, class index) of every object in a split."""
    index = ds.categories.index_map()
    out = {}
    for row in np.flatnonzero(ds.images.split == split):
        ann = ds.annotations[ds.annotations.image_index == row]
        out[str(ds.images.file_name[row])] = (
            ann.xyxy, np.array([index[int(c)] for c in ann.category_id], np.int64))
    return out


@pytest.mark.parametrize("task", ["detect", "segment"])
def test_supervision_reads_our_boxes(tmp_path, task):
    ds = synthetic(tmp_path, task, splits=("train", "val"))
    vf.write(ds, tmp_path / "out", "yolo", images="copy")
    out = tmp_path / "out"
    for split in ("train", "val"):
        peer = sv.DetectionDataset.from_yolo(
            images_directory_path=str(out / "images" / split),
            annotations_directory_path=str(out / "labels" / split),
            data_yaml_path=str(out / "data.yaml"),
            force_masks=task == "segment")
        assert list(peer.classes) == ds.categories.names
        expected = _expected(ds, split)
        assert len(peer) == len(expected)
        for path, _image, det in peer:
            xyxy, cls = expected[path.rsplit("/", 1)[-1]]
            assert np.array_equal(det.class_id, cls)
            np.testing.assert_allclose(det.xyxy, xyxy, atol=0.01)
            if task == "segment" and len(cls):
                assert det.mask is not None and det.mask.shape[0] == len(cls)


def test_supervision_reads_our_obb(tmp_path):
    ds = synthetic(tmp_path, "obb", splits=("train",))
    vf.write(ds, tmp_path / "out", "yolo", images="copy")
    out = tmp_path / "out"
    peer = sv.DetectionDataset.from_yolo(
        images_directory_path=str(out / "images" / "train"),
        annotations_directory_path=str(out / "labels" / "train"),
        data_yaml_path=str(out / "data.yaml"), is_obb=True)
    expected = _expected(ds, "train")
    for path, _image, det in peer:
        xyxy, cls = expected[path.rsplit("/", 1)[-1]]
        assert np.array_equal(det.class_id, cls)
        np.testing.assert_allclose(det.xyxy, xyxy, atol=0.01)
