"""Dedup quality on real photos with planted near-duplicates (resized, re-encoded at JPEG
quality 10-30, 1-2% cropped off each side, brightened or darkened, or all at once): scikit-
image's photos always, raccoon and BCCD from ../shared/datasets when present. Precision and
recall over pairs must reach 0.98, and distinct real photos must never form a group."""

from __future__ import annotations

import pytest

from visionflow.embeddings.compute import embed
from visionflow.embeddings.dedup import DEFAULT_THRESHOLDS, find_duplicates

from ..conftest import SHARED
from .dedup_planted import planted_dataset, real_photos, truth_labels, pair_scores


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("planted")
    ds, pairs = planted_dataset(real_photos(tmp), tmp)
    return ds, pairs, embed(ds, "phash", store=None)


def test_skimage_photos_with_planted_copies(tmp_path):
    """Always runs: the 19 scikit-image photos, a copy of each (every kind in turn)."""
    ds, pairs = planted_dataset(real_photos(tmp_path, shared=False), tmp_path, every=1)
    r = find_duplicates(ds)
    precision, recall, false, missed = pair_scores(r.groups, truth_labels(ds, pairs))
    assert (false, missed) == (0, 0), (r.to_json(), pairs)
    assert r.threshold == DEFAULT_THRESHOLDS["hash"][0]


def test_real_datasets_precision_and_recall(planted):
    if not SHARED.is_dir():
        pytest.skip(f"real datasets not available: {SHARED} is absent")
    ds, pairs, emb = planted
    assert len(ds.images) > 800
    r = find_duplicates(ds, emb)
    precision, recall, false, missed = pair_scores(r.groups, truth_labels(ds, pairs))
    assert precision >= 0.98 and recall >= 0.98, (precision, recall, false, missed)


def test_no_false_group_among_distinct_real_images(planted):
    """The originals alone: every group is one of the sources' own known duplicates."""
    ds, pairs, emb = planted
    n = min(p[1] for p in pairs)  # the originals come first
    originals = ds[:n]
    sub = emb.__class__(emb.info, emb.vectors[emb.image_rows < n],
                        emb.image_rows[emb.image_rows < n], emb.object_rows[emb.image_rows < n],
                        emb.shas[emb.image_rows < n])
    r = find_duplicates(originals, sub)
    truth = truth_labels(originals, [])
    for g in r.groups:
        assert len(set(truth[g].tolist())) == 1, [originals.images.file_name[x] for x in g]


def test_ssim_confirmation_keeps_quality_at_a_loose_threshold(planted):
    """At 16 bits plain hashing joins distinct photos; SSIM confirmation removes them and
    keeps the copies."""
    ds, pairs, emb = planted
    truth = truth_labels(ds, pairs)
    loose = find_duplicates(ds, emb, threshold=16)
    confirmed = find_duplicates(ds, emb, threshold=16, confirm="ssim")
    p0 = pair_scores(loose.groups, truth)[0]
    p1, r1, _, _ = pair_scores(confirmed.groups, truth)
    assert p1 >= 0.98 and r1 >= 0.98 and p1 >= p0
    if p0 < 1.0:  # distinct photos were candidates (always with ../shared): SSIM refused them
        assert confirmed.confirmed < confirmed.pairs and p1 > p0
