"""Near-duplicate images: groups, which image of each group to keep, and the deduplicated
dataset, where the annotations of removed images are never silently lost.

    find_duplicates(ds, emb)      -> DedupResult  (groups, kept, removed, their annotations)
    dedup(ds, emb, merge_labels)  -> (Dataset, DedupResult)
    dedup_path(src, dst, ...)     -> DedupResult  (`visionflow dedup`: read, dedup, write)

Pipeline: images with the same bytes (SHA-256) are one group without further ado; among the
remaining distinct contents, candidate pairs come from the index (embeddings/index.py: exact
multi-index hashing for hashes, an HNSW graph for model vectors), never from all pairs;
each candidate is confirmed on pixels (by default for hashes: SSIM, or with 'pixels' the
correlation of grey levels, which ignores brightness and contrast, on 32 x 32 grey
thumbnails, a block of pairs at a time); groups are stars around the image kept: every
removed image is equal or near to its kept image itself, never only through a chain.
Memory: O(images) for hashes and thumbnails, plus the accepted pairs (about one per
duplicate), never all candidate pairs at once.

At scale (bench/bench_dedup.py, 250,000 generated images, 10% planted copies): 64-bit pHash
within 10 bits gives ~22,000 false pairs (distinct images are many, 64 bits are few), which
grouping by connected components chained into one group of 11,957 unrelated images. Hence
the default: candidates within 14 bits, confirmed by SSIM >= 0.6 on 32 x 32 thumbnails (on
5,000 images real copies scored >= 0.634, false candidates <= 0.508; 64 x 64 and 16 x 16
separate them worse), and star groups.

Default thresholds (DEFAULT_THRESHOLDS), measured on real photos (raccoon, BCCD, scikit-image
samples; 586 images, 171,000 distinct pairs) with 64-bit pHash:
    planted copies (recall at 10 bits): resized to 1/4: 1.00, JPEG quality 10: 1.00, brightness
    x1.3: 0.998, x0.8: 1.00, 1% cropped off each side: 0.998, 2%: 0.997, 3%: 0.956
    distinct images within 10 bits: none, apart from the datasets' own duplicates (re-saved
    copies, a copy with a caption, two pairs of microscope frames panned by a few cells).
    Through embed() (JPEG draft decoding) on the planted set (586 photos + 289 copies, 1-2%
    crops): precision 1.0, recall 1.0 at 10 bits; at 12 bits 5 false pairs (two frames of a
    burst, ...), at 14 bits 59. pHash distances are even (32 of 64 bits are set).
Confirmation on candidates up to 16 bits (64 x 64 thumbnails): planted copies score SSIM >=
0.81 and grey-level correlation >= 0.77; distinct images at most 0.57 correlation, hence
SSIM_MIN and PIXELS_MIN.
For model vectors, 0.05 cosine distance (cosine similarity >= 0.95) is NOT measured here (no
model weights can be fetched on the machines this was built on): a usual starting point for
copy detection with CLIP-like models. MODELS.md warns that copies and distinct images overlap
in cosine for small models: pass --threshold, and confirm with --confirm ssim there.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from functools import cached_property
from typing import Any

import numpy as np
from PIL import Image

from ..core.annotations import Annotations, Polygons
from ..core.dataset import Dataset
from ..core.errors import Error, ValidationError
from ..core.report import plural
from .base import Embeddings

METHODS = ("hash", "embedding")
KEEP = ("largest", "first", "most-labelled")
CONFIRM = ("ssim", "pixels")
# (threshold with pixel confirmation, without it): see the module docstring
DEFAULT_THRESHOLDS = {"hash": (14, 10), "embedding": (0.05, 0.05)}
DEFAULT_CONFIRM = {"hash": "ssim", "embedding": None}
DEFAULT_MODEL = {"hash": "phash", "embedding": "openai/clip-vit-base-patch32"}
THUMB = 32               # side of the grey thumbnails pixel confirmation compares
SSIM_MIN = 0.6           # structural similarity from which a candidate is confirmed
PIXELS_MIN = 0.7         # correlation of the thumbnails' grey levels from which one is
SAME_BOX_IOU = 0.9       # a merged box this close to one of the kept image's: already there


@dataclass(frozen=True, eq=False)
class DedupResult:
    """Groups of near-duplicate images of `dataset` (image rows; the kept image first).

    kept / removed: image rows; reasons: why each group's image was kept (one per group).
    removed_annotations: the annotation rows (of dataset.annotations) of removed images.
    pairs: candidate pairs examined; confirmed: those accepted (after --confirm).
    unreadable: file names that had no embedding (could not be read), never grouped.
    notes: what merging labels did (set by `dedup`).
    """

    dataset: Dataset
    groups: list[list[int]]
    reasons: list[str]
    method: str
    threshold: float
    keep: str
    confirm: str | None = None
    model: str = ""
    pairs: int = 0
    confirmed: int = 0
    unreadable: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def kept(self) -> list[int]:
        return [g[0] for g in self.groups]

    @property
    def removed(self) -> list[int]:
        return [r for g in self.groups for r in g[1:]]

    @property
    def removed_annotations(self) -> np.ndarray:
        ann = self.dataset.annotations
        return np.flatnonzero(np.isin(ann.image_index, np.asarray(self.removed, np.int64)))

    @cached_property
    def names(self) -> list[str]:
        """Every image's file name as the dataset has it ('split/name' where the name repeats
        in several splits, as ds['split/name'] takes it); worked out once."""
        return _names(self.dataset)

    def name(self, row: int) -> str:
        return self.names[row]

    def to_json(self) -> dict[str, Any]:
        """{"groups": [[file name, ...]], "kept": [...], "removed": [...]}: the kept image
        first in each group."""
        names = self.names
        return {"groups": [[names[r] for r in g] for g in self.groups],
                "kept": [names[r] for r in self.kept],
                "removed": [names[r] for r in self.removed]}

    def deduplicated(self, merge_labels: bool = False) -> tuple[Dataset, list[str]]:
        """(the dataset without the removed images, notes). With merge_labels each removed
        image's annotations move to its group's kept image (scaled by the size ratio when the
        sizes differ: an approximation the notes say), skipping those the kept image already
        has (same class, box IoU >= 0.9)."""
        ds = self.dataset
        notes: list[str] = []
        keep = np.ones(len(ds.images), bool)
        keep[self.removed] = False
        if merge_labels and self.groups:
            ds, notes = _merge_labels(ds, self.groups)
        return ds.select_images(keep), notes


def _names(ds: Dataset) -> list[str]:
    names = ds.images.file_name.tolist()
    splits = ds.images.split.tolist()
    seen: dict[str, int] = {}
    for n in names:
        seen[n] = seen.get(n, 0) + 1
    return [f"{s}/{n}" if seen[n] > 1 and s else n for n, s in zip(names, splits)]


# --- grouping -----------------------------------------------------------------------------------

class UnionFind:
    """Disjoint sets over 0..n-1, joined by blocks of pairs (vectorised: hook every root on
    the smaller root, then halve paths, until each pair shares a root)."""

    def __init__(self, n: int):
        self.parent = np.arange(n, dtype=np.int64)

    def find(self, x: np.ndarray) -> np.ndarray:
        p = self.parent
        r = p[x]
        while True:
            rr = p[r]
            if np.array_equal(rr, r):
                return r
            r = rr

    def union(self, a: np.ndarray, b: np.ndarray) -> None:
        a = np.asarray(a, np.int64)
        b = np.asarray(b, np.int64)
        while len(a):
            ra, rb = self.find(a), self.find(b)
            differ = ra != rb
            if not differ.any():
                break
            ra, rb = ra[differ], rb[differ]
            a, b = a[differ], b[differ]
            lo, hi = np.minimum(ra, rb), np.maximum(ra, rb)
            np.minimum.at(self.parent, hi, lo)
            self.parent = self.parent[self.parent]  # path halving for everyone at once

    def labels(self) -> np.ndarray:
        """The root of every element."""
        return self.find(np.arange(len(self.parent)))


def find_duplicates(ds: Dataset, emb: Embeddings | None = None, *, method: str = "hash",
                    threshold: float | None = None, keep: str = "largest",
                    confirm: str | None = "auto", model: Any = None,
                    progress: Callable | None = None, report: Any = None) -> DedupResult:
    """Groups of near-duplicate images of `ds`.

    emb: image embeddings of ds (from `embed`); None computes them with `model` (default
      'phash' for method 'hash'; the 'embedding' method needs a model, e.g. a CLIP hub id),
      through embed(): stored per image content, so a second run reads them back.
    threshold: Hamming bits (hash) or cosine distance (embedding); DEFAULT_THRESHOLDS (for
      hashes 14 bits when candidates are confirmed on pixels, 10 when they are not).
    keep: 'largest' (most pixels), 'first' (dataset order) or 'most-labelled' (most
      annotations); ties go to the larger image, then to the first.
    confirm: 'ssim' or 'pixels' checks each candidate pair on grey thumbnails; None (or
      'none') trusts the index; 'auto': 'ssim' for hashes, none for model vectors.
    Every removed image is itself a near-duplicate of its group's kept image (star groups:
    A~B and B~C never remove C for A unless C~A too), so chains of near pairs through a large
    dataset cannot grow into one group of unrelated images.
    """
    if confirm == "auto":
        confirm = DEFAULT_CONFIRM.get(method)
    elif confirm == "none":
        confirm = None
    if method not in METHODS:
        from ..core.errors import did_you_mean
        raise Error(f"unknown dedup method {method!r}{did_you_mean(method, METHODS)} "
                    f"(known: {', '.join(METHODS)})")
    if keep not in KEEP:
        from ..core.errors import did_you_mean
        raise Error(f"--keep must be one of {', '.join(KEEP)}, got {keep!r}"
                    f"{did_you_mean(keep, KEEP)}")
    if confirm is not None and confirm not in CONFIRM:
        raise Error(f"--confirm must be one of {', '.join(CONFIRM)}, none or auto, got "
                    f"{confirm!r}")
    if emb is None:
        _check_model(method, model)
        from .compute import embed
        if method == "embedding" and (model is None or str(model) in ("phash", "dhash",
                                                                       "whash")):
            raise Error("--method embedding needs a model (--model openai/clip-vit-base-patch32"
                        ", a folder or a .onnx file); perceptual hashes use --method hash")
        emb = embed(ds, model if model is not None else DEFAULT_MODEL[method],
                    progress=progress, report=report)
    kind = "hash" if method == "hash" else "vector"
    if emb.info.kind != kind:
        want = "perceptual hashes" if kind == "hash" else "model vectors"
        raise Error(f"--method {method} needs {want}, but the embeddings are {emb.info.name} "
                    f"({emb.info.kind})")
    if threshold is None:
        threshold = DEFAULT_THRESHOLDS[method][0 if confirm else 1]
    _check_threshold(method, threshold, emb)
    emb = emb.images_only()
    n = len(ds.images)
    if len(emb) and (emb.image_rows.min() < 0 or emb.image_rows.max() >= n):
        raise ValidationError(emb.info.name, "embeddings refer to image rows the dataset does "
                              "not have: they were computed for another dataset")
    uf = UnionFind(n)
    rows = emb.image_rows.astype(np.int64)
    # 1. the same bytes: one class of equal images, nothing to confirm
    shas = np.asarray(emb.shas).astype(str)
    _, first, inverse = np.unique(shas, return_index=True, return_inverse=True)
    inverse = inverse.reshape(-1)
    uf.union(rows, rows[first[inverse]])
    # 2. distinct contents; identical hashes join without a pair each
    reps = np.sort(first)
    vectors = emb.vectors[reps]
    rep_rows = rows[reps]
    checker = _Checker(ds, confirm) if confirm else None
    pairs, confirmed = 0, 0
    if kind == "hash" and len(vectors):
        _, ufirst, uinv = np.unique(vectors, axis=0, return_index=True, return_inverse=True)
        uinv = uinv.reshape(-1)
        same = np.flatnonzero(ufirst[uinv] != np.arange(len(vectors)))
        pairs = len(same)
        a, b = rep_rows[same], rep_rows[ufirst[uinv[same]]]
        if checker is not None:
            ok = checker.check(a, b)
            a, b = a[ok], b[ok]
        uf.union(a, b)  # hash distance 0 to each other: an equivalence, like equal bytes
        confirmed += len(a)
        vectors, rep_rows = vectors[np.sort(ufirst)], rep_rows[np.sort(ufirst)]
    equal = uf.labels()  # classes of images equal to each other (bytes, or hash for hashes)
    from .index import hamming_pairs, vector_pairs
    stream = (hamming_pairs(vectors, int(threshold)) if kind == "hash"
              else vector_pairs(vectors, float(threshold)))
    near_a, near_b = [], []  # accepted pairs between classes: about one per duplicate
    for i, j, _ in stream:
        a, b = rep_rows[i], rep_rows[j]
        pairs += len(a)
        if checker is not None:
            ok = checker.check(a, b)
            a, b = a[ok], b[ok]
        confirmed += len(a)
        near_a.append(equal[a])
        near_b.append(equal[b])
    near = (np.concatenate(near_a) if near_a else np.zeros(0, np.int64),
            np.concatenate(near_b) if near_b else np.zeros(0, np.int64))
    groups, reasons = _groups(ds, equal, near, keep)
    has = np.zeros(n, bool)
    has[rows] = True
    unreadable = [str(x) for x in np.asarray(_names(ds), dtype=object)[~has]]
    return DedupResult(ds, groups, reasons, method, float(threshold), keep, confirm,
                       emb.info.name, pairs, confirmed, unreadable)


def dedup(ds: Dataset, emb: Embeddings | None = None, *, merge_labels: bool = False,
          **options: Any) -> tuple[Dataset, DedupResult]:
    """(the deduplicated dataset, the DedupResult that says what was removed and why).
    options: those of find_duplicates. Without merge_labels the removed images' annotations
    are dropped from the dataset but listed in the result (and in the HTML report)."""
    result = find_duplicates(ds, emb, **options)
    out, notes = result.deduplicated(merge_labels)
    return out, replace(result, notes=notes)


def dedup_path(src: Any, dst: Any, *, method: str = "hash", model: Any = None,
               threshold: float | None = None, keep: str = "largest",
               merge_labels: bool = False, confirm: str | None = "auto", to: str | None = None,
               html: Any = None, images: str = "copy", overwrite: bool = False,
               force: bool = False, format: str | None = None, errors: str = "raise",
               images_dir: Any = None, follow_links: bool = False, into_source: bool = False,
               write_options: dict | None = None, report: Any = None, progress: Any = None,
               **read_options: Any) -> DedupResult:
    """`visionflow dedup`: read the dataset `src`, group its near-duplicates
    (`find_duplicates` options), write it without them to `dst` (atomic; format `to`, default
    the source's, with `write_options`) and, with `html`, the offline report there (not inside
    the dataset unless into_source). Destinations are checked before any work. Returns the
    DedupResult (notes: what merge_labels did); report.written says what was written. Raises
    Error (bad parameters), OutputError, and what `vf.load` / `vf.write` raise."""
    from pathlib import Path

    from ..api import errors_mode, image_folders, load, source_folders, write
    from ..core.report import Report
    from ..io.atomic import (guard_destination, guard_file, output_errors, source_root,
                             write_bytes_atomic)
    errors = errors_mode(errors)
    if html is not None:
        html = Path(html)
        if html.suffix.lower() not in (".html", ".htm"):
            raise Error(f"{html}: `html` must end in .html")
    _check_model(method, model)
    dest = guard_destination(dst, sources=source_root(src), overwrite=overwrite,
                             force=force)  # before reading
    if html is not None:
        guard_file(html, sources=source_root(src), into_source=into_source)
    report = report if report is not None else Report()
    ds = load(src, format, errors=errors, report=report, progress=progress,
              images_dir=images_dir, follow_links=follow_links, **read_options)
    if html is not None:  # the image folders are known now: still before any work
        guard_file(html, sources=[*source_folders(ds), *image_folders(ds)],
                   into_source=into_source)
    out, result = dedup(ds, method=method, threshold=threshold, keep=keep, confirm=confirm,
                        model=model, merge_labels=merge_labels, progress=progress,
                        report=report)
    write(out, dest, to, images=images, overwrite=overwrite, force=force, errors=errors,
          report=report, progress=progress, **(write_options or {}))
    if html is not None:
        from .report_html import render_html
        with output_errors(html):
            html.parent.mkdir(parents=True, exist_ok=True)
            write_bytes_atomic(html.absolute(), render_html(result).encode("utf-8"))
    return result


def _check_model(method: str, model: Any) -> None:
    """A model that does not fit the method, refused before any image is read."""
    if method == "hash" and model is not None and str(model) not in ("phash", "dhash",
                                                                      "whash"):
        raise Error(f"--method hash takes --model phash, dhash or whash, not {str(model)!r} "
                    "(use --method embedding for a model)")


def _check_threshold(method: str, threshold: float, emb: Embeddings) -> None:
    if method == "hash":
        bits = emb.vectors.shape[1] * 8 if emb.vectors.ndim == 2 else emb.info.dim
        if threshold != int(threshold) or not 0 <= threshold < bits:
            raise Error(f"--threshold for hashes is a number of differing bits, 0 to "
                        f"{bits - 1}, got {threshold}")
    elif not 0.0 <= threshold < 2.0:
        raise Error(f"--threshold for embeddings is a cosine distance (1 - similarity) "
                    f"between 0 and 2, got {threshold}")


def _groups(ds: Dataset, equal: np.ndarray, near: tuple[np.ndarray, np.ndarray], keep: str
            ) -> tuple[list[list[int]], list[str]]:
    """Groups of two or more images, each with its kept image first (then dataset order), in
    the order of their first image.

    equal: per image, the root of its class of equal images (same bytes or same hash);
    near: accepted pairs of class roots. Star groups: the best remaining image by `keep`
    takes its own class and the classes directly near it; repeat with what remains. So every
    removed image is equal or near to its kept image, never only through a chain.
    """
    n = len(equal)
    pixels = ds.images.width.astype(np.int64) * ds.images.height.astype(np.int64)
    n_ann = np.bincount(ds.annotations.image_index, minlength=n)
    rank = {"first": lambda: np.arange(n),
            "largest": lambda: np.lexsort((np.arange(n), -n_ann, -pixels)),
            "most-labelled": lambda: np.lexsort((np.arange(n), -pixels, -n_ann))}[keep]()
    priority = np.empty(n, np.int64)
    priority[rank] = np.arange(n)  # 0 = the image most worth keeping
    a, b = near
    keep_edge = a != b
    a, b = a[keep_edge], b[keep_edge]
    # classes that take part: of two or more images, or with a near pair
    size = np.bincount(equal, minlength=n)
    involved = np.zeros(n, bool)
    involved[equal[size[equal] > 1]] = True
    involved[a] = involved[b] = True
    members_of: dict[int, list[int]] = {}
    for r in np.flatnonzero(involved[equal]).tolist():
        members_of.setdefault(int(equal[r]), []).append(r)
    neighbours: dict[int, set[int]] = {}
    for x, y in zip(a.tolist(), b.tolist()):
        neighbours.setdefault(x, set()).add(y)
        neighbours.setdefault(y, set()).add(x)
    best = {c: min(ms, key=lambda r: priority[r]) for c, ms in members_of.items()}
    taken: set[int] = set()
    groups, reasons = [], []
    for c in sorted(members_of, key=lambda c: priority[best[c]]):
        if c in taken:
            continue
        taken.add(c)
        classes = [c] + sorted(d for d in neighbours.get(c, ()) if d not in taken)
        taken.update(classes)
        rows = [r for d in classes for r in members_of[d]]
        if len(rows) < 2:
            continue
        kept = best[c]
        groups.append([kept] + sorted(r for r in rows if r != kept))
        if keep == "first":
            reasons.append("first in dataset order")
        elif keep == "largest":
            reasons.append(f"largest ({ds.images.width[kept]}x{ds.images.height[kept]} px)")
        else:
            reasons.append(f"most labelled ({n_ann[kept]} annotations)")
    first = np.argsort([min(g) for g in groups], kind="stable")
    return [groups[k] for k in first], [reasons[k] for k in first]


# --- pixel confirmation ---------------------------------------------------------------------------

class _Checker:
    """Confirms candidate pairs on THUMB x THUMB grey thumbnails: each image decoded once
    (JPEGs at reduced scale, on a thread pool), kept in one (n, THUMB, THUMB) uint8 array
    (1 KB per image: bounded by the dataset, not by the pairs), scored a block of pairs at a
    time in whole-array operations (`ssim_batch`, `correlation_batch`)."""

    def __init__(self, ds: Dataset, how: str):
        self.ds, self.how = ds, how
        n = len(ds.images)
        self.thumbs = np.zeros((n, THUMB, THUMB), np.uint8)
        self.state = np.zeros(n, np.int8)  # 0 not read, 1 read, -1 unreadable

    def _load(self, rows: np.ndarray) -> None:
        todo = np.unique(rows[self.state[rows] == 0])
        if not len(todo):
            return
        from concurrent.futures import ThreadPoolExecutor
        paths = self.ds.images.path
        with ThreadPoolExecutor(max(1, min(8, os.cpu_count() or 1))) as pool:
            for r, t in zip(todo.tolist(), pool.map(lambda r: grey_thumbnail(paths[r]),
                                                    todo.tolist())):
                if t is None:
                    self.state[r] = -1
                else:
                    self.thumbs[r] = t
                    self.state[r] = 1

    def scores(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """Similarity of each pair (NaN where an image cannot be read)."""
        a, b = np.asarray(a, np.int64), np.asarray(b, np.int64)
        self._load(np.concatenate([a, b]))
        out = np.full(len(a), np.nan)
        ok = (self.state[a] == 1) & (self.state[b] == 1)
        score = ssim_batch if self.how == "ssim" else correlation_batch
        idx = np.flatnonzero(ok)
        for k in range(0, len(idx), 8192):  # ~100 MB of float64 temporaries at most
            part = idx[k:k + 8192]
            out[part] = score(self.thumbs[a[part]], self.thumbs[b[part]])
        return out

    def check(self, a: Iterable[int], b: Iterable[int]) -> np.ndarray:
        scores = self.scores(np.fromiter(a, np.int64), np.fromiter(b, np.int64))
        with np.errstate(invalid="ignore"):
            return scores >= (SSIM_MIN if self.how == "ssim" else PIXELS_MIN)


def _box_mean(x: np.ndarray, w: int) -> np.ndarray:
    """Mean over every w x w window lying inside each (h, w') image of the stack x."""
    c = np.zeros((x.shape[0], x.shape[1] + 1, x.shape[2] + 1))
    np.cumsum(np.cumsum(x, axis=1), axis=2, out=c[:, 1:, 1:])
    return (c[:, w:, w:] - c[:, :-w, w:] - c[:, w:, :-w] + c[:, :-w, :-w]) / (w * w)


def ssim_batch(x: np.ndarray, y: np.ndarray, data_range: float = 255.0) -> np.ndarray:
    """Mean structural similarity of each pair of grey images (p, h, w) x (p, h, w): the
    numbers scikit-image's structural_similarity gives with its defaults (7 x 7 uniform
    windows, sample covariance, K1 = 0.01, K2 = 0.03, the mean over windows inside the
    image), for a whole block of pairs at once instead of one call per pair."""
    x = x.astype(np.float64)
    y = y.astype(np.float64)
    w = 7
    cov_norm = w * w / (w * w - 1)
    ux, uy = _box_mean(x, w), _box_mean(y, w)
    vx = cov_norm * (_box_mean(x * x, w) - ux * ux)
    vy = cov_norm * (_box_mean(y * y, w) - uy * uy)
    vxy = cov_norm * (_box_mean(x * y, w) - ux * uy)
    c1, c2 = (0.01 * data_range) ** 2, (0.03 * data_range) ** 2
    s = ((2 * ux * uy + c1) * (2 * vxy + c2)) / ((ux * ux + uy * uy + c1) * (vx + vy + c2))
    return s.mean(axis=(1, 2))


def correlation_batch(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Pearson correlation of the grey levels of each pair (ignores brightness and contrast);
    1 for two identical flat images, 0 for a flat image against another."""
    a = x.reshape(len(x), -1).astype(np.float64)
    b = y.reshape(len(y), -1).astype(np.float64)
    a -= a.mean(axis=1, keepdims=True)
    b -= b.mean(axis=1, keepdims=True)
    norm = np.sqrt((a * a).sum(axis=1) * (b * b).sum(axis=1))
    same = (x.reshape(len(x), -1) == y.reshape(len(y), -1)).all(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(norm > 0, (a * b).sum(axis=1) / np.where(norm > 0, norm, 1),
                        same.astype(np.float64))


def grey_thumbnail(path: str | None, side: int = THUMB) -> np.ndarray | None:
    """(side, side) uint8 grey thumbnail of an image file, upright; None when unreadable."""
    from ..io.images import load_rgb
    if path is None:
        return None
    try:
        image = load_rgb(path, min_side=2 * side)
    except (Error, OSError, ValueError, SyntaxError):
        return None
    return np.asarray(image.convert("L").resize((side, side), Image.Resampling.LANCZOS),
                      np.uint8)


# --- merging labels -------------------------------------------------------------------------------

def _merge_labels(ds: Dataset, groups: list[list[int]]) -> tuple[Dataset, list[str]]:
    """Move each removed image's annotations onto its group's kept image (before the removed
    images are dropped), scaled when the sizes differ; skip the ones already there."""
    ann = ds.annotations
    parts = [ann]
    notes: list[str] = []
    names = _names(ds)
    next_id = int(ann.id.max()) + 1 if len(ann) else 1
    added = skipped = 0
    order = np.argsort(ann.image_index, kind="stable")  # one sort: rows of an image by slicing
    bounds = np.searchsorted(ann.image_index[order], np.arange(len(ds.images) + 1))

    def rows_of(image: int) -> np.ndarray:
        return order[bounds[image]:bounds[image + 1]]

    for g in groups:
        k = g[0]
        wk, hk = int(ds.images.width[k]), int(ds.images.height[k])
        own = ann[rows_of(k)]
        for r in g[1:]:
            sel = rows_of(r)
            if not len(sel):
                continue
            moved = ann[sel]
            wr, hr = int(ds.images.width[r]), int(ds.images.height[r])
            if (wr, hr) != (wk, hk):
                if wr <= 0 or hr <= 0:
                    raise ValidationError(names[r], "cannot merge its annotations: the "
                                          "image size is unknown")
                moved = scale_annotations(moved, wk / wr, hk / hr, (wk, hk))
                notes.append(f"{names[r]}: {plural(len(sel), 'annotation')} scaled by "
                             f"{wk / wr:.3f} x {hk / hr:.3f} onto {names[k]} ({wr}x{hr} -> "
                             f"{wk}x{hk}): an approximation if the copy was cropped")
            dup = _already_there(moved, own)
            skipped += int(dup.sum())
            moved = moved[~dup]
            if len(moved):
                moved = moved.replace(image_index=np.full(len(moved), k, np.int64),
                                      id=np.arange(next_id, next_id + len(moved),
                                                   dtype=np.int64))
                next_id += len(moved)
                parts.append(moved)
                own = Annotations.concat([own, moved])
                added += len(moved)
    if added or skipped:
        notes.insert(0, f"merged {plural(added, 'annotation')} of removed duplicates into the "
                     f"kept images; {skipped} were already there (same class, box IoU >= "
                     f"{SAME_BOX_IOU:g})")
    return ds.replace(annotations=Annotations.concat(parts)), notes


def _already_there(moved: Annotations, own: Annotations) -> np.ndarray:
    """Rows of `moved` matching an annotation of `own`: same class and box IoU >= 0.9, or
    the same image-level label."""
    out = np.zeros(len(moved), bool)
    if not len(own) or not len(moved):
        return out
    a, b = moved.xyxy, own.xyxy
    same_class = moved.category_id[:, None] == own.category_id[None, :]
    la, lb = moved.is_label, own.is_label
    x0 = np.maximum(a[:, None, 0], b[None, :, 0])
    y0 = np.maximum(a[:, None, 1], b[None, :, 1])
    x1 = np.minimum(a[:, None, 2], b[None, :, 2])
    y1 = np.minimum(a[:, None, 3], b[None, :, 3])
    inter = np.clip(x1 - x0, 0, None) * np.clip(y1 - y0, 0, None)
    area_a = (a[:, 2] - a[:, 0]) * (a[:, 3] - a[:, 1])
    area_b = (b[:, 2] - b[:, 0]) * (b[:, 3] - b[:, 1])
    with np.errstate(invalid="ignore", divide="ignore"):
        iou = np.nan_to_num(inter / (area_a[:, None] + area_b[None, :] - inter))
    match = same_class & ((iou >= SAME_BOX_IOU) & ~la[:, None] & ~lb[None, :]
                          | (la[:, None] & lb[None, :]))
    return match.any(axis=1)


def scale_annotations(ann: Annotations, sx: float, sy: float, size: tuple[int, int]
                      ) -> Annotations:
    """Every geometry column scaled by (sx, sy) about the origin: boxes, polygons, oriented
    boxes, keypoints (x, y; visibility kept), RLE masks (nearest-neighbour resize to `size`).
    Nothing is clipped or dropped: merging never loses an annotation."""
    from ..core.geometry import mask_to_rle, rle_to_mask
    k = np.array([sx, sy])
    xyxy = ann.xyxy * np.array([sx, sy, sx, sy])
    polygons = ann.polygons
    if polygons is not None:
        polygons = Polygons.from_lists([[r * k for r in rings] for rings in polygons.to_lists()])
    obb = None if ann.obb is None else ann.obb * k
    keypoints = ann.keypoints
    if keypoints is not None:
        keypoints = keypoints.copy()
        keypoints[..., :2] *= k
    rle = ann.rle
    if rle is not None:
        rle = rle.copy()
        for i, r in enumerate(rle.tolist()):
            if r is not None:
                mask = Image.fromarray(rle_to_mask(r).astype(np.uint8) * 255)
                resized = np.asarray(mask.resize(size, Image.Resampling.NEAREST)) > 127
                rle[i] = mask_to_rle(resized)
    return ann.replace(xyxy=xyxy, polygons=polygons, obb=obb, keypoints=keypoints, rle=rle)
