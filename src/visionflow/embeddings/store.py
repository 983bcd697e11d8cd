"""Where embeddings are kept between runs: once per (image content, embedder, object box).

    <root>/<EmbedderInfo.key>/part-<time>-<pid>-<n>.parquet

Each part is one Parquet file (pyarrow) with three columns, `sha` (32 bytes, the SHA-256 of
the image file's bytes), `box` (4 x int32: the integer crop of an object, -1s for the whole
image) and `vector` (dim float32, or ceil(dim / 8) uint8 for hashes), and the EmbedderInfo in its
metadata. A part is written beside its final name and renamed when complete, so a run killed
at any moment leaves only whole parts: the work done is kept and a rerun computes what is
missing. Keys are the image's bytes, not its name or folder, so a workspace keeps embeddings
across sources, revisions and versions, and a renamed or copied image is never recomputed;
the key folder changes with the model's weights and preprocessing, so a changed model never
reuses old rows.

Opening a store reads only the `sha` and `box` columns (48 bytes a row); vectors are read
part by part, only for the rows asked for.
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import numpy as np
import orjson

from ..core.errors import Error, OutputError
from ..core.report import Report
from .base import EmbedderInfo

STORE_VERSION = 1
META_KEY = b"visionflow.embedder"
PART_ROWS = 4096              # rows buffered before a part is written
WHOLE = (-1, -1, -1, -1)      # the box of a whole-image row
KEY_BYTES = 48                # 32 bytes of SHA-256 + 4 x int32 box


def _pyarrow():
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:
        raise Error("storing embeddings needs pyarrow: pip install 'visionflow[embed]' "
                    "(or pass store=None)") from None
    return pa, pq


def make_keys(shas: Sequence[str], boxes: np.ndarray) -> np.ndarray:
    """(n,) S48 keys: the raw SHA-256 bytes followed by the box as little-endian int32."""
    n = len(shas)
    raw = np.frombuffer(b"".join(bytes.fromhex(s) for s in shas), np.uint8).reshape(n, 32)
    box = np.ascontiguousarray(np.asarray(boxes, "<i4").reshape(n, 4)).view(np.uint8)
    return np.ascontiguousarray(np.concatenate([raw, box.reshape(n, 16)], axis=1)) \
        .view(f"S{KEY_BYTES}").reshape(n)


def info_to_meta(info: EmbedderInfo) -> bytes:
    return orjson.dumps({"store_version": STORE_VERSION, "name": info.name, "kind": info.kind,
                         "dim": info.dim, "preprocessing": info.preprocessing,
                         "fingerprint": info.fingerprint, "text": info.text},
                        option=orjson.OPT_SORT_KEYS)


class EmbeddingStore:
    """The stored rows of one embedder in `folder` (created on the first write).

    lookup(keys) says which rows exist; vectors(keys) reads them; add(keys, vectors) buffers
    new rows and writes a part every PART_ROWS rows; flush() writes what is buffered. Use it
    as a context manager: leaving it (also by Ctrl-C or an error) flushes, so rows already
    computed are never lost.
    """

    def __init__(self, folder: str | Path, info: EmbedderInfo, *,
                 report: Report | None = None, part_rows: int | None = None):
        self.folder = Path(folder)
        self.info = info
        self.report = report if report is not None else Report()
        self.part_rows = max(1, int(part_rows or PART_ROWS))
        self.parts: list[Path] = []
        self._keys = np.zeros(0, f"S{KEY_BYTES}")      # sorted
        self._where = np.zeros((0, 2), np.int64)       # (part, row) of each sorted key
        self._pending_keys: list[np.ndarray] = []
        self._pending_vecs: list[np.ndarray] = []
        self._pending = 0
        self._written: set[bytes] = set()
        self._seq = 0
        self.rows_written = 0
        self._load_index()

    # --- reading ----------------------------------------------------------------------------

    def _load_index(self) -> None:
        if not self.folder.is_dir():
            return
        pa, pq = _pyarrow()
        keys, where = [], []
        for path in sorted(self.folder.glob("part-*.parquet")):
            try:
                pf = pq.ParquetFile(path)
                meta = (pf.schema_arrow.metadata or {}).get(META_KEY)
                if meta is None or orjson.loads(meta).get("dim") != self.info.dim:
                    raise ValueError("not written for this embedder")
                table = pf.read(columns=["sha", "box"])
            except Exception as e:  # noqa: BLE001 - a damaged part is recomputed, not fatal
                self.report.add("warning", "embed.store_part",
                                f"stored embeddings unreadable ({type(e).__name__}: "
                                f"{str(e).splitlines()[0] if str(e) else ''}); ignored, "
                                "those rows are computed again", where=str(path))
                continue
            n = table.num_rows
            if n == 0:
                continue
            sha = np.frombuffer(table.column("sha").combine_chunks().buffers()[1], np.uint8,
                                count=32 * n).reshape(n, 32)
            box = _box_array(table.column("box"), n)
            key = np.concatenate([sha, box.astype("<i4").view(np.uint8).reshape(n, 16)],
                                 axis=1)
            keys.append(np.ascontiguousarray(key).view(f"S{KEY_BYTES}").reshape(n))
            part = len(self.parts)
            self.parts.append(path)
            where.append(np.stack([np.full(n, part, np.int64), np.arange(n, dtype=np.int64)],
                                  axis=1))
        if keys:
            all_keys = np.concatenate(keys)
            order = np.argsort(all_keys, kind="stable")
            self._keys = all_keys[order]
            self._where = np.concatenate(where)[order]

    def __len__(self) -> int:
        return len(self._keys)

    def stored(self, keys: np.ndarray) -> np.ndarray:
        """(n,) bool: which keys are in the parts found when the store was opened (those
        `vectors` can read)."""
        keys = np.asarray(keys, f"S{KEY_BYTES}")
        if not len(self._keys):
            return np.zeros(len(keys), bool)
        pos = np.searchsorted(self._keys, keys).clip(0, len(self._keys) - 1)
        return self._keys[pos] == keys

    def lookup(self, keys: np.ndarray) -> np.ndarray:
        """(n,) bool: which keys are stored (written in an earlier part or in this run)."""
        keys = np.asarray(keys, f"S{KEY_BYTES}")
        found = self.stored(keys)
        if self._written:
            found |= np.fromiter((k in self._written for k in keys.tolist()), bool, len(keys))
        return found

    def vectors(self, keys: np.ndarray) -> np.ndarray:
        """The stored rows of `keys` (all must be in earlier parts), in the order given; each
        part is opened once and only its `vector` column read."""
        pa, pq = _pyarrow()
        keys = np.asarray(keys, f"S{KEY_BYTES}")
        out = np.empty((len(keys), self.row_width), self.dtype)
        if not len(keys):
            return out
        pos = np.searchsorted(self._keys, keys).clip(0, max(len(self._keys) - 1, 0))
        if not len(self._keys) or (self._keys[pos] != keys).any():
            raise Error(f"{self.folder}: stored embeddings changed while being read; run "
                        "the command again")
        where = self._where[pos]
        for part in np.unique(where[:, 0]).tolist():
            sel = np.flatnonzero(where[:, 0] == part)
            path = self.parts[part]
            try:
                col = pq.read_table(path, columns=["vector"]).column("vector").combine_chunks()
            except Exception as e:  # noqa: BLE001
                raise Error(f"{path}: stored embeddings cannot be read ({type(e).__name__}); "
                            "delete the file and run again") from None
            flat = col.values.to_numpy(zero_copy_only=False).reshape(len(col), self.row_width)
            out[sel] = flat[where[sel, 1]]
        return out

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.uint8 if self.info.kind == "hash" else np.float32)

    @property
    def row_width(self) -> int:
        return (self.info.dim + 7) // 8 if self.info.kind == "hash" else self.info.dim

    # --- writing ----------------------------------------------------------------------------

    def add(self, keys: np.ndarray, vectors: np.ndarray) -> None:
        """Buffer new rows (keys already stored or added are skipped); a part is written
        every part_rows rows."""
        keys = np.asarray(keys, f"S{KEY_BYTES}")
        vectors = np.asarray(vectors, self.dtype).reshape(len(keys), self.row_width)
        new = ~self.lookup(keys)
        if not new.all():
            keys, vectors = keys[new], vectors[new]
        if not len(keys):
            return
        _, first = np.unique(keys, return_index=True)  # one row per key within the batch
        if len(first) != len(keys):
            first.sort()
            keys, vectors = keys[first], vectors[first]
        self._written.update(keys.tolist())
        self._pending_keys.append(keys)
        self._pending_vecs.append(vectors)
        self._pending += len(keys)
        if self._pending >= self.part_rows:
            self.flush()

    def flush(self) -> None:
        """Write the buffered rows as one part: a temporary file renamed when complete."""
        if not self._pending:
            return
        pa, pq = _pyarrow()
        keys = np.concatenate(self._pending_keys)
        vecs = np.concatenate(self._pending_vecs)
        self._pending_keys, self._pending_vecs, self._pending = [], [], 0
        n = len(keys)
        raw = keys.view(np.uint8).reshape(n, KEY_BYTES)
        sha = pa.FixedSizeBinaryArray.from_buffers(
            pa.binary(32), n, [None, pa.py_buffer(np.ascontiguousarray(raw[:, :32]).tobytes())])
        box = pa.FixedSizeListArray.from_arrays(
            pa.array(np.ascontiguousarray(raw[:, 32:]).view("<i4").reshape(-1)), 4)
        vector = pa.FixedSizeListArray.from_arrays(pa.array(vecs.reshape(-1)), self.row_width)
        table = pa.table({"sha": sha, "box": box, "vector": vector})
        table = table.replace_schema_metadata({META_KEY: info_to_meta(self.info)})
        self._seq += 1
        name = f"part-{time.time_ns():020d}-{os.getpid()}-{self._seq}.parquet"
        final = self.folder / name
        tmp = self.folder / f".{name}.partial"
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            pq.write_table(table, tmp, compression="zstd" if self.info.kind == "hash"
                           else "none")
            os.replace(tmp, final)
        except OSError as e:
            tmp.unlink(missing_ok=True)
            raise OutputError(f"{self.folder}: cannot store embeddings ({e.strerror or e}); "
                              "pass store=None (or free space)") from None
        self.rows_written += n

    def __enter__(self) -> EmbeddingStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.flush()


def _box_array(column, n: int) -> np.ndarray:
    flat = column.combine_chunks().values.to_numpy(zero_copy_only=False)
    return np.asarray(flat, np.int32).reshape(n, 4)


def workspace_root(paths: Iterable[str | None]) -> Path | None:
    """The workspace folder (holding .visionflow/) when every image is one of its blobs
    (a dataset from `Workspace.load`), else None."""
    root: Path | None = None
    for p in paths:
        if not p:
            return None
        blob = Path(p)
        store = blob.parent.parent
        if store.name != "sha256" or store.parent.name != "blobs" \
                or store.parent.parent.name != ".visionflow":
            return None
        here = store.parent.parent.parent
        if root is None:
            root = here
        elif here != root:
            return None
    return root


def blob_sha(path: str) -> str | None:
    """The SHA-256 a workspace blob path stands for (its name), or None."""
    p = Path(path)
    sha = p.parent.name + p.name
    return sha if len(sha) == 64 and all(c in "0123456789abcdef" for c in sha) else None


def store_folder(info: EmbedderInfo, store: str | Path | None, paths: Sequence[str | None]
                 ) -> Path | None:
    """The folder of this embedder's rows: store=None -> None (nothing stored); a path ->
    that folder / info.key; 'auto' -> <workspace>/.visionflow/embeddings/<key> for a dataset
    of workspace blobs, else the visionflow cache's embeddings/<key>."""
    if store is None:
        return None
    if isinstance(store, str) and store == "auto":
        ws = workspace_root(paths) if len(paths) else None
        if ws is not None:
            return ws / ".visionflow" / "embeddings" / info.key
        from ..io.cache import cache_dir
        return cache_dir("embeddings") / info.key
    return Path(store) / info.key
