"""`embed`: rows per image (and object), computed once per image content and model, resumable,
unreadable images reported and skipped; the workspace keeps rows across revisions."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pytest

import visionflow as vf
from tests.conftest import shared_path
from visionflow.core.errors import Error
from visionflow.core.report import Report
from visionflow.embeddings import embed
from visionflow.embeddings import store as store_mod
from visionflow.embeddings.compute import decode
from visionflow.io.images import load_rgb

from .embed_fixtures import CountingEmbedder, photo, rows_of, write_photos

pytest.importorskip("pyarrow", reason="pyarrow is not installed (pip install 'visionflow[embed]')")


@pytest.fixture
def ds(tmp_path):
    return vf.load(write_photos(tmp_path / "data", 6))


def expected(ds) -> np.ndarray:
    return rows_of([load_rgb(p) for p in ds.images.path])


def test_rows_are_the_embedder_of_each_upright_image(ds, tmp_path):
    emb = CountingEmbedder()
    out = embed(ds, emb, store=tmp_path / "store", batch=4, workers=2)
    assert out.vectors.shape == (6, 48) and out.vectors.dtype == np.float32
    assert out.image_rows.tolist() == list(range(6)) and (out.object_rows == -1).all()
    assert np.array_equal(out.vectors, expected(ds))
    assert out.shas.tolist() == [hashlib.sha256(Path(p).read_bytes()).hexdigest()
                                 for p in ds.images.path]
    assert (out.computed, out.reused) == (6, 0) and emb.images == 6
    assert out.location == str(tmp_path / "store" / emb.info.key)
    assert emb.calls == 2  # batches of 4 images: 4 + 2


def test_second_run_computes_nothing_and_gives_the_same_rows(ds, tmp_path):
    first = embed(ds, CountingEmbedder(), store=tmp_path / "s")
    again = CountingEmbedder()
    second = embed(ds, again, store=tmp_path / "s")
    assert again.calls == 0 and (second.computed, second.reused) == (0, 6)
    assert np.array_equal(second.vectors, first.vectors)
    assert second.shas.tolist() == first.shas.tolist()


def test_a_changed_image_is_the_only_one_recomputed(ds, tmp_path):
    embed(ds, CountingEmbedder(), store=tmp_path / "s")
    photo("rocket", (100, 70)).save(ds.images.path[2])  # same name, new bytes
    emb = CountingEmbedder()
    out = embed(ds, emb, store=tmp_path / "s")
    assert emb.images == 1 and (out.computed, out.reused) == (1, 5)
    assert np.array_equal(out.vectors, expected(ds))


def test_a_renamed_copy_reuses_the_rows(ds, tmp_path):
    embed(ds, CountingEmbedder(), store=tmp_path / "s")
    other = vf.load(write_photos(tmp_path / "copy", 6))  # same bytes, other folder
    emb = CountingEmbedder()
    embed(other, emb, store=tmp_path / "s")
    assert emb.calls == 0


def test_another_model_gets_its_own_rows(ds, tmp_path):
    a = embed(ds, CountingEmbedder("a"), store=tmp_path / "s")
    b_emb = CountingEmbedder("b")
    b = embed(ds, b_emb, store=tmp_path / "s")
    assert b_emb.images == 6 and a.location != b.location
    assert sorted(p.name for p in (tmp_path / "s").iterdir()) == sorted(
        [CountingEmbedder("a").info.key, CountingEmbedder("b").info.key])


def test_no_store_computes_every_time(ds, tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFLOW_CACHE_DIR", str(tmp_path / "cache"))
    for _ in range(2):
        emb = CountingEmbedder()
        out = embed(ds, emb, store=None)
        assert emb.images == 6 and out.location is None
    assert not (tmp_path / "cache").exists()
    out = embed(ds, CountingEmbedder())  # 'auto': a plain folder goes to the cache
    assert out.location == str(tmp_path / "cache" / "embeddings" / CountingEmbedder().info.key)


def test_an_interrupted_run_keeps_its_parts_and_the_rerun_computes_the_rest(
        tmp_path, monkeypatch):
    ds = vf.load(write_photos(tmp_path / "data", 10))
    monkeypatch.setattr(store_mod, "PART_ROWS", 2)
    with pytest.raises(KeyboardInterrupt):
        embed(ds, CountingEmbedder(fail_after=3), store=tmp_path / "s", batch=2, workers=1)
    folder = tmp_path / "s" / CountingEmbedder().info.key
    assert len(list(folder.glob("part-*.parquet"))) == 3  # 3 batches of 2 done, 3 parts
    assert not list(folder.glob(".*partial"))
    rest = CountingEmbedder()
    out = embed(ds, rest, store=tmp_path / "s", batch=2, workers=1)
    assert rest.images == 4 and (out.computed, out.reused) == (4, 6)
    assert np.array_equal(out.vectors, expected(ds))


def test_patches_are_box_crops_clipped_to_the_image(tmp_path):
    boxes = {0: [[10, 8, 40, 30], [80, 50, 60, 60]],  # the second leaves the 96x64 image
             1: [[-5, -5, 30, 20]], 2: [[120, 2, 20, 20]],  # 2: past its 112 px
             3: [], 4: [[0, 0, 104, 68]]}
    ds = vf.load(write_photos(tmp_path / "data", 5, boxes=boxes), errors="keep",
                 report=Report())
    report = Report()
    emb = CountingEmbedder()
    out = embed(ds, emb, patches=True, store=tmp_path / "s", report=report)
    ann = ds.annotations
    want_rows, want_crops = [], []
    for i, path in enumerate(ds.images.path):
        image = load_rgb(path)
        want_rows.append((i, -1))
        want_crops.append(image)
        for j in np.flatnonzero(ann.image_index == i).tolist():
            x0, y0, x1, y1 = np.rint(ann.xyxy[j])
            x0, x1 = np.clip([x0, x1], 0, image.width)
            y0, y1 = np.clip([y0, y1], 0, image.height)
            if x1 > x0 and y1 > y0:
                want_rows.append((i, j))
                want_crops.append(image.crop((int(x0), int(y0), int(x1), int(y1))))
    assert list(zip(out.image_rows.tolist(), out.object_rows.tolist())) == want_rows
    assert np.array_equal(out.vectors, rows_of(want_crops))
    assert len(out.patches_only()) == 4 and len(out.images_only()) == 5
    empty = [f for f in report.findings if f.code == "embed.empty_crop"]
    assert len(empty) == 1 and empty[0].count == 1 and "img2.png" in empty[0].message
    again = CountingEmbedder()
    back = embed(ds, again, patches=True, store=tmp_path / "s")
    assert again.calls == 0 and np.array_equal(back.vectors, out.vectors)
    images_only = CountingEmbedder()
    embed(ds, images_only, store=tmp_path / "s")  # whole-image rows were stored with them
    assert images_only.calls == 0


def test_unreadable_and_missing_images_are_reported_and_skipped(ds, tmp_path):
    Path(ds.images.path[1]).write_bytes(b"\x89PNG\r\n\x1a\n broken")
    Path(ds.images.path[4]).unlink()
    report = Report()
    out = embed(ds, CountingEmbedder(), store=tmp_path / "s", report=report)
    assert out.image_rows.tolist() == [0, 2, 3, 5]
    skipped = {Path(f.where).name: f.message for f in report.findings if f.code == "skipped"}
    assert set(skipped) == {"img1.png", "img4.png"}
    assert "cannot decode image" in skipped["img1.png"]
    assert "not found" in skipped["img4.png"]
    assert np.array_equal(out.vectors, expected(ds.select_images(np.array([0, 2, 3, 5]))))


def test_workers_and_engines_agree(ds, tmp_path):
    one = embed(ds, CountingEmbedder(), store=None, workers=1, batch=1)
    many = embed(ds, CountingEmbedder(), store=None, workers=3, batch=2)
    assert np.array_equal(one.vectors, many.vectors)
    assert one.shas.tolist() == many.shas.tolist()


def test_progress_counts_every_image(ds, tmp_path):
    seen = []

    class Bar:
        def __init__(self, description, total):
            seen.append((description, total))

        def __enter__(self):
            return lambda n=1: seen.append(n)

        def __exit__(self, *exc):
            return False

    embed(ds, CountingEmbedder(), store=None, batch=4, progress=Bar)
    assert seen[0] == ("Embedding images", 6) and sum(seen[1:]) == 6


def test_bad_arguments_are_errors(ds):
    with pytest.raises(Error, match="--engine must be one of local, ray"):
        embed(ds, CountingEmbedder(), engine="spark")
    with pytest.raises(Error, match="--batch must be at least 1"):
        embed(ds, CountingEmbedder(), batch=0)
    assert vf.embed is embed


def test_a_workspace_keeps_rows_across_revisions_and_versions(tmp_path):
    src = write_photos(tmp_path / "data", 4).parent
    ws = vf.Workspace.init(tmp_path / "ws")
    added = ws.add(src, "photos")
    ds = ws.load(f"photos@{added.revision}")
    emb = CountingEmbedder()
    out = embed(ds, emb)
    assert out.location == str(tmp_path / "ws" / ".visionflow" / "embeddings" / emb.info.key)
    assert out.shas.tolist() == [hashlib.sha256((src / f"img{i}.png").read_bytes()).hexdigest()
                                 for i in range(4)]
    photo("rocket", (90, 70)).save(src / "img9.png")  # a new revision with one more image
    write_photos(src.parent / "more", 4)
    ws.add(src, "photos")
    ws.create_version("v1")
    again = CountingEmbedder()
    out = embed(ws.load("v1"), again)
    assert again.images == 0 and out.reused == 4
    ws.close()


def test_real_jpegs_hash_close_to_a_full_decode(tmp_path):
    from visionflow.embeddings.hashes import HashEmbedder, hamming
    src = shared_path("raccoon")
    ds = vf.load(src).select_images(np.arange(40))
    first = embed(ds, "phash", store=tmp_path / "s")
    again = embed(ds, "phash", store=tmp_path / "s")
    assert again.computed == 0 and np.array_equal(again.vectors, first.vectors)
    h = HashEmbedder("phash")
    paths = ds.images.path[first.image_rows]
    drafted = h.embed_images([decode(Path(p).read_bytes(), h.max_side) for p in paths])
    assert np.array_equal(first.vectors, drafted)  # the pipeline is the hash of its decode
    full = h.embed_images([load_rgb(p) for p in paths])
    assert np.median(hamming(first.vectors, full)) <= 2  # reduced-size decoding stays close


def test_an_image_twice_is_computed_once_and_given_to_both_rows(tmp_path):
    root = write_photos(tmp_path / "data", 4).parent
    (root / "img3.png").write_bytes((root / "img1.png").read_bytes())  # same bytes, 2 names
    ds = vf.load(root / "annotations.json", errors="keep", report=Report())
    emb = CountingEmbedder()
    out = embed(ds, emb, store=tmp_path / "s", workers=1, batch=1)
    assert emb.images == 3 and (out.computed, out.reused) == (3, 1)
    assert out.shas[1] == out.shas[3] and np.array_equal(out.vectors[1], out.vectors[3])
    assert np.array_equal(out.vectors, expected(ds))


def test_without_pyarrow_hashes_are_computed_and_not_stored(ds, monkeypatch):
    import importlib.util
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pyarrow" else real(name, *a))
    report = Report()
    out = embed(ds, CountingEmbedder(), report=report)
    assert out.location is None and out.computed == 6
    assert [f.code for f in report.findings] == ["embed.not_stored"]
    assert "pip install 'visionflow[embed]'" in report.findings[0].message


def test_an_embedder_giving_the_wrong_shape_is_one_error(ds):
    class Wrong(CountingEmbedder):
        def embed_images(self, images):
            return super().embed_images(images)[:, :10]

    with pytest.raises(Error, match=r"returned rows of shape \(\d+, 10\).*\(\d+, 48\)"):
        embed(ds, Wrong(), store=None)
