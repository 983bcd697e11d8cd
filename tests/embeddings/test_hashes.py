"""Perceptual hashes: the same bits as the `imagehash` library (the reference users know),
computed over a batch with numpy; the Embedder protocol; one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from visionflow.core.errors import Error
from visionflow.embeddings.base import Embedder
from visionflow.embeddings.hashes import HashEmbedder, hamming

from .dedup_planted import real_photos

imagehash = pytest.importorskip("imagehash")


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Image.Image]:
    """scikit-image photos, and the first raccoon and BCCD photos when ../shared is there."""
    paths = real_photos(tmp_path_factory.mktemp("photos"))
    picked = paths[:19] + paths[19:59:2] + paths[-40::4]
    return [Image.open(p).convert("RGB") for p in picked]


def _reference(kind: str, hs: int, im: Image.Image, scale: int) -> np.ndarray:
    if kind == "phash":
        h = imagehash.phash(im, hash_size=hs)
    elif kind == "dhash":
        h = imagehash.dhash(im, hash_size=hs)
    else:
        h = imagehash.whash(im, hash_size=hs, image_scale=scale)
    return np.packbits(h.hash.reshape(-1))


@pytest.mark.parametrize("kind", ["phash", "dhash"])
@pytest.mark.parametrize("hs", [8, 16])
def test_phash_and_dhash_bits_equal_imagehash(photos, kind, hs):
    e = HashEmbedder(kind, hs)
    ours = e.embed_images(photos)
    ref = np.stack([_reference(kind, hs, im, 0) for im in photos])
    assert ours.dtype == np.uint8 and ours.shape == (len(photos), hs * hs // 8)
    assert np.array_equal(ours, ref)


@pytest.mark.parametrize("hs", [8, 16])
def test_whash_equals_imagehash_at_a_fixed_scale_except_exact_median_ties(photos, hs):
    """whash uses a fixed image_scale (a resized copy stays on the same scale); integer block
    sums make a block equal to the median a 0 bit, where imagehash's float noise picks."""
    e = HashEmbedder("whash", hs)
    ours = np.unpackbits(e.embed_images(photos), axis=1)
    for k, im in enumerate(photos):
        ref = np.unpackbits(_reference("whash", hs, im, e.image_scale))
        differ = np.flatnonzero(ours[k] != ref)
        if len(differ):
            grey = np.asarray(im.convert("L").resize((e.image_scale,) * 2,
                                                     Image.Resampling.LANCZOS), np.int64)
            b = e.image_scale // hs
            blocks = grey.reshape(hs, b, hs, b).sum(axis=(1, 3)).reshape(-1)
            assert np.all(blocks[differ] == np.median(blocks)), (k, differ)
            assert not ours[k][differ].any()


def test_batch_equals_one_by_one_and_is_deterministic(photos):
    for kind in ("phash", "dhash", "whash"):
        e = HashEmbedder(kind)
        batch = e.embed_images(photos[:7])
        single = np.concatenate([e.embed_images([im]) for im in photos[:7]])
        assert np.array_equal(batch, single)
        assert np.array_equal(batch, e.embed_images(photos[:7]))


def test_copies_are_near_and_distinct_photos_far(photos):
    e = HashEmbedder("phash")
    base = e.embed_images(photos[:6])
    small = e.embed_images([im.resize((im.width // 3, im.height // 3)) for im in photos[:6]])
    assert hamming(base, small).max() <= 4
    d = hamming(base[:, None, :], base[None, :, :])
    assert d[~np.eye(6, dtype=bool)].min() > 10


def test_protocol_info_and_draft_attributes():
    e = HashEmbedder("phash")
    assert isinstance(e, Embedder)
    assert (e.info.name, e.info.kind, e.info.dim, e.info.text) == ("phash", "hash", 64, False)
    assert e.accepts_draft is True and e.max_side >= 32
    assert HashEmbedder("phash", 16).max_side >= 64 and HashEmbedder("whash", 16).max_side >= 128
    assert HashEmbedder("phash").info.key != HashEmbedder("phash", 16).info.key
    assert HashEmbedder("dhash").embed_images([]).shape == (0, 8)


def test_errors_are_one_line():
    with pytest.raises(Error, match="unknown hash 'phsah'; did you mean 'phash'"):
        HashEmbedder("phsah")
    with pytest.raises(Error, match="power of 2"):
        HashEmbedder("whash", 12)
    with pytest.raises(Error, match="embeds images only"):
        HashEmbedder("dhash").embed_texts(["a raccoon"])


@settings(max_examples=25, deadline=None)
@given(st.integers(0, 2**32 - 1), st.sampled_from(["phash", "dhash", "whash"]),
       st.integers(9, 90), st.integers(9, 90))
def test_any_image_gives_one_row_of_the_right_width(seed, kind, w, h):
    arr = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    e = HashEmbedder(kind)
    row = e.embed_images([Image.fromarray(arr)])
    assert row.shape == (1, 8) and row.dtype == np.uint8
    if kind == "phash":  # the DCT median splits the 64 coefficients in two halves
        assert int(np.unpackbits(row).sum()) <= 32
