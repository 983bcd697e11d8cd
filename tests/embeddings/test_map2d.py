"""The 2-D map: PCA equal to scikit-learn's (signs included) and to numpy's SVD up to sign,
UMAP / t-SNE when installed, coordinates stored beside the embeddings and reused, the page."""

from __future__ import annotations

import re
import sys

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

import visionflow as vf
from tests.embeddings.search_helpers import ThumbEmbedder, embeddings_of, write_planted
from tests.embeddings.test_search import DHash
from visionflow.core.errors import Error
from visionflow.embeddings import map2d
from visionflow.embeddings.base import Embeddings
from visionflow.embeddings.map2d import (image_map, pca_2d, point_groups, project,
                                         render_map_html)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    ds = vf.load(write_planted(tmp_path_factory.mktemp("planted"), n_base=6, copies=2))
    return ds, embeddings_of(ds, ThumbEmbedder())


def _separated(x: np.ndarray) -> bool:
    """The top two singular values are distinct from each other and from the third: PCA's
    axes are then defined (otherwise any rotation in the tied plane is a right answer)."""
    s = np.linalg.svd(x - x.mean(axis=0), compute_uv=False)
    s = np.concatenate([s, [0.0, 0.0, 0.0]])
    return s[1] > 1e-3 and s[0] - s[1] > 1e-3 * s[0] and s[1] - s[2] > 1e-3 * s[0]


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.tuples(st.integers(3, 30), st.integers(2, 12)),
              elements=st.floats(-5, 5)))
def test_pca_matches_scikit_learn_with_its_signs_and_svd_up_to_sign(x):
    from sklearn.decomposition import PCA
    if not _separated(x):
        return
    ours = pca_2d(x)
    pca = PCA(n_components=2, svd_solver="full")
    theirs = pca.fit_transform(x)
    top2 = -np.sort(-np.abs(pca.components_), axis=1)[:, :2]
    if (top2[:, 0] - top2[:, 1] < 1e-3 * top2[:, 0]).any():
        return  # two loadings of (nearly) equal size: rounding decides scikit-learn's sign
    assert np.allclose(ours, theirs, atol=1e-6 * max(1.0, np.abs(theirs).max()))
    u, s, vt = np.linalg.svd(x - x.mean(axis=0), full_matrices=False)
    svd = u[:, :2] * s[:2]
    signs = np.sign(np.sum(ours * svd, axis=0))
    assert np.allclose(ours, svd * signs, atol=1e-6 * max(1.0, np.abs(svd).max()))


def test_pca_is_the_same_in_chunks_and_float32(monkeypatch):
    x = np.random.default_rng(0).normal(size=(101, 16)) * np.linspace(3, 0.1, 16)
    whole = pca_2d(x)
    monkeypatch.setattr(map2d, "CHUNK", 7)
    assert np.allclose(pca_2d(x), whole, atol=1e-9)
    assert np.allclose(pca_2d(x.astype(np.float32)), whole, atol=1e-4)
    assert pca_2d(x[:1]).tolist() == [[0.0, 0.0]] and pca_2d(x[:0]).shape == (0, 2)


@pytest.mark.parametrize("method", ["umap", "tsne"])
def test_umap_and_tsne_give_finite_seeded_coordinates(method):
    pytest.importorskip("umap" if method == "umap" else "sklearn")
    x = np.random.default_rng(1).normal(size=(24, 8)).astype(np.float32)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    a = project(x, method, seed=3)
    assert a.shape == (24, 2) and np.isfinite(a).all()
    if method == "tsne":
        assert np.allclose(a, project(x, method, seed=3))
    with pytest.raises(Error, match="at least 5"):
        project(x[:3], method)


def test_a_missing_library_is_one_line_saying_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "umap", None)
    with pytest.raises(Error, match=r"pip install 'visionflow\[map\]'"):
        project(np.eye(6, dtype=np.float32), "umap")
    monkeypatch.setitem(sys.modules, "sklearn.manifold", None)
    with pytest.raises(Error, match="scikit-learn"):
        project(np.eye(6, dtype=np.float32), "tsne")
    with pytest.raises(Error, match="did you mean 'umap'"):
        project(np.eye(6, dtype=np.float32), "uamp")


def test_hashes_are_mapped_from_their_bits(planted):
    ds, _ = planted
    emb = embeddings_of(ds, DHash())
    rows, coords = image_map(ds, emb)
    assert np.allclose(coords, pca_2d(np.unpackbits(emb.vectors, axis=1).astype(np.float64)),
                       atol=1e-4)


def test_coordinates_are_stored_per_content_and_reused(planted, tmp_path, monkeypatch):
    ds, emb = planted
    # the same content twice (a copy of image 0 as row 18): one projection point for both
    twice = Embeddings(emb.info, np.concatenate([emb.vectors, emb.vectors[:1]]),
                       np.concatenate([emb.image_rows, [0]]),
                       np.concatenate([emb.object_rows, [-1]]),
                       np.concatenate([emb.shas, emb.shas[:1]]))
    rows, coords = image_map(ds, twice, store=tmp_path)
    assert np.array_equal(coords[-1], coords[0]) and len(rows) == len(ds) + 1
    stored = list(tmp_path.glob("map-pca-*.npz"))
    assert len(stored) == 1
    with np.load(stored[0]) as f:
        assert len(f["shas"]) == len(ds) and str(f["embedder"]) == emb.info.key
    monkeypatch.setattr(map2d, "project", lambda *a, **k: pytest.fail("not reused"))
    rows2, coords2 = image_map(ds, twice, store=tmp_path)
    assert np.array_equal(coords2, coords) and np.array_equal(rows2, rows)
    monkeypatch.undo()
    image_map(ds, twice, store=tmp_path, seed=1)                 # another key: another file
    assert len(list(tmp_path.glob("map-pca-*.npz"))) == 2
    sub = Embeddings(emb.info, emb.vectors[:5], emb.image_rows[:5], emb.object_rows[:5],
                     emb.shas[:5])
    image_map(ds, sub, store=tmp_path)
    assert len(list(tmp_path.glob("map-pca-*.npz"))) == 3


def test_majority_class_per_image_and_split_colours(planted):
    ds, _ = planted
    from visionflow.core.annotations import Annotations
    cats = ds.categories.ids
    ann = Annotations.build([0, 0, 0, 1, 1, 2], [cats[2], cats[1], cats[1], cats[0], cats[2],
                                                 cats[1]], np.tile([1, 1, 5, 5], (6, 1)))
    small = ds.replace(annotations=ann)
    assert point_groups(small, np.arange(4)).tolist() == ["c1", "c0", "c1", "(no objects)"]
    assert set(point_groups(ds, np.arange(len(ds)), "split").tolist()) == {"(none)"}
    with pytest.raises(Error, match="`color`"):
        point_groups(ds, np.arange(3), "colour")


def test_the_page_is_offline_with_one_point_and_name_per_image(planted):
    ds, emb = planted
    rows, coords = image_map(ds, emb)
    page = render_map_html(ds, rows, coords, title="planted")
    assert page.count("<circle ") == len(ds)
    for name in ds.images.file_name:
        assert f"<title>{name} (" in page
    assert not re.search(r"(src|href)=['\"]?https?:", page)        # no CDN, nothing fetched
    assert "<script src" not in page
    assert page.count("data:image/jpeg;base64,") == len(ds)          # thumbnails on hover
    for c in ("c0", "c1", "c2"):
        assert f"{c} (6)" in page
    small = render_map_html(ds, rows, coords, max_points=5, thumbnails=0)
    assert small.count("<circle ") == 5 and "showing 5 of 18" in small
    assert "data:image" not in small
