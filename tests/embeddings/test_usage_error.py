"""UsageError: a call that cannot work as asked whatever the data (text search with an
image-only model) is its own visionflow Error, documented in the errors tree; the CLI still
says it in one line with exit status 1."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

import visionflow as vf
from visionflow.cli.main import app
from visionflow.core import errors
from visionflow.embeddings import load_embedder

from ..conftest import make_image


def test_usage_error_is_an_error_in_the_documented_tree():
    assert issubclass(vf.UsageError, vf.Error) and "UsageError" in vf.__all__
    assert not issubclass(vf.UsageError, vf.LocatedError)  # about the call, not a place
    assert "UsageError" in errors.__doc__ and "text search" in errors.__doc__


@pytest.mark.parametrize("model", ["phash", "dhash", "whash"])
def test_hashes_refuse_text_with_usage_error(model):
    with pytest.raises(vf.UsageError, match="embeds images only"):
        load_embedder(model).embed_texts(["a raccoon"])


def test_text_search_with_a_hash_is_one_line_before_any_image_is_embedded(tmp_path,
                                                                          monkeypatch):
    monkeypatch.setenv("VISIONFLOW_CACHE_DIR", str(tmp_path / "cache"))
    src = tmp_path / "src"
    make_image(src / "images" / "a.jpg")
    (src / "annotations").mkdir()
    (src / "annotations" / "instances_default.json").write_text(json.dumps(
        {"images": [{"id": 1, "file_name": "a.jpg", "width": 64, "height": 48}],
         "annotations": [], "categories": [{"id": 1, "name": "cat"}]}))
    with pytest.raises(vf.UsageError):
        vf.find_images(src, "a raccoon", model="phash", out=tmp_path / "o")
    assert not (tmp_path / "o").exists() and not (tmp_path / "cache").exists()
    r = CliRunner().invoke(app, ["search", str(src), "a raccoon", "--model", "phash"])
    assert r.exit_code == 1 and r.stderr.startswith("error: text search needs a model that embeds text")
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.output


def test_dinov2_refuses_text_with_usage_error(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    from .tiny_models import save_tiny  # skips without torch / transformers
    emb = load_embedder(save_tiny("dinov2", tmp_path / "dinov2"))
    with pytest.raises(vf.UsageError, match="embeds images only.*CLIP or SigLIP"):
        emb.embed_texts(["a cat"])
