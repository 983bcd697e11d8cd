"""Results records without a bbox take the extent of their segmentation or keypoints, the box
pycocotools' loadRes computes for them (toBbox for masks)."""

from __future__ import annotations

import json

import numpy as np
import pytest
from pycocotools import mask as mask_utils

import visionflow as vf
from visionflow.evaluation import load_predictions


def test_boxes_of_records_without_bbox_match_pycocotools(tmp_path):
    gt = {"images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [1, 1, 5, 5],
                           "area": 25, "iscrowd": 0}],
          "categories": [{"id": 1, "name": "a", "keypoints": ["p", "q"], "skeleton": []}]}
    m = np.zeros((30, 40), np.uint8, order="F")
    m[4:9, 7:20] = 1
    m[20:26, 30:33] = 1
    compressed = mask_utils.encode(m)
    compressed = {"size": compressed["size"], "counts": compressed["counts"].decode()}
    runs, value, n = [], 0, 0  # uncompressed RLE: run lengths in column order, zeros first
    for v in m.flatten(order="F").tolist():
        if v != value:
            runs.append(n)
            value, n = v, 0
        n += 1
    runs.append(n)
    uncompressed = {"size": [30, 40], "counts": runs}
    results = [
        {"image_id": 1, "category_id": 1, "score": 0.9, "segmentation": compressed},
        {"image_id": 1, "category_id": 1, "score": 0.8, "segmentation": uncompressed},
        {"image_id": 1, "category_id": 1, "score": 0.7,
         "segmentation": [[2, 3, 12.5, 3, 12.5, 9, 2, 9]]},
        {"image_id": 1, "category_id": 1, "score": 0.6, "keypoints": [4, 5, 2, 14, 17, 2]},
    ]
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(results))
    pred = load_predictions(tmp_path / "res.json", vf.load(tmp_path / "gt.json"))
    rle_box = mask_utils.toBbox(mask_utils.encode(m)).tolist()
    expected = [[rle_box[0], rle_box[1], rle_box[0] + rle_box[2], rle_box[1] + rle_box[3]]] * 2
    expected += [[2, 3, 12.5, 9], [4, 5, 14, 17]]
    np.testing.assert_allclose(pred.annotations.xyxy, expected)


def test_undecodable_rle_without_bbox_is_one_error(tmp_path):
    gt = {"images": [{"id": 1, "file_name": "a.jpg", "width": 40, "height": 30}],
          "annotations": [], "categories": [{"id": 1, "name": "a"}]}
    (tmp_path / "gt.json").write_text(json.dumps(gt))
    (tmp_path / "res.json").write_text(json.dumps(
        [{"image_id": 1, "category_id": 1, "score": 0.9,
          "segmentation": {"size": [30, 40], "counts": [5, 7]}}]))
    with pytest.raises(vf.Error, match="RLE segmentation cannot be decoded"):
        load_predictions(tmp_path / "res.json", vf.load(tmp_path / "gt.json"))
