"""Duplicates: exact (same SHA-256 of the bytes) and near (64-bit dHash within a few bits)
duplicate images, and split leakage: the same or a near-duplicate image in two splits (train
and val/test), which makes validation scores lie.

Near duplicates are searched with multi-index hashing (embeddings.index.hamming_pairs, shared
with `visionflow dedup`): split the 64 bits into m chunks; two hashes within d bits agree
within d // m bits on at least one chunk (pigeonhole), so only images in neighbouring buckets
are compared. Work grows with the images per bucket, not with N².

Each image is reported at most once, by its most serious relation to an image that comes
before it (train first, then unsplit, val, test; then dataset order): exact leakage, near
leakage, exact duplicate, near duplicate.
"""

from __future__ import annotations

import numpy as np

from ..core.dataset import Dataset
from .config import CheckConfig
from .findings import Builder, CheckFinding
from .scan import ImageScan, popcount64

_SPLIT_RANK = {"train": 0, "": 1, "val": 2, "test": 3}
# kind -> (code, severity, rank: lower wins)
_KINDS = {
    "exact_leak": ("split.leakage", "error", 0),
    "near_leak": ("split.leakage", "warning", 1),
    "exact": ("image.exact_duplicate", "warning", 2),
    "near": ("image.near_duplicate", "warning", 3),
}


def check_duplicates(ds: Dataset, config: CheckConfig, scan: ImageScan) -> list[CheckFinding]:
    if not scan.hashed:
        return []
    order = precedence(ds)
    best: dict[int, tuple[int, int, int]] = {}  # row -> (rank, other row, distance)

    def offer(rows: np.ndarray, others: np.ndarray, dist: np.ndarray, exact: bool) -> None:
        cross = ds.images.split[rows] != ds.images.split[others]
        for r, o, d, x in zip(rows.tolist(), others.tolist(), dist.tolist(), cross.tolist()):
            kind = ("exact" if exact else "near") + ("_leak" if x else "")
            rank = _KINDS[kind][2]
            if r not in best or (rank, order[o]) < (best[r][0], order[best[r][1]]):
                best[r] = (rank, o, d)

    paths = ds.images.path
    rows, others = _different_files(paths, *exact_duplicate_pairs(scan, order))
    offer(rows, others, np.zeros(len(rows), np.int64), True)
    if config.near_dup_distance >= 0:
        rows, others, dist = near_duplicate_pairs(scan, order, config.near_dup_distance)
        keep = _different_files(paths, rows, others, keep_mask=True)
        offer(rows[keep], others[keep], dist[keep], False)

    b = Builder(ds)
    by_rank = {v[2]: k for k, v in _KINDS.items()}
    out: list[CheckFinding] = []
    for r in sorted(best, key=lambda r: order[r]):
        rank, o, d = best[r]
        kind = by_rank[rank]
        code, severity, _ = _KINDS[kind]
        other = b.label(o)
        if kind == "exact_leak":
            msg = (f"same bytes as {other!r}: the image is in {_split_name(b.split(r))} and "
                   f"in {_split_name(b.split(o))} (split leakage)")
        elif kind == "near_leak":
            msg = (f"near duplicate of {other!r} ({d} of 64 hash bits differ): the image is in "
                   f"{_split_name(b.split(r))} and in {_split_name(b.split(o))} "
                   "(split leakage)")
        elif kind == "exact":
            msg = f"same bytes as {other!r}"
        if kind.startswith("exact"):
            msg += _annotation_difference(ds, r, o)
        else:
            msg = f"near duplicate of {other!r} ({d} of 64 hash bits differ)"
        out.append(b.image(severity, code, r, msg, details={
            "other_image": b.file_name(o), "other_split": b.split(o), "other_row": int(o),
            "distance": int(d), "exact": kind.startswith("exact")}))
    return out


def precedence(ds: Dataset) -> np.ndarray:
    """Rank of every image row: train first, unsplit, val, test, other splits; then order."""
    rank = np.array([_SPLIT_RANK.get(s, 4) for s in ds.images.split.tolist()], np.int64)
    order = np.lexsort((np.arange(len(rank)), rank))
    out = np.empty(len(rank), np.int64)
    out[order] = np.arange(len(rank))
    return out


def exact_duplicate_pairs(scan: ImageScan, order: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(row, first row) for every image whose bytes equal those of an image before it."""
    has = np.flatnonzero(np.fromiter((s is not None for s in scan.sha256), bool,
                                     len(scan.sha256)))
    if len(has) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    has = has[np.argsort(order[has], kind="stable")]
    keys = scan.sha256[has].astype(str)
    _, first, inverse = np.unique(keys, return_index=True, return_inverse=True)
    first_row = has[first[inverse.reshape(-1)]]
    dup = first_row != has
    return has[dup], first_row[dup]


def near_duplicate_pairs(scan: ImageScan, order: np.ndarray, max_distance: int
                         ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(later row, earlier row, distance) of images whose dHashes differ in at most
    max_distance bits and whose bytes differ (exact duplicates are found by SHA-256)."""
    rows = np.flatnonzero(scan.has_dhash)
    if len(rows) < 2:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    from ..embeddings.index import hamming_pairs
    packed = scan.dhash[rows].astype(">u8").view(np.uint8).reshape(-1, 8)
    found = list(hamming_pairs(packed, max_distance))
    if not found:
        return np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64)
    a = rows[np.concatenate([f[0] for f in found])]
    b = rows[np.concatenate([f[1] for f in found])]
    order_ab = np.lexsort((b, a))
    a, b = a[order_ab], b[order_ab]
    same_bytes = np.array([scan.sha256[x] is not None and scan.sha256[x] == scan.sha256[y]
                           for x, y in zip(a.tolist(), b.tolist())], bool).reshape(-1)
    a, b = a[~same_bytes], b[~same_bytes]
    later = np.where(order[a] > order[b], a, b)
    earlier = np.where(order[a] > order[b], b, a)
    dist = popcount64(scan.dhash[later] ^ scan.dhash[earlier])
    return later, earlier, dist


def _different_files(paths: np.ndarray, rows: np.ndarray, others: np.ndarray, *,
                     keep_mask: bool = False):
    """Leave out pairs that are one file listed twice (image.duplicate_name says so)."""
    keep = np.array([a is None or a != b for a, b in zip(paths[rows].tolist(),
                                                          paths[others].tolist())], bool)
    keep = keep.reshape(-1)
    return keep if keep_mask else (rows[keep], others[keep])


def _annotation_difference(ds: Dataset, a: int, b: int) -> str:
    """'' when two images carry the same annotations, else a note saying how they differ."""
    def signature(row: int) -> list:
        sel = ds.annotations.image_index == row
        return sorted(zip(ds.annotations.category_id[sel].tolist(),
                          np.round(ds.annotations.xyxy[sel], 1).tolist()))
    sa, sb = signature(a), signature(b)
    if sa == sb:
        return ""
    return f"; the two copies carry different annotations ({len(sa)} vs {len(sb)})"


def _split_name(split: str) -> str:
    return split or "(no split)"
