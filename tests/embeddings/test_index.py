"""The candidate-pair index: multi-index hashing finds exactly the pairs brute force finds,
each once; the faiss HNSW index keeps its recall on clustered vectors; one-line errors."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from visionflow.core.errors import Error
from visionflow.embeddings.base import EmbedderInfo, Embeddings
from visionflow.embeddings.index import (chunk_plan, hamming_pairs, hamming_pairs_brute, knn,
                                         radius_pairs, vector_pairs)


def _collect(blocks) -> list[tuple[int, int, int]]:
    return [(int(i), int(j), int(d)) for a, b, c in blocks for i, j, d in zip(a, b, c)]


@st.composite
def clustered_hashes(draw):
    """Packed hashes in clusters (each a base with a few bits flipped), so that pairs within
    small radii exist; widths from 1 to 32 bytes."""
    nbytes = draw(st.sampled_from([1, 2, 3, 8, 8, 16, 32]))
    n_base = draw(st.integers(1, 25))
    per = draw(st.integers(1, 6))
    seed = draw(st.integers(0, 2**32 - 1))
    flip = draw(st.floats(0.0, 0.2))
    rng = np.random.default_rng(seed)
    base = rng.integers(0, 256, (n_base, nbytes), dtype=np.uint8)
    rows = np.repeat(base, per, axis=0)
    rows ^= np.packbits(rng.random((len(rows), nbytes * 8)) < flip, axis=1)
    radius = draw(st.integers(0, min(nbytes * 8 - 1, 40)))
    return rows, radius


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(clustered_hashes())
def test_multi_index_hashing_finds_exactly_the_brute_force_pairs_once(case):
    rows, radius = case
    got = _collect(hamming_pairs(rows, radius, block=257))  # small blocks: the seams too
    assert len(got) == len(set((i, j) for i, j, _ in got)), "a pair reported twice"
    assert all(i < j for i, j, _ in got)
    bi, bj, bd = hamming_pairs_brute(rows, radius)
    assert sorted(got) == sorted(zip(bi.tolist(), bj.tolist(), bd.astype(int).tolist()))


def test_chunk_plan_partitions_the_bits_and_obeys_the_pigeonhole():
    for bits, radius, n in [(64, 10, 250_000), (64, 8, 250_000), (64, 0, 10), (256, 40, 1000),
                            (8, 8, 5), (256, 0, 100)]:
        plan, s = chunk_plan(bits, radius, n)
        widths = [w for _, w in plan]
        assert sum(widths) == bits and all(0 < w <= 64 for w in widths)
        assert [a for a, _ in plan] == list(np.cumsum([0] + widths[:-1]))
        # two rows within radius differ in <= s bits on some chunk
        assert len(plan) * (s + 1) > radius
    assert len(chunk_plan(64, 10, 250_000)[0]) == 4  # 4 x 16 bits, 2 bits flipped per chunk


def test_identical_rows_and_radius_errors():
    rows = np.zeros((5, 8), np.uint8)
    assert len(_collect(hamming_pairs(rows, 0))) == 10
    with pytest.raises(Error, match="radius must be 0 or more"):
        list(hamming_pairs(rows, -1))
    assert _collect(hamming_pairs(rows[:1], 3)) == []


def _clustered_vectors(n: int, d: int, clusters: int, noise: float, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((clusters, d)).astype(np.float32)
    x = centres[rng.integers(0, clusters, n)] + noise * rng.standard_normal((n, d)).astype(
        np.float32)
    return x / np.linalg.norm(x, axis=1, keepdims=True)


def test_exact_knn_matches_brute_force():
    x = _clustered_vectors(500, 16, 20, 0.3)
    q = x[:40]
    idx, sim = knn(x, q, 5, exact=True)
    scores = q @ x.T
    for r in range(len(q)):
        assert set(idx[r]) == set(np.argsort(-scores[r])[:5])
        assert np.all(np.diff(sim[r]) <= 1e-6)
    idx, sim = knn(x[:3], q[:2], 5, exact=True)  # fewer rows than k
    assert (idx[:, 3:] == -1).all() and np.isinf(sim[:, 3:]).all()


def test_hnsw_recall_at_10_on_clustered_vectors():
    pytest.importorskip("faiss")
    x = _clustered_vectors(12_000, 64, 300, 0.35, seed=3)
    q = x[np.random.default_rng(1).choice(len(x), 300, replace=False)]
    approx, _ = knn(x, q, 10)                      # 12,000 rows: the HNSW index
    exact, _ = knn(x, q, 10, exact=True)
    recall = np.mean([len(set(a) & set(b)) / 10 for a, b in zip(approx, exact)])
    assert recall >= 0.95, recall


@settings(max_examples=20, deadline=None)
@given(st.integers(0, 2**32 - 1), st.floats(0.01, 0.3))
def test_vector_pairs_are_within_the_distance_once_and_all_found_below_k(seed, threshold):
    x = _clustered_vectors(300, 8, 40, 0.15, seed=seed)
    got = _collect_f(vector_pairs(x, threshold, k=299, exact=True))
    keys = [(i, j) for i, j, _ in got]
    assert len(keys) == len(set(keys)) and all(i < j for i, j in keys)
    d = 1.0 - x.astype(np.float64) @ x.T.astype(np.float64)
    want = {(int(i), int(j)) for i, j in zip(*np.nonzero(np.triu(d <= threshold - 1e-5, 1)))}
    assert want <= set(keys)
    assert all(d[i, j] <= threshold + 1e-5 for i, j in keys)


def _collect_f(blocks):
    return [(int(i), int(j), float(d)) for a, b, c in blocks for i, j, d in zip(a, b, c)]


def test_vector_pairs_with_the_hnsw_index_find_planted_copies():
    pytest.importorskip("faiss")
    rng = np.random.default_rng(7)
    x = _clustered_vectors(11_000, 32, 500, 0.5, seed=5)
    copies = x[:500] + 0.01 * rng.standard_normal((500, 32)).astype(np.float32)
    x = np.concatenate([x, copies / np.linalg.norm(copies, axis=1, keepdims=True)])
    pairs = {(i, j) for i, j, _ in _collect_f(vector_pairs(x, 0.01))}
    found = sum((k, 11_000 + k) in pairs for k in range(500))
    assert found >= 0.98 * 500


def test_radius_pairs_over_embeddings_dispatches_on_kind():
    rows = np.array([[0], [1], [3], [255]], np.uint8)
    info = EmbedderInfo("phash", "hash", 8)
    emb = Embeddings(info, rows, np.arange(4), np.full(4, -1), np.array(list("abcd")))
    i, j, d = radius_pairs(emb, 1)
    assert list(zip(i, j, d)) == [(0, 1, 1.0), (1, 2, 1.0)]
    vec = Embeddings(EmbedderInfo("hf:x", "vector", 2), np.array([[1, 0], [1, 0], [0, 1]],
                                                                  np.float32),
                     np.arange(3), np.full(3, -1), np.array(list("abc")))
    i, j, d = radius_pairs(vec, 0.1)
    assert list(zip(i, j)) == [(0, 1)] and abs(d[0]) < 1e-6


def test_missing_faiss_is_one_line(monkeypatch):
    monkeypatch.setitem(sys.modules, "faiss", None)
    with pytest.raises(Error, match=r"pip install 'visionflow\[embed\]'"):
        knn(np.zeros((20_000, 4), np.float32), np.zeros((1, 4), np.float32), 3)
