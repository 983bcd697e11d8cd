"""A brought model in the labelling loop: autolabel with a tiny OWLv2 (text prompts from the
ontology) and a tiny SAM outlining each box, end to end through the public function; and the
models travel to other processes (Ray workers) by pickling."""

from __future__ import annotations

import json
import pickle

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")
pytest.importorskip("cv2")

from ..conftest import tree_snapshot  # noqa: E402
from ..versioning.helpers import write_coco  # noqa: E402
from . import tiny_hf  # noqa: E402
from .tiny_sam import build_tiny_sam  # noqa: E402


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


def test_autolabel_with_owlv2_prompts_and_sam_masks(tmp_path):
    from visionflow.models.autolabel import autolabel
    src = write_coco(tmp_path / "src", [(0, 1, [2.0, 3.0, 10.0, 8.0])])
    before = tree_snapshot(src)
    owl = tiny_hf.build_tiny_owl(tmp_path / "owl")
    sam = build_tiny_sam(tmp_path / "sam")
    result = autolabel(src, tmp_path / "out", model=str(owl), classes="cat=raccoon,dog",
                       threshold=0.0, masks=str(sam))
    assert result.model.classes == ("raccoon", "dog") and result.labelled == 3
    assert tree_snapshot(src) == before
    doc = json.loads((tmp_path / "out" / "annotations" / "instances_train.json").read_text())
    made = [a for a in doc["annotations"] if "score" in a]
    assert len(made) == result.objects > 0
    cats = {c["id"]: c["name"] for c in doc["categories"]}
    for a in made:
        assert cats[a["category_id"]] == "cat"              # raccoon and dog -> cat
        assert a["attributes"]["source"] == "hf:owl" and 0 <= a["score"] <= 1
        x, y, w, h = a["bbox"]
        assert w > 0 and h > 0 and x >= 0 and y >= 0 and x + w <= 64 and y + h <= 48
        for ring in a["segmentation"]:                       # SAM's outline, in the image
            xs, ys = np.array(ring[0::2]), np.array(ring[1::2])
            assert len(xs) >= 3 and xs.min() >= 0 and xs.max() <= 64 and ys.max() <= 48


def test_brought_models_pickle_to_the_same_results(tmp_path):
    from visionflow.models import hf
    image = np.random.RandomState(3).randint(0, 255, (40, 60, 3), np.uint8)
    det = hf.load(tiny_hf.build_tiny_grounding_dino(tmp_path / "gd"), classes=("dog", "cat"))
    back = pickle.loads(pickle.dumps(det))
    assert back.info == det.info
    a, b = det.detect(image), back.detect(image)
    assert np.array_equal(a.boxes, b.boxes) and np.array_equal(a.labels, b.labels)
    clip = hf.load(tiny_hf.build_tiny_clip(tmp_path / "clip"), classes=("dog", "cat"),
                   template="{}")
    back = pickle.loads(pickle.dumps(clip))
    assert back.template == "{}" and back.info == clip.info
    boxes = np.array([[0, 0, 30, 20]])
    assert np.array_equal(clip.classify_crops(image, boxes)[1],
                          back.classify_crops(image, boxes)[1])
    seg = hf.load(build_tiny_sam(tmp_path / "sam"))
    back = pickle.loads(pickle.dumps(seg))
    assert np.array_equal(seg.segment(image, points=[[20, 10]]),
                          back.segment(image, points=[[20, 10]]))
