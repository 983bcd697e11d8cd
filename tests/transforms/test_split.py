"""Splits: ratios, seeds, stratification, near duplicates on one side, rebalancing."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import visionflow as vf
from visionflow.transforms import normalize_ratios, rebalance, split
from visionflow.transforms.split import _own_dhashes, near_duplicate_groups

from .synth import photo


def plain(n: int, cats_per_image=None) -> vf.Dataset:
    images = vf.Images.build([f"{i}.jpg" for i in range(n)], [10] * n, [10] * n)
    rows, cats = [], []
    for i in range(n):
        for c in (cats_per_image(i) if cats_per_image else []):
            rows.append(i)
            cats.append(c)
    ann = vf.Annotations.build(rows, cats, [[0, 0, 5, 5]] * len(rows))
    return vf.Dataset(images, ann, vf.Categories.from_names(["common", "rare", "mid"]))


@pytest.mark.parametrize("ratios,expected", [
    ((0.7, 0.2, 0.1), (0.7, 0.2, 0.1)), ("70,20,10", (0.7, 0.2, 0.1)), ([8, 2], (0.8, 0.2)),
])
def test_normalize_ratios(ratios, expected):
    assert normalize_ratios(ratios) == pytest.approx(expected)


@pytest.mark.parametrize("bad,message", [
    ("a,b", "expected numbers"), ([1, 2, 3, 4], "expected 1 to 3 ratios"), ([0, 0], "positive sum"),
    ([-1, 2], "ratios must be >= 0"),
])
def test_bad_ratios(bad, message):
    with pytest.raises(vf.ValidationError, match=message):
        normalize_ratios(bad)


def test_ratios_exact_and_seeded():
    ds = plain(100)
    a = split(ds, (0.7, 0.2, 0.1), seed=1, near_duplicates=False)
    counts = {s: int((a.images.split == s).sum()) for s in ("train", "val", "test")}
    assert counts == {"train": 70, "val": 20, "test": 10}
    b = split(ds, (0.7, 0.2, 0.1), seed=1, near_duplicates=False)
    c = split(ds, (0.7, 0.2, 0.1), seed=2, near_duplicates=False)
    assert a.images.split.tolist() == b.images.split.tolist()
    assert a.images.split.tolist() != c.images.split.tolist()


def test_stratified_split_divides_every_class():
    # 10 images hold the rare class; a plain split can easily put none of them in val/test.
    ds = plain(200, lambda i: [3] if i % 20 == 0 else [2] if i % 7 == 0 else [1])
    for seed in range(5):
        out = split(ds, (0.6, 0.2, 0.2), seed=seed, stratify=True, near_duplicates=False)
        rare = out.images.split[np.arange(0, 200, 20)]
        assert sorted(rare.tolist()).count("train") == 6
        assert rare.tolist().count("val") == 2 and rare.tolist().count("test") == 2
        assert int((out.images.split == "train").sum()) == 120


def test_near_duplicates_stay_on_one_side(tmp_path):
    rng = np.random.default_rng(0)
    names, paths = [], []
    for i in range(20):
        img = photo(rng, 64, 48)
        for j in range(2):  # each image twice: a copy re-encoded at another quality
            p = tmp_path / f"{i}_{j}.jpg"
            Image.fromarray(img).save(p, quality=95 if j == 0 else 70)
            names.append(p.name)
            paths.append(str(p))
    ds = vf.Dataset(vf.Images.build(names, [64] * 40, [48] * 40, path=paths),
                    vf.Annotations.empty(), vf.Categories())
    groups = near_duplicate_groups(ds)
    assert len(np.unique(groups)) == 20
    for seed in range(3):
        out = split(ds, (0.5, 0.5), seed=seed)
        s = out.images.split
        assert (s[0::2] == s[1::2]).all()
        assert int((s == "train").sum()) == 20
    own, has = _own_dhashes(paths)  # the fallback hash groups the same pairs
    assert has.all() and (np.unpackbits((own[0::2] ^ own[1::2]).view(np.uint8)).reshape(20, -1).sum(1) <= 4).all()


def test_rebalance_moves_few_images():
    ds = plain(100)
    ds = ds.replace(images=ds.images.replace(split=np.array(["train"] * 90 + ["val"] * 10, dtype=object)))
    out = rebalance(ds, (0.7, 0.2, 0.1), seed=0)
    counts = {s: int((out.images.split == s).sum()) for s in ("train", "val", "test")}
    assert counts == {"train": 70, "val": 20, "test": 10}
    assert (out.images.split[90:] == "val").all()  # val only grew: nothing taken from it
    assert int((out.images.split[:90] != "train").sum()) == 20
