"""Which images to label next: a diverse, an uncertain or a random subset of a dataset.

    diverse    k-center greedy (the coreset of Sener & Savarese, 2018) over image embeddings:
               each pick is the image farthest from everything picked (or already labelled)
               so far; its covering radius is at most twice the best possible.
    uncertain  images whose stored predictions sit nearest the decision threshold.
    random     a seeded uniform draw.

Every strategy returns image rows in pick order (most useful first) and the same inputs and
seed give the same rows. Asking for more images than can be picked is an error, never a
silently smaller subset.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from ..core.dataset import Dataset
from ..core.errors import Error, ValidationError
from .base import Embeddings

STRATEGIES = ("diverse", "uncertain", "random")
CHUNK = 16384       # labelled centres taken at once
PAIRS = 1 << 22     # row x centre distances held at once (32 MB of float64): bounds memory


def sample(ds: Dataset, emb: Embeddings | None, n: int, strategy: str = "diverse", *,
           seed: int = 0, predictions: Dataset | None = None,
           labelled: np.ndarray | None = None, threshold: float = 0.5) -> np.ndarray:
    """(n,) int64 image rows of `ds` to label next, in pick order.

    emb: image embeddings of ds (needed by 'diverse' only).
    predictions: a Dataset aligned to ds row for row whose annotations carry scores
      (evaluation.predictions.load_predictions or a stored prediction set; 'uncertain' only).
    labelled: boolean mask of images already labelled: never picked, and for 'diverse' the
      starting centres, so the picks are the images farthest from what is labelled.
    threshold: the score at which a detection is kept ('uncertain').
    """
    _check_strategy(strategy)
    n = int(n)
    if n < 1:
        raise Error(f"`n` must be at least 1, got {n}")
    total = len(ds.images)
    centres = np.zeros(total, bool) if labelled is None else np.asarray(labelled, bool)
    if centres.shape != (total,):
        raise ValueError(f"labelled must be a boolean mask of {total} images")
    candidates = np.flatnonzero(~centres)
    if strategy == "diverse":
        if emb is None:
            raise Error("the diverse strategy needs image embeddings (see `model`)")
        return k_center_greedy(*_image_vectors(ds, emb, candidates, centres), n, seed=seed,
                               kind=emb.info.kind)
    _enough(n, len(candidates), labelled is not None)
    if strategy == "random":
        rng = np.random.default_rng(int(seed) & 0xFFFFFFFFFFFFFFFF)
        return candidates[rng.choice(len(candidates), n, replace=False)].astype(np.int64)
    return _most_uncertain(ds, predictions, candidates, n, seed, threshold)


def _check_strategy(strategy: str) -> None:
    if strategy not in STRATEGIES:
        from ..core.errors import did_you_mean
        raise Error(f"unknown sampling `strategy` {strategy!r}"
                    f"{did_you_mean(strategy, STRATEGIES)} (known: {', '.join(STRATEGIES)})")


def _enough(n: int, available: int, labelled: bool) -> None:
    if n > available:
        what = "unlabelled images" if labelled else "images"
        raise Error(f"`n` {n} is more than the {available} {what} there are to pick from")


def _image_vectors(ds: Dataset, emb: Embeddings, candidates: np.ndarray,
                   centres: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(candidate rows with an embedding, their vectors, vectors of the labelled images)."""
    emb = emb.images_only()
    if len(emb) and (emb.image_rows.min() < 0 or emb.image_rows.max() >= len(ds.images)):
        raise ValidationError(emb.info.name, "embeddings refer to image rows the dataset does "
                              "not have: they were computed for another dataset")
    where = np.full(len(ds.images), -1, np.int64)
    where[emb.image_rows] = np.arange(len(emb))
    rows = candidates[where[candidates] >= 0]
    return rows, emb.vectors[where[rows]], emb.vectors[where[np.flatnonzero(
        centres & (where >= 0))]]


def k_center_greedy(rows: np.ndarray, vectors: np.ndarray, centres: np.ndarray, n: int, *,
                    seed: int = 0, kind: str = "vector") -> np.ndarray:
    """Pick n of `rows` by k-center greedy over `vectors` (one per row), starting from the
    `centres` vectors (already labelled), or from one seeded random row when there are none.

    One distance update per pick over every row: O(n * N * dim) time, O(N) memory beyond the
    vectors (a matrix-vector product per pick; blocks of rows against blocks of labelled
    centres at the start). Distances are Euclidean for vectors, Hamming for packed hashes.
    Ties go to the lowest row, so the result depends on the seed only through the start.
    """
    rows = np.asarray(rows, np.int64)
    _enough(n, len(rows), len(centres) > 0)
    if kind == "hash":
        distance = _hamming
    else:
        norms = np.einsum("ij,ij->i", vectors, vectors, dtype=np.float64)

        def distance(x: np.ndarray, c: np.ndarray) -> np.ndarray:
            return _euclidean(x, c, norms)
    nearest = np.full(len(rows), np.inf)
    for start in range(0, len(centres), CHUNK):  # many labelled images: blocks of centres
        nearest = np.minimum(nearest, distance(vectors, centres[start:start + CHUNK]))
    picked = np.empty(n, np.int64)
    for i in range(n):
        if i == 0 and not len(centres):
            k = int(np.random.default_rng(int(seed) & 0xFFFFFFFFFFFFFFFF).integers(len(rows)))
        else:
            k = int(np.argmax(nearest))
        picked[i] = k
        np.minimum(nearest, distance(vectors, vectors[k:k + 1]), out=nearest)
        nearest[k] = -np.inf  # never again, even where distances tie at 0 (duplicates)
    return rows[picked]


def covering_radius(vectors: np.ndarray, centres: np.ndarray, kind: str = "vector") -> float:
    """The largest distance from any row to its nearest centre: what k-center minimises."""
    distance = _hamming if kind == "hash" else _euclidean
    return float(distance(vectors, centres).max()) if len(vectors) else 0.0


def _euclidean(x: np.ndarray, centres: np.ndarray,
               norms: np.ndarray | None = None) -> np.ndarray:
    """(len(x),) float64 distance from each row of x to its nearest centre:
    sqrt(|x|^2 + |c|^2 - 2 x.c), clipped at 0 against rounding. Squared norms in float64
    (`norms`: those of x, computed once by the caller), products in the vectors' own
    precision; rows in blocks, so that temporaries stay within PAIRS distances."""
    c = np.asarray(centres, dtype=x.dtype if x.dtype.kind == "f" else np.float64)
    c_sq = np.einsum("ij,ij->i", c, c, dtype=np.float64)
    step = max(1, PAIRS // max(len(c), 1))  # one centre: one matrix-vector product
    out = np.empty(len(x), np.float64)
    for start in range(0, len(x), step):
        block = np.asarray(x[start:start + step], c.dtype)
        sq = (np.einsum("ij,ij->i", block, block, dtype=np.float64) if norms is None
              else norms[start:start + len(block)])
        d = sq[:, None] + c_sq[None, :] - 2.0 * (block @ c.T).astype(np.float64)
        out[start:start + len(block)] = np.sqrt(np.maximum(d.min(axis=1), 0.0))
    return out


def _hamming(x: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """(len(x),) float64 Hamming distance from each packed-bits row to its nearest centre."""
    out = np.full(len(x), np.inf)
    step = max(1, PAIRS // (max(len(centres), 1) * max(x.shape[1], 1)))
    for start in range(0, len(x), step):
        block = x[start:start + step, None, :] ^ centres[None, :, :]
        out[start:start + step] = np.bitwise_count(block).sum(axis=2).min(axis=1)
    return out


def uncertainty(ds: Dataset, predictions: Dataset, threshold: float = 0.5) -> np.ndarray:
    """(N,) per-image uncertainty in [0, 1] from the scores of its predictions.

    Each detection scores u(s) = 1 - |s - t| / max(t, 1 - t) for threshold t (0.5: 1 - |2s - 1|):
    1 for a score on the threshold, 0 for a sure yes or a sure no. An image's uncertainty is the
    mean over its detections: the share of its confidence mass that sits near the threshold,
    which neither rewards an image for holding many confident boxes (a sum would) nor lets one
    doubtful box hide among them (a max would let a single outlier decide). Images without
    predictions score 0: the model saw nothing there and was not asked to doubt it.
    """
    if not 0.0 < threshold < 1.0:
        raise Error(f"the decision `threshold` must be between 0 and 1, got {threshold}")
    if len(predictions.images) != len(ds.images):
        raise ValidationError("predictions", f"hold {len(predictions.images)} images, the "
                              f"dataset {len(ds.images)}: they must be aligned to it")
    ann = predictions.annotations
    scores = ann.score if ann.score is not None else np.full(len(ann), np.nan)
    has = ~np.isnan(scores)
    if not has.any():
        raise Error("the predictions carry no scores: the uncertain strategy needs a model's "
                    "confidences (a results file with 'score', or a prediction set)")
    s = np.clip(scores[has], 0.0, 1.0)
    u = 1.0 - np.abs(s - threshold) / max(threshold, 1.0 - threshold)
    idx = ann.image_index[has]
    total = np.bincount(idx, weights=u, minlength=len(ds.images))
    count = np.bincount(idx, minlength=len(ds.images))
    return np.divide(total, count, out=np.zeros(len(ds.images)), where=count > 0)


def _most_uncertain(ds: Dataset, predictions: Dataset | None, candidates: np.ndarray, n: int,
                    seed: int, threshold: float) -> np.ndarray:
    if predictions is None:
        raise Error("the uncertain strategy needs predictions: pass `predictions`, a "
                    "results file or a dataset with scores (or, with `workspace`, the name of "
                    "a prediction set: see 'visionflow predictions import')")
    u = uncertainty(ds, predictions, threshold)[candidates]
    tie = np.random.default_rng(int(seed) & 0xFFFFFFFFFFFFFFFF).permutation(len(candidates))
    order = np.lexsort((tie, -u))  # most uncertain first; equal ones in a seeded order
    return candidates[order[:n]].astype(np.int64)


# --- the `visionflow sample` command as a library function -----------------------------------

def pick(src: Any, dst: str | Path, n: int, strategy: str = "diverse", *, seed: int = 0,
         model: Any = "phash", from_labelled: bool = False, predictions: Any = None,
         threshold: float = 0.5, to: str | None = None, images: str = "copy",
         overwrite: bool = False, force: bool = False, format: str | None = None,
         errors: str = "raise", images_dir: str | Path | None = None,
         follow_links: bool = False, workspace: str | Path | None = None,
         write_options: dict | None = None, report: Any = None,
         progress: Any = None, read_options: dict | None = None) -> tuple[Dataset, np.ndarray]:
    """`visionflow sample`: pick `n` images of the dataset `src` with `strategy` (see
    `sample`) and write them, with all their annotations, as a dataset in `dst` (atomic;
    format `to`, default the source's; `write_options` as for `vf.write`). from_labelled:
    pick among images without annotations, far from the annotated ones. predictions (uncertain): a predictions file or folder, a
    Dataset aligned to src, or with `workspace` the name of a stored prediction set of the
    version `src`. read_options: the reader's options (as for `vf.load`). Returns (the dataset read, the picked rows in pick order)."""
    from contextlib import ExitStack

    from ..core.report import Report
    from .search import guard_output, open_source, write_subset
    _check_strategy(strategy)
    if strategy != "uncertain" and predictions is not None:
        raise Error("`predictions` are used by the uncertain strategy only")
    report = report if report is not None else Report()
    guard_output(dst, src, workspace, overwrite=overwrite, force=force)
    with ExitStack() as stack:
        ds, ws = open_source(src, stack, format=format, errors=errors, images_dir=images_dir,
                             follow_links=follow_links, workspace=workspace, report=report,
                             progress=progress, **(read_options or {}))
        pred = _aligned_predictions(ds, ws, src, predictions) if strategy == "uncertain" else None
        emb = None
        if strategy == "diverse":
            from . import embed
            emb = embed(ds, model, progress=progress, report=report)
        labelled = None
        if from_labelled:
            labelled = np.zeros(len(ds.images), bool)
            labelled[ds.annotations.image_index] = True
        rows = sample(ds, emb, n, strategy, seed=seed, predictions=pred, labelled=labelled,
                      threshold=threshold)
        write_subset(ds, rows, dst, to=to, images=images, overwrite=overwrite, force=force,
                     workspace=workspace, report=report, progress=progress, errors=errors,
                     write_options=write_options)
    return ds, rows


def _aligned_predictions(ds: Dataset, ws: Any, src: Any, predictions: Any) -> Dataset | None:
    """Predictions aligned to ds: as given, a stored set of the workspace version, or read
    from a file or folder (evaluation.predictions.load_predictions)."""
    if predictions is None or isinstance(predictions, Dataset):
        return predictions
    if ws is not None and not Path(predictions).exists():
        from ..evaluation.stored import load_stored
        return load_stored(ws, str(src), str(predictions))[1]
    from ..evaluation.predictions import load_predictions
    return load_predictions(predictions, ds)
