"""COCO metrics equal pycocotools' COCOeval to 1e-9: every summary number, per class, and the
whole precision / recall / score arrays, on generated data with every special case and on real
COCO sets (skipped when ../shared/datasets is absent)."""

from __future__ import annotations

import json

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import shared_path
from tests.evaluation import cocogen
from visionflow.evaluation import Params, evaluate_coco
from visionflow.evaluation.predictions import load_predictions

pytest.importorskip("pycocotools")


def _ours(gt_path, res_path, iou_type="bbox", params=None):
    gt = vf.load(gt_path, format="coco")
    return evaluate_coco(gt, load_predictions(res_path, gt), iou_type, params=params)


def assert_same(ours, E):
    np.testing.assert_allclose(ours.stats_list(), E.stats, rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.precision, E.eval["precision"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.recall, E.eval["recall"], rtol=0, atol=1e-9)
    np.testing.assert_allclose(ours.scores, E.eval["scores"], rtol=0, atol=1e-9)
    # per class: COCOeval's summary restricted to one class's slice
    p = E.eval["precision"]
    for k, (name, got) in enumerate(ours.per_class.items()):
        s = p[:, :, k, 0, -1]
        want = np.mean(s[s > -1]) if (s > -1).any() else -1
        assert got["AP"] == pytest.approx(want, abs=1e-9), name


@pytest.mark.parametrize("iou_type", ["bbox", "segm", "keypoints"])
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_generated_equals_cocoeval(tmp_path, iou_type, seed):
    gt, res = cocogen.generate(seed, segm=iou_type == "segm", keypoints=iou_type == "keypoints")
    gp, rp = cocogen.write(tmp_path, gt, res)
    assert_same(_ours(gp, rp, iou_type), cocogen.pycocotools_eval(gp, rp, iou_type))


def test_custom_iou_thresholds_equal_cocoeval(tmp_path):
    gt, res = cocogen.generate(11)
    gp, rp = cocogen.write(tmp_path, gt, res)
    thrs = np.array([0.3, 0.5, 0.75, 0.9])
    E = cocogen.pycocotools_eval(gp, rp, "bbox", iouThrs=thrs)
    assert_same(_ours(gp, rp, params=Params.for_type("bbox", thrs)), E)


def test_per_object_matches_equal_cocoeval(tmp_path):
    """dt_match / gt_match are COCOeval's dtMatches / gtMatches (area 'all', max 100 dets)."""
    gt, res = cocogen.generate(5)
    gp, rp = cocogen.write(tmp_path, gt, res)
    E = cocogen.pycocotools_eval(gp, rp)
    gtd = vf.load(gp, format="coco")
    R = evaluate_coco(gtd, load_predictions(rp, gtd))
    g_ids = gtd.annotations.id[R.gt_rows]
    ours_pairs, theirs_pairs = set(), set()
    for t in range(10):
        for d in np.flatnonzero(R.dt_match[t] >= 0):
            ours_pairs.add((t, int(g_ids[R.dt_match[t, d]]), round(float(R.dt_iou[t, d]), 9)))
    for e in E.evalImgs:
        if e is None or list(e["aRng"]) != list(E.params.areaRng[0]):   # area range "all"
            continue
        ious = E.ious[e["image_id"], e["category_id"]]
        gts = {g: j for j, g in enumerate(a["id"] for a in E._gts[e["image_id"], e["category_id"]])}
        for t in range(10):
            for dj, g in enumerate(e["dtMatches"][t]):
                if g > 0:
                    theirs_pairs.add((t, int(g), round(float(ious[dj, gts[int(g)]]), 9)))
    # gt id 0 is unmatched to COCOeval: leave it out of both sides
    assert {p for p in ours_pairs if p[1] != 0} == theirs_pairs
    assert len(theirs_pairs) > 50


def test_sahi_results_file_equals_cocoeval():
    base = shared_path("sahi-tests", "tests", "data", "coco_evaluate")
    gp, rp = base / "dataset.json", base / "result.json"
    assert_same(_ours(gp, rp), cocogen.pycocotools_eval(gp, rp))


@pytest.mark.parametrize("split", ["test", "valid"])
def test_roboflow_facemask_with_noise_crowd_and_empty_images(tmp_path, split):
    src = shared_path("roboflow-facemask-coco", split, "_annotations.coco.json")
    gt = cocogen.with_crowd_and_empty(json.loads(src.read_text()), seed=3)
    gp, rp = cocogen.write(tmp_path, gt, cocogen.noisy_results(gt, seed=4))
    assert_same(_ours(gp, rp), cocogen.pycocotools_eval(gp, rp))


@pytest.mark.parametrize("iou_type", ["bbox", "segm"])
def test_datumaro_coco_with_crowd_rle(tmp_path, iou_type):
    src = shared_path("datumaro-assets", "coco_dataset", "coco_instances", "annotations",
                      "instances_val.json")
    gt = json.loads(src.read_text())
    assert any(a.get("iscrowd") for a in gt["annotations"])
    gp, rp = cocogen.write(tmp_path, gt, cocogen.noisy_results(gt, seed=1, segm=True))
    assert_same(_ours(gp, rp, iou_type), cocogen.pycocotools_eval(gp, rp, iou_type))


def test_datumaro_keypoints_with_own_sigmas(tmp_path):
    """Three keypoints per object (a crowd one among them): OKS with the caller's sigmas."""
    src = shared_path("datumaro-assets", "coco_dataset", "coco_person_keypoints", "annotations",
                      "person_keypoints_val.json")
    gt = json.loads(src.read_text())
    rng = np.random.default_rng(2)
    res = []
    for a in gt["annotations"]:
        for _ in range(2):
            kp = np.array(a["keypoints"], float).reshape(-1, 3)
            kp[:, :2] += rng.normal(0, 0.3, (len(kp), 2))
            kp[:, 2] = 1
            res.append({"image_id": a["image_id"], "category_id": a["category_id"],
                        "keypoints": [float(v) for v in kp.reshape(-1)],
                        "score": float(rng.uniform())})
    gp, rp = cocogen.write(tmp_path, gt, res)
    sigmas = np.array([.5, .7, .9]) / 10
    E = cocogen.pycocotools_eval(gp, rp, "keypoints", kpt_oks_sigmas=sigmas)
    assert_same(_ours(gp, rp, "keypoints", Params.for_type("keypoints", sigmas=sigmas)), E)


def test_area_range_edge_uses_the_files_own_width(tmp_path):
    """A spurious 32x32 box at x=0.01: x + w - x is 31.999999999999996, so an area from the
    corners falls just under 32*32 and leaves the 'medium' range that COCOeval (w*h = 1024)
    counts it in: APm would be 1 instead of 0.5."""
    gt = {"images": [{"id": 1, "file_name": "a.jpg", "width": 200, "height": 200}],
          "annotations": [{"id": 1, "image_id": 1, "category_id": 1, "bbox": [100, 100, 40, 40],
                           "area": 1600, "iscrowd": 0}],
          "categories": [{"id": 1, "name": "a"}]}
    res = [{"image_id": 1, "category_id": 1, "bbox": [100, 100, 40, 40], "score": 0.5},
           {"image_id": 1, "category_id": 1, "bbox": [0.01, 0.01, 32.0, 32.0], "score": 0.9}]
    gp, rp = cocogen.write(tmp_path, gt, res)
    E = cocogen.pycocotools_eval(gp, rp)
    ours = _ours(gp, rp)
    assert ours.stats["APm"] == pytest.approx(E.stats[4], abs=1e-12)
    assert_same(ours, E)


def test_ground_truth_without_some_areas_uses_the_box(tmp_path):
    """Objects without `area` (other tools' COCO) take w*h, the rest keep theirs."""
    gt, res = cocogen.generate(9, n_images=10)
    for a in gt["annotations"][::2]:
        a["area"] = a["bbox"][2] * a["bbox"][3]
    gp, rp = cocogen.write(tmp_path, gt, res)
    E = cocogen.pycocotools_eval(gp, rp)
    for a in gt["annotations"][::2]:
        del a["area"]
    gp2, _ = cocogen.write(tmp_path / "no-area", gt, res)
    assert_same(_ours(gp2, rp), E)


@pytest.mark.parametrize("name, iou_type", [("coco8-seg", "segm"), ("coco8-pose", "keypoints"),
                                            ("coco8", "bbox")])
def test_ultralytics_sets_through_coco_equal_cocoeval(tmp_path, name, iou_type):
    """Real YOLO polygons / keypoints, written as COCO by visionflow, with jittered
    predictions: the masks are pycocotools' own rasterisation of the real polygons."""
    src = shared_path("ultralytics-hub-datasets", name)
    ds = vf.load(src)
    ds = ds.replace(images=ds.images.replace(id=np.arange(1, len(ds.images) + 1),
                                             split=np.full(len(ds.images), "", object)))
    vf.write(ds, tmp_path / "coco", "coco", images="none")
    gp = next((tmp_path / "coco").rglob("*.json"))
    gt = json.loads(gp.read_text())
    rng = np.random.default_rng(5)
    res = []
    for a in gt["annotations"]:
        for k in range(2):
            r = {"image_id": a["image_id"], "category_id": a["category_id"],
                 "score": float(np.round(rng.uniform(), 2))}
            d = rng.normal(0, 3, 2)
            x, y, w, h = a["bbox"]
            r["bbox"] = [x + d[0], y + d[1], w * rng.uniform(0.8, 1.2), h]
            if iou_type == "segm":
                r["segmentation"] = [[v + d[i % 2] for i, v in enumerate(poly)]
                                     for poly in a["segmentation"]]
            if iou_type == "keypoints":
                kp = np.array(a["keypoints"], float).reshape(-1, 3)
                kp[:, :2] += rng.normal(0, 2 + 4 * k, (len(kp), 2))
                r["keypoints"] = [float(v) for v in kp.reshape(-1)]
            res.append(r)
    rp = tmp_path / "res.json"
    rp.write_text(json.dumps(res))
    ours = _ours(gp, rp, iou_type)
    assert_same(ours, cocogen.pycocotools_eval(gp, rp, iou_type))
    assert 0.05 < ours.stats["AP"] < 1             # neither trivial nor perfect
