"""`visionflow evaluate`: the JSON contract, every predictions format, and bad input as one line
with exit status 1."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import visionflow as vf
from tests.evaluation import cocogen
from visionflow.cli.main import app
from visionflow.evaluation.predictions import load_predictions

runner = CliRunner()
COCO_KEYS = {"AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10", "AR100"}


def run(*args):
    return runner.invoke(app, [str(a) for a in args], catch_exceptions=False)


@pytest.fixture
def pair(tmp_path) -> tuple[Path, Path]:
    gt, res = cocogen.generate(7, n_images=12)
    return cocogen.write(tmp_path / "data", gt, res)


def _one_line_error(r, *words):
    assert r.exit_code == 1, r.output
    lines = [ln for ln in r.output.splitlines() if ln.strip()]
    assert len(lines) == 1 and lines[0].startswith("error:"), r.output
    assert "Traceback" not in r.output
    for w in words:
        assert w in r.output, r.output


def test_json_has_the_promised_keys_and_cocoeval_numbers(pair):
    gp, rp = pair
    r = run("evaluate", gp, rp, "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert COCO_KEYS <= set(out) and set(out["per_class"]) == {"class1", "class3", "class4",
                                                                "class10"}
    for s in out["per_class"].values():
        assert COCO_KEYS <= set(s)
    E = cocogen.pycocotools_eval(gp, rp)
    assert [out[k] for k in ("AP", "AP50", "AP75", "APs", "APm", "APl", "AR1", "AR10",
                             "AR100")] == pytest.approx(list(E.stats[:9]), abs=1e-12)


def test_voc_json(pair):
    gp, rp = pair
    r = run("evaluate", gp, rp, "--metric", "voc", "--iou", "0.5", "--interpolation", "11",
            "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.output)
    assert set(out) >= {"mAP", "per_class"} and 0 < out["mAP"] <= 1
    assert out["interpolation"] == "11" and out["iou"] == 0.5
    r2 = json.loads(run("evaluate", gp, rp, "--metric", "voc", "--json").output)
    assert r2["mAP"] != out["mAP"]            # all-point differs from 11-point here


def test_table_output(pair):
    gp, rp = pair
    r = run("evaluate", gp, rp)
    assert r.exit_code == 0 and "AP50" in r.output and "best F1" in r.output


def test_iou_range_is_parsed(pair):
    gp, rp = pair
    out = json.loads(run("evaluate", gp, rp, "--iou", "0.5:0.75", "--json").output)
    assert out["iou_thresholds"] == pytest.approx(np.linspace(.5, .75, 6))
    E = cocogen.pycocotools_eval(gp, rp, iouThrs=np.linspace(.5, .75, 6))
    assert out["AP"] == pytest.approx(E.stats[0], abs=1e-12)


def test_results_file_for_another_dataset(pair, tmp_path):
    gp, _ = pair
    other = tmp_path / "other.json"
    other.write_text(json.dumps([{"image_id": 99999, "category_id": 1, "bbox": [1, 1, 5, 5],
                                  "score": 0.5}]))
    _one_line_error(run("evaluate", gp, other), "99999", "another dataset")


def test_partly_unknown_images(pair, tmp_path):
    gp, rp = pair
    res = json.loads(rp.read_text())
    res.append({"image_id": 424242, "category_id": 1, "bbox": [1, 1, 5, 5], "score": 0.5})
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(res))
    _one_line_error(run("evaluate", gp, bad), "1 of", "424242")


@pytest.mark.parametrize("record, words", [
    ({"image_id": 7, "category_id": 77, "bbox": [1, 1, 5, 5], "score": 0.5}, ["77"]),
    ({"image_id": 7, "category_id": 1, "bbox": [1, 1, -5, 5], "score": 0.5}, ["negative"]),
    ({"image_id": 7, "category_id": 1, "bbox": [1, 1, "NaN", 5], "score": 0.5}, ["bbox"]),
    ({"image_id": 7, "category_id": 1, "bbox": [1, 1, 5, 5]}, ["score"]),
    ({"image_id": "7", "category_id": 1, "bbox": [1, 1, 5, 5], "score": 1}, ["image_id"]),
])
def test_bad_records(pair, tmp_path, record, words):
    gp, _ = pair
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([record]))
    _one_line_error(run("evaluate", gp, bad), "record 0", *words)


def test_nan_box_in_json(pair, tmp_path):
    gp, _ = pair
    bad = tmp_path / "bad.json"
    bad.write_text('[{"image_id": 7, "category_id": 1, "bbox": [1, 1, NaN, 5], "score": 1}]')
    _one_line_error(run("evaluate", gp, bad), "bad.json")


def test_bad_options(pair):
    gp, rp = pair
    _one_line_error(run("evaluate", gp, rp, "--metric", "f1"), "--metric")
    _one_line_error(run("evaluate", gp, rp, "--iou", "a:b"), "--iou")
    _one_line_error(run("evaluate", gp, rp, "--metric", "voc", "--interpolation", "7"),
                    "interpolation")
    _one_line_error(run("evaluate", gp, rp, "--iou-type", "segm"), "polygon")


def _yolo_gt(tmp_path) -> Path:  # noqa: D103
    """A COCO ground truth whose images have stems; predictions arrive as text files."""
    gt = {"images": [{"id": 1, "file_name": "a.jpg", "width": 100, "height": 50},
                     {"id": 2, "file_name": "b.jpg", "width": 100, "height": 50}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [10, 10, 20, 10],
                           "area": 200, "iscrowd": 0},
                          {"id": 2, "image_id": 2, "category_id": 2, "bbox": [50, 20, 40, 20],
                           "area": 800, "iscrowd": 0}],
          "categories": [{"id": 1, "name": "cat"}, {"id": 2, "name": "big dog"}]}
    (tmp_path / "gt").mkdir()
    p = tmp_path / "gt" / "gt.json"
    p.write_text(json.dumps(gt))
    return p


def test_yolo_with_confidence(tmp_path):
    gp = _yolo_gt(tmp_path)
    d = tmp_path / "labels"
    d.mkdir()
    (d / "a.txt").write_text("0 0.2 0.3 0.2 0.2 0.9\n1 0.5 0.5 0.1 0.1 0.3\n")
    (d / "b.txt").write_text("1 0.7 0.6 0.4 0.4 0.8\n")
    g = vf.load(gp, format="coco")
    p = load_predictions(d, g, "yolo-conf")
    np.testing.assert_allclose(p.annotations.xyxy[0], [10, 10, 30, 20])
    assert p.annotations.category_id.tolist() == [1, 2, 2]
    out = json.loads(run("evaluate", gp, d, "--pred-format", "yolo-conf", "--json").output)
    assert out["AP50"] == pytest.approx(1.0)
    (d / "b.txt").write_text("1 0.7 0.6 0.4 0.4\n")
    _one_line_error(run("evaluate", gp, d, "--pred-format", "yolo-conf"), "b.txt:1",
                    "confidence")
    (d / "b.txt").write_text("5 0.7 0.6 0.4 0.4 0.3\n")
    _one_line_error(run("evaluate", gp, d, "--pred-format", "yolo-conf"), "b.txt:1", "class")


def test_map_tool_text_files(tmp_path):
    gp = _yolo_gt(tmp_path)
    d = tmp_path / "detection-results"
    d.mkdir()
    (d / "a.txt").write_text("cat 0.9 10 10 30 20\n")
    (d / "b.txt").write_text("big dog 0.8 50 20 90 40\n")
    out = json.loads(run("evaluate", gp, d, "--pred-format", "map-txt", "--json").output)
    assert out["AP"] == pytest.approx(1.0)
    (d / "c.txt").write_text("cat 0.9 10 10 30 20\n")
    _one_line_error(run("evaluate", gp, d, "--pred-format", "map-txt"), "1 of 3", "'c'")
    (d / "c.txt").unlink()
    (d / "b.txt").write_text("horse 0.8 50 20 90 40\n")
    _one_line_error(run("evaluate", gp, d, "--pred-format", "map-txt"), "b.txt:1", "horse")


def test_native_dataset_with_scores_matched_by_file_name(tmp_path):
    gp = _yolo_gt(tmp_path)
    g = vf.load(gp, format="coco")
    # the same images under other ids, classes in another order: matched by name
    images = vf.Images.build(["b.jpg", "a.jpg"], [100, 100], [50, 50], id=[10, 20])
    cats = vf.Categories([vf.Category(5, "big dog"), vf.Category(6, "cat")])
    ann = vf.Annotations.build([0, 1], [5, 6], [[50, 20, 90, 40], [10, 10, 30, 20]],
                               score=np.array([0.8, 0.9]))
    pred = vf.Dataset(images, ann, cats)
    vf.write(pred, tmp_path / "pred", "visionflow", images="none")
    out = json.loads(run("evaluate", gp, tmp_path / "pred", "--json").output)
    assert out["AP"] == pytest.approx(1.0)


def test_dataset_without_scores_is_refused(tmp_path):
    gp = _yolo_gt(tmp_path)
    g = vf.load(gp, format="coco")
    vf.write(g, tmp_path / "noscores", "visionflow", images="none")
    _one_line_error(run("evaluate", gp, tmp_path / "noscores"), "score")


def test_undetected_predictions_say_which_option(tmp_path):
    gp = _yolo_gt(tmp_path)
    d = tmp_path / "junk"
    d.mkdir()
    (d / "x.dat").write_text("hello\n")
    _one_line_error(run("evaluate", gp, d), "--pred-format")
