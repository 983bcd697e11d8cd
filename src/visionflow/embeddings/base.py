"""The one small interface every embedder meets, and what an embedding run returns.

An embedder turns decoded images (and, for text-capable models, strings) into rows of one
array: packed bits for perceptual hashes, L2-normalised float32 vectors for models. Search,
dedup, sampling, the 2-D map and the web app only ever see `Embeddings`, never a model.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np
from PIL import Image

Kind = Literal["hash", "vector"]


@dataclass(frozen=True)
class EmbedderInfo:
    """What produced a set of embeddings; recorded beside them in the store.

    name: 'phash', 'dhash', 'whash', 'hf:<hub id or folder>', 'onnx:<file>'.
    kind: 'hash' rows are np.packbits'd bits (uint8, dim // 8 bytes, compare by Hamming
      distance); 'vector' rows are float32 of length dim, L2-normalised (compare by dot product).
    preprocessing: everything that changes the numbers (input size, mean/std, crop, colour
      order, hash size); part of `key`, so changing it never reuses old vectors.
    fingerprint: identifies the weights (a digest of the model files); '' for hashes.
    text: whether `embed_texts` works (CLIP/SigLIP-style models).
    """

    name: str
    kind: Kind
    dim: int
    preprocessing: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    text: bool = False

    @property
    def key(self) -> str:
        """Filesystem-safe name of this embedder's store folder: changes when any field that
        changes the numbers changes."""
        import orjson
        blob = orjson.dumps({"name": self.name, "kind": self.kind, "dim": self.dim,
                             "preprocessing": self.preprocessing,
                             "fingerprint": self.fingerprint}, option=orjson.OPT_SORT_KEYS)
        slug = "".join(c if c.isalnum() or c in "-_." else "-" for c in self.name)[-40:]
        return f"{slug}-{hashlib.sha256(blob).hexdigest()[:12]}"


@runtime_checkable
class Embedder(Protocol):
    """Turns images (RGB, any size) into one row each; deterministic for the same input."""

    info: EmbedderInfo

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, dim // 8) uint8 for hashes, (n, dim) float32 L2-normalised for vectors."""
        ...

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """(n, dim) float32 L2-normalised, in the image space; UsageError when not info.text."""
        ...


@dataclass(frozen=True, eq=False)
class Embeddings:
    """Embeddings of a dataset: row k describes image `image_rows[k]` of the dataset, or, for
    patch embeddings, its object `object_rows[k]` (a row of ds.annotations; -1 for a whole
    image). `shas` are the SHA-256 hex digests of the image files' bytes, the store's key.
    computed / reused: rows computed by the run that made this, and rows read from the store;
    location: the store's folder (None when nothing was stored). Not kept by the selections."""

    info: EmbedderInfo
    vectors: np.ndarray
    image_rows: np.ndarray
    object_rows: np.ndarray
    shas: np.ndarray
    computed: int = 0
    reused: int = 0
    location: str | None = None

    def __len__(self) -> int:
        return len(self.vectors)

    def images_only(self) -> Embeddings:
        keep = self.object_rows < 0
        return Embeddings(self.info, self.vectors[keep], self.image_rows[keep],
                          self.object_rows[keep], self.shas[keep])

    def patches_only(self) -> Embeddings:
        keep = self.object_rows >= 0
        return Embeddings(self.info, self.vectors[keep], self.image_rows[keep],
                          self.object_rows[keep], self.shas[keep])
