"""`embed(..., engine='ray')`: decoding and embedding as Ray Data stages.

The driver hashes every file and looks it up in the store (cheap, and the store lives where
the driver is); only images with something missing go to Ray: `from_items` of small job
records -> `map_batches(_decode)` (tasks: read, decode, crop) -> `map_batches(_EmbedActor)`
(one embedder per actor, loaded once) -> rows back to the driver in order, which stores them.
The functions are the local engine's (compute.decode, crops_of), so the rows are the same.
Workers read the image files by path: on a cluster, the dataset must be on a shared filesystem.
"""

from __future__ import annotations

import pickle
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from ..core.errors import Error
from .base import Embedder
from .compute import ImageJob, crops_of, decode, draft_side, hash_and_lookup, read_image_bytes
from .store import EmbeddingStore

_HASH_CHUNK = 256  # images hashed per driver thread task


def _decode(batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Ray task: job records -> pickled crops (or the error)."""
    out, errors = [], []
    for blob in batch["job"]:
        path, boxes, side = pickle.loads(blob)
        try:
            image = decode(read_image_bytes(path), side)
            crops = [np.asarray(c) for c in crops_of(image, boxes)]
            out.append(pickle.dumps(crops, protocol=pickle.HIGHEST_PROTOCOL))
            errors.append("")
        except ValueError as e:
            out.append(b"")
            errors.append(str(e))
    return {"row": batch["row"], "crops": np.array(out, dtype=object),
            "error": np.array(errors, dtype=object)}


class _EmbedActor:
    """Ray actor: the embedder, unpickled once (a model is loaded once per actor)."""

    def __init__(self, embedder_bytes: bytes):
        self.embedder: Embedder = pickle.loads(embedder_bytes)

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        from PIL import Image
        sizes, crops = [], []
        for blob, err in zip(batch["crops"], batch["error"]):
            got = [] if err else pickle.loads(blob)
            sizes.append(len(got))
            crops.extend(Image.fromarray(c) for c in got)
        vecs = np.asarray(self.embedder.embed_images(crops)) if crops else None
        out, at = [], 0
        for k in sizes:
            out.append(pickle.dumps(vecs[at:at + k] if k else None,
                                    protocol=pickle.HIGHEST_PROTOCOL))
            at += k
        return {"row": batch["row"], "vectors": np.array(out, dtype=object),
                "error": batch["error"]}


def _hash_chunk(jobs: list[ImageJob], store: EmbeddingStore | None, from_blobs: bool
                ) -> list[ImageJob]:
    for job in jobs:
        try:
            hash_and_lookup(job, store, from_blobs)
        except ValueError as e:
            job.error = str(e)
    return jobs


def run_ray(jobs: list[ImageJob], embedder: Embedder, store: EmbeddingStore | None,
            from_blobs: bool, *, batch: int, workers: int | None, address: str | None
            ) -> Iterator[list[ImageJob]]:
    """Yield the jobs in dataset order, chunked, with vectors filled by Ray (see module)."""
    from ..ray_session import ray_session, require_ray
    require_ray()  # before any work
    try:
        embedder_bytes = pickle.dumps(embedder, protocol=pickle.HIGHEST_PROTOCOL)
    except Exception as e:  # noqa: BLE001 - an embedder Ray cannot ship
        raise Error(f"{embedder.info.name}: cannot be sent to Ray workers ({e}); use "
                    "--engine local") from None
    # 1. the driver: hash and look up (threads), so only missing images travel
    with ThreadPoolExecutor(max(1, workers or 1)) as pool:
        chunks = list(pool.map(lambda c: _hash_chunk(c, store, from_blobs),
                               [jobs[i:i + _HASH_CHUNK] for i in range(0, len(jobs),
                                                                       _HASH_CHUNK)]))
    todo = [j for c in chunks for j in c if j.error is None and j.missing.any()]
    ready = {j.row for j in jobs} - {j.row for j in todo}
    by_row = {j.row: j for j in jobs}
    pending = [by_row[r] for r in sorted(ready)]
    if pending:  # nothing to compute for these: they go first (order is restored by embed)
        yield pending
    if not todo:
        return
    side = draft_side(embedder)
    with ray_session(address, workers) as ray:
        items = [{"row": j.row, "job": pickle.dumps(
            (j.path, j.boxes[j.missing], side if len(j.boxes) == 1 else None),
            protocol=pickle.HIGHEST_PROTOCOL)} for j in todo]
        n = workers or max(1, int(ray.cluster_resources().get("CPU", 1)))
        blocks = max(1, min(len(items), n * 4))
        data = ray.data.from_items(items, override_num_blocks=blocks)
        data = data.map_batches(_decode, batch_size=batch, batch_format="numpy")
        # a model on a single machine: one copy in memory; hashes: one actor per core
        actors = 1 if embedder.info.kind == "vector" and address is None else min(n, blocks)
        data = data.map_batches(_EmbedActor, fn_constructor_args=(embedder_bytes,),
                                batch_size=batch, batch_format="numpy",
                                compute=ray.data.ActorPoolStrategy(size=actors))
        out: list[ImageJob] = []
        for row in data.iter_rows():
            job = by_row[int(row["row"])]
            if row["error"]:
                job.error = str(row["error"])
            else:
                job.vectors = pickle.loads(row["vectors"])
            out.append(job)
            if len(out) >= batch:
                yield out
                out = []
        if out:
            yield out


__all__ = ["run_ray"]
