"""Candidate pairs within a radius, never all pairs: multi-index hashing for packed hashes, an
approximate nearest-neighbour index for float vectors.

Hashes (exact). Multi-index hashing (Norouzi et al., 2012): cut the bits into m chunks; two
rows within r bits agree within floor(r / m) bits on at least one chunk (pigeonhole), so each
row only probes the buckets of its chunk keys flipped in at most floor(r / m) bits, and the
full distance is computed for those candidates alone. m is chosen by a cost model (probes +
expected bucket hits for uniform keys), e.g. 4 chunks of 16 bits for r = 10 of 64 bits. A
pair is reported once, by the first chunk that finds it, so nothing is collected to de-dupe:
pairs stream out in blocks and memory stays O(n), whatever the number of pairs. Measured on
250,000 random 64-bit hashes (one core of a shared 2-core machine): radius 6 in 4.6 s, 8 in
17 s, 10 (dedup's default) in 20 s.

Vectors (approximate). An HNSW graph from faiss-cpu (`embed` extra), chosen over usearch by
measuring both on 100,000 x 512 L2-normalised float32 vectors in 2,000 Gaussian clusters,
1,000 queries, top 10 against brute force, 2 threads on a shared 2-core machine:

    faiss HNSW M=32 efConstruction=40 efSearch=64     build  70 s  0.44 ms/query  recall 0.971
    faiss HNSW M=32 efConstruction=80 efSearch=128    build 148 s  1.63 ms/query  recall 1.000
    faiss IVF-Flat 316 lists nprobe=8 (first run)     build  23 s  1.58 ms/query  recall 1.000
    usearch HNSW connectivity=16 add=128 search=64    build 387 s  1.02 ms/query  recall 0.999

usearch reaches faiss's recall but builds 2.5-5x slower here; IVF's perfect recall owes much
to data shaped like its own clusters. Near-duplicates are each other's very first neighbours,
which HNSW finds far more reliably than the 10th (tests/embeddings/test_index.py: >= 98% of
planted copies among 11,500 vectors). Each row's k nearest neighbours within the threshold
are its candidates: k caps the pairs per row, so memory is O(n * k), not O(pairs).
"""

from __future__ import annotations

from collections.abc import Iterator
from itertools import combinations
from math import comb

import numpy as np

from ..core.errors import Error
from .base import Embeddings

BLOCK = 1 << 20            # candidate pairs examined at once: bounds temporary memory
TABLE_BITS = 22            # chunks up to this wide are looked up in a table, wider by bisection
MAX_PROBES = 5000          # flip masks per chunk at most (beyond: more, narrower chunks)
KNN_K = 32                 # neighbours per row examined for vector radius pairs

Pairs = tuple[np.ndarray, np.ndarray, np.ndarray]


def _empty() -> Pairs:
    return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.float64)


# --- hashes: multi-index hashing ---------------------------------------------------------------

def chunk_plan(bits: int, radius: int, n: int) -> tuple[list[tuple[int, int]], int]:
    """([(first bit, width)] per chunk, sub-radius) minimising the expected work for n rows of
    uniformly random bits: per chunk n * probes table look-ups (times log2 n bisection steps
    for chunks wider than TABLE_BITS) plus n * probes * n / 2**width candidates."""
    best: tuple[float, int] | None = None
    lo_m = max(1, -(-bits // 64))  # chunks of at most 64 bits: one uint64 key each
    for m in range(lo_m, max(lo_m, min(radius + 1, bits)) + 1):
        s = radius // m
        widths = [bits // m + (1 if c < bits % m else 0) for c in range(m)]
        probes = [sum(comb(w, t) for t in range(s + 1)) for w in widths]
        if max(probes) > MAX_PROBES:
            continue
        look = 1.0 if max(widths) <= TABLE_BITS else np.log2(max(n, 2))
        cost = sum(n * p * (look + n / 2.0 ** w) for p, w in zip(probes, widths))
        if best is None or cost < best[0]:
            best = (cost, m)
    m = max(lo_m, min(radius + 1, bits)) if best is None else best[1]
    widths = [bits // m + (1 if c < bits % m else 0) for c in range(m)]
    starts = np.concatenate([[0], np.cumsum(widths)[:-1]]).astype(int).tolist()
    return list(zip(starts, widths)), radius // m


def _chunk_keys(packed: np.ndarray, plan: list[tuple[int, int]]) -> np.ndarray:
    """(n, m) uint64: each chunk's bits as an integer (first bit most significant)."""
    bits = np.unpackbits(packed, axis=1)
    keys = np.zeros((len(packed), len(plan)), np.uint64)
    for c, (start, width) in enumerate(plan):
        col = np.zeros(len(packed), np.uint64)
        for b in range(width):
            col <<= np.uint64(1)
            col |= bits[:, start + b].astype(np.uint64)
        keys[:, c] = col
    return keys


def _words(packed: np.ndarray) -> np.ndarray:
    """(n, ceil(bytes / 8)) uint64 view of packed rows (zero padded): one XOR and one
    popcount per 64 bits."""
    n, nbytes = packed.shape
    pad = -nbytes % 8
    if pad:
        packed = np.concatenate([packed, np.zeros((n, pad), np.uint8)], axis=1)
    return np.ascontiguousarray(packed).view(np.uint64)


def _masks(width: int, s: int) -> np.ndarray:
    """Every width-bit integer with at most s bits set (0 first)."""
    out = [0]
    for t in range(1, s + 1):
        out += [sum(1 << b for b in c) for c in combinations(range(width), t)]
    return np.array(out, np.uint64)


def hamming_pairs(packed: np.ndarray, radius: int, *, block: int = BLOCK
                  ) -> Iterator[Pairs]:
    """Every pair (i < j) of rows of `packed` (np.packbits'd hashes, one per row) whose Hamming
    distance is <= radius, exactly once, in blocks of (i, j, distance) int64 arrays."""
    packed = np.ascontiguousarray(packed, np.uint8)
    if packed.ndim != 2:
        raise ValueError("packed hashes must be a 2-D uint8 array (rows of np.packbits)")
    n, nbytes = packed.shape
    radius = int(radius)
    if radius < 0:
        raise Error(f"the Hamming radius must be 0 or more, got {radius}")
    if n < 2 or nbytes == 0:
        return
    bits = nbytes * 8
    plan, s = chunk_plan(bits, min(radius, bits), n)
    keys = _chunk_keys(packed, plan)
    words = _words(packed)
    rows = np.arange(n, dtype=np.int64)
    for c, (_, width) in enumerate(plan):
        key = keys[:, c]
        order = np.argsort(key, kind="stable")
        sorted_key = key[order]
        sorted_words = words[order]
        table = None
        if width <= TABLE_BITS:
            counts = np.bincount(key.astype(np.int64), minlength=1 << width)
            table = np.zeros((1 << width) + 1, np.int64 if n >= 2**31 else np.int32)
            np.cumsum(counts, out=table[1:])
        masks = _masks(width, s)
        group = max(1, (4 << 20) // n)  # probes of `group` masks at once: ~4M look-ups
        for g in range(0, len(masks), group):
            m = masks[g:g + group]
            probe = (key[:, None] ^ m[None, :]).reshape(-1)
            src = np.repeat(rows, len(m))
            # a pair whose keys differ by mask f != 0 is found from both ends: probe upwards
            up = (probe > np.repeat(key, len(m))) | np.tile(m == 0, n)
            probe, src = probe[up], src[up]
            if table is not None:
                p = probe.astype(np.int64)
                lo = table[p].astype(np.int64)
                cnt = table[p + 1] - lo
            else:
                lo = np.searchsorted(sorted_key, probe, "left")
                cnt = np.searchsorted(sorted_key, probe, "right") - lo
            yield from _expand(words, sorted_words, keys, c, s, radius, order, src, lo, cnt,
                               block)


def _expand(words: np.ndarray, sorted_words: np.ndarray, keys: np.ndarray, c: int, s: int,
            radius: int, order: np.ndarray, src: np.ndarray, lo: np.ndarray,
            count: np.ndarray, block: int) -> Iterator[Pairs]:
    """Candidates (row src[k], each row of its probed bucket), in blocks of about `block`
    pairs: the distance first (hashes repeated, bucket rows read in key order), then, for the
    few within the radius, keep a != b (a < b inside one bucket) and only where chunk c is the
    first within s bits, so that a pair found by several chunks is reported once."""
    hit = np.flatnonzero(count)
    if not len(hit):
        return
    count = count[hit].astype(np.int64)
    total = np.cumsum(count)
    start = 0
    while start < len(hit):
        done = total[start - 1] if start else 0
        stop = max(int(np.searchsorted(total, done + block, "right")), start + 1)
        cnt = count[start:stop]
        h = hit[start:stop]
        ends = np.cumsum(cnt)
        pos = np.repeat(lo[h] - (ends - cnt), cnt) + np.arange(int(ends[-1]))
        x = np.repeat(words[src[h]], cnt, axis=0) ^ sorted_words[pos]
        dist = np.bitwise_count(x).sum(axis=1, dtype=np.int64)
        near = np.flatnonzero(dist <= radius)
        if len(near):
            a = src[h][np.searchsorted(ends, near, "right")]
            b = order[pos[near]]
            d = dist[near]
            # inside one bucket (mask 0) a pair is met from both rows: keep the lower's find
            keep = np.where(keys[a, c] == keys[b, c], a < b, True)
            a, b, d = a[keep], b[keep], d[keep]
            per_chunk = np.bitwise_count(keys[a] ^ keys[b])
            first = np.argmax(per_chunk <= s, axis=1) == c
            a, b = np.minimum(a, b), np.maximum(a, b)
            if first.any():
                yield a[first], b[first], d[first]
        start = stop


def hamming_pairs_brute(packed: np.ndarray, radius: int) -> Pairs:
    """All pairs within radius by comparing every pair: the reference the index is tested
    against (O(n^2): for tests and small inputs only)."""
    packed = np.asarray(packed, np.uint8)
    n = len(packed)
    if n < 2:
        return _empty()
    d = np.bitwise_count(packed[:, None, :] ^ packed[None, :, :]).sum(axis=2, dtype=np.int64)
    i, j = np.nonzero(np.triu(d <= radius, 1))
    return i.astype(np.int64), j.astype(np.int64), d[i, j].astype(np.float64)


# --- vectors: approximate nearest neighbours ----------------------------------------------------

def _faiss():
    try:
        import faiss
    except ImportError:
        raise Error("near-duplicates by embedding need faiss: pip install 'visionflow[embed]' "
                    "(or pip install faiss-cpu)") from None
    return faiss


def knn(vectors: np.ndarray, queries: np.ndarray, k: int, *, exact: bool | None = None
        ) -> tuple[np.ndarray, np.ndarray]:
    """(indices, similarities), each (len(queries), k): the k rows of `vectors` with the
    highest dot product with each query (cosine for L2-normalised rows), best first; -1 and
    -inf where fewer than k rows exist. Approximate (faiss HNSW) from 10,000 rows; exact (one
    matrix product per block of queries) below that or with exact=True."""
    x = np.ascontiguousarray(vectors, np.float32)
    q = np.ascontiguousarray(queries, np.float32)
    if x.ndim != 2 or q.ndim != 2 or (len(x) and len(q) and x.shape[1] != q.shape[1]):
        raise ValueError("vectors and queries must be 2-D with the same number of columns")
    k = int(k)
    if k < 1:
        raise Error(f"k must be at least 1, got {k}")
    if exact is None:
        exact = len(x) < 10_000
    idx = np.full((len(q), k), -1, np.int64)
    sim = np.full((len(q), k), -np.inf, np.float32)
    if not len(x) or not len(q):
        return idx, sim
    kk = min(k, len(x))
    if exact:
        step = max(1, (64 << 20) // (4 * len(x)))  # about 64 MB of scores at once
        for s in range(0, len(q), step):
            scores = q[s:s + step] @ x.T
            top = np.argpartition(-scores, kk - 1, axis=1)[:, :kk]
            ts = np.take_along_axis(scores, top, axis=1)
            o = np.argsort(-ts, axis=1, kind="stable")
            idx[s:s + step, :kk] = np.take_along_axis(top, o, axis=1)
            sim[s:s + step, :kk] = np.take_along_axis(ts, o, axis=1)
        return idx, sim
    index = build_index(x)
    for s in range(0, len(q), 65536):
        d_, i_ = index.search(q[s:s + 65536], kk)
        idx[s:s + 65536, :kk] = i_
        sim[s:s + 65536, :kk] = np.where(i_ >= 0, d_, -np.inf)
    return idx, sim


def build_index(vectors: np.ndarray, *, m: int = 32, ef_construction: int = 40,
                ef_search: int = 64):
    """A faiss HNSW index (inner product) over float32 rows."""
    faiss = _faiss()
    x = np.ascontiguousarray(vectors, np.float32)
    index = faiss.IndexHNSWFlat(x.shape[1], m, faiss.METRIC_INNER_PRODUCT)
    index.hnsw.efConstruction = ef_construction
    index.hnsw.efSearch = max(ef_search, 2 * KNN_K)
    index.add(x)
    return index


def vector_pairs(vectors: np.ndarray, max_distance: float, *, k: int = KNN_K,
                 exact: bool | None = None, block: int = 65536) -> Iterator[Pairs]:
    """Pairs (i < j) of rows whose cosine distance (1 - dot product) is <= max_distance, among
    each row's k nearest neighbours; each pair once. Approximate: a row with more than k
    neighbours within the distance gets k of them (enough to connect a group of near
    duplicates), and the index may miss a few (see the recall figures above). Memory: the
    (n, k + 1) neighbour table, never the pairs."""
    x = np.ascontiguousarray(vectors, np.float32)
    n = len(x)
    if n < 2:
        return
    k = min(int(k) + 1, n)  # +1: a row finds itself
    exact = n < 10_000 if exact is None else exact
    neighbours = np.empty((n, k), np.int64)
    sims = np.empty((n, k), np.float32)
    index = None if exact else build_index(x)
    for s in range(0, n, block):
        if exact:
            neighbours[s:s + block], sims[s:s + block] = knn(x, x[s:s + block], k, exact=True)
        else:
            d_, i_ = index.search(x[s:s + block], k)
            neighbours[s:s + block], sims[s:s + block] = i_, d_
    for s in range(0, n, block):
        nb, sm = neighbours[s:s + block], sims[s:s + block]
        a = np.repeat(np.arange(s, s + len(nb)), k)
        b = nb.reshape(-1)
        dist = np.maximum(1.0 - sm.reshape(-1).astype(np.float64), 0.0)
        keep = (b >= 0) & (b != a) & (dist <= max_distance)
        a, b, dist = a[keep], b[keep], dist[keep]
        # found from both ends: keep the find from the lower row, and a find from the higher
        # row only where the lower row's own list lacks it
        back = np.flatnonzero(b < a)
        if len(back):
            listed = (neighbours[b[back]] == a[back][:, None]).any(axis=1)
            drop = np.zeros(len(a), bool)
            drop[back[listed]] = True
            a, b, dist = a[~drop], b[~drop], dist[~drop]
        if len(a):
            yield np.minimum(a, b), np.maximum(a, b), dist


# --- one entry point over Embeddings --------------------------------------------------------------

def iter_radius_pairs(emb: Embeddings, threshold: float, **options) -> Iterator[Pairs]:
    """Blocks of (i, j, distance) rows of `emb` within `threshold`: Hamming bits for hashes
    (exact), cosine distance for vectors (approximate), each pair once, i < j."""
    if emb.info.kind == "hash":
        yield from hamming_pairs(emb.vectors, int(threshold), **options)
    else:
        yield from vector_pairs(emb.vectors, float(threshold), **options)


def radius_pairs(emb: Embeddings, threshold: float, **options) -> Pairs:
    """(i, j, distance) arrays of every pair of rows within `threshold` (see
    iter_radius_pairs), sorted by (i, j). Holds all pairs: streaming callers use
    iter_radius_pairs."""
    parts = list(iter_radius_pairs(emb, threshold, **options))
    if not parts:
        return _empty()
    i = np.concatenate([p[0] for p in parts]).astype(np.int64)
    j = np.concatenate([p[1] for p in parts]).astype(np.int64)
    d = np.concatenate([p[2] for p in parts]).astype(np.float64)
    order = np.lexsort((j, i))
    return i[order], j[order], d[order]
