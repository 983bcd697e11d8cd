"""Embedding a dataset: stream its images through an embedder, reusing stored rows.

Per image: read the file's bytes once, SHA-256 them (a workspace blob's name already is its
hash), look the image (and, with patches, each object's crop box) up in the store, and only
when something is missing decode it (PIL, EXIF-aware, as `Dataset.image`) and embed it. A pool
of `workers` threads reads, hashes and decodes (hashlib and Pillow release the GIL); cheap,
thread-safe embedders (perceptual hashes) also embed there, models embed on the calling thread
in batches of `batch` (torch uses its own threads). At most 2 x workers chunks are in flight
(workers + 1 of decoded images for a model), so memory stays bounded whatever the dataset
size; the rows themselves are kept as a few arrays per chunk, never an object per image.
New rows are written to the store in parts as they come, so an interrupted run keeps its work
and the next computes only what is missing.
"""

from __future__ import annotations

import importlib.util
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from ..core.dataset import Dataset
from ..core.errors import Error
from ..core.report import Report
from .base import Embedder, Embeddings
from .store import WHOLE, EmbeddingStore, blob_sha, make_keys, store_folder, workspace_root

ENGINES = ("local", "ray")


@dataclass(slots=True)
class ImageJob:
    """One image to embed: its dataset row, file, and the crop boxes wanted (row 0 is the
    whole image, WHOLE; then one per object, with its annotation row)."""

    row: int
    path: str | None
    boxes: np.ndarray                 # (k, 4) int32
    object_rows: np.ndarray           # (k,) int64, -1 for the whole image
    sha: str = ""
    keys: np.ndarray | None = None
    found: np.ndarray | None = None   # (k,) bool: already stored
    vectors: np.ndarray | None = None  # rows computed now, for ~found
    crops: list[Image.Image] = field(default_factory=list)
    error: str | None = None

    @property
    def missing(self) -> np.ndarray:
        return ~self.found if self.found is not None else np.ones(len(self.boxes), bool)


def draft_side(embedder: Embedder) -> int | None:
    """The smallest side (pixels) the embedder needs, when it accepts JPEGs decoded at a
    reduced scale (PIL Image.draft: a DCT-domain downscale, several times faster): the
    embedder says so with `accepts_draft = True` and `max_side` (as HashEmbedder does), else
    None (full-size decoding)."""
    if not getattr(embedder, "accepts_draft", False):
        return None
    side = getattr(embedder, "max_side", None)
    return int(side) if side else None


def decode(data: bytes, side: int | None = None) -> Image.Image:
    """Bytes of an image file -> upright RGB (EXIF orientation applied). `side`: a JPEG may be
    decoded at a reduced scale as long as both sides stay >= side. ValueError with one line
    saying what is wrong when the bytes are no decodable image (io.images.load_rgb's checks:
    pixel bombs, empty files, undecodable data)."""
    from ..core.errors import LocatedError
    from ..io.images import load_rgb
    try:
        return load_rgb("image", side, data=data)
    except LocatedError as e:
        raise ValueError(e.problem) from None


def read_image_bytes(path: str | None) -> bytes:
    if not path:
        raise ValueError("image file not found (the dataset names no file for it)")
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise ValueError("image file not found") from None
    except IsADirectoryError:
        raise ValueError("is a folder, not an image file") from None
    except OSError as e:
        raise ValueError(f"cannot read image ({e.strerror or e})") from None


def crops_of(image: Image.Image, boxes: np.ndarray) -> list[Image.Image]:
    """The whole image for WHOLE rows, else its crop (boxes already clipped to the size the
    dataset records; PIL pads with black if the decoded image is smaller)."""
    out = []
    for box in boxes.tolist():
        out.append(image if box[0] < 0 else image.crop(tuple(box)))
    return out


def hash_and_lookup(job: ImageJob, store: EmbeddingStore | None, from_blobs: bool
                    ) -> bytes | None:
    """Fill job.sha / keys / found; returns the file's bytes when they were read."""
    data = None
    if from_blobs and job.path:
        job.sha = blob_sha(job.path) or ""
    if not job.sha:
        import hashlib
        data = read_image_bytes(job.path)
        job.sha = hashlib.sha256(data).hexdigest()
    job.keys = make_keys([job.sha] * len(job.boxes), job.boxes)
    job.found = store.lookup(job.keys) if store is not None else np.zeros(len(job.boxes), bool)
    return data


def compute_job(job: ImageJob, embedder: Embedder | None, side: int | None,
                data: bytes | None = None) -> ImageJob:
    """Decode the image and crop what is missing; embed too when `embedder` is given."""
    missing = job.missing
    if not missing.any():
        return job
    if data is None:
        data = read_image_bytes(job.path)
    image = decode(data, side if len(job.boxes) == 1 else None)
    job.crops = crops_of(image, job.boxes[missing])
    if embedder is not None:
        job.vectors = np.asarray(embedder.embed_images(job.crops))
        job.crops = []
    return job


def _prepare(jobs: list[ImageJob], store: EmbeddingStore | None, from_blobs: bool,
             embedder: Embedder | None, side: int | None) -> list[ImageJob]:
    """Worker: hash, look up, decode (and for thread-safe embedders embed) one chunk."""
    for job in jobs:
        try:
            data = hash_and_lookup(job, store, from_blobs)
            compute_job(job, embedder, side, data)
        except ValueError as e:
            job.error = str(e)
            job.crops = []
    return jobs


def _chunks(items: Iterable[ImageJob], size: int) -> Iterator[list[ImageJob]]:
    chunk: list[ImageJob] = []
    for job in items:
        chunk.append(job)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _local(jobs: Iterable[ImageJob], embedder: Embedder, store: EmbeddingStore | None,
           from_blobs: bool, batch: int, workers: int) -> Iterator[list[ImageJob]]:
    side = draft_side(embedder)
    in_worker = embedder if getattr(embedder, "thread_safe",
                                    embedder.info.kind == "hash") else None

    def finish(chunk: list[ImageJob]) -> list[ImageJob]:
        if in_worker is None:  # a model: embed the chunk's crops here, in one call
            todo = [j for j in chunk if j.error is None and j.crops]
            crops = [c for j in todo for c in j.crops]
            if crops:
                vecs = np.asarray(embedder.embed_images(crops))
                at = 0
                for j in todo:
                    j.vectors, at = vecs[at:at + len(j.crops)], at + len(j.crops)
                    j.crops = []
        return chunk

    if workers <= 1:
        for chunk in _chunks(jobs, batch):
            yield finish(_prepare(chunk, store, from_blobs, in_worker, side))
        return
    # chunks in flight: decoded images of a model's chunk wait for it, so fewer of those
    limit = 2 * workers if in_worker is not None else workers + 1
    with ThreadPoolExecutor(workers, thread_name_prefix="visionflow-embed") as pool:
        pending: deque = deque()
        try:
            for chunk in _chunks(jobs, batch):
                pending.append(pool.submit(_prepare, chunk, store, from_blobs, in_worker,
                                           side))
                if len(pending) >= limit:
                    yield finish(pending.popleft().result())
            while pending:
                yield finish(pending.popleft().result())
        except BaseException:  # Ctrl-C or an error: start nothing more, stop soon
            for future in pending:
                future.cancel()
            raise


def _jobs(ds: Dataset, patches: bool, report: Report) -> Iterator[ImageJob]:
    """One job per image, made as the stream asks for it; with patches, its objects' boxes
    rounded to whole pixels and clipped to the image (zero-area crops reported, left out)."""
    imgs = ds.images
    n = len(imgs)
    whole = np.array([WHOLE], np.int32)
    none = np.array([-1], np.int64)
    box = np.zeros((0, 4), np.int32)
    rows = np.zeros(0, np.int64)
    starts = np.zeros(n + 1, np.int64)
    if patches and len(ds.annotations):
        ann = ds.annotations
        has_box = ~np.isnan(ann.xyxy).any(axis=1)
        rows = np.flatnonzero(has_box & (ann.image_index >= 0) & (ann.image_index < n))
        idx = ann.image_index[rows]
        w = imgs.width[idx].astype(np.float64)
        h = imgs.height[idx].astype(np.float64)
        box = np.rint(ann.xyxy[rows])
        box[:, 0] = box[:, 0].clip(0, w)
        box[:, 2] = box[:, 2].clip(0, w)
        box[:, 1] = box[:, 1].clip(0, h)
        box[:, 3] = box[:, 3].clip(0, h)
        empty = (box[:, 2] <= box[:, 0]) | (box[:, 3] <= box[:, 1])
        if empty.any():
            first = rows[empty][0]
            report.add("warning", "embed.empty_crop",
                       f"object boxes of zero area once clipped to their image were not "
                       f"embedded (first: annotation id {int(ann.id[first])} of "
                       f"{imgs.file_name[ann.image_index[first]]})", count=int(empty.sum()))
        keep = ~empty
        rows, idx, box = rows[keep], idx[keep], box[keep].astype(np.int32)
        order = np.lexsort((rows, idx))
        rows, idx, box = rows[order], idx[order], box[order]
        starts = np.searchsorted(idx, np.arange(n + 1))
        rows = rows.astype(np.int64)
    paths = imgs.path
    for i in range(n):
        a, b = starts[i], starts[i + 1]
        if a == b:
            yield ImageJob(i, paths[i], whole, none)
        else:
            yield ImageJob(i, paths[i], np.concatenate([whole, box[a:b]]),
                           np.concatenate([none, rows[a:b]]))


def embed(ds: Dataset, model: Any = "phash", *, patches: bool = False, engine: str = "local",
          address: str | None = None, batch: int = 32, store: Any = "auto",
          workers: int | None = None, progress: Callable | None = None,
          report: Report | None = None) -> Embeddings:
    """Embeddings of every image of `ds` (and, with patches, of every object's box crop).

    model: 'phash' | 'dhash' | 'whash', a Hugging Face hub id or folder (CLIP, SigLIP,
    DINOv2), a .onnx file, or an Embedder. Rows are computed once per image content and model
    and kept in the store ('auto': the workspace's .visionflow/embeddings/ for a dataset from
    a Workspace, else the visionflow cache; a path: that folder; None: nothing stored).
    engine: 'local' (a thread pool of `workers`, default all cores) or 'ray' (Ray Data
    stages; `address` of a cluster, None for a local instance), same rows either way.
    Images that cannot be read or decoded are reported in `report` and have no row.
    """
    from . import load_embedder
    if engine not in ENGINES:
        raise Error(f"--engine must be one of {', '.join(ENGINES)}, got {engine!r}")
    if int(batch) < 1:
        raise Error(f"--batch must be at least 1, got {batch}")
    batch = int(batch)
    embedder = load_embedder(model)
    info = embedder.info
    report = report if report is not None else Report()
    workers = max(1, int(workers or os.cpu_count() or 1))
    paths = ds.images.path.tolist()
    from_blobs = workspace_root(paths) is not None if paths else False
    folder = store_folder(info, store, paths)
    if folder is not None and isinstance(store, str) and store == "auto" \
            and importlib.util.find_spec("pyarrow") is None:  # the core install: hashes work
        report.add("warning", "embed.not_stored", "embeddings computed but not stored (the "
                   "store needs pyarrow: pip install 'visionflow[embed]')")
        folder = None
    jobs = _jobs(ds, patches, report)
    st = EmbeddingStore(folder, info, report=report) if folder is not None else None
    width = (info.dim + 7) // 8 if info.kind == "hash" else info.dim
    rows = _Rows(width, np.uint8 if info.kind == "hash" else np.float32)
    total = len(ds.images)
    bar = progress("Embedding images", total) if progress else nullcontext(lambda n=1: None)
    with bar as advance, (st if st is not None else nullcontext()):
        if engine == "local":
            stream = _local(jobs, embedder, st, from_blobs, batch, workers)
        else:
            from .ray_engine import run_ray
            stream = run_ray(list(jobs), embedder, st, from_blobs, batch=batch,
                             workers=workers, address=address)
        for chunk in stream:
            ok = []
            for job in chunk:
                if job.error is not None:
                    report.add("error", "skipped", job.error, where=job.path or
                               str(ds.images.file_name[job.row]))
                    continue
                if job.vectors is not None:
                    job.vectors = _checked(job.vectors, int(job.missing.sum()), info, width)
                    if st is not None:
                        st.add(job.keys[job.missing], job.vectors)
                ok.append(job)
            rows.add(ok)
            advance(len(chunk))
    return rows.embeddings(info, st, folder)


def embed_path(src: Any, model: Any = "phash", *, patches: bool = False,
               engine: str = "local", address: str | None = None, batch: int = 32,
               store: Any = "auto", workers: int | None = None, format: str | None = None,
               errors: str = "raise", images_dir: str | Path | None = None,
               follow_links: bool = False, workspace: str | Path | None = None,
               report: Report | None = None, progress: Callable | None = None,
               **read_options: Any) -> Embeddings:
    """`visionflow embed`: read the dataset `src` (a folder or file read with `vf.load`, or
    with `workspace` a version or SOURCE@N of it) and `embed` it (parameters as there).
    Returns the Embeddings; images that could not be read are in `report`. Raises Error when
    the dataset has images and none could be embedded, and what `vf.load` / `embed` raise."""
    from contextlib import ExitStack

    from .search import open_source
    report = report if report is not None else Report()
    with ExitStack() as stack:
        ds, _ = open_source(src, stack, format=format, errors=errors, images_dir=images_dir,
                            follow_links=follow_links, workspace=workspace, report=report,
                            progress=progress, **read_options)
        emb = embed(ds, model, patches=patches, engine=engine, address=address, batch=batch,
                    store=store, workers=workers, progress=progress, report=report)
    if not len(emb) and len(ds.images):
        raise Error(f"{src}: no image could be embedded (the report says why)")
    return emb


def _checked(vectors: Any, n: int, info, width: int) -> np.ndarray:
    """An embedder's output as (n, width) rows of its kind, or one line saying it is not."""
    rows = np.asarray(vectors)
    if rows.shape != (n, width):
        raise Error(f"embedder {info.name} returned rows of shape {rows.shape} for {n} "
                    f"image(s); its info says ({n}, {width}) ({info.kind}, dim {info.dim})")
    return rows.astype(np.uint8 if info.kind == "hash" else np.float32, copy=False)


class _Rows:
    """The run's rows, kept as a few arrays per chunk (never an object per row): computed
    vectors now, stored ones read at the end, part by part (only those asked for)."""

    def __init__(self, width: int, dtype):
        self.width, self.dtype = width, dtype
        self.parts: dict[str, list[np.ndarray]] = {k: [] for k in (
            "image_rows", "object_rows", "shas", "keys", "missing", "vectors")}

    def add(self, jobs: list[ImageJob]) -> None:
        if not jobs:
            return
        counts = [len(j.boxes) for j in jobs]
        missing = np.concatenate([j.missing for j in jobs])
        vectors = np.zeros((len(missing), self.width), self.dtype)
        made = [j.vectors for j in jobs if j.vectors is not None]
        if made:
            vectors[missing] = np.concatenate(made)
        shas = np.empty(len(jobs), dtype=object)
        shas[:] = [j.sha for j in jobs]
        for name, value in (("image_rows", np.repeat([j.row for j in jobs], counts)),
                            ("object_rows", np.concatenate([j.object_rows for j in jobs])),
                            ("shas", np.repeat(shas, counts)),
                            ("keys", np.concatenate([j.keys for j in jobs])),
                            ("missing", missing), ("vectors", vectors)):
            self.parts[name].append(value)

    def embeddings(self, info, st: EmbeddingStore | None, folder: Path | None) -> Embeddings:
        if not self.parts["keys"]:
            empty = np.zeros(0, np.int64)
            return Embeddings(info, np.zeros((0, self.width), self.dtype), empty, empty,
                              np.zeros(0, dtype=object), location=_str(folder))
        cols = {k: np.concatenate(v) for k, v in self.parts.items()}
        self.parts.clear()
        # dataset order: each image, then its objects (the Ray engine yields stored images
        # first); the sort is stable, so an image's rows keep their order
        order = np.argsort(cols["image_rows"], kind="stable")
        if (np.diff(order) != 1).any():
            cols = {k: v[order] for k, v in cols.items()}
        keys, missing, vectors = cols["keys"], cols["missing"], cols["vectors"]
        reused = np.flatnonzero(~missing)
        if len(reused) and st is not None:
            on_disk = st.stored(keys[reused])
            from_run = reused[~on_disk]  # an image twice in the dataset: its computed row
            if len(from_run):
                made = np.flatnonzero(missing)
                by_key = np.argsort(keys[made], kind="stable")
                pos = np.searchsorted(keys[made][by_key], keys[from_run])
                vectors[from_run] = vectors[made[by_key[pos]]]
            vectors[reused[on_disk]] = st.vectors(keys[reused[on_disk]])
        return Embeddings(info, vectors, cols["image_rows"].astype(np.int64),
                          cols["object_rows"].astype(np.int64), cols["shas"],
                          computed=int(missing.sum()), reused=len(reused),
                          location=_str(folder))


def _str(folder: Path | None) -> str | None:
    return str(folder) if folder is not None else None
