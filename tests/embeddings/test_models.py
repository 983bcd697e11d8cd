"""Model embedders on tiny randomly initialised models built here: shapes, L2 normalisation,
determinism, text embeddings, fingerprints, and one-line errors (never quality)."""

from __future__ import annotations

import builtins
import sys

import numpy as np
import orjson
import pytest
from PIL import Image

from visionflow.core.errors import Error
from visionflow.embeddings import Embedder, load_embedder

from .tiny_models import DIMS, save_tiny


def photos() -> list[Image.Image]:
    """Real photos (scikit-image's samples), different sizes and aspect ratios."""
    data = pytest.importorskip("skimage.data", reason="scikit-image is not installed")
    return [Image.fromarray(data.astronaut()), Image.fromarray(data.coffee()),
            Image.fromarray(data.chelsea()).resize((150, 90)), Image.fromarray(data.rocket())]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = tmp_path_factory.mktemp("tiny-models")
    return {kind: save_tiny(kind, root / kind) for kind in DIMS}


@pytest.mark.parametrize("kind", sorted(DIMS))
def test_tiny_models_give_normalised_deterministic_rows(tiny, kind):
    emb = load_embedder(tiny[kind])
    assert isinstance(emb, Embedder)
    info = emb.info
    assert (info.kind, info.dim, info.name) == ("vector", DIMS[kind], f"hf:{kind}")
    assert info.text == (kind != "dinov2")
    assert info.fingerprint and info.preprocessing["model_type"] == kind
    images = photos()
    rows = emb.embed_images(images)
    assert rows.shape == (len(images), DIMS[kind]) and rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(rows, emb.embed_images(images))  # same input, same bits
    one_by_one = np.concatenate([emb.embed_images([im]) for im in images])
    np.testing.assert_allclose(one_by_one, rows, atol=1e-5)  # batching changes nothing
    assert len({r.tobytes() for r in rows}) == len(images)  # different photos, different rows
    again = load_embedder(str(tiny[kind]))  # a second load: same weights, same key and rows
    assert again.info.key == info.key
    assert np.array_equal(again.embed_images(images), rows)


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_text_models_embed_text_in_the_image_space(tiny, kind):
    emb = load_embedder(tiny[kind])
    texts = ["a photo of a cat", "a raccoon at night", "red"]
    rows = emb.embed_texts(texts)
    assert rows.shape == (3, emb.info.dim) and rows.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(rows, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(rows, emb.embed_texts(texts))
    assert len({r.tobytes() for r in rows}) == 3
    np.testing.assert_allclose(emb.embed_texts(texts[1:2])[0], rows[1], atol=1e-5)
    assert emb.info.preprocessing["text_padding"] == ("max_length" if kind == "siglip"
                                                      else "longest")


def test_dinov2_refuses_text_in_one_line(tiny):
    emb = load_embedder(tiny["dinov2"])
    with pytest.raises(Error, match="embeds images only.*CLIP or SigLIP") as e:
        emb.embed_texts(["a cat"])
    assert "\n" not in str(e.value)


def test_other_weights_get_another_key(tiny, tmp_path):
    other = load_embedder(save_tiny("clip", tmp_path / "clip", seed=1))
    base = load_embedder(tiny["clip"])
    assert other.info.name == base.info.name and other.info.preprocessing == base.info.preprocessing
    assert other.info.fingerprint != base.info.fingerprint
    assert other.info.key != base.info.key
    assert not np.allclose(other.embed_images(photos()[:1]), base.embed_images(photos()[:1]))


def test_a_pickled_embedder_is_rebuilt_from_its_source(tiny):
    import pickle
    emb = load_embedder(tiny["clip"])
    back = pickle.loads(pickle.dumps(emb))
    assert back.info == emb.info
    assert np.array_equal(back.embed_images(photos()), emb.embed_images(photos()))


def test_wrong_model_id_offline_says_where_it_looked():
    with pytest.raises(Error) as e:
        load_embedder("nobody/no-such-model-xyz")
    msg = str(e.value)
    assert "nobody/no-such-model-xyz" in msg and "cache" in msg and "HF_HUB_OFFLINE=1" in msg
    assert "\n" not in msg


def test_a_missing_folder_is_named(tmp_path):
    with pytest.raises(Error, match="no such model folder"):
        load_embedder(str(tmp_path / "my-model"))
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(Error, match=f"cannot load model .*looked in the folder {empty}"):
        load_embedder(empty)


def test_missing_extra_is_one_line_saying_what_to_install(monkeypatch, tiny):
    real_import = builtins.__import__

    def blocked(name, *args, **kwargs):
        if name.split(".")[0] in ("torch", "transformers", "onnxruntime"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", blocked)
    for mod in [m for m in sys.modules if m.split(".")[0] in ("torch", "transformers")]:
        monkeypatch.delitem(sys.modules, mod)
    with pytest.raises(Error, match=r"pip install 'visionflow\[embed\]'"):
        load_embedder(tiny["clip"])
    with pytest.raises(Error, match=r"onnxruntime: pip install 'visionflow\[embed\]'"):
        load_embedder("model.onnx")


def test_hashes_and_embedders_pass_through():
    from visionflow.embeddings.hashes import HashEmbedder
    assert isinstance(load_embedder(None), HashEmbedder)
    assert load_embedder("dhash").info.name == "dhash"
    emb = load_embedder("whash")
    assert load_embedder(emb) is emb
    with pytest.raises(TypeError):
        load_embedder(42)


# --- ONNX -------------------------------------------------------------------------------------

def tiny_onnx(path, side: int = 16, dim: int = 8, seed: int = 0, batch=None) -> np.ndarray:
    """A graph that flattens (N, 3, side, side) and multiplies by a random matrix; returns W."""
    onnx = pytest.importorskip("onnx", reason="onnx is not installed")
    from onnx import TensorProto, helper, numpy_helper
    w = np.random.default_rng(seed).standard_normal((3 * side * side, dim)).astype(np.float32)
    graph = helper.make_graph(
        [helper.make_node("Flatten", ["pixel_values"], ["flat"], axis=1),
         helper.make_node("MatMul", ["flat", "W"], ["embedding"])],
        "tiny", [helper.make_tensor_value_info("pixel_values", TensorProto.FLOAT,
                                               [batch or "N", 3, side, side])],
        [helper.make_tensor_value_info("embedding", TensorProto.FLOAT, [batch or "N", dim])],
        initializer=[numpy_helper.from_array(w, "W")])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return w


def test_onnx_embedder_matches_its_preprocessing_by_hand(tmp_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    w = tiny_onnx(tmp_path / "model.onnx")
    mean, std = [0.5, 0.4, 0.3], [0.2, 0.25, 0.3]
    (tmp_path / "model.json").write_bytes(orjson.dumps({"mean": mean, "std": std}))
    emb = load_embedder(tmp_path)  # a folder holding model.onnx
    assert (emb.info.name, emb.info.kind, emb.info.dim, emb.info.text) == \
        ("onnx:model.onnx", "vector", 8, False)
    assert emb.info.preprocessing["size"] == [16, 16] and emb.info.preprocessing["mean"] == mean
    images = photos()
    rows = emb.embed_images(images)
    assert rows.shape == (4, 8) and rows.dtype == np.float32
    for im, row in zip(images, rows):
        scale = 16 / min(im.size)
        nw, nh = max(1, round(im.width * scale)), max(1, round(im.height * scale))
        small = im.resize((nw, nh), Image.Resampling.BICUBIC)
        left, top = (nw - 16) // 2, (nh - 16) // 2
        arr = np.asarray(small.crop((left, top, left + 16, top + 16)), np.float32) / 255
        x = ((arr - mean) / np.asarray(std, np.float32)).transpose(2, 0, 1).reshape(-1)
        want = x @ w
        np.testing.assert_allclose(row, want / np.linalg.norm(want), atol=1e-4)
    with pytest.raises(Error, match="embeds images only"):
        emb.embed_texts(["a cat"])


def test_onnx_fixed_batch_defaults_and_fingerprint(tmp_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    tiny_onnx(tmp_path / "a.onnx", batch=1)
    tiny_onnx(tmp_path / "b.onnx", seed=1)
    a, b = load_embedder(tmp_path / "a.onnx"), load_embedder(str(tmp_path / "b.onnx"))
    assert a.info.preprocessing["mean"] == [0.485, 0.456, 0.406]  # ImageNet defaults
    assert a.embed_images(photos()).shape == (4, 8)  # a batch-1 graph, run image by image
    assert a.info.fingerprint != b.info.fingerprint and a.info.key != b.info.key


def test_onnx_errors_are_one_line(tmp_path):
    pytest.importorskip("onnxruntime", reason="onnxruntime is not installed")
    with pytest.raises(Error, match="no such ONNX model file"):
        load_embedder(tmp_path / "missing.onnx")
    bad = tmp_path / "bad.onnx"
    bad.write_bytes(b"not a model")
    with pytest.raises(Error, match="cannot load the ONNX model") as e:
        load_embedder(bad)
    assert "\n" not in str(e.value)
    tiny_onnx(tmp_path / "c.onnx")
    (tmp_path / "c.json").write_text("{not json")
    with pytest.raises(Error, match="c.json: not valid JSON"):
        load_embedder(tmp_path / "c.onnx")


def test_damaged_weights_are_one_line(tiny, tmp_path):
    import shutil
    broken = tmp_path / "broken"
    shutil.copytree(tiny["dinov2"], broken)
    weights = broken / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:200])
    with pytest.raises(Error, match=f"cannot load model '{broken}': looked in the folder") as e:
        load_embedder(broken)
    assert "\n" not in str(e.value)


def hub_cache(root, repo: str, folder) -> None:
    """Lay `folder` out as the Hugging Face cache does for a downloaded hub model: files in
    blobs/ named by their SHA-256, linked from snapshots/<commit>/, refs/main naming it."""
    import hashlib
    import os
    base = root / f"models--{repo.replace('/', '--')}"
    commit = "0" * 40
    snap = base / "snapshots" / commit
    snap.mkdir(parents=True)
    (base / "blobs").mkdir()
    (base / "refs").mkdir()
    (base / "refs" / "main").write_text(commit)
    for f in sorted(folder.iterdir()):
        digest = hashlib.sha256(f.read_bytes()).hexdigest()
        (base / "blobs" / digest).write_bytes(f.read_bytes())
        os.symlink(f"../../blobs/{digest}", snap / f.name)


def test_a_hub_id_loads_from_the_cache_offline(tiny, tmp_path):
    import subprocess
    hub_cache(tmp_path / "hub", "tiny-org/tiny-clip", tiny["clip"])
    code = ("import json; from visionflow.embeddings import load_embedder\n"
            "e = load_embedder('tiny-org/tiny-clip')\n"
            "print(json.dumps([e.info.name, e.info.dim, e.info.text, e.info.fingerprint]))")
    env = {**__import__("os").environ, "HF_HUB_CACHE": str(tmp_path / "hub"),
           "HF_HUB_OFFLINE": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    name, dim, text, fingerprint = orjson.loads(out.stdout.strip().splitlines()[-1])
    assert (name, dim, text) == ("hf:tiny-org/tiny-clip", 24, True)
    # the same files as the folder: the same weights fingerprint, read from the blob names
    assert fingerprint == load_embedder(tiny["clip"]).info.fingerprint
