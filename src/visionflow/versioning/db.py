"""The workspace database: SQLite (stdlib), WAL mode, foreign keys on.

Why SQLite and not DuckDB/Parquet: the workload is many small transactional writes (a revision,
a version, a tag) that must be atomic and safe with two processes, plus indexed look-ups
(list/show/diff join two versions' image tables on (split, file_name)); SQLite does both in
the standard library, with one file and no server. Bulk annotation data does not live in
tables at all: each snapshot's full canonical model is one compressed blob, and only the
per-image summary rows needed for diffs are in SQLite.

Tables
    datasets   one immutable snapshot (of a source revision or a version): its model blob
               (zlib-compressed visionflow JSON), fingerprint, counts, categories,
               precomputed summary (Dataset.info()) so that list/show never open blobs, and
               image_index: per image (hash of split/file_name, hash of content and
               annotations, row) sorted by name hash, so a diff of two 250,000-image
               snapshots is a numpy merge of two arrays, then look-ups of what differs.
    images     per snapshot and image row: split, file_name, content hash (blob), size,
               hash of its annotations (annsets), annotation count, attrs.
    annsets    one image's boxes (class id, xyxy, fingerprint of other geometry) packed
               as bytes, shared by every snapshot holding the same annotations; diffs
               compare these for changed images only.
    sources, revisions      what was added (each re-add is a new revision, with its changes).
    versions, tags          immutable named versions with lineage; notes such as the model
                            a version trained.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

SCHEMA_VERSION = 1

SCHEMA = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE datasets (
    id INTEGER PRIMARY KEY,
    model_sha256 TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    n_images INTEGER NOT NULL,
    n_annotations INTEGER NOT NULL,
    categories TEXT NOT NULL,
    summary TEXT NOT NULL,
    image_index BLOB NOT NULL
);
CREATE TABLE images (
    dataset_id INTEGER NOT NULL REFERENCES datasets(id) ON DELETE CASCADE,
    row INTEGER NOT NULL,
    split TEXT NOT NULL,
    file_name TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    width INTEGER NOT NULL,
    height INTEGER NOT NULL,
    ann_hash TEXT NOT NULL,
    n_annotations INTEGER NOT NULL,
    attrs TEXT,
    PRIMARY KEY (dataset_id, row)
) WITHOUT ROWID;
CREATE UNIQUE INDEX images_by_name ON images (dataset_id, split, file_name);
CREATE TABLE annsets (hash TEXT PRIMARY KEY, n INTEGER NOT NULL, data BLOB NOT NULL) WITHOUT ROWID;
CREATE TABLE sources (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE revisions (
    id INTEGER PRIMARY KEY,
    source_id INTEGER NOT NULL REFERENCES sources(id),
    number INTEGER NOT NULL,
    dataset_id INTEGER NOT NULL REFERENCES datasets(id),
    origin TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL,
    changes TEXT,
    UNIQUE (source_id, number)
);
CREATE TABLE versions (
    id INTEGER PRIMARY KEY,
    name TEXT NOT NULL UNIQUE,
    dataset_id INTEGER NOT NULL UNIQUE REFERENCES datasets(id),
    lineage TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE tags (
    id INTEGER PRIMARY KEY,
    version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
    note TEXT NOT NULL,
    author TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE INDEX tags_by_version ON tags (version_id);
CREATE INDEX revisions_by_dataset ON revisions (dataset_id);
"""


def connect(path: Path) -> sqlite3.Connection:
    con = sqlite3.connect(path, timeout=60, isolation_level=None, check_same_thread=False)
    con.execute("PRAGMA foreign_keys = ON")
    con.execute("PRAGMA synchronous = NORMAL")  # WAL: durable against a killed process
    con.execute("PRAGMA cache_size = -65536")
    return con


def create(path: Path) -> None:
    con = connect(path)
    try:
        con.execute("PRAGMA journal_mode = WAL")
        with transaction(con):
            for stmt in SCHEMA.split(";"):
                if stmt.strip():
                    con.execute(stmt)
            con.execute("INSERT INTO meta VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))
    finally:
        con.close()


@contextmanager
def transaction(con: sqlite3.Connection) -> Iterator[sqlite3.Connection]:
    """One write transaction: all of it is committed, or none of it."""
    con.execute("BEGIN IMMEDIATE")
    try:
        yield con
    except BaseException:
        con.execute("ROLLBACK")
        raise
    con.execute("COMMIT")
