"""Generated COCO ground truth and model results with everything COCOeval treats specially:
noise, duplicates, wrong classes, tied scores, crowd regions, objects of every area range,
images without objects or predictions, unsorted and gapped ids, an annotation with id 0."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

import numpy as np
import orjson

SIZE = (640, 480)


def _poly(rng, x, y, w, h):
    """A star-ish polygon inside the box (6-10 vertices)."""
    k = int(rng.integers(6, 11))
    ang = np.sort(rng.uniform(0, 2 * np.pi, k))
    r = rng.uniform(0.6, 1.0, k)
    px = x + w / 2 + np.cos(ang) * r * w / 2
    py = y + h / 2 + np.sin(ang) * r * h / 2
    return [float(v) for v in np.column_stack([px, py]).reshape(-1)]


def generate(seed: int, n_images: int = 40, n_classes: int = 4, *, segm: bool = False,
             keypoints: bool = False) -> tuple[dict, list]:
    rng = np.random.default_rng(seed)
    W, H = SIZE
    ids = rng.permutation(np.arange(n_images) * 3 + 7).tolist()      # gapped, unsorted
    cat_ids = [1, 3, 4, 10, 12, 13][:n_classes] if not keypoints else [1]
    images = [{"id": i, "file_name": f"img_{i}.jpg", "width": W, "height": H} for i in ids]
    anns, res = [], []
    ann_id = 0                                                          # COCOeval quirk: id 0
    for im in ids:
        if rng.random() < 0.1:                                          # empty image
            n_obj = 0
        else:
            n_obj = int(rng.integers(1, 12))
        for _ in range(n_obj):
            scale = rng.choice([12, 40, 150])                            # small/medium/large
            w = float(rng.uniform(0.5, 1.5) * scale)
            h = float(rng.uniform(0.5, 1.5) * scale)
            x = float(rng.uniform(0, W - w - 1))
            y = float(rng.uniform(0, H - h - 1))
            c = int(rng.choice(cat_ids))
            crowd = int(rng.random() < 0.08)
            a = {"id": ann_id, "image_id": im, "category_id": c, "bbox": [x, y, w, h],
                 "iscrowd": crowd, "area": w * h * (0.7 if rng.random() < 0.5 else 1.0)}
            ann_id += 1
            if segm:
                a["segmentation"] = [_poly(rng, x, y, w, h)]
                if crowd:
                    from pycocotools import mask as mu
                    m = np.zeros((H, W), np.uint8, order="F")
                    m[int(y):int(y + h), int(x):int(x + w)] = 1
                    r = mu.encode(m)
                    a["segmentation"] = {"size": [H, W], "counts": r["counts"].decode()}
                    a["area"] = float(mu.area(r))
            if keypoints:
                kp = np.zeros((17, 3))
                kp[:, 0] = rng.uniform(x, x + w, 17)
                kp[:, 1] = rng.uniform(y, y + h, 17)
                kp[:, 2] = rng.choice([0, 1, 2], 17, p=[0.3, 0.2, 0.5])
                if rng.random() < 0.15:
                    kp[:, 2] = 0
                kp[kp[:, 2] == 0, :2] = 0
                a["keypoints"] = [float(v) for v in kp.reshape(-1)]
                a["num_keypoints"] = int((kp[:, 2] > 0).sum())
            anns.append(a)
            for _ in range(int(rng.choice([0, 1, 1, 1, 2]))):           # missed, found, twice
                j = rng.normal(0, 0.08 * scale, 4)
                bb = [x + j[0], y + j[1], max(1.0, w + j[2]), max(1.0, h + j[3])]
                cc = c if rng.random() < 0.85 else int(rng.choice(cat_ids))
                r = {"image_id": im, "category_id": cc, "bbox": [float(v) for v in bb],
                     "score": float(np.round(rng.uniform(0.05, 1.0), 2))}   # ties
                if segm:
                    r["segmentation"] = [_poly(rng, *bb)]
                if keypoints:
                    kd = kp.copy()
                    kd[:, :2] = kd[:, :2] + rng.normal(0, 4, (17, 2))
                    kd[:, 0] = np.where(kp[:, 2] == 0, rng.uniform(x, x + w, 17), kd[:, 0])
                    kd[:, 1] = np.where(kp[:, 2] == 0, rng.uniform(y, y + h, 17), kd[:, 1])
                    kd[:, 2] = 1
                    r["keypoints"] = [float(v) for v in kd.reshape(-1)]
                res.append(r)
        if rng.random() > 0.2:                                          # false positives
            for _ in range(int(rng.integers(0, 5))):
                w, h = float(rng.uniform(5, 200)), float(rng.uniform(5, 200))
                x, y = float(rng.uniform(0, W - w)), float(rng.uniform(0, H - h))
                r = {"image_id": im, "category_id": int(rng.choice(cat_ids)),
                     "bbox": [x, y, w, h], "score": float(np.round(rng.uniform(0, 1), 2))}
                if segm:
                    r["segmentation"] = [_poly(rng, x, y, w, h)]
                if keypoints:
                    r["keypoints"] = [float(v) for v in np.column_stack(
                        [rng.uniform(x, x + w, 17), rng.uniform(y, y + h, 17),
                         np.ones(17)]).reshape(-1)]
                res.append(r)
    cats = [{"id": c, "name": f"class{c}", "supercategory": "thing"} for c in cat_ids]
    if keypoints:
        cats[0]["keypoints"] = [f"k{i}" for i in range(17)]
        cats[0]["skeleton"] = [[1, 2]]
    rng.shuffle(res)
    return {"images": images, "annotations": anns, "categories": cats}, res


def write(tmp: Path, gt: dict, res: list) -> tuple[Path, Path]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "gt.json").write_bytes(orjson.dumps(gt))
    (tmp / "res.json").write_bytes(orjson.dumps(res))
    return tmp / "gt.json", tmp / "res.json"


def pycocotools_eval(gt_path: Path, res_path: Path, iou_type: str = "bbox", **params):
    """COCOeval's eval dict and stats, its printing swallowed."""
    from pycocotools.coco import COCO
    from pycocotools.cocoeval import COCOeval
    with contextlib.redirect_stdout(io.StringIO()):
        gt = COCO(str(gt_path))
        dt = gt.loadRes(str(res_path))
        E = COCOeval(gt, dt, iou_type)
        for k, v in params.items():
            setattr(E.params, k, v)
        E.evaluate()
        E.accumulate()
        E.summarize()
    return E


def noisy_results(gt: dict, seed: int, *, segm: bool = False) -> list:
    """Predictions for a real ground truth: jittered, missed, doubled, mislabelled, spurious."""
    rng = np.random.default_rng(seed)
    cats = [c["id"] for c in gt["categories"]]
    res = []
    for a in gt["annotations"]:
        x, y, w, h = a["bbox"]
        for _ in range(int(rng.choice([0, 1, 1, 2]))):
            j = rng.normal(0, 0.1, 4) * [w, h, w, h]
            bb = [float(x + j[0]), float(y + j[1]), float(max(0.5, w + j[2])),
                  float(max(0.5, h + j[3]))]
            r = {"image_id": a["image_id"], "bbox": bb,
                 "category_id": a["category_id"] if rng.random() < 0.9 else int(rng.choice(cats)),
                 "score": float(np.round(rng.uniform(0, 1), 2))}
            if segm:
                r["segmentation"] = [_poly(rng, *bb)]
            res.append(r)
    for im in gt["images"]:
        for _ in range(int(rng.integers(0, 3))):
            w, h = rng.uniform(0.05, 0.4) * im["width"], rng.uniform(0.05, 0.4) * im["height"]
            bb = [float(rng.uniform(0, im["width"] - w)), float(rng.uniform(0, im["height"] - h)),
                  float(w), float(h)]
            r = {"image_id": im["id"], "category_id": int(rng.choice(cats)), "bbox": bb,
                 "score": float(np.round(rng.uniform(0, 1), 2))}
            if segm:
                r["segmentation"] = [_poly(rng, *bb)]
            res.append(r)
    return res


def with_crowd_and_empty(gt: dict, seed: int) -> dict:
    """A copy of a real ground truth with some objects made crowd regions and empty images."""
    rng = np.random.default_rng(seed)
    gt = orjson.loads(orjson.dumps(gt))
    for a in gt["annotations"]:
        if rng.random() < 0.07:
            a["iscrowd"] = 1
    top = max(im["id"] for im in gt["images"])
    w, h = gt["images"][0]["width"], gt["images"][0]["height"]
    gt["images"] += [{"id": top + 1 + i, "file_name": f"empty_{i}.jpg", "width": w, "height": h}
                     for i in range(3)]
    return gt
