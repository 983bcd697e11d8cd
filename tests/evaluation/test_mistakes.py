"""`visionflow mistakes`: each kind found where it was planted, ranked, and written as a subset."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import visionflow as vf
from tests.conftest import make_image, tree_snapshot
from visionflow.cli.main import app
from visionflow.evaluation.mistakes import find_mistakes
from visionflow.evaluation.run import evaluate

runner = CliRunner()


@pytest.fixture
def planted(tmp_path) -> tuple[Path, Path]:
    """img0: a dog predicted on a cat; img1: a confident box on nothing labelled; img2: a loose
    match; img3: a cat nobody predicted; img4: a perfect match."""
    root = tmp_path / "gt"
    names = [f"img{i}.jpg" for i in range(5)]
    for n in names:
        make_image(root / "images" / n, (100, 100))
    gt = {"images": [{"id": i + 1, "file_name": n, "width": 100, "height": 100}
                     for i, n in enumerate(names)],
          "annotations": [
              {"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 40, 40], "iscrowd": 0,
               "area": 1600},
              {"id": 2, "image_id": 3, "category_id": 1, "bbox": [10, 10, 40, 40], "iscrowd": 0,
               "area": 1600},
              {"id": 3, "image_id": 4, "category_id": 1, "bbox": [20, 20, 30, 30], "iscrowd": 0,
               "area": 900},
              {"id": 4, "image_id": 5, "category_id": 2, "bbox": [5, 5, 50, 50], "iscrowd": 0,
               "area": 2500}],
          "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "dog"}]}
    (root / "annotations.json").write_text(json.dumps(gt))
    res = [{"image_id": 1, "category_id": 2, "bbox": [11, 11, 40, 40], "score": 0.9},
           {"image_id": 2, "category_id": 1, "bbox": [50, 50, 20, 20], "score": 0.95},
           {"image_id": 3, "category_id": 1, "bbox": [10, 10, 40, 25], "score": 0.8},
           {"image_id": 5, "category_id": 2, "bbox": [5, 5, 50, 50], "score": 0.99},
           {"image_id": 5, "category_id": 2, "bbox": [60, 60, 10, 10], "score": 0.1}]
    rp = tmp_path / "results.json"
    rp.write_text(json.dumps(res))
    return root / "annotations.json", rp


def test_each_kind_where_planted(planted):
    gp, rp = planted
    m = find_mistakes(evaluate(gp, rp, iou="0.5"), confidence=0.5)
    kinds = {(o["kind"], o["image"]) for o in m.objects}
    assert kinds == {("wrong_class", "img0.jpg"), ("missed", "img0.jpg"),
                     ("missing_label", "img1.jpg"), ("loose_box", "img2.jpg"),
                     ("missed", "img3.jpg")}
    wrong = next(o for o in m.objects if o["kind"] == "wrong_class")
    assert wrong["class"] == "dog" and wrong["ground_truth_class"] == "cat"
    assert wrong["iou"] == pytest.approx(39 * 39 / (2 * 1600 - 39 * 39))
    loose = next(o for o in m.objects if o["kind"] == "loose_box")
    assert loose["iou"] == pytest.approx(25 / 40)
    # img4's low-score spurious box is below the confidence: img4 is not listed
    assert [i["image"] for i in m.images] == ["img0.jpg", "img1.jpg", "img3.jpg", "img2.jpg"]
    assert m.images[0]["errors"] == 2      # one FP (the dog) and one FN (the cat)


def test_per_object_outcomes_are_returned(planted):
    gp, rp = planted
    ev = evaluate(gp, rp, iou="0.5")
    o = ev.objects
    assert o["pred_outcome"].tolist() == ["FP", "FP", "TP", "TP", "FP"]
    assert o["gt_outcome"].tolist() == ["FN", "TP", "FN", "TP"]
    assert o["pred_partner"].tolist() == [-1, -1, 1, 3, -1]
    assert o["gt_partner"].tolist() == [-1, 2, -1, 3]
    assert o["pred_iou"][3] == 1.0


def test_cli_json_and_subset(planted, tmp_path):
    gp, rp = planted
    before = tree_snapshot(gp.parent)
    r = runner.invoke(app, ["mistakes", str(gp), str(rp), "--json", "--top", "2"])
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert [i["image"] for i in out["images"]] == ["img0.jpg", "img1.jpg"]
    dst = tmp_path / "review"
    r = runner.invoke(app, ["mistakes", str(gp), str(rp), "--out", str(dst), "--top", "3",
                            "--to", "yolo"])
    assert r.exit_code == 0, r.output
    sub = vf.load(dst, format="yolo")
    assert sorted(Path(f).name for f in sub.images.file_name) == ["img0.jpg", "img1.jpg",
                                                                   "img3.jpg"]
    assert len(sub.annotations) == 2
    assert tree_snapshot(gp.parent) == before
    r = runner.invoke(app, ["mistakes", str(gp), str(rp), "--out", str(gp.parent)])
    assert r.exit_code == 1 and "source" in r.output
    assert tree_snapshot(gp.parent) == before
    np.testing.assert_array_equal(sub.annotations.category_id, [1, 1])


def test_objects_file(planted, tmp_path):
    gp, rp = planted
    out = tmp_path / "objects.jsonl"
    r = runner.invoke(app, ["evaluate", str(gp), str(rp), "--iou", "0.5", "--objects", str(out)])
    assert r.exit_code == 0, r.output
    recs = [json.loads(line) for line in out.read_text().splitlines()]
    preds = [x for x in recs if x["side"] == "prediction"]
    gts = [x for x in recs if x["side"] == "ground_truth"]
    assert [x["outcome"] for x in preds] == ["FP", "FP", "TP", "TP", "FP"]
    assert [x["outcome"] for x in gts] == ["FN", "TP", "FN", "TP"]
    assert preds[2]["partner_id"] == 2 and preds[2]["iou"] == pytest.approx(25 / 40)
    assert gts[1]["partner_id"] == 3 and gts[1]["iou"] == pytest.approx(25 / 40)
    assert preds[0]["class"] == "dog" and preds[0]["partner_id"] is None
    r = runner.invoke(app, ["evaluate", str(gp), str(rp), "--objects", str(tmp_path / "o.txt")])
    assert r.exit_code == 1 and ".jsonl" in r.output
