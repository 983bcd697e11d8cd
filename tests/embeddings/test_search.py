"""Search by example and by text over embeddings made by deterministic test embedders: planted
near-copies rank first, text needs a text model, patches find objects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

import visionflow as vf
from tests.embeddings.search_helpers import (ColourEmbedder, ThumbEmbedder, altered, base_image,
                                             embeddings_of, write_planted)
from visionflow.core.errors import Error
from visionflow.embeddings.base import EmbedderInfo, Embeddings
from visionflow.embeddings.search import hit_images, search, similarity, top_rows


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    ds = vf.load(write_planted(tmp_path_factory.mktemp("planted"), n_base=6, copies=2))
    return ds, embeddings_of(ds, ThumbEmbedder(), patches=True)


def _group(name: str) -> str:
    return name.split("_copy")[0].removesuffix(".png")


@pytest.mark.parametrize("i", range(6))
def test_an_image_and_its_near_copies_rank_first(planted, i):
    ds, emb = planted
    path = Path(ds.images.path[ds.images.file_name.tolist().index(f"base_{i}.png")])
    hits = search(ds, emb, path, embedder=ThumbEmbedder(), top=5)
    assert hits[0].file_name == f"base_{i}.png" and hits[0].score == pytest.approx(1.0, abs=1e-5)
    assert {_group(h.file_name) for h in hits[:3]} == {f"base_{i}"}
    assert all(_group(h.file_name) != f"base_{i}" for h in hits[3:])
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert all(h.object_row == -1 and h.label is None for h in hits)


def test_an_unseen_variant_as_a_pil_image_finds_its_group(planted):
    ds, emb = planted
    query = altered(base_image(4), 3)          # a variant not in the dataset
    hits = search(ds, emb, query, embedder=ThumbEmbedder(), top=3)
    assert {h.file_name for h in hits} == {"base_4.png", "base_4_copy0.png", "base_4_copy1.png"}


def test_top_larger_than_the_dataset_returns_every_image_once(planted):
    ds, emb = planted
    hits = search(ds, emb, base_image(0), embedder=ThumbEmbedder(), top=1000)
    assert sorted(h.image_row for h in hits) == list(range(len(ds)))


def test_patch_search_finds_the_object_and_names_its_class(planted):
    ds, emb = planted
    ann = ds.annotations
    j = 10
    row = int(ann.image_index[j])
    crop = Image.open(ds.images.path[row]).convert("RGB").crop(
        tuple(int(v) for v in ann.xyxy[j]))
    hits = search(ds, emb, crop, embedder=ThumbEmbedder(), top=4, patches=True)
    assert hits[0].object_row == j and hits[0].image_row == row
    assert hits[0].label == ds.classes[ds.class_index(ann.category_id[j])]
    assert hits[0].to_json()["label"] == hits[0].label and "object_row" in hits[0].to_json()
    assert all(h.object_row >= 0 for h in hits)


def test_patch_search_without_patch_embeddings_is_one_clear_error(planted):
    ds, emb = planted
    with pytest.raises(Error, match="--patches"):
        search(ds, emb.images_only(), base_image(0), embedder=ThumbEmbedder(), patches=True)


def test_text_search_ranks_the_named_colour_first(tmp_path):
    colours = {0: (240, 20, 20), 1: (20, 240, 20), 2: (20, 20, 240)}
    ds = vf.load(write_planted(tmp_path, n_base=3, copies=1, colour=colours))
    emb = embeddings_of(ds, ColourEmbedder())
    for word, i in (("red", 0), ("green", 1), ("blue", 2)):
        hits = search(ds, emb, word, embedder=ColourEmbedder(), top=2)
        assert {_group(h.file_name) for h in hits} == {f"base_{i}"}, word


def test_text_needs_a_text_model(planted):
    ds, emb = planted
    with pytest.raises(Error, match="CLIP or SigLIP") as e:
        search(ds, emb, "a raccoon at night", embedder=ThumbEmbedder())
    assert "\n" not in str(e.value) and "test:thumb" in str(e.value)


def test_other_embedder_or_missing_query_file_is_an_error(planted, tmp_path):
    ds, emb = planted
    with pytest.raises(Error, match="not the one that made"):
        search(ds, emb, "red", embedder=ColourEmbedder())
    with pytest.raises(Error, match="no such image file"):
        search(ds, emb, tmp_path / "absent.jpg", embedder=ThumbEmbedder())
    with pytest.raises(Error, match="`top` must be at least 1"):
        search(ds, emb, base_image(0), embedder=ThumbEmbedder(), top=0)


class DHash:
    """A 64-bit difference hash, packed: the kind='hash' path."""

    info = EmbedderInfo("test:dhash", "hash", 64, {"size": 8})

    def embed_images(self, images):
        out = []
        for im in images:
            g = np.asarray(im.convert("L").resize((9, 8), Image.Resampling.BILINEAR), np.int16)
            out.append(np.packbits((g[:, 1:] > g[:, :-1]).reshape(-1)))
        return np.stack(out)

    def embed_texts(self, texts):
        raise Error("hashes embed no text")


def test_hash_embeddings_score_by_hamming_and_find_the_copies(planted):
    ds, _ = planted
    emb = embeddings_of(ds, DHash())
    q = DHash().embed_images([base_image(2)])[0]
    bits = np.unpackbits(emb.vectors, axis=1) != np.unpackbits(q)[None, :]
    assert np.allclose(similarity(emb, q), 1 - bits.sum(axis=1) / 64)
    hits = search(ds, emb, base_image(2), embedder=DHash(), top=1)
    assert hits[0].file_name == "base_2.png" and hits[0].score == 1.0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.integers(0, 5), min_size=0, max_size=40), st.integers(1, 50))
def test_top_rows_is_a_stable_descending_sort(values, top):
    scores = np.asarray(values, np.float64)
    expected = np.lexsort((np.arange(len(scores)), -scores))[:top]
    assert top_rows(scores, top).tolist() == expected.tolist()


def test_hit_images_keeps_each_image_once_best_first():
    from visionflow.embeddings.search import Hit
    hits = [Hit(3, 7, "a", "", .9), Hit(1, 2, "b", "", .8), Hit(3, 8, "a", "", .7)]
    assert hit_images(hits).tolist() == [3, 1]


def test_query_vector_of_the_wrong_length_is_an_error(planted):
    ds, emb = planted
    with pytest.raises(Error, match="144"):
        search(ds, emb, np.ones(5, np.float32))
    assert isinstance(emb, Embeddings)


def test_embeddings_of_another_dataset_are_refused(planted):
    ds, emb = planted
    with pytest.raises(Error, match="another dataset"):
        search(ds[:4], emb, base_image(0), embedder=ThumbEmbedder())
