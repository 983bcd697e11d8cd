"""The embedding store: Parquet parts keyed by (image SHA-256, box), written whole or not at
all, the embedder recorded in each file, rows read back exactly."""

from __future__ import annotations

import hashlib

import numpy as np
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from visionflow.core.report import Report
from visionflow.embeddings.base import EmbedderInfo
from visionflow.embeddings.store import (META_KEY, WHOLE, EmbeddingStore, make_keys,
                                         store_folder, workspace_root)

pq = pytest.importorskip("pyarrow.parquet", reason="pyarrow is not installed")

VEC = EmbedderInfo("test:vec", "vector", 6, {"size": 4}, "abc")
HASH = EmbedderInfo("phash", "hash", 64, {"hash_size": 8})


def sha(i: int) -> str:
    return hashlib.sha256(str(i).encode()).hexdigest()


def rows(n: int, info: EmbedderInfo, seed: int = 0):
    rng = np.random.default_rng(seed)
    shas = [sha(i // 2) for i in range(n)]  # two keys per image: whole + one box
    boxes = np.array([WHOLE if i % 2 == 0 else (i, 0, i + 5, 7) for i in range(n)], np.int32)
    if info.kind == "hash":
        vecs = rng.integers(0, 256, (n, 8), dtype=np.uint8)
    else:
        vecs = rng.standard_normal((n, info.dim)).astype(np.float32)
    return make_keys(shas, boxes), vecs


@pytest.mark.parametrize("info", [VEC, HASH], ids=["vector", "hash"])
def test_rows_come_back_exactly_across_parts(tmp_path, info):
    keys, vecs = rows(25, info)
    with EmbeddingStore(tmp_path, info, part_rows=10) as store:
        store.add(keys[:12], vecs[:12])
        assert len(list(tmp_path.glob("part-*.parquet"))) == 1  # 10+ rows -> a part
        store.add(keys[12:16], vecs[12:16])
        assert len(list(tmp_path.glob("part-*.parquet"))) == 1  # 4 rows buffered
        assert store.lookup(keys[:16]).all()  # this run's rows count as stored
    assert len(list(tmp_path.glob("part-*.parquet"))) == 2  # the rest flushed on exit
    with EmbeddingStore(tmp_path, info) as store:  # a later run adds a third part
        assert store.lookup(keys).tolist() == [True] * 16 + [False] * 9
        store.add(keys[16:], vecs[16:])
    assert len(list(tmp_path.glob("part-*.parquet"))) == 3
    back = EmbeddingStore(tmp_path, info)
    assert len(back) == 25 and back.lookup(keys).all()
    order = np.random.default_rng(1).permutation(25)[:9]
    assert np.array_equal(back.vectors(keys[order]), vecs[order])
    other = make_keys([sha(99)], np.array([WHOLE], np.int32))
    assert not back.lookup(other).any()
    meta = orjson.loads(pq.ParquetFile(next(tmp_path.glob("part-*.parquet"))).schema_arrow
                        .metadata[META_KEY])
    assert (meta["name"], meta["dim"], meta["preprocessing"], meta["fingerprint"]) == \
        (info.name, info.dim, info.preprocessing, info.fingerprint)


def test_keys_tell_boxes_and_images_apart():
    keys = make_keys([sha(1), sha(1), sha(1), sha(2)],
                     np.array([WHOLE, (0, 0, 10, 0), (0, 0, 10, 1), WHOLE], np.int32))
    assert len(set(keys.tolist())) == 4


def test_rows_already_stored_or_repeated_are_written_once(tmp_path):
    keys, vecs = rows(6, VEC)
    with EmbeddingStore(tmp_path, VEC) as store:
        store.add(np.concatenate([keys, keys[:2]]), np.concatenate([vecs, vecs[:2]]))
    with EmbeddingStore(tmp_path, VEC) as store:
        store.add(keys, vecs)
        assert store.rows_written == 0
    assert EmbeddingStore(tmp_path, VEC).rows_written == 0
    table = pq.read_table(next(tmp_path.glob("part-*.parquet")))
    assert table.num_rows == 6


def test_partial_and_damaged_parts_are_ignored_and_reported(tmp_path):
    keys, vecs = rows(4, VEC)
    with EmbeddingStore(tmp_path, VEC) as store:
        store.add(keys, vecs)
    (tmp_path / ".part-x.parquet.partial").write_bytes(b"half a file")  # a killed write
    (tmp_path / "part-0-0-0.parquet").write_bytes(b"PAR1 broken")
    report = Report()
    back = EmbeddingStore(tmp_path, VEC, report=report)
    assert len(back) == 4
    assert [f.code for f in report.findings] == ["embed.store_part"]
    assert report.findings[0].where.endswith("part-0-0-0.parquet")


def test_an_interrupted_run_keeps_what_it_buffered(tmp_path):
    keys, vecs = rows(5, VEC)
    with pytest.raises(KeyboardInterrupt):
        with EmbeddingStore(tmp_path, VEC) as store:
            store.add(keys[:3], vecs[:3])
            raise KeyboardInterrupt
    back = EmbeddingStore(tmp_path, VEC)
    assert back.lookup(keys).tolist() == [True, True, True, False, False]


@settings(max_examples=25, deadline=None)
@given(n=st.integers(0, 40), part=st.integers(1, 12), seed=st.integers(0, 2**16),
       ask=st.lists(st.integers(0, 39), max_size=20))
def test_any_subset_comes_back_as_written(tmp_path_factory, n, part, seed, ask):
    folder = tmp_path_factory.mktemp("store")
    keys, vecs = rows(n, VEC, seed)
    with EmbeddingStore(folder, VEC, part_rows=part) as store:
        for start in range(0, n, 7):
            store.add(keys[start:start + 7], vecs[start:start + 7])
    back = EmbeddingStore(folder, VEC)
    want = np.array([i for i in ask if i < n], np.int64)
    assert np.array_equal(back.vectors(keys[want]), vecs[want].reshape(len(want), 6))


def test_where_rows_are_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("VISIONFLOW_CACHE_DIR", str(tmp_path / "cache"))
    blob = tmp_path / "ws" / ".visionflow" / "blobs" / "sha256" / "ab" / ("c" * 62)
    assert workspace_root([str(blob)]) == tmp_path / "ws"
    assert store_folder(VEC, "auto", [str(blob)]) == \
        tmp_path / "ws" / ".visionflow" / "embeddings" / VEC.key
    assert store_folder(VEC, "auto", [str(tmp_path / "a.jpg")]) == \
        tmp_path / "cache" / "embeddings" / VEC.key
    assert workspace_root([str(blob), str(tmp_path / "a.jpg")]) is None
    assert store_folder(VEC, None, []) is None
    assert store_folder(VEC, tmp_path / "mine", []) == tmp_path / "mine" / VEC.key
