"""The teacher floor: the real CenterNet (and NanoDet) auto-label the raccoon test split (40
real photos, ../shared) and their AP50 against the human boxes stays above a floor measured once.
What it catches on real data: a wrong value range (0..1 instead of 0..255: AP50 0.0), boxes
scaled by the wrong side or left in network pixels, a wrong class order, class-agnostic NMS
(a "cat" box hiding the "bear" one: 0.21 instead of 0.59). Colour order and stretch-vs-letterbox
are pinned by the tiny-graph tests (test_detectors.py) instead: on raccoon, BGR input and a
letterbox score about the same as upstream's RGB stretch (200 images, "bear,dog,cat": 0.866,
0.864 vs 0.842), so AP cannot tell them apart. Skipped with a reason when a model is not pulled
(`visionflow models pull centernet`, `make models`) or ../shared is absent."""

from __future__ import annotations

import numpy as np
import pytest

import visionflow as vf
from visionflow.models.base import models_dir

from ..conftest import shared_path

pytest.importorskip("onnxruntime")

# AP50 against the human boxes, measured once (2026-12-04, onnxruntime 1.32, OpenCV 4.14) on
# the 40 images of data/test_labels.csv with predict's threshold 0.01; floors leave a margin
# for library versions. "bear" alone is weaker than MODELS.md's 0.77, which matches mapping
# the animals CenterNet confuses raccoons with: "bear,dog,cat" measures 0.780.
MEASURED = {("centernet", "raccoon=bear"): 0.592, ("centernet", "raccoon=bear,dog,cat"): 0.780,
            ("nanodet", "raccoon=bear,dog,cat"): 0.681}
MARGIN = 0.03


def _pulled(name: str):
    folder = models_dir() / name
    if not (folder / "model.onnx").is_file():
        pytest.skip(f"model {name!r} is not pulled ({folder / 'model.onnx'} is absent): run "
                    f"`visionflow models pull {name}` or `make models`")
    return folder


def _raccoon_test() -> vf.Dataset:
    csv = shared_path("raccoon", "data", "test_labels.csv")
    return vf.load(csv, images_dir=shared_path("raccoon", "images"))


@pytest.mark.shared
@pytest.mark.parametrize("model, classes", sorted(MEASURED))
def test_teacher_ap50_on_raccoon_stays_above_the_floor(tmp_path, model, classes):
    from visionflow.models.predict import predict
    _pulled(model)
    gt = _raccoon_test()
    result = predict(model, gt, tmp_path / "preds", classes=classes, to="coco")
    assert result.labelled == 40
    ap50 = vf.evaluate(gt, vf.load(tmp_path / "preds")).to_json()["AP50"]
    floor = MEASURED[model, classes] - MARGIN
    assert ap50 >= floor, f"{model} {classes}: AP50 {ap50:.3f} < floor {floor:.3f}"


@pytest.mark.shared
def test_centernet_boxes_follow_the_image_not_the_network_input(tmp_path):
    """The same photo flipped left-right gives the mirrored box (within a few pixels): boxes
    are in the image's pixels, whatever its size and aspect."""
    folder = _pulled("centernet")
    from visionflow.models.centernet import CenterNet
    det = CenterNet(folder)
    gt = _raccoon_test()
    img = gt.image(0)
    a = det.detect(img)
    b = det.detect(np.ascontiguousarray(img[:, ::-1]))
    best_a = a.boxes[np.argmax(a.scores)]
    best_b = b.boxes[np.argmax(b.scores)]
    w = img.shape[1]
    mirrored = np.array([w - best_b[2], best_b[1], w - best_b[0], best_b[3]])
    np.testing.assert_allclose(best_a, mirrored, atol=0.06 * max(img.shape[:2]))


@pytest.mark.shared
def test_movenet_autolabel_bootstraps_a_yolo_pose_dataset(tmp_path):
    """Pose end to end: MoveNet labels COCO8-pose's photos; the YOLO pose output holds 17
    keypoints per person with COCO's flip index, reads back, and its person boxes match the
    human ones (AP50)."""
    from visionflow.models.autolabel import autolabel
    _pulled("movenet")
    gt = vf.load(shared_path("ultralytics-hub-datasets", "coco8-pose"))
    result = autolabel(gt, tmp_path / "pose", "movenet", "person", threshold=0.3, to="yolo",
                       keep_ground_truth=False, images="link")
    assert result.objects > 0 and set(result.per_class) == {"person"}
    text = next((tmp_path / "pose").glob("*.yaml")).read_text()
    assert "flip_idx" in text and "kpt_shape" in text
    out = vf.load(tmp_path / "pose")
    kp = out.annotations.keypoints
    assert kp.shape[1:] == (17, 3)
    visible = kp[:, :, 2] == 2
    assert visible.any()
    # a visible keypoint lies in (or within 10% of) its person's box
    for j, box in enumerate(out.annotations.xyxy):
        pts = kp[j][visible[j], :2]
        margin = 0.1 * max(box[2] - box[0], box[3] - box[1])
        assert (pts[:, 0] >= box[0] - margin).all() and (pts[:, 0] <= box[2] + margin).all()
    people = out.replace(annotations=out.annotations.replace(
        score=np.ones(len(out.annotations))))
    ap50 = vf.evaluate(gt, people, iou_type="bbox").to_json()["AP50"]
    assert ap50 >= 0.3, f"MoveNet person boxes AP50 {ap50:.3f}"
