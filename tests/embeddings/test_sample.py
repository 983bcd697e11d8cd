"""Sampling what to label next: k-center greedy's 2x bound against the brute-force optimum,
determinism, the labelled images as starting centres, planted uncertain images, random."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import visionflow as vf
from tests.embeddings.search_helpers import ThumbEmbedder, embeddings_of, write_planted
from tests.embeddings.test_search import DHash
from visionflow.core.annotations import Annotations
from visionflow.core.errors import Error
from visionflow.embeddings import sample as sample_mod
from visionflow.embeddings.sample import covering_radius, k_center_greedy, sample, uncertainty


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    ds = vf.load(write_planted(tmp_path_factory.mktemp("planted"), n_base=6, copies=2))
    return ds, embeddings_of(ds, ThumbEmbedder())


def _group(ds, rows):
    return [ds.images.file_name[r].split("_copy")[0].removesuffix(".png") for r in rows]


points = st.integers(2, 8).flatmap(lambda n: st.tuples(
    st.lists(st.tuples(st.floats(-10, 10), st.floats(-10, 10)), min_size=n, max_size=n),
    st.integers(1, min(n, 4)), st.integers(0, 2**32)))


@settings(max_examples=150, deadline=None)
@given(points)
def test_greedy_covering_radius_is_within_twice_the_optimum(case):
    coords, k, seed = case
    x = np.asarray(coords, np.float64)
    picked = k_center_greedy(np.arange(len(x)), x, x[:0], k, seed=seed)
    assert len(set(picked.tolist())) == k                       # no duplicates
    greedy = covering_radius(x, x[picked])
    best = min(covering_radius(x, x[list(c)]) for c in itertools.combinations(range(len(x)), k))
    assert greedy <= 2 * best + 1e-9
    assert np.array_equal(picked, k_center_greedy(np.arange(len(x)), x, x[:0], k, seed=seed))


def test_diverse_picks_one_image_per_planted_group_first(planted):
    ds, emb = planted
    for seed in range(5):
        rows = sample(ds, emb, 6, "diverse", seed=seed)
        assert sorted(_group(ds, rows)) == [f"base_{i}" for i in range(6)], seed
    assert np.array_equal(sample(ds, emb, 9, seed=3), sample(ds, emb, 9, seed=3))
    starts = {int(sample(ds, emb, 1, seed=s)[0]) for s in range(20)}
    assert len(starts) > 1                                      # the seed picks the start


def test_labelled_images_are_the_starting_centres_and_never_picked(planted):
    ds, emb = planted
    groups = np.array(_group(ds, range(len(ds))))
    labelled = np.isin(groups, ["base_0", "base_1", "base_2", "base_3"])
    rows = sample(ds, emb, 2, "diverse", labelled=labelled)
    assert sorted(_group(ds, rows)) == ["base_4", "base_5"]
    rows = sample(ds, emb, 6, "random", labelled=labelled, seed=1)
    assert not labelled[rows].any() and len(set(rows.tolist())) == 6
    with pytest.raises(Error, match="6 unlabelled images"):
        sample(ds, emb, 7, "diverse", labelled=labelled)


def test_too_many_or_too_few_is_one_clear_error(planted):
    ds, emb = planted
    for strategy in ("diverse", "random"):
        with pytest.raises(Error, match="`n` 19 is more than the 18 images"):
            sample(ds, emb, 19, strategy)
    with pytest.raises(Error, match="at least 1"):
        sample(ds, emb, 0)
    with pytest.raises(Error, match="did you mean 'diverse'"):
        sample(ds, emb, 3, "divers")
    with pytest.raises(Error, match="needs image embeddings"):
        sample(ds, None, 3, "diverse")
    assert len(sample(ds, emb, 18)) == 18


def test_hash_embeddings_use_hamming_distance(planted):
    ds, _ = planted
    emb = embeddings_of(ds, DHash())
    rows = sample(ds, emb, 6, "diverse", seed=2)
    assert len(set(rows.tolist())) == 6
    bits = np.unpackbits(emb.vectors, axis=1).astype(np.float64)
    # Hamming distance is the squared Euclidean distance of the 0/1 bits, a monotone change:
    # the same greedy order, ties included
    assert np.array_equal(rows, k_center_greedy(np.arange(len(ds)), bits, bits[:0], 6, seed=2))
    assert covering_radius(emb.vectors, emb.vectors[rows], "hash") == pytest.approx(
        covering_radius(bits, bits[rows]) ** 2)


@pytest.mark.parametrize("hashes", [False, True])
def test_chunking_does_not_change_the_picks(planted, monkeypatch, hashes):
    ds, emb = planted
    emb = embeddings_of(ds, DHash()) if hashes else emb
    labelled = np.arange(len(ds)) < 5
    whole = sample(ds, emb, 10, seed=4, labelled=labelled)
    monkeypatch.setattr(sample_mod, "CHUNK", 2)
    monkeypatch.setattr(sample_mod, "PAIRS", 5)
    assert np.array_equal(whole, sample(ds, emb, 10, seed=4, labelled=labelled))


def _predictions(ds, scores_per_image):
    img, score = [], []
    for row, scores in scores_per_image.items():
        img += [row] * len(scores)
        score += scores
    n = len(img)
    ann = Annotations.build(img, [1] * n, np.tile([1.0, 1.0, 10.0, 10.0], (n, 1)),
                            score=np.asarray(score, np.float64))
    return ds.replace(annotations=ann)


def test_uncertain_picks_the_planted_doubtful_images(planted):
    ds, _ = planted
    sure = {r: [0.97, 0.02, 0.99] for r in range(len(ds))}
    planted_rows = [4, 11, 15]
    for r, s in zip(planted_rows, ([0.5, 0.45], [0.55], [0.4, 0.6, 0.52])):
        sure[r] = s
    pred = _predictions(ds, sure)
    rows = sample(ds, None, 3, "uncertain", predictions=pred)
    assert sorted(rows.tolist()) == planted_rows
    u = uncertainty(ds, pred)
    assert u[11] == pytest.approx(0.9) and u[0] == pytest.approx((0.06 + 0.04 + 0.02) / 3)
    rows = sample(ds, None, 2, "uncertain", predictions=pred,
                  labelled=np.isin(np.arange(len(ds)), [11]))
    assert sorted(rows.tolist()) == [4, 15]


def test_uncertain_threshold_and_ties(planted):
    ds, _ = planted
    pred = _predictions(ds, {0: [0.3], 1: [0.3], 2: [0.9]})
    assert uncertainty(ds, pred, threshold=0.3)[:3] == pytest.approx([1.0, 1.0, 1 - 0.6 / 0.7])
    a = sample(ds, None, 5, "uncertain", predictions=pred, seed=0)
    assert sorted(a[:2].tolist()) == [0, 1] and a[2] == 2       # then images without any
    assert np.array_equal(a, sample(ds, None, 5, "uncertain", predictions=pred, seed=0))


def test_uncertain_without_predictions_or_scores_is_a_clear_error(planted):
    ds, _ = planted
    with pytest.raises(Error, match="needs predictions"):
        sample(ds, None, 3, "uncertain")
    no_scores = ds.replace(annotations=ds.annotations.replace(score=None))
    with pytest.raises(Error, match="no scores"):
        sample(ds, None, 3, "uncertain", predictions=no_scores)


def test_random_is_seeded_and_without_repeats(planted):
    ds, emb = planted
    a = sample(ds, None, 10, "random", seed=7)
    assert np.array_equal(a, sample(ds, emb, 10, "random", seed=7))
    assert len(set(a.tolist())) == 10 and a.min() >= 0 and a.max() < len(ds)
    assert any(not np.array_equal(a, sample(ds, None, 10, "random", seed=s)) for s in range(8, 12))
