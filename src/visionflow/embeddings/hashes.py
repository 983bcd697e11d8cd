"""Perceptual hashes as the model-free embedder: pHash, dHash and the wavelet hash.

Each hash reduces an image to hash_size x hash_size bits that survive resizing, re-encoding
and brightness changes; near-duplicates are rows a few bits apart (Hamming distance). The bits
are those of the `imagehash` library (tests/embeddings/test_hashes.py compares them), computed
here with numpy over a whole batch at once (one matrix product per batch, no SciPy, no
PyWavelets), so the core install can hash:

    phash  greyscale (ITU-R 601-2 luma), Lanczos to 4*hash_size square, 2-D DCT-II,
           the top-left hash_size x hash_size coefficients > their median
    dhash  greyscale, Lanczos to (hash_size + 1) x hash_size, each pixel > its left neighbour
    whash  greyscale, Lanczos to a fixed `image_scale` square (64 for hash_size 8), Haar
           low band at hash_size (block means: the Haar LL band up to a scale factor) > median.
           imagehash picks image_scale from each image's size by default; a fixed one keeps
           a resized copy on the same scale, so we fix it: equal to
           imagehash.whash(image, hash_size, image_scale=64) except where a block ties with
           the median exactly (see _whash)

Rows are np.packbits of the bits in row-major order (imagehash's hex string, the same order
as checks' 64-bit dHash). Measured on real photos (scikit-image samples, raccoon, BCCD) with
planted copies, see tests/embeddings/test_dedup_real.py and dedup.DEFAULT_THRESHOLDS.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache

import numpy as np
from PIL import Image

from ..core.errors import Error, UsageError
from .base import EmbedderInfo

KINDS = ("phash", "dhash", "whash")
_LANCZOS = Image.Resampling.LANCZOS


class HashEmbedder:
    """A perceptual hash behind the Embedder protocol: info.kind 'hash', info.dim bits,
    rows of dim // 8 uint8 (np.packbits).

    accepts_draft / max_side: the hash never looks at more than max_side pixels per side,
    so a decoder may hand it images decoded at reduced size (PIL's JPEG draft mode,
    `im.draft("RGB", (max_side, max_side))`, which keeps both sides >= max_side): about 8x
    less decoding work for the same bits up to resampling noise (a bit or two).
    """

    accepts_draft = True

    def __init__(self, kind: str = "phash", hash_size: int = 8):
        if kind not in KINDS:
            from ..core.errors import did_you_mean
            raise Error(f"unknown hash {kind!r}{did_you_mean(kind, KINDS)} "
                        f"(known: {', '.join(KINDS)})")
        hash_size = int(hash_size)
        if hash_size < 2 or (kind == "whash" and hash_size & (hash_size - 1)):
            also = " and a power of 2" if kind == "whash" else ""
            raise Error(f"hash size must be at least 2{also}, got {hash_size}")
        self.kind = kind
        self.hash_size = hash_size
        self.image_scale = max(64, 8 * hash_size) if kind == "whash" else 0
        side = {"phash": 4 * hash_size, "dhash": hash_size + 1, "whash": self.image_scale}[kind]
        self.max_side = max(64, side)
        pre = {"hash_size": hash_size, "grey": "ITU-R 601-2 luma (PIL 'L')",
               "resample": "lanczos", "order": "row-major, np.packbits",
               "decode": f"upright RGB; JPEG draft allowed down to {self.max_side} px a side"}
        if kind == "whash":
            pre["image_scale"] = self.image_scale
        self.info = EmbedderInfo(name=kind, kind="hash", dim=hash_size * hash_size,
                                 preprocessing=pre)

    def __repr__(self) -> str:
        return f"HashEmbedder({self.kind!r}, hash_size={self.hash_size})"

    def embed_images(self, images: Sequence[Image.Image]) -> np.ndarray:
        """(n, hash_size**2 // 8 rounded up) uint8 packed bits, one row per image."""
        n = len(images)
        if n == 0:
            return np.zeros((0, (self.info.dim + 7) // 8), np.uint8)
        bits = getattr(self, f"_{self.kind}")(images)
        return np.packbits(bits.reshape(n, -1), axis=1)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        raise UsageError(f"{self.kind} is a perceptual hash: it embeds images only, not text "
                         "(text search needs a CLIP or SigLIP model, e.g. --model "
                         "openai/clip-vit-base-patch32)")

    # --- the three hashes, each over the whole batch ---------------------------------------
    def _grey(self, images: Sequence[Image.Image], size: tuple[int, int]) -> np.ndarray:
        """(n, h, w) float64 thumbnails: greyscale first, then Lanczos (imagehash's order)."""
        out = np.empty((len(images), size[1], size[0]), np.float64)
        for k, im in enumerate(images):
            out[k] = np.asarray(im.convert("L").resize(size, _LANCZOS), np.float64)
        return out

    def _phash(self, images: Sequence[Image.Image]) -> np.ndarray:
        hs = self.hash_size
        pixels = self._grey(images, (4 * hs, 4 * hs))
        d = _dct_rows(4 * hs, hs)                       # (hs, 4hs): the low DCT-II rows
        low = d @ pixels @ d.T                          # (n, hs, hs), batched by matmul
        med = np.median(low.reshape(len(images), -1), axis=1)
        return low > med[:, None, None]

    def _dhash(self, images: Sequence[Image.Image]) -> np.ndarray:
        hs = self.hash_size
        pixels = self._grey(images, (hs + 1, hs))
        return pixels[:, :, 1:] > pixels[:, :, :-1]

    def _whash(self, images: Sequence[Image.Image]) -> np.ndarray:
        hs, scale = self.hash_size, self.image_scale
        pixels = self._grey(images, (scale, scale)).astype(np.int64)
        b = scale // hs
        # Haar LL after log2(b) levels = block sums / b; removing the lowest band (imagehash's
        # remove_max_haar_ll) subtracts one constant from every block: neither changes which
        # blocks lie above the median. Integer sums make ties exact: a block equal to the
        # median is 0 here, where imagehash's float rounding noise decides it either way.
        low = pixels.reshape(len(images), hs, b, hs, b).sum(axis=(2, 4))
        med = np.median(low.reshape(len(images), -1), axis=1)
        return low > med[:, None, None]


@lru_cache(maxsize=8)
def _dct_rows(n: int, rows: int) -> np.ndarray:
    """The first `rows` rows of the unnormalised DCT-II matrix of size n (scipy.fftpack.dct's
    default: X_k = 2 sum_j x_j cos(pi k (2j + 1) / 2n))."""
    k = np.arange(rows)[:, None]
    j = np.arange(n)[None, :]
    return 2.0 * np.cos(np.pi * k * (2 * j + 1) / (2 * n))


def hamming(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Bits that differ between packed rows a and b (broadcasting), as int64."""
    return np.bitwise_count(np.bitwise_xor(a, b)).sum(axis=-1, dtype=np.int64)
