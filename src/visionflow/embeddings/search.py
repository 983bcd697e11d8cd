"""Search a dataset's embeddings by text or by example image.

One query against N stored rows is one matrix-vector product (N * dim multiply-adds, a few
milliseconds at 250,000 x 512): exact, and cheaper than building any approximate index, so
search never needs one. Scores are cosine similarities for model vectors and 1 - Hamming
distance / bits for perceptual hashes; higher is closer either way.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..core.dataset import Dataset
from ..core.errors import Error, UsageError, ValidationError
from .base import Embedder, Embeddings

CHUNK = 65536  # rows scored at once: bounds the temporary arrays of a hash search

TEXT_MODELS = "a CLIP or SigLIP model, e.g. `model` openai/clip-vit-base-patch32"


@dataclass(frozen=True)
class Hit:
    """One search result. object_row is a row of ds.annotations for patch search, else -1;
    label is that object's class name (None for whole images)."""

    image_row: int
    object_row: int
    file_name: str
    split: str
    score: float
    label: str | None = None

    def to_json(self) -> dict[str, Any]:
        out: dict[str, Any] = {"file_name": self.file_name, "score": round(self.score, 6),
                               "split": self.split}
        if self.object_row >= 0:
            out["object_row"] = self.object_row
            out["label"] = self.label
        return out


def similarity(emb: Embeddings, query: np.ndarray) -> np.ndarray:
    """(n,) float64 score of every row against one query row; higher is closer.

    vector: dot product (cosine: rows and query are L2-normalised).
    hash: 1 - Hamming distance / bits, so 1.0 is the same hash.
    """
    vectors = emb.vectors
    query = np.asarray(query)
    if emb.info.kind == "hash":
        q = query.astype(np.uint8).reshape(-1)
        if vectors.ndim != 2 or q.shape[0] != vectors.shape[1]:
            raise ValidationError(emb.info.name, f"query hash has {q.shape[0]} bytes, the "
                                  f"stored hashes {vectors.shape[-1]}")
        out = np.empty(len(vectors), np.float64)
        bits = vectors.shape[1] * 8
        for start in range(0, len(vectors), CHUNK):
            block = np.bitwise_xor(vectors[start:start + CHUNK], q)
            out[start:start + CHUNK] = np.bitwise_count(block).sum(axis=1, dtype=np.int64)
        return 1.0 - out / bits
    q = query.astype(np.float32).reshape(-1)
    if vectors.ndim != 2 or q.shape[0] != vectors.shape[1]:
        raise ValidationError(emb.info.name, f"query vector has {q.shape[0]} values, the "
                              f"stored vectors {vectors.shape[-1]}")
    return (vectors @ q).astype(np.float64)


def top_rows(scores: np.ndarray, top: int) -> np.ndarray:
    """Indices of the `top` highest scores, best first; ties in row order (stable)."""
    top = min(int(top), len(scores))
    if top <= 0:
        return np.zeros(0, np.int64)
    if top < len(scores):
        # argpartition finds the top set in O(n); the cut score decides ties by row order
        cut = np.partition(scores, len(scores) - top)[len(scores) - top]
        cand = np.flatnonzero(scores >= cut)
    else:
        cand = np.arange(len(scores))
    order = np.lexsort((cand, -scores[cand]))
    return cand[order][:top].astype(np.int64)


def query_vector(embedder: Embedder, query: Any) -> np.ndarray:
    """Embed a query with the same embedder as the dataset: text (str), an image file
    (pathlib.Path or os.PathLike), a PIL image, or an already computed row (np.ndarray)."""
    if isinstance(query, np.ndarray):
        return query
    if isinstance(query, str):
        if not query.strip():
            raise Error("the search text is empty")
        if not embedder.info.text:
            raise UsageError(f"text search needs a model that embeds text ({TEXT_MODELS}); "
                             f"{embedder.info.name} embeds images only (search with `like` "
                             "an image instead)")
        return np.asarray(embedder.embed_texts([query]))[0]
    if isinstance(query, os.PathLike):
        from ..io.images import load_rgb
        path = Path(query)
        if not path.is_file():
            raise Error(f"{path}: no such image file")
        return np.asarray(embedder.embed_images([load_rgb(path)]))[0]
    if isinstance(query, Image.Image):
        return np.asarray(embedder.embed_images([query.convert("RGB")]))[0]
    raise TypeError(f"a query is text, an image path, a PIL image or a vector, not "
                    f"{type(query).__name__}")


def search(ds: Dataset, emb: Embeddings, query: Any, *, embedder: Embedder | None = None,
           top: int = 50, patches: bool = False) -> list[Hit]:
    """The `top` images (or, with patches, objects) of `ds` closest to `query`, best first.

    emb: the embeddings of ds (from `embed`); rows of other images are ignored.
    query: text (needs a text model: CLIP, SigLIP), an image path (pathlib.Path), a PIL image,
    or a row already embedded (np.ndarray; then no embedder is needed).
    embedder: the embedder that made `emb`, used to embed the query.
    """
    if top < 1:
        raise Error(f"`top` must be at least 1, got {top}")
    if not isinstance(query, np.ndarray):
        if embedder is None:
            raise Error("search needs the embedder that made the embeddings to embed the query")
        if embedder.info.key != emb.info.key:
            raise Error(f"the query embedder {embedder.info.name} is not the one that made "
                        f"the embeddings ({emb.info.name})")
    rows = emb.patches_only() if patches else emb.images_only()
    if len(rows) and (rows.image_rows.min() < 0 or rows.image_rows.max() >= len(ds.images)
                      or (patches and rows.object_rows.max() >= len(ds.annotations))):
        raise ValidationError(emb.info.name, "embeddings refer to rows the dataset does not "
                              "have: they were computed for another dataset")
    if not len(rows):
        raise Error("no object (patch) embeddings to search; compute them with "
                    "'visionflow embed SRC --patches'" if patches else
                    "no image embeddings to search")
    q = query_vector(embedder, query) if not isinstance(query, np.ndarray) else query
    scores = similarity(rows, q)
    best = top_rows(scores, top)
    names = ds.images.file_name
    splits = ds.images.split
    labels: np.ndarray | None = None
    if patches:
        ann = ds.annotations
        class_names = np.array([*ds.classes, None], dtype=object)
        labels = class_names[ds.class_index(ann.category_id[rows.object_rows[best]])]
    hits = []
    for j, k in enumerate(best.tolist()):
        image_row = int(rows.image_rows[k])
        hits.append(Hit(image_row, int(rows.object_rows[k]), str(names[image_row]),
                        str(splits[image_row]), float(scores[k]),
                        None if labels is None else labels[j]))
    return hits


def hit_images(hits: list[Hit]) -> np.ndarray:
    """Image rows of the hits, each once, best first (objects of one image count once)."""
    rows = np.fromiter((h.image_row for h in hits), np.int64, len(hits))
    _, first = np.unique(rows, return_index=True)
    return rows[np.sort(first)]


# --- the `visionflow search` command as a library function -----------------------------------

def open_source(src: Any, stack: Any, *, format: str | None = None, errors: str = "raise",
                images_dir: str | Path | None = None, follow_links: bool = False,
                workspace: str | Path | None = None, report: Any = None,
                progress: Any = None, **read_options: Any) -> tuple[Dataset, Any]:
    """(dataset, workspace or None) for a command's SRC: a Dataset as is, a version (or
    SOURCE@N) of `workspace` (opened on `stack`), or a dataset on disk read with `vf.load`
    (read_options: its reader's options, refused for the other two, which are read already)."""
    if read_options and (isinstance(src, Dataset) or workspace is not None):
        raise Error("read_options apply to a dataset read from disk, not to a Dataset or a "
                    "workspace version")
    if isinstance(src, Dataset):
        return src, None
    if workspace is not None:
        from ..versioning import Workspace
        ws = stack.enter_context(Workspace.open(workspace))
        return ws.load(str(src)), ws
    from ..api import load
    return load(src, format, errors=errors, report=report, progress=progress,
                images_dir=images_dir, follow_links=follow_links, **read_options), None


def guard_output(dst: str | Path, src: Any, workspace: str | Path | None, *,
                 overwrite: bool, force: bool) -> None:
    """Refuse a bad destination folder before any work (api.write checks again)."""
    from ..io.atomic import guard_destination, source_root
    on_disk = not isinstance(src, Dataset) and workspace is None
    guard_destination(dst, sources=source_root(src) if on_disk else [],
                      keep=[workspace] if workspace is not None else [],
                      overwrite=overwrite, force=force)


def write_subset(ds: Dataset, rows: np.ndarray, dst: str | Path, *, to: str | None,
                 images: str, overwrite: bool, force: bool, workspace: str | Path | None,
                 report: Any, progress: Any = None, errors: str = "raise",
                 write_options: dict | None = None) -> None:
    """The given images with all their annotations as a dataset in `dst` (atomic), in `to`
    or the source's format written back the way it was read (its layout kept)."""
    from ..api import write
    write(ds.select_images(np.sort(np.asarray(rows, np.int64))), dst,
          to if to is not None or ds.source_format else "visionflow", images=images,
          overwrite=overwrite, force=force, report=report, progress=progress, errors=errors,
          keep=(workspace,) if workspace is not None else (), **(write_options or {}))


TEXT_MODEL = "openai/clip-vit-base-patch32"


def find_images(src: Any, query: str | None = None, *, like: Any = None,
                model: Any = None, top: int = 50, patches: bool = False,
                out: str | Path | None = None, to: str | None = None, images: str = "copy",
                overwrite: bool = False, force: bool = False, format: str | None = None,
                errors: str = "raise", images_dir: str | Path | None = None,
                follow_links: bool = False, workspace: str | Path | None = None,
                write_options: dict | None = None, report: Any = None,
                progress: Any = None, read_options: dict | None = None) -> list[Hit]:
    """`visionflow search`: the `top` images (objects with `patches`) of the dataset `src`
    closest to the words `query` or to the image `like` (a file or a PIL image), embedded by
    `model` (stored embeddings reused; see `embed`; default: CLIP for words, pHash for an
    image, which needs no model download). out: also write the matching images with
    their annotations as a dataset there (format `to`, default the source's; `write_options`
    as for `vf.write`; `read_options` the reader's, as for `vf.load`). Returns the Hits,
    best first. Raises Error (bad parameters, a model
    that cannot embed words), OutputError (`out`), and what `vf.load` / `vf.write` raise."""
    from contextlib import ExitStack

    from ..core.report import Report
    from . import embed, load_embedder
    if (query is None) == (like is None):
        raise Error("give either words to search for or `like` (an image), one of them")
    if top < 1:
        raise Error(f"`top` must be at least 1, got {top}")
    report = report if report is not None else Report()
    if out is not None:
        guard_output(out, src, workspace, overwrite=overwrite, force=force)
    with ExitStack() as stack:
        ds, _ = open_source(src, stack, format=format, errors=errors, images_dir=images_dir,
                            follow_links=follow_links, workspace=workspace, report=report,
                            progress=progress, **(read_options or {}))
        if model is None:
            model = TEXT_MODEL if like is None else "phash"
        embedder = load_embedder(model)
        like = Path(like) if isinstance(like, str) else like
        q = query_vector(embedder, query if like is None else like)  # a wrong model fails now
        emb = embed(ds, embedder, patches=patches, progress=progress, report=report)
        hits = search(ds, emb, q, top=top, patches=patches)
        if out is not None:
            write_subset(ds, hit_images(hits), out, to=to, images=images, overwrite=overwrite,
                         force=force, workspace=workspace, report=report, progress=progress,
                         errors=errors, write_options=write_options)
    return hits
