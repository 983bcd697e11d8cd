"""JSONL targets for PaliGemma and Florence-2 fine-tuning."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import make_image


def _ds(tmp: Path, boxes, size=(200, 100), names=("cat", "dog"), cats=None) -> vf.Dataset:
    p = make_image(tmp / "src" / "a.jpg", size)
    cats = cats or [1] * len(boxes)
    return vf.Dataset(vf.Images.build(["a.jpg"], [size[0]], [size[1]], split="train",
                                      path=[str(p)]),
                      vf.Annotations.build([0] * len(boxes), cats, boxes),
                      vf.Categories.from_names(list(names)))


def test_paligemma_tokens_and_round_trip(tmp_path):
    ds = _ds(tmp_path, [[0, 0, 200, 100], [50, 25, 100, 50]], cats=[2, 1])
    report = vf.write(ds, tmp_path / "out", "jsonl-vlm")
    doc = json.loads((tmp_path / "out" / "_annotations.train.jsonl").read_text())
    assert doc == {"image": "a.jpg", "prefix": "detect cat ; dog",
                   "suffix": "<loc0000><loc0000><loc1023><loc1023> dog ; "
                             "<loc0256><loc0256><loc0512><loc0512> cat"}
    warn = [f for f in report if f.code == "jsonl_vlm.quantization"]
    assert warn and "0.20 px" in warn[0].message  # 200 px / 1024 at the right edge
    assert (tmp_path / "out" / "train" / "a.jpg").is_file()
    assert vf.detect(tmp_path / "out")[0].format == "jsonl-vlm"
    back = vf.load(tmp_path / "out")
    assert back.categories.names == ["cat", "dog"]
    np.testing.assert_allclose(back.annotations.xyxy, ds.annotations.xyxy, atol=0.2)
    vf.write(back, tmp_path / "again", "jsonl-vlm")
    assert (tmp_path / "again" / "_annotations.train.jsonl").read_bytes() == \
        (tmp_path / "out" / "_annotations.train.jsonl").read_bytes()


def test_florence2_tokens(tmp_path):
    ds = _ds(tmp_path, [[10, 20, 110, 70]], names=("big cat", "dog"))
    vf.write(ds, tmp_path / "out", "jsonl-vlm", style="florence2")
    doc = json.loads((tmp_path / "out" / "_annotations.train.jsonl").read_text())
    assert doc["prefix"] == "<OD>"
    assert doc["suffix"] == "big cat<loc_50><loc_200><loc_550><loc_700>"
    back = vf.load(tmp_path / "out")
    np.testing.assert_allclose(back.annotations.xyxy, [[10.1, 20.05, 110.1, 70.05]])
    assert back.categories.names == ["big cat"]  # no class list in Florence-2 targets


def test_florence2_reports_unsorted_class_order(tmp_path):
    ds = _ds(tmp_path, [[10, 20, 110, 70]], names=("zebra", "ant"))
    report = vf.write(ds, tmp_path / "out", "jsonl-vlm", style="florence2")
    assert "loss.class_order" in report.codes()


def test_thin_box_keeps_a_size(tmp_path):
    ds = _ds(tmp_path, [[100.1, 10, 100.3, 10.2]], size=(1200, 900))
    vf.write(ds, tmp_path / "out", "jsonl-vlm")
    box = vf.load(tmp_path / "out").annotations.xyxy[0]
    assert box[2] > box[0] and box[3] > box[1]


def _jsonl(tmp: Path, *lines: str) -> Path:
    make_image(tmp / "a.jpg", (100, 100))
    (tmp / "_annotations.jsonl").write_text("".join(f"{ln}\n" for ln in lines))
    return tmp


@pytest.mark.parametrize("line, error, problem", [
    ('{"image": "a.jpg", "suffix": "<loc0001><loc0002> cat"', vf.ParseError,
     "_annotations.jsonl:2: invalid JSON"),
    ('{"image": "a.jpg", "prefix": "detect cat", "suffix": "<loc0001><loc0002> cat"}',
     vf.ParseError, "_annotations.jsonl:2: cannot parse suffix"),
    ('{"image": "a.jpg", "suffix": "<loc0001><loc0002><loc0003><loc2000> cat"}',
     vf.ParseError, "loc token > 1023"),
    ('{"image": 3, "suffix": ""}', vf.ParseError, "expected an object with string fields"),
    ('{"image": "b.jpg", "suffix": ""}', vf.MissingImageError, ":2: image 'b.jpg' not found"),
    ('{"image": "../a.jpg", "suffix": ""}', vf.UnsafeInputError, ":2: file name '../a.jpg'"),
])
def test_bad_lines(tmp_path, line, error, problem):
    src = _jsonl(tmp_path, '{"image": "a.jpg", "prefix": "<OD>", "suffix": ""}', line)
    with pytest.raises(error) as e:
        vf.load(src, "jsonl-vlm")
    assert problem in str(e.value)


def test_reads_both_styles_in_one_file(tmp_path):
    src = _jsonl(tmp_path,
                 '{"image": "a.jpg", "prefix": "detect dog", "suffix": '
                 '"<loc0512><loc0000><loc1023><loc0512> dog"}',
                 '{"image": "b.jpg", "prefix": "<OD>", "suffix": "cat<loc_0><loc_0><loc_99><loc_99>"}')
    make_image(src / "b.jpg", (100, 100))
    ds = vf.load(src, "jsonl-vlm")
    assert ds.categories.names == ["dog", "cat"]  # prefix classes first, then others sorted
    np.testing.assert_allclose(ds.annotations.xyxy, [[0, 50, 50, 1023 / 1024 * 100],
                                                     [0.05, 0.05, 9.95, 9.95]])
