"""Star groups and batched SSIM: a chain of near pairs through a large dataset must not grow
into one group of unrelated images (found by the 250k benchmark: 64-bit pHash at 10 bits gave
~22,000 false pairs among 250,000 images, and transitive grouping chained them into one group
of 11,957 images), and confirmation must score exactly what scikit-image scores."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from skimage.metrics import structural_similarity

from visionflow.core.annotations import Annotations
from visionflow.core.categories import Categories
from visionflow.core.dataset import Dataset
from visionflow.core.images import Images
from visionflow.embeddings.base import EmbedderInfo, Embeddings
from visionflow.embeddings.dedup import correlation_batch, find_duplicates, ssim_batch


def _dataset(n: int, widths=None) -> Dataset:
    widths = widths if widths is not None else [100] * n
    return Dataset(Images.build([f"{i}.jpg" for i in range(n)], widths, [100] * n),
                   Annotations.empty(), Categories.from_names(["x"]))


def _hashes(bits: np.ndarray) -> Embeddings:
    """Embeddings from (n, 64) 0/1 rows, each image its own content."""
    n = len(bits)
    return Embeddings(EmbedderInfo("phash", "hash", 64), np.packbits(bits.astype(np.uint8), axis=1),
                      np.arange(n), np.full(n, -1), np.array([f"{i:064x}" for i in range(n)]))


def _flip(row: np.ndarray, idx) -> np.ndarray:
    out = row.copy()
    out[list(idx)] ^= 1
    return out


def test_a_chain_does_not_remove_an_image_for_one_it_is_not_near():
    a = np.zeros(64, np.uint8)
    b = _flip(a, range(8))          # 8 bits from a
    c = _flip(b, range(8, 16))      # 8 from b, 16 from a
    ds = _dataset(3, widths=[300, 200, 100])  # keep=largest: a, then b, then c
    r = find_duplicates(ds, _hashes(np.stack([a, b, c])), threshold=10, confirm=None)
    assert r.groups == [[0, 1]]      # c is near b (removed), not near a (kept): c stays
    r = find_duplicates(ds, _hashes(np.stack([a, b, c])), threshold=16, confirm=None)
    assert r.groups == [[0, 1, 2]]   # within 16 bits of a: all three


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_every_removed_image_is_near_its_kept_image(data):
    n = data.draw(st.integers(2, 14))
    base = np.zeros(64, np.uint8)
    rows = [_flip(base, data.draw(st.sets(st.integers(0, 63), max_size=20))) for _ in range(n)]
    bits = np.stack(rows)
    threshold = data.draw(st.integers(0, 12))
    keep = data.draw(st.sampled_from(["largest", "first", "most-labelled"]))
    widths = data.draw(st.lists(st.integers(10, 50), min_size=n, max_size=n))
    r = find_duplicates(_dataset(n, widths), _hashes(bits), threshold=threshold, keep=keep,
                        confirm=None)
    dist = (bits[:, None, :] != bits[None, :, :]).sum(axis=2)
    seen: set[int] = set()
    for g in r.groups:
        assert len(g) >= 2 and not seen & set(g)
        seen |= set(g)
        assert all(dist[g[0], x] <= threshold for x in g[1:]), (g, dist[g[0]][g])
    # nothing near is left out: two images both outside every group are not near each other
    alone = [i for i in range(n) if i not in seen]
    assert all(dist[i, j] > threshold for i in alone for j in alone if i < j)


def test_batched_ssim_and_correlation_equal_the_per_pair_numbers():
    rng = np.random.default_rng(7)
    x = rng.integers(0, 256, (40, 32, 32)).astype(np.uint8)
    y = np.clip(x.astype(int) + rng.integers(-50, 50, x.shape), 0, 255).astype(np.uint8)
    y[:8] = rng.integers(0, 256, (8, 32, 32))
    y[8] = x[8]
    want = [structural_similarity(p, q, data_range=255.0) for p, q in zip(x, y)]
    assert np.allclose(ssim_batch(x, y), want, rtol=0, atol=1e-12)
    corr = [np.corrcoef(p.ravel().astype(float), q.ravel().astype(float))[0, 1]
            for p, q in zip(x, y)]
    assert np.allclose(correlation_batch(x, y), corr, atol=1e-12)
    flat = np.full((2, 32, 32), 9, np.uint8)
    assert correlation_batch(flat, flat).tolist() == [1.0, 1.0]
    assert correlation_batch(flat, x[:2]).tolist() == [0.0, 0.0]
