"""The SAM routes of the web app (web/API.md) over a tiny random SAM: the embedding's bytes and
headers, the decoder the browser runs, the token, bad ids, and no model configured."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("fastapi")
pytest.importorskip("torch")
pytest.importorskip("transformers")

from ..models.tiny_sam import build_tiny_sam  # noqa: E402
from .write_helpers import AUTH, TOKEN, make_workspace, open_app  # noqa: E402


@pytest.fixture(scope="module")
def sam_folder(tmp_path_factory):
    return build_tiny_sam(tmp_path_factory.mktemp("tiny-sam"))


@pytest.fixture(scope="module")
def ws_path(tmp_path_factory):
    return make_workspace(tmp_path_factory.mktemp("sam-ws"))


@pytest.fixture(scope="module")
def app(ws_path, sam_folder):
    """(client, state, model): the app started as `visionflow app WS --sam FOLDER` does."""
    from fastapi.testclient import TestClient

    from visionflow.app.server import create_app
    from visionflow.app.state import AppState
    from visionflow.app.routes_sam import load_sam
    state = AppState.open(ws_path, background=False)
    model = load_sam(state, str(sam_folder))
    client = TestClient(create_app(state, token=TOKEN, sam=model), base_url="http://127.0.0.1")
    return client, state, model


def test_meta_says_sam_is_configured(app):
    client, _, model = app
    sam = client.get("/api/meta").json()["sam"]
    assert sam["configured"] is True and sam["model"] == model.info.name


def test_embedding_bytes_and_headers(app):
    client, state, model = app
    r = client.post("/api/sam/embedding/0", headers=AUTH)
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "application/octet-stream"
    shape = tuple(int(v) for v in r.headers["x-shape"].split(","))
    assert shape == (1, 16, 8, 8)
    arr = np.frombuffer(r.content, "<f4").reshape(shape)
    want = model.embed_file(state.image_path(0))
    np.testing.assert_array_equal(arr, want.array)
    assert r.headers["x-image-size"] == "64,48"          # the images are 64 x 48
    assert r.headers["x-input-size"] == "64,48" and r.headers["x-pad-size"] == "64"
    assert float(r.headers["x-scale"]) == pytest.approx(1.0)
    assert r.headers["x-model"] == model.info.fingerprint
    again = client.post("/api/sam/embedding/0", headers=AUTH)
    assert again.content == r.content
    other = client.post("/api/sam/embedding/1", headers=AUTH)   # another image: other values
    assert other.status_code == 200 and other.content != r.content


def test_embedding_is_a_mutation_and_needs_the_token(app):
    client, _, _ = app
    r = client.post("/api/sam/embedding/0")
    assert r.status_code == 403 and "error" in r.json()


@pytest.mark.parametrize("bad", ["99", "-1", "abc", "1.5", "%2e%2e%2fetc", "0x1", "1e0"])
def test_bad_image_ids_are_404_with_one_line(app, bad):
    client, _, _ = app
    r = client.post(f"/api/sam/embedding/{bad}", headers=AUTH)
    # an encoded "../" leaves the route: no such route (or method), never an image
    assert r.status_code in ((404, 405) if "%2f" in bad else (404,)), r.text
    err = r.json()["error"]
    assert "\n" not in err and ("image" in err or "%2f" in bad)


def test_decoder_runs_on_the_served_embedding(app):
    ort = pytest.importorskip("onnxruntime")
    client, state, model = app
    r = client.get("/api/sam/decoder.onnx")
    assert r.status_code == 200 and len(r.content) > 1000
    assert r.headers["x-model"] == model.info.fingerprint
    sess = ort.InferenceSession(r.content, providers=["CPUExecutionProvider"])
    emb = client.post("/api/sam/embedding/1", headers=AUTH)
    arr = np.frombuffer(emb.content, "<f4").reshape(1, 16, 8, 8)
    feed = {"image_embeddings": arr,
            "point_coords": np.array([[[20.0, 30.0], [0.0, 0.0]]], np.float32),
            "point_labels": np.array([[1.0, -1.0]], np.float32)}
    masks, iou = sess.run(None, feed)
    assert masks.shape == (1, 4, 32, 32) and iou.shape == (1, 4)
    assert client.get("/api/sam/decoder.onnx").content == r.content   # exported once


def test_missing_image_file_is_404(tmp_path, sam_folder):
    """A dataset folder whose image disappeared after the app opened it."""
    from ..versioning.helpers import write_coco
    src = write_coco(tmp_path / "src", [(0, 1, [2.0, 3.0, 10.0, 8.0])])
    from visionflow.app.routes_sam import load_sam
    client, state = open_app(src)
    client.app.state.sam = load_sam(state, str(sam_folder))
    path = state.image_path(2)
    path.unlink()
    r = client.post("/api/sam/embedding/2", headers=AUTH)
    assert r.status_code == 404 and "missing" in r.json()["error"]
    assert client.post("/api/sam/embedding/0", headers=AUTH).status_code == 200


def test_without_a_model_both_routes_say_how_to_configure_one(ws_path):
    client, _ = open_app(ws_path)
    for r in (client.post("/api/sam/embedding/0", headers=AUTH),
              client.get("/api/sam/decoder.onnx")):
        assert r.status_code == 404
        assert "--sam" in r.json()["error"] and "\n" not in r.json()["error"]
    assert client.get("/api/meta").json()["sam"]["configured"] is False


def test_prepare_loads_the_sam_named_on_the_command_line(ws_path, sam_folder, tmp_path):
    from visionflow.app.server import prepare
    from visionflow.core.errors import Error
    from visionflow.models.sam import SamSegmenter
    app, state, _ = prepare(ws_path, sam=str(sam_folder))
    assert isinstance(app.state.sam, SamSegmenter) and state.sam["configured"]
    state.close()
    with pytest.raises(Error, match="no such model folder"):
        prepare(ws_path, sam=str(tmp_path / "nope"))
