"""find_duplicates / dedup on a small dataset of real photos with planted copies: groups,
keep rules, merged labels (nothing lost, scaled to the kept image), union-find, errors."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageEnhance

import visionflow as vf
from visionflow.core.annotations import Annotations, Polygons
from visionflow.core.categories import Categories
from visionflow.core.dataset import Dataset
from visionflow.core.errors import Error
from visionflow.core.images import Images
from visionflow.embeddings.base import EmbedderInfo, Embeddings
from visionflow.embeddings.dedup import (UnionFind, dedup, find_duplicates,
                                         scale_annotations)

from .dedup_planted import skimage_photos


@pytest.fixture(scope="module")
def small(tmp_path_factory) -> Dataset:
    """rows: 0 astronaut, 1 coffee, 2 rocket, 3 camera, 4 astronaut at half size, 5 coffee
    (the same bytes), 6 coffee brightened; boxes everywhere, a polygon on row 4."""
    tmp = tmp_path_factory.mktemp("small")
    src = {p.stem: p for p in skimage_photos(tmp / "src")}
    folder = tmp / "images"
    folder.mkdir()
    names = ["astronaut.jpg", "coffee.jpg", "rocket.jpg", "camera.jpg"]
    for n in names:
        shutil.copy(src[n[:-4]], folder / n)
    astro = Image.open(src["astronaut"])
    astro.resize((astro.width // 2, astro.height // 2)).save(folder / "astro-small.jpg",
                                                             quality=80)
    shutil.copy(src["coffee"], folder / "coffee-copy.jpg")
    ImageEnhance.Brightness(Image.open(src["coffee"])).enhance(1.2).save(
        folder / "coffee-bright.jpg", quality=85)
    names += ["astro-small.jpg", "coffee-copy.jpg", "coffee-bright.jpg"]
    sizes = [Image.open(folder / n).size for n in names]
    images = Images.build(names, [s[0] for s in sizes], [s[1] for s in sizes],
                          path=[str(folder / n) for n in names])
    # astronaut: face box (cat 1) on rows 0 and, scaled, 4; plus one more box on row 4 only
    boxes = [(0, 1, (160, 40, 320, 220)), (1, 2, (100, 50, 300, 300)), (2, 1, (10, 10, 60, 60)),
             (3, 2, (20, 20, 200, 200)), (4, 1, (80, 20, 160, 110)), (4, 2, (10, 150, 60, 250)),
             (5, 2, (100, 50, 300, 300)), (6, 1, (5, 5, 50, 50))]
    rings: list[list[np.ndarray]] = [[] for _ in boxes]
    rings[5] = [np.array([[10, 150], [60, 150], [60, 250]], np.float64)]
    ann = Annotations.build([b[0] for b in boxes], [b[1] for b in boxes],
                            [b[2] for b in boxes], polygons=Polygons.from_lists(rings))
    return Dataset(images, ann, Categories.from_names(["face", "cup"]))


def test_groups_kept_removed_and_json(small):
    r = find_duplicates(small)
    assert r.groups == [[0, 4], [1, 5, 6]]  # largest kept; ties (1, 5) to the first
    assert r.kept == [0, 1] and r.removed == [4, 5, 6]
    assert r.to_json() == {"groups": [["astronaut.jpg", "astro-small.jpg"],
                                      ["coffee.jpg", "coffee-copy.jpg", "coffee-bright.jpg"]],
                           "kept": ["astronaut.jpg", "coffee.jpg"],
                           "removed": ["astro-small.jpg", "coffee-copy.jpg",
                                       "coffee-bright.jpg"]}
    assert sorted(r.removed_annotations.tolist()) == [4, 5, 6, 7]
    assert r.reasons[0].startswith("largest (512x512")


def test_keep_rules(small):
    assert find_duplicates(small, keep="first").groups == [[0, 4], [1, 5, 6]]
    r = find_duplicates(small, keep="most-labelled")
    assert r.groups[0] == [4, 0] and r.reasons[0] == "most labelled (2 annotations)"
    assert r.groups[1][0] == 1  # 1 and 5 tie on labels and size: the first


def test_dedup_drops_removed_images_and_lists_their_annotations(small):
    out, r = dedup(small)
    assert out.images.file_name.tolist() == ["astronaut.jpg", "coffee.jpg", "rocket.jpg",
                                             "camera.jpg"]
    assert len(out.annotations) == 4 and r.notes == []
    assert len(r.removed_annotations) == 4  # listed, never silently lost
    assert small.images.file_name.tolist()[4] == "astro-small.jpg"  # the source untouched


def test_merge_labels_keeps_every_annotation_scaled_to_the_kept_image(small):
    out, r = dedup(small, merge_labels=True)
    astro = out.annotations[out.annotations.image_index == 0]
    # row 4's face box, doubled, is row 0's face box (IoU 0.9+): already there, not doubled
    assert sorted(astro.category_id.tolist()) == [1, 2]
    other = astro[astro.category_id == 2]
    np.testing.assert_allclose(other.xyxy[0], [20, 300, 120, 500])
    np.testing.assert_allclose(other.polygons.rings(0)[0], [[20, 300], [120, 300], [120, 500]])
    coffee = out.annotations[out.annotations.image_index == 1]
    # the byte copy's cup is the kept image's cup; the brightened copy's box is new
    assert sorted(map(tuple, coffee.xyxy.tolist())) == [(5, 5, 50, 50), (100, 50, 300, 300)]
    assert len(set(out.annotations.id.tolist())) == len(out.annotations)
    assert any("scaled by 2.000 x 2.000" in n for n in r.notes)
    assert r.notes[0].startswith("merged 2 annotations") and "2 were already there" in r.notes[0]
    # every annotation of a removed image is on its kept image, as added or as already there
    for row in r.removed_annotations.tolist():
        img = int(small.annotations.image_index[row])
        kept = next(g[0] for g in r.groups if img in g)
        k = (small.images.width[kept] / small.images.width[img])
        box = small.annotations.xyxy[row] * k
        there = out.annotations[out.annotations.image_index == r.kept.index(kept)]
        same = there.category_id == small.annotations.category_id[row]
        assert same.any() and np.abs(there.xyxy[same] - box).max(axis=1).min() < 40


def test_confirm_filters_candidates_on_pixels(small):
    """At a threshold loose enough for two distinct photos to be candidates, SSIM and the
    grey-level correlation refuse them and keep the real copies (resized, brightened)."""
    from visionflow.embeddings.compute import embed
    emb = embed(small, "phash", store=None)
    d = np.bitwise_count(emb.vectors[:4, None, :] ^ emb.vectors[None, :4, :]).sum(axis=2)
    loose = int(d[np.triu_indices(4, 1)].min())  # the two closest distinct photos
    plain = find_duplicates(small, emb, threshold=loose, confirm=None)
    assert plain.groups != [[0, 4], [1, 5, 6]]  # the two distinct photos joined a group
    for how in ("ssim", "pixels"):
        r = find_duplicates(small, emb, threshold=loose, confirm=how)
        assert r.groups == [[0, 4], [1, 5, 6]], how
        assert r.confirmed < r.pairs


def test_embedding_method_groups_vectors(small):
    v = np.eye(8, dtype=np.float32)[[0, 1, 2, 3, 0, 1, 1]]
    v[6] = v[6] * 0.99 + 0.14 * np.eye(8, dtype=np.float32)[5]
    v /= np.linalg.norm(v, axis=1, keepdims=True)
    emb = Embeddings(EmbedderInfo("hf:tiny", "vector", 8), v, np.arange(7), np.full(7, -1),
                     np.array([f"{k}" for k in range(7)]))
    r = find_duplicates(small, emb, method="embedding")
    assert r.groups == [[0, 4], [1, 5, 6]] and r.model == "hf:tiny"
    assert find_duplicates(small, emb, method="embedding", threshold=0.001).groups == [
        [0, 4], [1, 5]]


def test_unreadable_images_are_listed_not_grouped(small, tmp_path):
    paths = small.images.path.copy()
    paths[2] = str(tmp_path / "gone.jpg")
    ds = small.replace(images=small.images.replace(path=paths))
    r = find_duplicates(ds)
    assert r.unreadable == ["rocket.jpg"] and r.groups == [[0, 4], [1, 5, 6]]


def test_errors_are_one_line(small):
    with pytest.raises(Error, match="unknown dedup method 'hsah'; did you mean 'hash'"):
        find_duplicates(small, method="hsah")
    with pytest.raises(Error, match="--keep must be one of"):
        find_duplicates(small, keep="biggest")
    with pytest.raises(Error, match="--confirm must be one of ssim, pixels"):
        find_duplicates(small, confirm="eyes")
    with pytest.raises(Error, match="needs a model"):
        find_duplicates(small, method="embedding")
    with pytest.raises(Error, match="number of differing bits, 0 to 63"):
        find_duplicates(small, threshold=64)
    v = np.ones((7, 4), np.float32) / 2
    emb = Embeddings(EmbedderInfo("hf:x", "vector", 4), v, np.arange(7), np.full(7, -1),
                     np.array(list("abcdefg")))
    with pytest.raises(Error, match="--method hash needs perceptual hashes"):
        find_duplicates(small, emb)
    with pytest.raises(Error, match="computed for another dataset"):
        find_duplicates(small[:3], emb, method="embedding")


def test_top_level_exports():
    assert vf.dedup is dedup and vf.find_duplicates is find_duplicates


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 60), st.lists(st.tuples(st.integers(0, 59), st.integers(0, 59)),
                                    max_size=80), st.integers(1, 7))
def test_union_find_matches_connected_components(n, edges, blocks):
    edges = [(a % n, b % n) for a, b in edges]
    uf = UnionFind(n)
    chunks = np.array_split(np.array(edges, np.int64).reshape(-1, 2), blocks)
    for c in chunks:
        uf.union(c[:, 0], c[:, 1])
    labels = uf.labels()
    # reference: repeated relaxation to the smallest reachable index
    ref = np.arange(n)
    changed = True
    while changed:
        changed = False
        for a, b in edges:
            m = min(ref[a], ref[b])
            if ref[a] != m or ref[b] != m:
                ref[a] = ref[b] = m
                changed = True
    for a in range(n):
        for b in range(n):
            assert (labels[a] == labels[b]) == (ref[a] == ref[b])


def test_scale_annotations_moves_every_geometry():
    from visionflow.core.geometry import mask_to_rle, rle_to_mask
    mask = np.zeros((10, 20), bool)
    mask[2:6, 4:10] = True
    ann = Annotations.build([0], [1], [[4, 2, 10, 6]], polygons=Polygons.from_lists(
        [[np.array([[4, 2], [10, 2], [10, 6]], np.float64)]]),
        keypoints=np.array([[[5, 3, 2], [0, 0, 0]]], np.float64),
        obb=np.array([[[4, 2], [10, 2], [10, 6], [4, 6]]], np.float64),
        rle=np.array([mask_to_rle(mask)], dtype=object))
    out = scale_annotations(ann, 2.0, 3.0, (40, 30))
    np.testing.assert_allclose(out.xyxy[0], [8, 6, 20, 18])
    np.testing.assert_allclose(out.polygons.rings(0)[0], [[8, 6], [20, 6], [20, 18]])
    np.testing.assert_allclose(out.keypoints[0], [[10, 9, 2], [0, 0, 0]])
    np.testing.assert_allclose(out.obb[0][2], [20, 18])
    big = rle_to_mask(out.rle[0])
    assert big.shape == (30, 40) and big.sum() == mask.sum() * 6
