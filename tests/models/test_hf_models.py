"""'Bring your own' Hugging Face models (models/hf.py) on tiny random models of each family,
loaded through transformers' real from_pretrained path with HF_HUB_OFFLINE=1: shapes,
coordinate frames (boxes in the original image's pixels), prompt -> class mapping and
determinism; never quality."""

from __future__ import annotations

import sys

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from visionflow.core.errors import Error, UsageError  # noqa: E402
from visionflow.models import hf  # noqa: E402

from . import tiny_hf  # noqa: E402

IMAGE = np.random.RandomState(0).randint(0, 255, (48, 80, 3), np.uint8)   # wide
TALL = np.random.RandomState(1).randint(0, 255, (90, 40, 3), np.uint8)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-hf")
    return {"owlv2": tiny_hf.build_tiny_owl(root / "owlv2"),
            "owlvit": tiny_hf.build_tiny_owl(root / "owlvit", v2=False),
            "grounding-dino": tiny_hf.build_tiny_grounding_dino(root / "gdino"),
            "clip": tiny_hf.build_tiny_clip(root / "clip"),
            "siglip": tiny_hf.build_tiny_siglip(root / "siglip")}


def _reference_boxes(det, image):
    """The model's raw normalized boxes scaled by hand: OWLv2 predicts in the padded square
    (side = the longer side), OWL-ViT and Grounding DINO in the (stretched) image."""
    import torch
    from PIL import Image
    h, w = image.shape[:2]
    inputs = det.processor(images=Image.fromarray(image), text=det._text["text"],
                           return_tensors="pt")
    with torch.inference_mode():
        out = det.model(**inputs)
    cx, cy, bw, bh = out.pred_boxes[0].numpy().T.astype(np.float64)
    sx, sy = (max(w, h), max(w, h)) if det.kind == "owlv2" else (w, h)
    boxes = np.stack([(cx - bw / 2) * sx, (cy - bh / 2) * sy, (cx + bw / 2) * sx,
                      (cy + bh / 2) * sy], 1)
    boxes[:, [0, 2]] = boxes[:, [0, 2]].clip(0, w)
    boxes[:, [1, 3]] = boxes[:, [1, 3]].clip(0, h)
    return boxes, out


@pytest.mark.parametrize("kind", ["owlv2", "owlvit", "grounding-dino"])
def test_detector_boxes_are_in_the_original_images_pixels(folders, kind):
    from visionflow.models.base import Detector
    det = hf.load(folders[kind], classes=("raccoon", "dog"))
    assert isinstance(det, Detector) and det.kind == kind
    assert det.info.task == "detect" and det.info.classes == ("raccoon", "dog")
    kept = 0
    for image in (IMAGE, TALL):
        h, w = image.shape[:2]
        d = det.detect(image)
        ref, _ = _reference_boxes(det, image)
        assert len(ref) == {"owlv2": 16, "owlvit": 16, "grounding-dino": 8}[kind]  # queries
        # every query but those clipped to (almost) nothing: outside the image
        n = int(((ref[:, 2] - ref[:, 0] >= hf.MIN_SIDE)
                 & (ref[:, 3] - ref[:, 1] >= hf.MIN_SIDE)).sum())
        kept += n
        assert d.boxes.shape == (n, 4) and d.scores.shape == (n,) and d.labels.shape == (n,)
        assert d.boxes.dtype == np.float32 and d.labels.dtype == np.int32
        assert ((d.boxes[:, 0] >= 0) & (d.boxes[:, 2] <= w) & (d.boxes[:, 1] >= 0)
                & (d.boxes[:, 3] <= h)).all()
        assert (d.boxes[:, 2] >= d.boxes[:, 0]).all() and (d.boxes[:, 3] >= d.boxes[:, 1]).all()
        assert ((d.scores >= 0) & (d.scores <= 1)).all()
        assert (np.diff(d.scores) <= 0).all()                     # best first
        assert set(d.labels.tolist()) <= {0, 1}
        # every returned box is one of the model's queries, scaled as that family's frame says
        for b in d.boxes:
            assert np.abs(ref - b).max(axis=1).min() < 1e-3, (b, ref)
    assert kept > 0      # (a random OWLv2 may put every box in the padding of the tall image)


def test_owlv2_labels_follow_the_prompt_order(folders):
    """OWL scores each prompt independently: swapping the prompts swaps the labels only."""
    a = hf.load(folders["owlv2"], classes=("raccoon", "dog")).detect(IMAGE)
    b = hf.load(folders["owlv2"], classes=("dog", "raccoon")).detect(IMAGE)
    order_a, order_b = np.lexsort(a.boxes.T), np.lexsort(b.boxes.T)
    np.testing.assert_allclose(a.boxes[order_a], b.boxes[order_b], atol=1e-4)
    np.testing.assert_allclose(a.scores[order_a], b.scores[order_b], atol=1e-5)
    assert np.array_equal(a.labels[order_a], 1 - b.labels[order_b])
    one = hf.load(folders["owlv2"], classes=("raccoon",)).detect(IMAGE)
    assert (one.labels == 0).all()


def test_grounding_dino_maps_each_token_to_its_prompt(folders):
    det = hf.load(folders["grounding-dino"], classes=("polar bear", "dog", "cat"))
    owner = det._text["owner"]
    ids = det.processor.tokenizer(det._text["text"])["input_ids"]
    words = det.processor.tokenizer.convert_ids_to_tokens(ids)
    got = {det.prompts[k]: [w for w, o in zip(words, owner) if o == k] for k in range(3)}
    assert got["dog"] == ["dog"] and got["cat"] == ["cat"]
    assert "".join(got["polar bear"]).replace("##", "") == "polarbear"
    assert all(o == -1 for w, o in zip(words, owner) if w in ("[CLS]", "[SEP]", "."))
    d = det.detect(IMAGE)
    _, out = _reference_boxes(det, IMAGE)
    probs = 1 / (1 + np.exp(-out.logits[0].numpy().astype(np.float64)))
    full = np.full(probs.shape[1], -1)
    full[:len(owner)] = owner
    per = np.stack([probs[:, full == k].max(1) for k in range(3)], 1)
    want = sorted(zip(-per.max(1), per.argmax(1)))
    np.testing.assert_allclose(d.scores, [-s for s, _ in want], rtol=1e-5)
    assert set(d.labels.tolist()) <= {0, 1, 2}
    assert sorted(d.labels.tolist()) == sorted(int(k) for _, k in want)


def test_grounding_dino_refuses_prompts_past_its_text_length(folders):
    long = tuple(f"cat{'x' * 3} dog{i}" for i in range(20))   # > max_text_len=32 tokens
    with pytest.raises(UsageError, match="text length"):
        hf.load(folders["grounding-dino"], classes=long)


@pytest.mark.parametrize("kind", ["owlv2", "grounding-dino"])
def test_detectors_are_deterministic_and_fingerprinted(folders, kind):
    a = hf.load(folders[kind], classes=("raccoon", "dog"))
    b = hf.load(folders[kind], classes=("raccoon", "dog"))
    da, db = a.detect(IMAGE), b.detect(IMAGE)
    assert np.array_equal(da.boxes, db.boxes) and np.array_equal(da.scores, db.scores)
    assert a.info.fingerprint == b.info.fingerprint
    c = hf.load(folders[kind], classes=("raccoon", "cat"))   # other prompts, other results
    assert c.info.fingerprint != a.info.fingerprint


def test_max_detections_keeps_the_best(folders):
    full = hf.load(folders["owlv2"], classes=("raccoon",)).detect(IMAGE)
    top = hf.load(folders["owlv2"], classes=("raccoon",), max_detections=3).detect(IMAGE)
    assert len(top) == 3
    np.testing.assert_array_equal(top.scores, full.scores[:3])


def test_a_detector_needs_prompts(folders):
    with pytest.raises(UsageError, match="text prompts"):
        hf.load(folders["owlv2"])
    with pytest.raises(UsageError, match="text prompts"):
        hf.load(folders["owlv2"], classes=("raccoon", " "))


def test_detect_refuses_what_is_not_an_rgb_image(folders):
    det = hf.load(folders["owlv2"], classes=("raccoon",))
    with pytest.raises(ValueError, match="RGB uint8"):
        det.detect(IMAGE[..., 0])


# --- CLIP crops --------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def clip(folders):
    import os
    os.environ["HF_HUB_OFFLINE"] = "1"
    return hf.load(folders["clip"], classes=("raccoon", "dog", "cat"))


def test_crop_classifier_equals_the_models_own_forward(clip):
    import torch
    from PIL import Image
    assert isinstance(clip, hf.CropClassifier) and clip.info.task == "classify"
    boxes = np.array([[0, 0, 40, 24], [10.2, 5.7, 79.9, 47.5], [30, 10, 31, 11]], np.float32)
    labels, scores = clip.classify_crops(IMAGE, boxes)
    assert labels.shape == scores.shape == (3,) and labels.dtype == np.int32
    texts = [f"a photo of a {p}." for p in ("raccoon", "dog", "cat")]
    crops = [Image.fromarray(IMAGE).crop(b) for b in [(0, 0, 40, 24), (10, 5, 80, 48),
                                                       (30, 10, 31, 11)]]
    inputs = clip.processor(text=texts, images=crops, return_tensors="pt", padding=True)
    with torch.inference_mode():
        probs = clip.model(**inputs).logits_per_image.softmax(-1).numpy()
    np.testing.assert_array_equal(labels, probs.argmax(1))
    np.testing.assert_allclose(scores, probs.max(1), rtol=1e-5, atol=1e-6)


def test_siglip_scores_are_sigmoids_of_its_own_logits(folders):
    """SigLIP was trained on text padded to full length, unmasked, scored by sigmoid with a
    learned bias: its crop scores equal the model's own forward run that way."""
    import torch
    from PIL import Image
    sig = hf.load(folders["siglip"], classes=("raccoon", "dog"))
    assert sig.kind == "siglip" and sig.sigmoid
    boxes = np.array([[0, 0, 40, 24], [10, 10, 70, 40], [50, 0, 80, 48]])
    labels, scores = sig.classify_crops(IMAGE, boxes)
    texts = [f"a photo of a {p}." for p in ("raccoon", "dog")]
    crops = [Image.fromarray(IMAGE).crop(tuple(b)) for b in boxes]
    inputs = sig.processor(text=texts, images=crops, padding="max_length", return_tensors="pt")
    inputs.pop("attention_mask", None)
    with torch.inference_mode():
        probs = torch.sigmoid(sig.model(**inputs).logits_per_image).numpy()
    np.testing.assert_array_equal(labels, probs.argmax(1))
    np.testing.assert_allclose(scores, probs.max(1), rtol=1e-5, atol=1e-6)
    assert not np.allclose(probs.sum(1), 1.0)          # independent sigmoids, not a softmax


def test_a_crop_is_the_boxed_region(clip):
    box = np.array([[12, 6, 52, 40]])
    sub = np.ascontiguousarray(IMAGE[6:40, 12:52])
    a = clip.classify_crops(IMAGE, box)
    b = clip.classify_crops(sub, np.array([[0, 0, 40, 34]]))
    assert np.array_equal(a[0], b[0]) and np.allclose(a[1], b[1], atol=1e-6)
    # a box reaching past the image is clipped to it
    c = clip.classify_crops(IMAGE, np.array([[12, 6, 52, 40], [-20, -20, 200, 200]]))
    d = clip.classify_crops(IMAGE, np.array([[12, 6, 52, 40], [0, 0, 80, 48]]))
    assert np.array_equal(c[0], d[0]) and np.allclose(c[1], d[1], atol=1e-6)


def test_crop_prompts_given_per_call_and_their_order(clip):
    boxes = np.array([[0, 0, 40, 24], [10, 10, 70, 40]])
    la, sa = clip.classify_crops(IMAGE, boxes, ["dog", "cat"])
    lb, sb = clip.classify_crops(IMAGE, boxes, ["cat", "dog"])
    assert np.array_equal(la, 1 - lb) and np.allclose(sa, sb, atol=1e-5)
    assert set(la.tolist()) <= {0, 1}
    empty = clip.classify_crops(IMAGE, np.zeros((0, 4)))
    assert empty[0].shape == (0,) and empty[1].shape == (0,)
    with pytest.raises(UsageError, match="text prompts"):
        clip.classify_crops(IMAGE, boxes, [])


def test_template_must_have_a_slot(folders):
    with pytest.raises(UsageError, match="must contain"):
        hf.load(folders["clip"], template="a photo")
    plain = hf.load(folders["clip"], classes=("dog", "cat"), template="{}")
    assert plain.info.fingerprint != hf.load(folders["clip"]).info.fingerprint


# --- sources and errors -----------------------------------------------------------------------

def test_bad_sources_are_one_line(tmp_path, folders):
    with pytest.raises(UsageError, match="no such model folder"):
        hf.load(tmp_path / "nope")
    (tmp_path / "sam.onnx").write_bytes(b"x")
    with pytest.raises(UsageError, match="a file; a Hugging Face model is a folder"):
        hf.load(tmp_path / "sam.onnx")
    (tmp_path / "empty").mkdir()
    with pytest.raises(UsageError, match="no config.json"):
        hf.load(tmp_path / "empty")
    with pytest.raises(Error, match="HF_HUB_OFFLINE=1") as e:
        hf.load("visionflow-tests/not-a-cached-model")
    assert "\n" not in str(e.value)


def test_an_unsupported_model_type_says_what_is(tmp_path):
    import transformers as tf
    tf.BertModel(tf.BertConfig(vocab_size=50, hidden_size=8, num_hidden_layers=1,
                               num_attention_heads=2, intermediate_size=8)
                 ).save_pretrained(tmp_path / "bert")
    with pytest.raises(UsageError, match="'bert' is not supported.*owlv2"):
        hf.load(tmp_path / "bert")


def test_sam_loader_refuses_another_family(folders):
    from visionflow.models.sam import load_sam
    with pytest.raises(UsageError, match="not SAM"):
        load_sam(folders["clip"])


def test_missing_extra_is_one_line(monkeypatch, folders):
    monkeypatch.setitem(sys.modules, "transformers", None)
    with pytest.raises(Error, match="pip install") as e:
        hf.load(folders["clip"])
    assert "\n" not in str(e.value)


def test_loading_prints_nothing(folders, capfd):
    capfd.readouterr()
    hf.load(folders["owlv2"], classes=("dog",)).detect(IMAGE)
    out, err = capfd.readouterr()
    assert out == "" and err == ""
