"""SAM through transformers on a tiny random model: the segmenter's frames and cache, the
documented coordinate transform, and the exported browser decoder equal to the torch one."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("torch")
pytest.importorskip("transformers")

from visionflow.core.errors import UsageError  # noqa: E402

from .tiny_sam import build_tiny_sam  # noqa: E402

IMAGE = np.random.RandomState(0).randint(0, 255, (48, 80, 3), np.uint8)


@pytest.fixture(autouse=True)
def _offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def sam_folder(tmp_path_factory):
    return build_tiny_sam(tmp_path_factory.mktemp("tiny-sam"))


@pytest.fixture(scope="module")
def seg(sam_folder):
    from visionflow.models import hf
    return hf.load(sam_folder)


def test_load_gives_a_segmenter_with_a_weights_fingerprint(seg, sam_folder, tmp_path):
    from visionflow.models.base import Segmenter
    from visionflow.models.sam import SamSegmenter
    assert isinstance(seg, SamSegmenter) and isinstance(seg, Segmenter)
    assert seg.info.task == "segment" and seg.info.input_size == (64, 64)
    assert len(seg.info.fingerprint) == 32
    # other weights, other fingerprint (the cache key of embeddings and the decoder)
    from visionflow.models import hf
    other = hf.load(build_tiny_sam(tmp_path / "other", seed=1))
    assert other.info.fingerprint != seg.info.fingerprint


@pytest.mark.parametrize("shape", [(48, 80), (80, 48), (64, 64), (7, 100), (333, 17)])
def test_documented_transform_equals_the_processors(seg, shape):
    """Embedding.to_input (what the browser is told to do) = SamProcessor's own transform."""
    image = np.zeros((*shape, 3), np.uint8)
    emb = seg.embed(image)
    h, w = shape
    assert emb.image_size == (w, h) and emb.pad_size == 64
    pts = np.array([[0.0, 0.0], [w - 1.0, h - 1.0], [w / 3, h / 2]])
    from PIL import Image
    ref = seg.processor(images=Image.fromarray(image), input_points=[[pts.tolist()]],
                        return_tensors="pt")
    assert emb.input_size == tuple(int(v) for v in ref["reshaped_input_sizes"][0].flip(0))
    np.testing.assert_allclose(emb.to_input(pts), ref["input_points"][0, 0].numpy(),
                               rtol=1e-6, atol=1e-4)
    assert max(emb.input_size) == 64
    assert emb.scale == pytest.approx(64 / max(w, h))


def test_segment_gives_a_full_size_mask_and_is_deterministic(seg, sam_folder):
    from visionflow.models import hf
    prompts = [dict(points=[[30, 20]], labels=[1]),
               dict(points=[[30, 20], [5, 5]], labels=[1, 0]),
               dict(box=[10, 8, 60, 40]),
               dict(box=[10, 8, 60, 40], points=[[30, 20]], labels=[1])]
    again = hf.load(sam_folder)
    for p in prompts:
        m = seg.segment(IMAGE, **p)
        assert m.shape == (48, 80) and m.dtype == bool
        assert np.array_equal(m, again.segment(IMAGE, **p))


def test_embedding_is_cached_in_memory_and_on_disk(seg, sam_folder, tmp_path, monkeypatch):
    from visionflow.models import hf
    image = np.random.RandomState(5).randint(0, 255, (30, 50, 3), np.uint8)
    first = seg.embed(image)
    assert seg.embed(image) is first
    fresh = hf.load(sam_folder)        # a new process: the disk cache, not the encoder

    def no_encoder(*a, **k):
        raise AssertionError("the image encoder ran again")
    monkeypatch.setattr(fresh.model, "get_image_embeddings", no_encoder)
    again = fresh.embed(image)
    np.testing.assert_array_equal(again.array, first.array)
    assert again.input_size == first.input_size and again.image_size == first.image_size
    with pytest.raises(AssertionError, match="encoder ran"):
        fresh.embed(image[::-1].copy())   # other pixels: computed


def test_embed_file_keys_by_bytes_and_reads_upright(seg, tmp_path):
    from PIL import Image
    arr = np.random.RandomState(1).randint(0, 255, (20, 40, 3), np.uint8)
    im = Image.fromarray(arr)
    exif = im.getexif()
    exif[0x0112] = 6          # rotate 90 degrees when shown: the image is 20 wide, 40 high
    p = tmp_path / "rot.jpg"
    im.save(p, exif=exif.tobytes())
    emb = seg.embed_file(p)
    assert emb.image_size == (20, 40)
    assert seg.embed_file(p) is emb


@pytest.mark.parametrize("bad, match", [
    (dict(), "needs a box or at least one point"),
    (dict(points=[[1, 2]], labels=[2]), "labels"),
    (dict(points=[[1, 2], [3, 4]], labels=[1]), "labels"),
    (dict(points=[[1, 2, 3]]), "points"),
    (dict(box=[10, 10, 5, 20]), "box"),
    (dict(box=[0, 0, float("nan"), 3]), "box"),
])
def test_bad_prompts_are_one_line(seg, bad, match):
    with pytest.raises(UsageError, match=match):
        seg.segment(IMAGE, **bad)


PROMPTS = [  # (coords in image pixels, labels), box corners as labels 2/3
    ([[30, 20]], [1]),
    ([[30, 20], [70, 40], [5, 5]], [1, 1, 0]),
    ([[10, 8], [60, 40]], [2, 3]),
    ([[30, 20], [50, 10], [10, 8], [60, 40]], [1, 0, 2, 3]),
]


def _torch_reference(seg, emb, coords, labels, multimask=True):
    """transformers' SamModel.forward for the same prompt (points + a separate box)."""
    import torch
    coords, labels = np.asarray(coords, np.float64), np.asarray(labels)
    pts, box = coords[labels < 2], coords[labels >= 2]
    kw = {}
    if len(pts):
        kw["input_points"] = torch.from_numpy(emb.to_input(pts)[None, None])
        kw["input_labels"] = torch.from_numpy(labels[labels < 2][None, None].astype(np.int64))
    if len(box):
        kw["input_boxes"] = torch.from_numpy(emb.to_input(box).reshape(1, 1, 4))
    with torch.inference_mode():
        out = seg.model(image_embeddings=torch.from_numpy(emb.array),
                        multimask_output=multimask, **kw)
    return out.pred_masks[0, 0].numpy(), out.iou_scores[0, 0].numpy()


def _onnx_feed(emb, coords, labels):
    coords, labels = np.asarray(coords, np.float64), np.asarray(labels, np.float32)
    xy = emb.to_input(coords)
    if not (labels >= 2).any():           # no box: the padding point, as documented
        xy = np.concatenate([xy, np.zeros((1, 2), np.float32)])
        labels = np.concatenate([labels, [-1.0]]).astype(np.float32)
    return {"image_embeddings": emb.array, "point_coords": xy[None].astype(np.float32),
            "point_labels": labels[None].astype(np.float32)}


@pytest.fixture(scope="module")
def decoder(seg, tmp_path_factory):
    ort = pytest.importorskip("onnxruntime")
    from visionflow.models.sam import export_decoder
    path = export_decoder(seg, tmp_path_factory.mktemp("dec") / "decoder.onnx")
    return ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])


def test_exported_decoder_signature(decoder):
    assert [i.name for i in decoder.get_inputs()] == ["image_embeddings", "point_coords",
                                                       "point_labels"]
    assert [o.name for o in decoder.get_outputs()] == ["masks", "iou_scores"]
    assert decoder.get_inputs()[0].shape == [1, 16, 8, 8]


@pytest.mark.parametrize("coords, labels", PROMPTS)
def test_exported_decoder_equals_the_torch_decoder(seg, decoder, coords, labels):
    for image in (IMAGE, np.random.RandomState(9).randint(0, 255, (70, 30, 3), np.uint8)):
        emb = seg.embed(image)
        masks, iou = decoder.run(None, _onnx_feed(emb, coords, labels))
        assert masks.shape == (1, 4, 32, 32) and iou.shape == (1, 4)
        # mask 0 = transformers' single-mask answer, 1..3 = its multimask answers
        for multimask, part in ((False, slice(0, 1)), (True, slice(1, 4))):
            ref_masks, ref_iou = _torch_reference(seg, emb, coords, labels, multimask)
            assert np.abs(ref_masks).max() > 1e-2     # not comparing zeros with zeros
            np.testing.assert_allclose(masks[0, part], ref_masks, rtol=1e-4, atol=1e-4)
            np.testing.assert_allclose(iou[0, part], ref_iou, rtol=1e-4, atol=1e-5)


def test_browser_recipe_gives_the_segmenters_mask_and_a_polygon(seg, decoder):
    """The module docstring's mask recipe on the ONNX output = SamSegmenter.segment, and
    mask_to_polygons turns it into a ring inside the image."""
    pytest.importorskip("cv2")
    import torch
    import torch.nn.functional as F

    from visionflow.models.masks import mask_to_polygons
    found = 0
    for seed in range(6):
        image = np.random.RandomState(seed).randint(0, 255, (48, 80, 3), np.uint8)
        emb = seg.embed(image)
        for xy, lab in (([[30, 20]], [1]), ([[70, 5]], [1]), ([[3, 44]], [1]),
                        ([[30, 20], [70, 5]], [1, 0])):
            masks, iou = decoder.run(None, _onnx_feed(emb, xy, lab))
            k = 1 + int(iou[0, 1:].argmax()) if len(xy) == 1 else 0   # the documented rule
            s, (w, h), (W, H) = emb.pad_size, emb.input_size, emb.image_size
            up = F.interpolate(torch.from_numpy(masks[:, k:k + 1]), (s, s), mode="bilinear",
                               align_corners=False)[..., :h, :w]
            mine = F.interpolate(up, (H, W), mode="bilinear", align_corners=False)[0, 0] > 0
            want = seg.segment(image, points=np.array(xy), labels=np.array(lab))
            assert np.array_equal(mine.numpy(), want)
            if 0 < want.sum() < want.size:
                rings = mask_to_polygons(want, min_area=1)
                assert rings and all(len(r) >= 3 for r in rings)
                for r in rings:
                    assert (r >= 0).all() and (r[:, 0] <= W).all() and (r[:, 1] <= H).all()
                found += 1
    assert found, "no prompt gave a partial mask to turn into a polygon"


def test_decoder_file_is_exported_once_into_the_cache(seg):
    from visionflow.models.sam import decoder_file
    p = decoder_file(seg)
    assert p.is_file() and p.stat().st_size > 1000
    mtime = p.stat().st_mtime_ns
    assert decoder_file(seg) == p and p.stat().st_mtime_ns == mtime


def test_export_decoder_refuses_what_is_not_sam(tmp_path):
    from visionflow.models.sam import export_decoder
    with pytest.raises(UsageError, match="needs a SAM model"):
        export_decoder(object(), tmp_path / "x.onnx")
    assert not list(tmp_path.iterdir())


def test_concurrent_requests_for_one_image_run_the_encoder_once(sam_folder):
    import threading

    from visionflow.models import hf
    fresh = hf.load(sam_folder)
    calls = []
    real = fresh.model.get_image_embeddings

    def counting(*a, **k):
        calls.append(1)
        return real(*a, **k)
    fresh.model.get_image_embeddings = counting
    image = np.random.RandomState(77).randint(0, 255, (33, 44, 3), np.uint8)
    got = []
    threads = [threading.Thread(target=lambda: got.append(fresh.embed(image)))
               for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(got) == 4
    assert all(np.array_equal(g.array, got[0].array) for g in got)


def test_a_damaged_cache_entry_is_computed_again(sam_folder):
    from visionflow.models import hf
    image = np.random.RandomState(78).randint(0, 255, (20, 20, 3), np.uint8)
    first = hf.load(sam_folder)
    want = first.embed(image)
    files = sorted(first._cache_file("x").parent.glob("*.npz"), key=lambda p: p.stat().st_mtime)
    files[-1].write_bytes(b"not an npz")
    again = hf.load(sam_folder).embed(image)
    np.testing.assert_array_equal(again.array, want.array)
